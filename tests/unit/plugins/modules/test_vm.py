"""The vm module against the simulator, through the real SDK: create, configure, remove."""
import pytest

TEMPLATE = "CentOS 5 (64-bit)"
NET0 = "Pool-wide network associated with eth0"
NET1 = "Pool-wide network associated with eth1"
REPO = {"install-repository": "http://127.0.0.1/centos5"}
GiB = 1024 ** 3
MiB = 1024 ** 2

# A create: the lookup, pool + SRs + networks + hosts in one event.from, the claim on the name
# (its first ticket), the lookup again under the claim, clone, its other_config in one call (the
# provisioning XML on the SR), provision, memory, vCPUs (max + startup), one VIF, the final
# name, the claim given back, the new VM read once from the event token, logout.
CREATE_CALLS = [
    "session.login_with_password", "VM.get_all_records_where", "event_from", "pool.add_to_gui_config",
    "VM.get_all_records_where", "VM.clone", "VM.set_other_config", "VM.provision", "VM.set_memory_limits",
    "VM.set_VCPUs_max", "VM.set_VCPUs_at_startup", "VIF.create", "VM.set_name_label",
    "pool.remove_from_gui_config", "event_from", "session.logout",
]
# A run that changes nothing: login, the lookup, VBDs+VIFs, VDIs+networks, logout.
NO_CHANGE_CALLS = ["session.login_with_password", "VM.get_all_records_where", "event_from",
                   "event_from", "session.logout"]


def make(run_module, name="web01", **options):
    args = dict(name=name, template=TEMPLATE, other_config=dict(REPO))
    args.update(options)
    result = run_module("vm", **args)
    assert result["changed"] and not result.get("failed"), result
    return result


def start(pool, name):
    """Start a VM made from the PV template: a direct kernel boot, so no installer runs."""
    ref, _record = pool.vm(name)
    pool.api.VM.set_PV_bootloader(ref, "")
    pool.api.VM.set_PV_kernel(ref, "/boot/guest/vmlinuz")
    pool.api.VM.start(ref, False, True)
    return ref


def failed_without_change(pool, run_module, needle, **options):
    """Run, expect a failure naming ``needle``, and prove the pool did not change."""
    before = pool.state()
    result = run_module("vm", **options)
    assert result.get("failed"), result
    assert needle in result["msg"], result["msg"]
    assert pool.state() == before
    return result


# --- create -------------------------------------------------------------------------------

def test_create_check_apply_again_with_call_counts(pool, run_module):
    options = dict(name="web01", template=TEMPLATE, memory_mb=2048, vcpus=2,
                   networks=[{"network": NET0}])
    before = pool.state()
    result = run_module("vm", check_mode=True, **options)
    assert result["changed"] is True and result["vm"] == {}
    assert "state" in result["changes"]["fields"]
    assert pool.state() == before
    assert pool.api.VM.get_by_name_label("web01") == []

    pool.mark()
    result = run_module("vm", **options)
    assert result["changed"] is True
    assert pool.calls() == CREATE_CALLS          # 22 calls
    vm = result["vm"]
    assert vm["name"] == "web01" and vm["is_template"] is False and vm["power_state"] == "halted"
    assert vm["memory_mb"] == 2048 and vm["memory"]["dynamic_max"] == 2048 * MiB
    assert vm["vcpus"] == 2 and vm["vcpus_max"] == 2
    assert [d["size"] for d in vm["disks"]] == [8 * GiB]
    assert [n["network"] for n in vm["networks"]] == [NET0]
    ref, record = pool.vm("web01")
    assert record["is_a_template"] is False and "disks" not in record["other_config"]
    sr = pool.api.VDI.get_SR(pool.api.VBD.get_VDI(record["VBDs"][0]))
    assert sr == pool.api.pool.get_default_SR(pool.api.pool.get_all()[0])

    pool.mark()
    result = run_module("vm", **options)
    assert result["changed"] is False, result["changes"]
    assert pool.calls() == NO_CHANGE_CALLS       # 5 calls
    assert result["vm"]["uuid"] == vm["uuid"] and result["vm"]["networks"] == vm["networks"]


def test_no_change_run_with_every_group_stays_at_five_calls(pool, run_module):
    host = pool.api.host.get_name_label(pool.api.host.get_all()[0])
    options = dict(name="full", template=TEMPLATE, memory_mb=1536, vcpus=2, vcpus_max=4,
                   description="all groups", home_server=host, other_config={"role": "web"},
                   disks=[{"size_gb": 10}, {"size_gb": 2, "name": "data"}],
                   networks=[{"network": NET0}, {"network": "xenbr1", "mac": "00:16:3e:aa:bb:cc"}])
    make(run_module, **options)
    pool.mark()
    result = run_module("vm", **options)
    assert result["changed"] is False, result["changes"]
    assert pool.calls() == NO_CHANGE_CALLS
    vm = result["vm"]
    assert [d["size"] for d in vm["disks"]] == [10 * GiB, 2 * GiB]
    assert vm["disks"][1]["name"] == "data"
    assert [(n["network"], n["mac"]) for n in vm["networks"]] == [(NET0, vm["networks"][0]["mac"]),
                                                                  (NET1, "00:16:3e:aa:bb:cc")]
    assert vm["other_config"]["role"] == "web" and vm["vcpus_max"] == 4 and vm["description"] == "all groups"


def test_create_places_disks_and_new_disks_in_the_provisioning_xml(pool, run_module):
    pool.mark()
    result = make(run_module, name="db01", sr="Local storage",
                  disks=[{"size_gb": 20}, {"size_mb": 512, "name": "db01 swap"}])
    calls = pool.calls()
    # No VDI.create/resize: provisioning made both disks at their final size.
    assert "VDI.create" not in calls and "VDI.resize" not in calls and "pool.get_all_records" not in calls
    # Every SR came with the pool in one event.from: none is looked up on its own.
    assert calls.count("SR.get_all_records_where") == 0 and calls.count("SR.get_record") == 0
    disks = result["vm"]["disks"]
    assert [(d["userdevice"], d["size"]) for d in disks] == [("0", 20 * GiB), ("1", 512 * MiB)]
    assert disks[1]["name"] == "db01 swap" and disks[0]["bootable"] is True


def test_create_from_a_halted_vm_by_full_copy_does_not_provision(pool, run_module):
    make(run_module, name="golden", disks=[{"size_gb": 9}])
    pool.mark()
    result = run_module("vm", name="copy01", template="golden", full_copy=True, memory_mb=512)
    assert result["changed"] and not result.get("failed"), result
    calls = pool.calls()
    assert "Async.VM.copy" in calls and "VM.provision" not in calls
    vm = result["vm"]
    assert vm["is_template"] is False and vm["memory_mb"] == 512
    assert [d["size"] for d in vm["disks"]] == [9 * GiB]
    golden = run_module("vm_info", name="golden")["vm"]
    assert vm["disks"][0]["vdi_uuid"] != golden["disks"][0]["vdi_uuid"]
    assert run_module("vm", name="copy01", template="golden", full_copy=True, memory_mb=512)["changed"] is False


def test_clone_of_a_vm_with_devices_replans_against_the_clone(pool, run_module):
    make(run_module, name="base", networks=[{"network": NET0}])
    result = run_module("vm", name="clone01", template="base",
                        disks=[{"size_gb": 8}, {"size_gb": 1}],
                        networks=[{"network": NET1}, {"network": NET0}])
    assert result["changed"] and not result.get("failed"), result
    vm = result["vm"]
    assert [n["network"] for n in vm["networks"]] == [NET1, NET0]
    assert [d["size"] for d in vm["disks"]] == [8 * GiB, 1 * GiB]
    base = run_module("vm_info", name="base")["vm"]
    assert [n["network"] for n in base["networks"]] == [NET0] and len(base["disks"]) == 1


def test_full_copy_of_a_template_provisions_on_the_chosen_sr(pool, run_module):
    result = make(run_module, name="tcopy", full_copy=True, sr="Local storage", vcpus=1)
    assert result["vm"]["is_template"] is False and len(result["vm"]["disks"]) == 1


def test_diff_shows_before_and_after(pool, run_module):
    result = make(run_module, diff=True, memory_mb=2048, description="first")
    assert result["diff"]["before"]["state"] == "absent" and result["diff"]["after"]["state"] == "present"
    assert result["diff"]["before"]["memory_mb"] == 1024 and result["diff"]["after"]["memory_mb"] == 2048
    result = run_module("vm", name="web01", description="second", vcpus=2, diff=True)
    # vcpus above VCPUs_max raises the maximum too.
    assert result["diff"] == {"before": {"description": "first", "vcpus": 1, "vcpus_max": 1},
                              "after": {"description": "second", "vcpus": 2, "vcpus_max": 2}}


def test_created_vm_is_never_left_a_template(pool, run_module):
    make(run_module)
    ref, record = pool.vm("web01")
    assert record["is_a_template"] is False
    # The name lookups of every module see exactly one VM.
    assert run_module("vm_info", name="web01")["exists"] is True


# --- lookups and bad input ------------------------------------------------------------------

def test_duplicate_name_fails_naming_the_uuids(pool, run_module):
    make(run_module, name="twin")
    first = pool.vm("twin")[1]["uuid"]
    ref = pool.api.VM.clone(pool.vm("twin")[0], "twin")
    second = pool.api.VM.get_uuid(ref)
    result = failed_without_change(pool, run_module, "2 VMs are named 'twin'", name="twin", vcpus=2)
    assert first in result["msg"] and second in result["msg"]
    assert "uuid" in result["msg"]


def test_duplicate_template_name_fails_naming_the_uuids(pool, run_module):
    template = pool.api.VM.get_by_name_label(TEMPLATE)[0]
    copy = pool.api.VM.clone(template, TEMPLATE)
    result = failed_without_change(pool, run_module, "2 templates are named", name="x", template=TEMPLATE)
    assert pool.api.VM.get_uuid(copy) in result["msg"]
    # An existing VM does not need its template: the ambiguity does not matter to it.
    pool.api.VM.destroy(copy)
    make(run_module, name="y")
    pool.api.VM.clone(pool.api.VM.get_by_name_label(TEMPLATE)[0], TEMPLATE)
    assert run_module("vm", name="y", template=TEMPLATE)["changed"] is False


def test_unknown_template_fails_naming_it_and_changes_nothing(pool, run_module):
    failed_without_change(pool, run_module, "'No Such Template'", name="web01", template="No Such Template")
    failed_without_change(pool, run_module, "uuid 'f00'", name="web01", template_uuid="f00")


def test_missing_vm_without_template_fails(pool, run_module):
    failed_without_change(pool, run_module, "give template", name="web01", vcpus=2)
    failed_without_change(pool, run_module, "no VM has uuid 'abc'", uuid="abc", vcpus=2)
    failed_without_change(pool, run_module, "no VM has uuid 'abc'", uuid="abc", name="web01", template=TEMPLATE)


@pytest.mark.parametrize("options, needle", [
    (dict(memory_mb=-5), "memory_mb must be a positive number of MiB, got -5"),
    (dict(memory_mb=0), "memory_mb must be a positive number of MiB, got 0"),
    (dict(memory_max_mb=0), "memory_max_mb must be a positive number of MiB, got 0"),
    (dict(vcpus=0), "vcpus must be a positive number of vCPUs, got 0"),
    (dict(vcpus=-2), "got -2"),
    (dict(vcpus=4, vcpus_max=2), "vcpus_max (2) must not be below vcpus (4)"),
    (dict(memory_mb=2048, memory_max_mb=1024), "memory_max_mb (1024) must not be below memory_mb (2048)"),
    (dict(disks=[{"size_gb": 0}]), "disks[0].size_gb must be a positive size, got 0"),
    (dict(disks=[{"size_gb": 8}, {"size_mb": -1}]), "disks[1].size_mb must be a positive size, got -1"),
    (dict(networks=[{"network": NET0, "mac": "00:16:3e:zz:00:01"}]), "'00:16:3e:zz:00:01'"),
    (dict(networks=[{"network": "nonet"}]), "network 'nonet'"),
    (dict(sr="nosr"), "SR 'nosr'"),
    (dict(sr="XenServer Tools"), "SR 'XenServer Tools' is an ISO library"),
    (dict(home_server="nohost"), "host 'nohost'"),
    (dict(disks=[{"size_gb": 8}, {"size_gb": 1, "sr": "nosr2"}]), "SR 'nosr2'"),
])
def test_bad_values_fail_before_anything_changes(pool, run_module, options, needle):
    # Creating ...
    failed_without_change(pool, run_module, needle, name="new01", template=TEMPLATE, **options)
    # ... and changing an existing VM.
    if "sr" not in options:
        make(run_module, name="old01")
        failed_without_change(pool, run_module, needle, name="old01",
                              **dict(options, disks=options.get("disks", [{"size_gb": 8}]) + [{"size_gb": 1}]))


def test_shrinking_a_disk_fails_naming_the_sizes(pool, run_module):
    make(run_module, disks=[{"size_gb": 10}])
    result = failed_without_change(pool, run_module, "disks[0]: 5120 MiB is smaller than", name="web01",
                                   disks=[{"size_gb": 5}], vcpus=2)
    assert "10240 MiB" in result["msg"] and "only grow" in result["msg"]


def test_new_disk_without_size_fails(pool, run_module):
    make(run_module)
    failed_without_change(pool, run_module, "disks[1] is a new disk", name="web01",
                          disks=[{}, {"name": "nosize"}])


def test_source_vm_must_be_halted(pool, run_module):
    make(run_module, name="golden")
    start(pool, "golden")
    failed_without_change(pool, run_module, "it is running", name="copy", template="golden")


def test_no_default_sr_fails_asking_for_sr(pool, run_module):
    pool.api.pool.set_default_SR(pool.api.pool.get_all()[0], "OpaqueRef:NULL")
    failed_without_change(pool, run_module, "set sr", name="web01", template=TEMPLATE)
    assert make(run_module, sr="Local storage")["vm"]["disks"]


def test_failure_after_the_clone_removes_the_half_made_vm(pool, run_module):
    vdis_before = set(pool.api.VDI.get_all())
    # 4000 GiB does not fit the 2 TiB local SR: provisioning fails with SR_FULL.
    result = run_module("vm", name="huge", template=TEMPLATE, disks=[{"size_gb": 4000}])
    assert result["failed"] and "SR_FULL" in result["msg"]
    assert "was removed again" in result["msg"]
    assert pool.api.VM.get_by_name_label("huge") == []
    assert set(pool.api.VDI.get_all()) == vdis_before


def test_name_with_a_double_quote_is_looked_up_without_the_where_grammar(pool, run_module):
    result = make(run_module, name='say "hi"', vcpus=2)
    assert result["vm"]["name"] == 'say "hi"'
    assert run_module("vm", name='say "hi"', vcpus=2)["changed"] is False


# --- configure --------------------------------------------------------------------------------

def test_check_mode_on_an_existing_vm_changes_nothing(pool, run_module):
    make(run_module)
    before = pool.state()
    result = run_module("vm", name="web01", memory_mb=4096, vcpus=4, check_mode=True,
                        disks=[{"size_gb": 9}, {"size_gb": 1}], networks=[{"network": NET1}],
                        other_config={"role": "db"}, description="d")
    assert result["changed"] is True
    assert set(result["changes"]["fields"]) >= {"memory_mb", "vcpus", "disks[0].size_mb", "disks[1]",
                                                "networks[0]", "other_config", "description"}
    assert pool.state() == before


def test_halted_vm_grows_and_adds_disks_then_is_idempotent(pool, run_module):
    make(run_module)
    pool.mark()
    result = run_module("vm", name="web01", disks=[{"size_gb": 12}, {"size_gb": 2, "name": "extra"}])
    assert result["changed"] is True
    calls = pool.calls()
    assert calls.count("VDI.resize") == 1 and calls.count("VDI.create") == 1 and calls.count("VBD.create") == 1
    assert "VBD.plug" not in calls
    disks = result["vm"]["disks"]
    assert [(d["size"], d["name"]) for d in disks] == [(12 * GiB, "0"), (2 * GiB, "extra")]
    again = run_module("vm", name="web01", disks=[{"size_gb": 12}, {"size_gb": 2, "name": "extra"}])
    assert again["changed"] is False
    # A disk the list does not name is left alone.
    assert run_module("vm", name="web01", disks=[{"size_gb": 12}])["changed"] is False
    assert len(run_module("vm_info", name="web01")["vm"]["disks"]) == 2


def test_rename_disk_and_vm_by_uuid(pool, run_module):
    uuid = make(run_module)["vm"]["uuid"]
    result = run_module("vm", uuid=uuid, name="web02", disks=[{"name": "system"}])
    assert result["changed"] and result["vm"]["name"] == "web02"
    assert result["vm"]["disks"][0]["name"] == "system"
    assert run_module("vm", uuid=uuid, name="web02", disks=[{"name": "system"}])["changed"] is False


def test_networks_move_new_mac_and_add(pool, run_module):
    make(run_module, networks=[{"network": NET0}])
    mac = run_module("vm_info", name="web01")["vm"]["networks"][0]["mac"]
    pool.mark()
    result = run_module("vm", name="web01", networks=[{"network": NET1}])
    assert result["changed"] and "VIF.move" in pool.calls()
    assert result["vm"]["networks"][0] == dict(result["vm"]["networks"][0], network=NET1, mac=mac)
    result = run_module("vm", name="web01", networks=[{"network": "xenbr1", "mac": "00:16:3E:01:02:03"},
                                                      {"network": NET0}])
    assert result["changed"]
    assert [(n["device"], n["network"], n["mac"]) for n in result["vm"]["networks"]] == [
        ("0", NET1, "00:16:3e:01:02:03"), ("1", NET0, result["vm"]["networks"][1]["mac"])]
    uuid = pool.api.network.get_uuid(pool.api.network.get_by_name_label(NET1)[0])
    assert run_module("vm", name="web01", networks=[{"network": uuid, "mac": "00:16:3e:01:02:03"}])["changed"] is False


def test_other_config_changes_only_the_named_keys(pool, run_module):
    make(run_module, other_config={"a": "1", "b": "2", "install-repository": REPO["install-repository"]})
    result = run_module("vm", name="web01", other_config={"a": "one", "b": None, "flag": True}, diff=True)
    assert result["changed"]
    other = result["vm"]["other_config"]
    assert other["a"] == "one" and "b" not in other and other["flag"] == "true"
    assert other["install-repository"] == REPO["install-repository"] and "mac_seed" in other
    assert result["diff"] == {"before": {"other_config": {"a": "1", "b": "2"}},
                              "after": {"other_config": {"a": "one", "flag": "true"}}}
    assert run_module("vm", name="web01", other_config={"a": "one", "b": None, "flag": True})["changed"] is False
    result = run_module("vm", name="web01", other_config={"a": "one"}, other_config_exclusive=True)
    assert result["changed"] and result["vm"]["other_config"] == {"a": "one"}
    assert run_module("vm", name="web01", other_config={"a": "one"}, other_config_exclusive=True)["changed"] is False


def test_home_server_set_and_cleared(pool, run_module):
    host_ref = pool.api.host.get_all()[0]
    host = pool.api.host.get_record(host_ref)
    make(run_module)
    result = run_module("vm", name="web01", home_server=host["name_label"])
    assert result["changed"] and pool.vm("web01")[1]["affinity"] == host_ref
    assert run_module("vm", name="web01", home_server=host["uuid"])["changed"] is False
    assert run_module("vm", name="web01", home_server="")["changed"] is True
    assert pool.vm("web01")[1]["affinity"] == "OpaqueRef:NULL"
    assert run_module("vm", name="web01", home_server="")["changed"] is False


# --- running VMs ------------------------------------------------------------------------------

def test_running_vm_vcpus_and_memory_change_live(pool, run_module):
    make(run_module, memory_mb=1024, memory_max_mb=4096, vcpus=1, vcpus_max=4)
    ref = start(pool, "web01")
    pool.mark()
    result = run_module("vm", name="web01", memory_mb=3072, vcpus=3,
                        disks=[{}, {"size_gb": 1}], networks=[{"network": NET0}])
    assert result.get("changed") and result["changes"]["needs_halt"] == [], result
    calls = pool.calls()
    assert "VM.set_VCPUs_number_live" in calls and "VM.set_memory_dynamic_range" in calls
    assert "VBD.plug" in calls and "VIF.plug" in calls
    assert not [c for c in calls if "shutdown" in c or "start" in c]
    assert pool.api.VM.get_power_state(ref) == "Running"
    vm = result["vm"]
    assert vm["vcpus"] == 3 and vm["memory"]["dynamic_max"] == 3072 * MiB and vm["memory_mb"] == 4096
    again = run_module("vm", name="web01", memory_mb=3072, vcpus=3,
                       disks=[{}, {"size_gb": 1}], networks=[{"network": NET0}])
    assert again["changed"] is False, again["changes"]


def test_running_vm_changes_that_need_a_halt_fail_listing_them(pool, run_module):
    make(run_module, disks=[{"size_gb": 8}])
    start(pool, "web01")
    result = failed_without_change(pool, run_module, "VM 'web01' is running and these changes need it halted",
                                   name="web01", vcpus=2, memory_mb=2048, disks=[{"size_gb": 9}],
                                   description="not applied either")
    for text in ("vcpus_max 1 -> 2", "memory_max_mb 1024 -> 2048", "disks[0].size_mb 8192 -> 9216",
                 "restart_if_needed"):
        assert text in result["msg"]
    assert pool.vm("web01")[1]["name_description"] != "not applied either"


def test_restart_if_needed_halts_applies_and_starts_again(pool, run_module):
    make(run_module, disks=[{"size_gb": 8}])
    ref = start(pool, "web01")
    options = dict(name="web01", vcpus=2, memory_mb=2048, disks=[{"size_gb": 9}], restart_if_needed=True,
                   networks=[{"network": NET0, "mac": "00:16:3e:00:00:01"}])
    before = pool.state()
    result = run_module("vm", check_mode=True, **options)
    assert result["changed"] and pool.state() == before
    assert set(result["changes"]["needs_halt"]) >= {"vcpus", "vcpus_max", "memory_max_mb", "disks[0].size_mb"}
    pool.mark()
    result = run_module("vm", **options)
    assert result["changed"], result
    calls = pool.calls()
    assert calls.index("Async.VM.clean_shutdown") < calls.index("VDI.resize") < calls.index("VM.start")
    assert pool.api.VM.get_power_state(ref) == "Running"
    vm = result["vm"]
    assert vm["vcpus"] == 2 and vm["memory_mb"] == 2048 and vm["disks"][0]["size"] == 9 * GiB
    assert vm["power_state"] == "running"
    assert run_module("vm", **options)["changed"] is False


def test_suspended_vm_changes_that_need_a_halt_fail(pool, run_module):
    make(run_module)
    ref = start(pool, "web01")
    pool.api.VM.suspend(ref)
    failed_without_change(pool, run_module, "is suspended and these changes need it halted",
                          name="web01", vcpus=2, restart_if_needed=True)
    # Fields of the database alone change in any power state.
    assert run_module("vm", name="web01", description="asleep")["changed"] is True


# --- absent -------------------------------------------------------------------------------------

def _attach(pool, vm_ref, vdi, userdevice, cd=False):
    read_only = cd or pool.api.VDI.get_read_only(vdi)
    return pool.api.VBD.create({"VM": vm_ref, "VDI": vdi, "userdevice": userdevice, "bootable": False,
                                "mode": "RO" if read_only else "RW", "type": "CD" if cd else "Disk",
                                "empty": False, "other_config": {}, "qos_algorithm_type": "",
                                "qos_algorithm_params": {}})


def test_absent_check_apply_again(pool, run_module):
    make(run_module, disks=[{"size_gb": 8}, {"size_gb": 1}])
    vdis = [d["vdi_uuid"] for d in run_module("vm_info", name="web01")["vm"]["disks"]]
    before = pool.state()
    result = run_module("vm", name="web01", state="absent", check_mode=True, diff=True)
    assert result["changed"] and pool.state() == before
    assert sorted(d["uuid"] for d in result["removed_disks"]) == sorted(vdis)
    assert result["diff"] == {"before": {"state": "present"}, "after": {"state": "absent"}}
    result = run_module("vm", name="web01", state="absent")
    assert result["changed"] and result["vm"] == {} and result["kept_disks"] == []
    assert pool.api.VM.get_by_name_label("web01") == []
    existing = set(pool.api.VDI.get_uuid(v) for v in pool.api.VDI.get_all())
    assert not existing & set(vdis)
    pool.mark()
    result = run_module("vm", name="web01", state="absent")
    assert result["changed"] is False
    assert pool.calls() == ["session.login_with_password", "VM.get_all_records_where", "session.logout"]


def test_absent_running_vm_needs_force(pool, run_module):
    make(run_module)
    ref = start(pool, "web01")
    failed_without_change(pool, run_module, "VM 'web01' is running; set force: true", name="web01",
                          state="absent")
    result = run_module("vm", name="web01", state="absent", force=True)
    assert result["changed"] and any("hard shutdown" in a for a in result["changes"]["actions"])
    assert ref not in pool.api.VM.get_all()


def test_absent_keep_disks(pool, run_module):
    make(run_module, disks=[{"size_gb": 8}, {"size_gb": 1}])
    vdis = set(d["vdi_uuid"] for d in run_module("vm_info", name="web01")["vm"]["disks"])
    result = run_module("vm", name="web01", state="absent", keep_disks=True)
    assert result["changed"] and result["removed_disks"] == []
    assert set(d["uuid"] for d in result["kept_disks"]) == vdis
    assert all(d["reason"] == "keep_disks" for d in result["kept_disks"])
    assert vdis <= set(pool.api.VDI.get_uuid(v) for v in pool.api.VDI.get_all())


def test_absent_never_removes_isos_or_shared_disks(pool, run_module):
    api = pool.api
    make(run_module, name="web01")
    make(run_module, name="web02")
    web01, web02 = pool.vm("web01")[0], pool.vm("web02")[0]
    iso = api.VDI.get_by_name_label("xs-tools.iso")[0]
    _attach(pool, web01, iso, "3", cd=True)
    # An ISO attached as a disk (odd, but possible) is still the library's.
    _attach(pool, web01, iso, "4")
    sr = api.pool.get_default_SR(api.pool.get_all()[0])
    shared = api.VDI.create({"name_label": "shared", "SR": sr, "virtual_size": str(GiB), "type": "user",
                             "sharable": True, "read_only": False, "other_config": {}})
    _attach(pool, web01, shared, "5")
    _attach(pool, web02, shared, "5")
    used_by_two = api.VDI.create({"name_label": "two", "SR": sr, "virtual_size": str(GiB), "type": "user",
                                  "sharable": False, "read_only": False, "other_config": {}})
    _attach(pool, web01, used_by_two, "6")
    _attach(pool, web02, used_by_two, "6")
    readonly = api.VDI.create({"name_label": "ro", "SR": sr, "virtual_size": str(GiB), "type": "user",
                               "sharable": False, "read_only": True, "other_config": {}})
    _attach(pool, web01, readonly, "7")
    own = run_module("vm_info", name="web01")["vm"]["disks"][0]["vdi_uuid"]

    result = run_module("vm", name="web01", state="absent")
    assert result["changed"], result
    assert [d["uuid"] for d in result["removed_disks"]] == [own]
    reasons = sorted((d["userdevice"], d["name"], d["reason"]) for d in result["kept_disks"])
    assert reasons == [("3", "xs-tools.iso", "CD/ISO media"), ("4", "xs-tools.iso", "on an ISO library"),
                       ("5", "shared", "sharable"), ("6", "two", "attached to another VM"),
                       ("7", "ro", "read-only")]
    remaining = api.VDI.get_all()
    for vdi in (iso, shared, used_by_two, readonly):
        assert vdi in remaining
    assert api.VDI.get_uuid(iso) and pool.vm("web02")
