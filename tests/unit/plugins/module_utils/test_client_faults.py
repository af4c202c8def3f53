"""The client under faults: bounded retries with backoff for transient errors only, sessions
that expire, connections dropped before or after the pool acted, and a master that restarts."""
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils import _client
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    NOT_DONE,
    XenServerClient,
    XenServerError,
)
from xapisim.embedded import embedded
from xapisim.faults import Faults, Scripted

TEMPLATE = "CentOS 5 (64-bit)"


class _Clock(object):
    """The client's view of time: its backoff pauses are recorded, not slept (but they count
    as time passed, so a time budget runs out as it would)."""

    def __init__(self):
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)

    def time(self):
        return time.time() + sum(self.slept)


@pytest.fixture
def no_sleep(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(_client, "time", clock)
    return clock.slept


def _client_for(pool):
    return XenServerClient(pool.url, "root", "xenroot").connect()


def _names(pool, name):
    return [v["name_label"] for v in pool.sim.db.all("VM").values() if v["name_label"] == name]


def test_transient_errors_are_retried_with_growing_backoff_then_fail_clearly(no_sleep):
    with embedded(faults=Faults("busy=1.0")) as pool:
        client = _client_for(pool)
        template = client.call("VM.get_by_name_label", TEMPLATE)[0]
        with pytest.raises(XenServerError) as info:
            client.call("VM.clone", template, "never")
        assert info.value.code == "OTHER_OPERATION_IN_PROGRESS"
        assert "try again when it ends" in str(info.value)
        assert client.retried == 3 and len(no_sleep) == 3
        # exponential with jitter: 0.25*2**n times 0.5..1
        for attempt, delay in enumerate(no_sleep):
            assert 0.125 * 2 ** attempt <= delay <= 0.25 * 2 ** attempt
        client.logout()


def test_errors_that_are_not_transient_fail_at_once(no_sleep):
    with embedded(faults=Faults("nomem=1.0"), clock_speed=1000.0) as pool:
        client = _client_for(pool)
        template = client.call("VM.get_by_name_label", TEMPLATE)[0]
        vm = client.call("VM.clone", template, "big")
        client.call("VM.set_is_a_template", vm, False)
        with pytest.raises(XenServerError) as info:
            client.call("VM.start", vm, False, False)
        assert info.value.code == "HOST_NOT_ENOUGH_FREE_MEMORY"
        assert "lower the VM's memory or free memory on the host" in str(info.value)
        assert client.retried == 0 and no_sleep == []
        client.logout()


def test_dropped_connections_before_the_call_are_retried(no_sleep):
    faults = Scripted(reset={"VM.get_by_name_label": 2, "VM.clone": 1})
    with embedded(faults=faults) as pool:
        client = _client_for(pool)
        template = client.call("VM.get_by_name_label", TEMPLATE)[0]
        assert client.retried == 2
        # a clone whose connection dropped: the recover lookup finds nothing, so it is sent again
        looked = []

        def recover():
            looked.append(1)
            refs = [r for r, v in pool.sim.db.all("VM").items() if v["name_label"] == "once"]
            return refs[0] if refs else NOT_DONE

        vm = client.call("VM.clone", template, "once", recover=recover)
        assert looked == [1] and _names(pool, "once") == ["once"]
        assert client.call("VM.get_name_label", vm) == "once"
        assert faults.summary() == {"reset": 3}
        client.logout()


def test_a_lost_clone_answer_is_never_repeated_blindly(no_sleep):
    with embedded(faults=Scripted(reset_after={"VM.clone": 1})) as pool:
        client = _client_for(pool)
        template = client.call("VM.get_by_name_label", TEMPLATE)[0]
        with pytest.raises(XenServerError) as info:
            client.call("VM.clone", template, "lost")
        assert info.value.code == "ANSWER_LOST"
        assert "not sent again blindly" in str(info.value)
        assert _names(pool, "lost") == ["lost"]                   # made once, not twice
        client.logout()


def test_a_lost_clone_answer_is_recovered_by_the_callers_lookup(no_sleep):
    with embedded(faults=Scripted(reset_after={"VM.clone": 1})) as pool:
        client = _client_for(pool)
        template = client.call("VM.get_by_name_label", TEMPLATE)[0]

        def recover():
            refs = client.call("VM.get_by_name_label", "found again")
            return refs[0] if refs else NOT_DONE

        vm = client.call("VM.clone", template, "found again", recover=recover)
        assert _names(pool, "found again") == ["found again"]
        assert client.call("VM.get_name_label", vm) == "found again"
        assert client.recovered == 1
        client.logout()


def test_repeats_that_show_the_lost_call_was_done_count_as_done(no_sleep):
    faults = Scripted(reset_after={"VM.add_to_other_config": 1, "VM.destroy": 1})
    with embedded(faults=faults) as pool:
        client = _client_for(pool)
        template = client.call("VM.get_by_name_label", TEMPLATE)[0]
        vm = client.call("VM.clone", template, "short-lived")
        client.call("VM.add_to_other_config", vm, "role", "web")    # repeat: MAP_DUPLICATE_KEY, same value
        assert client.call("VM.get_other_config", vm)["role"] == "web"
        client.call("VM.destroy", vm)                               # repeat: HANDLE_INVALID
        assert _names(pool, "short-lived") == []
        assert client.recovered == 2
        client.logout()


def test_a_different_value_under_the_key_is_still_an_error(no_sleep):
    with embedded(faults=Scripted(reset={"VM.add_to_other_config": 1})) as pool:
        client = _client_for(pool)
        template = client.call("VM.get_by_name_label", TEMPLATE)[0]
        vm = client.call("VM.clone", template, "keyed")
        client.call("VM.add_to_other_config", vm, "role", "db")
        # reset before the call: nothing was done, the repeat adds the key
        assert client.call("VM.get_other_config", vm)["role"] == "db"
        with pytest.raises(XenServerError) as info:
            client.call("VM.add_to_other_config", vm, "role", "web")
        assert info.value.code == "MAP_DUPLICATE_KEY"
        client.logout()


def test_session_expiry_is_survived(no_sleep):
    # Three expiries in a row: the SDK's own three re-logins fail, the client logs in afresh.
    faults = Scripted(expire={"pool.get_all": 4})
    with embedded(faults=faults) as pool:
        client = _client_for(pool)
        assert client.call("pool.get_all")
        assert client.relogins == 1 and faults.summary() == {"expire": 4}
        client.logout()


def test_random_session_expiry_and_resets_on_a_busy_client(no_sleep):
    faults = Faults("expire=0.2,reset=0.1,reset_after=0.1,seed=7")
    with embedded(faults=faults) as pool:
        client = _client_for(pool)
        for _attempt in range(60):
            assert client.call("VM.get_all_records_where", 'field "is_a_template"="false"')
        counts = faults.summary()
        assert counts["expire"] and counts["reset"] and counts["reset_after"]
        client.logout()


def test_a_waiter_learns_that_its_task_died_with_the_master(tmp_path):
    """Async.VM.start is waited for; the master restarts mid-task; the task is gone."""
    state = tmp_path / "pool.json"
    script = os.path.join(os.path.dirname(sys.executable), "xapisim")
    first = subprocess.Popen([script, "serve", "--port", "0", "--state", str(state), "--clock-speed", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = first.stdout.readline().split()[-1]
    port = url.rsplit(":", 1)[1]
    client = XenServerClient(url, "root", "xenroot", backoff=0.05).connect()
    template = client.call("VM.get_by_name_label", TEMPLATE)[0]
    vm = client.call("VM.clone", template, "slow starter")
    client.call("VM.set_is_a_template", vm, False)
    client.call("VM.set_PV_bootloader", vm, "")
    client.call("VM.set_PV_kernel", vm, "/boot/guest/vmlinuz")
    restarted = []

    def restart():
        time.sleep(0.5)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        again = subprocess.Popen([script, "serve", "--port", port, "--state", str(state)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        again.stdout.readline()
        restarted.append(again)

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        with pytest.raises(XenServerError) as info:
            client.run_async("VM.start", vm, False, False, timeout=30)
        thread.join()
        assert info.value.code == "TASK_LOST" and "restarted" in str(info.value)
        assert client.call("VM.get_power_state", vm) == "Halted"     # the start died with it
        assert client.call("VM.get_current_operations", vm) == {}
        client.logout()
    finally:
        thread.join()
        for proc in [first] + restarted:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
            proc.stdout.close()
            proc.stderr.close()


def test_connection_refused_at_login_is_retried_for_the_reconnect_timeout(no_sleep):
    """A master restart takes longer than a few tries (it once gave up after about 1.2 s)."""
    with pytest.raises(XenServerError) as info:
        XenServerClient("http://127.0.0.1:9", "root", "x").connect()
    assert info.value.code == "CONNECTION_FAILED"
    assert "cannot reach XenServer at http://127.0.0.1:9" in str(info.value)
    assert "reconnect_timeout is 120 s" in str(info.value)
    # The budget counts the real time between the tries too: the pauses alone may fall a hair short.
    assert 119 <= sum(no_sleep) < 125 and max(no_sleep) <= 4.0
    del no_sleep[:]
    with pytest.raises(XenServerError) as info:
        XenServerClient("http://127.0.0.1:9", "root", "x", reconnect_timeout=5).connect()
    assert "reconnect_timeout is 5 s" in str(info.value) and 5 <= sum(no_sleep) < 9


def test_an_unknown_host_name_fails_at_once(no_sleep):
    with pytest.raises(XenServerError) as info:
        XenServerClient("http://no-such-host.invalid", "root", "x").connect()
    assert "cannot reach XenServer" in str(info.value) and no_sleep == []


def test_a_task_refused_for_another_operation_is_started_again():
    with embedded(clock_speed=1000.0) as pool:
        client = _client_for(pool)
        template = client.call("VM.get_by_name_label", TEMPLATE)[0]
        vm = client.call("VM.clone", template, "busy for a while")
        client.call("VM.set_is_a_template", vm, False)
        client.call("VM.set_PV_bootloader", vm, "")
        client.call("VM.set_PV_kernel", vm, "/boot/guest/vmlinuz")
        db = pool.sim.db
        with db.lock:
            db.get("VM", vm)["current_operations"]["OpaqueRef:someone-else"] = "clean_reboot"

        def release():
            with db.lock:
                db.get("VM", vm)["current_operations"].clear()

        timer = threading.Timer(0.2, release)
        timer.start()
        client.run_async("VM.start", vm, False, False)
        timer.join()
        assert client.call("VM.get_power_state", vm) == "Running" and client.retried >= 1
        client.logout()
