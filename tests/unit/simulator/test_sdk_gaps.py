"""What XenServer's published Python SDK samples (xenserver/xenserver-samples python/) need of a
pool, checked through the real SDK: live migration between members, host evacuation, PBD and
SR operations on a second SR, PIF_metrics, host.get_servertime, defaulted parameters, typed
tasks.

Sources (xapi-project/xen-api at e2ee48d688): ocaml/xapi/message_forwarding.ml and
xapi_vm_migrate.ml (pool_migrate), xapi_host.ml (evacuation plan, evacuate, get_servertime),
xapi_sr.ml / xapi_pbd.ml (SR and PBD), ocaml/idl/datamodel*.ml (param_default),
ocaml/xapi/taskHelper.ml (task type); xapi-project/sm drivers (SR_BACKEND_FAILURE codes).
"""
import time
from unittest.mock import ANY

import pytest
import XenAPI

from test_vm_lifecycle import GiB, NULL, hvm_vm, new_vm


def wait_task(x, task, seconds=20):
    deadline = time.time() + seconds
    while x.task.get_status(task) == "pending" and time.time() < deadline:
        time.sleep(0.02)
    return x.task.get_record(task)


@pytest.fixture
def two_hosts(make_pool, login):
    pool = make_pool(members=1)
    x = login(pool.url)
    master = x.pool.get_master(x.pool.get_all()[0])
    other = [h for h in x.host.get_all() if h != master][0]
    return x, master, other


def running_vm(x, host, name="vm", memory=None):
    vm = new_vm(x, name)
    if memory:
        x.VM.set_memory_limits(vm, *[str(memory)] * 4)
    x.VM.start_on(vm, host, False, False)
    return vm


# --- VM.pool_migrate ----------------------------------------------------------------------------

def test_pool_migrate_moves_a_running_vm_and_resident_on_follows(two_hosts):
    x, master, other = two_hosts
    vm = running_vm(x, master)
    assert "pool_migrate" in x.VM.get_allowed_operations(vm)
    x.VM.pool_migrate(vm, other, {"live": "true"})
    assert x.VM.get_resident_on(vm) == other and x.VM.get_power_state(vm) == "Running"
    assert vm in x.host.get_resident_VMs(other) and vm not in x.host.get_resident_VMs(master)
    task = x.Async.VM.pool_migrate(vm, master, {"live": "true"})
    record = wait_task(x, task)
    assert record["status"] == "success" and record["type"] == "<none/>"
    assert x.VM.get_resident_on(vm) == master


def test_pool_migrate_errors(two_hosts, fails):
    x, master, other = two_hosts
    halted = new_vm(x, "halted")
    assert "pool_migrate" not in x.VM.get_allowed_operations(halted)
    with fails("VM_BAD_POWER_STATE", halted, "running", "halted"):
        x.VM.pool_migrate(halted, other, {})
    running = running_vm(x, master, "running")
    with fails("HANDLE_INVALID", "network", "OpaqueRef:nope"):
        x.VM.pool_migrate(running, other, {"network": "OpaqueRef:nope"})
    x.VM.pool_migrate(running, other, {"network": x.network.get_all()[0]})
    assert x.VM.get_resident_on(running) == other
    big = running_vm(x, master, "big", 40 * GiB)
    running_vm(x, other, "filler", 40 * GiB)
    with fails("HOST_NOT_ENOUGH_FREE_MEMORY", str(40 * GiB), ANY):
        x.VM.pool_migrate(big, other, {})
    assert x.VM.get_resident_on(big) == master


def test_an_hvm_guest_without_pv_drivers_cannot_migrate(two_hosts, fails):
    x, master, other = two_hosts
    vm = hvm_vm(x)
    x.VM.start(vm, False, False)
    assert "pool_migrate" not in x.VM.get_allowed_operations(vm)
    with fails("VM_LACKS_FEATURE", vm):
        x.VM.pool_migrate(vm, other, {})


# --- host evacuation -----------------------------------------------------------------------------

def test_evacuate_with_its_defaulted_parameters(two_hosts):
    x, master, other = two_hosts
    vms = [running_vm(x, other, "vm%d" % i) for i in range(3)]
    assert x.host.get_vms_which_prevent_evacuation(other) == {}
    x.host.evacuate(other)                         # network and evacuate_batch_size defaulted
    assert all(x.VM.get_resident_on(vm) == master for vm in vms)
    assert [vm for vm in x.host.get_resident_VMs(other)
            if not x.VM.get_is_control_domain(vm)] == []


def test_vms_which_prevent_evacuation(two_hosts, fails):
    x, master, other = two_hosts
    hvm = hvm_vm(x)
    x.VM.start_on(hvm, other, False, False)
    big = running_vm(x, other, "big", 40 * GiB)
    running_vm(x, master, "filler", 40 * GiB)
    prevent = x.host.get_vms_which_prevent_evacuation(other)
    assert prevent == {hvm: ["VM_LACKS_FEATURE", hvm], big: ["HOST_NOT_ENOUGH_FREE_MEMORY", big]}
    with pytest.raises(XenAPI.Failure) as caught:
        x.host.evacuate(other, NULL, 1)
    assert caught.value.details[0] in ("VM_LACKS_FEATURE", "HOST_NOT_ENOUGH_FREE_MEMORY")
    assert x.VM.get_resident_on(big) == other


def test_evacuating_a_single_host_pool(api):
    x = api
    host = x.host.get_all()[0]
    vm = running_vm(x, host)
    assert x.host.get_vms_which_prevent_evacuation(host) == {vm: ["NO_HOSTS_AVAILABLE", vm]}


# --- SR and PBD ---------------------------------------------------------------------------------

def test_sr_create_nfs_shared_has_a_plugged_pbd_per_host(two_hosts):
    x, master, other = two_hosts
    sr = x.SR.create(master, {"server": "192.0.2.10", "serverpath": "/exports/vms"}, 0,
                     "NFS VMs", "", "nfs", "", True, {})
    record = x.SR.get_record(sr)
    assert record["type"] == "nfs" and record["shared"] is True
    pbds = record["PBDs"]
    assert sorted(x.PBD.get_host(p) for p in pbds) == sorted([master, other])
    assert all(x.PBD.get_currently_attached(p) for p in pbds)
    assert x.PBD.get_device_config(pbds[0])["server"] == "192.0.2.10"


def test_sr_create_errors(api, fails):
    x = api
    host = x.host.get_all()[0]
    with fails("SR_UNKNOWN_DRIVER", "zfs"):
        x.SR.create(host, {}, 0, "z", "", "zfs", "", False, {})
    with fails("SR_BACKEND_FAILURE_102", "", "The request is missing the server parameter", ""):
        x.SR.create(host, {"serverpath": "/x"}, 0, "n", "", "nfs", "", True, {})
    with fails("SR_BACKEND_FAILURE_90", "", "The request is missing the device parameter", ""):
        x.SR.create(host, {}, 0, "e", "", "ext", "user", False, {})
    assert len(x.SR.get_all()) == 2                # nothing was created


def test_fixpbds_flow_unplug_destroy_create_plug(api, fails):
    """fixpbds.py: a PBD is re-created with a changed device_config."""
    x = api
    host = x.host.get_all()[0]
    sr = x.SR.create(host, {"device": "/dev/sdb"}, str(100 * GiB), "Second disk", "", "ext", "user", False, {})
    assert x.SR.get_physical_size(sr) == str(100 * GiB)
    pbd, = x.SR.get_PBDs(sr)
    with fails("OPERATION_NOT_ALLOWED", "PBD is currently attached"):
        x.PBD.destroy(pbd)
    with fails("PBD_EXISTS", sr, host, pbd):
        x.PBD.create({"host": host, "SR": sr, "device_config": {}})
    x.PBD.unplug(pbd)
    x.PBD.unplug(pbd)                              # unplugging an unplugged PBD does nothing
    record = x.PBD.get_record(pbd)
    x.PBD.destroy(pbd)
    config = dict(record["device_config"], target="127.0.0.2")
    new = x.PBD.create({"host": record["host"], "SR": record["SR"], "device_config": config})
    assert x.PBD.get_currently_attached(new) is False
    x.PBD.plug(new)
    assert x.PBD.get_currently_attached(new) is True and x.SR.get_PBDs(sr) == [new]
    assert x.PBD.get_device_config(new) == {"device": "/dev/sdb", "target": "127.0.0.2"}


def test_unplug_with_a_disk_in_use_and_sr_forget_destroy(api, fails):
    x = api
    host = x.host.get_all()[0]
    sr = x.SR.create(host, {"device": "/dev/sdb"}, 0, "Second disk", "", "ext", "user", False, {})
    pbd, = x.SR.get_PBDs(sr)
    vm = new_vm(x)
    vdi = x.VDI.create({"name_label": "data", "SR": sr, "virtual_size": str(GiB), "type": "user",
                        "sharable": False, "read_only": False, "other_config": {}})
    x.VBD.create({"VM": vm, "VDI": vdi, "userdevice": "1", "bootable": False, "mode": "RW",
                  "type": "Disk", "empty": False, "other_config": {}, "qos_algorithm_type": "",
                  "qos_algorithm_params": {}})
    x.VM.start(vm, False, False)
    with fails("VDI_IN_USE", vdi):
        x.PBD.unplug(pbd)
    x.VM.hard_shutdown(vm)
    with fails("SR_HAS_PBD", sr):
        x.SR.destroy(sr)
    x.PBD.unplug(pbd)
    with fails("SR_BACKEND_FAILURE_39", "", "The SR is not empty [opterr=VDIs still exist in SR]", ""):
        x.SR.destroy(sr)
    x.SR.forget(sr)                                # forget drops the records, VDIs included
    assert sr not in x.SR.get_all() and vdi not in x.VDI.get_all()
    empty = x.SR.create(host, {"device": "/dev/sdc"}, 0, "Third", "", "ext", "user", False, {})
    x.PBD.unplug(x.SR.get_PBDs(empty)[0])
    x.SR.destroy(empty)
    assert empty not in x.SR.get_all()


# --- PIF_metrics, host.get_servertime, defaults, task type ----------------------------------------

def test_every_pif_has_metrics(two_hosts):
    x = two_hosts[0]
    pifs = x.PIF.get_all_records()
    assert len(pifs) == 4
    for record in pifs.values():
        metrics = x.PIF_metrics.get_record(record["metrics"])
        assert metrics["carrier"] is True and metrics["speed"] == "1000" and metrics["duplex"] is True
        assert metrics["vendor_name"] and metrics["device_name"]


def test_get_servertime(api):
    x = api
    stamp = x.host.get_servertime(x.host.get_all()[0])
    assert abs(time.mktime(time.strptime(str(stamp), "%Y%m%dT%H:%M:%SZ"))
               - time.mktime(time.gmtime())) < 60


def test_param_defaults_come_from_the_datamodel():
    from xapisim import model
    assert model.param_defaults("host", "evacuate") == {"network": NULL, "evacuate_batch_size": 0}
    assert model.param_defaults("VM", "snapshot") == {"ignore_vdis": []}
    assert model.param_defaults("VDI", "copy") == {"sr": NULL, "base_vdi": NULL, "into_vdi": NULL}
    assert model.param_defaults("VM", "start") == {}


def test_a_missing_required_parameter_is_still_a_count_mismatch(api, fails):
    x = api
    with fails("MESSAGE_PARAMETER_COUNT_MISMATCH", "host.evacuate", "3", "0"):
        x.host.evacuate()
    with fails("MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.start", "3", "1"):
        x.VM.start(x.VM.get_all()[0])


def test_async_tasks_are_typed_none(api):
    x = api
    vm = new_vm(x)
    record = wait_task(x, x.Async.VM.start(vm, False, False))
    assert record["status"] == "success" and record["type"] == "<none/>"


def test_provision_is_advertised_on_templates_only(api, fails):
    # xapi_vm_lifecycle.ml: check_template allows provision; check_operation_error refuses it
    # on a VM that is not a template (only_provision_template: PROVISION_ONLY_ALLOWED_ON_TEMPLATE),
    # so it is never listed there
    x = api
    template = x.VM.clone(x.VM.get_by_name_label("CentOS 5 (64-bit)")[0], "my template")
    assert "provision" in x.VM.get_allowed_operations(template)
    vm = x.VM.clone(template, "a vm")
    x.VM.set_is_a_template(vm, False)
    assert x.VM.get_power_state(vm) == "Halted" and "start" in x.VM.get_allowed_operations(vm)
    assert "provision" not in x.VM.get_allowed_operations(vm)
    with fails("PROVISION_ONLY_ALLOWED_ON_TEMPLATE"):
        x.VM.provision(vm)


# --- events carry each object's own generation ---------------------------------------------------

def test_event_ids_are_each_objects_generation(api):
    x = api
    older = new_vm(x, "older")
    newer = new_vm(x, "newer")
    every = x.event.__getattr__("from")(["vm"], "", 0.0)
    ids = {e["ref"]: int(e["id"]) for e in every["events"]}
    assert all(e["operation"] == "add" and e["timestamp"] == "0.0" for e in every["events"])
    assert ids[older] < ids[newer] <= int(every["token"].split(",")[0])
    templates = [ref for ref in ids if ref not in (older, newer)]
    assert max(ids[t] for t in templates) < ids[older]       # templates came with the pool
    token = every["token"]
    x.VM.set_name_description(older, "first change")
    x.VM.set_name_description(newer, "second change")
    changed = x.event.__getattr__("from")(["vm"], token, 5.0)
    mods = {e["ref"]: int(e["id"]) for e in changed["events"] if e["operation"] == "mod"}
    assert set(mods) == {older, newer}
    assert int(token.split(",")[0]) < mods[older] < mods[newer] <= int(changed["token"].split(",")[0])
    x.VM.set_name_description(older, "third change")          # older is now the newest change
    again = x.event.__getattr__("from")(["vm"], changed["token"], 5.0)
    assert [(e["ref"], int(e["id"]) > mods[newer]) for e in again["events"]] == [(older, True)]


def test_an_object_created_in_the_window_is_an_add_with_its_creation_generation(api):
    x = api
    token = x.event.__getattr__("from")(["vm"], "", 0.0)["token"]
    vm = new_vm(x, "fresh")                      # created, then changed by provision
    events = [e for e in x.event.__getattr__("from")(["vm"], token, 5.0)["events"] if e["ref"] == vm]
    assert [e["operation"] for e in events] == ["add"]
    assert int(events[0]["id"]) < int(x.event.get_current_id())


# --- JSON-RPC requests xapi's parser refuses ---------------------------------------------------

def post_jsonrpc(url, body):
    import urllib.error
    import urllib.request
    request = urllib.request.Request(url + "/jsonrpc", data=body.encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.mark.parametrize("body,reason", [
    ('{"method": "session.login_with_password", "id": 1}', "Required field params is missing"),
    ('{"method": "session.login_with_password", "params": ["root", "xenroot"]}',
     "Invalid field &apos;id&apos; in request body"),
    ('{"jsonrpc": "2.0", "method": "session.login_with_password", "params": ["root", "xenroot"]}',
     "Invalid field &apos;id&apos; in request body"),
    ('{"method": "session.login_with_password", "params": ["root", "xenroot"], "id": null}',
     "Invalid field &apos;id&apos; in request body"),
    ('{"method": "session.login_with_password", "params": ["root", "xenroot"], "id": 1.5}',
     "Invalid field &apos;id&apos; in request body"),
    ('{"method": "session.login_with_password", "params": "root", "id": 1}',
     "Invalid field &apos;params&apos; in request body"),
    ('{"params": [], "id": 1}', "Required field method is missing"),
    ('{"jsonrpc": "1.0", "method": "x", "params": [], "id": 1}',
     "Invalid field &apos;jsonrpc&apos; in request body"),
    ('[1, 2]', "Invalid request body"),
])
def test_jsonrpc_without_params_or_id_is_refused_as_xapi_does(pool, body, reason):
    status, page = post_jsonrpc(pool.url, body)
    assert status == 500
    assert page.startswith("<html><body><h1>HTTP 500 internal server error</h1>")
    assert "Jsonrpc.Malformed_method_request(&quot;%s&quot;)" % reason in page
    assert pool.sim.db.all("session") == {}                   # nothing was called


def test_jsonrpc_v2_may_leave_params_out(pool):
    status, page = post_jsonrpc(pool.url, '{"jsonrpc": "2.0", "method": "session.login_with_password", "id": 4}')
    assert status == 200
    import json
    reply = json.loads(page)
    assert reply["id"] == 4 and reply["error"]["message"] == "MESSAGE_PARAMETER_COUNT_MISMATCH"


# --- Debian Etch 4.0: a pre-built image template ---------------------------------------------

def test_debian_etch_is_a_prebuilt_image_that_boots_and_reports(api):
    """What the SDK's install.py does with the first Debian template."""
    x = api
    template = x.VM.get_by_name_label("Debian Etch 4.0")[0]
    record = x.VM.get_record(template)
    assert record["PV_bootloader"] == "pygrub" and "install-methods" not in record["other_config"]
    assert record["other_config"]["postinstall"].endswith("/post-install-scripts/debian-etch")
    vm = x.VM.clone(template, "new")
    network = x.PIF.get_network(x.PIF.get_all()[0])
    x.VIF.create({"device": "0", "network": network, "VM": vm, "MAC": "", "MTU": "1500",
                  "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})
    x.VM.set_PV_args(vm, "non-interactive")
    sr_uuid = x.SR.get_uuid(x.pool.get_default_SR(x.pool.get_all()[0]))
    disks = x.VM.get_other_config(vm)["disks"].replace('sr=""', 'sr="%s"' % sr_uuid)
    x.VM.remove_from_other_config(vm, "disks")
    x.VM.add_to_other_config(vm, "disks", disks)
    x.VM.provision(vm)
    assert "postinstall" not in x.VM.get_other_config(vm)
    assert sorted(x.VBD.get_userdevice(v) for v in x.VM.get_VBDs(vm)) == ["0", "1"]
    x.VM.start(vm, False, True)
    deadline = time.time() + 30
    metrics = NULL
    while time.time() < deadline:
        metrics = x.VM.get_guest_metrics(vm)
        if metrics != NULL and "0/ip" in x.VM_guest_metrics.get_networks(metrics):
            break
        time.sleep(0.05)
    os_version = x.VM_guest_metrics.get_os_version(metrics)
    assert os_version["name"] == "Debian 4.0" and os_version["distro"] == "debian"
    assert os_version["uname"] == "2.6.18-6-xen-686"
    assert x.VM_guest_metrics.get_networks(metrics)["0/ip"]
    assert "clean_shutdown" in x.VM.get_allowed_operations(vm)


def test_a_postinstall_script_outside_the_scripts_directory_is_refused(api, fails):
    x = api
    vm = x.VM.clone(x.VM.get_by_name_label("Debian Etch 4.0")[0], "evil")
    x.VM.remove_from_other_config(vm, "postinstall")
    x.VM.add_to_other_config(vm, "postinstall", "/tmp/evil")
    uuid = x.SR.get_uuid(x.pool.get_default_SR(x.pool.get_all()[0]))
    disks = x.VM.get_other_config(vm)["disks"].replace('sr=""', 'sr="%s"' % uuid)
    x.VM.remove_from_other_config(vm, "disks")
    x.VM.add_to_other_config(vm, "disks", disks)
    with fails("PERMISSION_DENIED", "illegal provision script /tmp/evil"):
        x.VM.provision(vm)
    assert x.VM.get_VBDs(vm) == []


def test_a_body_that_is_not_json_gets_the_500_page(pool):
    status, page = post_jsonrpc(pool.url, "{not json")
    assert status == 500 and "Yojson.Json_error(" in page
