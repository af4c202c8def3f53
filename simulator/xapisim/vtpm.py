"""VTPM: a virtual TPM 2.0 attached to a VM (xapi ocaml/idl/datamodel_vtpm.ml,
ocaml/xapi/xapi_vtpm.ml, message_forwarding.ml VTPM; sources in docs/simulator.md).

- VTPM.create (vM, is_unique) runs as the VM operation create_vtpm: the VM must be Halted
  (VM_BAD_POWER_STATE), not a template (VM_IS_TEMPLATE), and have no vTPM yet
  (VTPM_MAX_AMOUNT_REACHED [count]); then the pool must not restrict the feature
  (FEATURE_RESTRICTED ["restrict_vtpm"] unless pool.restrictions restrict_vtpm = "false").
- VTPM.destroy: the VM must be Halted or Suspended (VM_BAD_POWER_STATE [vm,
  "halted;suspended", state], xapi_vm_lifecycle.ml assert_initial_power_state_in).
- allowed_operations is [destroy] while the VM is Halted, else [] (vtpm_update_allowed_operations).
- VM.clone/copy copy the vTPMs (xapi_vm_clone.ml); VM.destroy destroys them (xapi_vm_helpers.ml).
- The TPM's contents (a secret, internal_only in the datamodel) are not modelled.
"""
from .api import handler
from .db import new_uuid
from .errors import XapiError
from .model import NULL_REF


def _introduce(db, vm, is_unique):
    ref = db.create("VTPM", uuid=new_uuid(), VM=vm, backend=NULL_REF,
                    persistence_backend="xapi", is_unique=is_unique, is_protected=False)
    refresh(db, ref)
    return ref


def refresh(db, ref):
    record = db.get("VTPM", ref)
    halted = db.exists("VM", record["VM"]) and db.get("VM", record["VM"])["power_state"] == "Halted"
    allowed = ["destroy"] if halted else []
    if record["allowed_operations"] != allowed:
        db.update("VTPM", ref, allowed_operations=allowed)


def refresh_vm(db, vm_record):
    """After a VM's power state changed: its vTPMs' allowed_operations follow."""
    for ref in vm_record.get("VTPMs", []):
        if db.exists("VTPM", ref):
            refresh(db, ref)


def copy_all(db, source_vm, new_vm):
    for ref in list(db.get("VM", source_vm)["VTPMs"]):
        _introduce(db, new_vm, db.get("VTPM", ref)["is_unique"])


def destroy_all(db, vm):
    for ref in list(db.get("VM", vm)["VTPMs"]):
        db.delete("VTPM", ref)


@handler("VTPM", "create")
def _create(call, vm, is_unique):
    from .vm import operation      # vm -> pool -> vtpm: late import
    db = call.db
    with operation(call, vm, "create_vtpm") as record:
        if record["VTPMs"]:
            raise XapiError("VTPM_MAX_AMOUNT_REACHED", len(record["VTPMs"]))
        pool = next(iter(db.all("pool").values()))
        if pool["restrictions"].get("restrict_vtpm") != "false":
            raise XapiError("FEATURE_RESTRICTED", "restrict_vtpm")
        return _introduce(db, vm, is_unique)


@handler("VTPM", "destroy")
def _destroy(call, ref):
    db = call.db
    with db.lock:
        vm = db.get("VTPM", ref)["VM"]
        state = db.get("VM", vm)["power_state"]
        if state not in ("Halted", "Suspended"):
            raise XapiError("VM_BAD_POWER_STATE", vm, "halted;suspended", state.lower())
        db.delete("VTPM", ref)
