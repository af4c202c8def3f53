"""_vm_config and _records: input checks, the provisioning XML, handler plans, batched reads."""
import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils import _vm_config as config
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerClient, XenServerError
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import ChangeSet
from ansible_collections.xenserver.provisioning.plugins.module_utils._records import Records, find_named

MiB = 1024 ** 2
GiB = 1024 ** 3


@pytest.fixture
def client(pool):
    c = XenServerClient(pool.url, "root", "xenroot")
    c.connect()
    yield c
    c.logout()


# --- pure helpers ---------------------------------------------------------------------------

@pytest.mark.parametrize("params, needle", [
    (dict(memory_mb=0), "memory_mb must be a positive number of MiB, got 0"),
    (dict(vcpus_max=-1), "vcpus_max must be a positive number of vCPUs, got -1"),
    (dict(vcpus=3, vcpus_max=2), "vcpus_max (2) must not be below vcpus (3)"),
    (dict(disks=[{"size_mb": 0}]), "disks[0].size_mb must be a positive size, got 0"),
    (dict(networks=[{"network": "n", "mac": "nope"}]), "networks[0].mac 'nope'"),
    (dict(networks=[{"network": ""}]), "networks[0].network is required"),
    (dict(other_config={"": "x"}), "empty key"),
    (dict(other_config={"k": {"a": 1}}), "other_config value of 'k'"),
])
def test_validate_names_the_bad_value(params, needle):
    with pytest.raises(XenServerError) as caught:
        config.validate(params)
    assert needle in str(caught.value) and caught.value.code == "INVALID_OPTION"


def test_validate_accepts_good_values():
    config.validate(dict(memory_mb=1, memory_max_mb=1, vcpus=1, vcpus_max=1, disks=[{"size_gb": 1}],
                         networks=[{"network": "n", "mac": "00:16:3E:00:00:01"}], other_config={"k": None}))


def test_sizes_values_and_mib():
    assert config.disk_size({"size_gb": 2, "size_mb": None}) == 2 * GiB
    assert config.disk_size({"size_mb": 3}) == 3 * MiB
    assert config.disk_size({}) is None
    assert config.mib(1536 * MiB) == 1536 and config.mib(MiB + MiB // 2) == 1.5
    assert config.other_config_value(True) == "true" and config.other_config_value(7) == "7"
    assert config.other_config_value(None) is None


def test_provisioning_xml_round_trip_keeps_attributes_and_drops_private_keys():
    text = '<provision><disk device="0" size="8589934592" sr="" bootable="true" type="system"/></provision>'
    entries = config.parse_provision(text)
    assert entries == [{"device": "0", "size": "8589934592", "sr": "", "bootable": "true", "type": "system"}]
    entries[0].update(sr="abc", _name="private")
    out = config.provision_text(entries)
    assert config.parse_provision(out) == [{"device": "0", "size": "8589934592", "sr": "abc",
                                            "bootable": "true", "type": "system"}]
    assert "_name" not in out
    assert config.parse_provision("") == [] and config.parse_provision(None) == []
    with pytest.raises(XenServerError) as caught:
        config.parse_provision("<provision><disk")
    assert "not valid XML" in str(caught.value)


# --- handler plans on records (no pool needed) ------------------------------------------------

def _vm(power="Halted", **fields):
    record = dict(name_label="vm", name_description="", power_state=power, VBDs=[], VIFs=[],
                  memory_static_min=str(512 * MiB), memory_static_max=str(2048 * MiB),
                  memory_dynamic_min=str(1024 * MiB), memory_dynamic_max=str(1024 * MiB),
                  VCPUs_at_startup="2", VCPUs_max="4", other_config={}, affinity="OpaqueRef:NULL",
                  guest_metrics="OpaqueRef:NULL")
    record.update(fields)
    return record


def _plan(handler_cls, record, **params):
    ctx = config.VMContext(None, Records(None), "OpaqueRef:vm", record, params)
    changes = ChangeSet()
    handler = handler_cls(ctx)
    handler.plan(changes)
    return handler, changes


@pytest.mark.parametrize("power, params, needs_halt, target", [
    # Within the static range: live on a running VM.
    ("Running", dict(memory_mb=1536), [], (512 * MiB, 2048 * MiB, 1536 * MiB, 1536 * MiB)),
    # Above the static maximum: the maximum grows, which needs a halt.
    ("Running", dict(memory_mb=4096), ["memory_max_mb", "memory_mb"],
     (512 * MiB, 4096 * MiB, 4096 * MiB, 4096 * MiB)),
    # Below the static minimum: it comes down with it (a halt again).
    ("Running", dict(memory_mb=256), ["memory_mb", "memory_static_min_mb"],
     (256 * MiB, 2048 * MiB, 256 * MiB, 256 * MiB)),
    ("Halted", dict(memory_mb=4096), [], (512 * MiB, 4096 * MiB, 4096 * MiB, 4096 * MiB)),
    ("Halted", dict(memory_max_mb=1024), [], (512 * MiB, 1024 * MiB, 1024 * MiB, 1024 * MiB)),
    ("Paused", dict(memory_mb=1536), ["memory_mb"], (512 * MiB, 2048 * MiB, 1536 * MiB, 1536 * MiB)),
])
def test_memory_plan(power, params, needs_halt, target):
    handler, changes = _plan(config.MemoryHandler, _vm(power), **params)
    assert handler.target == target
    assert sorted(changes.needs_halt) == needs_halt


def test_memory_max_below_what_the_vm_runs_with_fails():
    with pytest.raises(XenServerError) as caught:
        _plan(config.MemoryHandler, _vm(), memory_max_mb=512)
    assert "memory_max_mb 512 is below the memory VM 'vm' runs with (1024 MiB)" in str(caught.value)


def test_memory_unchanged_plans_nothing():
    handler, changes = _plan(config.MemoryHandler, _vm("Running"), memory_mb=1024)
    assert handler.target is None and not changes.changed


@pytest.mark.parametrize("power, params, needs_halt, target", [
    ("Running", dict(vcpus=3), [], (3, 4)),
    ("Running", dict(vcpus=1), [], (1, 4)),
    ("Running", dict(vcpus=6), ["vcpus", "vcpus_max"], (6, 6)),
    ("Running", dict(vcpus_max=8), ["vcpus_max"], (2, 8)),
    ("Halted", dict(vcpus=1, vcpus_max=1), [], (1, 1)),
])
def test_vcpu_plan(power, params, needs_halt, target):
    handler, changes = _plan(config.VcpuHandler, _vm(power), **params)
    assert handler.target == target
    assert sorted(changes.needs_halt) == needs_halt


def test_vcpus_max_below_the_vcpus_fails():
    with pytest.raises(XenServerError) as caught:
        _plan(config.VcpuHandler, _vm(), vcpus_max=1)
    assert "vcpus_max 1 is below the vCPUs of VM 'vm' (2)" in str(caught.value)


def test_other_config_plan_touches_only_named_keys():
    record = _vm(other_config={"keep": "1", "change": "a", "drop": "x"})
    handler, changes = _plan(config.OtherConfigHandler, record,
                             other_config={"change": "b", "drop": None, "new": True})
    assert handler.to_set == {"change": "b", "new": "true"} and handler.to_remove == ["drop"]
    assert changes.diff() == {"before": {"other_config": {"change": "a", "drop": "x"}},
                              "after": {"other_config": {"change": "b", "new": "true"}}}
    handler, _changes = _plan(config.OtherConfigHandler, record, other_config={"keep": "1"},
                              other_config_exclusive=True)
    assert handler.to_set == {} and handler.to_remove == ["change", "drop"]


def test_halt_problem_lists_the_fields():
    ctx = config.VMContext(None, Records(None), "r", _vm("Running"), {})
    changes = ChangeSet()
    assert config.halt_problem(ctx, changes) is None
    changes.compare("vcpus_max", 4, 8, needs_halt=True)
    message = config.halt_problem(ctx, changes)
    assert "vcpus_max 4 -> 8" in message and "restart_if_needed" in message


# --- against the simulator ------------------------------------------------------------------

def test_records_read_a_vm_and_its_devices_in_two_calls(pool, client):
    api = pool.api
    vm = pool.provisioned_vm("r1")
    for device, network in enumerate(api.network.get_all()):
        api.VIF.create({"device": str(device), "network": network, "VM": vm, "MAC": "", "MTU": "1500",
                        "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})
    records = Records(client)
    records.put("VM", {vm: client.call("VM.get_record", vm)})
    pool.mark()
    assert records.vm_devices(vm) == 2
    assert pool.calls() == ["event_from", "event_from"]
    assert len(records.vbds_of(vm)) == 1 and len(records.vifs_of(vm)) == 2
    facts = records.facts(vm)
    assert pool.calls() == []       # every read vm_facts makes is answered from the records
    # Nothing new to read: no call at all.
    assert records.vm_devices(vm) == 0 and pool.calls() == []
    assert facts["disks"][0]["size"] == 8 * GiB
    assert sorted(n["network"] for n in facts["networks"]) == sorted(
        api.network.get_name_label(n) for n in api.network.get_all())


def test_records_remember_refs_that_are_gone(pool, client):
    records = Records(client)
    assert records.fetch([("VDI", "OpaqueRef:gone")]) == 1
    assert records.get("OpaqueRef:gone") is None
    assert records.fetch([("VDI", "OpaqueRef:gone"), ("VDI", "OpaqueRef:NULL")]) == 0


def test_find_named_by_name_uuid_or_bridge_in_one_call(pool, client):
    api = pool.api
    net = api.network.get_all()[0]
    record = api.network.get_record(net)
    pool.mark()
    found = find_named(client, "network", [record["name_label"], record["uuid"], record["bridge"]])
    assert pool.calls() == ["network.get_all_records_where"]
    assert set(ref for ref, _rec in found.values()) == {net}
    assert find_named(client, "network", []) == {} and pool.calls() == []


def test_find_named_fails_on_unknown_and_ambiguous_names(pool, client):
    api = pool.api
    with pytest.raises(XenServerError) as caught:
        find_named(client, "SR", ["nosuch"], option="sr")
    assert "no SR 'nosuch' (sr)" in str(caught.value)
    for _copy in range(2):
        api.network.create({"name_label": "twin", "name_description": "", "MTU": "1500", "other_config": {},
                            "bridge": ""})
    with pytest.raises(XenServerError) as caught:
        find_named(client, "network", ["twin"], option="networks[].network")
    message = str(caught.value)
    assert message.startswith("2 networks match 'twin' (networks[].network)") and "uuid" in message


def test_find_named_with_a_double_quote_uses_get_by_name_label(pool, client):
    pool.api.network.create({"name_label": 'say "hi"', "name_description": "", "MTU": "1500",
                             "other_config": {}, "bridge": ""})
    pool.mark()
    found = find_named(client, "network", ['say "hi"'])
    assert pool.calls() == ["network.get_by_name_label", "network.get_record"]
    assert found['say "hi"'][1]["name_label"] == 'say "hi"'
