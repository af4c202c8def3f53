"""firmware, secure_boot and vtpm of the vm module (and vm_fleet entries, vm_info's facts)
against the simulator, through the real SDK: a UEFI VM with Secure Boot and a vTPM from a
XenServer 8 template, no change on a rerun, changes a running VM needs halted for, the removal
of a vTPM, a pool without UEFI certificates, a VM whose variable store lacks the keys, bad input."""
import time

import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils import _client
from xapisim.faults import Scripted

from test_vm import CREATE_CALLS, NO_CHANGE_CALLS

UEFI_TEMPLATE = "Rocky Linux 9"
BIOS_TEMPLATE = "Generic Linux BIOS"
PV_TEMPLATE = "CentOS 5 (64-bit)"
SECURE = dict(firmware="uefi", secure_boot="true", vtpm=True)
# Created from the UEFI template with Secure Boot and a vTPM, no memory, vCPUs or network given:
# vm's budgeted create without the network lookup, memory, vCPUs and VIF, with
# platform:secureboot (the template says auto) and the vTPM where the VIF was. The pool's UEFI
# certificates come in the pool read the default SR needs; the vTPM in the event.from that
# reads the new VM: no call more for either (14 calls).
SECURE_CREATE_CALLS = [call for call in CREATE_CALLS if call not in (
    "network.get_all_records_where", "VM.set_memory_limits", "VM.set_VCPUs_max", "VM.set_VCPUs_at_startup")]
_VIF = SECURE_CREATE_CALLS.index("VIF.create")
SECURE_CREATE_CALLS[_VIF:_VIF + 1] = ["VM.set_platform", "VTPM.create"]
FACTS = ("firmware", "secure_boot", "secure_boot_readiness", "vtpm")


def facts(vm):
    return dict((key, vm[key]) for key in FACTS)


def secure_vm(pool, run_module, name="sb01", **options):
    args = dict(name=name, template=UEFI_TEMPLATE, **SECURE)
    args.update(options)
    result = run_module("vm", **args)
    assert result["changed"] and not result.get("failed"), result
    return result


def vtpms(pool, name):
    return pool.vm(name)[1]["VTPMs"]


def refused(pool, run_module, module, code, needles, **options):
    """Run; it must fail with ``code``, naming every needle, and change nothing on the pool."""
    before = pool.state()
    result = run_module(module, **options)
    assert result.get("failed") is True, result
    assert result.get("error_code") == code, result
    for needle in needles:
        assert needle in result["msg"], (needle, result["msg"])
    assert pool.state() == before
    return result


# --- create, rerun, read back ---------------------------------------------------------------

def test_create_uefi_secure_boot_vtpm_then_no_change(pool, run_module):
    options = dict(name="sb01", template=UEFI_TEMPLATE, **SECURE)
    before = pool.state()
    result = run_module("vm", check_mode=True, diff=True, **options)
    assert result["changed"] is True and result["vm"] == {}
    assert result["diff"]["before"]["secure_boot"] == "auto" and result["diff"]["after"]["secure_boot"] == "true"
    assert result["diff"]["before"]["vtpm"] is False and result["diff"]["after"]["vtpm"] is True
    assert "firmware" not in result["diff"]["after"]         # the template is UEFI already
    assert pool.state() == before

    pool.mark()
    result = run_module("vm", **options)
    assert result["changed"] is True
    assert pool.calls() == SECURE_CREATE_CALLS
    ref, record = pool.vm("sb01")
    assert record["HVM_boot_params"]["firmware"] == "uefi" and record["platform"]["secureboot"] == "true"
    assert len(record["VTPMs"]) == 1 and pool.api.VTPM.get_VM(record["VTPMs"][0]) == ref
    vtpm_uuid = pool.api.VTPM.get_uuid(record["VTPMs"][0])
    assert facts(result["vm"]) == dict(firmware="uefi", secure_boot="true", secure_boot_readiness="first_boot",
                                       vtpm=dict(present=True, uuid=vtpm_uuid))
    assert result["vm"]["secure_boot_readiness"] == pool.api.VM.get_secureboot_readiness(ref)

    # The rerun reads the new facts in the same batched reads: no call more than any no-change run.
    pool.mark()
    result = run_module("vm", **options)
    assert result["changed"] is False and result["changes"]["fields"] == []
    assert pool.calls() == NO_CHANGE_CALLS
    assert facts(result["vm"])["vtpm"] == dict(present=True, uuid=vtpm_uuid)

    info = run_module("vm_info", name="sb01")
    assert facts(info["vm"]) == facts(result["vm"])


def test_started_secure_boot_vm_is_ready_and_rerun_asks_xapi_once(pool, run_module):
    secure_vm(pool, run_module)
    ref, _record = pool.vm("sb01")
    pool.api.VM.start(ref, False, True)     # first boot: the store gets the pool's keys
    assert pool.api.VM.get_secureboot_readiness(ref) == "ready"
    pool.mark()
    result = run_module("vm", name="sb01", **SECURE)
    assert result["changed"] is False, result
    # Only xapi reads a variable store: one VM.get_secureboot_readiness, used for the check and the facts.
    assert pool.calls() == NO_CHANGE_CALLS[:-1] + ["VM.get_secureboot_readiness", "session.logout"]
    assert result["vm"]["secure_boot_readiness"] == "ready"
    info = run_module("vm_info", name="sb01")
    assert info["vm"]["secure_boot_readiness"] == "ready" and info["vm"]["power_state"] == "running"


def test_vm_info_bios_and_pv_vms(pool, run_module):
    run_module("vm", name="bios01", template=BIOS_TEMPLATE)
    run_module("vm", name="pv01", template=PV_TEMPLATE)
    info = run_module("vm_info", filters=dict(name_prefix=""))
    by_name = dict((vm["name"], facts(vm)) for vm in info["vms"])
    no_vtpm = dict(present=False, uuid="")
    assert by_name["bios01"] == dict(firmware="bios", secure_boot="false", secure_boot_readiness="not_supported",
                                     vtpm=no_vtpm)
    assert by_name["pv01"] == dict(firmware="", secure_boot="false", secure_boot_readiness="not_supported",
                                   vtpm=no_vtpm)


# --- changes: halted only, removal -------------------------------------------------------------

def test_changes_on_a_running_vm_need_it_halted(pool, run_module):
    run_module("vm", name="uefi01", template=UEFI_TEMPLATE)
    ref, _record = pool.vm("uefi01")
    pool.api.VM.start(ref, False, True)
    # the start made "auto" "true" (the pool has UEFI certificates)
    refused(pool, run_module, "vm", "VM_NEEDS_HALT", ["secure_boot true -> false", "vtpm False -> True",
                                                      "restart_if_needed"],
            name="uefi01", secure_boot="false", vtpm=True)
    refused(pool, run_module, "vm", "VM_NEEDS_HALT", ["firmware uefi -> bios"], name="uefi01", firmware="bios")

    result = run_module("vm", name="uefi01", secure_boot="false", vtpm=True, restart_if_needed=True, force=True)
    assert result["changed"] is True, result
    assert any("shut VM 'uefi01' down" in action for action in result["changes"]["actions"])
    record = pool.vm("uefi01")[1]
    assert record["power_state"] == "Running" and record["platform"]["secureboot"] == "false"
    assert len(record["VTPMs"]) == 1
    assert result["vm"]["vtpm"]["present"] is True and result["vm"]["power_state"] == "running"


def test_vtpm_false_removes_it_bios_needs_it_gone(pool, run_module):
    secure_vm(pool, run_module)
    # A BIOS VM with a vTPM does not start (xapi: NOT_IMPLEMENTED): refused before any change.
    refused(pool, run_module, "vm", "INVALID_OPTION", ["has a vTPM", "bios", "vtpm: false"],
            name="sb01", firmware="bios", secure_boot="false")
    vtpm_uuid = pool.api.VTPM.get_uuid(vtpms(pool, "sb01")[0])

    result = run_module("vm", name="sb01", vtpm=False, check_mode=True, diff=True)
    assert result["changed"] is True and result["diff"] == {"before": {"vtpm": True}, "after": {"vtpm": False}}
    assert len(vtpms(pool, "sb01")) == 1

    result = run_module("vm", name="sb01", vtpm=False, firmware="bios", secure_boot="false", diff=True)
    assert result["changed"] is True, result
    assert result["diff"]["before"] == {"vtpm": True, "firmware": "uefi", "secure_boot": "true"}
    assert result["diff"]["after"] == {"vtpm": False, "firmware": "bios", "secure_boot": "false"}
    assert vtpms(pool, "sb01") == [] and pool.api.VTPM.get_all_records_where('field "uuid"="%s"' % vtpm_uuid) == {}
    record = pool.vm("sb01")[1]
    assert record["HVM_boot_params"] == {"firmware": "bios", "order": "cdn"}
    assert facts(result["vm"]) == dict(firmware="bios", secure_boot="false", secure_boot_readiness="not_supported",
                                       vtpm=dict(present=False, uuid=""))
    assert run_module("vm", name="sb01", vtpm=False, firmware="bios", secure_boot="false")["changed"] is False

    # and back to UEFI with Secure Boot and a new vTPM, on the halted VM
    result = run_module("vm", name="sb01", **SECURE)
    assert result["changed"] is True and sorted(result["changes"]["fields"]) == ["firmware", "secure_boot", "vtpm"]
    assert result["vm"]["vtpm"]["present"] and result["vm"]["vtpm"]["uuid"] != vtpm_uuid


def test_secure_boot_auto_is_met_by_what_the_start_made_of_it(pool, run_module):
    run_module("vm", name="auto01", template=UEFI_TEMPLATE, secure_boot="auto")
    ref, _record = pool.vm("auto01")
    pool.api.VM.start(ref, False, True)
    assert pool.api.VM.get_platform(ref)["secureboot"] == "true"    # xapi resolved auto at the start
    result = run_module("vm", name="auto01", secure_boot="auto")
    assert result["changed"] is False, result
    assert result["vm"]["secure_boot"] == "true"


# --- Secure Boot that would not be enforced ---------------------------------------------------------

@pytest.mark.parametrize("pool_options", [dict(uefi_certificates=False)])
def test_secure_boot_on_a_pool_without_certificates_fails_before_any_change(pool, run_module):
    result = refused(pool, run_module, "vm", "SECURE_BOOT_NOT_READY",
                     ["VM.get_secureboot_readiness would answer setup_mode", "no UEFI certificates", "auto"],
                     name="sb01", template=UEFI_TEMPLATE, **SECURE)
    assert result["error_params"] == ["setup_mode"]
    assert pool.api.VM.get_by_name_label("sb01") == []
    fleet = run_module("vm_fleet", vms=[dict(name="sb02", template=UEFI_TEMPLATE, **SECURE)])
    assert fleet["failed"] and fleet["failed_vms"] == ["sb02"] and "setup_mode" in fleet["vms"][0]["msg"]
    assert pool.api.VM.get_by_name_label("sb02") == []

    # auto and false are fine: Secure Boot is then off on this pool
    result = run_module("vm", name="auto01", template=UEFI_TEMPLATE, secure_boot="auto", vtpm=True)
    assert result["changed"] and result["vm"]["secure_boot"] == "auto", result


@pytest.mark.parametrize("pool_options", [dict(uefi_certificates=False)])
def test_secure_boot_vm_whose_store_lacks_the_keys_fails_naming_readiness(pool, run_module):
    run_module("vm", name="sb01", template=UEFI_TEMPLATE, secure_boot="false")
    ref, _record = pool.vm("sb01")
    pool.api.VM.remove_from_platform(ref, "secureboot")
    pool.api.VM.add_to_platform(ref, "secureboot", "true")
    pool.api.VM.start(ref, False, True)     # first boot: no certificates to enrol, setup mode
    pool.api.VM.hard_shutdown(ref)
    assert pool.api.VM.get_secureboot_readiness(ref) == "setup_mode"
    result = refused(pool, run_module, "vm", "SECURE_BOOT_NOT_READY",
                     ["VM.get_secureboot_readiness answers setup_mode", "mode=user"],
                     name="sb01", secure_boot="true")
    assert result["error_params"] == ["setup_mode"]
    platform = pool.api.VM.get_platform(ref)
    result = run_module("vm", name="sb01", secure_boot="false")
    assert result["changed"] and pool.api.VM.get_platform(ref) == dict(platform, secureboot="false")


def test_vtpm_on_a_pool_whose_license_restricts_it_fails_before_any_change(pool, run_module):
    db = pool.sim.db
    with db.lock:       # a pool whose license does not lift the restriction (xapi_vtpm.ml)
        db.update("pool", next(iter(db.all("pool"))), restrictions={"restrict_vtpm": "true"})
    result = refused(pool, run_module, "vm", "FEATURE_RESTRICTED", ["restrict_vtpm", "vTPM"],
                     name="x", template=UEFI_TEMPLATE, vtpm=True)
    assert result["error_params"] == ["restrict_vtpm"]
    assert pool.api.VM.get_by_name_label("x") == []


# --- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, needles", [
    (dict(firmware="efi"), ["firmware", "efi"]),
    (dict(secure_boot="yes"), ["secure_boot", "yes"]),
    (dict(vtpm="maybe"), ["vtpm", "maybe"]),
    (dict(firmware="bios", secure_boot="true"), ["secure_boot: true needs firmware: uefi"]),
    (dict(firmware="bios", vtpm=True), ["vtpm: true needs firmware: uefi"]),
])
def test_bad_values_fail_before_connecting(pool, run_module, options, needles):
    pool.mark()
    result = run_module("vm", name="x", template=UEFI_TEMPLATE, **options)
    assert result.get("failed"), result
    for needle in needles:
        assert needle in result["msg"], result["msg"]
    assert pool.calls() == []


@pytest.mark.parametrize("template, options, needles", [
    (PV_TEMPLATE, dict(firmware="uefi"), ["PV guest", "firmware"]),
    (PV_TEMPLATE, dict(vtpm=True), ["PV guest", "vtpm"]),
    (BIOS_TEMPLATE, dict(secure_boot="true"), ["secure_boot: true needs UEFI", "bios", "firmware: uefi"]),
    (BIOS_TEMPLATE, dict(vtpm=True), ["would get a vTPM", "bios"]),
])
def test_values_the_template_cannot_take_fail_before_the_clone(pool, run_module, template, options, needles):
    refused(pool, run_module, "vm", "INVALID_OPTION", needles, name="x", template=template, **options)
    assert pool.api.VM.get_by_name_label("x") == []


# --- vm_fleet ----------------------------------------------------------------------------------------

def test_vm_fleet_entries_take_the_same_options(pool, run_module):
    vms = [dict(name="sb%02d" % i, template=UEFI_TEMPLATE, **SECURE) for i in (1, 2)]
    vms.append(dict(name="bios01", template=BIOS_TEMPLATE, firmware="bios", vtpm=False))
    result = run_module("vm_fleet", vms=vms)
    assert result["changed"] and not result.get("failed"), result
    for name in ("sb01", "sb02"):
        record = pool.vm(name)[1]
        assert record["HVM_boot_params"]["firmware"] == "uefi" and record["platform"]["secureboot"] == "true"
        assert len(record["VTPMs"]) == 1
    assert vtpms(pool, "bios01") == []
    again = run_module("vm_fleet", vms=vms)
    assert again["changed"] is False, again
    bad = run_module("vm_fleet", vms=[dict(name="z", template=UEFI_TEMPLATE, firmware="efi")])
    assert bad["failed"] and "firmware" in bad["msg"] and "efi" in bad["msg"]


# --- RBAC ------------------------------------------------------------------------------------------

ROLES = {"root": ("xenroot", "pool-admin"), "vmadmin": ("vmadmin-pw", "vm-admin"),
         "reader": ("reader-pw", "read-only")}


@pytest.mark.parametrize("pool_options", [dict(users=ROLES)])
def test_vm_admin_is_enough_and_readiness_is_pool_admin_only(pool, run_module):
    def as_user(user, **options):
        return dict(options, connection=False, hostname=pool.url, username=user, password=ROLES[user][0])
    # VTPM.create / destroy, set_platform, set_HVM_boot_params: vm-admin and above (datamodel_vtpm.ml).
    result = run_module("vm", **as_user("vmadmin", name="sb01", template=UEFI_TEMPLATE, **SECURE))
    assert result["changed"] and not result.get("failed"), result
    ref, _record = pool.vm("sb01")
    pool.api.VM.start(ref, False, True)
    # VM.get_secureboot_readiness is pool-admin only: other roles read null, and the module
    # cannot check the store for them (it goes on, as before the check).
    for user in ("reader", "vmadmin"):
        info = run_module("vm_info", **as_user(user, name="sb01"))
        assert not info.get("failed") and info["vm"]["secure_boot_readiness"] is None, info
    assert run_module("vm", **as_user("vmadmin", name="sb01", **SECURE))["changed"] is False
    assert run_module("vm_info", name="sb01")["vm"]["secure_boot_readiness"] == "ready"
    denied = run_module("vm", **as_user("reader", name="sb01", vtpm=False, restart_if_needed=True))
    assert denied["failed"] and denied["error_code"] == "RBAC_PERMISSION_DENIED", denied


# --- a lost answer ---------------------------------------------------------------------------------

class _NoWait(object):
    """The client's reconnect backoff, without the waiting."""
    sleep = staticmethod(lambda seconds: None)
    time = staticmethod(time.time)


def test_lost_answer_to_vtpm_create_is_looked_up_not_repeated(pool, run_module, monkeypatch):
    monkeypatch.setattr(_client, "time", _NoWait())
    run_module("vm", name="uefi01", template=UEFI_TEMPLATE)
    faults = Scripted(reset_after={"VTPM.create": 1})       # made, then the connection drops
    for server in pool.servers:
        server.faults = faults
    pool.mark()
    result = run_module("vm", name="uefi01", vtpm=True)
    assert result["changed"] and not result.get("failed"), result
    calls = pool.calls()
    assert calls.count("VTPM.create") == 1 and "VTPM.get_all_records_where" in calls, calls
    assert len(vtpms(pool, "uefi01")) == 1 and result["vm"]["vtpm"]["present"] is True
