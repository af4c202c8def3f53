"""VM behaviour: lifecycle checks, clone/copy/provision, power operations, memory and VCPUs.

Check order follows xapi's check_operation_error (ocaml/xapi/xapi_vm_lifecycle.ml):
blocked operation -> power state -> other operation in progress -> template -> snapshot
-> provision/revert -> control domain.
"""
import contextlib
import os
import re
import xml.dom.minidom

from . import firmware, pool, vtpm
from .api import handler
from .db import new_uuid
from .errors import XapiError
from .guests.install import POST_INSTALL_DIR, post_install_files
from .model import NULL_REF

# Power states each operation starts from, in xapi's order (it joins them with ", ").
ALLOWED_FROM = {
    "start": ["Halted"], "start_on": ["Halted"], "clone": ["Halted"], "copy": ["Halted"],
    "provision": ["Halted"], "destroy": ["Halted", "Suspended"],
    "clean_shutdown": ["Running"], "clean_reboot": ["Running"], "suspend": ["Running"],
    "pause": ["Running"], "unpause": ["Paused"], "resume": ["Suspended"], "resume_on": ["Suspended"],
    "pool_migrate": ["Running"], "make_into_template": ["Halted"], "export": ["Halted", "Suspended"],
    "hard_shutdown": ["Paused", "Suspended", "Running"], "shutdown": ["Paused", "Suspended", "Running"],
    "hard_reboot": ["Running", "Paused"],
    "changing_static_range": ["Halted"], "changing_VCPUs": ["Halted"],
    "changing_memory_limits": ["Halted"], "changing_VCPUs_live": ["Running"],
    "changing_dynamic_range": ["Halted", "Running"],
    "changing_NVRAM": ["Halted"], "create_vtpm": ["Halted"],
}
# Simulated seconds each operation takes (on the simulator's clock).
DURATION = {"start": 2.0, "start_on": 2.0, "clean_shutdown": 2.0, "clean_reboot": 3.0,
            "hard_shutdown": 0.5, "shutdown": 2.0, "hard_reboot": 1.0, "suspend": 2.0,
            "resume": 2.0, "resume_on": 2.0, "clone": 0.5, "copy": 4.0, "provision": 1.0,
            "snapshot": 0.5, "reverting": 1.0, "pool_migrate": 3.0}
# A hard shutdown/reboot may start while a guest-dependent operation is still running and
# cancels it (xapi: xapi_vm_lifecycle.ml is_allowed_concurrently, message_forwarding.ml
# hard_shutdown/hard_reboot -> cancel): the way out of a guest that ignores a clean shutdown.
CANCELLED_BY_HARD = ("clean_shutdown", "clean_reboot", "suspend")
CONCURRENT_OK = {"hard_shutdown": CANCELLED_BY_HARD + ("hard_reboot",),
                 "hard_reboot": CANCELLED_BY_HARD}
# Operations a control domain may do (xapi_vm_lifecycle.ml; the rest: OPERATION_NOT_ALLOWED).
CONTROL_DOMAIN_OK = {"changing_dynamic_range", "changing_memory_limits", "changing_static_range",
                     "start", "start_on", "metadata_export"}
# Operations a template may do (anything else: VM_IS_TEMPLATE [vm, op]).
TEMPLATE_OK = {"clone", "copy", "export", "provision", "destroy", "changing_static_range",
               "changing_dynamic_range", "changing_VCPUs", "changing_memory_limits",
               "changing_NVRAM"}


def check_operation(db, ref, op):
    """Raise what xapi raises if ``op`` is not allowed on VM ``ref`` now."""
    record = db.get("VM", ref)
    if op in record["blocked_operations"]:
        raise XapiError("OPERATION_BLOCKED", ref, record["blocked_operations"][op])
    allowed = ALLOWED_FROM.get(op)
    if allowed and record["power_state"] not in allowed:
        raise XapiError("VM_BAD_POWER_STATE", ref, ", ".join(s.lower() for s in allowed),
                        record["power_state"].lower())
    for task, running_op in record["current_operations"].items():
        if running_op in CONCURRENT_OK.get(op, ()):
            continue
        if op in pool.LONG_COPIES and running_op in pool.LONG_COPIES:
            continue        # several clones/copies of one template at once: a fleet in parallel
        raise XapiError("OTHER_OPERATION_IN_PROGRESS", "VM", ref, running_op, task)
    if record["is_a_template"] and not record["is_a_snapshot"]:
        # check_template: a template is "default" by the field or by other_config
        # default_template (bool_of_assoc: "true" or "1"), and then may not be destroyed.
        is_default = record["is_default_template"] or \
            record["other_config"].get("default_template", "").lower() in ("true", "1")
        if op not in TEMPLATE_OK or (op == "destroy" and is_default):
            raise XapiError("VM_IS_TEMPLATE", ref, op)
    if record["is_a_snapshot"] and op not in pool.SNAPSHOT_OPS:
        raise XapiError("VM_IS_SNAPSHOT", ref, op)      # a snapshot is a template too, but this one
    if op == "provision" and not record["is_a_template"]:
        raise XapiError("PROVISION_ONLY_ALLOWED_ON_TEMPLATE")
    if op == "revert" and not record["is_a_snapshot"]:
        # api_errors.ml only_revert_snapshot; not in datamodel_errors.ml
        raise XapiError("REVERT_ONLY_ALLOWED_ON_SNAPSHOT")
    if record["is_control_domain"]:
        if op in ("changing_VCPUs", "destroy"):     # every simulated control domain is a dom0
            raise XapiError("OPERATION_NOT_ALLOWED", "This operation is not allowed on dom0")
        if op not in CONTROL_DOMAIN_OK:
            raise XapiError("OPERATION_NOT_ALLOWED", "This operation is not allowed on a control domain")
    return record


# allowed_operations as xapi's update_allowed_operations computes them: every operation but
# its ignored_ops (shutdown, changing_VCPUs, changing_memory_limits, power_state_reset, ...)
# that check_operation_error allows with strict=true (xapi_vm_lifecycle.ml). Of those, the
# ones the simulator serves; export is listed as a real pool lists it.
LISTED_OPS = ("snapshot", "clone", "copy", "revert", "provision", "start", "start_on", "pause",
              "unpause", "clean_shutdown", "clean_reboot", "hard_shutdown", "hard_reboot",
              "suspend", "resume", "resume_on", "pool_migrate", "changing_dynamic_range",
              "changing_static_range", "changing_VCPUs_live", "changing_NVRAM",
              "make_into_template", "export", "destroy", "create_vtpm")
# Operations a running HVM guest can do only with PV drivers (check_op_for_feature, strict).
NEED_GUEST_FEATURE = ("clean_shutdown", "clean_reboot", "suspend", "pool_migrate")


def allowed_operations(db, ref):
    record = db.get("VM", ref)
    allowed = []
    for op in LISTED_OPS:
        try:
            check_operation(db, ref, op)
        except XapiError:
            continue
        if op in NEED_GUEST_FEATURE and record["HVM_boot_policy"] and not _has_pv_drivers(db, record):
            continue
        if op == "create_vtpm" and record["VTPMs"]:
            continue        # VTPM_MAX_AMOUNT_REACHED: one vTPM per VM
        allowed.append(op)
    return allowed


def _has_pv_drivers(db, record):
    metrics = record["guest_metrics"]
    return db.exists("VM_guest_metrics", metrics) and db.get("VM_guest_metrics", metrics)["PV_drivers_detected"]


@contextlib.contextmanager
def operation(call, ref, op, locked=True):
    """Hold ``op`` in current_operations for its simulated duration, as xapi does.

    The body runs with the database lock held, unless ``locked`` is false (a boot that may
    download over the network: it takes the lock itself where it changes the database).
    """
    db = call.db
    with db.lock:
        record = check_operation(db, ref, op)
        if op in CONCURRENT_OK:
            for task, running_op in list(record["current_operations"].items()):
                if running_op in CONCURRENT_OK[op]:
                    del record["current_operations"][task]   # cancelled (xapi cancel_task)
        record["current_operations"][call.op_ref] = op
        pool.refresh_allowed(db, ref)
        db.touch("VM", ref)
    try:
        call.sim.clock.sleep(DURATION.get(op, 0.0))
        with db.lock:
            if call.op_ref not in record["current_operations"]:
                raise XapiError("TASK_CANCELLED", call.op_ref)
            if locked:
                yield record
        if not locked:
            yield record
    finally:
        with db.lock:
            if db.exists("VM", ref):
                record["current_operations"].pop(call.op_ref, None)
                pool.refresh_allowed(db, ref)
                db.touch("VM", ref)


def set_power(call, ref, state, **extra):
    db = call.db
    db.update("VM", ref, power_state=state, **extra)
    record = db.get("VM", ref)
    running = state in ("Running", "Paused")
    metrics = record["metrics"]
    if db.exists("VM_metrics", metrics):
        db.update("VM_metrics", metrics,
                  memory_actual=record["memory_target"] if running else 0,
                  VCPUs_number=record["VCPUs_at_startup"] if running else 0,
                  start_time=call.sim.clock.stamp() if state == "Running" and "domid" in extra
                  else db.get("VM_metrics", metrics)["start_time"])
    if "domid" in extra:
        # A new domain plugs every VBD and VIF; a domain that goes unplugs them (xapi marks
        # them currently_attached from xenopsd, and force_state_reset clears them).
        for cls, field in (("VBD", "VBDs"), ("VIF", "VIFs")):
            for device in record[field]:
                if db.exists(cls, device) and db.get(cls, device)["currently_attached"] != running:
                    db.update(cls, device, currently_attached=running)
    pool.refresh_allowed(db, ref)
    call.sim.hosts.recount()


# --- create, copy, provision, destroy ---------------------------------------------------

@handler("VM", "clone")
def _clone(call, vm, new_name):
    with operation(call, vm, "clone"):
        return duplicate(call, vm, new_name, sr=None, full=False)


@handler("VM", "copy")
def _copy(call, vm, new_name, sr):
    with operation(call, vm, "copy"):
        target = sr if call.db.exists("SR", sr) else None
        return duplicate(call, vm, new_name, sr=target, full=True)


def duplicate(call, vm, new_name, sr, full):
    """clone/copy: a new VM with the same settings, new disks, new VIF MACs."""
    db = call.db
    source = db.get("VM", vm)
    other = {k: v for k, v in source["other_config"].items()
             if k not in ("default_template", "xensource_internal")}
    other["mac_seed"] = new_uuid()
    if source["is_a_template"]:
        other["base_template_name"] = source["name_label"]
    skip = {"uuid", "name_label", "VBDs", "VIFs", "consoles", "metrics", "guest_metrics",
            "other_config", "is_default_template", "current_operations", "allowed_operations",
            "snapshots", "children", "crash_dumps", "VTPMs", "VGPUs", "VUSBs", "attached_PCIs",
            "resident_on", "scheduled_to_be_resident_on", "domid", "power_state", "parent",
            "blobs", "domarch", "last_booted_record"}
    fields = {k: _copy_value(v) for k, v in source.items() if k not in skip}
    new = pool.make_vm(db, new_name, other_config=other, **fields)
    db.update("VM", new, parent=vm if not source["is_a_template"] else NULL_REF)
    for vbd in list(source["VBDs"]):
        record = db.get("VBD", vbd)
        vdi = record["VDI"]
        if record["type"] == "Disk" and db.exists("VDI", vdi):
            vdi = call.sim.storage.clone_vdi(vdi, sr=sr)
        call.sim.storage.make_vbd(new, vdi, record["userdevice"], type=record["type"],
                                  mode=record["mode"], bootable=record["bootable"],
                                  empty=record["empty"], unpluggable=record["unpluggable"])
    for vif in list(source["VIFs"]):
        record = db.get("VIF", vif)
        call.sim.network.make_vif(new, record["network"], record["device"], "")
    vtpm.copy_all(db, vm, new)
    return new


def _copy_value(value):
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


@handler("VM", "provision")
def _provision(call, vm):
    db = call.db
    record = db.get("VM", vm)
    # PROVISION_ONLY_ALLOWED_ON_TEMPLATE comes from check_operation, after the power state
    # check, as in xapi_vm_lifecycle.ml.
    with operation(call, vm, "provision"):
        disks = parse_disks(record["other_config"].get("disks", ""))
        db.update("VM", vm, is_a_template=False)
        created = []
        try:
            for disk in disks:
                sr = call.sim.storage.sr_by_uuid_or_fail(disk["sr"])
                # xapi_templates.ml create_disk: the VDI is named after its userdevice, and
                # the VBD gets other_config owner="".
                vdi_type = disk.get("type") if disk.get("type") in VDI_TYPES else "system"
                vdi = call.sim.storage.make_vdi(
                    sr, disk["device"], int(disk["size"]), vdi_type=vdi_type,
                    name_description="Created by template provisioner",
                    sm_config={"vmhint": record["uuid"]})
                created.append(("VDI", vdi))
                vbd = call.sim.storage.make_vbd(vm, vdi, disk["device"], type="Disk",
                                                bootable=disk.get("bootable") == "true",
                                                unpluggable=vdi_type != "system")
                db.get("VBD", vbd)["other_config"]["owner"] = ""
                created.append(("VBD", vbd))
            if record["other_config"].get("postinstall"):
                _post_install(call, record["other_config"]["postinstall"], created)
        except XapiError:
            for cls, ref in reversed(created):
                if db.exists(cls, ref):
                    db.delete(cls, ref)
            raise
        other = dict(record["other_config"])
        other.pop("disks", None)
        other.pop("postinstall", None)
        db.update("VM", vm, other_config=other)
        pool.refresh_allowed(db, vm)


VDI_TYPES = ("system", "user", "ephemeral", "suspend", "crashdump")


def _post_install(call, script, created):
    """The template's postinstall script, run on the new disks (xapi_templates_install.ml
    post_install_script: only a script in post-install-scripts, of a-z, '-' and '/')."""
    if os.path.dirname(script) != POST_INSTALL_DIR or not re.fullmatch(r"[a-z/-]+", script):
        raise XapiError("PERMISSION_DENIED", "illegal provision script %s" % script)
    files = post_install_files(script)
    bootable = [ref for cls, ref in created if cls == "VBD" and call.db.get("VBD", ref)["bootable"]]
    if files and bootable:
        call.sim.guests.write_disk(call.db.get("VBD", bootable[0])["VDI"], files)


def parse_disks(text):
    if not text:
        return []
    try:
        doc = xml.dom.minidom.parseString(text)
    except Exception:
        raise XapiError("INVALID_VALUE", "disks", text) from None
    return [{k: node.getAttribute(k) for k in ("device", "size", "sr", "bootable", "type")}
            for node in doc.getElementsByTagName("disk")]


@handler("VM", "destroy")
def _destroy(call, vm):
    db = call.db
    with db.lock:
        record = check_operation(db, vm, "destroy")
        if record["other_config"].get("default_template") == "true":
            # Reached only by a non-template (templates stop at VM_IS_TEMPLATE above); xapi
            # sends no parameter although datamodel_errors.ml declares [vm]
            # (ocaml/xapi/xapi_vm_helpers.ml destroy).
            raise XapiError("VM_CANNOT_DELETE_DEFAULT_TEMPLATE")
        for child in list(record["children"]):
            db.update("VM", child, parent=record["parent"])   # xapi_vm.ml destroy rebases them
        for vbd in list(record["VBDs"]):
            db.delete("VBD", vbd)
        for vif in list(record["VIFs"]):
            db.delete("VIF", vif)
        vtpm.destroy_all(db, vm)
        for cls in ("VM_metrics", "VM_guest_metrics"):
            ref = record["metrics" if cls == "VM_metrics" else "guest_metrics"]
            if db.exists(cls, ref):
                db.delete(cls, ref)
        call.sim.guests.forget(vm)
        db.delete("VM", vm)


# --- power -------------------------------------------------------------------------------

@handler("VM", "start")
def _start(call, vm, start_paused, force):
    boot(call, vm, "start", call.sim.master_host, start_paused)


@handler("VM", "start_on")
def _start_on(call, vm, host, start_paused, force):
    call.db.get("host", host)
    boot(call, vm, "start_on", host, start_paused)


def boot(call, vm, op, host, start_paused):
    with operation(call, vm, op, locked=False) as record:
        with call.db.lock:
            firmware.check_start(call.db, vm)
            call.sim.hosts.assert_fits(host, record["memory_dynamic_max"])
        # eliloader's downloads happen here, without the lock (event.from waiters, other VMs)
        plan = call.sim.guests.prepare(call, vm)
        with call.db.lock:
            if not _still_running(call, vm):
                raise XapiError("TASK_CANCELLED", call.op_ref)
            call.sim.hosts.assert_fits(host, record["memory_dynamic_max"])
            firmware.build_domain(call.db, vm)
            call.sim.guests.boot(call, vm, plan)
            set_power(call, vm, "Paused" if start_paused else "Running",
                      domid=call.sim.next_domid(), resident_on=host)
            call.sim.guests.started(call, vm)


@handler("VM", "clean_shutdown")
def _clean_shutdown(call, vm):
    with operation(call, vm, "clean_shutdown"):
        call.sim.guests.assert_cooperative(call, vm)
        halt(call, vm)


@handler("VM", "hard_shutdown")
def _hard_shutdown(call, vm):
    with operation(call, vm, "hard_shutdown"):
        halt(call, vm)


@handler("VM", "shutdown")
def _shutdown(call, vm):
    with operation(call, vm, "shutdown"):
        halt(call, vm)


def halt(call, vm):
    call.sim.guests.stopped(call, vm)
    set_power(call, vm, "Halted", domid=-1, resident_on=NULL_REF)


@handler("VM", "clean_reboot")
def _clean_reboot(call, vm):
    with operation(call, vm, "clean_reboot", locked=False):
        with call.db.lock:
            call.sim.guests.assert_cooperative(call, vm)
        reboot(call, vm)


@handler("VM", "hard_reboot")
def _hard_reboot(call, vm):
    with operation(call, vm, "hard_reboot", locked=False):
        reboot(call, vm)


def reboot(call, vm):
    """Old domain gone, the boot path again (downloads without the lock); fails -> Halted."""
    db = call.db
    with db.lock:
        call.sim.guests.stopped(call, vm, rebooting=True)
    try:
        plan = call.sim.guests.prepare(call, vm)
    except XapiError:
        with db.lock:
            if _still_running(call, vm):
                halt(call, vm)
        raise
    with db.lock:
        if not _still_running(call, vm):     # a hard_shutdown cancelled us meanwhile
            raise XapiError("TASK_CANCELLED", call.op_ref)
        try:
            call.sim.guests.boot(call, vm, plan)
        except XapiError:
            halt(call, vm)
            raise
        set_power(call, vm, "Running", domid=call.sim.next_domid())
        call.sim.guests.started(call, vm)


def _still_running(call, vm):
    """Our operation was not cancelled while we worked without the lock."""
    return call.db.exists("VM", vm) and call.op_ref in call.db.get("VM", vm)["current_operations"]


@handler("VM", "pause")
def _pause(call, vm):
    with operation(call, vm, "pause"):
        set_power(call, vm, "Paused")


@handler("VM", "unpause")
def _unpause(call, vm):
    with operation(call, vm, "unpause"):
        set_power(call, vm, "Running")


@handler("VM", "suspend")
def _suspend(call, vm):
    with operation(call, vm, "suspend"):
        call.sim.guests.assert_cooperative(call, vm)
        call.sim.guests.stopped(call, vm, suspended=True)
        set_power(call, vm, "Suspended", domid=-1, resident_on=NULL_REF)


@handler("VM", "resume")
def _resume(call, vm, start_paused, force):
    resume(call, vm, "resume", call.sim.master_host, start_paused)


@handler("VM", "resume_on")
def _resume_on(call, vm, host, start_paused, force):
    call.db.get("host", host)
    resume(call, vm, "resume_on", host, start_paused)


def resume(call, vm, op, host, start_paused):
    with operation(call, vm, op) as record:
        call.sim.hosts.assert_fits(host, record["memory_dynamic_max"])
        set_power(call, vm, "Paused" if start_paused else "Running",
                  domid=call.sim.next_domid(), resident_on=host)
        call.sim.guests.started(call, vm, resumed=True)


@handler("VM", "power_state_reset")
def _power_state_reset(call, vm):
    with call.db.lock:
        call.sim.guests.stopped(call, vm)
        set_power(call, vm, "Halted", domid=-1, resident_on=NULL_REF)


# --- memory and VCPUs ------------------------------------------------------------------------

def _memory(call, vm, op, **limits):
    db = call.db
    with db.lock:
        record = check_operation(db, vm, op)
        new = {k: record[k] for k in ("memory_static_min", "memory_dynamic_min",
                                      "memory_dynamic_max", "memory_static_max")}
        new.update(limits)
        if not (new["memory_static_min"] <= new["memory_dynamic_min"] <= new["memory_dynamic_max"]
                <= new["memory_static_max"]):
            raise XapiError("MEMORY_CONSTRAINT_VIOLATION_ORDER")
        if record["power_state"] == "Running" and (
                new["memory_static_max"] != record["memory_static_max"]):
            raise XapiError("VM_BAD_POWER_STATE", vm, "halted", "running")
        new["memory_target"] = new["memory_dynamic_max"]
        db.update("VM", vm, **new)
        call.sim.hosts.recount()


@handler("VM", "set_memory_static_max")
def _m1(call, vm, value):
    _memory(call, vm, "changing_static_range", memory_static_max=value)


@handler("VM", "set_memory_static_min")
def _m2(call, vm, value):
    _memory(call, vm, "changing_static_range", memory_static_min=value)


@handler("VM", "set_memory_dynamic_max")
def _m3(call, vm, value):
    _memory(call, vm, "changing_dynamic_range", memory_dynamic_max=value)


@handler("VM", "set_memory_dynamic_min")
def _m4(call, vm, value):
    _memory(call, vm, "changing_dynamic_range", memory_dynamic_min=value)


@handler("VM", "set_memory_dynamic_range")
def _m5(call, vm, low, high):
    _memory(call, vm, "changing_dynamic_range", memory_dynamic_min=low, memory_dynamic_max=high)


@handler("VM", "set_memory_static_range")
def _m6(call, vm, low, high):
    _memory(call, vm, "changing_static_range", memory_static_min=low, memory_static_max=high)


@handler("VM", "set_memory_limits")
def _m7(call, vm, static_min, static_max, dynamic_min, dynamic_max):
    _memory(call, vm, "changing_memory_limits", memory_static_min=static_min,
            memory_static_max=static_max, memory_dynamic_min=dynamic_min,
            memory_dynamic_max=dynamic_max)


@handler("VM", "set_memory")
def _m8(call, vm, value):
    _memory(call, vm, "changing_memory_limits", memory_static_max=value,
            memory_dynamic_min=value, memory_dynamic_max=value)


# xapi_vm.ml set_VCPUs_max / set_VCPUs_at_startup: INVALID_VALUE [this text, value].
VCPU_RULE = "VCPU values must satisfy: 0 < VCPUs_at_startup \u2264 VCPUs_max"


def _vcpus(call, vm, op, **values):
    db = call.db
    with db.lock:
        record = check_operation(db, vm, op)
        new = {"VCPUs_max": record["VCPUs_max"], "VCPUs_at_startup": record["VCPUs_at_startup"]}
        new.update(values)
        if not 0 < new["VCPUs_at_startup"] <= new["VCPUs_max"]:
            value = next(iter(values.values()))
            raise XapiError("INVALID_VALUE", VCPU_RULE, value)
        if new["VCPUs_max"] > 64:
            raise XapiError("VM_TOO_MANY_VCPUS", vm)
        db.update("VM", vm, **values)


@handler("VM", "set_VCPUs_max")
def _v1(call, vm, value):
    _vcpus(call, vm, "changing_VCPUs", VCPUs_max=value)


@handler("VM", "set_VCPUs_at_startup")
def _v2(call, vm, value):
    _vcpus(call, vm, "changing_VCPUs", VCPUs_at_startup=value)


@handler("VM", "set_VCPUs_number_live")
def _v3(call, vm, nvcpu):
    db = call.db
    with db.lock:
        record = check_operation(db, vm, "changing_VCPUs_live")
        if not 0 < nvcpu <= record["VCPUs_max"]:
            raise XapiError("INVALID_VALUE", "nvcpu", nvcpu)
        # xapi also records the new count as VCPUs_at_startup (ocaml/xapi/xapi_xenops.ml set_vcpus).
        db.update("VM", vm, VCPUs_at_startup=nvcpu)
        db.update("VM_metrics", record["metrics"], VCPUs_number=nvcpu)


@handler("VM", "set_HVM_boot_policy")
def _hvm_policy(call, vm, value):
    call.db.update("VM", vm, HVM_boot_policy=value, domain_type="hvm" if value else "pv")


@handler("VM", "set_is_a_template")
def _set_template(call, vm, value):
    db = call.db
    with db.lock:
        record = db.get("VM", vm)
        if value and record["power_state"] != "Halted":
            raise XapiError("VM_BAD_POWER_STATE", vm, "halted", record["power_state"].lower())
        db.update("VM", vm, is_a_template=value)
        pool.refresh_allowed(db, vm)


# --- xenstore_data ---------------------------------------------------------------------------

@handler("VM", "set_xenstore_data")
def _set_xenstore(call, vm, value):
    db = call.db
    with db.lock:
        db.update("VM", vm, xenstore_data=dict(value))
        # message_forwarding.ml set_xenstore_data: the live push (xenopsd VM.set_xsdata) is made
        # for a Running VM only; a paused guest keeps its vm-data as it was.
        if db.get("VM", vm)["power_state"] == "Running":
            call.sim.guests.push_vm_data(vm, value)


# --- devices the VM can still take -----------------------------------------------------------

@handler("VM", "get_allowed_VBD_devices")
def _vbd_devices(call, vm):
    record = call.db.get("VM", vm)
    used = {call.db.get("VBD", v)["userdevice"] for v in record["VBDs"]}
    # xapi_vm_helpers.ml: 0..254 for PV and HVM alike (255 for a control domain)
    limit = 256 if record["is_control_domain"] else 255
    return [str(i) for i in range(limit) if str(i) not in used]


@handler("VM", "get_allowed_VIF_devices")
def _vif_devices(call, vm):
    record = call.db.get("VM", vm)
    used = {call.db.get("VIF", v)["device"] for v in record["VIFs"]}
    return [str(i) for i in range(16) if str(i) not in used]      # xapi_vm_helpers.ml: 0..15


@handler("VM", "create")
def _create(call, record):
    record = dict(record)
    record.pop("uuid", None)
    name = record.pop("name_label", "")
    return pool.make_vm(call.db, name, **{k: v for k, v in record.items()
                                           if k not in ("VBDs", "VIFs", "metrics", "guest_metrics")})
