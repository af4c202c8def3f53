"""Fault injection: resets before and after the call, the fault log and counts, and a crash
followed by a restart on the same port with the state kept (what a restarted xapi keeps)."""
import json
import os
import signal
import xmlrpc.client

import pytest
import XenAPI

from xapisim.faults import Faults

TEMPLATE = "CentOS 5 (64-bit)"


class OneTry(xmlrpc.client.Transport):
    """xmlrpc.client sends a request again when the connection drops without an answer; that
    would hide the fault (and, after reset_after, repeat the call)."""

    def request(self, host, handler, request_body, verbose=False):
        return self.single_request(host, handler, request_body, verbose)


def _proxy(url):
    return xmlrpc.client.ServerProxy(url, allow_none=True, transport=OneTry())


def test_the_stdlib_resend_would_repeat_a_call_whose_answer_was_lost(make_pool):
    pool = make_pool(faults=Faults("reset_after=0.5,seed=2"))
    plain = xmlrpc.client.ServerProxy(pool.url, allow_none=True)
    ref = plain.session.login_with_password("root", "xenroot")["Value"]
    template = next(r for r, v in pool.sim.db.all("VM").items() if v["name_label"] == TEMPLATE)
    for attempt in range(20):
        try:
            plain.VM.clone(ref, template, "resent %d" % attempt)
        except (ConnectionError, xmlrpc.client.ProtocolError, OSError):
            pass
    names = [v["name_label"] for v in pool.sim.db.all("VM").values() if v["name_label"].startswith("resent")]
    assert len(names) > len(set(names))          # some clone was made twice by the resend


def test_reset_after_carries_the_call_out_and_drops_the_answer(make_pool, tmp_path):
    log = tmp_path / "calls.jsonl"
    faults = Faults("reset_after=1.0")
    pool = make_pool(faults=faults, call_log=str(log))
    ref = _proxy(pool.url).session.login_with_password("root", "xenroot")["Value"]   # logins: never
    template = pool.sim.db.all("VM")
    template = next(r for r, v in template.items() if v["name_label"] == TEMPLATE)
    with pytest.raises((ConnectionError, xmlrpc.client.ProtocolError, OSError)):
        _proxy(pool.url).VM.clone(ref, template, "cloned, answer lost")
    names = [v["name_label"] for v in pool.sim.db.all("VM").values()]
    assert names.count("cloned, answer lost") == 1                 # it happened
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["method"], e["status"]) for e in entries] == [
        ("session.login_with_password", "Success"), ("VM.clone", "Lost")]
    assert faults.summary() == {"reset_after": 1}


def test_reset_before_does_nothing(make_pool):
    faults = Faults("reset=1.0")
    pool = make_pool(faults=faults)
    ref = _proxy(pool.url).session.login_with_password("root", "xenroot")["Value"]
    template = next(r for r, v in pool.sim.db.all("VM").items() if v["name_label"] == TEMPLATE)
    with pytest.raises((ConnectionError, xmlrpc.client.ProtocolError, OSError)):
        _proxy(pool.url).VM.clone(ref, template, "never made")
    assert "never made" not in [v["name_label"] for v in pool.sim.db.all("VM").values()]
    assert faults.summary() == {"reset": 1}


def test_expire_invalidates_the_session_and_the_sdk_logs_in_again(make_pool):
    faults = Faults("expire=0.5,seed=3")
    pool = make_pool(faults=faults)
    session = XenAPI.Session(pool.url)
    session.xenapi.login_with_password("root", "xenroot")
    for _attempt in range(10):
        assert session.xenapi.pool.get_all()
    assert faults.summary()["expire"] >= 1


def test_fault_log_and_counts_on_sigterm(serve, tmp_path):
    flog = tmp_path / "faults.jsonl"
    served = serve("--faults", "reset=1.0", "--fault-log", str(flog))
    ref = _proxy(served.url).session.login_with_password("root", "xenroot")["Value"]
    for _attempt in range(3):
        with pytest.raises((ConnectionError, xmlrpc.client.ProtocolError, OSError)):
            _proxy(served.url).pool.get_all(ref)
    os.kill(served.proc.pid, signal.SIGTERM)
    assert served.proc.wait(timeout=10) == 0
    assert b'xapisim faults injected {"reset": 3}' in served.proc.stderr.read()
    lines = [json.loads(line) for line in flog.read_text().splitlines()]
    assert [(e["fault"], e["method"]) for e in lines] == [("reset", "pool.get_all")] * 3


def test_crash_then_restart_on_the_same_port_keeps_the_pool(serve, tmp_path):
    state, flog = tmp_path / "pool.json", tmp_path / "faults.jsonl"
    served = serve("--state", str(state), "--faults", "crash=4", "--fault-log", str(flog))
    session = XenAPI.Session(served.url)
    x = session.xenapi
    x.login_with_password("root", "xenroot")                                   # call 1
    template = x.VM.get_by_name_label(TEMPLATE)[0]                             # 2
    clone = x.VM.clone(template, "survivor")                                   # 3
    task = x.Async.VM.provision(clone)                                         # 4
    with pytest.raises((ConnectionError, xmlrpc.client.ProtocolError, OSError)):
        x.VM.get_record(clone)                                                 # 5: the server dies
    assert served.proc.wait(timeout=10) == 137
    assert [json.loads(line)["fault"] for line in flog.read_text().splitlines()] == ["crash"]
    port = served.url.rsplit(":", 1)[1]
    again = serve("--port", port, "--state", str(state))                      # the last --port wins
    assert again.url == served.url                                             # same address
    # The old session died with the old process: the SDK logs in again by itself.
    record = x.VM.get_record(clone)
    assert record["name_label"] == "survivor"
    assert record["current_operations"] == {}                                  # nothing stays locked
    assert task not in x.task.get_all()                                        # tasks do not survive


def test_a_restart_tells_waiters_their_task_is_gone(tmp_path):
    """A token from before the restart: the task's deletion is an event; an older token whose
    events were not kept gets EVENTS_LOST instead of silence."""
    from xapisim.embedded import embedded
    from xapisim.sim import Simulator
    state = tmp_path / "pool.json"
    with embedded(state=str(state), clock_speed=0.01) as first:               # tasks never finish
        x = XenAPI.Session(first.url)
        x.xenapi.login_with_password("root", "xenroot")
        template = x.xenapi.VM.get_by_name_label(TEMPLATE)[0]
        old = x.xenapi.event_from(["vm"], "", 0.0)["token"]
        task = x.xenapi.Async.VM.clone(template, "slow clone")
        token = x.xenapi.event_from(["task/%s" % task], "", 0.0)["token"]
        first.sim.db.commit()
        first.sim.guests.close()
        second = Simulator(state=str(state))
    assert not second.db.exists("task", task)
    found = second.call("session.login_with_password", ["root", "xenroot"])[0]
    events = second.call("event.from", [found, ["task/%s" % task], token, 0.1])[0]["events"]
    assert [(e["operation"], e["ref"]) for e in events] == [("del", task)]
    with pytest.raises(Exception) as caught:
        second.call("event.from", [found, ["vm"], old, 0.1])
    assert getattr(caught.value, "code", None) == "EVENTS_LOST"
    second.guests.close()


def test_a_share_for_one_method(make_pool):
    faults = Faults("reset_after@VM.clone=1.0,reset_after=0.0")
    pool = make_pool(faults=faults)
    ref = _proxy(pool.url).session.login_with_password("root", "xenroot")["Value"]
    template = next(r for r, v in pool.sim.db.all("VM").items() if v["name_label"] == TEMPLATE)
    assert _proxy(pool.url).VM.get_name_label(ref, template)["Value"] == TEMPLATE
    with pytest.raises((ConnectionError, xmlrpc.client.ProtocolError, OSError)):
        _proxy(pool.url).VM.clone(ref, template, "only clones lose answers")
    assert faults.summary() == {"reset_after": 1}
    with pytest.raises(ValueError):
        Faults("seed@VM.clone=1")
