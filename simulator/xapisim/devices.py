"""Storage (SR, VDI, VBD), networking (VIF) and host memory accounting."""
import re

from .api import handler
from .db import new_uuid
from .errors import XapiError
from .model import NULL_REF


# A userdevice: a number, or a Linux device name (Device_number.of_string in xapi).
DEVICE = re.compile(r"^([0-9]+|(xvd|hd|sd)[a-z]+[0-9]*)$")


def _linux_name(number):
    """0 -> xvda, 25 -> xvdz, 26 -> xvdaa (devices above 15 used to raise IndexError)."""
    letters = ""
    number += 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return "xvd" + letters


def _number(device):
    return int(device) if device.isdigit() and device.isascii() else None


class Storage:
    def __init__(self, sim):
        self.sim = sim
        self.db = sim.db

    def sr_by_uuid_or_fail(self, uuid):
        found = self.db.by_uuid.get(uuid)
        if not uuid or not found or found[0] != "SR":
            raise XapiError("UUID_INVALID", "sr", uuid)
        return found[1]

    def make_vdi(self, sr, name, size, vdi_type="user", **extra):
        db = self.db
        record = db.get("SR", sr)
        if record["content_type"] != "iso":
            free = record["physical_size"] - record["physical_utilisation"]
            if size > free:
                raise XapiError("SR_FULL", size, free)
            db.update("SR", sr, physical_utilisation=record["physical_utilisation"] + size,
                      virtual_allocation=record["virtual_allocation"] + size)
        return db.create("VDI", uuid=new_uuid(), name_label=name, SR=sr, virtual_size=size,
                         physical_utilisation=size, type=vdi_type, location=new_uuid(), **extra)

    def clone_vdi(self, vdi, sr=None):
        source = self.db.get("VDI", vdi)
        new = self.make_vdi(sr or source["SR"], source["name_label"], source["virtual_size"],
                            vdi_type=source["type"], name_description=source["name_description"],
                            sm_config=dict(source["sm_config"]))
        disks = self.db.hidden.setdefault("disks", {})
        if vdi in disks:
            disks[new] = dict(disks[vdi])
        # the SM copies the blocks (sparse): clone, copy and snapshot all come here
        self.sim.vdi_store.copy(source["uuid"], self.db.get("VDI", new)["uuid"])
        return new

    def snapshot_vdi(self, vdi, when):
        """VDI.snapshot as the SM does it for a VM snapshot: a copy marked as its snapshot."""
        new = self.clone_vdi(vdi)
        self.db.update("VDI", new, is_a_snapshot=True, snapshot_of=vdi, snapshot_time=when)
        return new

    def release_vdi(self, vdi):
        db = self.db
        record = db.get("VDI", vdi)
        sr = db.get("SR", record["SR"])
        if sr["content_type"] != "iso":
            db.update("SR", record["SR"],
                      physical_utilisation=max(0, sr["physical_utilisation"] - record["virtual_size"]),
                      virtual_allocation=max(0, sr["virtual_allocation"] - record["virtual_size"]))
        db.hidden.get("disks", {}).pop(vdi, None)
        self.sim.vdi_store.delete(record["uuid"])
        db.delete("VDI", vdi)

    def make_vbd(self, vm, vdi, userdevice, type="Disk", mode="RW", bootable=False,
                 empty=False, unpluggable=True):
        db = self.db
        record = db.get("VM", vm)
        if userdevice == "autodetect":
            used = {db.get("VBD", v)["userdevice"] for v in record["VBDs"]}
            free = [str(i) for i in range(255) if str(i) not in used]
            if not free:
                raise XapiError("INVALID_DEVICE", userdevice)
            userdevice = free[0]
        elif not DEVICE.match(userdevice):
            raise XapiError("INVALID_DEVICE", userdevice)      # xapi_vbd_helpers.ml valid_device
        elif any(db.get("VBD", v)["userdevice"] == userdevice for v in record["VBDs"]):
            raise XapiError("DEVICE_ALREADY_EXISTS", userdevice)
        return db.create("VBD", uuid=new_uuid(), VM=vm, VDI=vdi, userdevice=userdevice,
                         device=_linux_name(int(userdevice)) if userdevice.isdigit() else "",
                         type=type, mode=mode, bootable=bootable, empty=empty or vdi == NULL_REF,
                         # created detached, even on a running VM: VBD.plug attaches (xapi)
                         unpluggable=unpluggable, currently_attached=False)


class Network:
    def __init__(self, sim):
        self.sim = sim
        self.db = sim.db
        self.macs = 0

    def make_vif(self, vm, network, device, mac, mtu=1500, **extra):
        db = self.db
        record = db.get("VM", vm)
        db.get("network", network)
        # xapi_vif_helpers.ml create: an unsigned number (Scanf "%u") or INVALID_DEVICE; any
        # number goes (the 0-15 of VM.get_allowed_VIF_devices is not enforced here); a MAC of
        # six two-digit hex groups (helpers.ml is_valid_MAC) or MAC_INVALID; then a device in use
        # (compared as numbers) is DEVICE_ALREADY_EXISTS.
        if not (isinstance(device, str) and device.isdigit() and device.isascii()):
            raise XapiError("INVALID_DEVICE", device)
        if mac and not re.fullmatch(r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", mac):
            raise XapiError("MAC_INVALID", mac)
        if any(_number(db.get("VIF", v)["device"]) == int(device) for v in record["VIFs"]):
            raise XapiError("DEVICE_ALREADY_EXISTS", device)
        autogenerated = not mac
        if autogenerated:
            self.macs += 1
            seed = abs(hash((record["other_config"].get("mac_seed", vm), device, self.macs)))
            mac = "00:16:3e:%02x:%02x:%02x" % ((seed >> 16) & 0x7F, (seed >> 8) & 0xFF, seed & 0xFF)
        return db.create("VIF", uuid=new_uuid(), VM=vm, network=network, device=device, MAC=mac,
                         MAC_autogenerated=autogenerated, MTU=mtu,
                         # created detached, even on a running VM: VIF.plug attaches (xapi)
                         currently_attached=False, **extra)


class Hosts:
    """Host memory: what running VMs use, HOST_NOT_ENOUGH_FREE_MEMORY when a start won't fit."""

    def __init__(self, sim):
        self.sim = sim
        self.db = sim.db

    def used(self, host):
        return sum(vm["memory_target"] for vm in self.db.all("VM").values()
                   if vm["resident_on"] == host and vm["power_state"] in ("Running", "Paused"))

    def assert_fits(self, host, needed):
        metrics = self.db.get("host_metrics", self.db.get("host", host)["metrics"])
        available = metrics["memory_total"] - self.used(host)
        if needed > available:
            raise XapiError("HOST_NOT_ENOUGH_FREE_MEMORY", needed, available)

    def recount(self):
        for host, record in self.db.all("host").items():
            metrics = record["metrics"]
            if self.db.exists("host_metrics", metrics):
                total = self.db.get("host_metrics", metrics)["memory_total"]
                free = total - self.used(host)
                if self.db.get("host_metrics", metrics)["memory_free"] != free:
                    self.db.update("host_metrics", metrics, memory_free=free)


def _vm_running(db, vm):
    return db.get("VM", vm)["power_state"] in ("Running", "Paused")


# --- VBD -----------------------------------------------------------------------------------

@handler("VBD", "create")
def _vbd_create(call, record):
    db = call.db
    with db.lock:
        db.get("VM", record["VM"])
        if record["VDI"] != NULL_REF:
            db.get("VDI", record["VDI"])
        # xapi_vbd.ml create: CDs are read-only, only CDs may be empty, and a RW VBD may not
        # point at a read-only VDI.
        if record["type"] == "CD" and record["mode"] != "RO":
            raise XapiError("VBD_CDS_MUST_BE_READONLY")
        if record["type"] != "CD" and record["empty"]:
            raise XapiError("VBD_NOT_REMOVABLE_MEDIA", "in constructor")
        if record["mode"] == "RW" and db.exists("VDI", record["VDI"]) and \
                db.get("VDI", record["VDI"])["read_only"]:
            raise XapiError("VDI_READONLY", record["VDI"])
        return call.sim.storage.make_vbd(
            record["VM"], record["VDI"], record["userdevice"], type=record["type"],
            mode=record["mode"], bootable=record["bootable"], empty=record["empty"],
            unpluggable=record["unpluggable"])


@handler("VBD", "destroy")
def _vbd_destroy(call, vbd):
    db = call.db
    with db.lock:
        record = db.get("VBD", vbd)
        if record["currently_attached"] and _vm_running(db, record["VM"]):
            # xapi_vbd_helpers.ml destroy names the VBD's and the VM's uuids
            raise XapiError("OPERATION_NOT_ALLOWED", "VBD '%s' still attached to '%s'"
                            % (record["uuid"], db.get("VM", record["VM"])["uuid"]))
        db.delete("VBD", vbd)


@handler("VBD", "plug")
def _vbd_plug(call, vbd):
    db = call.db
    with db.lock:
        record = db.get("VBD", vbd)
        state = db.get("VM", record["VM"])["power_state"]
        if state != "Running":
            raise XapiError("VM_BAD_POWER_STATE", record["VM"], "running", state.lower())
        if record["currently_attached"]:
            raise XapiError("DEVICE_ALREADY_ATTACHED", vbd)
        if record["type"] != "CD" and record["mode"] == "RO" and db.get("VM", record["VM"])["HVM_boot_policy"]:
            # xapi_vbd.ml (CA-83260): an HVM guest's disks must be read-write.
            raise XapiError("DISK_VBD_MUST_BE_READWRITE_FOR_HVM", vbd)
        db.update("VBD", vbd, currently_attached=True)
        if record["type"] == "CD" and not record["empty"] and record["VDI"] != NULL_REF:
            # A drive hot-plugged with a disc in it: to the guest, a disc was inserted.
            call.sim.guests.cd_inserted(call, record["VM"], record["VDI"])


@handler("VBD", "unplug")
def _vbd_unplug(call, vbd):
    db = call.db
    with db.lock:
        record = db.get("VBD", vbd)
        # xapi_vbd_helpers.ml valid_operations: not-unpluggable first, then the VM's power
        # state, then attached/detached.
        if not record["unpluggable"]:
            raise XapiError("VBD_NOT_UNPLUGGABLE", vbd)
        state = db.get("VM", record["VM"])["power_state"]
        if state != "Running":
            raise XapiError("VM_BAD_POWER_STATE", record["VM"], "running", state.lower())
        if not record["currently_attached"]:
            raise XapiError("DEVICE_ALREADY_DETACHED", vbd)
        db.update("VBD", vbd, currently_attached=False)


@handler("VBD", "insert")
def _vbd_insert(call, vbd, vdi):
    db = call.db
    with db.lock:
        record = db.get("VBD", vbd)
        db.get("VDI", vdi)
        if record["type"] != "CD":
            raise XapiError("VBD_NOT_REMOVABLE_MEDIA", vbd)
        if not record["empty"]:
            raise XapiError("VBD_NOT_EMPTY", vbd)
        db.update("VBD", vbd, VDI=vdi, empty=False)
        if _vm_running(db, record["VM"]):
            call.sim.guests.cd_inserted(call, record["VM"], vdi)


@handler("VBD", "eject")
def _vbd_eject(call, vbd):
    db = call.db
    with db.lock:
        record = db.get("VBD", vbd)
        if record["type"] != "CD":
            raise XapiError("VBD_NOT_REMOVABLE_MEDIA", vbd)
        if record["empty"]:
            raise XapiError("VBD_IS_EMPTY", vbd)
        db.update("VBD", vbd, VDI=NULL_REF, empty=True)


# --- VDI -----------------------------------------------------------------------------------

@handler("VDI", "create")
def _vdi_create(call, record):
    db = call.db
    with db.lock:
        db.get("SR", record["SR"])
        extra = {k: record[k] for k in ("name_description", "sharable", "read_only",
                                        "other_config", "sm_config", "tags") if k in record}
        return call.sim.storage.make_vdi(record["SR"], record["name_label"],
                                         record["virtual_size"], vdi_type=record["type"], **extra)


@handler("VDI", "destroy")
def _vdi_destroy(call, vdi):
    db = call.db
    with db.lock:
        record = db.get("VDI", vdi)
        # xapi_vdi.ml destroy: only an attached VBD stops it; detached VBDs go with the VDI.
        if any(db.get("VBD", vbd)["currently_attached"] for vbd in record["VBDs"]):
            raise XapiError("VDI_IN_USE", vdi, "destroy")
        for vbd in list(record["VBDs"]):
            db.delete("VBD", vbd)
        call.sim.storage.release_vdi(vdi)


@handler("VDI", "clone")
def _vdi_clone(call, vdi, driver_params):
    with call.db.lock:
        return call.sim.storage.clone_vdi(vdi)


@handler("VDI", "snapshot")
def _vdi_snapshot(call, vdi, driver_params):
    with call.db.lock:
        return call.sim.storage.snapshot_vdi(vdi, call.sim.clock.stamp())


@handler("VDI", "copy")
def _vdi_copy(call, vdi, sr, base_vdi, into_vdi):
    # xapi_vdi.ml copy: into a new VDI on ``sr``, or into ``into_vdi`` (writable, big
    # enough: VDI_READONLY / VDI_TOO_SMALL [into, size]); base_vdi (a delta copy) is ignored.
    db = call.db
    with db.lock:
        source = db.get("VDI", vdi)
        if into_vdi == NULL_REF:
            db.get("SR", sr)
            return call.sim.storage.clone_vdi(vdi, sr=sr)
        target = db.get("VDI", into_vdi)
        if target["read_only"]:
            raise XapiError("VDI_READONLY", into_vdi)
        if target["virtual_size"] < source["virtual_size"]:
            raise XapiError("VDI_TOO_SMALL", into_vdi, source["virtual_size"])
        call.sim.vdi_store.copy(source["uuid"], target["uuid"])
        return into_vdi


@handler("VDI", "resize")
def _vdi_resize(call, vdi, size):
    db = call.db
    with db.lock:
        record = db.get("VDI", vdi)
        grow = size - record["virtual_size"]
        sr = db.get("SR", record["SR"])
        if grow > sr["physical_size"] - sr["physical_utilisation"]:
            raise XapiError("SR_FULL", grow, sr["physical_size"] - sr["physical_utilisation"])
        db.update("SR", record["SR"], physical_utilisation=sr["physical_utilisation"] + grow,
                  virtual_allocation=sr["virtual_allocation"] + grow)
        db.update("VDI", vdi, virtual_size=size, physical_utilisation=size)


@handler("VDI", "resize_online")
def _vdi_resize_online(call, vdi, size):
    _vdi_resize(call, vdi, size)


# --- VIF -----------------------------------------------------------------------------------

@handler("VIF", "create")
def _vif_create(call, record):
    db = call.db
    with db.lock:
        extra = {k: record[k] for k in ("other_config", "qos_algorithm_type",
                                        "qos_algorithm_params", "locking_mode") if k in record}
        return call.sim.network.make_vif(record["VM"], record["network"], record["device"],
                                         record["MAC"], mtu=record["MTU"], **extra)


@handler("VIF", "move")
def _vif_move(call, vif, network):
    # VIF.move (ely+): re-attach the VIF to another network, live if the VM runs.
    db = call.db
    with db.lock:
        db.get("VIF", vif)
        db.get("network", network)
        db.update("VIF", vif, network=network)


@handler("VIF", "plug")
def _vif_plug(call, vif):
    db = call.db
    with db.lock:
        record = db.get("VIF", vif)
        state = db.get("VM", record["VM"])["power_state"]
        if state != "Running":
            raise XapiError("VM_BAD_POWER_STATE", record["VM"], "running", state.lower())
        if record["currently_attached"]:
            raise XapiError("DEVICE_ALREADY_ATTACHED", vif)
        db.update("VIF", vif, currently_attached=True)


@handler("VIF", "unplug")
def _vif_unplug(call, vif):
    db = call.db
    with db.lock:
        record = db.get("VIF", vif)
        state = db.get("VM", record["VM"])["power_state"]      # xapi_vif_helpers.ml
        if state != "Running":
            raise XapiError("VM_BAD_POWER_STATE", record["VM"], "running", state.lower())
        if not record["currently_attached"]:
            raise XapiError("DEVICE_ALREADY_DETACHED", vif)
        db.update("VIF", vif, currently_attached=False)


@handler("VIF", "destroy")
def _vif_destroy(call, vif):
    db = call.db
    with db.lock:
        record = db.get("VIF", vif)
        if record["currently_attached"] and _vm_running(db, record["VM"]):
            # xapi_vif_helpers.ml destroy
            raise XapiError("OPERATION_NOT_ALLOWED", "VIF currently attached to a running VM")
        db.delete("VIF", vif)


@handler("host", "compute_free_memory")
def _free_memory(call, host):
    metrics = call.db.get("host_metrics", call.db.get("host", host)["metrics"])
    return metrics["memory_total"] - call.sim.hosts.used(host)
