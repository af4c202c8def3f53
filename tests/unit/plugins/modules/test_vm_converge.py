"""`vm` converges a whole VM in one task: vm-data keys, power state and the wait (issue 13,
Deliver 1), through the real SDK against the simulator."""
import pytest

TEMPLATE = "Other install media"      # HVM: starts without an install tree
NETWORK = "Pool-wide network associated with eth0"


def base(name="app", **extra):
    options = dict(name=name, template=TEMPLATE, memory_mb=1024, vcpus=1, networks=[{"network": NETWORK}])
    options.update(extra)
    return options


def vm_data(record):
    return {k: v for k, v in record["xenstore_data"].items() if k.startswith("vm-data/")}


def test_vm_data_of_an_existing_vm_key_by_key_keeping_the_others(pool, run_module):
    run_module("vm", **base())
    ref, _record = pool.vm("app")
    pool.api.VM.add_to_xenstore_data(ref, "vm-data/kept", "1")
    result = run_module("vm", diff=True, **base(xenstore_data={"role": "web"}))
    assert result["changed"] and result["changes"]["fields"] == ["xenstore_data"], result
    assert result["diff"]["after"]["xenstore_data"] == {"vm-data/kept": "1", "vm-data/role": "web"}
    assert vm_data(pool.vm("app")[1]) == {"vm-data/kept": "1", "vm-data/role": "web"}
    assert result["vm"]["xenstore_data"]["vm-data/role"] == "web"
    exclusive = run_module("vm", **base(xenstore_data={"role": "web"}, xenstore_data_exclusive=True))
    assert exclusive["changed"] and vm_data(pool.vm("app")[1]) == {"vm-data/role": "web"}
    assert run_module("vm", **base(xenstore_data={"role": "web"}))["changed"] is False


@pytest.mark.parametrize("path, steps", [
    (["running", "paused", "running", "halted", "paused", "halted"],
     [["start"], ["pause"], ["unpause"], ["clean_shutdown"], ["start_paused"], ["hard_shutdown"]]),
])
def test_power_state_goes_where_xenapi_allows(pool, run_module, path, steps):
    run_module("vm", **base())
    for wanted, expected in zip(path, steps):
        result = run_module("vm", name="app", power_state=wanted, hard_shutdown_fallback=True)
        assert not result.get("failed"), result
        assert result["changed"] and result["vm"]["power_state"] == wanted, result
        assert pool.vm("app")[1]["power_state"].lower() == wanted
        if expected != ["clean_shutdown"]:  # an HVM guest without PV drivers: the fallback does a hard one
            assert result["changes"]["actions"] == expected, result
        assert run_module("vm", name="app", power_state=wanted)["changed"] is False


def test_an_hvm_guest_without_pv_drivers_cannot_be_suspended_typed(pool, run_module):
    run_module("vm", **base(power_state="running"))
    result = run_module("vm", name="app", power_state="suspended")
    assert result["failed"] and result["error_code"] == "VM_LACKS_FEATURE", result
    assert pool.vm("app")[1]["power_state"] == "Running"


def test_a_halted_vm_cannot_be_suspended_and_nothing_changes(pool, run_module):
    run_module("vm", **base())
    before = pool.state()
    result = run_module("vm", name="app", power_state="suspended")
    assert result["failed"] and "suspend" in result["msg"], result
    assert pool.state() == before


def test_wait_for_running_after_start_costs_no_call_and_ip_times_out_typed(pool, run_module):
    result = run_module("vm", **base(power_state="running", wait_for="running"))
    assert result["changed"] and result["ip"] == "" and result["vm"]["power_state"] == "running"
    silent = run_module("vm", **base("quiet", power_state="running", wait_for="ip", wait_timeout=1))
    assert silent["failed"] and silent["error_code"] == "WAIT_TIMEOUT", silent
    # What the task did before the wait failed is reported: the VM was made and started.
    assert silent["changed"] is True and "start" in silent["changes"]["actions"]
    assert pool.vm("quiet")[1]["power_state"] == "Running"


def test_check_mode_of_a_whole_vm_reports_everything_and_changes_nothing(pool, run_module):
    before = pool.state()
    result = run_module("vm", check_mode=True, diff=True,
                        **base(xenstore_data={"role": "web"}, power_state="running", wait_for="running"))
    assert result["changed"] and result["vm"] == {}
    assert set(result["changes"]["fields"]) >= {"state", "xenstore_data", "power_state"}
    assert "start" in result["changes"]["actions"]
    assert result["diff"]["after"]["xenstore_data"] == {"vm-data/role": "web"}
    assert pool.state() == before


@pytest.mark.parametrize("bad, words", [
    (dict(state="absent", power_state="running"), ["power_state", "state: present"]),
    (dict(power_state="halted", wait_for="ip"), ["wait_for: ip", "halted"]),
    (dict(xenstore_data={"attr/x": "1"}), ["attr/x"]),
    (dict(wait_timeout=0), ["wait_timeout", "0"]),
    (dict(power_state="sleeping"), ["power_state", "sleeping"]),
])
def test_bad_input_fails_naming_it_before_any_call_that_changes(pool, run_module, bad, words):
    before = pool.state()
    result = run_module("vm", **base(**bad))
    assert result["failed"], result
    for word in words:
        assert word in result["msg"], result["msg"]
    assert pool.state() == before


def test_a_configuration_change_alone_reads_the_vm_no_more_than_before(pool, run_module):
    run_module("vm", **base())
    pool.mark()
    result = run_module("vm", name="app", memory_mb=2048)
    assert result["changed"] and result["vm"]["memory_mb"] == 2048
    # login, lookup, its devices (2), the memory, the VM, its devices and their disks read again
    # (3), logout: nothing more for power or vm-data, which were not asked.
    assert pool.calls() == ["session.login_with_password", "VM.get_all_records_where", "event_from", "event_from",
                            "VM.set_memory_limits", "event_from", "event_from", "event_from",
                            "session.logout"], pool.calls()
