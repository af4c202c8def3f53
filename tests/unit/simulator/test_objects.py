"""Generic object access: records, lookups, getters, setters, maps, the query language.

Generated messages follow ocaml/idl/datamodel_utils.ml; MAP_DUPLICATE_KEY comes from
ocaml/database/db_cache_impl.ml; the query grammar from ocaml/database/db_filter_parse.mly.
"""
import json
import os
import time
from unittest.mock import ANY

import pytest

import xapisim

TEMPLATE = "CentOS 5 (64-bit)"
CLASSES = ["pool", "host", "host_metrics", "SR", "VDI", "VBD", "VIF", "network", "VM",
           "VM_metrics", "task", "PBD", "PIF"]
with open(os.path.join(os.path.dirname(xapisim.__file__), "datamodel.json"), encoding="utf-8") as _h:
    DATAMODEL = json.load(_h)


def fields_of(cls):
    """Every field, removed ones included: xapi's records still carry them."""
    return set(DATAMODEL["classes"][cls]["fields"])


def messages_of(cls):
    return DATAMODEL["classes"][cls]["messages"]


@pytest.fixture
def populated(api, pool):
    """A pool with one provisioned VM (VDI + VBD), a VIF and a finished task."""
    x = api
    sr = x.SR.get_by_name_label("Local storage")[0]
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "objects")
    disks = x.VM.get_other_config(vm)["disks"].replace('sr=""', 'sr="%s"' % x.SR.get_uuid(sr))
    x.VM.remove_from_other_config(vm, "disks")
    x.VM.add_to_other_config(vm, "disks", disks)
    x.VM.provision(vm)
    network = x.network.get_all()[0]
    x.VIF.create({"device": "0", "network": network, "VM": vm, "MAC": "", "MTU": "1500",
                  "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})
    task = x.Async.VM.get_allowed_VBD_devices(vm)
    deadline = time.monotonic() + 5
    while x.task.get_status(task) == "pending" and time.monotonic() < deadline:
        time.sleep(0.01)
    return x, vm


# --- records and lookups for every class the collection touches ------------------------------------

@pytest.mark.parametrize("cls", CLASSES)
def test_records_lookups_and_getters(populated, fails, cls):
    x = populated[0]
    proxy = getattr(x, cls)
    refs = proxy.get_all()
    assert refs, cls
    records = proxy.get_all_records()
    assert sorted(records) == sorted(refs)
    for ref in refs:
        record = proxy.get_record(ref)
        assert record == records[ref]
        assert set(record) == fields_of(cls)
        assert proxy.get_by_uuid(record["uuid"]) == ref
        if "get_by_name_label" in messages_of(cls):
            assert ref in proxy.get_by_name_label(record["name_label"])
    # every generated getter agrees with the record
    ref = refs[0]
    record = records[ref]
    for name in fields_of(cls):
        spec = messages_of(cls).get("get_" + name)
        if spec is None:
            continue
        if spec.get("state") == "Removed_s":      # gen_server.ml: removed messages
            with fails("MESSAGE_REMOVED"):
                getattr(proxy, "get_" + name)(ref)
        else:
            assert getattr(proxy, "get_" + name)(ref) == record[name], name
    with fails("HANDLE_INVALID", cls, "OpaqueRef:00000000-0000-0000-0000-000000000000"):
        proxy.get_record("OpaqueRef:00000000-0000-0000-0000-000000000000")
    with fails("HANDLE_INVALID", cls, "OpaqueRef:NULL"):
        getattr(proxy, "get_uuid")("OpaqueRef:NULL")
    with fails("UUID_INVALID", cls, "00000000-0000-0000-0000-000000000000"):
        proxy.get_by_uuid("00000000-0000-0000-0000-000000000000")


def test_uuid_of_another_class_is_invalid(shared_api, fails):
    x = shared_api
    host_uuid = x.host.get_uuid(x.host.get_all()[0])
    with fails("UUID_INVALID", "VM", host_uuid):
        x.VM.get_by_uuid(host_uuid)


def test_get_by_name_label_may_be_empty_and_includes_templates_and_dom0(shared_api):
    x = shared_api
    assert x.VM.get_by_name_label("no such VM") == []
    assert len(x.VM.get_by_name_label(TEMPLATE)) == 1
    dom0 = x.VM.get_by_name_label("Control domain on host: xapisim-host-0")
    assert len(dom0) == 1 and x.VM.get_is_control_domain(dom0[0]) is True


def test_the_initial_pool(shared_api):
    x = shared_api
    (pool_ref,) = x.pool.get_all()
    pool = x.pool.get_record(pool_ref)
    (host,) = x.host.get_all()
    assert pool["master"] == host
    host_record = x.host.get_record(host)
    assert host_record["address"] == "127.0.0.1" and host_record["enabled"] is True
    metrics = x.host_metrics.get_record(host_record["metrics"])
    assert metrics["live"] is True and int(metrics["memory_free"]) < int(metrics["memory_total"])
    dom0 = host_record["control_domain"]
    assert x.VM.get_power_state(dom0) == "Running" and x.VM.get_domid(dom0) == "0"
    assert x.VM.get_resident_on(dom0) == host and dom0 in host_record["resident_VMs"]

    local = x.SR.get_by_name_label("Local storage")
    assert len(local) == 1 and pool["default_SR"] == local[0]
    assert x.SR.get_content_type(local[0]) == "user"
    (tools,) = x.SR.get_by_name_label("XenServer Tools")
    tools_record = x.SR.get_record(tools)
    assert tools_record["content_type"] == "iso" and tools_record["is_tools_sr"] is True
    (iso,) = x.VDI.get_by_name_label("xs-tools.iso")
    assert iso in tools_record["VDIs"]
    iso_record = x.VDI.get_record(iso)
    assert (iso_record["SR"], iso_record["is_tools_iso"], iso_record["read_only"]) == (tools, True, True)
    for sr in (local[0], tools):
        (pbd,) = x.SR.get_PBDs(sr)
        assert x.PBD.get_currently_attached(pbd) is True and x.PBD.get_host(pbd) == host

    networks = x.network.get_all_records()
    assert sorted(n["bridge"] for n in networks.values()) == ["xenbr0", "xenbr1"]
    for ref, network in networks.items():
        (pif,) = network["PIFs"]
        assert x.PIF.get_network(pif) == ref and pif in host_record["PIFs"]


def test_vm_metrics_link(shared_api):
    x = shared_api
    vm = x.VM.get_by_name_label(TEMPLATE)[0]
    metrics = x.VM.get_metrics(vm)
    assert x.VM_metrics.get_uuid(metrics)
    assert x.VM_metrics.get_VCPUs_number(metrics) == "0"
    assert x.VM.get_guest_metrics(vm) == "OpaqueRef:NULL"


def test_one_to_many_links_both_ways(populated):
    x, vm = populated
    (vbd,) = x.VM.get_VBDs(vm)
    (vif,) = x.VM.get_VIFs(vm)
    vdi = x.VBD.get_VDI(vbd)
    assert x.VBD.get_VM(vbd) == vm and vbd in x.VDI.get_VBDs(vdi)
    assert vdi in x.SR.get_VDIs(x.VDI.get_SR(vdi))
    assert vif in x.network.get_VIFs(x.VIF.get_network(vif))
    assert x.VDI.get_virtual_size(vdi) == str(8 * 1024 ** 3)
    assert x.SR.get_physical_utilisation(x.VDI.get_SR(vdi)) == str(8 * 1024 ** 3)


# --- setters and maps ---------------------------------------------------------------------------------

def test_rw_setters(api):
    x = api
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "setters")
    x.VM.set_name_label(vm, "renamed")
    x.VM.set_name_description(vm, "described")
    x.VM.set_PV_args(vm, "console=hvc0")
    x.VM.set_HVM_boot_params(vm, {"order": "dc"})
    x.VM.set_actions_after_reboot(vm, "destroy")
    record = x.VM.get_record(vm)
    assert (record["name_label"], record["name_description"], record["PV_args"]) == \
        ("renamed", "described", "console=hvc0")
    assert record["HVM_boot_params"] == {"order": "dc"}
    assert record["actions_after_reboot"] == "destroy"
    network = x.network.get_all()[0]
    x.network.set_name_description(network, "lab")
    assert x.network.get_name_description(network) == "lab"
    sr = x.SR.get_all()[0]
    x.SR.set_name_label(sr, "renamed SR")
    assert x.SR.get_by_name_label("renamed SR") == [sr]


def test_read_only_fields_have_no_setter(api, fails):
    vm = api.VM.get_by_name_label(TEMPLATE)[0]
    with fails("MESSAGE_METHOD_UNKNOWN", "VM.set_power_state"):
        api.VM.set_power_state(vm, "Running")
    with fails("MESSAGE_METHOD_UNKNOWN", "VM.set_uuid"):
        api.VM.set_uuid(vm, "x")


@pytest.mark.parametrize("cls,field", [("VM", "other_config"), ("VM", "platform"),
                                       ("VM", "xenstore_data"), ("network", "other_config"),
                                       ("SR", "other_config"), ("pool", "other_config")])
def test_map_add_and_remove(api, fails, cls, field):
    x = api
    proxy = getattr(x, cls)
    ref = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "maps") if cls == "VM" else proxy.get_all()[0]
    getattr(proxy, "add_to_" + field)(ref, "k", "v1")
    assert getattr(proxy, "get_" + field)(ref)["k"] == "v1"
    with fails("MAP_DUPLICATE_KEY", cls, field, ref, "k"):
        getattr(proxy, "add_to_" + field)(ref, "k", "v2")
    assert getattr(proxy, "get_" + field)(ref)["k"] == "v1"
    getattr(proxy, "remove_from_" + field)(ref, "k")
    assert "k" not in getattr(proxy, "get_" + field)(ref)
    getattr(proxy, "remove_from_" + field)(ref, "k")          # missing key: a no-op
    getattr(proxy, "set_" + field)(ref, {"a": "1"})
    assert getattr(proxy, "get_" + field)(ref) == {"a": "1"}


def test_map_calls_on_a_bad_ref(api, fails):
    with fails("HANDLE_INVALID", "VM", "OpaqueRef:NULL"):
        api.VM.add_to_other_config("OpaqueRef:NULL", "k", "v")
    with fails("HANDLE_INVALID", "VM", "OpaqueRef:NULL"):
        api.VM.set_name_label("OpaqueRef:NULL", "x")


def test_set_fields_add_and_remove(api):
    vm = api.VM.clone(api.VM.get_by_name_label(TEMPLATE)[0], "tags")
    api.VM.add_tags(vm, "web")
    api.VM.add_tags(vm, "web")
    api.VM.add_tags(vm, "db")
    assert api.VM.get_tags(vm) == ["web", "db"]
    api.VM.remove_tags(vm, "web")
    api.VM.remove_tags(vm, "missing")
    assert api.VM.get_tags(vm) == ["db"]


# --- get_all_records_where -----------------------------------------------------------------------------

def where(x, expr):
    return sorted(x.VM.get_all_records_where(expr))


def test_where_equality_and_boolean_operators(shared_api):
    x = shared_api
    (centos,) = x.VM.get_by_name_label(TEMPLATE)
    (other,) = x.VM.get_by_name_label("Other install media")
    everything = sorted(x.VM.get_all())
    templates = sorted(r for r, v in x.VM.get_all_records().items() if v["is_a_template"])
    assert where(x, 'field "name__label"="%s"' % TEMPLATE) == [centos]
    assert where(x, '"%s"=field "name__label"' % TEMPLATE) == [centos]
    assert where(x, 'field "is_a_template"="true"') == templates
    assert where(x, 'field "is_a_template"="true" and field "name__label"="%s"' % TEMPLATE) == [centos]
    assert where(x, 'field "name__label"="%s" or field "name__label"="Other install media"'
                 % TEMPLATE) == sorted([centos, other])
    assert where(x, 'not (field "is_a_template"="true")') == sorted(set(everything) - set(templates))
    assert where(x, "true") == everything
    assert where(x, "false") == []
    assert where(x, '"a"="a"') == everything
    assert where(x, 'field "name__label"="nothing like this"') == []
    assert where(x, '(field "is_a_template"="false") and (field "power_state"="Running")') == \
        sorted(r for r, v in x.VM.get_all_records().items() if v["is_control_domain"])
    records = x.VM.get_all_records_where('field "uuid"="%s"' % x.VM.get_uuid(centos))
    assert records == {centos: x.VM.get_record(centos)}


def test_where_on_other_classes(shared_api):
    x = shared_api
    (tools,) = x.SR.get_by_name_label("XenServer Tools")
    assert list(x.SR.get_all_records_where('field "content_type"="iso"')) == [tools]
    (iso,) = x.VDI.get_by_name_label("xs-tools.iso")
    assert list(x.VDI.get_all_records_where('field "is_tools_iso"="true"')) == [iso]


@pytest.mark.parametrize("expr", ['field "name__label"=', 'field name__label="x"', '"unterminated',
                                  'field "a"="b" and', '(true', "true)", "maybe", "", "= ="])
def test_where_parse_errors(shared_api, fails, expr):
    with fails("INVALID_VALUE", expr, ANY):
        shared_api.VM.get_all_records_where(expr)
