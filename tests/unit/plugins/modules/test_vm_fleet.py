"""vm_fleet against the simulator: many VMs in one task, reusing the vm / vm_xenstore_data /
vm_power code, with exact call counts."""
import collections

import pytest
from ansible.module_utils.common import warnings as ansible_warnings
from test_call_floor import CREATE as CREATE_PER_VM

TEMPLATE = "Other install media"      # HVM: starts without an install tree
NETWORK = "Pool-wide network associated with eth0"


@pytest.fixture
def run_module(run_module):
    def run(*args, **kwargs):
        ansible_warnings._global_warnings.clear()
        ansible_warnings._global_deprecations.clear()
        return run_module(*args, **kwargs)
    return run


def spec(name, **extra):
    vm = dict(name=name, template=TEMPLATE, memory_mb=1024, vcpus=1, disks=[{"size_gb": 8}],
              networks=[{"network": NETWORK}], xenstore_data={"hostname": name, "role": "web", "env": "test"},
              power_state="running", wait_for="running")
    vm.update(extra)
    return vm


FIVE = [spec("fleet%02d" % i) for i in range(5)]


def test_creates_five_then_changes_nothing(pool, run_module):
    pool.mark()
    result = run_module("vm_fleet", vms=FIVE, diff=True)
    calls = pool.calls()
    assert result["changed"] and not result["failed_vms"], result
    assert [e["name"] for e in result["vms"]] == [v["name"] for v in FIVE]
    counts = collections.Counter(calls)
    # One session per thread (reuse_session is off in the unit tests), then exactly what one vm
    # task costs per VM: a new VM's vm-data keys in one call, a plain VM.start.
    assert counts == collections.Counter(["session.login_with_password", "session.logout"] * 5 + CREATE * 5), counts
    for entry in result["vms"]:
        assert entry["changed"] and entry["power_state"] == "running" and not entry["failed"]
        assert "xenstore_data" in entry["changes"]["fields"]
        ref, record = pool.vm(entry["name"])
        assert record["power_state"] == "Running"
        assert record["xenstore_data"]["vm-data/hostname"] == entry["name"]
        assert record["memory_static_max"] == str(1024 * 2 ** 20)
    assert len(result["diff"]) == 5 and result["diff"][0]["after"]["state"] == "present"

    pool.mark()
    again = run_module("vm_fleet", vms=FIVE, parallel=2)
    calls = pool.calls()
    assert not again["changed"], again
    # 2 sessions (login + logout each) and 3 calls per VM: the lookup (VM and template in one
    # get_all_records_where), its devices (two event.from); nothing for vm-data or power.
    assert len(calls) == 2 * 2 + 3 * 5, collections.Counter(calls)
    assert collections.Counter(calls) == {"session.login_with_password": 2, "session.logout": 2,
                                          "VM.get_all_records_where": 5, "event_from": 10}
    assert all(e["power_state"] == "running" for e in again["vms"])


# Per VM what one vm task costs (tests/unit/plugins/modules/test_call_floor.py).
CREATE = CREATE_PER_VM


def test_check_mode_changes_nothing(pool, run_module):
    before = pool.state()
    result = run_module("vm_fleet", vms=FIVE, check_mode=True, diff=True)
    assert result["changed"] and not result["failed_vms"], result
    assert all(e["changed"] and e["power_state"] == "running" for e in result["vms"])
    assert pool.state() == before


def test_a_failing_vm_does_not_stop_the_others(pool, run_module):
    vms = [spec("good1"), spec("bad", template="No such template"), spec("good2")]
    result = run_module("vm_fleet", vms=vms)
    assert result["failed"] and result["failed_vms"] == ["bad"], result
    assert "VM 'bad'" in result["msg"] and "No such template" in result["msg"]
    assert result["changed"]
    for name in ("good1", "good2"):
        assert pool.vm(name)[1]["power_state"] == "Running"
    assert not pool.api.VM.get_by_name_label("bad")


@pytest.mark.parametrize("bad, words", [
    (dict(memory_mb=-1), ["vms[1]", "'b'", "memory_mb", "-1"]),
    (dict(xenstore_data={"attr/x": "1"}), ["vms[1]", "'b'", "attr/x"]),
    (dict(power_state="paused"), ["vms[1]", "'b'", "paused"]),
    (dict(networks=[{"network": NETWORK, "mac": "zz"}]), ["vms[1]", "'b'", "zz"]),
    (dict(power_state="halted", wait_for="ip"), ["vms[1]", "'b'", "ip"]),
    (dict(name="a"), ["vms[1]", "'a'", "twice"]),
])
def test_bad_input_changes_nothing(pool, run_module, bad, words):
    before = pool.state()
    pool.mark()
    second = spec("b")
    second.update(bad)
    result = run_module("vm_fleet", vms=[spec("a"), second])
    assert result["failed"], result
    for word in words:
        assert word in result["msg"], result["msg"]
    assert pool.calls() == []
    assert pool.state() == before


def test_one_vm_full_provision_calls(pool, run_module):
    pool.mark()
    result = run_module("vm_fleet", vms=[spec("solo")])
    assert result["changed"], result
    assert pool.calls() == ["session.login_with_password"] + CREATE + ["session.logout"]


def test_a_wait_that_fails_reports_the_change_and_where_the_vm_is(pool, run_module):
    """The VM was made and started before its wait timed out: the entry says so (changed, its
    uuid and power state from the pool), and the other VM is not held up."""
    result = run_module("vm_fleet", vms=[spec("silent", wait_for="ip", wait_timeout=1), spec("fine")])
    assert result["failed"] and result["failed_vms"] == ["silent"] and result["changed"] is True
    silent, fine = result["vms"]
    ref, record = pool.vm("silent")
    assert silent["failed"] and silent["changed"] is True and "wait_timeout" in silent["msg"]
    assert silent["uuid"] == record["uuid"] and silent["power_state"] == "running" == record["power_state"].lower()
    assert "start" in silent["changes"]["actions"] and "power_state" in silent["changes"]["fields"]
    assert not fine["failed"] and fine["power_state"] == "running" and fine["uuid"] == pool.vm("fine")[1]["uuid"]
