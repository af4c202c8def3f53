"""vm state: absent removes the VM's snapshots and the disks only they use (keep_snapshots keeps
them), against the simulator through the real SDK, with exact call counts.

xapi's VM.destroy leaves a VM's snapshots behind (xapi_vm.ml / xapi_vm_helpers.ml destroy;
tests/unit/simulator/test_snapshots.py), so the module destroys them and their disks itself.
"""
import XenAPI
import pytest
from xapisim.errors import XapiError
from xapisim.faults import Scripted

from test_vm import _attach, make

# The VM's lookup, the claim on its name (the pool, its ticket), the lookup again under it,
# the VM's VBDs+VIFs then VDIs+networks, the VM and its one disk, the claim given back.
NO_SNAPSHOT_CALLS = [
    "session.login_with_password", "VM.get_all_records_where", "pool.get_all", "pool.add_to_gui_config",
    "VM.get_all_records_where", "event_from", "event_from", "VM.destroy", "VDI.destroy",
    "pool.remove_from_gui_config", "session.logout",
]
# With two snapshots: one read more (the snapshots' records come with the VM's devices, then
# their VBDs, then their VDIs), each snapshot and each snapshot disk destroyed after the VM.
TWO_SNAPSHOTS_CALLS = [
    "session.login_with_password", "VM.get_all_records_where", "pool.get_all", "pool.add_to_gui_config",
    "VM.get_all_records_where", "event_from", "event_from", "event_from", "VM.destroy",
    "VM.destroy", "VM.destroy", "VDI.destroy", "VDI.destroy", "VDI.destroy",
    "pool.remove_from_gui_config", "session.logout",
]


def vdis_of(pool, vm):
    """{VDI ref} of the VM's disks (not CD drives)."""
    api = pool.api
    return set(api.VBD.get_VDI(v) for v in api.VM.get_VBDs(vm) if api.VBD.get_type(v) == "Disk")


def with_two_snapshots(pool, run_module, name="web01", cd=False):
    """A VM with one disk (and the tools ISO in a CD drive) and two snapshots (vm_snapshot):
    (vm, [snapshots], {every VDI but the ISO})."""
    make(run_module, name=name)
    vm = pool.vm(name)[0]
    if cd:
        _attach(pool, vm, pool.api.VDI.get_by_name_label("xs-tools.iso")[0], "3", cd=True)
    for snap in ("before-upgrade", "after-upgrade"):
        assert run_module("vm_snapshot", name=name, snapshot=snap)["changed"]
    snaps = sorted(pool.api.VM.get_snapshots(vm), key=pool.api.VM.get_name_label)[::-1]
    assert [pool.api.VM.get_name_label(s) for s in snaps] == ["before-upgrade", "after-upgrade"]
    vdis = vdis_of(pool, vm) | vdis_of(pool, snaps[0]) | vdis_of(pool, snaps[1])
    assert len(vdis) == 3
    return vm, snaps, vdis


def gone(pool, refs, cls="VM"):
    getter = getattr(pool.api, cls).get_record
    for ref in refs:
        with pytest.raises(XenAPI.Failure):
            getter(ref)
    return True


def test_absent_removes_the_snapshots_and_their_disks(pool, run_module):
    api = pool.api
    vm, snaps, vdis = with_two_snapshots(pool, run_module)
    listed = run_module("vm_snapshot", name="web01", snapshot="before-upgrade")["snapshots"]
    uuids = set(api.VDI.get_uuid(v) for v in vdis)
    pool.mark()
    result = run_module("vm", name="web01", state="absent")
    assert pool.calls() == TWO_SNAPSHOTS_CALLS
    assert result["changed"] and result["kept_disks"] == []
    assert result["removed_snapshots"] == listed          # as vm_snapshot returns them, oldest first
    assert sorted(s["name"] for s in result["removed_snapshots"]) == ["after-upgrade", "before-upgrade"]
    assert len(result["removed_disks"]) == 3 and set(d["uuid"] for d in result["removed_disks"]) == uuids
    snap_uuids = [s["uuid"] for s in listed]
    assert [d.get("snapshot") for d in result["removed_disks"]] == [None] + snap_uuids
    actions = result["changes"]["actions"]
    snapshot_destroys = ["destroy snapshot '%s' (%s)" % (s["name"], s["uuid"]) for s in listed]
    assert actions[:3] == ["destroy VM 'web01'"] + snapshot_destroys
    assert actions[3:] == ["destroy disk '%s' (%s)" % (d["name"], d["uuid"]) for d in result["removed_disks"]]
    # Nothing of theirs is left in the pool: no VM, no snapshot, no VDI.
    assert gone(pool, [vm] + snaps) and gone(pool, vdis, "VDI")
    assert not [r for r in api.VM.get_all_records().values() if r["is_a_snapshot"]]
    pool.mark()
    assert run_module("vm", name="web01", state="absent")["changed"] is False
    assert pool.calls() == ["session.login_with_password", "VM.get_all_records_where", "session.logout"]


def test_a_vm_without_snapshots_costs_what_it_did(pool, run_module):
    make(run_module, name="web01")
    vm = pool.vm("web01")[0]
    disks = vdis_of(pool, vm)
    pool.mark()
    result = run_module("vm", name="web01", state="absent")
    assert pool.calls() == NO_SNAPSHOT_CALLS
    assert result["removed_snapshots"] == [] and len(result["removed_disks"]) == 1
    assert "snapshot" not in result["removed_disks"][0]
    assert gone(pool, [vm]) and gone(pool, disks, "VDI")


def test_keep_snapshots_keeps_them_and_reads_nothing_more(pool, run_module):
    api = pool.api
    vm, snaps, vdis = with_two_snapshots(pool, run_module)
    own = vdis_of(pool, vm)
    pool.mark()
    result = run_module("vm", name="web01", state="absent", keep_snapshots=True)
    assert pool.calls() == NO_SNAPSHOT_CALLS              # the snapshots are not even read
    assert result["changed"] and result["removed_snapshots"] == []
    assert result["changes"]["actions"] == ["destroy VM 'web01'", "destroy disk '%s' (%s)" % (
        result["removed_disks"][0]["name"], result["removed_disks"][0]["uuid"])]
    assert gone(pool, [vm]) and gone(pool, own, "VDI")
    # Left as xapi's VM.destroy leaves them: their snapshot_of names the VM that is gone.
    for snap in snaps:
        assert api.VM.get_snapshot_of(snap) == vm
    assert vdis - own <= set(api.VDI.get_all())


def test_a_snapshot_disk_another_vm_uses_is_kept_with_its_reason(pool, run_module):
    api = pool.api
    vm, snaps, vdis = with_two_snapshots(pool, run_module, cd=True)
    iso = api.VDI.get_by_name_label("xs-tools.iso")[0]
    make(run_module, name="web02")
    other = pool.vm("web02")[0]
    lent = vdis_of(pool, snaps[0]).pop()
    lender = api.VM.get_uuid(snaps[0])
    api.VBD.create({"VM": other, "VDI": lent, "userdevice": "5", "bootable": False, "mode": "RW", "type": "Disk",
                    "empty": False, "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    result = run_module("vm", name="web01", state="absent")
    assert result["changed"], result
    # The ISO is in the VM's CD drive and in both snapshots': listed once, as the VM's.
    cd, kept = result["kept_disks"]
    assert (cd["name"], cd["userdevice"], cd["reason"], "snapshot" in cd) == ("xs-tools.iso", "3", "CD/ISO media", False)
    assert kept["uuid"] == api.VDI.get_uuid(lent) and kept["reason"] == "attached to another VM"
    assert kept["snapshot"] == lender
    assert len(result["removed_disks"]) == 2 and len(result["removed_snapshots"]) == 2
    assert gone(pool, [vm] + snaps) and gone(pool, vdis - {lent}, "VDI")
    assert lent in api.VDI.get_all() and iso in api.VDI.get_all() and pool.vm("web02")
    assert lent in vdis_of(pool, other)


def test_check_mode_changes_nothing_and_reports_the_same(pool, run_module):
    with_two_snapshots(pool, run_module)
    before = pool.state()
    pool.mark()
    checked = run_module("vm", name="web01", state="absent", check_mode=True, diff=True)
    calls = pool.calls()
    assert pool.state() == before
    # The same reads as the run, no claim and no destroy.
    assert calls == ["session.login_with_password", "VM.get_all_records_where", "event_from", "event_from",
                     "event_from", "session.logout"]
    done = run_module("vm", name="web01", state="absent", diff=True)
    for key in ("changed", "changes", "diff", "removed_disks", "kept_disks", "removed_snapshots"):
        assert checked[key] == done[key], key
    assert checked["diff"] == {"before": {"state": "present"}, "after": {"state": "absent"}}
    assert len(checked["removed_snapshots"]) == 2


def test_bad_input_changes_nothing(pool, run_module):
    with_two_snapshots(pool, run_module)
    ref = pool.vm("web01")[0]
    pool.api.VM.set_PV_bootloader(ref, "")
    pool.api.VM.set_PV_kernel(ref, "/boot/guest/vmlinuz")
    pool.api.VM.start(ref, False, True)
    before = pool.state()
    result = run_module("vm", name="web01", state="absent", keep_snapshots="sometimes")
    assert result.get("failed") and "keep_snapshots" in result["msg"], result
    result = run_module("vm", name="web01", state="absent")            # running, no force
    assert result.get("failed") and result["error_code"] == "VM_BAD_POWER_STATE", result
    assert pool.state() == before


def test_fleet_entries_remove_snapshots_too(pool, run_module):
    vm, snaps, vdis = with_two_snapshots(pool, run_module, name="fleet01")
    result = run_module("vm_fleet", vms=[dict(name="fleet01", state="absent")])
    assert result["changed"] and not result.get("failed"), result
    assert gone(pool, [vm] + snaps) and gone(pool, vdis, "VDI")
    (entry,) = result["vms"]
    assert entry["changed"] and not entry["failed"], entry


def test_a_snapshot_whose_destroy_is_blocked_fails_before_anything_goes(pool, run_module):
    vm, snaps, _vdis = with_two_snapshots(pool, run_module)
    pool.api.VM.set_blocked_operations(snaps[1], {"destroy": "legal hold"})
    before = pool.state()
    for check_mode in (True, False):
        result = run_module("vm", name="web01", state="absent", check_mode=check_mode)
        assert result.get("failed") and result["error_code"] == "OPERATION_BLOCKED", result
        assert "after-upgrade" in result["msg"] and "keep_snapshots: true" in result["msg"]
    assert pool.state() == before
    result = run_module("vm", name="web01", state="absent", keep_snapshots=True)
    assert result["changed"] and gone(pool, [vm])


class FailSnapshotDestroy(Scripted):
    """VM.destroy of one given VM fails (once), as a destroy another client blocked meanwhile would."""

    def __init__(self, ref):
        super().__init__()
        self.ref = ref

    def _before(self, sim, method, params):
        if method == "VM.destroy" and len(params) > 1 and params[1] == self.ref:
            self.ref = None
            return False, XapiError("OPERATION_BLOCKED", params[1], "legal hold")
        return super()._before(sim, method, params)


def test_a_snapshot_that_cannot_go_keeps_its_disks_the_rest_goes(pool, run_module):
    api = pool.api
    vm, snaps, vdis = with_two_snapshots(pool, run_module)
    stays = vdis_of(pool, snaps[0])
    left = [api.VM.get_uuid(snaps[0])] + [api.VDI.get_uuid(v) for v in stays]
    for server in pool.servers:
        server.faults = FailSnapshotDestroy(snaps[0])
    result = run_module("vm", name="web01", state="absent")
    assert result.get("failed") and result["error_code"] == "OPERATION_BLOCKED", result
    assert "VM 'web01' was removed but not all its snapshots and disks" in result["msg"]
    assert "(left: %s)" % ", ".join(left) in result["msg"], result["msg"]
    # The VM, the other snapshot and every disk no standing snapshot uses are gone.
    assert gone(pool, [vm, snaps[1]]) and gone(pool, vdis - stays, "VDI")
    assert vdis_of(pool, snaps[0]) == stays
