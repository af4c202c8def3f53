"""vm_cdrom against the simulator, through the real SDK."""
import pytest

from test_vm_power import make_vm, put_in, warnings

NULL = "OpaqueRef:NULL"
MiB = 1024 ** 2


def tools_sr(pool):
    return pool.api.SR.get_by_name_label("XenServer Tools")[0]


def add_iso(pool, name, sr=None):
    """An ISO in the Tools SR (or ``sr``), as an ISO library scan would find it."""
    return pool.api.VDI.create({
        "name_label": name, "name_description": "", "SR": sr or tools_sr(pool),
        "virtual_size": str(600 * MiB), "type": "user", "sharable": True, "read_only": True,
        "other_config": {}, "sm_config": {}, "xenstore_data": {}, "tags": []})


def cds(pool, vm):
    """{userdevice: iso name or ""} of the VM's CD drives, read through the SDK."""
    out = {}
    for vbd in pool.api.VM.get_VBDs(vm):
        record = pool.api.VBD.get_record(vbd)
        if record["type"] == "CD":
            out[record["userdevice"]] = "" if record["empty"] else pool.api.VDI.get_name_label(record["VDI"])
    return out


def test_insert_into_a_vm_without_drive(pool, run_module):
    vm = make_vm(pool, "web01")
    before = pool.state()
    result = run_module("vm_cdrom", check_mode=True, diff=True, name="web01", iso="xs-tools.iso")
    assert result["changed"] is True and result["changes"]["actions"] == ["create"]
    assert result["cdrom"] == {"userdevice": "3", "iso": "xs-tools.iso", "empty": False,
                               "vbd_uuid": "", "attached": False}
    assert result["diff"] == {"before": {"cd_drive": "absent", "iso": ""},
                              "after": {"cd_drive": "present", "iso": "xs-tools.iso"}}
    assert pool.state() == before

    pool.mark()
    result = run_module("vm_cdrom", name="web01", iso="xs-tools.iso")
    assert result["changed"] is True and result["changes"]["actions"] == ["create"]
    assert result["cdrom"]["userdevice"] == "3" and result["cdrom"]["iso"] == "xs-tools.iso"
    assert result["cdrom"]["vbd_uuid"]
    create = pool.calls()
    assert "VDI.get_all_records" not in create and "VM.get_all_records" not in create
    assert cds(pool, vm) == {"3": "xs-tools.iso"}
    vbd = pool.api.VBD.get_by_uuid(result["cdrom"]["vbd_uuid"])
    record = pool.api.VBD.get_record(vbd)
    assert record["type"] == "CD" and record["mode"] == "RO" and record["bootable"] is False

    pool.mark()
    result = run_module("vm_cdrom", name="web01", iso="xs-tools.iso")
    assert result["changed"] is False and result["cdrom"]["iso"] == "xs-tools.iso"
    calls = pool.calls()
    assert len(calls) <= 5, calls


def test_insert_live_into_a_running_vm(pool, run_module):
    vm = make_vm(pool, "web02")
    run_module("vm_cdrom", name="web02", state="present")
    put_in(pool, vm, "running")
    add_iso(pool, "centos5.iso")
    result = run_module("vm_cdrom", name="web02", iso="centos5.iso")
    assert result["changed"] and result["changes"]["actions"] == ["insert"]
    assert cds(pool, vm) == {"3": "centos5.iso"}
    assert pool.sim.guests.state(vm)["cds"] == ["centos5.iso"]      # the guest saw it
    assert pool.api.VM.get_power_state(vm) == "Running"
    assert run_module("vm_cdrom", name="web02", iso="centos5.iso")["changed"] is False


def test_swapping_iso_ejects_first(pool, run_module):
    vm = make_vm(pool, "swap")
    add_iso(pool, "centos5.iso")
    run_module("vm_cdrom", name="swap", iso="xs-tools.iso")
    before = pool.state()
    result = run_module("vm_cdrom", check_mode=True, diff=True, name="swap", iso="centos5.iso")
    assert result["changed"] and result["changes"]["actions"] == ["eject", "insert"]
    assert result["diff"] == {"before": {"iso": "xs-tools.iso"}, "after": {"iso": "centos5.iso"}}
    assert pool.state() == before
    result = run_module("vm_cdrom", name="swap", iso="centos5.iso")
    assert result["changed"] and result["changes"]["actions"] == ["eject", "insert"]
    assert cds(pool, vm) == {"3": "centos5.iso"}
    assert run_module("vm_cdrom", name="swap", iso="centos5.iso")["changed"] is False


def test_eject(pool, run_module):
    vm = make_vm(pool, "ej")
    run_module("vm_cdrom", name="ej", iso="xs-tools.iso")
    put_in(pool, vm, "running")
    before = pool.state()
    result = run_module("vm_cdrom", check_mode=True, diff=True, name="ej", state="ejected")
    assert result["changed"] and result["changes"]["actions"] == ["eject"]
    assert result["diff"] == {"before": {"iso": "xs-tools.iso"}, "after": {"iso": ""}}
    assert pool.state() == before
    result = run_module("vm_cdrom", name="ej", state="ejected")
    assert result["changed"] and result["cdrom"]["empty"] is True and result["cdrom"]["iso"] == ""
    assert cds(pool, vm) == {"3": ""}
    pool.mark()
    assert run_module("vm_cdrom", name="ej", state="ejected")["changed"] is False
    assert len(pool.calls()) <= 5
    # the ISO is still in its library
    assert pool.api.VDI.get_by_name_label("xs-tools.iso")


def test_ejected_and_present_create_an_empty_drive(pool, run_module):
    vm = make_vm(pool, "nodrive")
    result = run_module("vm_cdrom", name="nodrive", state="ejected")
    assert result["changed"] and result["changes"]["actions"] == ["create"]
    assert cds(pool, vm) == {"3": ""}
    vm2 = make_vm(pool, "nodrive2")
    before = pool.state()
    result = run_module("vm_cdrom", check_mode=True, name="nodrive2", state="present")
    assert result["changed"] and pool.state() == before
    result = run_module("vm_cdrom", name="nodrive2", state="present")
    assert result["changed"] and result["cdrom"]["empty"] is True
    pool.mark()
    assert run_module("vm_cdrom", name="nodrive2", state="present")["changed"] is False
    assert len(pool.calls()) <= 5
    # present leaves a disc alone
    run_module("vm_cdrom", name="nodrive2", iso="xs-tools.iso")
    result = run_module("vm_cdrom", name="nodrive2", state="present")
    assert result["changed"] is False and result["cdrom"]["iso"] == "xs-tools.iso"
    assert cds(pool, vm2) == {"3": "xs-tools.iso"}


def test_absent_removes_the_drive_of_a_halted_vm(pool, run_module):
    vm = make_vm(pool, "gone")
    run_module("vm_cdrom", name="gone", iso="xs-tools.iso")
    vdis_before = sorted(pool.api.VDI.get_all())
    before = pool.state()
    result = run_module("vm_cdrom", check_mode=True, diff=True, name="gone", state="absent")
    assert result["changed"] and result["changes"]["actions"] == ["destroy"]
    assert result["diff"] == {"before": {"cd_drive": "present"}, "after": {"cd_drive": "absent"}}
    assert pool.state() == before
    result = run_module("vm_cdrom", name="gone", state="absent")
    assert result["changed"] and result["cdrom"] == {}
    assert cds(pool, vm) == {}
    assert sorted(pool.api.VDI.get_all()) == vdis_before      # no disk or ISO lost
    assert len(pool.api.VM.get_VBDs(vm)) == 1                   # the system disk stays
    pool.mark()
    assert run_module("vm_cdrom", name="gone", state="absent")["changed"] is False
    assert len(pool.calls()) <= 5


@pytest.mark.parametrize("state", ["running", "paused", "suspended"])
def test_absent_needs_a_halted_vm(pool, run_module, state):
    vm = make_vm(pool, "busy")
    run_module("vm_cdrom", name="busy", state="present")
    put_in(pool, vm, state)
    before = pool.state()
    result = run_module("vm_cdrom", name="busy", state="absent")
    assert result["failed"] and "is %s" % state in result["msg"] and "halted" in result["msg"]
    assert "state: ejected" in result["msg"]
    assert pool.state() == before


def test_running_vm_without_drive(pool, run_module):
    vm = make_vm(pool, "pv")
    put_in(pool, vm, "running")
    result = run_module("vm_cdrom", name="pv", iso="xs-tools.iso")
    assert result["changed"] and result["changes"]["actions"] == ["create", "plug"]
    assert result["cdrom"]["attached"] is True
    assert cds(pool, vm) == {"3": "xs-tools.iso"}

    hvm = make_vm(pool, "hvm", hvm=True)
    put_in(pool, hvm, "running")
    result = run_module("vm_cdrom", name="hvm", iso="xs-tools.iso")
    assert result["changed"] and result["changes"]["actions"] == ["create"]
    assert result["cdrom"]["attached"] is False
    assert any("next boot" in w for w in warnings(result))


def test_device_3_taken(pool, run_module):
    vm = make_vm(pool, "full", hvm=True)
    api = pool.api
    disk = api.VDI.create({"name_label": "data", "name_description": "", "SR": api.SR.get_by_name_label("Local storage")[0],
                           "virtual_size": str(MiB), "type": "user", "sharable": False, "read_only": False,
                           "other_config": {}, "sm_config": {}, "xenstore_data": {}, "tags": []})
    api.VBD.create({"VM": vm, "VDI": disk, "userdevice": "3", "bootable": False, "mode": "RW", "type": "Disk",
                    "empty": False, "unpluggable": True, "other_config": {}, "qos_algorithm_type": "",
                    "qos_algorithm_params": {}})
    result = run_module("vm_cdrom", name="full", state="present")
    assert result["changed"] and result["cdrom"]["userdevice"] == "1"


# --- ISOs that cannot be found, or several -----------------------------------------------------

def test_missing_iso_fails_naming_it(pool, run_module):
    make_vm(pool, "vm1")
    before = pool.state()
    result = run_module("vm_cdrom", name="vm1", iso="nosuch.iso")
    assert result["failed"] and "no ISO named 'nosuch.iso'" in result["msg"]
    assert "XenServer Tools" in result["msg"]
    assert pool.state() == before
    result = run_module("vm_cdrom", check_mode=True, name="vm1", iso="nosuch.iso")
    assert result["failed"] and "nosuch.iso" in result["msg"]


def test_disk_with_the_name_is_not_an_iso(pool, run_module):
    make_vm(pool, "vm1")
    add_iso(pool, "fake.iso", sr=pool.api.SR.get_by_name_label("Local storage")[0])
    before = pool.state()
    result = run_module("vm_cdrom", name="vm1", iso="fake.iso")
    assert result["failed"] and "'fake.iso'" in result["msg"] and "not on an ISO storage repository" in result["msg"]
    assert pool.state() == before


def test_several_isos_with_the_name(pool, run_module):
    vm = make_vm(pool, "vm1")
    first = add_iso(pool, "dup.iso")
    add_iso(pool, "dup.iso")
    before = pool.state()
    result = run_module("vm_cdrom", name="vm1", iso="dup.iso")
    assert result["failed"] and "2 ISOs are named 'dup.iso'" in result["msg"] and "uuid" in result["msg"]
    assert pool.api.VDI.get_uuid(first) in result["msg"]
    assert pool.state() == before
    uuid = pool.api.VDI.get_uuid(first)
    result = run_module("vm_cdrom", name="vm1", iso=uuid)
    assert result["changed"] and result["cdrom"]["iso"] == "dup.iso"
    assert pool.api.VBD.get_VDI(pool.api.VBD.get_by_uuid(result["cdrom"]["vbd_uuid"])) == first
    assert run_module("vm_cdrom", name="vm1", iso=uuid)["changed"] is False
    assert cds(pool, vm) == {"3": "dup.iso"}


# --- bad input and lookups -----------------------------------------------------------------

@pytest.mark.parametrize("options, words", [
    (dict(state="ejected", iso="xs-tools.iso"), ["iso", "xs-tools.iso", "ejected"]),
    (dict(state="absent", iso="xs-tools.iso"), ["xs-tools.iso", "absent"]),
    (dict(state="inserted"), ["iso"]),
    (dict(state="loaded", iso="xs-tools.iso"), ["loaded"]),
    (dict(iso=" "), ["iso"]),
])
def test_bad_input_fails_before_any_change(pool, run_module, options, words):
    make_vm(pool, "vm1")
    before = pool.state()
    result = run_module("vm_cdrom", name="vm1", **options)
    assert result["failed"]
    for word in words:
        assert word in result["msg"]
    assert pool.state() == before


def test_missing_vm_and_uuid_lookup(pool, run_module):
    result = run_module("vm_cdrom", name="ghost", iso="xs-tools.iso")
    assert result["failed"] and "no VM named 'ghost'" in result["msg"]
    vm = make_vm(pool, "byuuid")
    result = run_module("vm_cdrom", uuid=pool.api.VM.get_uuid(vm), iso="xs-tools.iso")
    assert result["changed"] and cds(pool, vm) == {"3": "xs-tools.iso"}


def test_check_mode_on_a_vm_not_created_yet(pool, run_module):
    """An earlier task in check mode would create the VM: it has no CD drive yet; the ISO is
    looked up all the same (a wrong one fails naming it)."""
    before = pool.state()
    result = run_module("vm_cdrom", check_mode=True, name="new01", iso="xs-tools.iso")
    assert not result.get("failed") and result["changed"] is True
    assert result["msg"].endswith("then this task would add a CD drive with xs-tools.iso in it")
    assert result["changes"] == {"fields": ["cd_drive", "iso"], "actions": ["create"], "needs_halt": []}
    assert result["cdrom"] == {"userdevice": "", "iso": "xs-tools.iso", "empty": False, "vbd_uuid": "",
                               "attached": False}
    result = run_module("vm_cdrom", check_mode=True, name="new01", state="ejected")
    assert result["changed"] is True and result["changes"]["fields"] == ["cd_drive"]
    result = run_module("vm_cdrom", check_mode=True, name="new01", state="absent")
    assert result["changed"] is False and result["cdrom"] == {}
    result = run_module("vm_cdrom", check_mode=True, name="new01", iso="no-such.iso")
    assert result["failed"] and result["error_code"] == "ISO_NOT_FOUND" and "no-such.iso" in result["msg"]
    result = run_module("vm_cdrom", check_mode=True, uuid="00000000-0000-0000-0000-000000000000", iso="xs-tools.iso")
    assert result["failed"] and result["error_code"] == "NOT_FOUND"
    assert pool.state() == before


# --- iso_file: a local ISO uploaded once into a disk SR ------------------------------------

def test_iso_file_is_uploaded_once_and_boots(pool, run_module, tmp_path):
    from xapisim import images
    path = images.write_iso(str(tmp_path / "rhel-9.4-x86_64-boot.iso"), *images.ISOS["rhel-9.4-x86_64-boot.iso"])
    vm = make_vm(pool, "inst01")
    before = pool.state()
    result = run_module("vm_cdrom", check_mode=True, diff=True, name="inst01", iso_file=path)
    assert result["changed"] and result["changes"]["actions"] == ["upload", "create"]
    assert result["diff"]["after"] == {"cd_drive": "present", "iso": "rhel-9.4-x86_64-boot.iso"}
    assert pool.state() == before

    pool.mark()
    result = run_module("vm_cdrom", name="inst01", iso_file=path)
    assert result["changed"] and result["changes"]["actions"] == ["upload", "create"]
    assert result["cdrom"]["iso"] == "rhel-9.4-x86_64-boot.iso"
    assert pool.calls().count("VDI.create") == 1
    vdis = pool.api.VDI.get_by_name_label("rhel-9.4-x86_64-boot.iso")
    assert len(vdis) == 1
    vdi = pool.api.VDI.get_record(vdis[0])
    default_sr = pool.api.pool.get_default_SR(pool.api.pool.get_all()[0])
    assert vdi["SR"] == default_sr and pool.api.SR.get_content_type(default_sr) != "iso"
    assert vdi["other_config"]["xenserver.provisioning:image-sha256"] == images_sha256(path)
    assert cds(pool, vm) == {"3": "rhel-9.4-x86_64-boot.iso"}
    assert not pool.api.VDI.get_by_name_label("rhel-9.4-x86_64-boot.iso [xenserver.provisioning: being created]")

    # the simulated firmware boots the installer from the uploaded VDI
    pool.api.VM.set_HVM_boot_params(vm, {"order": "dc"})
    pool.sim.guests.hvm_boot(vm, pool.sim.db.get("VM", vm))
    assert pool.sim.guests.state(vm)["stage"] == "iso-installer", pool.sim.guests.state(vm)["console"]

    pool.mark()
    result = run_module("vm_cdrom", name="inst01", iso_file=path)
    assert result["changed"] is False and result["cdrom"]["iso"] == "rhel-9.4-x86_64-boot.iso"
    rerun = pool.calls()
    assert "VDI.create" not in rerun and "task.create" not in rerun and len(rerun) <= 8, rerun
    pool.mark()
    assert run_module("vm_cdrom", name="inst01", iso_file=path)["changed"] is False
    assert pool.calls() == rerun        # a rerun costs the same calls, every time

    # another file with the same name: a new VDI, swapped in
    images.write_iso(path, *images.ISOS["Rocky-9.4-x86_64-minimal.iso"])
    result = run_module("vm_cdrom", name="inst01", iso_file=path)
    assert result["changed"] and result["changes"]["actions"] == ["upload", "eject", "insert"]
    assert len(pool.api.VDI.get_by_name_label("rhel-9.4-x86_64-boot.iso")) == 2
    assert run_module("vm_cdrom", name="inst01", iso_file=path)["changed"] is False


def images_sha256(path):
    import hashlib
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.mark.parametrize("kind, code", [("missing", "ISO_FILE_NOT_FOUND"), ("directory", "ISO_FILE_INVALID"),
                                        ("not-an-iso", "ISO_FILE_INVALID")])
def test_bad_iso_file_fails_naming_it(pool, run_module, tmp_path, kind, code):
    make_vm(pool, "vm1")
    path = str(tmp_path / kind)
    if kind == "directory":
        (tmp_path / kind).mkdir()
    elif kind == "not-an-iso":
        (tmp_path / kind).write_bytes(b"\0" * 40000)
    before = pool.state()
    result = run_module("vm_cdrom", name="vm1", iso_file=path)
    assert result["failed"] and result["error_code"] == code and path in result["msg"]
    assert pool.state() == before
    result = run_module("vm_cdrom", name="vm1", iso_file=path, iso="xs-tools.iso")
    assert result["failed"] and "mutually exclusive" in result["msg"]


def test_a_swap_whose_insert_fails_leaves_the_drive_empty_and_a_rerun_inserts(pool, run_module, monkeypatch):
    from xapisim.faults import Scripted
    from ansible_collections.xenserver.provisioning.plugins.module_utils import _client
    monkeypatch.setattr(_client.XenServerClient, "_pause", lambda self, attempt: None)
    vm = make_vm(pool, "swap2")
    add_iso(pool, "centos5.iso")
    run_module("vm_cdrom", name="swap2", iso="xs-tools.iso")
    faults = Scripted(busy={"VBD.insert": 4})      # more than the client's retries
    for server in pool.servers:
        server.faults = faults
    pool.mark()
    result = run_module("vm_cdrom", name="swap2", iso="centos5.iso")
    assert result["failed"] and result["error_code"] == "OTHER_OPERATION_IN_PROGRESS"
    calls = pool.calls()
    assert calls.count("VBD.eject") == 1 and calls.count("VBD.insert") == 4 and "VBD.get_record" not in calls, calls
    assert cds(pool, vm) == {"3": ""}
    result = run_module("vm_cdrom", name="swap2", iso="centos5.iso")
    assert result["changed"] and result["changes"]["actions"] == ["insert"]
    assert cds(pool, vm) == {"3": "centos5.iso"}
