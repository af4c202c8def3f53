"""Shared fixtures: simulated pools reached through the real XenAPI SDK over a socket.

Every test that changes anything gets its own embedded simulator (``pool``), so the suite
is safe under pytest-xdist; tests that only read may share one (``shared_pool``).

    pool          Pool(url, sim, servers) of a fresh embedded simulator
    make_pool     factory: make_pool(members=1, session_ttl=0.2, template_set="legacy", ...)
    api           session.xenapi logged in as root on ``pool``
    shared_api    session.xenapi logged in as root on ``shared_pool`` (read-only tests)
    login         login(url, user="root", password="xenroot") -> session.xenapi
    rpc           Raw(url, session): raw XML-RPC, envelopes unparsed (no SDK re-login)
    fails         context manager: ``with fails("CODE", *params): ...`` (exact match)
    serve         factory: serve("--state", path, ...) -> Served(proc, url) of ``xapisim serve``
    xapisim_cmd   the argv prefix that runs the ``xapisim`` console script
"""
import collections
import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import xmlrpc.client

import pytest
import XenAPI

from xapisim import embedded as embedded_mod

ROOT_PASSWORD = "xenroot"
Pool = collections.namedtuple("Pool", "url sim servers")
Served = collections.namedtuple("Served", "proc url")


def _pool(handle):
    return Pool(handle.url, handle.sim, handle.servers)


@pytest.fixture(autouse=True)
def session_cache(tmp_path, monkeypatch):
    """Every test its own session cache, and no reuse unless it asks (reuse_session: true, or
    XENSERVER_REUSE_SESSION=true): the exact call counts the tests assert include each task's
    login and logout. Tests of the cache itself turn it on."""
    path = tmp_path / "session-cache"
    monkeypatch.setenv("XENSERVER_SESSION_CACHE", str(path))
    monkeypatch.setenv("XENSERVER_REUSE_SESSION", "false")
    return path


@pytest.fixture
def pool():
    with embedded_mod.embedded() as handle:
        yield _pool(handle)


@pytest.fixture(scope="session")
def shared_pool():
    """One pool per test process, for tests that never change it."""
    with embedded_mod.embedded() as handle:
        yield _pool(handle)


@pytest.fixture
def make_pool():
    with contextlib.ExitStack() as stack:
        def make(**options):
            return _pool(stack.enter_context(embedded_mod.embedded(**options)))
        yield make


def _login(url, user="root", password=ROOT_PASSWORD, sessions=None):
    session = XenAPI.Session(url)
    session.xenapi.login_with_password(user, password, "1.0", "xapisim-tests")
    if sessions is not None:
        sessions.append(session)
    return session.xenapi


def _logout_all(sessions):
    for session in sessions:
        with contextlib.suppress(Exception):
            session.xenapi.session.logout()


@pytest.fixture
def login():
    sessions = []
    yield lambda url, user="root", password=ROOT_PASSWORD: _login(url, user, password, sessions)
    _logout_all(sessions)


@pytest.fixture
def api(pool, login):
    return login(pool.url)


@pytest.fixture(scope="session")
def shared_api(shared_pool):
    sessions = []
    yield _login(shared_pool.url, sessions=sessions)
    _logout_all(sessions)


class Raw:
    """Raw XML-RPC: ``call(method, *params)`` prepends the session and returns the envelope."""

    def __init__(self, url, session=None):
        self.url = url
        self.proxy = xmlrpc.client.ServerProxy(url, allow_none=True)
        self.session = session

    def login(self, user="root", password=ROOT_PASSWORD):
        reply = self.proxy.session.login_with_password(user, password)
        assert reply["Status"] == "Success", reply
        self.session = reply["Value"]
        return self.session

    def call(self, method, *params):
        return getattr(self.proxy, method)(self.session, *params)

    def value(self, method, *params):
        reply = self.call(method, *params)
        assert reply["Status"] == "Success", reply
        return reply["Value"]

    def error(self, method, *params):
        reply = self.call(method, *params)
        assert reply["Status"] == "Failure", reply
        return reply["ErrorDescription"]


@pytest.fixture
def rpc(pool):
    raw = Raw(pool.url)
    raw.login()
    return raw


@contextlib.contextmanager
def _fails(code, *params):
    """Expect XenAPI.Failure with exactly [code, *params] (use unittest.mock.ANY for parts)."""
    with pytest.raises(XenAPI.Failure) as caught:
        yield caught
    assert caught.value.details == [code, *params]


@pytest.fixture
def fails():
    return _fails


# --- ``xapisim serve`` as a subprocess --------------------------------------------------------

def xapisim_command():
    script = os.path.join(os.path.dirname(sys.executable), "xapisim")
    if os.path.exists(script):
        return [script]
    found = shutil.which("xapisim")
    return [found] if found else [sys.executable, "-m", "xapisim.cli"]


@pytest.fixture(scope="session")
def xapisim_cmd():
    """The command line that starts the ``xapisim`` console script."""
    return xapisim_command()


def read_banner(proc, timeout=20.0):
    """The one stdout line ``xapisim listening on <url>``; returns the url."""
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            break
        ready = select.select([proc.stdout], [], [], remaining)[0]
        if ready:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
    text = line.decode()
    assert text.startswith("xapisim listening on "), (text, proc.poll())
    return text.split()[-1]


@pytest.fixture
def serve():
    procs = []

    def start(*args):
        proc = subprocess.Popen(xapisim_command() + ["serve", "--port", "0", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        return Served(proc, read_banner(proc))

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
