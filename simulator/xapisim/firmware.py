"""HVM firmware facts: BIOS/UEFI, Secure Boot, the pool's UEFI certificates, VM.NVRAM.

Rules from xapi-project/xen-api (sources in docs/simulator.md):
- ``HVM_boot_params["firmware"]`` is "bios" (the default when absent) or "uefi"; anything
  else is INVALID_VALUE ["HVM-boot-params['firmware']", value] where xapi reads it
  (xapi_xenops.ml firmware_of_vm: VM.start, VM.get_secureboot_readiness).
- ``platform["secureboot"]`` "auto" becomes "true"/"false" at VM.start: true iff the pool has
  UEFI certificates (xapi_vm.ml update_platform_secureboot, helpers.ml
  get_active_uefi_certificates).
- A UEFI domain's variable store (varstored) is created at its first boot and kept in
  ``NVRAM["EFI-variables"]``; it enrols the pool's certificates (PK, KEK, db, dbx) when the
  pool has them; without them the VM stays in UEFI Setup Mode, where Secure Boot is not
  enforced (xcp-ng-org docs/guides/guest-UEFI-Secure-Boot.md "UEFI Setup Mode").
- VM.get_secureboot_readiness reads firmware, platform:secureboot and the store
  (xapi_vm.ml get_secureboot_readiness); VM.set_uefi_mode runs varstore-sb-state.

The store's encoding is the simulator's own (varstored's binary format is not modelled): base64
of a text listing "<GUID> <name>" lines, as varstore-ls prints them.
"""
import base64
import io
import tarfile

from .api import handler
from .errors import XapiError

GLOBAL_VARIABLE = "8be4df61-93ca-11d2-aa0d-00e098032b8c"      # EFI_GLOBAL_VARIABLE: PK, KEK
IMAGE_SECURITY_DATABASE = "d719b2cb-3d3a-4596-a3bc-dad00e67656f"  # db, dbx
KEY_GUIDS = {"PK": GLOBAL_VARIABLE, "KEK": GLOBAL_VARIABLE,
             "db": IMAGE_SECURITY_DATABASE, "dbx": IMAGE_SECURITY_DATABASE}
STORE_MAGIC = "xapisim-varstore"
# varstore-sb-state prints these while clearing the Secure Boot variables (its stdout is
# VM.set_uefi_mode's result: xapi_vm.ml set_uefi_mode, helpers.ml call_script).
SB_STATE_OUTPUT = "Removing PK...\nRemoving KEK...\nRemoving db...\nRemoving dbx...\n"


# --- the pool's certificates ---------------------------------------------------------------

def certificates_tarball(names=("PK", "KEK", "db", "dbx")):
    """pool.uefi_certificates as xapi fills it: base64 of a tar of <name>.auth files
    (xapi_host.ml really_read_uefi_certificates_from_disk). The files' contents are
    placeholders: nothing in the simulator verifies a signature."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in names:
            data = ("xapisim placeholder for %s.auth\n" % name).encode()
            info = tarfile.TarInfo(name + ".auth")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buffer.getvalue()).decode()


def pool_keys(db):
    """Names of the Secure Boot variables the pool's certificates provide (may be empty)."""
    pool = next(iter(db.all("pool").values()), None)
    text = pool["uefi_certificates"] if pool else ""
    if not text:
        return []
    try:
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(text)), mode="r") as tar:
            names = [member.name for member in tar.getmembers()]
    except (ValueError, tarfile.TarError):
        return []           # xapi: "UEFI tar file was not extracted" -> no certificates
    return [name[:-len(".auth")] for name in names
            if name.endswith(".auth") and name[:-len(".auth")] in KEY_GUIDS]


# --- firmware and the variable store ---------------------------------------------------------

def firmware_of(record):
    value = record["HVM_boot_params"].get("firmware")
    if value is None:
        return "bios"
    if value not in ("bios", "uefi"):
        raise XapiError("INVALID_VALUE", "HVM-boot-params['firmware']", value)
    return value


def _is_true(platform, key):
    """Vm_platform.is_true with default false: "true"/"1" (any case) only."""
    return platform.get(key, "").lower() in ("true", "1")


def encode_store(keys):
    lines = [STORE_MAGIC] + ["%s %s" % (KEY_GUIDS[k], k) for k in KEY_GUIDS if k in keys]
    return base64.b64encode(("\n".join(lines) + "\n").encode()).decode()


def store_keys(record):
    """The Secure Boot variables in the VM's store, or None when it has no store yet."""
    blob = record["NVRAM"].get("EFI-variables")
    if blob is None:
        return None
    try:
        text = base64.b64decode(blob).decode()
    except (ValueError, UnicodeDecodeError):
        return set()
    lines = text.splitlines()
    if not lines or lines[0] != STORE_MAGIC:
        return set()        # a store from elsewhere: the simulator cannot read its keys
    return {line.split(" ", 1)[1] for line in lines[1:] if " " in line}


def readiness(db, vm):
    record = db.get("VM", vm)
    if firmware_of(record) == "bios":
        return "not_supported"
    if not _is_true(record["platform"], "secureboot"):
        return "disabled"
    keys = store_keys(record)
    if keys is None:
        return "first_boot"
    if "PK" not in keys:
        return "setup_mode"
    if {"KEK", "db"} <= keys:
        return "ready" if "dbx" in keys else "ready_no_dbx"
    return "certs_incomplete"


def secureboot_enforced(db, vm):
    """Whether the VM's firmware enforces Secure Boot on this boot: UEFI, platform:secureboot
    on, and a Platform Key in its store (without one, UEFI Setup Mode ignores Secure Boot).
    Contract 4 of issue 17: the HVM firmware model refuses an unsigned image when true."""
    record = db.get("VM", vm)
    if firmware_of(record) != "uefi" or not _is_true(record["platform"], "secureboot"):
        return False
    return "PK" in (store_keys(record) or set())


def secureboot_allows(db, vm, signed):
    """Whether the firmware hands over to a boot loader: anything when not enforced; when
    enforced, only a signed one, and only if the store has a signature database (db)."""
    if not secureboot_enforced(db, vm):
        return True
    return bool(signed) and "db" in store_keys(db.get("VM", vm))


def check_start(db, vm):
    """What VM.start checks and changes before it picks a host (xapi_vm.ml start)."""
    record = db.get("VM", vm)
    firmware_of(record)
    if record["platform"].get("secureboot") == "auto":
        platform = dict(record["platform"], secureboot="true" if pool_keys(db) else "false")
        db.update("VM", vm, platform=platform)


def build_domain(db, vm):
    """The domain is built: BIOS with a vTPM is refused (xapi_xenops.ml, NOT_IMPLEMENTED unless
    xapi runs with ignore-vtpm-unimplemented); a UEFI domain's first boot creates its store."""
    record = db.get("VM", vm)
    firmware = firmware_of(record)
    if firmware == "bios" and record["VTPMs"]:
        raise XapiError("NOT_IMPLEMENTED", "Booting BIOS VM with VTPMs attached")
    if firmware == "uefi" and "EFI-variables" not in record["NVRAM"]:
        nvram = dict(record["NVRAM"], **{"EFI-variables": encode_store(pool_keys(db))})
        db.update("VM", vm, NVRAM=nvram)


# --- handlers ---------------------------------------------------------------------------------

def _changing_nvram(call, vm):
    from .vm import check_operation     # vm imports pool which imports us: late import
    check_operation(call.db, vm, "changing_NVRAM")


@handler("VM", "set_NVRAM")
def _set_nvram(call, vm, value):
    with call.db.lock:
        _changing_nvram(call, vm)
        call.db.update("VM", vm, NVRAM=dict(value))


@handler("VM", "add_to_NVRAM")
def _add_to_nvram(call, vm, key, value):
    with call.db.lock:
        _changing_nvram(call, vm)
        record = call.db.get("VM", vm)
        if key in record["NVRAM"]:
            raise XapiError("MAP_DUPLICATE_KEY", "VM", "NVRAM", vm, key)
        call.db.update("VM", vm, NVRAM=dict(record["NVRAM"], **{key: value}))


@handler("VM", "remove_from_NVRAM")
def _remove_from_nvram(call, vm, key):
    with call.db.lock:
        _changing_nvram(call, vm)
        nvram = dict(call.db.get("VM", vm)["NVRAM"])
        if nvram.pop(key, None) is not None:
            call.db.update("VM", vm, NVRAM=nvram)


@handler("VM", "get_secureboot_readiness")
def _get_secureboot_readiness(call, vm):
    with call.db.lock:
        return readiness(call.db, vm)


@handler("VM", "set_uefi_mode")
def _set_uefi_mode(call, vm, mode):
    """varstore-sb-state <uuid> setup|user: removes PK, KEK, db, dbx; "user" then enrols the
    pool's certificates again (varstored tools/varstore-sb-state.c). A VM without a store gets
    a fresh one, as the tool initialises the variables it loads."""
    db = call.db
    with db.lock:
        record = db.get("VM", vm)
        keys = pool_keys(db) if mode == "user" else []
        db.update("VM", vm, NVRAM=dict(record["NVRAM"], **{"EFI-variables": encode_store(keys)}))
    return SB_STATE_OUTPUT


@handler("pool", "set_uefi_certificates")
def _set_uefi_certificates(call, pool, value):
    raise XapiError("OPERATION_NOT_ALLOWED", "Setting UEFI certificates is deprecated, please "
                    "use `set_custom_uefi_certificates`")


@handler("pool", "set_custom_uefi_certificates")
def _set_custom_uefi_certificates(call, pool, value):
    # xapi's allow-custom-uefi-certs defaults to false (xapi_globs.ml), as on a stock pool.
    raise XapiError("OPERATION_NOT_ALLOWED", "Setting UEFI certificates is not possible when "
                    "allow_custom_uefi_certs is false")
