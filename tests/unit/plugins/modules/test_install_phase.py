"""install_phase against the simulator, through the real SDK: every phase of both routes, from
VMs put in that state as an install (or an interruption) leaves them; vm_answer_drive's volume
(OEMDRV, read by the simulated installer as anaconda reads it), idempotent, replaced, removed."""
import io

import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils import _install_phase as phases
from xapisim import images

PV_TEMPLATE = "CentOS 5 (64-bit)"
HVM_TEMPLATE = "Rocky Linux 9"
MARKER = phases.MARKER_KEY


@pytest.fixture(autouse=True)
def _no_warnings_left_behind():
    yield
    from ansible.module_utils.common import warnings
    for name in ("_global_warnings", "_global_deprecations"):
        getattr(warnings, name, {}).clear()


def phase(run_module, name, route):
    result = run_module("install_phase", name=name, route=route)
    assert not result.get("failed") and result["changed"] is False, result
    assert result["next_step"] == phases.NEXT_STEP[result["phase"]]
    assert result["install_ahead"] == (result["phase"] in ("absent", "install", "check_disk"))
    return result


def pv_vm(pool, name, **other_config):
    return pool.provisioned_vm(name, PV_TEMPLATE, other_config or None)


def hvm_vm(pool, run_module, name, marker=phases.CREATED):
    result = run_module("vm", name=name, template=HVM_TEMPLATE, other_config={MARKER: marker} if marker else {})
    assert result["changed"], result
    return pool.vm(name)[0]


def running_pv(pool, name, pv_args=""):
    """A PV VM running a dom0 kernel (no install tree needed), then set up as the install left it."""
    vm = pv_vm(pool, name)
    pool.boot_directly(vm)
    pool.api.VM.start(vm, False, False)
    pool.api.VM.set_PV_bootloader(vm, "pygrub")
    pool.api.VM.set_PV_args(vm, pv_args)
    return vm


# --- route eliloader ----------------------------------------------------------------------------

def test_pv_absent_and_the_tools_iso(pool, run_module):
    result = phase(run_module, "nothing-here", "eliloader")
    assert result["phase"] == "absent" and result["exists"] is False and result["vm"] == {}
    tools = pool.api.VDI.get_all_records_where('field "is_tools_iso"="true"')
    assert len(tools) == 1
    (vdi,) = tools.values()
    assert result["tools_iso"] == {"name": vdi["name_label"], "uuid": vdi["uuid"]}


def test_pv_install_round2_check_disk_boot(pool, run_module):
    vm = pv_vm(pool, "pv-phases")
    assert pool.api.VM.get_PV_bootloader(vm) == "eliloader"
    result = phase(run_module, "pv-phases", "eliloader")
    assert result["phase"] == "install" and result["marker"] == "" and result["vm"]["uuid"]

    pool.api.VM.add_to_other_config(vm, "install-round", "2")
    assert phase(run_module, "pv-phases", "eliloader")["phase"] == "round2"

    # pygrub, halted: the install was not seen to finish (no marker, or the installer marker)
    pool.api.VM.remove_from_other_config(vm, "install-round")
    pool.api.VM.set_PV_bootloader(vm, "pygrub")
    assert phase(run_module, "pv-phases", "eliloader")["phase"] == "check_disk"
    pool.api.VM.add_to_other_config(vm, MARKER, phases.INSTALLER)
    assert phase(run_module, "pv-phases", "eliloader")["phase"] == "check_disk"

    pool.api.VM.remove_from_other_config(vm, MARKER)
    pool.api.VM.add_to_other_config(vm, MARKER, phases.INSTALLED)
    result = phase(run_module, "pv-phases", "eliloader")
    assert result["phase"] == "boot" and result["marker"] == "installed"

    pool.api.VM.remove_from_other_config(vm, MARKER)
    pool.api.VM.add_to_other_config(vm, MARKER, phases.CUT_SHORT)
    assert phase(run_module, "pv-phases", "eliloader")["phase"] == "install"


def test_pv_installing_and_booted(pool, run_module):
    running_pv(pool, "pv-installing", "console=xvc0 ks=http://192.0.2.1/pv.ks")
    result = phase(run_module, "pv-installing", "eliloader")
    assert result["phase"] == "installing" and result["vm"]["power_state"] == "running"

    vm = running_pv(pool, "pv-booted", "console=xvc0")
    result = phase(run_module, "pv-booted", "eliloader")
    assert result["phase"] == "booted"
    # a running eliloader VM is its installer, whatever its kernel line
    pool.api.VM.set_PV_bootloader(vm, "eliloader")
    assert phase(run_module, "pv-booted", "eliloader")["phase"] == "installing"


def test_pv_resume_and_foreign(pool, run_module):
    vm = running_pv(pool, "pv-paused")
    pool.api.VM.pause(vm)
    result = phase(run_module, "pv-paused", "eliloader")
    assert result["phase"] == "resume" and result["reason"] == "paused"

    hvm_vm(pool, run_module, "hvm-for-pv", marker=None)
    result = phase(run_module, "hvm-for-pv", "eliloader")
    assert result["phase"] == "foreign" and "HVM: True" in result["reason"]


# --- route iso ----------------------------------------------------------------------------------

def test_iso_foreign(pool, run_module):
    hvm_vm(pool, run_module, "hvm-unmarked", marker=None)
    result = phase(run_module, "hvm-unmarked", "iso")
    assert result["phase"] == "foreign" and MARKER in result["reason"]
    pv_vm(pool, "pv-for-iso")
    assert phase(run_module, "pv-for-iso", "iso")["phase"] == "foreign"


def test_iso_install_installing_eject_boot_booted_resume(pool, run_module):
    vm = hvm_vm(pool, run_module, "iso-phases")
    result = phase(run_module, "iso-phases", "iso")
    assert result["phase"] == "install" and result["marker"] == "created" and result["media"] == []

    # halted again after the installer started (cut short, or its end not seen): install again
    pool.api.VM.remove_from_other_config(vm, MARKER)
    pool.api.VM.add_to_other_config(vm, MARKER, phases.INSTALLER)
    assert phase(run_module, "iso-phases", "iso")["phase"] == "install"

    # running the installer (the empty disk boots nothing: the VM runs all the same)
    pool.api.VM.start(vm, False, False)
    assert phase(run_module, "iso-phases", "iso")["phase"] == "installing"
    pool.api.VM.hard_shutdown(vm)

    # installed, its media still there: each one alone makes it 'eject'
    pool.api.VM.remove_from_other_config(vm, MARKER)
    pool.api.VM.add_to_other_config(vm, MARKER, phases.INSTALLED)
    assert phase(run_module, "iso-phases", "iso")["phase"] == "boot"
    pool.api.VM.remove_from_HVM_boot_params(vm, "order")
    pool.api.VM.add_to_HVM_boot_params(vm, "order", "dc")
    result = phase(run_module, "iso-phases", "iso")
    assert result["phase"] == "eject" and result["media"] == ["boot order dc"]
    pool.api.VM.remove_from_HVM_boot_params(vm, "order")
    pool.api.VM.add_to_HVM_boot_params(vm, "order", "cd")
    tools = phase(run_module, "iso-phases", "iso")["tools_iso"]
    assert run_module("vm_cdrom", name="iso-phases", iso=tools["uuid"])["changed"]
    result = phase(run_module, "iso-phases", "iso")
    assert result["phase"] == "eject" and result["media"] == ["CD %s" % tools["name"]]
    assert run_module("vm_cdrom", name="iso-phases", state="ejected")["changed"]
    drive = run_module("vm_answer_drive", name="iso-phases", files={"ks.cfg": "text\npoweroff\n"})
    assert drive["changed"], drive
    result = phase(run_module, "iso-phases", "iso")
    assert result["phase"] == "eject" and result["media"] == ["answer drive %s" % drive["drive"]["userdevice"]]
    assert [d["answer_drive"] for d in result["vm"]["disks"]].count(True) == 1
    assert run_module("vm_answer_drive", name="iso-phases", state="absent")["changed"]
    assert phase(run_module, "iso-phases", "iso")["phase"] == "boot"

    pool.api.VM.start(vm, False, False)
    assert phase(run_module, "iso-phases", "iso")["phase"] == "booted"
    pool.api.VM.pause(vm)
    assert phase(run_module, "iso-phases", "iso")["phase"] == "resume"


def test_iso_running_without_the_installer_is_not_taken_up(pool, run_module):
    vm = hvm_vm(pool, run_module, "iso-started-by-hand")
    pool.api.VM.start(vm, False, False)
    result = phase(run_module, "iso-started-by-hand", "iso")
    assert result["phase"] == "foreign" and "not started its installer" in result["reason"]


def test_bad_input(run_module):
    result = run_module("install_phase", name="x", route="pxe")
    assert result["failed"] and "pxe" in result["msg"]


# --- vm_answer_drive ----------------------------------------------------------------------------

def _drive_bytes(pool, uuid):
    with pool.sim.vdi_store.open(uuid, "rb") as handle:
        return handle.read()


def test_answer_drive_made_idempotent_replaced_removed(pool, run_module):
    hvm_vm(pool, run_module, "drive01")
    files = {"ks.cfg": "text\nrootpw --iscrypted $6$salt$secret-hash\npoweroff\n"}
    check = run_module("vm_answer_drive", check_mode=True, diff=True, name="drive01", files=files)
    assert check["changed"] and check["drive"]["vdi_uuid"] == ""
    assert "secret-hash" not in str(check)
    made = run_module("vm_answer_drive", name="drive01", files=files)
    assert made["changed"] and made["upload"] and "secret-hash" not in str(made)
    data = _drive_bytes(pool, made["drive"]["vdi_uuid"])
    assert images.iso_label(io.BytesIO(data)) == "OEMDRV"
    assert images.iso_file(io.BytesIO(data), "/ks.cfg").decode() == files["ks.cfg"]
    vbd = pool.api.VBD.get_all_records_where('field "VDI"="%s"' % pool.api.VDI.get_by_uuid(made["drive"]["vdi_uuid"]))
    (record,) = vbd.values()
    # read-write: xapi plugs no read-only disk into an HVM guest (DISK_VBD_MUST_BE_READWRITE_FOR_HVM)
    assert record["mode"] == "RW" and record["type"] == "Disk" and not record["bootable"]

    pool.mark()
    again = run_module("vm_answer_drive", name="drive01", files=files)
    assert not again["changed"] and again["upload"] == {} and again["drive"] == made["drive"]
    assert "VDI.create" not in pool.calls()

    other = run_module("vm_answer_drive", name="drive01", files={"autoinst.xml": "<profile/>"})
    assert other["changed"] and other["drive"]["vdi_uuid"] != made["drive"]["vdi_uuid"]
    assert other["drive"]["userdevice"] == made["drive"]["userdevice"]
    assert pool.api.VDI.get_all_records_where('field "uuid"="%s"' % made["drive"]["vdi_uuid"]) == {}

    gone = run_module("vm_answer_drive", name="drive01", state="absent")
    assert gone["changed"] and not run_module("vm_answer_drive", name="drive01", state="absent")["changed"]


@pytest.mark.parametrize("options, named", [
    (dict(files={"ks.cfg": "x"}, label="oemdrv"), "oemdrv"),
    (dict(files={"../ks.cfg": "x"}), "../ks.cfg"),
    (dict(files={}), "files is required"),
])
def test_answer_drive_bad_input_changes_nothing(pool, run_module, options, named):
    hvm_vm(pool, run_module, "drive-bad")
    before = pool.state()
    result = run_module("vm_answer_drive", name="drive-bad", **options)
    assert result["failed"] and named in result["msg"] and pool.state() == before


def test_route_from_the_release(pool, run_module):
    pv_vm(pool, "by-release")
    assert run_module("install_phase", name="by-release", distro="rhel", version="5.1")["route"] == "eliloader"
    result = run_module("install_phase", name="by-release", distro="rocky", version="9")
    assert result["route"] == "iso" and result["phase"] == "foreign"
    bad = run_module("install_phase", name="by-release", distro="rhel", version="3")
    assert bad["failed"] and "'3'" in bad["msg"] and bad["error_code"] == "INVALID_VALUE"


def test_answer_drive_replaced_in_order_and_a_half_made_one_goes_first(pool, run_module):
    hvm_vm(pool, run_module, "drive02")
    made = run_module("vm_answer_drive", name="drive02", files={"ks.cfg": "text\n"})
    sr = pool.api.SR.get_by_name_label("Local storage")[0]
    left = pool.api.VDI.create({
        "name_label": "drive02 answer drive [xenserver.provisioning: being created]", "name_description": "",
        "SR": sr, "virtual_size": str(2 ** 20), "type": "user", "sharable": False, "read_only": False,
        "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []})
    old = pool.api.VDI.get_by_uuid(made["drive"]["vdi_uuid"])
    before = pool.state()
    check = run_module("vm_answer_drive", check_mode=True, name="drive02", files={"ks.cfg": "text\npoweroff\n"})
    assert pool.state() == before
    device = made["drive"]["userdevice"]
    assert check["changes"]["actions"] == [
        "destroy a half-made answer drive an earlier run left (%s)" % left, "build and upload the OEMDRV volume (ks.cfg)",
        "detach and destroy the old drive (%s)" % made["drive"]["vdi_uuid"], "attach it as device %s" % device]
    pool.mark()
    other = run_module("vm_answer_drive", name="drive02", files={"ks.cfg": "text\npoweroff\n"})
    assert other["changed"] and other["changes"] == check["changes"]
    calls = pool.calls()
    assert left not in pool.api.VDI.get_all() and old not in pool.api.VDI.get_all()
    assert other["drive"]["userdevice"] == device and other["drive"]["vdi_uuid"] != made["drive"]["vdi_uuid"]
    # the half-made drive first; the new drive complete before the old one goes
    assert calls == [
        "session.login_with_password", "VM.get_all_records_where", "VBD.get_all_records_where", "VDI.get_record",
        "VDI.get_record", "VDI.get_all_records_where", "VDI.destroy", "VDI.create", "task.create",
        "PUT /import_raw_vdi", "event_from", "task.destroy", "VDI.add_to_other_config", "VDI.add_to_other_config",
        "VDI.set_name_label", "VBD.destroy", "VDI.destroy", "VBD.create", "VDI.get_record", "session.logout"]
