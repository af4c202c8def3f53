"""Between hosts: VM.pool_migrate, host evacuation (its plan and host.evacuate), server time.

Sources (xapi-project/xen-api): ocaml/xapi/message_forwarding.ml (pool_migrate: the strict
operation check unless options force=true, memory reserved on the target), xapi_vm_migrate.ml
(pool_migrate, a localhost migration allowed), xapi_host.ml (compute_evacuation_plan_no_wlb,
get_vms_which_prevent_evacuation, evacuate with its batches, get_servertime).
"""
from . import vm as vm_mod
from .api import handler
from .db import new_uuid
from .errors import XapiError

# xapi.conf's evacuation-batch-size default (ocaml/xapi/xapi_globs.ml), used when
# host.evacuate gets evacuate_batch_size 0 (its param_default).
EVACUATION_BATCH_SIZE = 10


def migration_error(sim, vm, target):
    """What stops ``vm`` from live-migrating to ``target`` now, as (code, params), or None.

    The strict pool_migrate check (xapi_vm_lifecycle.ml): the lifecycle rules, then an HVM
    guest without PV drivers lacks feature-suspend; then the memory the target must reserve.
    """
    db = sim.db
    try:
        vm_mod.check_operation(db, vm, "pool_migrate")
        sim.guests.assert_cooperative(None, vm)
        sim.hosts.assert_fits(target, db.get("VM", vm)["memory_dynamic_max"])
    except XapiError as err:
        return err.code, list(err.params)
    return None


@handler("VM", "pool_migrate")
def _pool_migrate(call, vm, host, options):
    db = call.db
    force = options.get("force", "").lower() == "true"

    def check(record):
        if not force:
            call.sim.guests.assert_cooperative(call, vm)
        # a localhost migration holds both copies at once, so the VM's own memory counts
        call.sim.hosts.assert_fits(host, record["memory_dynamic_max"])

    with db.lock:
        db.get("host", host)
        if "network" in options:        # the migration network (xapi_vm_migrate.ml pool_migrate)
            db.get("network", options["network"])
        check(vm_mod.check_operation(db, vm, "pool_migrate"))
    with vm_mod.operation(call, vm, "pool_migrate") as record:
        check(record)
        # the domain moves; the simulator keeps its domid (the guest model follows it)
        db.update("VM", vm, resident_on=host)
        call.sim.hosts.recount()


@handler("host", "get_servertime")
def _servertime(call, host):
    call.db.get("host", host)
    return call.sim.clock.stamp()


def evacuation_plan(sim, host):
    """{vm: target host} or {vm: (code, params)} for every user VM resident on ``host``."""
    db = sim.db
    targets = [ref for ref, rec in db.all("host").items() if rec["enabled"] and ref != host]
    vms = [ref for ref in db.get("host", host)["resident_VMs"]
           if db.exists("VM", ref) and not db.get("VM", ref)["is_control_domain"]]
    plans = {}
    free = {target: db.get("host_metrics", db.get("host", target)["metrics"])["memory_total"]
            - sim.hosts.used(target) for target in targets}
    for vm in vms:
        if not targets:
            plans[vm] = ("NO_HOSTS_AVAILABLE", [vm])
            continue
        error = migration_error(sim, vm, targets[0])
        if error and error[0] != "HOST_NOT_ENOUGH_FREE_MEMORY":
            plans[vm] = error
            continue
        # the binpack: memory only (Xapi_ha_vm_failover.compute_evacuation_plan)
        needed = db.get("VM", vm)["memory_dynamic_max"]
        fits = [target for target in targets if free[target] >= needed]
        if not fits:
            plans[vm] = ("HOST_NOT_ENOUGH_FREE_MEMORY", [vm])
            continue
        target = max(fits, key=lambda ref: free[ref])
        free[target] -= needed
        plans[vm] = target
    return plans


@handler("host", "get_vms_which_prevent_evacuation")
def _prevent_evacuation(call, host):
    with call.db.lock:
        call.db.get("host", host)
        plans = evacuation_plan(call.sim, host)
    return {vm: [plan[0]] + [str(p) for p in plan[1]]
            for vm, plan in plans.items() if isinstance(plan, tuple)}


@handler("host", "evacuate")
def _evacuate(call, host, network, evacuate_batch_size):
    db = call.db
    with db.lock:
        db.get("host", host)
        if network != "OpaqueRef:NULL":
            db.get("network", network)
        plans = evacuation_plan(call.sim, host)
        for plan in plans.values():
            if isinstance(plan, tuple):
                raise XapiError(plan[0], *plan[1])
    options = {"live": "true"}
    if network != "OpaqueRef:NULL":
        options["network"] = network
    batch = max(1, abs(evacuate_batch_size) if evacuate_batch_size > 0 else EVACUATION_BATCH_SIZE)
    moves = list(plans.items())
    for start in range(0, len(moves), batch):
        tasks = [call.sim.tasks.spawn("Async.VM.pool_migrate", call.session, call.role,
                                      _pool_migrate, [vm, target, options], ("void",))[0]
                 for vm, target in moves[start:start + batch]]
        for task in tasks:
            _wait_for(call, task)
        if call.task and db.exists("task", call.task):
            with db.lock:
                db.update("task", call.task, progress=min(1.0, (start + batch) / len(moves)))


def _wait_for(call, task):
    """One migration of the batch: its failure fails the evacuation (a VM that is no longer
    running is skipped, as xapi's assert_success does with VM_BAD_POWER_STATE)."""
    db = call.db
    with db.lock:
        while db.get("task", task)["status"] == "pending":
            db.changed.wait(1.0)
        record = dict(db.get("task", task))
        db.delete("task", task)
    if record["status"] != "success":
        info = list(record["error_info"]) or ["INTERNAL_ERROR", "migration task failed"]
        if info[0] != "VM_BAD_POWER_STATE":
            raise XapiError(info[0], *info[1:])


def add_pif_metrics(sim):
    """A PIF_metrics record for each physical PIF that has none: a connected gigabit NIC
    (xapi's monitor fills carrier, speed, duplex and the PCI identity from the device)."""
    db = sim.db
    for pif, record in db.all("PIF").items():
        if record["physical"] and not db.exists("PIF_metrics", record["metrics"]):
            metrics = db.create("PIF_metrics", uuid=new_uuid(), carrier=True, speed=1000,
                                duplex=True, vendor_id="8086", device_id="10d3",
                                vendor_name="Intel Corporation",
                                device_name="82574L Gigabit Network Connection",
                                pci_bus_path="0000:%02x:00.0" % (int(record["device"][3:] or 0) + 1),
                                last_updated=sim.clock.stamp())
            db.update("PIF", pif, metrics=metrics)
