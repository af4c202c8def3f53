"""vm_fleet against the simulator: many VMs in one task, reusing the vm / vm_xenstore_data /
vm_power code, with exact call counts."""
import collections

import pytest
from ansible.module_utils.common import warnings as ansible_warnings

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
    assert counts["session.login_with_password"] == 5 and counts["session.logout"] == 5
    # vm-data key by key (3 keys; the VMs are halted then, so no live push)
    assert counts["VM.clone"] == 5 and counts["VM.add_to_xenstore_data"] == 15 and counts["Async.VM.start"] == 5
    assert counts["VM.set_xenstore_data"] == 0
    # Exact but for the waits: event.from on the start task returns once or twice, depending
    # on whether the task had finished by the first call (the threads race each other).
    assert len(calls) - counts["event_from"] == 5 * FIXED_PER_VM, counts
    assert 5 * 2 <= counts["event_from"] <= 5 * 3, counts
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


# Per VM: login, logout, lookup, the claim on the name (pool.get_all, its ticket added and
# removed), the lookup again under the claim, 11 calls to create and configure, the
# provisioned disk marked with the claim's holder, add_to_xenstore_data for each of the 3 keys
# (one call a key, so concurrent writers of other keys keep theirs), Async.VM.start,
# task.destroy (and 2 or 3 event.from: devices, the start task).
FIXED_PER_VM = 24


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
    calls = pool.calls()
    counts = collections.Counter(calls)
    assert result["changed"], result
    # Exact but for the wait on the start task: event.from answers once if the task had
    # already finished by the first call, twice if not; which one depends on the scheduler.
    assert len(calls) - counts["event_from"] == FIXED_PER_VM, calls
    assert counts["event_from"] in (2, 3), calls
    assert len(calls) <= ONE_VM_CALLS, calls


# The target for a full provision was <= 20 with vm-data in one call; vm-data is now
# written key by key (issue 16: concurrent writers of other keys keep theirs), so the 3 keys
# of spec() cost 2 calls more; and a create holds the claim on the VM's name (issue 16: two
# runs never make one VM twice), 5 calls more: the pool, its ticket added and removed, the
# lookup again under the claim, the provisioned disk's holder marker.
ONE_VM_CALLS = 27


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
