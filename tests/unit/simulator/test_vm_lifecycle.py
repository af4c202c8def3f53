"""VM lifecycle: clone/copy/provision/destroy, power operations, memory and VCPUs.

Sources (xapi-project/xen-api): ocaml/xapi/xapi_vm_lifecycle.ml (checks and their order),
xapi_vm_clone.ml, xapi_vm.ml (provision, VCPUs, memory), xapi_templates.ml (disks XML),
xapi_vm_helpers.ml (destroy).
"""
import time
from unittest.mock import ANY

import pytest

TEMPLATE = "CentOS 5 (64-bit)"
HVM_TEMPLATE = "Other install media"
GiB = 1024 ** 3
NULL = "OpaqueRef:NULL"


def local_sr(x):
    return x.SR.get_by_name_label("Local storage")[0]


def rewrite_disks(x, vm, sr=None):
    other = x.VM.get_other_config(vm)
    uuid = x.SR.get_uuid(sr or local_sr(x))
    x.VM.remove_from_other_config(vm, "disks")
    x.VM.add_to_other_config(vm, "disks", other["disks"].replace('sr=""', 'sr="%s"' % uuid))


def new_vm(x, name="vm", template=TEMPLATE, provision=True):
    """A halted, provisioned PV VM that boots a dom0 kernel directly (PV_bootloader "").

    Direct boot keeps these tests off the network: eliloader would fetch its installer
    from install-repository (see test_sdk_flow.py for that path).
    """
    vm = x.VM.clone(x.VM.get_by_name_label(template)[0], name)
    x.VM.set_PV_bootloader(vm, "")
    x.VM.set_PV_kernel(vm, "/boot/guest/vmlinuz-2.6.18-xen")
    x.VM.set_PV_ramdisk(vm, "/boot/guest/initrd-2.6.18-xen.img")
    if provision:
        rewrite_disks(x, vm)
        x.VM.provision(vm)
    return vm


def hvm_vm(x, name="hvm"):
    vm = x.VM.clone(x.VM.get_by_name_label(HVM_TEMPLATE)[0], name)
    x.VM.set_is_a_template(vm, False)
    return vm


# --- clone / copy -------------------------------------------------------------------------------

def test_clone_of_a_template(api):
    x = api
    template = x.VM.get_by_name_label(TEMPLATE)[0]
    source = x.VM.get_record(template)
    clone = x.VM.clone(template, "my clone")
    record = x.VM.get_record(clone)
    assert record["name_label"] == "my clone" and record["uuid"] != source["uuid"]
    assert record["is_a_template"] is True            # clone keeps is_a_template
    assert record["is_default_template"] is False
    other = record["other_config"]
    assert "default_template" not in other
    assert other["base_template_name"] == TEMPLATE
    assert other["mac_seed"] != source["other_config"]["mac_seed"]
    assert other["disks"] == source["other_config"]["disks"]
    for key in ("install-distro", "install-methods", "install-arch"):
        assert other[key] == source["other_config"][key]
    for field in ("PV_bootloader", "PV_args", "memory_static_max", "VCPUs_max", "platform",
                  "HVM_boot_policy", "actions_after_crash"):
        assert record[field] == source[field], field
    assert record["metrics"] != source["metrics"] and x.VM_metrics.get_uuid(record["metrics"])
    assert x.VM.get_record(template) == source          # the template is untouched
    assert x.VM.get_by_name_label("my clone") == [clone]


def test_clone_of_a_vm_clones_disks_and_vifs(api):
    x = api
    vm = new_vm(x, "source")
    network = x.network.get_all()[0]
    vif = x.VIF.create({"device": "0", "network": network, "VM": vm, "MAC": "", "MTU": "1500",
                        "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})
    clone = x.VM.clone(vm, "copy of source")
    assert x.VM.get_is_a_template(clone) is False
    assert "base_template_name" in x.VM.get_other_config(clone)     # inherited from the template
    (vbd,) = x.VM.get_VBDs(clone)
    (source_vbd,) = x.VM.get_VBDs(vm)
    assert x.VBD.get_VDI(vbd) != x.VBD.get_VDI(source_vbd)
    assert x.VBD.get_userdevice(vbd) == "0" and x.VBD.get_bootable(vbd) is True
    (new_vif,) = x.VM.get_VIFs(clone)
    assert x.VIF.get_network(new_vif) == network
    assert x.VIF.get_MAC(new_vif) != x.VIF.get_MAC(vif)


def test_clone_needs_a_halted_vm(api, fails):
    vm = new_vm(api)
    api.VM.start(vm, False, False)
    with fails("VM_BAD_POWER_STATE", vm, "halted", "running"):
        api.VM.clone(vm, "nope")


def test_copy_to_another_sr_and_to_null(api):
    x = api
    vm = new_vm(x)
    # an invalid or NULL sr keeps each disk in its own SR (xapi_vm_clone.ml)
    copy = x.VM.copy(vm, "copied", NULL)
    (vbd,) = x.VM.get_VBDs(copy)
    vdi = x.VBD.get_VDI(vbd)
    (source_vdi,) = [x.VBD.get_VDI(v) for v in x.VM.get_VBDs(vm)]
    assert vdi != source_vdi
    assert x.VDI.get_SR(vdi) == local_sr(x)
    assert x.VDI.get_virtual_size(vdi) == str(8 * GiB)
    copy2 = x.VM.copy(vm, "copied again", local_sr(x))
    assert x.VDI.get_SR(x.VBD.get_VDI(x.VM.get_VBDs(copy2)[0])) == local_sr(x)


def test_copy_of_a_template_is_a_template(api):
    template = api.VM.get_by_name_label(TEMPLATE)[0]
    copy = api.VM.copy(template, "tcopy", NULL)
    assert api.VM.get_is_a_template(copy) is True
    assert api.VM.get_other_config(copy)["base_template_name"] == TEMPLATE


# --- provision ---------------------------------------------------------------------------------

def test_provision_creates_disks_and_drops_the_disks_key(api):
    x = api
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "prov")
    x.VM.add_to_other_config(vm, "postinstall", "/opt/xensource/packages/post-install-scripts/site-setup")
    rewrite_disks(x, vm)
    sr = local_sr(x)
    used = int(x.SR.get_physical_utilisation(sr))
    x.VM.provision(vm)
    record = x.VM.get_record(vm)
    assert record["is_a_template"] is False
    assert "disks" not in record["other_config"] and "postinstall" not in record["other_config"]
    (vbd,) = record["VBDs"]
    vbd_record = x.VBD.get_record(vbd)
    assert (vbd_record["userdevice"], vbd_record["type"], vbd_record["mode"]) == ("0", "Disk", "RW")
    assert vbd_record["bootable"] is True and vbd_record["unpluggable"] is False   # type="system"
    assert vbd_record["currently_attached"] is False and vbd_record["empty"] is False
    assert vbd_record["other_config"] == {"owner": ""}
    vdi = x.VDI.get_record(vbd_record["VDI"])
    assert (vdi["SR"], vdi["virtual_size"], vdi["type"]) == (sr, str(8 * GiB), "system")
    assert vdi["name_label"] == "0"                                   # xapi_templates.ml
    assert vdi["name_description"] == "Created by template provisioner"
    assert int(x.SR.get_physical_utilisation(sr)) == used + 8 * GiB


def test_provision_with_several_disks(api):
    x = api
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "two disks")
    uuid = x.SR.get_uuid(local_sr(x))
    x.VM.remove_from_other_config(vm, "disks")
    x.VM.add_to_other_config(vm, "disks", (
        '<provision><disk device="0" size="%d" sr="%s" bootable="true" type="system"/>'
        '<disk device="1" size="%d" sr="%s" bootable="false" type="user"/></provision>')
        % (4 * GiB, uuid, GiB, uuid))
    x.VM.provision(vm)
    vbds = sorted((x.VBD.get_userdevice(v), x.VBD.get_unpluggable(v),
                   x.VDI.get_virtual_size(x.VBD.get_VDI(v))) for v in x.VM.get_VBDs(vm))
    assert vbds == [("0", False, str(4 * GiB)), ("1", True, str(GiB))]


def test_provision_needs_an_sr(api, fails):
    x = api
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "no sr")
    vdis = set(x.VDI.get_all())
    with fails("UUID_INVALID", "sr", ""):
        x.VM.provision(vm)
    assert set(x.VDI.get_all()) == vdis and x.VM.get_VBDs(vm) == []
    # as in xapi_vm.ml, is_a_template was already cleared; the disks key stays
    assert x.VM.get_is_a_template(vm) is False
    assert "disks" in x.VM.get_other_config(vm)


def test_provision_with_an_unknown_sr(api, fails):
    x = api
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "bad sr")
    other = x.VM.get_other_config(vm)
    other["disks"] = other["disks"].replace('sr=""', 'sr="deadbeef"')
    x.VM.set_other_config(vm, other)
    with fails("UUID_INVALID", "sr", "deadbeef"):
        x.VM.provision(vm)


def test_provision_only_on_templates(api, fails):
    vm = new_vm(api)
    with fails("PROVISION_ONLY_ALLOWED_ON_TEMPLATE"):
        api.VM.provision(vm)
    api.VM.start(vm, False, False)
    with fails("VM_BAD_POWER_STATE", vm, "halted", "running"):      # power state comes first
        api.VM.provision(vm)


# --- power operations ----------------------------------------------------------------------------

def test_start_shutdown_reboot(api):
    x = api
    vm = new_vm(x)
    host = x.host.get_all()[0]
    x.VM.start(vm, False, True)
    record = x.VM.get_record(vm)
    assert record["power_state"] == "Running" and int(record["domid"]) > 0
    assert record["resident_on"] == host and vm in x.host.get_resident_VMs(host)
    metrics = x.VM_metrics.get_record(record["metrics"])
    assert metrics["VCPUs_number"] == record["VCPUs_at_startup"]
    assert metrics["memory_actual"] == record["memory_dynamic_max"]
    assert "clean_shutdown" in record["allowed_operations"]
    assert "start" not in record["allowed_operations"]
    domid = record["domid"]
    x.VM.clean_reboot(vm)
    assert x.VM.get_power_state(vm) == "Running" and x.VM.get_domid(vm) != domid
    domid = x.VM.get_domid(vm)
    x.VM.hard_reboot(vm)
    assert x.VM.get_power_state(vm) == "Running" and x.VM.get_domid(vm) != domid
    x.VM.clean_shutdown(vm)
    record = x.VM.get_record(vm)
    assert (record["power_state"], record["domid"], record["resident_on"]) == ("Halted", "-1", NULL)
    assert x.VM_metrics.get_VCPUs_number(record["metrics"]) == "0"
    assert "start" in record["allowed_operations"]
    x.VM.start(vm, False, False)
    x.VM.hard_shutdown(vm)
    assert x.VM.get_power_state(vm) == "Halted"


def test_start_paused_then_unpause_and_pause(api):
    x = api
    vm = new_vm(x)
    x.VM.start(vm, True, False)
    assert x.VM.get_power_state(vm) == "Paused"
    x.VM.unpause(vm)
    assert x.VM.get_power_state(vm) == "Running"
    x.VM.pause(vm)
    assert x.VM.get_power_state(vm) == "Paused"
    x.VM.hard_reboot(vm)
    assert x.VM.get_power_state(vm) == "Running"
    x.VM.pause(vm)
    x.VM.hard_shutdown(vm)
    assert x.VM.get_power_state(vm) == "Halted"


def test_start_on(api, fails):
    x = api
    vm = new_vm(x)
    host = x.host.get_all()[0]
    with fails("HANDLE_INVALID", "host", NULL):
        x.VM.start_on(vm, NULL, False, False)
    x.VM.start_on(vm, host, False, False)
    assert x.VM.get_resident_on(vm) == host


def test_suspend_and_resume(api):
    x = api
    vm = new_vm(x)
    x.VM.start(vm, False, False)
    x.VM.suspend(vm)
    record = x.VM.get_record(vm)
    assert (record["power_state"], record["domid"], record["resident_on"]) == ("Suspended", "-1", NULL)
    x.VM.resume(vm, False, False)
    assert x.VM.get_power_state(vm) == "Running"
    x.VM.suspend(vm)
    x.VM.resume(vm, True, False)
    assert x.VM.get_power_state(vm) == "Paused"
    x.VM.hard_shutdown(vm)
    x.VM.start(vm, False, False)
    x.VM.suspend(vm)
    x.VM.hard_shutdown(vm)                       # hard_shutdown works on a suspended VM
    assert x.VM.get_power_state(vm) == "Halted"


@pytest.mark.parametrize("state,call,expected", [
    ("Halted", "hard_shutdown", "paused, suspended, running"),
    ("Halted", "clean_shutdown", "running"),
    ("Halted", "clean_reboot", "running"),
    ("Halted", "hard_reboot", "running, paused"),
    ("Halted", "pause", "running"),
    ("Halted", "unpause", "paused"),
    ("Halted", "suspend", "running"),
    ("Halted", "resume", "suspended"),
    ("Running", "start", "halted"),
    ("Running", "destroy", "halted, suspended"),
    ("Running", "unpause", "paused"),
    ("Paused", "pause", "running"),
    ("Paused", "suspend", "running"),
])
def test_bad_power_state(api, fails, state, call, expected):
    x = api
    vm = new_vm(x)
    if state != "Halted":
        x.VM.start(vm, state == "Paused", False)
    args = {"start": (False, False), "resume": (False, False)}.get(call, ())
    with fails("VM_BAD_POWER_STATE", vm, expected, state.lower()):
        getattr(x.VM, call)(vm, *args)
    assert x.VM.get_power_state(vm) == state


def test_templates_cannot_start(api, fails):
    template = api.VM.get_by_name_label(TEMPLATE)[0]
    with fails("VM_IS_TEMPLATE", template, "start"):
        api.VM.start(template, False, False)
    clone = api.VM.clone(template, "still a template")
    with fails("VM_IS_TEMPLATE", clone, "start"):
        api.VM.start(clone, False, False)
    with fails("VM_IS_TEMPLATE", clone, "start_on"):
        api.VM.start_on(clone, api.host.get_all()[0], False, False)


def test_unknown_bootloader(api, fails):
    vm = new_vm(api)
    api.VM.set_PV_bootloader(vm, "grub9")
    with fails("UNKNOWN_BOOTLOADER", vm, "grub9"):
        api.VM.start(vm, False, False)
    assert api.VM.get_power_state(vm) == "Halted"


def test_eliloader_needs_an_install_repository(api, fails):
    vm = new_vm(api)
    api.VM.set_PV_bootloader(vm, "eliloader")
    with fails("BOOTLOADER_FAILED", vm, ANY):
        api.VM.start(vm, False, False)
    assert api.VM.get_power_state(vm) == "Halted"


def test_hvm_guest_without_pv_drivers_lacks_clean_shutdown(api, fails):
    x = api
    vm = hvm_vm(x)
    x.VM.start(vm, False, False)
    assert x.VM.get_power_state(vm) == "Running"
    assert x.VM.get_guest_metrics(vm) == NULL
    for call in ("clean_shutdown", "clean_reboot", "suspend"):
        with fails("VM_LACKS_FEATURE", vm):
            getattr(x.VM, call)(vm)
    assert x.VM.get_power_state(vm) == "Running"
    x.VM.hard_shutdown(vm)
    assert x.VM.get_power_state(vm) == "Halted"


def test_other_operation_in_progress(make_pool, login, fails):
    pool = make_pool(clock_speed=4)          # a start takes 0.5 s of real time
    x = login(pool.url)
    vm = new_vm(x)
    task = x.Async.VM.start(vm, False, False)
    deadline = time.monotonic() + 5
    while not x.VM.get_current_operations(vm):
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert x.VM.get_current_operations(vm) == {task: "start"}
    assert x.VM.get_allowed_operations(vm) == []
    with fails("OTHER_OPERATION_IN_PROGRESS", "VM", vm, "start", task):
        x.VM.start(vm, False, False)
    with fails("OTHER_OPERATION_IN_PROGRESS", "VM", vm, "start", task):
        x.VM.clone(vm, "during start")
    while x.task.get_status(task) == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert x.task.get_status(task) == "success"
    assert x.VM.get_power_state(vm) == "Running" and x.VM.get_current_operations(vm) == {}


def test_host_not_enough_free_memory(api, fails):
    x = api
    vm = new_vm(x)
    big = 100 * GiB
    x.VM.set_memory_limits(vm, str(GiB), str(big), str(big), str(big))
    host = x.host.get_all()[0]
    free = int(x.host.compute_free_memory(host))
    assert free == 62 * GiB                                  # 64 GiB less the 2 GiB dom0
    with fails("HOST_NOT_ENOUGH_FREE_MEMORY", str(big), str(free)):
        x.VM.start(vm, False, False)
    assert x.VM.get_power_state(vm) == "Halted"


def test_many_vms_fill_the_host(api, fails):
    x = api
    template = new_vm(x, "big")
    x.VM.set_memory_limits(template, str(GiB), str(20 * GiB), str(20 * GiB), str(20 * GiB))
    vms = [x.VM.clone(template, "big-%d" % i) for i in range(4)]
    for vm in vms[:3]:
        x.VM.start(vm, False, False)
    host = x.host.get_all()[0]
    assert x.host.compute_free_memory(host) == str(2 * GiB)
    assert x.host_metrics.get_record(x.host.get_metrics(host))["memory_free"] == str(2 * GiB)
    with fails("HOST_NOT_ENOUGH_FREE_MEMORY", str(20 * GiB), str(2 * GiB)):
        x.VM.start(vms[3], False, False)
    x.VM.hard_shutdown(vms[0])
    x.VM.start(vms[3], False, False)


# --- destroy ---------------------------------------------------------------------------------------

def test_destroy_keeps_vdis_and_drops_vbds_vifs_and_metrics(api, fails):
    x = api
    vm = new_vm(x)
    network = x.network.get_all()[0]
    vif = x.VIF.create({"device": "0", "network": network, "VM": vm, "MAC": "", "MTU": "1500",
                        "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})
    (vbd,) = x.VM.get_VBDs(vm)
    vdi = x.VBD.get_VDI(vbd)
    metrics = x.VM.get_metrics(vm)
    x.VM.destroy(vm)
    assert vm not in x.VM.get_all()
    assert vbd not in x.VBD.get_all() and vif not in x.VIF.get_all()
    assert vdi in x.VDI.get_all() and x.VDI.get_VBDs(vdi) == []
    assert vif not in x.network.get_VIFs(network)
    assert metrics not in x.VM_metrics.get_all()
    with fails("HANDLE_INVALID", "VM", vm):
        x.VM.get_record(vm)


def test_destroy_a_suspended_vm(api):
    vm = new_vm(api)
    api.VM.start(vm, False, False)
    api.VM.suspend(vm)
    api.VM.destroy(vm)
    assert vm not in api.VM.get_all()


def test_default_templates_cannot_be_destroyed(api, fails):
    x = api
    template = x.VM.get_by_name_label(TEMPLATE)[0]
    assert "destroy" not in x.VM.get_allowed_operations(template)
    with fails("VM_IS_TEMPLATE", template, "destroy"):
        x.VM.destroy(template)
    # a template that is default only by other_config is default all the same (check_template)
    clone = x.VM.clone(template, "default by other_config")
    assert x.VM.get_is_default_template(clone) is False
    assert "destroy" in x.VM.get_allowed_operations(clone)
    x.VM.add_to_other_config(clone, "default_template", "true")
    with fails("VM_IS_TEMPLATE", clone, "destroy"):
        x.VM.destroy(clone)
    # a plain template may go
    other = x.VM.clone(template, "plain template")
    x.VM.destroy(other)
    assert other not in x.VM.get_all()


def test_vm_cannot_delete_default_template(api, fails):
    # A VM (not a template) still marked default_template=true passes the lifecycle checks
    # and is stopped by xapi_vm_helpers.destroy, which sends no parameters.
    x = api
    vm = new_vm(x)
    x.VM.add_to_other_config(vm, "default_template", "true")
    with fails("VM_CANNOT_DELETE_DEFAULT_TEMPLATE"):
        x.VM.destroy(vm)
    assert vm in x.VM.get_all()


def test_control_domain_is_protected(shared_api, fails):
    x = shared_api
    dom0 = x.host.get_control_domain(x.host.get_all()[0])
    with fails("OPERATION_NOT_ALLOWED", "This operation is not allowed on a control domain"):
        x.VM.pause(dom0)
    with fails("VM_BAD_POWER_STATE", dom0, "halted, suspended", "running"):
        x.VM.destroy(dom0)


def test_set_is_a_template(api, fails):
    vm = new_vm(api)
    api.VM.start(vm, False, False)
    with fails("VM_BAD_POWER_STATE", vm, "halted", "running"):
        api.VM.set_is_a_template(vm, True)
    api.VM.hard_shutdown(vm)
    api.VM.set_is_a_template(vm, True)
    with fails("VM_IS_TEMPLATE", vm, "start"):
        api.VM.start(vm, False, False)


# --- memory and VCPUs ------------------------------------------------------------------------------

def test_memory_setters(api, fails):
    x = api
    vm = new_vm(x)
    x.VM.set_memory_limits(vm, str(GiB // 2), str(4 * GiB), str(GiB), str(2 * GiB))
    record = x.VM.get_record(vm)
    assert [record[k] for k in ("memory_static_min", "memory_static_max", "memory_dynamic_min",
                                "memory_dynamic_max")] == [str(GiB // 2), str(4 * GiB), str(GiB),
                                                           str(2 * GiB)]
    x.VM.set_memory_static_max(vm, str(8 * GiB))
    x.VM.set_memory_dynamic_range(vm, str(2 * GiB), str(3 * GiB))
    x.VM.set_memory_dynamic_max(vm, str(4 * GiB))
    x.VM.set_memory(vm, str(2 * GiB))
    record = x.VM.get_record(vm)
    assert (record["memory_static_max"], record["memory_dynamic_min"], record["memory_dynamic_max"]) \
        == (str(2 * GiB),) * 3
    for call, args in (("set_memory_limits", (str(4 * GiB), str(GiB), str(GiB), str(GiB))),
                       ("set_memory_static_max", (str(GiB),)),
                       ("set_memory_dynamic_max", (str(8 * GiB),)),
                       ("set_memory_dynamic_min", (str(3 * GiB),)),
                       ("set_memory_dynamic_range", (str(2 * GiB), str(GiB))),
                       ("set_memory_static_range", (str(3 * GiB), str(4 * GiB)))):
        with fails("MEMORY_CONSTRAINT_VIOLATION_ORDER"):
            getattr(x.VM, call)(vm, *args)
    assert x.VM.get_memory_static_max(vm) == str(2 * GiB)


def test_memory_while_running(api, fails):
    x = api
    vm = new_vm(x)
    x.VM.set_memory_limits(vm, str(GiB // 2), str(2 * GiB), str(GiB), str(2 * GiB))
    x.VM.start(vm, False, False)
    x.VM.set_memory_dynamic_range(vm, str(GiB), str(GiB))            # live ballooning is fine
    assert x.VM.get_memory_dynamic_max(vm) == str(GiB)
    with fails("VM_BAD_POWER_STATE", vm, "halted", "running"):
        x.VM.set_memory_static_max(vm, str(4 * GiB))
    with fails("VM_BAD_POWER_STATE", vm, "halted", "running"):
        x.VM.set_memory_limits(vm, str(GiB // 2), str(4 * GiB), str(GiB), str(GiB))


def test_vcpu_setters(api, fails):
    x = api
    vm = new_vm(x)
    rule = "VCPU values must satisfy: 0 < VCPUs_at_startup \u2264 VCPUs_max"
    x.VM.set_VCPUs_max(vm, "4")
    x.VM.set_VCPUs_at_startup(vm, "4")
    with fails("INVALID_VALUE", rule, "5"):
        x.VM.set_VCPUs_at_startup(vm, "5")
    with fails("INVALID_VALUE", rule, "0"):
        x.VM.set_VCPUs_at_startup(vm, "0")
    with fails("INVALID_VALUE", rule, "2"):
        x.VM.set_VCPUs_max(vm, "2")                       # below VCPUs_at_startup
    x.VM.set_VCPUs_at_startup(vm, "2")
    x.VM.set_VCPUs_max(vm, "2")
    assert (x.VM.get_VCPUs_max(vm), x.VM.get_VCPUs_at_startup(vm)) == ("2", "2")
    x.VM.start(vm, False, False)
    with fails("VM_BAD_POWER_STATE", vm, "halted", "running"):
        x.VM.set_VCPUs_max(vm, "8")
    x.VM.set_VCPUs_number_live(vm, "1")
    assert x.VM_metrics.get_VCPUs_number(x.VM.get_metrics(vm)) == "1"
    with fails("INVALID_VALUE", "nvcpu", "3"):
        x.VM.set_VCPUs_number_live(vm, "3")


def test_vcpus_on_a_template(api):
    # templates may change VCPUs and memory (check_template's allowed list)
    clone = api.VM.clone(api.VM.get_by_name_label(TEMPLATE)[0], "sized")
    api.VM.set_VCPUs_max(clone, "2")
    api.VM.set_memory_limits(clone, str(GiB), str(2 * GiB), str(2 * GiB), str(2 * GiB))
    assert api.VM.get_VCPUs_max(clone) == "2"


def test_blocked_operations(api, fails):
    vm = new_vm(api)
    api.VM.add_to_blocked_operations(vm, "start", "maintenance")
    with fails("OPERATION_BLOCKED", vm, "maintenance"):
        api.VM.start(vm, False, False)
    api.VM.remove_from_blocked_operations(vm, "start")
    api.VM.start(vm, False, False)


def test_copy_to_another_sr(pool, api):
    # SR.create is not modelled: add a second SR the way the simulator builds its own
    from xapisim import pool as pool_builder
    x = api
    host = x.host.get_all()[0]
    with pool.sim.db.lock:           # no XenAPI calls while holding the lock
        second = pool_builder._sr(pool.sim.db, "Second SR", "ext", "user", 100 * GiB, host)
    vm = new_vm(x)
    copy = x.VM.copy(vm, "moved", second)
    (vbd,) = x.VM.get_VBDs(copy)
    vdi = x.VBD.get_VDI(vbd)
    assert x.VDI.get_SR(vdi) == second and vdi in x.SR.get_VDIs(second)
    assert x.SR.get_physical_utilisation(second) == str(8 * GiB)
