"""_power: the transition table, IP parsing, and apply/wait against the simulator."""
import threading
import time

import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils import _power
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerClient, XenServerError
from xapisim import vm as sim_vm
from xapisim.embedded import embedded

STATES = ["halted", "running", "paused", "suspended"]
# The lifecycle graph xapi documents (doc/content/xen-api/topics/vm-lifecycle.md): which single
# operation leads from one power state to another.
EDGES = {
    "start": ("halted", "running"), "start_paused": ("halted", "paused"),
    "clean_shutdown": ("running", "halted"), "hard_shutdown": (None, "halted"),
    "suspend": ("running", "suspended"), "resume": ("suspended", "running"),
    "resume_paused": ("suspended", "paused"), "pause": ("running", "paused"),
    "unpause": ("paused", "running"), "clean_reboot": ("running", "running"),
    "hard_reboot": (None, "running"),
}
HARD_FROM = {"hard_shutdown": ("running", "paused", "suspended"), "hard_reboot": ("running", "paused")}


def walk(current, steps):
    """Follow ``steps`` along the lifecycle graph; fails on an edge xapi does not have."""
    for step in steps:
        source, target = EDGES[step]
        allowed = HARD_FROM.get(step, (source,))
        assert current in allowed, "%s is not allowed from %s" % (step, current)
        current = target
    return current


@pytest.mark.parametrize("current", STATES)
@pytest.mark.parametrize("wanted", STATES)
@pytest.mark.parametrize("force", [False, True])
def test_every_plan_follows_the_lifecycle_graph(current, wanted, force):
    if (current, wanted) == ("halted", "suspended"):
        with pytest.raises(XenServerError) as err:
            _power.plan(current, wanted, force)
        assert "cannot be suspended" in str(err.value) and "start it first" in str(err.value)
        return
    steps = _power.plan(current.capitalize(), wanted, force)
    assert walk(current, steps) == wanted
    assert (steps == []) == (current == wanted)
    if current == "running" and not force:     # a running guest is always asked first
        assert not any(s.startswith("hard_") for s in steps)


@pytest.mark.parametrize("current, force, steps", [
    ("running", False, ["clean_reboot"]), ("running", True, ["hard_reboot"]),
    ("paused", False, ["hard_reboot"]), ("halted", False, ["start"]),
])
def test_restarted_plans(current, force, steps):
    assert _power.plan(current, "restarted", force) == steps
    assert walk(current, steps) == "running"


def test_restarting_a_suspended_vm_is_refused():
    with pytest.raises(XenServerError) as err:
        _power.plan("suspended", "restarted")
    assert "resume it first" in str(err.value)


def test_agent_reported():
    assert not _power.agent_reported({"PV_drivers_detected": False, "os_version": {}, "PV_drivers_version": {}})
    assert _power.agent_reported({"PV_drivers_detected": True})
    assert _power.agent_reported({"os_version": {"name": "CentOS"}})


# --- against the simulator -----------------------------------------------------------------

@pytest.fixture
def sim():
    with embedded(clock_speed=1000.0) as handle:
        client = XenServerClient(handle.url, "root", "xenroot").connect()
        yield handle, client
        client.logout()


def _running_vm(handle, client, hvm=False):
    template = client.call("VM.get_by_name_label", "Other install media" if hvm else "CentOS 5 (64-bit)")[0]
    vm = client.call("VM.clone", template, "t")
    sr = client.call("SR.get_uuid", client.call("SR.get_by_name_label", "Local storage")[0])
    disks = client.call("VM.get_other_config", vm)["disks"].replace('sr=""', 'sr="%s"' % sr)
    client.call("VM.remove_from_other_config", vm, "disks")
    client.call("VM.add_to_other_config", vm, "disks", disks)
    client.call("VM.provision", vm)
    if not hvm:     # boot a dom0 kernel directly: no bootloader, no installer
        client.call("VM.set_PV_bootloader", vm, "")
        client.call("VM.set_PV_kernel", vm, "/boot/guest/vmlinuz")
    client.call("VM.start", vm, False, False)
    return vm


def test_apply_runs_async_tasks_and_reports_what_it_did(sim):
    handle, client = sim
    vm = _running_vm(handle, client)
    done = []
    assert _power.apply(client, vm, "t", ["pause", "unpause", "suspend"], 10, done=done) == \
        ["pause", "unpause", "suspend"]
    assert done == ["pause", "unpause", "suspend"]
    assert client.call("VM.get_power_state", vm) == "Suspended"
    assert client.call("task.get_all") == []     # every task was cleaned up


def test_apply_keeps_what_was_done_before_a_failure(sim):
    handle, client = sim
    vm = _running_vm(handle, client, hvm=True)
    client.call("VM.pause", vm)
    done = []
    with pytest.raises(XenServerError) as err:
        _power.apply(client, vm, "t", _power.plan("paused", "suspended"), 10, done=done)
    assert err.value.code == "VM_LACKS_FEATURE" and "cannot be suspended" in str(err.value)
    assert done == ["unpause"]


def test_hard_shutdown_cancels_a_pending_clean_one(sim, monkeypatch):
    """The simulator, like xapi, lets a hard shutdown overtake a clean one and cancels it."""
    handle, client = sim
    vm = _running_vm(handle, client)
    monkeypatch.setitem(sim_vm.DURATION, "clean_shutdown", 1500.0)     # 1.5 s real
    task = client.call("Async.VM.clean_shutdown", vm)
    time.sleep(0.2)
    assert list(client.call("VM.get_current_operations", vm).values()) == ["clean_shutdown"]
    client.call("VM.hard_shutdown", vm)
    record = client.wait_for("task", task, lambda t: t["status"] != "pending", 5)
    assert record["status"] == "cancelled" and record["error_info"][0] == "TASK_CANCELLED"
    assert client.call("VM.get_power_state", vm) == "Halted"
    assert client.call("VM.get_current_operations", vm) == {}


def test_wait_counts_calls_by_changes_not_time(sim):
    handle, client = sim
    vm = _running_vm(handle, client)
    started = threading.Event()

    def agent():
        started.wait(5)
        time.sleep(0.8)
        db = handle.sim.db
        with db.lock:   # the guest agent reports: xapi writes VM_guest_metrics and links it
            metrics = db.create("VM_guest_metrics", uuid="4e0b2a6c-0000-4000-8000-000000000050",
                                networks={"0/ip": "192.0.2.50"}, PV_drivers_detected=True, live=True)
            db.update("VM", vm, guest_metrics=metrics)
    threading.Thread(target=agent, daemon=True).start()
    calls = []
    real = client.call

    def counting(method, *args):
        calls.append(method)
        started.set()
        return real(method, *args)
    client.call = counting
    outcome = _power.wait(client, vm, "t", "ip", 30)
    assert outcome == {"power_state": "running", "ip": "192.0.2.50"}
    assert calls == ["event_from", "event_from", "event_from"]


def test_wait_timeout_names_the_option(sim):
    handle, client = sim
    vm = _running_vm(handle, client)
    began = time.time()
    with pytest.raises(XenServerError) as err:
        _power.wait(client, vm, "t", "guest_agent", 1)
    assert 1 <= time.time() - began < 10
    assert err.value.code == "WAIT_TIMEOUT" and "wait_timeout" in str(err.value)
    assert "report its guest agent" in str(err.value)


def test_wait_for_running_already_known_costs_nothing(sim):
    handle, client = sim
    vm = _running_vm(handle, client)
    record = client.call("VM.get_record", vm)
    calls = []
    real = client.call
    client.call = lambda method, *args: (calls.append(method), real(method, *args))[1]
    assert _power.wait(client, vm, "t", "running", 5, record=record) == {"power_state": "running", "ip": ""}
    assert calls == []
