"""vm_snapshot against the simulator, through the real SDK."""
import pytest

from test_vm_power import make_vm, put_in

GiB = 1024 ** 3


def snapshots(pool, vm):
    """{name: ref} of the VM's snapshots, read through the SDK."""
    return {pool.api.VM.get_name_label(s): s for s in pool.api.VM.get_snapshots(vm)}


def disk(pool, vm):
    """The VDI of the VM's one disk."""
    vdis = [pool.api.VBD.get_VDI(v) for v in pool.api.VM.get_VBDs(vm) if pool.api.VBD.get_type(v) == "Disk"]
    assert len(vdis) == 1, vdis
    return vdis[0]


def test_present_check_mode_diff_then_idempotent(pool, run_module):
    vm = make_vm(pool, "web01")
    before = pool.state()
    result = run_module("vm_snapshot", check_mode=True, diff=True, name="web01", snapshot="before-upgrade")
    assert result["changed"] is True and result["changes"]["actions"] == ["snapshot"]
    assert result["diff"] == {"before": {"snapshots": []}, "after": {"snapshots": ["before-upgrade"]}}
    assert result["snapshots"] == [{"name": "before-upgrade", "uuid": "", "time": ""}]
    assert pool.state() == before

    pool.mark()
    result = run_module("vm_snapshot", diff=True, name="web01", snapshot="before-upgrade")
    assert result["changed"] is True and result["changes"]["fields"] == ["snapshots"]
    (listed,) = result["snapshots"]
    snap = snapshots(pool, vm)["before-upgrade"]
    assert listed["uuid"] == pool.api.VM.get_uuid(snap) and listed["time"]
    calls = pool.calls()
    assert "Async.VM.snapshot" in calls and "VM.get_all_records" not in calls, calls
    # 12, and 4 for the claim on the snapshot's name: the pool, its ticket added and removed,
    # the snapshots looked up again under it.
    assert len(calls) <= 16 and calls.count("pool.add_to_gui_config") == 1, calls

    pool.mark()
    result = run_module("vm_snapshot", name="web01", snapshot="before-upgrade")
    assert result["changed"] is False and result["snapshots"] == [listed]
    calls = pool.calls()
    assert len(calls) <= 5, calls
    assert pool.api.VM.get_power_state(vm) == "Halted"


def test_snapshot_of_a_running_vm_keeps_it_running(pool, run_module):
    vm = make_vm(pool, "live")
    put_in(pool, vm, "running")
    result = run_module("vm_snapshot", uuid=pool.api.VM.get_uuid(vm), snapshot="live-1")
    assert result["changed"] and pool.api.VM.get_power_state(vm) == "Running"
    assert list(snapshots(pool, vm)) == ["live-1"]


def test_absent_removes_the_snapshot_and_its_disks_only(pool, run_module):
    vm = make_vm(pool, "db01")
    own = disk(pool, vm)
    run_module("vm_snapshot", name="db01", snapshot="keep")
    run_module("vm_snapshot", name="db01", snapshot="drop")
    drop = snapshots(pool, vm)["drop"]
    drop_vdi = disk(pool, drop)
    before = pool.state()
    result = run_module("vm_snapshot", check_mode=True, diff=True, name="db01", snapshot="drop", state="absent")
    uuid = pool.api.VDI.get_uuid(drop_vdi)
    assert result["changed"] and result["changes"]["actions"] == ["destroy snapshot", "destroy disk %s" % uuid]
    assert sorted(result["diff"]["before"]["snapshots"]) == ["drop", "keep"]     # oldest first; same second here
    assert result["diff"]["after"] == {"snapshots": ["keep"]}
    assert [s["name"] for s in result["snapshots"]] == ["keep"]
    assert pool.state() == before

    result = run_module("vm_snapshot", name="db01", snapshot="drop", state="absent")
    assert result["changed"] and [s["name"] for s in result["snapshots"]] == ["keep"]
    assert list(snapshots(pool, vm)) == ["keep"]
    assert drop_vdi not in pool.api.VDI.get_all()
    assert disk(pool, vm) == own and own in pool.api.VDI.get_all()          # the VM's own disk stays
    assert disk(pool, snapshots(pool, vm)["keep"]) in pool.api.VDI.get_all()

    pool.mark()
    assert run_module("vm_snapshot", name="db01", snapshot="drop", state="absent")["changed"] is False
    assert len(pool.calls()) <= 5


def test_reverted_restores_disk_size_and_settings(pool, run_module):
    vm = make_vm(pool, "app01")
    api = pool.api
    size = api.VDI.get_virtual_size(disk(pool, vm))
    run_module("vm_snapshot", name="app01", snapshot="clean")
    api.VDI.resize(disk(pool, vm), str(int(size) + GiB))
    api.VM.set_PV_args(vm, "single")
    put_in(pool, vm, "running")
    before = pool.state()
    result = run_module("vm_snapshot", check_mode=True, diff=True, name="app01", snapshot="clean", state="reverted")
    snap = snapshots(pool, vm)["clean"]
    assert result["changed"] and result["changes"]["actions"] == ["revert"]
    assert result["diff"] == {"before": {"reverted_to": ""},
                              "after": {"reverted_to": "clean (%s)" % api.VM.get_uuid(snap)}}
    assert pool.state() == before

    result = run_module("vm_snapshot", name="app01", snapshot="clean", state="reverted")
    assert result["changed"] is True
    assert api.VDI.get_virtual_size(disk(pool, vm)) == size
    assert api.VM.get_PV_args(vm) != "single"
    assert api.VM.get_power_state(vm) == "Halted"
    assert list(snapshots(pool, vm)) == ["clean"]
    # an action: a second revert is a change again
    assert run_module("vm_snapshot", name="app01", snapshot="clean", state="reverted")["changed"] is True


def test_duplicate_names_fail_naming_the_uuids(pool, run_module):
    vm = make_vm(pool, "dup")
    first = pool.api.VM.snapshot(vm, "nightly")
    second = pool.api.VM.snapshot(vm, "nightly")
    before = pool.state()
    for state in ("present", "absent", "reverted"):
        result = run_module("vm_snapshot", name="dup", snapshot="nightly", state=state)
        assert result["failed"] and "2 snapshots named 'nightly'" in result["msg"], result
        assert pool.api.VM.get_uuid(first) in result["msg"] and pool.api.VM.get_uuid(second) in result["msg"]
    assert pool.state() == before


def test_unknown_vm_and_unknown_snapshot(pool, run_module):
    result = run_module("vm_snapshot", name="ghost", snapshot="s")
    assert result["failed"] and "no VM named 'ghost'" in result["msg"]
    make_vm(pool, "real")
    run_module("vm_snapshot", name="real", snapshot="one")
    before = pool.state()
    result = run_module("vm_snapshot", name="real", snapshot="two", state="reverted")
    assert result["failed"] and "no snapshot named 'two'" in result["msg"] and "'one'" in result["msg"]
    assert pool.state() == before


@pytest.mark.parametrize("options, words", [
    (dict(snapshot=""), ["snapshot"]),
    (dict(snapshot="   "), ["snapshot"]),
    (dict(snapshot="s", state="restored"), ["restored"]),
    (dict(), ["snapshot"]),
    (dict(snapshot="s", colour="red"), ["colour"]),
])
def test_bad_input_fails_before_any_change(pool, run_module, options, words):
    make_vm(pool, "vm1")
    before = pool.state()
    result = run_module("vm_snapshot", name="vm1", **options)
    assert result["failed"]
    for word in words:
        assert word in result["msg"]
    assert pool.state() == before


def test_check_mode_on_a_vm_not_created_yet(pool, run_module):
    """An earlier task in check mode would create the VM: it has no snapshots yet."""
    before = pool.state()
    result = run_module("vm_snapshot", check_mode=True, name="new01", snapshot="installed")
    assert not result.get("failed") and result["changed"] is True
    assert result["msg"].endswith("then this task would take snapshot 'installed'")
    assert result["changes"]["actions"] == ["snapshot"]
    assert result["snapshots"] == [{"name": "installed", "uuid": "", "time": ""}]
    result = run_module("vm_snapshot", check_mode=True, name="new01", snapshot="installed", state="reverted")
    assert not result.get("failed") and result["changed"] is True and result["changes"]["actions"] == ["revert"]
    result = run_module("vm_snapshot", check_mode=True, name="new01", snapshot="installed", state="absent")
    assert not result.get("failed") and result["changed"] is False and result["snapshots"] == []
    result = run_module("vm_snapshot", check_mode=True, name="new01", snapshot=" ")
    assert result["failed"] and "snapshot ' ' is only whitespace" in result["msg"]
    result = run_module("vm_snapshot", check_mode=True, uuid="00000000-0000-0000-0000-000000000000", snapshot="s")
    assert result["failed"] and result["error_code"] == "NOT_FOUND"
    assert pool.state() == before


def test_a_disk_that_cannot_go_fails_naming_it_after_the_snapshot_went(pool, run_module, monkeypatch):
    from xapisim.faults import Scripted
    from ansible_collections.xenserver.provisioning.plugins.module_utils import _client
    monkeypatch.setattr(_client.XenServerClient, "_pause", lambda self, attempt: None)
    vm = make_vm(pool, "db02")
    run_module("vm_snapshot", name="db02", snapshot="drop")
    drop = snapshots(pool, vm)["drop"]
    drop_vdi = disk(pool, drop)
    faults = Scripted(busy={"VDI.destroy": 4})     # more than the client's retries
    for server in pool.servers:
        server.faults = faults
    pool.mark()
    result = run_module("vm_snapshot", name="db02", snapshot="drop", state="absent")
    assert result["failed"] and result["error_code"] == "OTHER_OPERATION_IN_PROGRESS"
    assert "was removed but not all its disks" in result["msg"]
    assert "left: %s" % pool.api.VDI.get_uuid(drop_vdi) in result["msg"]
    assert snapshots(pool, vm) == {} and drop_vdi in pool.api.VDI.get_all()
    calls = pool.calls()
    assert calls.count("VM.destroy") == 1 and calls.count("VDI.destroy") == 4, calls
