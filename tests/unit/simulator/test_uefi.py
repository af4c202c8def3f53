"""UEFI firmware, Secure Boot, VM.NVRAM and VTPM through the unmodified SDK (xapi
ocaml/xapi/xapi_vm.ml get_secureboot_readiness / set_uefi_mode / update_platform_secureboot,
xapi_xenops.ml firmware_of_vm, xapi_vtpm.ml, xapi_vm_lifecycle.ml; docs/simulator.md)."""
import base64
import http.client
import io
import tarfile
import time
import urllib.parse
from unittest import mock

import pytest
import XenAPI

from xapisim import firmware, images

OPERATOR = ("operator", "op-pass", "vm-operator")
POOL_OPERATOR = ("pooler", "pool-pass", "pool-operator")
USERS = {"root": ("xenroot", "pool-admin"), OPERATOR[0]: OPERATOR[1:], POOL_OPERATOR[0]: POOL_OPERATOR[1:]}
UEFI_TEMPLATE = "Rocky Linux 9"
BIOS_TEMPLATE = "Debian Bullseye 11"


def new_vm(x, template=UEFI_TEMPLATE, name="uefi-vm", secureboot=None):
    (tmpl,) = x.VM.get_by_name_label(template)
    vm = x.VM.clone(tmpl, name)
    x.VM.set_is_a_template(vm, False)
    if secureboot is not None:
        x.VM.remove_from_platform(vm, "secureboot")
        x.VM.add_to_platform(vm, "secureboot", secureboot)
    return vm


def cycle(x, vm):
    x.VM.start(vm, False, False)
    x.VM.hard_shutdown(vm)


def denied(permission, roles):
    return ["RBAC_PERMISSION_DENIED", permission,
            "No permission in user session. (Roles with this permission: %s)" % ", ".join(roles)]


VM_ADMINS = ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin"]


@pytest.fixture
def certless(make_pool, login):
    return login(make_pool(uefi_certificates=False).url)


# --- the pool's certificates ------------------------------------------------------------------

def test_default_pool_has_uefi_certificates(shared_api):
    (pool,) = shared_api.pool.get_all()
    text = shared_api.pool.get_uefi_certificates(pool)
    with tarfile.open(fileobj=io.BytesIO(base64.b64decode(text))) as tar:
        assert sorted(tar.getnames()) == ["KEK.auth", "PK.auth", "db.auth", "dbx.auth"]
    host = shared_api.pool.get_master(pool)
    assert shared_api.host.get_uefi_certificates(host) == text
    assert shared_api.pool.get_restrictions(pool)["restrict_vtpm"] == "false"


def test_pool_without_certificates(certless):
    (pool,) = certless.pool.get_all()
    assert certless.pool.get_uefi_certificates(pool) == ""


def test_certificates_cannot_be_set_through_the_api(api, fails):
    (pool,) = api.pool.get_all()
    with fails("OPERATION_NOT_ALLOWED", "Setting UEFI certificates is deprecated, please use "
               "`set_custom_uefi_certificates`"):
        api.pool.set_uefi_certificates(pool, "")
    with fails("OPERATION_NOT_ALLOWED", "Setting UEFI certificates is not possible when "
               "allow_custom_uefi_certs is false"):
        api.pool.set_custom_uefi_certificates(pool, "")
    assert api.pool.get_uefi_certificates(pool) != ""


def test_serve_option_makes_a_pool_without_certificates(serve):
    served = serve("--no-uefi-certificates", "--template-set", "modern")
    session = XenAPI.Session(served.url)
    session.xenapi.login_with_password("root", "xenroot", "1.0", "test")
    try:
        (pool,) = session.xenapi.pool.get_all()
        assert session.xenapi.pool.get_uefi_certificates(pool) == ""
    finally:
        session.xenapi.session.logout()


# --- firmware ---------------------------------------------------------------------------------

def test_bad_firmware_fails_where_xapi_reads_it(api, fails):
    vm = new_vm(api)
    params = dict(api.VM.get_HVM_boot_params(vm), firmware="efi")
    api.VM.set_HVM_boot_params(vm, params)          # a plain setter: no check here
    with fails("INVALID_VALUE", "HVM-boot-params['firmware']", "efi"):
        api.VM.start(vm, False, False)
    assert api.VM.get_power_state(vm) == "Halted"
    assert api.VM.get_NVRAM(vm) == {}
    with fails("INVALID_VALUE", "HVM-boot-params['firmware']", "efi"):
        api.VM.get_secureboot_readiness(vm)


def test_missing_firmware_is_bios(api):
    vm = new_vm(api, secureboot="true")
    params = api.VM.get_HVM_boot_params(vm)
    del params["firmware"]
    api.VM.set_HVM_boot_params(vm, params)
    assert api.VM.get_secureboot_readiness(vm) == "not_supported"
    cycle(api, vm)
    assert api.VM.get_NVRAM(vm) == {}               # no varstored for a BIOS domain


# --- Secure Boot readiness ------------------------------------------------------------------

def test_readiness_with_certificates(api, pool):
    bios = new_vm(api, BIOS_TEMPLATE, "bios-vm")
    assert api.VM.get_secureboot_readiness(bios) == "not_supported"
    off = new_vm(api, name="off", secureboot="false")
    auto = new_vm(api, name="auto")
    assert api.VM.get_platform(auto)["secureboot"] == "auto"
    assert api.VM.get_secureboot_readiness(auto) == "disabled"   # "auto" is not true until start
    on = new_vm(api, name="on", secureboot="true")
    assert api.VM.get_secureboot_readiness(on) == "first_boot"
    assert api.VM.get_secureboot_readiness(off) == "disabled"
    for vm in (off, auto, on):
        cycle(api, vm)
    assert api.VM.get_platform(auto)["secureboot"] == "true"     # certificates present
    assert api.VM.get_secureboot_readiness(auto) == "ready"
    assert api.VM.get_secureboot_readiness(on) == "ready"
    assert api.VM.get_secureboot_readiness(off) == "disabled"
    assert "EFI-variables" in api.VM.get_NVRAM(off)              # a UEFI store all the same
    assert firmware.secureboot_enforced(pool.sim.db, on)
    assert not firmware.secureboot_enforced(pool.sim.db, off)
    assert not firmware.secureboot_enforced(pool.sim.db, bios)


def test_readiness_without_certificates_is_setup_mode(make_pool, login):
    pool = make_pool(uefi_certificates=False)
    x = login(pool.url)
    auto = new_vm(x, name="auto")
    on = new_vm(x, name="on", secureboot="true")
    cycle(x, auto)
    cycle(x, on)
    assert x.VM.get_platform(auto)["secureboot"] == "false"      # no certificates: auto -> false
    assert x.VM.get_secureboot_readiness(auto) == "disabled"
    assert x.VM.get_secureboot_readiness(on) == "setup_mode"
    assert not firmware.secureboot_enforced(pool.sim.db, on)     # Setup Mode enforces nothing
    assert firmware.secureboot_allows(pool.sim.db, on, signed=False)


@pytest.mark.parametrize("keys,state", [(("PK", "KEK", "db"), "ready_no_dbx"),
                                        (("PK",), "certs_incomplete")])
def test_readiness_with_partial_certificates(make_pool, login, keys, state):
    # A pool whose certificates lack dbx (secureboot-certs install ... none), or hold only
    # the PK (XCP-ng's legacy default): the store a first boot gets has only those.
    pool = make_pool()
    with pool.sim.db.lock:
        (ref,) = pool.sim.db.all("pool")
        pool.sim.db.update("pool", ref, uefi_certificates=firmware.certificates_tarball(keys))
    x = login(pool.url)
    vm = new_vm(x, secureboot="true")
    cycle(x, vm)
    assert x.VM.get_secureboot_readiness(vm) == state
    assert firmware.secureboot_enforced(pool.sim.db, vm)
    assert not firmware.secureboot_allows(pool.sim.db, vm, signed=False)
    assert firmware.secureboot_allows(pool.sim.db, vm, signed=True) == ("db" in keys)


def test_readiness_needs_pool_admin(make_pool, login, fails):
    pool = make_pool(users=USERS)
    vm = new_vm(login(pool.url))
    x = login(pool.url, *POOL_OPERATOR[:2])
    with fails(*denied("vm.get_secureboot_readiness", ["pool-admin"])):
        x.VM.get_secureboot_readiness(vm)
    with fails(*denied("vm.set_uefi_mode", ["pool-admin"])):
        x.VM.set_uefi_mode(vm, "setup")


# --- set_uefi_mode ----------------------------------------------------------------------------

def test_set_uefi_mode(api, pool):
    vm = new_vm(api, secureboot="true")
    cycle(api, vm)
    assert api.VM.get_secureboot_readiness(vm) == "ready"
    result = api.VM.set_uefi_mode(vm, "setup")
    assert result == "Removing PK...\nRemoving KEK...\nRemoving db...\nRemoving dbx...\n"
    assert api.VM.get_secureboot_readiness(vm) == "setup_mode"
    assert not firmware.secureboot_enforced(pool.sim.db, vm)
    assert api.VM.set_uefi_mode(vm, "user") == result
    assert api.VM.get_secureboot_readiness(vm) == "ready"
    assert firmware.secureboot_enforced(pool.sim.db, vm)


def test_set_uefi_mode_user_without_certificates_stays_in_setup_mode(certless):
    vm = new_vm(certless, secureboot="true")
    assert certless.VM.get_secureboot_readiness(vm) == "first_boot"
    certless.VM.set_uefi_mode(vm, "user")          # the tool initialises a fresh store
    assert certless.VM.get_secureboot_readiness(vm) == "setup_mode"


def test_set_uefi_mode_refuses_an_unknown_mode(api):
    vm = new_vm(api)
    with pytest.raises(XenAPI.Failure):
        api.VM.set_uefi_mode(vm, "deployed")
    assert api.VM.get_NVRAM(vm) == {}


# --- NVRAM ------------------------------------------------------------------------------------

def test_nvram_changes_only_while_halted(api, fails):
    vm = new_vm(api)
    assert api.VM.get_NVRAM(vm) == {}
    api.VM.set_NVRAM(vm, {"EFI-variables-backend": "xapidb"})
    api.VM.add_to_NVRAM(vm, "other", "1")
    with fails("MAP_DUPLICATE_KEY", "VM", "NVRAM", vm, "other"):
        api.VM.add_to_NVRAM(vm, "other", "2")
    api.VM.remove_from_NVRAM(vm, "other")
    assert api.VM.get_NVRAM(vm) == {"EFI-variables-backend": "xapidb"}
    api.VM.start(vm, False, False)
    nvram = api.VM.get_NVRAM(vm)
    assert "EFI-variables" in nvram                  # created by the first boot
    for change in (lambda: api.VM.set_NVRAM(vm, {}), lambda: api.VM.add_to_NVRAM(vm, "k", "v"),
                   lambda: api.VM.remove_from_NVRAM(vm, "EFI-variables")):
        with fails("VM_BAD_POWER_STATE", vm, "halted", "running"):
            change()
    assert api.VM.get_NVRAM(vm) == nvram
    api.VM.hard_shutdown(vm)
    assert api.VM.get_platform(vm)["secureboot"] == "true"       # "auto" resolved at start
    api.VM.remove_from_NVRAM(vm, "EFI-variables")
    assert api.VM.get_secureboot_readiness(vm) == "first_boot"    # as if never booted


def test_nvram_on_a_template_and_rbac(make_pool, login, fails):
    pool = make_pool(users=USERS)
    x = login(pool.url)
    (tmpl,) = x.VM.get_by_name_label(UEFI_TEMPLATE)
    x.VM.add_to_NVRAM(tmpl, "k", "v")               # changing_NVRAM is a template operation
    assert x.VM.get_NVRAM(tmpl) == {"k": "v"}
    op = login(pool.url, *OPERATOR[:2])
    with fails(*denied("vm.set_nvram", VM_ADMINS)):
        op.VM.set_NVRAM(tmpl, {})
    assert op.VM.get_NVRAM(tmpl) == {"k": "v"}


# --- VTPM -------------------------------------------------------------------------------------

def test_vtpm_create_and_destroy(api, fails):
    vm = new_vm(api)
    vtpm = api.VTPM.create(vm, True)
    record = api.VTPM.get_record(vtpm)
    assert record == {"uuid": mock.ANY, "VM": vm, "backend": "OpaqueRef:NULL",
                      "persistence_backend": "xapi", "is_unique": True, "is_protected": False,
                      "allowed_operations": ["destroy"], "current_operations": {}}
    assert api.VM.get_VTPMs(vm) == [vtpm]
    with fails("VTPM_MAX_AMOUNT_REACHED", "1"):
        api.VTPM.create(vm, False)
    api.VM.start(vm, False, False)
    assert api.VTPM.get_allowed_operations(vtpm) == []
    with fails("VM_BAD_POWER_STATE", vm, "halted;suspended", "running"):
        api.VTPM.destroy(vtpm)
    api.VM.hard_shutdown(vm)
    assert api.VTPM.get_allowed_operations(vtpm) == ["destroy"]
    api.VTPM.destroy(vtpm)
    assert api.VM.get_VTPMs(vm) == [] and api.VTPM.get_all() == []


def test_vtpm_create_needs_a_halted_vm(api, fails):
    vm = new_vm(api)
    api.VM.start(vm, False, False)
    with fails("VM_BAD_POWER_STATE", vm, "halted", "running"):
        api.VTPM.create(vm, False)
    assert api.VM.get_VTPMs(vm) == []
    (tmpl,) = api.VM.get_by_name_label(UEFI_TEMPLATE)
    with fails("VM_IS_TEMPLATE", tmpl, "create_vtpm"):
        api.VTPM.create(tmpl, False)


def test_vtpm_async_create(api):
    vm = new_vm(api)
    task = api.Async.VTPM.create(vm, False)
    for _tick in range(200):
        if api.task.get_status(task) != "pending":
            break
        time.sleep(0.02)
    assert api.task.get_status(task) == "success"
    assert api.VM.get_VTPMs(vm) != []


def test_vtpm_rbac(make_pool, login, fails):
    pool = make_pool(users=USERS)
    vm = new_vm(login(pool.url))
    op = login(pool.url, *OPERATOR[:2])
    with fails(*denied("vtpm.create", VM_ADMINS)):
        op.VTPM.create(vm, False)
    vtpm = login(pool.url).VTPM.create(vm, False)
    with fails(*denied("vtpm.destroy", VM_ADMINS)):
        op.VTPM.destroy(vtpm)
    assert op.VTPM.get_VM(vtpm) == vm               # reading is open to every role
    assert login(pool.url, *POOL_OPERATOR[:2]).VTPM.destroy(vtpm) == ""


def test_vtpm_follows_clone_snapshot_and_destroy(api):
    vm = new_vm(api)
    original = api.VTPM.create(vm, True)
    clone = api.VM.clone(vm, "clone")
    (copied,) = api.VM.get_VTPMs(clone)
    assert api.VTPM.get_VM(copied) == clone and api.VM.get_VTPMs(vm) == [original]
    assert api.VTPM.get_is_unique(copied) is True
    snapshot = api.VM.snapshot(vm, "snap")
    (kept,) = api.VM.get_VTPMs(snapshot)
    assert api.VTPM.get_VM(kept) == snapshot
    api.VM.destroy(clone)
    api.VM.destroy(snapshot)
    assert api.VTPM.get_all() == [original]


def test_bios_vm_with_vtpm_does_not_start(api, fails):
    vm = new_vm(api, BIOS_TEMPLATE, "bios-vm")
    api.VTPM.create(vm, False)
    with fails("NOT_IMPLEMENTED", "Booting BIOS VM with VTPMs attached"):
        api.VM.start(vm, False, False)
    assert api.VM.get_power_state(vm) == "Halted"


# --- contract 4: what the HVM firmware model does with it -----------------------------------

def _boots_unsigned_image(make_pool, tmp_path, **options):
    """An unsigned Rocky 9 cloud image (xapisim.images) uploaded with PUT /import_raw_vdi into a
    Secure Boot VM; returns (x, vm, pool) after the first boot settled."""
    images.write_samples(str(tmp_path))
    data = (tmp_path / "Rocky-9-GenericCloud-unsigned.x86_64.raw").read_bytes()
    pool = make_pool(clock_speed=100000.0, **options)
    session = XenAPI.Session(pool.url)
    session.xenapi.login_with_password("root", "xenroot", "1.0", "test_uefi")
    x = session.xenapi
    vm = new_vm(x, "Rocky Linux 9", "sb", secureboot="true")
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    vdi = x.VDI.create({"name_label": "disk", "name_description": "", "SR": sr,
                        "virtual_size": str(images.DISK_SIZE), "type": "user", "sharable": False,
                        "read_only": False, "other_config": {}, "xenstore_data": {},
                        "sm_config": {}, "tags": []})
    url = urllib.parse.urlparse(pool.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request("PUT", "/import_raw_vdi?" + urllib.parse.urlencode(
        {"session_id": session._session, "vdi": vdi, "format": "raw"}), body=data,
        headers={"Content-Length": str(len(data))})
    reply = connection.getresponse()
    assert reply.status == 200
    reply.read()        # the 200 comes before the body is read; the upload ends at EOF
    connection.close()
    x.VBD.create({"VM": vm, "VDI": vdi, "userdevice": "0", "bootable": True, "mode": "RW",
                  "type": "Disk", "empty": False, "other_config": {}, "qos_algorithm_type": "",
                  "qos_algorithm_params": {}})
    return x, vm, pool


def _stage(pool, vm):
    state = pool.sim.guests.wait(vm, lambda s: s.get("stage") in ("booted", "no-bootable-device"))
    return state["stage"]


def test_setup_mode_boots_an_unsigned_image(make_pool, tmp_path):
    x, vm, pool = _boots_unsigned_image(make_pool, tmp_path, uefi_certificates=False)
    x.VM.start(vm, False, False)
    assert _stage(pool, vm) == "booted"            # Secure Boot wanted, not enforced
    assert x.VM.get_secureboot_readiness(vm) == "setup_mode"


def test_user_mode_refuses_an_unsigned_image_and_setup_mode_lets_it_boot(make_pool, tmp_path):
    x, vm, pool = _boots_unsigned_image(make_pool, tmp_path)
    x.VM.start(vm, False, False)
    assert _stage(pool, vm) == "no-bootable-device"
    assert x.VM.get_secureboot_readiness(vm) == "ready"
    x.VM.hard_shutdown(vm)
    x.VM.set_uefi_mode(vm, "setup")
    x.VM.start(vm, False, False)
    assert _stage(pool, vm) == "booted"
