"""VM snapshots: VM.snapshot, VM.revert, and what VM.destroy leaves of a snapshot.

Follows xapi's ocaml/xapi/xapi_vm_clone.ml (the snapshot record and its disks),
xapi_vm_snapshot.ml (revert) and message_forwarding.ml (revert shuts the VM down first).
Destroying a snapshot is VM.destroy (vm.py); its disks are the client's to destroy, with
VDI.destroy, as XenCenter does.
"""
from . import pool, vtpm
from .api import handler
from .errors import XapiError
from .model import NULL_REF
from .vm import _copy_value, check_operation, halt, operation, set_power

# Fields a snapshot does not take from its VM (its own identity, devices, runtime state).
NOT_SNAPSHOTTED = {"uuid", "name_label", "VBDs", "VIFs", "consoles", "metrics", "guest_metrics",
                   "is_default_template", "current_operations", "allowed_operations",
                   "snapshots", "children", "crash_dumps", "VTPMs", "VGPUs", "VUSBs",
                   "attached_PCIs", "resident_on", "scheduled_to_be_resident_on", "domid",
                   "power_state", "parent", "blobs", "domarch", "suspend_VDI", "ha_always_run",
                   "is_a_snapshot", "is_a_template", "snapshot_of", "snapshot_time",
                   "snapshot_info", "snapshot_metadata", "other_config"}
# Fields revert does not copy back from the snapshot: xapi_vm_snapshot.ml do_not_copy plus
# extended_do_not_copy (the path for a snapshot without snapshot_metadata, as ours are).
NOT_REVERTED = {"uuid", "suspend_VDI", "power_state", "parent", "current_operations",
                "allowed_operations", "metrics", "guest_metrics", "resident_on", "domid",
                "protection_policy", "snapshot_schedule", "scheduled_to_be_resident_on",
                "snapshots", "tags", "affinity", "groups", "consoles", "VBDs", "VIFs", "VGPUs",
                "VUSBs", "VTPMs", "attached_PCIs", "name_label", "is_a_snapshot",
                "is_a_template", "is_default_template", "snapshot_of", "snapshot_time",
                "transportable_snapshot_id", "children", "snapshot_info", "snapshot_metadata"}


@handler("VM", "snapshot")
def _snapshot(call, vm, new_name, ignore_vdis=()):
    with operation(call, vm, "snapshot"):
        return take(call, vm, new_name, ignore_vdis)


def take(call, vm, new_name, ignore_vdis):
    """A halted snapshot record of ``vm``: its settings, VDI snapshots, VBDs and VIFs."""
    db = call.db
    source = db.get("VM", vm)
    now = call.sim.clock.stamp()
    other = {k: v for k, v in source["other_config"].items()
             if k not in ("default_template", "xensource_internal")}
    fields = {k: _copy_value(v) for k, v in source.items() if k not in NOT_SNAPSHOTTED}
    snap = pool.make_vm(
        db, new_name, other_config=other, is_a_template=True, is_a_snapshot=True, snapshot_of=vm,
        snapshot_time=now, parent=source["parent"],
        snapshot_info={"power-state-at-snapshot": source["power_state"],
                       "disk-snapshot-type": "crash_consistent"}, **fields)
    db.update("VM", vm, parent=snap)        # the VM's parent chain now runs through it
    for vbd in list(source["VBDs"]):
        record = db.get("VBD", vbd)
        vdi = record["VDI"]
        if vdi in ignore_vdis:
            continue
        if record["type"] == "Disk" and db.exists("VDI", vdi):
            vdi = call.sim.storage.snapshot_vdi(vdi, now)
        _copy_vbd(call, snap, record, vdi)
    for vif in list(source["VIFs"]):
        _copy_vif(call, snap, db.get("VIF", vif))
    vtpm.copy_all(db, vm, snap)         # xapi_vm_clone.ml copies vTPMs for snapshots too
    return snap


def _copy_vbd(call, vm, record, vdi):
    new = call.sim.storage.make_vbd(vm, vdi, record["userdevice"], type=record["type"],
                                    mode=record["mode"], bootable=record["bootable"],
                                    empty=record["empty"], unpluggable=record["unpluggable"])
    other = dict(record["other_config"])
    if record["type"] == "Disk":
        other.setdefault("owner", "")     # CA-58405: the copy owns its disks
    call.db.update("VBD", new, other_config=other)


def _copy_vif(call, vm, record):
    # the MAC is kept (Xapi_vif_helpers.copy ~preserve_mac_address for snapshots and reverts)
    call.sim.network.make_vif(vm, record["network"], record["device"], record["MAC"],
                              mtu=record["MTU"], other_config=dict(record["other_config"]))


@handler("VM", "revert")
def _revert(call, snapshot):
    db = call.db
    with db.lock:
        vm = check_operation(db, snapshot, "revert")["snapshot_of"]
        if not db.exists("VM", vm):
            # xapi re-creates the VM from the snapshot's metadata; not modelled
            raise XapiError("NOT_IMPLEMENTED", "VM.revert of a snapshot whose VM is gone")
    with operation(call, snapshot, "revert", locked=False), operation(call, vm, "reverting"):
        if db.get("VM", vm)["power_state"] != "Halted":
            halt(call, vm)                  # message_forwarding.ml: a hard shutdown first
        record = db.get("VM", snapshot)
        db.update("VM", vm, **{k: _copy_value(v) for k, v in record.items() if k not in NOT_REVERTED})
        _revert_disks(call, snapshot, vm)
        for vif in list(db.get("VM", vm)["VIFs"]):
            db.delete("VIF", vif)
        for vif in record["VIFs"]:
            _copy_vif(call, vm, db.get("VIF", vif))
        guest = db.get("VM", vm)["guest_metrics"]
        if db.exists("VM_guest_metrics", guest):
            db.delete("VM_guest_metrics", guest)
        call.sim.guests.forget(vm)
        db.update("VM", vm, parent=snapshot, guest_metrics=NULL_REF)
        # force_state_reset: the snapshot's power state (Halted for a disk-only snapshot)
        set_power(call, vm, record["power_state"], domid=-1, resident_on=NULL_REF)


def _revert_disks(call, snapshot, vm):
    """xapi_vm_snapshot.ml revert_vbds on an SR without VDI.revert: the VM's disks that the
    snapshot holds a snapshot of are destroyed and replaced by clones of those snapshots;
    its other disks are left unattached; CD drives come back as the snapshot had them."""
    db, storage = call.db, call.sim.storage
    snap_vbds = [db.get("VBD", v) for v in db.get("VM", snapshot)["VBDs"]]
    is_disk = [v["type"] == "Disk" and db.exists("VDI", v["VDI"]) for v in snap_vbds]
    originals = {db.get("VDI", v["VDI"])["snapshot_of"] for v, disk in zip(snap_vbds, is_disk) if disk}
    for vbd in list(db.get("VM", vm)["VBDs"]):
        vdi = db.get("VBD", vbd)["VDI"]
        db.delete("VBD", vbd)
        if vdi in originals and db.exists("VDI", vdi):
            storage.release_vdi(vdi)
    for record, disk in zip(snap_vbds, is_disk):
        vdi = record["VDI"]
        if disk:
            original = db.get("VDI", vdi)["snapshot_of"]
            vdi = storage.clone_vdi(vdi)
            # every snapshot of the replaced disk is now a snapshot of its replacement
            for ref, other in list(db.all("VDI").items()):
                if other["snapshot_of"] == original and original != NULL_REF:
                    db.update("VDI", ref, snapshot_of=vdi)
        _copy_vbd(call, vm, record, vdi)
