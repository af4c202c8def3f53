"""vm_cloud_init against the simulator, through the real SDK and the HTTP data path: the drive is
made, read by the simulated guest's cloud-init at first boot, left alone after it unless
replace, masked in check mode and diff, removed; bad input fails before anything changes."""
import io
import json

import pycdlib
import pytest
import yaml

from xapisim import images

from test_lost_answers import inject
from test_vm_power import make_vm

ROCKY = "Rocky-9-GenericCloud.x86_64.raw"
MARK_KEY = "xenserver.provisioning:cloud-init"
PROVISIONAL = "%s [xenserver.provisioning: being created]"
NETWORK = {"version": 2, "ethernets": {"eth0": {"addresses": ["192.0.2.50/24"], "gateway4": "192.0.2.1",
                                                "nameservers": {"addresses": ["192.0.2.53"]}}}}
USER_DATA = {"users": [{"name": "ops", "ssh_authorized_keys": ["ssh-ed25519 AAAA ops"]}]}


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("images")
    images.write_samples(str(directory))
    return directory


@pytest.fixture
def cloud_vm(pool, run_module, image_dir):
    """A halted VM from a Rocky 9 cloud image template (made by vm_template), never booted."""
    result = run_module("vm_template", name="rocky9", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    assert result["changed"] and not result.get("failed"), result
    result = run_module("vm", name="web1", template="rocky9",
                        networks=[{"network": "Pool-wide network associated with eth0"}])
    assert result["changed"] and not result.get("failed"), result
    return pool.vm("web1")[0]


def drives(pool, vm):
    """[(vbd record, vdi record)] of the VM's cloud-init drives."""
    api = pool.api
    found = []
    for vbd in api.VM.get_VBDs(vm):
        record = api.VBD.get_record(vbd)
        if record["type"] == "Disk" and MARK_KEY in api.VDI.get_other_config(record["VDI"]):
            found.append((record, api.VDI.get_record(record["VDI"])))
    return found


def seed_files(pool, vdi_uuid):
    """The files on the drive, read by Rock Ridge names as Linux mounts them."""
    with pool.sim.vdi_store.open(vdi_uuid, "rb") as handle:
        data = handle.read()
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    assert iso.pvd.volume_identifier.decode().strip() == "cidata"
    files = {}
    for name in ("meta-data", "user-data", "network-config"):
        out = io.BytesIO()
        try:
            iso.get_file_from_iso_fp(out, rr_path="/" + name)
        except pycdlib.pycdlibexception.PyCdlibInvalidInput:
            continue
        files[name] = out.getvalue().decode()
    iso.close()
    return files


def boot(pool, vm):
    pool.api.VM.start(vm, False, True)
    return pool.sim.guests.wait(vm, lambda s: s.get("stage") in ("booted", "no-bootable-device")
                                and s.get("cloud_init", {}).get("status") not in (None, "running"))


def test_create_check_mode_idempotent_and_the_guest_applies_it(pool, run_module, cloud_vm):
    vm = cloud_vm
    uuid = pool.api.VM.get_uuid(vm)
    before = pool.state()
    result = run_module("vm_cloud_init", check_mode=True, diff=True, name="web1", user_data=USER_DATA,
                        network_config=NETWORK)
    assert result["changed"] and not result.get("failed"), result
    assert result["diff"]["before"] == {"meta-data": "", "user-data": "", "network-config": "", "state": "absent"}
    after = result["diff"]["after"]
    assert after["user-data"].startswith("#cloud-config\n") and yaml.safe_load(after["user-data"]) == USER_DATA
    assert yaml.safe_load(after["network-config"]) == NETWORK
    assert yaml.safe_load(after["meta-data"]) == {"instance-id": uuid, "local-hostname": "web1"}
    assert result["cloud_init"]["vdi_uuid"] == "" and result["cloud_init"]["userdevice"] == "1"
    assert pool.state() == before

    pool.mark()
    result = run_module("vm_cloud_init", name="web1", user_data=USER_DATA, network_config=NETWORK)
    assert result["changed"] and not result.get("failed"), result
    assert "PUT /import_raw_vdi" in pool.calls()
    (vbd, vdi), = drives(pool, vm)
    # read-write: web1 is HVM, and xapi refuses read-only disks for HVM guests
    assert vbd["mode"] == "RW" and vbd["type"] == "Disk" and vbd["userdevice"] == "1" and not vbd["bootable"]
    assert vdi["name_label"] == "web1 cloud-init" and result["cloud_init"]["vdi_uuid"] == vdi["uuid"]
    files = seed_files(pool, vdi["uuid"])
    assert yaml.safe_load(files["meta-data"]) == {"instance-id": uuid, "local-hostname": "web1"}
    assert files["user-data"].startswith("#cloud-config\n") and yaml.safe_load(files["user-data"]) == USER_DATA
    assert yaml.safe_load(files["network-config"]) == NETWORK
    assert 0 < result["upload"]["bytes"] <= int(pool.api.VDI.get_virtual_size(vbd["VDI"]))

    pool.mark()
    result = run_module("vm_cloud_init", name="web1", user_data=USER_DATA, network_config=NETWORK)
    assert result["changed"] is False and result["upload"] == {} and result["note"] == "", result
    calls = pool.calls()
    assert "PUT /import_raw_vdi" not in calls and "VDI.create" not in calls
    assert len(calls) <= 9, calls
    assert len(drives(pool, vm)) == 1

    guest = boot(pool, vm)
    assert guest["stage"] == "booted", guest.get("console")
    assert guest["hostname"] == "web1" and guest["cloud_init"]["status"] == "done"
    assert guest["cloud_init"]["instance_id"] == uuid
    networks = pool.api.VM_guest_metrics.get_networks(pool.api.VM.get_guest_metrics(vm))
    assert networks["0/ip"] == "192.0.2.50"


def test_changed_before_first_boot_replaces_after_it_only_with_replace(pool, run_module, cloud_vm):
    vm = cloud_vm
    uuid = pool.api.VM.get_uuid(vm)
    run_module("vm_cloud_init", name="web1", user_data=USER_DATA, network_config=NETWORK)
    (_vbd, first), = drives(pool, vm)

    # before the first boot: replaced, same instance-id
    changed = dict(USER_DATA, hostname="first")
    result = run_module("vm_cloud_init", diff=True, name="web1", user_data=changed, network_config=NETWORK)
    assert result["changed"] and result["changes"]["fields"] == ["user-data"], result
    assert yaml.safe_load(result["diff"]["before"]["user-data"]) == USER_DATA
    (vbd, second), = drives(pool, vm)
    assert second["uuid"] != first["uuid"] and vbd["userdevice"] == "1"
    assert first["uuid"] not in [v["uuid"] for v in pool.sim.db.all("VDI").values()]
    assert yaml.safe_load(seed_files(pool, second["uuid"])["meta-data"])["instance-id"] == uuid
    guest = boot(pool, vm)
    assert guest["hostname"] == "first" and guest["cloud_init"]["instance_id"] == uuid

    # after it (running): left alone with a note
    later = dict(USER_DATA, hostname="second")
    result = run_module("vm_cloud_init", name="web1", user_data=later, network_config=NETWORK)
    assert result["changed"] is False and not result.get("failed"), result
    assert "has booted since" in result["note"] and "replace: true" in result["note"]
    assert result["cloud_init"]["vdi_uuid"] == second["uuid"] and result["cloud_init"]["booted"] is True
    assert [v["uuid"] for _b, v in drives(pool, vm)] == [second["uuid"]]

    # replace: true needs the attached drive detached: the VM halted
    before = pool.state()
    result = run_module("vm_cloud_init", name="web1", user_data=later, network_config=NETWORK, replace=True)
    assert result["failed"] and result["error_code"] == "VM_NEEDS_HALT" and "halt" in result["msg"], result
    result = run_module("vm_cloud_init", name="web1", state="absent")
    assert result["failed"] and result["error_code"] == "VM_NEEDS_HALT" and "removed" in result["msg"], result
    assert pool.state() == before
    pool.api.VM.clean_shutdown(vm)
    result = run_module("vm_cloud_init", name="web1", user_data=later, network_config=NETWORK, replace=True)
    assert result["changed"] and result["cloud_init"]["instance_id"] == uuid + "-1", result
    (_vbd, third), = drives(pool, vm)
    assert yaml.safe_load(seed_files(pool, third["uuid"])["meta-data"])["instance-id"] == uuid + "-1"
    guest = boot(pool, vm)
    assert guest["hostname"] == "second" and guest["cloud_init"]["instance_id"] == uuid + "-1"


SECRET_DATA = {
    "users": [{"name": "ops", "passwd": "$6$hash-one", "hashed_passwd": "$6$hash-two",
               "plain_text_passwd": "plain-three"}],
    "chpasswd": {"expire": False, "list": "root:list-four\nops:list-five\n",
                 "users": [{"name": "dev", "password": "users-six", "type": "text"}]},
    "ubuntu_pro": {"token": "token-seven"},
}
SECRETS = ["$6$hash-one", "$6$hash-two", "plain-three", "list-four", "list-five", "users-six", "token-seven",
           "wifi-eight"]


def test_secrets_are_masked_in_check_mode_diff_and_results(pool, run_module):
    make_vm(pool, "masked")
    network = {"version": 2, "wifis": {"wlan0": {"dhcp4": True, "access-points": {"home": {"password": "wifi-eight"}}}}}
    for check_mode in (True, False):
        result = run_module("vm_cloud_init", check_mode=check_mode, diff=True, name="masked",
                            user_data=SECRET_DATA, network_config=network, masked_keys=["token"])
        assert result["changed"] and not result.get("failed"), result
        text = json.dumps(result)
        for secret in SECRETS:
            assert secret not in text, (secret, text)
        shown = yaml.safe_load(result["diff"]["after"]["user-data"])
        assert shown["users"][0]["passwd"] == "********" and shown["users"][0]["name"] == "ops"
        assert shown["chpasswd"]["list"] == "root:********\nops:********\n"
        assert shown["chpasswd"]["users"][0] == {"name": "dev", "password": "********", "type": "text"}
        assert shown["chpasswd"]["expire"] is False and shown["ubuntu_pro"]["token"] == "********"
        net = yaml.safe_load(result["diff"]["after"]["network-config"])
        assert net["wifis"]["wlan0"]["access-points"]["home"]["password"] == "********"
    # the drive itself holds the real values
    vm = pool.vm("masked")[0]
    (_vbd, vdi), = drives(pool, vm)
    files = seed_files(pool, vdi["uuid"])
    assert "plain-three" in files["user-data"] and "wifi-eight" in files["network-config"]
    assert not any(s in json.dumps(vdi["other_config"]) for s in SECRETS)
    # chpasswd list given as a list of lines
    result = run_module("vm_cloud_init", diff=True, name="masked", user_data={"chpasswd": {"list": ["a:lst-9"]}})
    assert "lst-9" not in json.dumps(result)
    assert yaml.safe_load(result["diff"]["after"]["user-data"])["chpasswd"]["list"] == ["a:********"]


def test_a_script_is_not_shown_and_a_string_cloud_config_is_masked(pool, run_module):
    make_vm(pool, "script")
    script = "#!/bin/sh\necho secret-script-value > /root/x\n"
    result = run_module("vm_cloud_init", diff=True, name="script", user_data=script)
    assert result["changed"] and "secret-script-value" not in json.dumps(result), result
    assert result["cloud_init"]["user_data"].startswith("(not #cloud-config, not shown")
    (_vbd, vdi), = drives(pool, pool.vm("script")[0])
    assert seed_files(pool, vdi["uuid"])["user-data"] == script
    text = "#cloud-config\nusers:\n  - name: a\n    plain_text_passwd: str-secret-1\n"
    result = run_module("vm_cloud_init", diff=True, name="script", user_data=text)
    assert result["changed"] and "str-secret-1" not in json.dumps(result), result
    (_vbd, vdi), = drives(pool, pool.vm("script")[0])
    assert seed_files(pool, vdi["uuid"])["user-data"] == text        # used as it is


@pytest.mark.parametrize("options, needle", [
    ({"user_data": "#cloud-config\nusers: [\n  - name: a\n"}, "not valid YAML at line"),
    ({"user_data": "#cloud-config\n- a\n- b\n"}, "not a mapping"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["192.0.2.50/24"],
                                                          "gateway4": "198.51.100.1"}})},
     "network_config.ethernets.eth0.gateway4: 198.51.100.1 is outside 192.0.2.0/24"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["192.0.2.0/24"]}})},
     "192.0.2.0/24 is the network address"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["192.0.2.255/24"]}})},
     "192.0.2.255/24 is the broadcast address"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["192.0.2.5/33"]}})},
     "'192.0.2.5/33' is not an address with a prefix"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["192.0.2.5"]}})}, "has no prefix"),
    ({"network_config": {"version": 1, "config": [{"type": "physical", "name": "eth0", "subnets": [
        {"type": "static", "address": "10.0.0.5", "netmask": "255.255.255.0", "gateway": "10.0.1.1"}]}]}},
     "network_config.config[0].subnets[0].gateway: 10.0.1.1 is outside 10.0.0.0/24"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["192.0.2.50/24"], "routes": [
        {"to": "default", "via": "198.51.100.1"}]}})},
     "network_config.ethernets.eth0.routes[0].via: 198.51.100.1 is outside 192.0.2.0/24"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["2001:db8:1::5/64"], "routes": [
        {"to": "::/0", "via": "2001:db8:2::1"}]}})},
     "network_config.ethernets.eth0.routes[0].via: 2001:db8:2::1 is outside 2001:db8:1::/64"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["2001:db8:1::5/64"],
                                                          "gateway6": "2001:db8:2::1"}})},
     "network_config.ethernets.eth0.gateway6: 2001:db8:2::1 is outside 2001:db8:1::/64"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["192.0.2.50/24"], "routes": [
        {"to": "0.0.0.0/0", "via": "2001:db8::1"}]}})}, "via 2001:db8::1 is an IPv6 address"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["192.0.2.50/24"], "routes": [
        {"to": "default"}]}})}, "routes[0]: a route to default needs a via"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"addresses": ["2001:db8:1::5/64"],
                                                          "gateway4": "192.0.2.1"}})},
     "gateway4: 192.0.2.1 cannot be reached: the interface has no static IPv4 address"),
    ({"network_config": {"version": 1, "config": [{"type": "physical", "name": "eth0", "subnets": [
        {"type": "static", "address": "10.0.0.5/24", "gateway": "2001:db8::1"}]}]}},
     "subnets[0].gateway: 2001:db8::1 cannot be reached"),
    ({"user_data": [1, 2]}, "user_data must be a dict"),
    ({"meta_data": {"instance-id": ""}}, "meta_data.instance-id must not be empty"),
    ({"network_config": {"version": 3}}, "network_config.version must be 1 or 2"),
    ({"network_config": dict(NETWORK, ethernets={"eth0": {"nameservers": {"addresses": ["dns.example"]}}})},
     "'dns.example' is not an IP address"),
])
def test_bad_input_fails_naming_the_value_before_anything_changes(pool, run_module, options, needle):
    make_vm(pool, "bad")
    before = pool.state()
    pool.mark()
    result = run_module("vm_cloud_init", name="bad", **options)
    assert result["failed"] and needle in result["msg"], result
    assert pool.state() == before
    assert pool.calls() == []           # nothing asked of the pool, not even a login
    assert not result.get("exception"), result


def test_default_routes_and_their_gateways_on_the_drive(pool, run_module):
    """to: default is written as 0.0.0.0/0 or ::/0 by its via's family (cloud-init 22.4 refuses
    default); gateways the checks accept: inside the prefix, IPv6 link-local, on-link, DHCP."""
    vm = make_vm(pool, "routes")
    config = {"version": 2, "ethernets": {
        "eth0": {"addresses": ["192.0.2.50/24", "2001:db8:1::5/64"],
                 "routes": [{"to": "default", "via": "192.0.2.1"}, {"to": "default", "via": "fe80::1"},
                            {"to": "198.51.100.0/24", "via": "203.0.113.1"}]},
        "eth1": {"addresses": ["10.1.0.5/24"], "routes": [{"to": "0.0.0.0/0", "via": "172.16.0.1", "on-link": True}]},
        "eth2": {"dhcp4": True, "gateway4": "10.9.9.1"}}}
    result = run_module("vm_cloud_init", diff=True, name="routes", network_config=config)
    assert result["changed"] and not result.get("failed"), result
    routes = [{"to": "0.0.0.0/0", "via": "192.0.2.1"}, {"to": "::/0", "via": "fe80::1"},
              {"to": "198.51.100.0/24", "via": "203.0.113.1"}]
    assert result["cloud_init"]["network_config"]["ethernets"]["eth0"]["routes"] == routes
    (_vbd, vdi), = drives(pool, vm)
    written = yaml.safe_load(seed_files(pool, vdi["uuid"])["network-config"])
    assert written["ethernets"]["eth0"]["routes"] == routes
    assert written["ethernets"]["eth1"] == config["ethernets"]["eth1"]
    result = run_module("vm_cloud_init", name="routes", network_config=config)
    assert result["changed"] is False, result


def test_absent_detaches_and_destroys_and_a_missing_vm(pool, run_module):
    vm = make_vm(pool, "rm")
    run_module("vm_cloud_init", name="rm", user_data={"hostname": "x"})
    (_vbd, vdi), = drives(pool, vm)
    before = pool.state()
    result = run_module("vm_cloud_init", check_mode=True, diff=True, name="rm", state="absent")
    assert result["changed"] and result["diff"] == {"before": {"state": "present"}, "after": {"state": "absent"}}
    assert pool.state() == before
    result = run_module("vm_cloud_init", name="rm", state="absent")
    assert result["changed"] and result["cloud_init"] == {}
    assert drives(pool, vm) == [] and vdi["uuid"] not in [v["uuid"] for v in pool.sim.db.all("VDI").values()]
    assert run_module("vm_cloud_init", name="rm", state="absent")["changed"] is False
    result = run_module("vm_cloud_init", name="no such vm", user_data={})
    assert result["failed"] and "no such vm" in result["msg"]


def test_a_dropped_upload_leaves_no_drive(pool, run_module, monkeypatch):
    from xapisim import datapath

    def dropping(self, *args):
        raise ConnectionResetError("dropped by the test")
    vm = make_vm(pool, "drop")
    monkeypatch.setattr(datapath._Counted, "read", dropping)
    monkeypatch.setattr(datapath._Counted, "readinto", dropping)
    before = pool.state()
    result = run_module("vm_cloud_init", name="drop", user_data={"hostname": "x"})
    # the client sees the drop, or (if the answer came first) the task the handler failed
    assert result["failed"] and "the upload of the cloud-init drive" in result["msg"], result
    assert pool.state() == before
    assert not [v for v in pool.sim.db.all("VDI").values() if "cloud-init" in v["name_label"]]
    monkeypatch.undo()
    result = run_module("vm_cloud_init", name="drop", user_data={"hostname": "x"})
    assert result["changed"] and len(drives(pool, vm)) == 1


def test_lost_answers_make_one_drive(pool, run_module):
    vm = make_vm(pool, "lossy")
    faults = inject(pool, reset_after={"task.create": 1, "VDI.create": 1, "VBD.create": 1})
    result = run_module("vm_cloud_init", name="lossy", user_data={"hostname": "lossy"})
    assert result["changed"] and not result.get("failed"), result
    assert faults.summary() == {"reset_after": 3}
    assert len(drives(pool, vm)) == 1
    assert len([v for v in pool.sim.db.all("VDI").values() if "cloud-init" in v["name_label"]]) == 1
    assert not [t for t in pool.api.task.get_all_records().values() if "upload" in t["name_label"]]


def test_a_drive_made_for_another_vm_is_replaced(pool, run_module, cloud_vm):
    """A drive copied with its VM (other_config kept) names the VM it was made for: this VM has
    not booted with it, so other content replaces it without replace."""
    run_module("vm_cloud_init", name="web1", user_data=USER_DATA)
    boot(pool, cloud_vm)
    pool.api.VM.hard_shutdown(cloud_vm)
    (_vbd, drive), = drives(pool, cloud_vm)
    ref = pool.api.VDI.get_by_uuid(drive["uuid"])
    assert run_module("vm_cloud_init", name="web1", user_data={"hostname": "x"})["note"]      # booted: left alone
    pool.api.VDI.remove_from_other_config(ref, MARK_KEY)
    pool.api.VDI.add_to_other_config(ref, MARK_KEY, "00000000-0000-0000-0000-000000000001")
    result = run_module("vm_cloud_init", name="web1", user_data={"hostname": "x"})
    assert result["changed"] and result["note"] == "", result
    assert result["cloud_init"]["instance_id"] == pool.api.VM.get_uuid(cloud_vm)
    (_vbd, own), = drives(pool, cloud_vm)
    assert own["uuid"] != drive["uuid"] and own["other_config"][MARK_KEY] == pool.api.VM.get_uuid(cloud_vm)


def test_a_masked_key_hides_everything_under_it(pool, run_module):
    make_vm(pool, "nested")
    user_data = {"ubuntu_pro": {"token": "tok-1", "enable": ["esm-x"]}, "write_files": [
        {"path": "/etc/app.conf", "content": "db-pass-2"}], "hostname": "nested"}
    result = run_module("vm_cloud_init", check_mode=True, diff=True, name="nested", user_data=user_data,
                        masked_keys=["ubuntu_pro", "content"])
    assert not result.get("failed"), result
    text = json.dumps(result)
    assert "tok-1" not in text and "esm-x" not in text and "db-pass-2" not in text, text
    shown = yaml.safe_load(result["diff"]["after"]["user-data"])
    assert shown["ubuntu_pro"] == {"token": "********", "enable": ["********"]}
    assert shown["write_files"] == [{"path": "/etc/app.conf", "content": "********"}]
    assert shown["hostname"] == "nested"


def test_check_mode_on_a_vm_not_created_yet(pool, run_module):
    """An earlier task in check mode would create the VM: the whole drive is the change, its
    secrets masked; a wrong SR fails naming it."""
    before = pool.state()
    result = run_module("vm_cloud_init", check_mode=True, diff=True, name="new01",
                        user_data={"hostname": "new01", "password": "s3cret"})
    assert not result.get("failed") and result["changed"] is True
    assert result["msg"].endswith("then this task would attach a cloud-init drive")
    assert result["changes"]["fields"] == ["meta-data", "state", "user-data"]
    assert "s3cret" not in json.dumps(result) and "hostname: new01" in result["cloud_init"]["user_data"]
    assert result["cloud_init"]["vdi_uuid"] == "" and result["cloud_init"]["instance_id"] == ""
    result = run_module("vm_cloud_init", check_mode=True, name="new01", state="absent")
    assert not result.get("failed") and result["changed"] is False
    result = run_module("vm_cloud_init", check_mode=True, name="new01", user_data={}, sr="no such SR")
    assert result["failed"] and result["error_code"] == "SR_NOT_FOUND"
    result = run_module("vm_cloud_init", check_mode=True, uuid="00000000-0000-0000-0000-000000000000", user_data={})
    assert result["failed"] and result["error_code"] == "NOT_FOUND"
    assert pool.state() == before


def test_a_half_made_drive_of_an_earlier_run_goes_first(pool, run_module):
    vm = make_vm(pool, "left")
    sr = pool.api.SR.get_by_name_label("Local storage")[0]
    left = pool.api.VDI.create({
        "name_label": PROVISIONAL % "left cloud-init", "name_description": "", "SR": sr, "virtual_size": str(2 ** 20),
        "type": "user", "sharable": False, "read_only": False, "other_config": {}, "xenstore_data": {},
        "sm_config": {}, "tags": []})
    before = pool.state()
    check = run_module("vm_cloud_init", check_mode=True, name="left", user_data={"hostname": "x"})
    assert pool.state() == before
    text = "destroy a half-made cloud-init drive an earlier run left (%s)" % left
    assert check["changed"] and check["changes"]["actions"][0] == text
    pool.mark()
    result = run_module("vm_cloud_init", name="left", user_data={"hostname": "x"})
    assert result["changes"]["actions"] == check["changes"]["actions"]
    calls = pool.calls()
    assert calls.index("VDI.destroy") < calls.index("VDI.create"), calls     # before the new drive is made
    assert left not in pool.api.VDI.get_all() and len(drives(pool, vm)) == 1
