"""Storage repositories and their host connections: SR.create / forget / destroy, PBD.create /
plug / unplug / destroy.

Sources (xapi-project/xen-api): ocaml/xapi/xapi_sr.ml (create: a PBD per host for a shared SR,
else one on the host given, then every PBD plugged; really_forget), message_forwarding.ml
(SR.destroy / SR.forget: SR_HAS_PBD while a PBD is attached), xapi_pbd.ml (create_common:
PBD_EXISTS; plug/unplug are no-ops when already in that state; unplug: VDI_IN_USE for disks
attached to VMs on that host; destroy: OPERATION_NOT_ALLOWED while attached). The storage
manager's checks and error codes: xapi-project/sm drivers/NFSSR.py, EXTSR.py, FileSR.py and
XE_SR_ERRORCODES.xml, sent as xapi sends them: SR_BACKEND_FAILURE_<code> ["", text, ""].
"""
from .api import handler
from .db import new_uuid
from .errors import XapiError

GiB = 1024 ** 3
# The drivers SR.create knows (others: SR_UNKNOWN_DRIVER) and the device_config keys each
# one's load() requires, in its order, with the storage manager's error for a missing one.
DRIVERS = {
    "ext": [("device", 90, "The request is missing the device parameter")],
    "nfs": [("server", 102, "The request is missing the server parameter"),
            ("serverpath", 101, "The request is missing the serverpath parameter")],
}
DEFAULT_SIZE = {"ext": 512 * GiB, "nfs": 2048 * GiB}


def backend_failure(code, text):
    return XapiError("SR_BACKEND_FAILURE_%d" % code, "", text, "")


def _assert_device_config(sr_type, device_config):
    for key, code, text in DRIVERS.get(sr_type, []):
        if not device_config.get(key):
            raise backend_failure(code, text)


@handler("SR", "create")
def _sr_create(call, host, device_config, physical_size, name_label, name_description,
               sr_type, content_type, shared, sm_config):
    db = call.db
    sr_type = sr_type.lower()
    with db.lock:
        db.get("host", host)
        if sr_type not in DRIVERS:
            raise XapiError("SR_UNKNOWN_DRIVER", sr_type)
        _assert_device_config(sr_type, device_config)
        size = physical_size if physical_size > 0 else DEFAULT_SIZE[sr_type]
        sr = db.create("SR", uuid=new_uuid(), name_label=name_label,
                       name_description=name_description, type=sr_type,
                       content_type=content_type, shared=shared, sm_config=dict(sm_config),
                       physical_size=size, physical_utilisation=0, virtual_allocation=0)
        master = call.sim.master_host
        hosts = [master] + [ref for ref in db.all("host") if ref != master] if shared else [host]
        for each in hosts:
            db.create("PBD", uuid=new_uuid(), SR=sr, host=each, device_config=dict(device_config),
                      currently_attached=True)
        return sr


def _assert_unplugged(db, sr):
    if any(db.get("PBD", pbd)["currently_attached"] for pbd in db.get("SR", sr)["PBDs"]):
        raise XapiError("SR_HAS_PBD", sr)


def _really_forget(db, sr):
    record = db.get("SR", sr)
    for pbd in list(record["PBDs"]):
        db.delete("PBD", pbd)
    for vdi in list(record["VDIs"]):
        db.delete("VDI", vdi)
    db.delete("SR", sr)


@handler("SR", "forget")
def _sr_forget(call, sr):
    db = call.db
    with db.lock:
        _assert_unplugged(db, sr)
        _really_forget(db, sr)


@handler("SR", "destroy")
def _sr_destroy(call, sr):
    db = call.db
    with db.lock:
        _assert_unplugged(db, sr)
        record = db.get("SR", sr)
        if record["type"] in ("ext", "nfs") and record["VDIs"]:
            # FileSR.delete refuses an SR that still holds VDIs (SRNotEmpty)
            raise backend_failure(39, "The SR is not empty [opterr=VDIs still exist in SR]")
        _really_forget(db, sr)


@handler("PBD", "create")
def _pbd_create(call, record):
    db = call.db
    with db.lock:
        sr, host = record["SR"], record["host"]
        db.get("SR", sr)
        db.get("host", host)
        for pbd in db.get("SR", sr)["PBDs"]:
            if db.get("PBD", pbd)["host"] == host:
                raise XapiError("PBD_EXISTS", sr, host, pbd)
        if "SRmaster" in record["device_config"]:
            raise XapiError("VALUE_NOT_SUPPORTED", "SRmaster", record["device_config"]["SRmaster"],
                            "This key is for internal use only")
        return db.create("PBD", uuid=new_uuid(), SR=sr, host=host,
                         device_config=dict(record["device_config"]), currently_attached=False)


@handler("PBD", "plug")
def _pbd_plug(call, pbd):
    db = call.db
    with db.lock:
        record = db.get("PBD", pbd)
        if record["currently_attached"]:
            return
        sr = db.get("SR", record["SR"])
        if not sr["shared"]:
            for other in sr["PBDs"]:
                other_record = db.get("PBD", other)
                if other_record["currently_attached"] and other_record["host"] != record["host"]:
                    raise XapiError("SR_NOT_SHARABLE", record["SR"], other_record["host"])
        _assert_device_config(sr["type"], record["device_config"])
        db.update("PBD", pbd, currently_attached=True)


@handler("PBD", "unplug")
def _pbd_unplug(call, pbd):
    db = call.db
    with db.lock:
        record = db.get("PBD", pbd)
        if not record["currently_attached"]:
            return
        in_use = []
        for vm in db.get("host", record["host"])["resident_VMs"]:
            for vbd in db.get("VM", vm)["VBDs"]:
                vbd_record = db.get("VBD", vbd)
                vdi = vbd_record["VDI"]
                if vbd_record["currently_attached"] and not vbd_record["empty"] and \
                        db.exists("VDI", vdi) and db.get("VDI", vdi)["SR"] == record["SR"]:
                    in_use.append(vdi)
        if in_use:
            raise XapiError("VDI_IN_USE", *in_use)
        db.update("PBD", pbd, currently_attached=False)


@handler("PBD", "destroy")
def _pbd_destroy(call, pbd):
    db = call.db
    with db.lock:
        if db.get("PBD", pbd)["currently_attached"]:
            raise XapiError("OPERATION_NOT_ALLOWED", "PBD is currently attached")
        db.delete("PBD", pbd)
