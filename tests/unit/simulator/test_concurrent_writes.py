"""Concurrent writes are serialised as xapi's database does them (one lock, db_cache_impl.ml):
of many callers adding one map key, exactly one succeeds; the others get MAP_DUPLICATE_KEY
with xapi's parameters [table, field, ref, key]. And the ``delay`` fault that widens races."""
import threading
import time

import XenAPI

from xapisim.faults import Faults


def _session(url):
    session = XenAPI.Session(url)
    session.xenapi.login_with_password("root", "xenroot", "1.0", "race")
    return session


def _race(url, add, threads=20):
    """``add(api, i)`` from ``threads`` sessions released at once: [(i, None or error details)]."""
    sessions = [_session(url) for _session_number in range(threads)]
    barrier = threading.Barrier(threads)
    outcomes = []

    def go(i):
        barrier.wait()
        try:
            add(sessions[i].xenapi, i)
            outcomes.append((i, None))
        except XenAPI.Failure as failure:
            outcomes.append((i, failure.details))

    workers = [threading.Thread(target=go, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    for s in sessions:
        s.xenapi.session.logout()
    return outcomes


def test_twenty_writers_of_one_map_key_one_wins(pool, api):
    vm = api.VM.get_by_name_label("CentOS 5 (64-bit)")[0]
    outcomes = _race(pool.url, lambda a, i: a.VM.add_to_other_config(vm, "race", "writer-%d" % i))
    winners = [i for i, err in outcomes if err is None]
    assert len(outcomes) == 20 and len(winners) == 1
    assert all(err == ["MAP_DUPLICATE_KEY", "VM", "other_config", vm, "race"] for _i, err in outcomes if err)
    assert api.VM.get_other_config(vm)["race"] == "writer-%d" % winners[0]


def test_twenty_claims_of_one_pool_ticket_one_wins(pool, api):
    ref = api.pool.get_all()[0]
    outcomes = _race(pool.url, lambda a, i: a.pool.add_to_gui_config(ref, "ticket", "holder-%d" % i))
    assert sum(1 for _i, err in outcomes if err is None) == 1
    assert all(err == ["MAP_DUPLICATE_KEY", "pool", "gui_config", ref, "ticket"] for _i, err in outcomes if err)


def test_delay_holds_the_answer_after_the_call_was_done(make_pool):
    faults = Faults("delay@VM.add_to_*=300")
    handle = make_pool(faults=faults)
    api = _session(handle.url).xenapi
    other = _session(handle.url).xenapi
    vm = api.VM.get_by_name_label("CentOS 5 (64-bit)")[0]
    seen = {}

    def add():
        api.VM.add_to_other_config(vm, "slow", "1")
        seen["answered"] = time.monotonic()

    started = time.monotonic()
    t = threading.Thread(target=add)
    t.start()
    time.sleep(0.1)
    # Done already (another session sees the key) while its caller still waits for the answer.
    assert other.VM.get_other_config(vm).get("slow") == "1" and "answered" not in seen
    t.join(5)
    assert seen["answered"] - started >= 0.3
    assert faults.summary() == {"delay": 1}
    assert Faults("delay=5").delay("VM.start") == 0.005
    assert Faults("delay@VM.start=5").delay("VM.clone") == 0.0
