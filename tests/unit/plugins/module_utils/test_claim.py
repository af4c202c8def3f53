"""The claim on a name (_claim): one holder at a time, waits on events, leases, take-over from
a dead holder, renewal, the role it needs; through the real SDK against the simulator."""
import json
import threading
import time

import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils import _claim
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerClient, XenServerError
from xapisim.embedded import embedded

USERS = {"root": ("xenroot", "pool-admin"), "operator": ("operator-pw", "vm-operator"),
         "reader": ("reader-pw", "read-only")}


CALL_LOGS = {}


@pytest.fixture
def url(tmp_path):
    log = str(tmp_path / "calls.jsonl")
    with embedded(call_log=log, users=USERS) as handle:
        CALL_LOGS[handle.url] = log
        yield handle.url


def _calls(url):
    with open(CALL_LOGS[url]) as handle:
        return [json.loads(line)["method"] for line in handle]


def client(url, user="root", password="xenroot"):
    return XenServerClient(url, user, password).connect()


def tickets(c):
    pool = c.call("pool.get_all")[0]
    return dict((k, json.loads(v)) for k, v in c.call("pool.get_gui_config", pool).items()
                if k.startswith(_claim.PREFIX))


def test_take_and_give_back(url):
    c = client(url)
    with _claim.claim(c, "vm", "web01", lease=5) as held:
        found = tickets(c)
        assert list(found) == [_claim.claim_key("vm", "web01") + ":1"]
        holder = found[_claim.claim_key("vm", "web01") + ":1"]
        assert holder["request"] == held.request and holder["lease"] == 5 and holder["name"] == "web01"
        assert held.waited < 1 and held.stale_requests == []
    assert tickets(c) == {}


def test_names_never_clash_and_any_name_makes_a_plain_key():
    keys = set(_claim.claim_key("vm", n) for n in ("web 01", "web_01", "db\u00e91", "db\u00e81", "a\nb", "x" * 10000))
    assert len(keys) == 6
    assert all(len(k) < 90 and k.isprintable() and " " not in k for k in keys)
    assert _claim.claim_key("vm", "a") != _claim.claim_key("snapshot", "a")


def test_one_holder_at_a_time(url):
    """Ten threads, each with its own session, claim one name: never two inside at once."""
    inside, most, order = [0], [0], []
    lock = threading.Lock()

    def work(i):
        c = client(url)
        with _claim.claim(c, "vm", "shared", lease=10):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1
                order.append(i)
        c.logout()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and sorted(order) == list(range(10))
    assert tickets(client(url)) == {}


def test_the_second_waits_on_events_until_the_first_is_done(url):
    first, second = client(url), client(url)
    held = _claim.Claim(first, "vm", "web01", lease=10).acquire()
    got = {}

    def wait():
        started = time.monotonic()
        with _claim.claim(second, "vm", "web01", lease=10) as mine:
            got.update(after=time.monotonic() - started, waited=mine.waited, stale=mine.stale_requests)

    calls_before = _calls(url)
    t = threading.Thread(target=wait)
    t.start()
    time.sleep(1.0)
    held.release()
    t.join(10)
    assert 0.9 < got["after"] < 3 and got["stale"] == []
    made = _calls(url)[len(calls_before):]
    # Blocked in event.from, not polling: a handful of calls in the whole second.
    assert made.count("event_from") <= 3 and made.count("pool.add_to_gui_config") <= 3, made


def test_a_dead_holder_is_taken_over_after_its_lease(url):
    """A ticket whose holder is gone (as a killed run leaves it) holds up the next for one lease."""
    c = client(url)
    pool = c.call("pool.get_all")[0]
    dead = json.dumps({"request": "dead-request", "host": "gone", "pid": 1, "lease": 1.0, "name": "web01"})
    c.call("pool.add_to_gui_config", pool, _claim.claim_key("vm", "web01") + ":1", dead)
    started = time.monotonic()
    with _claim.claim(client(url), "vm", "web01", lease=10) as held:
        took = time.monotonic() - started
        assert held.ticket == 2 and held.stale_requests == ["dead-request"]
        found = tickets(c)
        assert list(found) == [_claim.claim_key("vm", "web01") + ":2"]     # the dead ticket is gone
        assert found[_claim.claim_key("vm", "web01") + ":2"]["inherits"] == ["dead-request"]
    assert 1.0 <= took < 3.0
    assert tickets(c) == {}


def test_a_live_holder_renews_and_keeps_its_claim(url):
    """Lease 0.6 s, held 2 s: the renewals (from a second session) keep the waiter out."""
    holder, waiter = client(url), client(url)
    held = _claim.Claim(holder, "vm", "web01", lease=0.6).acquire()
    got = {}

    def wait():
        with _claim.claim(waiter, "vm", "web01", lease=10) as mine:
            got.update(waited=mine.waited, stale=mine.stale_requests)

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(2.0)
    assert held.ticket > 1 and not held.lost      # renewed: a later ticket
    held.release()
    t.join(10)
    assert got["waited"] >= 1.9 and got["stale"] == []


def test_a_holder_that_lost_its_lease_knows_it(url):
    c = client(url)
    held = _claim.Claim(c, "vm", "web01", lease=30).acquire()
    pool = c.call("pool.get_all")[0]
    other = json.dumps({"request": "other", "host": "h", "pid": 2, "lease": 30})
    c.call("pool.add_to_gui_config", pool, _claim.claim_key("vm", "web01") + ":2", other)
    assert held.renew() is False and held.lost
    held.release()


def test_waiting_is_bounded_and_names_the_holder(url):
    held = _claim.Claim(client(url), "vm", "web01", lease=30).acquire()
    with pytest.raises(XenServerError) as err:
        _claim.Claim(client(url), "vm", "web01", wait=0.5).acquire()
    assert err.value.code == "CLAIM_TIMEOUT"
    assert "web01" in str(err.value) and held.request in str(err.value)
    held.release()


def test_a_vm_operator_may_claim_a_reader_may_not(url):
    with _claim.claim(client(url, "operator", "operator-pw"), "vm", "web01", lease=5):
        pass
    with pytest.raises(XenServerError) as err:
        _claim.Claim(client(url, "reader", "reader-pw"), "vm", "web01").acquire()
    assert err.value.code == "RBAC_PERMISSION_DENIED"


def test_the_lease_from_the_environment(monkeypatch):
    monkeypatch.setenv(_claim.LEASE_ENV, "2.5")
    assert _claim.lease_from_env() == 2.5
    for bad in ("soon", "0", "-1", "1e9"):
        monkeypatch.setenv(_claim.LEASE_ENV, bad)
        with pytest.raises(XenServerError) as err:
            _claim.lease_from_env()
        assert err.value.code == "INVALID_VALUE" and bad in str(err.value)


def test_waiters_racing_to_take_over_a_dead_ticket_take_turns(url):
    """Eight waiters see one dead ticket expire at once; one takes it over, the others lose
    the add, look again (on events) and wait their turn: never two inside."""
    c = client(url)
    pool = c.call("pool.get_all")[0]
    dead = json.dumps({"request": "dead-request", "host": "gone", "pid": 1, "lease": 1.0})
    c.call("pool.add_to_gui_config", pool, _claim.claim_key("vm", "x") + ":1", dead)
    inside, most = [0], [0]
    lock = threading.Lock()

    def work():
        with _claim.claim(client(url), "vm", "x", lease=10):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.05)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _number in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most[0] == 1 and not any(t.is_alive() for t in threads)
    assert tickets(c) == {}
