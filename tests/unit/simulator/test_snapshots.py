"""VM snapshots: VM.snapshot, VM.revert, destroying a snapshot, through the real SDK.

Sources (xapi-project/xen-api): ocaml/xapi/xapi_vm_clone.ml (the snapshot record),
xapi_vm_snapshot.ml (revert), message_forwarding.ml (revert halts the VM first),
xapi_vm_lifecycle.ml (check_snapshot, ONLY_REVERT_SNAPSHOT, allowed power states).
"""
import time

import pytest
import XenAPI

from test_vm_lifecycle import GiB, NULL, TEMPLATE, new_vm


def disks(x, vm):
    """{userdevice: vdi ref} of the VM's disks."""
    return {x.VBD.get_userdevice(v): x.VBD.get_VDI(v) for v in x.VM.get_VBDs(vm)
            if x.VBD.get_type(v) == "Disk"}


def test_snapshot_record_and_its_disks(api):
    x = api
    vm = new_vm(x)
    vif = x.VIF.create({"device": "0", "network": x.network.get_all()[0], "VM": vm, "MAC": "", "MTU": "1500",
                        "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})
    snap = x.VM.snapshot(vm, "before upgrade")           # ignore_vdis left out: it has a default
    record = x.VM.get_record(snap)
    assert record["is_a_snapshot"] is True and record["is_a_template"] is True
    assert record["snapshot_of"] == vm and record["power_state"] == "Halted"
    assert str(record["snapshot_time"]) != "19700101T00:00:00Z"
    assert record["snapshot_info"] == {"power-state-at-snapshot": "Halted", "disk-snapshot-type": "crash_consistent"}
    assert record["name_label"] == "before upgrade" and record["uuid"] != x.VM.get_uuid(vm)
    assert x.VM.get_snapshots(vm) == [snap]
    assert x.VM.get_parent(vm) == snap and record["parent"] == NULL
    assert sorted(record["allowed_operations"]) == ["clone", "copy", "destroy", "export", "revert"]
    (device, vdi), = disks(x, vm).items()
    snap_vdi = disks(x, snap)[device]
    assert snap_vdi != vdi
    vdi_record = x.VDI.get_record(snap_vdi)
    assert vdi_record["is_a_snapshot"] and vdi_record["snapshot_of"] == vdi
    assert x.VDI.get_snapshots(vdi) == [snap_vdi]
    assert x.VBD.get_other_config(x.VDI.get_VBDs(snap_vdi)[0])["owner"] == ""
    assert x.VIF.get_MAC(x.VM.get_VIFs(snap)[0]) == x.VIF.get_MAC(vif)      # the MAC is kept

    second = x.VM.snapshot(vm, "second")                  # the parent chain
    assert x.VM.get_parent(second) == snap and x.VM.get_parent(vm) == second
    assert sorted(x.VM.get_snapshots(vm)) == sorted([snap, second])


def test_snapshot_of_a_running_vm_and_async(api):
    x = api
    vm = new_vm(x)
    x.VM.start(vm, False, False)
    task = x.Async.VM.snapshot(vm, "live")
    deadline = time.time() + 10
    while x.task.get_status(task) == "pending" and time.time() < deadline:
        time.sleep(0.02)
    assert x.task.get_status(task) == "success"
    snap = x.task.get_result(task).replace("<value>", "").replace("</value>", "")
    assert x.VM.get_power_state(snap) == "Halted" and x.VM.get_power_state(vm) == "Running"
    assert x.VM.get_snapshot_info(snap)["power-state-at-snapshot"] == "Running"


def test_what_a_snapshot_refuses(api, fails):
    x = api
    vm = new_vm(x)
    snap = x.VM.snapshot(vm, "s")
    template = x.VM.get_by_name_label(TEMPLATE)[0]
    with fails("VM_IS_SNAPSHOT", snap, "snapshot"):
        x.VM.snapshot(snap, "again")
    with fails("VM_IS_SNAPSHOT", snap, "start"):
        x.VM.start(snap, False, False)
    with fails("VM_IS_TEMPLATE", template, "snapshot"):
        x.VM.snapshot(template, "t")
    with fails("REVERT_ONLY_ALLOWED_ON_SNAPSHOT"):
        x.VM.revert(vm)
    with fails("MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.snapshot", "3", "1"):
        x.VM.snapshot(vm)


def test_revert_restores_disks_and_fields_and_halts(api, pool):
    x = api
    vm = new_vm(x)
    (device, original), = disks(x, vm).items()
    pool.sim.guests.write_disk(original, {"/etc/motd": "before"})
    snap = x.VM.snapshot(vm, "s")
    snap_vdi = disks(x, snap)[device]
    x.VDI.resize(original, str(2 * 8 * GiB))
    pool.sim.guests.write_disk(original, {"/etc/motd": "after"})
    x.VM.set_PV_args(vm, "changed")
    x.VM.set_name_label(vm, "renamed")
    x.VM.start(vm, False, False)
    x.VM.revert(snap)
    assert x.VM.get_power_state(vm) == "Halted"          # the snapshot's power state (disk-only)
    assert x.VM.get_PV_args(vm) != "changed"
    assert x.VM.get_name_label(vm) == "renamed"          # the name is not the snapshot's
    new = disks(x, vm)[device]
    assert new != original and not x.VDI.get_all_records_where('field "uuid"="%s"' % original)
    assert original not in x.VDI.get_all()               # replaced, as xapi does
    assert x.VDI.get_virtual_size(new) == str(8 * GiB)
    assert pool.sim.guests.disk_files(vm)["/etc/motd"] == "before"
    assert x.VDI.get_snapshot_of(snap_vdi) == new and x.VDI.get_is_a_snapshot(new) is False
    assert x.VM.get_parent(vm) == snap and x.VM.get_snapshots(vm) == [snap]
    assert "revert" not in x.VM.get_allowed_operations(vm) and "start" in x.VM.get_allowed_operations(vm)
    x.VM.revert(snap)                                     # again: the snapshot is still whole
    assert disks(x, vm)[device] != new and x.VDI.get_snapshot_of(snap_vdi) == disks(x, vm)[device]


def test_destroying_a_snapshot_keeps_the_vm_and_its_disks(api):
    x = api
    vm = new_vm(x)
    vm_disks = disks(x, vm)
    first = x.VM.snapshot(vm, "first")
    second = x.VM.snapshot(vm, "second")
    snap_vdis = list(disks(x, first).values())
    x.VM.destroy(first)                                   # its VDIs are the client's to destroy
    for vdi in snap_vdis:
        x.VDI.destroy(vdi)
    assert x.VM.get_snapshots(vm) == [second] and x.VM.get_parent(second) == NULL   # rebased
    assert disks(x, vm) == vm_disks
    with pytest.raises(XenAPI.Failure):
        x.VM.get_record(first)


def test_destroying_a_vm_leaves_its_snapshots(api):
    # xapi_vm.ml destroy (children rebased, vTPMs) and xapi_vm_helpers.ml destroy (VBDs,
    # VIFs, metrics, the record) never look at the VM's snapshots: they stay, their
    # snapshot_of naming a VM that is gone, with their disks; each can still be destroyed.
    x = api
    vm = new_vm(x)
    vm_disks = list(disks(x, vm).values())
    first = x.VM.snapshot(vm, "first")
    second = x.VM.snapshot(vm, "second")
    snap_vdis = list(disks(x, first).values()) + list(disks(x, second).values())
    x.VM.destroy(vm)
    with pytest.raises(XenAPI.Failure):
        x.VM.get_record(vm)
    for snap in (first, second):
        record = x.VM.get_record(snap)
        assert record["snapshot_of"] == vm and record["is_a_snapshot"] is True
    assert x.VM.get_children(second) == []              # the VM was its child
    for vdi in vm_disks:                                  # the VM's disks stay, unattached
        assert x.VDI.get_VBDs(vdi) == []
        x.VDI.destroy(vdi)
    assert all(x.VDI.get_snapshot_of(vdi) in vm_disks for vdi in snap_vdis)   # gone too now
    x.VM.destroy(second)                                  # a snapshot whose VM is gone
    x.VM.destroy(first)
    for vdi in snap_vdis:
        assert x.VDI.get_VBDs(vdi) == []
        x.VDI.destroy(vdi)
    assert not set(snap_vdis) & set(x.VDI.get_all())
