"""reuse_session: one XenAPI session shared by the tasks of a controller (_session)."""
import collections
import json
import os
import stat
import threading

import XenAPI

from ansible_collections.xenserver.provisioning.plugins.module_utils import _session
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerClient

PASSWORD = "xenroot"


def client(pool, password=PASSWORD, reuse=True):
    return XenServerClient(pool.url, "root", password, reuse_session=reuse)


def test_the_second_task_uses_the_first_ones_session(pool, session_cache):
    pool.mark()
    first = client(pool).connect()
    first.call("pool.get_all")
    first.logout()
    second = client(pool).connect()
    second.call("pool.get_all")
    second.logout()
    assert pool.calls() == ["session.login_with_password", "pool.get_all", "pool.get_all"]
    (entry,) = [p for p in session_cache.iterdir() if not p.name.endswith(".lock")]
    assert stat.S_IMODE(os.stat(str(entry)).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(session_cache)).st_mode) == 0o700
    assert PASSWORD not in entry.read_text()


def cached_ref(session_cache):
    (entry,) = [p for p in session_cache.iterdir() if not p.name.endswith(".lock")]
    return json.loads(entry.read_text())["session"]


def test_a_session_the_pool_no_longer_knows_is_replaced_once(pool, session_cache):
    first = client(pool).connect()
    first.call("pool.get_all")
    first.logout()
    stale = cached_ref(session_cache)
    # The cached session ends on the pool (logged out elsewhere, or the pool restarted).
    ended = XenAPI.Session(pool.url)
    ended._session = stale
    ended.last_login_method = "login_with_password"
    ended.xenapi_request("session.logout", ())
    pool.mark()
    again = client(pool).connect()
    assert again.call("pool.get_all")
    again.logout()
    # The SDK met SESSION_INVALID, logged in once and sent the call again.
    assert pool.calls() == ["pool.get_all", "session.login_with_password", "pool.get_all"]
    fresh = cached_ref(session_cache)
    assert fresh != stale
    pool.mark()
    third = client(pool).connect()
    third.call("pool.get_all")
    third.logout()
    assert pool.calls() == ["pool.get_all"]


def test_another_password_never_gets_the_cached_session(pool, session_cache):
    client(pool).connect().logout()
    pool.mark()
    wrong = client(pool, password="not-the-password")
    try:
        wrong.connect()
    except Exception as err:       # the pool refuses the login: no session for that password
        assert getattr(err, "code", "") == "SESSION_AUTHENTICATION_FAILED", err
    else:
        raise AssertionError("a wrong password got a session")
    assert pool.calls() == ["session.login_with_password"]


def test_without_reuse_every_client_logs_in_and_out_and_caches_nothing(pool, session_cache):
    pool.mark()
    for _index in range(2):
        c = client(pool, reuse=False).connect()
        c.call("pool.get_all")
        c.logout()
    assert collections.Counter(pool.calls()) == {"session.login_with_password": 2, "pool.get_all": 2,
                                                 "session.logout": 2}
    assert not session_cache.exists() or not [p for p in session_cache.iterdir() if not p.name.endswith(".lock")]


def at_once(task, count):
    """Run ``task`` in ``count`` threads started together; the exceptions they raised."""
    start, errors = threading.Barrier(count), []

    def run():
        start.wait()
        try:
            task()
        except Exception as err:  # pragma: no cover - reported by the caller's assert
            errors.append(err)
    threads = [threading.Thread(target=run) for _index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_forks_starting_at_once_make_one_login(pool, session_cache):
    pool.mark()

    def task():
        c = client(pool).connect()
        c.call("pool.get_all")
        c.logout()
    assert at_once(task, 6) == []
    counts = collections.Counter(pool.calls())
    assert counts == {"session.login_with_password": 1, "pool.get_all": 6}, counts


def test_many_first_tasks_create_the_directory_at_once(tmp_path, monkeypatch):
    # make bench found it: 10 forks (or vm_fleet's threads) on a controller without the
    # directory, and some failed with EEXIST from the makedirs of another.
    path = tmp_path / "sessions"
    monkeypatch.setenv(_session.CACHE_ENV, str(path))
    answers = []
    assert at_once(lambda: answers.append(_session.cache_dir()), 16) == []
    assert answers == [str(path)] * 16
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o700


def test_an_existing_directory_is_used_as_it_is(tmp_path, monkeypatch):
    path = tmp_path / "sessions"
    path.mkdir(mode=0o700)
    (path / "entry").write_text(u"{}")
    monkeypatch.setenv(_session.CACHE_ENV, str(path))
    assert _session.cache_dir() == str(path)
    assert (path / "entry").read_text() == u"{}"


def test_an_unusable_cache_directory_means_a_session_of_the_tasks_own(pool, tmp_path, monkeypatch):
    blocked = tmp_path / "a-file-not-a-directory"
    blocked.write_text("")
    monkeypatch.setenv("XENSERVER_SESSION_CACHE", str(blocked / "sessions"))
    pool.mark()
    c = client(pool).connect()
    c.call("pool.get_all")
    c.logout()
    assert pool.calls() == ["session.login_with_password", "pool.get_all", "session.logout"]


def test_a_cache_directory_others_can_read_is_not_used(pool, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(str(shared), 0o755)
    monkeypatch.setenv("XENSERVER_SESSION_CACHE", str(shared))
    pool.mark()
    c = client(pool).connect()
    c.call("pool.get_all")
    c.logout()
    assert pool.calls() == ["session.login_with_password", "pool.get_all", "session.logout"]
    assert list(shared.iterdir()) == []
