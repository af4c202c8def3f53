"""VBD, VDI and VIF: create/destroy, plug/unplug, insert/eject and their errors.

Sources (xapi-project/xen-api): ocaml/xapi/xapi_vbd.ml (create), xapi_vbd_helpers.ml
(valid_operations, destroy), xapi_vdi.ml (destroy), xapi_vif_helpers.ml (create, destroy,
valid_operations), xapi_vm_helpers.ml (allowed_VBD_devices / allowed_VIF_devices).
"""
import pytest

TEMPLATE = "CentOS 5 (64-bit)"
GiB = 1024 ** 3
NULL = "OpaqueRef:NULL"


def new_vm(x, name="dev"):
    """A halted PV VM with one system disk (device 0) that boots without a network."""
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], name)
    x.VM.set_PV_bootloader(vm, "")
    x.VM.set_PV_kernel(vm, "/boot/guest/vmlinuz")
    sr = x.SR.get_by_name_label("Local storage")[0]
    other = x.VM.get_other_config(vm)
    other["disks"] = other["disks"].replace('sr=""', 'sr="%s"' % x.SR.get_uuid(sr))
    x.VM.set_other_config(vm, other)
    x.VM.provision(vm)
    return vm


def cd(vm, vdi=NULL, device="3", mode="RO"):
    return {"VM": vm, "VDI": vdi, "userdevice": device, "bootable": False, "mode": mode,
            "type": "CD", "empty": vdi == NULL, "unpluggable": True, "other_config": {},
            "qos_algorithm_type": "", "qos_algorithm_params": {}}


def disk(vm, vdi, device="1", mode="RW", empty=False):
    return {"VM": vm, "VDI": vdi, "userdevice": device, "bootable": False, "mode": mode,
            "type": "Disk", "empty": empty, "unpluggable": True, "other_config": {},
            "qos_algorithm_type": "", "qos_algorithm_params": {}}


def vif(vm, network, device="0"):
    return {"device": device, "network": network, "VM": vm, "MAC": "", "MTU": "1500",
            "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}}


def new_vdi(x, name="data", size=GiB):
    return x.VDI.create({"name_label": name, "name_description": "", "SR": x.SR.get_by_name_label(
        "Local storage")[0], "virtual_size": str(size), "type": "user", "sharable": False,
        "read_only": False, "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []})


@pytest.fixture
def tools_iso(api):
    return api.VDI.get_by_name_label("xs-tools.iso")[0]


# --- VBD --------------------------------------------------------------------------------------------

def test_cd_drive_insert_and_eject(api, fails, tools_iso):
    x = api
    vm = new_vm(x)
    vbd = x.VBD.create(cd(vm))
    record = x.VBD.get_record(vbd)
    assert (record["type"], record["empty"], record["VDI"], record["userdevice"]) == ("CD", True, NULL, "3")
    assert vbd in x.VM.get_VBDs(vm)
    with fails("VBD_IS_EMPTY", vbd):
        x.VBD.eject(vbd)
    x.VBD.insert(vbd, tools_iso)
    assert (x.VBD.get_VDI(vbd), x.VBD.get_empty(vbd)) == (tools_iso, False)
    assert vbd in x.VDI.get_VBDs(tools_iso)
    with fails("VBD_NOT_EMPTY", vbd):
        x.VBD.insert(vbd, tools_iso)
    x.VBD.eject(vbd)
    assert (x.VBD.get_VDI(vbd), x.VBD.get_empty(vbd)) == (NULL, True)
    assert vbd not in x.VDI.get_VBDs(tools_iso)
    with fails("HANDLE_INVALID", "VDI", NULL):
        x.VBD.insert(vbd, NULL)


def test_disks_are_not_removable_media(api, fails, tools_iso):
    x = api
    vm = new_vm(x)
    (system,) = x.VM.get_VBDs(vm)
    with fails("VBD_NOT_REMOVABLE_MEDIA", system):
        x.VBD.eject(system)
    with fails("VBD_NOT_REMOVABLE_MEDIA", system):
        x.VBD.insert(system, tools_iso)


def test_vbd_create_checks(api, fails, tools_iso):
    x = api
    vm = new_vm(x)
    with fails("DEVICE_ALREADY_EXISTS", "0"):
        x.VBD.create(disk(vm, new_vdi(x), device="0"))
    with fails("VBD_CDS_MUST_BE_READONLY"):
        x.VBD.create(cd(vm, tools_iso, mode="RW"))
    with fails("VBD_NOT_REMOVABLE_MEDIA", "in constructor"):
        x.VBD.create(disk(vm, NULL, empty=True))
    with fails("VDI_READONLY", tools_iso):
        x.VBD.create(disk(vm, tools_iso))
    with fails("INVALID_DEVICE", "banana"):
        x.VBD.create(disk(vm, new_vdi(x), device="banana"))
    with fails("HANDLE_INVALID", "VM", NULL):
        x.VBD.create(cd(NULL))
    with fails("FIELD_TYPE_ERROR", "userdevice"):
        record = cd(vm)
        del record["userdevice"]
        x.VBD.create(record)
    auto = x.VBD.create(disk(vm, new_vdi(x), device="autodetect"))
    assert x.VBD.get_userdevice(auto) == "1"
    high = x.VBD.create(disk(vm, new_vdi(x), device="30"))
    assert x.VBD.get_device(high) in ("", "xvdae")       # devices above 15 are fine


def test_allowed_devices(api):
    x = api
    vm = new_vm(x)
    vbds = x.VM.get_allowed_VBD_devices(vm)
    assert vbds == [str(i) for i in range(1, 255)]            # 0..254 less the system disk
    x.VBD.create(cd(vm))
    assert "3" not in x.VM.get_allowed_VBD_devices(vm)
    assert x.VM.get_allowed_VIF_devices(vm) == [str(i) for i in range(16)]
    x.VIF.create(vif(vm, x.network.get_all()[0], "0"))
    x.VIF.create(vif(vm, x.network.get_all()[0], "2"))
    assert x.VM.get_allowed_VIF_devices(vm) == ["1"] + [str(i) for i in range(3, 16)]


def test_vbd_plug_and_unplug(api, fails):
    x = api
    vm = new_vm(x)
    data = x.VBD.create(disk(vm, new_vdi(x)))
    (system,) = [v for v in x.VM.get_VBDs(vm) if v != data]
    with fails("VM_BAD_POWER_STATE", vm, "running", "halted"):
        x.VBD.plug(data)
    with fails("VM_BAD_POWER_STATE", vm, "running", "halted"):
        x.VBD.unplug(data)
    x.VM.start(vm, False, False)
    assert x.VBD.get_currently_attached(system) is True      # a new domain plugs its VBDs
    assert x.VBD.get_currently_attached(data) is True
    x.VBD.unplug(data)
    assert x.VBD.get_currently_attached(data) is False
    with fails("DEVICE_ALREADY_DETACHED", data):
        x.VBD.unplug(data)
    x.VBD.plug(data)
    with fails("DEVICE_ALREADY_ATTACHED", data):
        x.VBD.plug(data)
    with fails("VBD_NOT_UNPLUGGABLE", system):               # type="system" disks
        x.VBD.unplug(system)
    hot = x.VBD.create(disk(vm, new_vdi(x), device="2"))
    assert x.VBD.get_currently_attached(hot) is False        # created detached: plug attaches
    x.VBD.plug(hot)
    x.VM.hard_shutdown(vm)
    assert [x.VBD.get_currently_attached(v) for v in x.VM.get_VBDs(vm)] == [False] * 3


def test_vbd_destroy(api, fails):
    x = api
    vm = new_vm(x)
    vdi = new_vdi(x)
    vbd = x.VBD.create(disk(vm, vdi))
    x.VM.start(vm, False, False)
    vm_uuid = x.VM.get_uuid(vm)
    with fails("OPERATION_NOT_ALLOWED", "VBD '%s' still attached to '%s'" % (x.VBD.get_uuid(vbd), vm_uuid)):
        x.VBD.destroy(vbd)
    x.VBD.unplug(vbd)
    x.VBD.destroy(vbd)
    assert vbd not in x.VM.get_VBDs(vm) and x.VDI.get_VBDs(vdi) == []
    assert vdi in x.VDI.get_all()                            # the disk itself stays


# --- VDI --------------------------------------------------------------------------------------------

def test_vdi_create_resize_destroy(api, fails):
    x = api
    sr = x.SR.get_by_name_label("Local storage")[0]
    used = int(x.SR.get_physical_utilisation(sr))
    vdi = new_vdi(x, "scratch", GiB)
    record = x.VDI.get_record(vdi)
    assert (record["SR"], record["virtual_size"], record["type"]) == (sr, str(GiB), "user")
    assert vdi in x.SR.get_VDIs(sr)
    assert int(x.SR.get_physical_utilisation(sr)) == used + GiB
    x.VDI.resize(vdi, str(2 * GiB))
    assert x.VDI.get_virtual_size(vdi) == str(2 * GiB)
    with fails("SR_FULL", str(4096 * GiB), str(int(x.SR.get_physical_size(sr)) - used - 2 * GiB)):
        x.VDI.resize(vdi, str(4098 * GiB))
    x.VDI.destroy(vdi)
    assert vdi not in x.SR.get_VDIs(sr)
    assert int(x.SR.get_physical_utilisation(sr)) == used
    with fails("HANDLE_INVALID", "VDI", vdi):
        x.VDI.destroy(vdi)


def test_vdi_in_use(api, fails):
    x = api
    vm = new_vm(x)
    (vbd,) = x.VM.get_VBDs(vm)
    vdi = x.VBD.get_VDI(vbd)
    x.VM.start(vm, False, False)
    with fails("VDI_IN_USE", vdi, "destroy"):
        x.VDI.destroy(vdi)
    x.VM.hard_shutdown(vm)
    # a detached VBD does not stop it: xapi destroys the VDI and its VBDs
    x.VDI.destroy(vdi)
    assert vdi not in x.VDI.get_all() and vbd not in x.VBD.get_all()
    assert x.VM.get_VBDs(vm) == []


# --- VIF --------------------------------------------------------------------------------------------

def test_vif_create_fields(api, fails):
    x = api
    vm = new_vm(x)
    network = x.network.get_all()[0]
    ref = x.VIF.create(vif(vm, network))
    record = x.VIF.get_record(ref)
    assert (record["VM"], record["network"], record["device"], record["MTU"]) == (vm, network, "0", "1500")
    assert record["MAC_autogenerated"] is True
    assert len(record["MAC"].split(":")) == 6
    assert ref in x.VM.get_VIFs(vm) and ref in x.network.get_VIFs(network)
    with fails("DEVICE_ALREADY_EXISTS", "0"):
        x.VIF.create(vif(vm, network))
    fixed = vif(vm, network, "1")
    fixed["MAC"] = "02:00:00:00:00:01"
    ref2 = x.VIF.create(fixed)
    assert (x.VIF.get_MAC(ref2), x.VIF.get_MAC_autogenerated(ref2)) == ("02:00:00:00:00:01", False)
    with fails("HANDLE_INVALID", "network", NULL):
        x.VIF.create(vif(vm, NULL, "2"))


def test_vif_create_checks_device_and_mac_as_xapi_does(api, fails):
    """xapi_vif_helpers.ml create: the device must be an unsigned number (INVALID_DEVICE), the
    MAC six hex pairs (MAC_INVALID, helpers.ml is_valid_MAC), a device in use is compared as a
    number; a device past VM.get_allowed_VIF_devices (0-15) is not refused by VIF.create."""
    x = api
    vm = new_vm(x)
    network = x.network.get_all()[0]
    for device in ("eth0", "-1", "1.5", ""):
        with fails("INVALID_DEVICE", device):
            x.VIF.create(vif(vm, network, device))
    for mac in ("00:16:3e", "zz:16:3e:00:00:01", "00-16-3e-00-00-01", "00:16:3e:00:00:01\n"):
        bad = vif(vm, network, "0")
        bad["MAC"] = mac
        with fails("MAC_INVALID", mac):
            x.VIF.create(bad)
    x.VIF.create(vif(vm, network, "7"))
    with fails("DEVICE_ALREADY_EXISTS", "07"):
        x.VIF.create(vif(vm, network, "07"))
    x.VIF.create(vif(vm, network, "16"))
    assert "16" not in x.VM.get_allowed_VIF_devices(vm) and "7" not in x.VM.get_allowed_VIF_devices(vm)
    assert len(x.VM.get_allowed_VIF_devices(vm)) == 15


def test_vif_plug_unplug_destroy(api, fails):
    x = api
    vm = new_vm(x)
    network = x.network.get_all()[0]
    first = x.VIF.create(vif(vm, network))
    with fails("VM_BAD_POWER_STATE", vm, "running", "halted"):
        x.VIF.plug(first)
    with fails("VM_BAD_POWER_STATE", vm, "running", "halted"):
        x.VIF.unplug(first)
    x.VM.start(vm, False, False)
    assert x.VIF.get_currently_attached(first) is True
    with fails("DEVICE_ALREADY_ATTACHED", first):
        x.VIF.plug(first)
    with fails("OPERATION_NOT_ALLOWED", "VIF currently attached to a running VM"):
        x.VIF.destroy(first)
    x.VIF.unplug(first)
    with fails("DEVICE_ALREADY_DETACHED", first):
        x.VIF.unplug(first)
    x.VIF.destroy(first)
    assert x.VM.get_VIFs(vm) == [] and first not in x.network.get_VIFs(network)
    hot = x.VIF.create(vif(vm, network, "1"))
    assert x.VIF.get_currently_attached(hot) is False        # created detached
    x.VIF.plug(hot)
    assert x.VIF.get_currently_attached(hot) is True
    x.VM.hard_shutdown(vm)
    assert x.VIF.get_currently_attached(hot) is False
    x.VIF.destroy(hot)                                       # halted: always allowed


def test_a_read_only_disk_cannot_be_plugged_into_an_hvm_guest(api, fails):
    """xapi_vbd.ml (CA-83260): an HVM guest's Disk VBDs must be read-write; a PV guest's may be RO."""
    x = api
    vm = new_vm(x)
    x.VM.start(vm, False, False)
    pv_ro = x.VBD.create(disk(vm, new_vdi(x), device="2", mode="RO"))
    x.VBD.plug(pv_ro)
    assert x.VBD.get_currently_attached(pv_ro) is True
    x.VM.hard_shutdown(vm)
    x.VM.set_HVM_boot_policy(vm, "BIOS order")
    x.VM.set_PV_kernel(vm, "")
    x.VM.start(vm, False, False)
    hvm_ro = x.VBD.create(disk(vm, new_vdi(x), device="4", mode="RO"))
    with fails("DISK_VBD_MUST_BE_READWRITE_FOR_HVM", hvm_ro):
        x.VBD.plug(hvm_ro)
    assert x.VBD.get_currently_attached(hvm_ro) is False
    hvm_rw = x.VBD.create(disk(vm, new_vdi(x), device="5"))
    x.VBD.plug(hvm_rw)
    assert x.VBD.get_currently_attached(hvm_rw) is True
