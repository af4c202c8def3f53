"""What runs inside a started VM: the boot path, the guest's xenstore, and a guest model.

The boot path follows xapi (ocaml/xapi/helpers.ml boot_method_of_vm):
  HVM (HVM_boot_policy set)     -> firmware boots whatever the disks hold; no PV drivers.
  PV_bootloader ""              -> direct boot of PV_kernel / PV_ramdisk.
  PV_bootloader "pygrub"        -> reads the bootable disk; nothing bootable: BOOTLOADER_FAILED.
  PV_bootloader "eliloader"     -> the installer flow (install-repository must be valid).
  anything else                 -> UNKNOWN_BOOTLOADER [vm, bootloader].
Only keys under "vm-data/" (and "FIST/") of VM.xenstore_data reach the guest's xenstore
(xenopsd allowed_xsdata_prefixes); the rest stays in the record and is silently dropped.
A domain sees only its own /local/domain/<domid> subtree (SDK guide 5.4).
"""
import re

from .db import new_uuid
from .errors import XapiError
from .model import NULL_REF

XS_PREFIXES = ("vm-data/", "FIST/")
REPOSITORY = re.compile(r"^(cdrom$|https?://|ftp://|nfs:)")


class Guests:
    def __init__(self, sim):
        self.sim = sim
        self.db = sim.db

    # --- state kept beside the database (persisted with it, never exposed by the API) ---
    def state(self, vm):
        return self.db.hidden.setdefault("guests", {}).setdefault(vm, {})

    def xenstore(self, vm):
        return self.db.hidden.setdefault("xenstore", {}).setdefault(vm, {})

    def forget(self, vm):
        self.db.hidden.get("guests", {}).pop(vm, None)
        self.db.hidden.get("xenstore", {}).pop(vm, None)

    # --- boot ---------------------------------------------------------------------------
    def boot(self, call, vm):
        """Run the VM's boot path; raise what xapi raises when it cannot boot."""
        record = self.db.get("VM", vm)
        if record["HVM_boot_policy"]:
            self.state(vm).update(stage="firmware")
            return
        loader = record["PV_bootloader"]
        if loader == "":
            self.state(vm).update(stage="direct", kernel=record["PV_kernel"])
        elif loader == "pygrub":
            self.pygrub(vm, record)
        elif loader == "eliloader":
            self.eliloader(vm, record)
        else:
            raise XapiError("UNKNOWN_BOOTLOADER", vm, loader)

    def eliloader(self, vm, record):
        repository = record["other_config"].get("install-repository", "")
        if not REPOSITORY.match(repository):
            raise XapiError("BOOTLOADER_FAILED", vm,
                            "Unsupported install method: install-repository=%r" % repository)
        self.state(vm).update(stage="installer", repository=repository)

    def pygrub(self, vm, record):
        disk = self.bootable_disk(vm)
        if not disk or not disk.get("kernel"):
            raise XapiError("BOOTLOADER_FAILED", vm, "Unable to find partition containing kernel")
        self.state(vm).update(stage="booted", kernel=disk["kernel"])

    def bootable_disk(self, vm):
        """The simulated filesystem of the VM's bootable disk (dict), or None."""
        disks = self.db.hidden.get("disks", {})
        for vbd in self.db.get("VM", vm)["VBDs"]:
            record = self.db.get("VBD", vbd)
            if record["bootable"] and record["VDI"] != NULL_REF and record["VDI"] in disks:
                return disks[record["VDI"]]
        return None

    def started(self, call, vm, resumed=False):
        """The domain exists: write the allowed xenstore_data keys into its xenstore."""
        if resumed:
            return
        # xapi drops the guest metrics of the previous boot (Xapi_vm.start; on reboot those
        # older than the new start time): no stale IP until the agent reports again.
        self.forget_agent(vm)
        store = self.xenstore(vm)
        store.clear()
        data = self.db.get("VM", vm)["xenstore_data"]
        store.update({k: v for k, v in data.items() if k.startswith(XS_PREFIXES)})

    def stopped(self, call, vm, suspended=False):
        if not suspended:
            self.xenstore(vm).clear()
            self.state(vm).pop("stage", None)

    def assert_cooperative(self, call, vm):
        """Clean shutdown/reboot/suspend need a PV guest or an HVM guest with PV drivers."""
        record = self.db.get("VM", vm)
        if record["HVM_boot_policy"] and not self._has_pv_drivers(record):
            raise XapiError("VM_LACKS_FEATURE", vm)

    def _has_pv_drivers(self, record):
        metrics = record["guest_metrics"]
        return self.db.exists("VM_guest_metrics", metrics) and \
            self.db.get("VM_guest_metrics", metrics)["PV_drivers_detected"]

    def push_vm_data(self, vm, data):
        """VM.set_xenstore_data on a running VM rewrites the vm-data and FIST subtrees live."""
        store = self.xenstore(vm)
        for key in [k for k in store if k.startswith(XS_PREFIXES)]:
            del store[key]
        store.update({k: v for k, v in data.items() if k.startswith(XS_PREFIXES)})

    def cd_inserted(self, call, vm, vdi):
        self.state(vm).setdefault("cds", []).append(self.db.get("VDI", vdi)["name_label"])

    # --- the guest agent (xe-guest-utilities / PV drivers) -----------------------------------
    def report_agent(self, vm, networks=None, os_version=None, pv_drivers=True):
        """The guest agent reports in: create or update the VM's VM_guest_metrics record.

        ``networks`` uses xapi's keys ("0/ip", "0/ipv4/0", "0/ipv6/0", ...). Only a running
        guest has an agent. Returns the VM_guest_metrics ref.
        """
        db = self.db
        with db.lock:
            record = db.get("VM", vm)
            if record["power_state"] != "Running":
                raise ValueError("VM %s is %s: only a running guest reports" % (vm, record["power_state"]))
            values = dict(networks=dict(networks or {}), os_version=dict(os_version or {}),
                          PV_drivers_detected=bool(pv_drivers), live=True,
                          PV_drivers_version={"major": "8", "minor": "4", "micro": "0"} if pv_drivers else {},
                          last_updated=self.sim.clock.stamp())
            metrics = record["guest_metrics"]
            if db.exists("VM_guest_metrics", metrics):
                db.update("VM_guest_metrics", metrics, **values)
            else:
                metrics = db.create("VM_guest_metrics", uuid=new_uuid(), **values)
                db.update("VM", vm, guest_metrics=metrics)
            return metrics

    def forget_agent(self, vm):
        db = self.db
        metrics = db.get("VM", vm)["guest_metrics"]
        if metrics != NULL_REF:
            db.update("VM", vm, guest_metrics=NULL_REF)
            if db.exists("VM_guest_metrics", metrics):
                db.delete("VM_guest_metrics", metrics)

    # --- the guest's own view ------------------------------------------------------------
    def xenstore_read(self, vm, path, as_domid=None):
        """``xenstore-read`` run inside the guest of ``vm`` (domain ``as_domid``)."""
        record = self.db.get("VM", vm)
        domid = record["domid"]
        if record["power_state"] != "Running":
            raise KeyError("domain not running")
        prefix = "/local/domain/%d/" % domid
        if path.startswith("/"):
            if as_domid is not None and as_domid != domid:
                raise PermissionError(path)
            if not path.startswith(prefix):
                raise PermissionError(path)
            path = path[len(prefix):]
        return self.xenstore(vm)[path]
