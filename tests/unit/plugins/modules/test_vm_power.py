"""vm_power against the simulator, through the real SDK."""
import threading
import time
import uuid as uuid_mod

import pytest
from ansible.module_utils.common import warnings as ansible_warnings

from xapisim import vm as sim_vm

NULL = "OpaqueRef:NULL"


@pytest.fixture
def run_module(run_module):
    """conftest's runner, without the warnings of earlier in-process runs: AnsibleModule keeps
    them in a process-wide list that only a real module exit empties."""
    def clear():
        ansible_warnings._global_warnings.clear()
        ansible_warnings._global_deprecations.clear()

    def run(*args, **kwargs):
        clear()
        return run_module(*args, **kwargs)
    yield run
    clear()


def make_vm(pool, name, hvm=False):
    """A provisioned, halted VM: PV booting a dom0 kernel directly (no bootloader, no
    installer: it starts whatever the simulator's guest model does) or HVM without PV drivers."""
    api = pool.api
    vm = pool.provisioned_vm(name, "Other install media" if hvm else "CentOS 5 (64-bit)")
    if not hvm:
        api.VM.set_PV_bootloader(vm, "")
        api.VM.set_PV_kernel(vm, "/boot/guest/vmlinuz")
        api.VM.set_PV_ramdisk(vm, "/boot/guest/initrd.img")
    return vm


def report_agent(pool, vm, networks=None, os_version=None, pv_drivers=True):
    """The guest agent reports in: a VM_guest_metrics record written straight into the
    simulator's database and linked to the VM, as xapi records what the agent publishes."""
    db = pool.sim.db
    with db.lock:
        assert db.get("VM", vm)["power_state"] == "Running", "only a running guest reports"
        values = dict(networks=dict(networks or {}), os_version=dict(os_version or {}),
                      PV_drivers_detected=pv_drivers, live=True,
                      PV_drivers_version={"major": "8", "minor": "4", "micro": "0"} if pv_drivers else {},
                      other={"feature-shutdown": "1", "feature-suspend": "1"} if pv_drivers else {},
                      last_updated=pool.sim.clock.stamp())
        metrics = db.get("VM", vm)["guest_metrics"]
        if db.exists("VM_guest_metrics", metrics):
            db.update("VM_guest_metrics", metrics, **values)
        else:
            metrics = db.create("VM_guest_metrics", uuid=str(uuid_mod.uuid4()), **values)
            db.update("VM", vm, guest_metrics=metrics)
        return metrics


def put_in(pool, vm, state):
    """Bring ``vm`` (halted) into ``state`` through the SDK."""
    api = pool.api
    if state == "halted":
        return
    if state == "paused":
        api.VM.start(vm, True, False)
        return
    api.VM.start(vm, False, False)
    if state == "suspended":
        api.VM.suspend(vm)


def warnings(result):
    """Warning texts (ansible-core 2.19 wraps each one in a WarningSummary)."""
    return [w["event"]["msg"] if isinstance(w, dict) else w for w in result.get("warnings", [])]


def power(pool, vm):
    return pool.api.VM.get_power_state(vm).lower()


def later(delay, action):
    """Run ``action`` in the background after ``delay`` s: a guest acting on its own."""
    thread = threading.Thread(target=lambda: (time.sleep(delay), action()), daemon=True)
    thread.start()
    return thread


def when_running(pool, vm, action, delay=0.3):
    """Once ``vm`` runs (the module started it), wait ``delay`` more, then ``action``."""
    def go():
        deadline = time.time() + 10
        while pool.sim.db.get("VM", vm)["power_state"] != "Running" and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        action()
    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def wait_calls(calls):
    """The event.from calls of the wait, i.e. after the power task was forgotten."""
    tail = calls[max(i for i, c in enumerate(calls) if c == "task.destroy") + 1:] \
        if "task.destroy" in calls else calls
    return [c for c in tail if c == "event_from"]


# --- the full sequence ---------------------------------------------------------------------

def test_start_check_apply_again(pool, run_module):
    vm = make_vm(pool, "web01")
    before = pool.state()
    pool.mark()
    result = run_module("vm_power", check_mode=True, diff=True, name="web01", state="running")
    assert result["changed"] is True and result["power_state"] == "running"
    assert result["changes"]["actions"] == ["start"]
    assert result["diff"] == {"before": {"power_state": "halted"}, "after": {"power_state": "running"}}
    assert not [c for c in pool.calls() if c.startswith("Async.")]
    assert pool.state() == before

    result = run_module("vm_power", name="web01", state="running")
    assert result["changed"] is True and result["power_state"] == "running"
    assert result["changes"] == {"fields": ["power_state"], "actions": ["start"], "needs_halt": []}
    assert result["uuid"] == pool.api.VM.get_uuid(vm)
    calls = pool.calls()
    # A start waits on no guest: one plain call (a clean shutdown is an Async task, timed).
    assert "VM.start" in calls and "Async.VM.start" not in calls
    assert "VM.get_all_records" not in calls and "VM.get_all" not in calls
    assert power(pool, vm) == "running"

    result = run_module("vm_power", name="web01", state="running")
    assert result["changed"] is False and result["power_state"] == "running"
    assert result["changes"]["actions"] == []
    calls = pool.calls()
    assert len(calls) <= 5, calls

    result = run_module("vm_power", name="web01", state="halted")
    assert result["changed"] is True and result["changes"]["actions"] == ["clean_shutdown"]
    assert power(pool, vm) == "halted"
    pool.mark()
    result = run_module("vm_power", name="web01", state="halted")
    assert result["changed"] is False
    assert len(pool.calls()) <= 5


def test_call_counts(pool, run_module):
    make_vm(pool, "counted")
    pool.mark()
    run_module("vm_power", name="counted", state="running")
    start = pool.calls()
    run_module("vm_power", name="counted", state="running")
    again = pool.calls()
    # login, lookup, VM.start, logout
    assert start == ["session.login_with_password", "VM.get_all_records_where", "VM.start", "session.logout"]
    assert again == ["session.login_with_password", "VM.get_all_records_where", "session.logout"]


# --- every transition, along the paths xapi allows -------------------------------------------

@pytest.mark.parametrize("initial, wanted, actions", [
    ("halted", "running", ["start"]),
    ("suspended", "running", ["resume"]),
    ("paused", "running", ["unpause"]),
    ("running", "halted", ["clean_shutdown"]),
    ("paused", "halted", ["hard_shutdown"]),
    ("suspended", "halted", ["hard_shutdown"]),
    ("running", "suspended", ["suspend"]),
    ("paused", "suspended", ["unpause", "suspend"]),
    ("running", "paused", ["pause"]),
    ("halted", "paused", ["start_paused"]),
    ("suspended", "paused", ["resume_paused"]),
])
def test_transitions(pool, run_module, initial, wanted, actions):
    vm = make_vm(pool, "moving")
    put_in(pool, vm, initial)
    before = pool.state()
    result = run_module("vm_power", check_mode=True, name="moving", state=wanted)
    assert result["changed"] is True and result["changes"]["actions"] == actions
    assert pool.state() == before
    result = run_module("vm_power", name="moving", state=wanted)
    assert result["changed"] is True and result["changes"]["actions"] == actions, result
    assert result["power_state"] == wanted and power(pool, vm) == wanted
    assert run_module("vm_power", name="moving", state=wanted)["changed"] is False


def test_halted_vm_cannot_be_suspended(pool, run_module):
    make_vm(pool, "cold")
    before = pool.state()
    result = run_module("vm_power", name="cold", state="suspended")
    assert result["failed"] and "'cold'" in result["msg"]
    assert "halted VM cannot be suspended" in result["msg"] and "state: running" in result["msg"]
    assert pool.state() == before
    result = run_module("vm_power", check_mode=True, name="cold", state="suspended")
    assert result["failed"] and "cannot be suspended" in result["msg"]


def test_force_hard_shutdown(pool, run_module):
    vm = make_vm(pool, "forced")
    put_in(pool, vm, "running")
    result = run_module("vm_power", name="forced", state="halted", force=True)
    assert result["changed"] and result["changes"]["actions"] == ["hard_shutdown"]
    assert power(pool, vm) == "halted"


# --- restarted ---------------------------------------------------------------------------------

def test_restarted_always_changes(pool, run_module):
    vm = make_vm(pool, "bouncy")
    put_in(pool, vm, "running")
    domid = pool.api.VM.get_domid(vm)
    before = pool.state()
    result = run_module("vm_power", check_mode=True, name="bouncy", state="restarted")
    assert result["changed"] and result["changes"]["actions"] == ["clean_reboot"]
    assert pool.state() == before
    for _attempt in range(2):
        result = run_module("vm_power", name="bouncy", state="restarted")
        assert result["changed"] is True and result["changes"]["actions"] == ["clean_reboot"]
        assert result["changes"]["fields"] == [] and result["power_state"] == "running"
    assert pool.api.VM.get_domid(vm) != domid
    result = run_module("vm_power", name="bouncy", state="restarted", force=True)
    assert result["changes"]["actions"] == ["hard_reboot"]


@pytest.mark.parametrize("initial, actions", [("halted", ["start"]), ("paused", ["hard_reboot"])])
def test_restarted_from_halted_and_paused(pool, run_module, initial, actions):
    vm = make_vm(pool, "bouncy")
    put_in(pool, vm, initial)
    result = run_module("vm_power", name="bouncy", state="restarted")
    assert result["changed"] and result["changes"]["actions"] == actions
    assert power(pool, vm) == "running"


def test_suspended_vm_cannot_be_restarted(pool, run_module):
    vm = make_vm(pool, "sleepy")
    put_in(pool, vm, "suspended")
    before = pool.state()
    result = run_module("vm_power", name="sleepy", state="restarted")
    assert result["failed"] and "suspended VM cannot be restarted" in result["msg"]
    assert pool.state() == before


# --- guests that do not cooperate ----------------------------------------------------------------

def test_hvm_without_pv_drivers_refuses_clean_shutdown(pool, run_module):
    vm = make_vm(pool, "win", hvm=True)
    put_in(pool, vm, "running")
    result = run_module("vm_power", name="win", state="halted")
    assert result["failed"] and result["error_code"] == "VM_LACKS_FEATURE"
    assert "without PV drivers" in result["msg"]
    assert "force: true" in result["msg"] and "hard_shutdown_fallback: true" in result["msg"]
    assert "hard shutdown" in result["msg"]
    assert result["changed"] is False and result["power_state"] == "running"
    assert power(pool, vm) == "running"

    result = run_module("vm_power", name="win", state="halted", hard_shutdown_fallback=True)
    assert result["changed"] and result["changes"]["actions"] == ["hard_shutdown"]
    assert any("VM_LACKS_FEATURE" in w for w in warnings(result))
    assert power(pool, vm) == "halted"


def test_hvm_without_pv_drivers_reboot_and_suspend(pool, run_module):
    vm = make_vm(pool, "win", hvm=True)
    put_in(pool, vm, "running")
    result = run_module("vm_power", name="win", state="restarted")
    assert result["failed"] and "cannot reboot cleanly" in result["msg"] and "hard reboot" in result["msg"]
    result = run_module("vm_power", name="win", state="restarted", hard_shutdown_fallback=True)
    assert result["changed"] and result["changes"]["actions"] == ["hard_reboot"]
    result = run_module("vm_power", name="win", state="suspended")
    assert result["failed"] and "cannot be suspended" in result["msg"] and "PV drivers" in result["msg"]
    assert power(pool, vm) == "running"


def test_hvm_with_pv_drivers_shuts_down_cleanly(pool, run_module):
    vm = make_vm(pool, "win", hvm=True)
    put_in(pool, vm, "running")
    report_agent(pool, vm, networks={"0/ip": "192.0.2.7"})
    result = run_module("vm_power", name="win", state="halted")
    assert result["changed"] and result["changes"]["actions"] == ["clean_shutdown"]


@pytest.fixture
def slow_guest(monkeypatch):
    """A guest that takes 3 s (real) to act on a clean shutdown/reboot."""
    monkeypatch.setitem(sim_vm.DURATION, "clean_shutdown", 3000.0)
    monkeypatch.setitem(sim_vm.DURATION, "clean_reboot", 3000.0)


def test_shutdown_timeout_fails_clearly(pool, run_module, slow_guest):
    vm = make_vm(pool, "stubborn")
    put_in(pool, vm, "running")
    began = time.time()
    result = run_module("vm_power", name="stubborn", state="halted", shutdown_timeout=1)
    assert time.time() - began < 10   # the 1 s timeout, not the default 120 s (loaded CI machines are slow)
    assert result["failed"] and result["error_code"] == "SHUTDOWN_TIMEOUT"
    assert "within 1 s (shutdown_timeout)" in result["msg"] and "hard_shutdown_fallback" in result["msg"]
    assert result["power_state"] == "running" and result["changed"] is False


def test_shutdown_timeout_falls_back_to_hard(pool, run_module, slow_guest):
    vm = make_vm(pool, "stubborn")
    put_in(pool, vm, "running")
    began = time.time()
    result = run_module("vm_power", name="stubborn", state="halted", shutdown_timeout=1,
                        hard_shutdown_fallback=True)
    assert time.time() - began < 10   # the 1 s timeout, not the default 120 s (loaded CI machines are slow)
    assert result["changed"] and result["changes"]["actions"] == ["hard_shutdown"]
    assert any("not finished within 1 s" in w for w in warnings(result))
    assert power(pool, vm) == "halted"
    time.sleep(2.2)     # the cancelled clean shutdown ends without touching the VM again
    assert power(pool, vm) == "halted" and pool.api.VM.get_current_operations(vm) == {}


def test_reboot_timeout_falls_back_to_hard(pool, run_module, slow_guest):
    vm = make_vm(pool, "stubborn")
    put_in(pool, vm, "running")
    result = run_module("vm_power", name="stubborn", state="restarted", shutdown_timeout=1,
                        hard_shutdown_fallback=True)
    assert result["changed"] and result["changes"]["actions"] == ["hard_reboot"]
    assert power(pool, vm) == "running"


# --- waits ---------------------------------------------------------------------------------

def test_wait_for_ip_wakes_on_the_event(pool, run_module):
    vm = make_vm(pool, "web01")
    when_running(pool, vm, lambda: report_agent(
        pool, vm, networks={"0/ip": "192.0.2.10", "0/ipv6/0": "2001:db8::10"}), delay=0.5)
    pool.mark()
    began = time.time()
    result = run_module("vm_power", name="web01", state="running", wait_for="ip", wait_timeout=30)
    assert time.time() - began < 20   # well before the 30 s wait_timeout
    assert result["changed"] and result["ip"] == "192.0.2.10" and result["power_state"] == "running"
    calls = pool.calls()
    assert len(wait_calls(calls)) <= 3, calls
    assert "VM.get_record" not in calls and "VM_guest_metrics.get_record" not in calls

    pool.mark()
    result = run_module("vm_power", name="web01", state="running", wait_for="ip")
    assert result["changed"] is False and result["ip"] == "192.0.2.10"
    assert len(pool.calls()) <= 5


def test_wait_for_ip_across_several_reports(pool, run_module):
    vm = make_vm(pool, "slow")
    put_in(pool, vm, "running")

    def agent():
        report_agent(pool, vm, os_version={"name": "CentOS"})
        time.sleep(0.3)
        report_agent(pool, vm, os_version={"name": "CentOS"}, networks={"1/ipv4/0": "198.51.100.4"})
    later(0.3, agent)
    pool.mark()
    result = run_module("vm_power", name="slow", wait_for="ip", wait_timeout=30)
    assert result["changed"] is False and result["ip"] == "198.51.100.4"
    # VM (no metrics), VM (metrics linked), metrics (no IP yet), metrics (IP): one per change
    assert len(wait_calls(pool.calls())) <= 4


def test_wait_for_ip_times_out_cleanly(pool, run_module):
    vm = make_vm(pool, "silent")
    pool.mark()
    began = time.time()
    result = run_module("vm_power", name="silent", state="running", wait_for="ip", wait_timeout=1)
    elapsed = time.time() - began
    assert 1 <= elapsed < 3
    assert result["failed"] and result["error_code"] == "WAIT_TIMEOUT"
    assert "1 s (wait_timeout)" in result["msg"] and "IP address" in result["msg"]
    assert "guest agent" in result["msg"]
    # The start happened: reported, not hidden by the failure.
    assert result["changed"] is True and result["power_state"] == "running"
    assert result["changes"]["actions"] == ["start"]
    assert power(pool, vm) == "running"
    assert len(wait_calls(pool.calls())) <= 3


def test_wait_for_guest_agent(pool, run_module):
    vm = make_vm(pool, "agent")
    when_running(pool, vm, lambda: report_agent(pool, vm, os_version={"name": "CentOS"}))
    result = run_module("vm_power", name="agent", state="running", wait_for="guest_agent", wait_timeout=30)
    assert result["changed"] and result["power_state"] == "running" and result["ip"] == ""
    result = run_module("vm_power", name="agent", wait_for="guest_agent", wait_timeout=1)
    assert result["changed"] is False and not result.get("failed")


def test_wait_for_pv_drivers(pool, run_module):
    """The agent reports first without PV drivers (os_version only), later with them, as when
    the XenServer VM Tools get installed from xs-tools.iso: guest_agent is met at once,
    pv_drivers only by the second report."""
    vm = make_vm(pool, "tools")
    put_in(pool, vm, "running")
    report_agent(pool, vm, os_version={"name": "CentOS"}, pv_drivers=False)
    result = run_module("vm_power", name="tools", wait_for="guest_agent", wait_timeout=1)
    assert result["changed"] is False and not result.get("failed")
    later(0.5, lambda: report_agent(pool, vm, os_version={"name": "CentOS"}, pv_drivers=True))
    began = time.time()
    pool.mark()
    result = run_module("vm_power", name="tools", wait_for="pv_drivers", wait_timeout=30)
    assert not result.get("failed") and result["changed"] is False and result["power_state"] == "running"
    assert 0.4 < time.time() - began < 20   # woke on the event, well before the 30 s timeout
    # metrics (no PV drivers), metrics (PV drivers): one event.from per change, no polling
    assert len(wait_calls(pool.calls())) <= 3


def test_wait_for_pv_drivers_times_out_naming_the_tools(pool, run_module):
    vm = make_vm(pool, "notools")
    put_in(pool, vm, "running")
    report_agent(pool, vm, os_version={"name": "CentOS"}, pv_drivers=False)
    result = run_module("vm_power", name="notools", wait_for="pv_drivers", wait_timeout=1)
    assert result["failed"] and result["error_code"] == "WAIT_TIMEOUT"
    assert "PV drivers" in result["msg"] and "xs-tools.iso" in result["msg"]


def test_restart_does_not_report_the_old_ip(pool, run_module):
    vm = make_vm(pool, "renumbered")
    put_in(pool, vm, "running")
    report_agent(pool, vm, networks={"0/ip": "192.0.2.1"})
    domid = pool.api.VM.get_domid(vm)

    def after_reboot():
        deadline = time.time() + 10
        while pool.sim.db.get("VM", vm)["domid"] == domid and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        report_agent(pool, vm, networks={"0/ip": "192.0.2.2"})
    later(0, after_reboot)
    result = run_module("vm_power", name="renumbered", state="restarted", wait_for="ip", wait_timeout=30)
    assert result["changed"] and result["ip"] == "192.0.2.2"


def test_wait_for_halted_after_start(pool, run_module):
    """Start the installer and wait for the guest to power itself off."""
    vm = make_vm(pool, "installer")
    when_running(pool, vm, lambda: pool.api.VM.hard_shutdown(vm), delay=0.5)
    pool.mark()
    result = run_module("vm_power", name="installer", state="running", wait_for="halted", wait_timeout=30)
    assert result["changed"] and result["power_state"] == "halted"
    assert len(wait_calls(pool.calls())) <= 3


def test_wait_for_running_without_state(pool, run_module):
    vm = make_vm(pool, "other")
    later(0.3, lambda: pool.api.VM.start(vm, False, False))
    result = run_module("vm_power", name="other", wait_for="running", wait_timeout=30)
    assert result["changed"] is False and result["power_state"] == "running"


def test_wait_for_ip_on_a_halted_vm_fails_at_once(pool, run_module):
    make_vm(pool, "off")
    began = time.time()
    result = run_module("vm_power", name="off", wait_for="ip", wait_timeout=60)
    assert time.time() - began < 20   # at once, not after the 60 s wait_timeout
    assert result["failed"] and "is halted, so it cannot report an IP address" in result["msg"]
    assert result["changed"] is False


def test_wait_for_ip_stops_when_the_vm_halts(pool, run_module):
    vm = make_vm(pool, "crashy")
    put_in(pool, vm, "running")
    later(0.3, lambda: pool.api.VM.hard_shutdown(vm))
    began = time.time()
    result = run_module("vm_power", name="crashy", wait_for="ip", wait_timeout=60)
    assert time.time() - began < 20   # not after the 60 s wait_timeout
    assert result["failed"] and "is halted" in result["msg"] and result["power_state"] == "halted"


# --- check mode ------------------------------------------------------------------------------

def test_check_mode_on_a_vm_not_created_yet(pool, run_module):
    """An earlier task in check mode would create the VM: report, never fail or wait."""
    before = pool.state()
    pool.mark()
    result = run_module("vm_power", check_mode=True, name="new01", state="running", wait_for="ip",
                        wait_timeout=60)
    assert "event_from" not in pool.calls()       # it did not wait
    assert not result.get("failed") and result["changed"] is True
    assert result["power_state"] == "running" and result["ip"] == "" and result["uuid"] == ""
    assert result["changes"]["actions"] == ["start"]
    assert result["msg"] == ("the VM does not exist yet (check mode): VM 'new01' would be created by an earlier "
                             "task, and then this task would start and wait for ip")
    assert not warnings(result)
    assert pool.state() == before


def test_check_mode_by_uuid_needs_the_vm(pool, run_module):
    """A uuid names a VM that exists: not found, it fails in check mode too."""
    result = run_module("vm_power", check_mode=True, uuid="00000000-0000-0000-0000-000000000000", state="running")
    assert result["failed"] and result["error_code"] == "NOT_FOUND"
    assert "no VM with uuid '00000000-0000-0000-0000-000000000000'" in result["msg"]


def test_check_mode_on_a_vm_not_created_yet_refuses_what_a_new_vm_cannot_do(pool, run_module):
    """A new VM is halted: suspending it fails as it would in the real run."""
    result = run_module("vm_power", check_mode=True, name="new01", state="suspended")
    assert result["failed"] and "suspend" in result["msg"]


def test_check_mode_never_waits(pool, run_module):
    vm = make_vm(pool, "web02")
    before = pool.state()
    pool.mark()
    result = run_module("vm_power", check_mode=True, name="web02", state="running", wait_for="ip",
                        wait_timeout=60)
    assert result["changed"] and result["power_state"] == "running"
    assert "event_from" not in pool.calls() and pool.state() == before
    put_in(pool, vm, "running")
    report_agent(pool, vm, networks={"0/ip": "192.0.2.20"})
    result = run_module("vm_power", check_mode=True, name="web02", state="running", wait_for="ip")
    assert result["changed"] is False and result["ip"] == "192.0.2.20"


# --- bad input and lookups -----------------------------------------------------------------

@pytest.mark.parametrize("options, words", [
    (dict(state="halted", wait_for="ip"), ["wait_for: ip", "halted"]),
    (dict(state="suspended", wait_for="running"), ["wait_for: running", "suspended"]),
    (dict(state="paused", wait_for="guest_agent"), ["guest_agent", "paused"]),
    (dict(state="halted", wait_for="pv_drivers"), ["pv_drivers", "halted"]),
    (dict(state="running", shutdown_timeout=0), ["shutdown_timeout", "0"]),
    (dict(state="running", wait_for="ip", wait_timeout=-5), ["wait_timeout", "-5"]),
    (dict(state="sleeping"), ["sleeping"]),
    (dict(wait_for="coffee"), ["coffee"]),
])
def test_bad_input_fails_before_any_change(pool, run_module, options, words):
    make_vm(pool, "vm1")
    before = pool.state()
    pool.mark()
    result = run_module("vm_power", name="vm1", **options)
    assert result["failed"]
    for word in words:
        assert word in result["msg"]
    assert not [c for c in pool.calls() if c.startswith(("Async.", "VM.start", "VM.clean", "VM.hard"))]
    assert pool.state() == before


def test_state_or_wait_for_required(pool, run_module):
    make_vm(pool, "vm1")
    result = run_module("vm_power", name="vm1")
    assert result["failed"] and "state" in result["msg"] and "wait_for" in result["msg"]


def test_missing_vm_fails_naming_it(pool, run_module):
    result = run_module("vm_power", name="ghost", state="running")
    assert result["failed"] and "no VM named 'ghost'" in result["msg"]
    result = run_module("vm_power", uuid="00000000-0000-0000-0000-000000000000", state="running")
    assert result["failed"] and "00000000-0000-0000-0000-000000000000" in result["msg"]


def test_by_uuid(pool, run_module):
    vm = make_vm(pool, "byuuid")
    uuid = pool.api.VM.get_uuid(vm)
    result = run_module("vm_power", uuid=uuid, state="paused")
    assert result["changed"] and result["uuid"] == uuid and power(pool, vm) == "paused"


def test_duplicate_names_fail_clearly(pool, run_module):
    make_vm(pool, "twin")
    make_vm(pool, "twin")
    result = run_module("vm_power", name="twin", state="running")
    assert result["failed"] and "2 VMs are named 'twin'" in result["msg"]


def test_no_change_reports_the_known_ip(pool, run_module):
    vm = make_vm(pool, "known")
    put_in(pool, vm, "running")
    report_agent(pool, vm, networks={"0/ip": "192.0.2.30"})
    pool.mark()
    result = run_module("vm_power", name="known", state="running")
    assert result["changed"] is False and result["ip"] == "192.0.2.30"
    assert len(pool.calls()) <= 5
