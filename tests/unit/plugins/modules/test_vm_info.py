"""vm_info against the simulator, through the real SDK."""


def _make_vm(pool, name, **xenstore):
    api = pool.api
    vm = pool.provisioned_vm(name, other_config={"install-repository": "http://127.0.0.1/centos5"})
    api.VIF.create({"device": "0", "network": api.network.get_all()[0], "VM": vm, "MAC": "",
                    "MTU": "1500", "qos_algorithm_type": "", "qos_algorithm_params": {},
                    "other_config": {}})
    api.VM.set_xenstore_data(vm, dict(("vm-data/%s" % k, v) for k, v in xenstore.items()))
    return vm


def test_facts_of_one_vm(pool, run_module):
    _make_vm(pool, "web01", role="web")
    result = run_module("vm_info", name="web01")
    assert result["changed"] is False and result["exists"] is True
    vm = result["vm"]
    assert vm["name"] == "web01" and vm["power_state"] == "halted"
    assert vm["memory_mb"] == 1024 and vm["vcpus"] == 1
    assert [d["userdevice"] for d in vm["disks"]] == ["0"] and vm["disks"][0]["size"] == 8 * 1024 ** 3
    assert vm["networks"][0]["device"] == "0" and vm["networks"][0]["mac"].startswith("00:16:3e")
    assert vm["xenstore_data"] == {"vm-data/role": "web"}
    assert vm["boot"]["PV_bootloader"] == "eliloader"


def test_missing_vm_is_reported_not_failed(pool, run_module):
    result = run_module("vm_info", name="nope")
    assert result == {"changed": False, "exists": False, "vm": {}, "invocation": result["invocation"]}


def test_by_uuid_and_filters(pool, run_module):
    vm = _make_vm(pool, "web02")
    _make_vm(pool, "db01")
    uuid = pool.api.VM.get_uuid(vm)
    assert run_module("vm_info", uuid=uuid)["vm"]["name"] == "web02"
    pool.boot_directly(vm)
    pool.api.VM.start(vm, False, True)
    names = [v["name"] for v in run_module("vm_info", filters={"power_state": "running"})["vms"]]
    assert names == ["web02"]
    names = [v["name"] for v in run_module("vm_info", filters={"name_prefix": "web"})["vms"]]
    assert names == ["web02"]


def test_bad_filter_names_the_value(pool, run_module):
    result = run_module("vm_info", filters={"power_state": "sleeping"})
    assert result["failed"] and "sleeping" in result["msg"]
    result = run_module("vm_info", filters={"colour": "blue"})
    assert result["failed"] and "colour" in result["msg"]


def test_duplicate_names_fail_clearly(pool, run_module):
    _make_vm(pool, "twin")
    _make_vm(pool, "twin")
    result = run_module("vm_info", name="twin")
    assert result["failed"] and "2 VMs are named 'twin'" in result["msg"]


def test_lookup_cost_does_not_grow_with_the_pool(pool, run_module):
    _make_vm(pool, "web03")
    pool.mark()
    run_module("vm_info", name="web03")
    calls = pool.calls()
    assert "VM.get_all_records" not in calls
    # login, where-lookup, two event.from (devices, then VDIs + networks), logout
    assert len(calls) == 5, calls


def test_wrong_password_fails_with_a_hint(pool, run_module):
    result = run_module("vm_info", name="x", password="wrong")
    assert result["failed"]
    assert "SESSION_AUTHENTICATION_FAILED" in result["msg"] and "password" in result["msg"]
    assert "wrong" not in result["msg"]


# --- names, not references; addresses as the guest agents report them ---------------------------

def _vif(pool, vm, device):
    api = pool.api
    api.VIF.create({"device": device, "network": api.network.get_all()[int(device)], "VM": vm, "MAC": "",
                    "MTU": "1500", "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})


def _named(api, cls, ref):
    return getattr(api, cls).get_name_label(ref), getattr(api, cls).get_uuid(ref)


def test_srs_networks_and_hosts_by_name_and_uuid(pool, run_module):
    api = pool.api
    vm = _make_vm(pool, "named01")
    _vif(pool, vm, "1")
    host = api.host.get_all()[0]
    api.VM.set_affinity(vm, host)
    pool.boot_directly(vm)
    api.VM.start(vm, False, True)
    facts = run_module("vm_info", name="named01")["vm"]
    sr = api.VDI.get_SR(api.VBD.get_VDI(next(v for v in api.VM.get_VBDs(vm) if api.VBD.get_type(v) == "Disk")))
    assert (facts["disks"][0]["sr"], facts["disks"][0]["sr_uuid"]) == _named(api, "SR", sr)
    assert (facts["resident_on"], facts["resident_on_uuid"]) == _named(api, "host", api.VM.get_resident_on(vm))
    assert (facts["home_server"], facts["home_server_uuid"]) == _named(api, "host", host)
    for nic in facts["networks"]:
        vif = next(v for v in api.VM.get_VIFs(vm) if api.VIF.get_device(v) == nic["device"])
        assert (nic["network"], nic["network_uuid"]) == _named(api, "network", api.VIF.get_network(vif))
    assert "OpaqueRef" not in repr(facts)
    api.VM.hard_shutdown(vm)
    api.VM.set_affinity(vm, "OpaqueRef:NULL")
    facts = run_module("vm_info", name="named01")["vm"]
    assert facts["resident_on"] == facts["resident_on_uuid"] == facts["home_server"] == ""


def test_addresses_of_every_agent(pool, run_module):
    """xe-guest-utilities' keys (<dev>/ip, <dev>/ipv6/<i>) and xen-guest-agent's as xapi maps
    them (<dev>/ipv4/<slot> with the lowest slot copied to <dev>/ip, <dev>/ipv6/<slot>, a gap
    where an address went away, link-local IPv6 too)."""
    api = pool.api
    vm = _make_vm(pool, "agents01")
    _vif(pool, vm, "1")
    pool.boot_directly(vm)
    api.VM.start(vm, False, True)
    pool.sim.guests.report_agent(vm, networks={"0/ip": "192.0.2.10", "0/ipv6/0": "2001:db8::10"})
    facts = run_module("vm_info", name="agents01")["vm"]
    assert facts["ip"] == "192.0.2.10" and facts["ips"] == ["192.0.2.10", "2001:db8::10"]
    assert facts["networks"][0]["ip"] == "192.0.2.10" and facts["networks"][0]["ipv6"] == ["2001:db8::10"]
    assert facts["networks"][1]["ip"] == "" and facts["networks"][1]["ips"] == []

    pool.sim.guests.report_agent(vm, networks={
        "0/ipv6/0": "fe80::216:3eff:fe00:10", "0/ipv6/1": "2001:db8::10",
        "1/ip": "198.51.100.5", "1/ipv4/1": "198.51.100.5", "1/ipv4/2": "198.51.100.6",
        "1/ipv6/0": "fe80::216:3eff:fe00:11"})
    facts = run_module("vm_info", name="agents01")["vm"]
    nic0, nic1 = facts["networks"]
    assert nic0["ips"] == ["2001:db8::10", "fe80::216:3eff:fe00:10"] and nic0["ip"] == "2001:db8::10"
    assert nic1["ips"] == ["198.51.100.5", "198.51.100.6", "fe80::216:3eff:fe00:11"] and nic1["ip"] == "198.51.100.5"
    # IPv4 first across the NICs: eth1's IPv4, not eth0's IPv6, is the VM's address
    assert facts["ip"] == "198.51.100.5"
    assert facts["ips"] == ["198.51.100.5", "198.51.100.6", "2001:db8::10", "fe80::216:3eff:fe00:10",
                            "fe80::216:3eff:fe00:11"]

    pool.sim.guests.report_agent(vm, networks={"0/ipv6/0": "fe80::216:3eff:fe00:10", "0/ip": "garbage"})
    facts = run_module("vm_info", name="agents01")["vm"]
    assert facts["ip"] == "" and facts["ips"] == ["fe80::216:3eff:fe00:10"]


def test_one_vm_costs_two_event_from_calls_whatever_its_devices(pool, run_module):
    api = pool.api
    vm = _make_vm(pool, "calls01")
    _vif(pool, vm, "1")
    api.VM.set_affinity(vm, api.host.get_all()[0])
    pool.boot_directly(vm)
    api.VM.start(vm, False, True)
    pool.sim.guests.report_agent(vm, networks={"0/ip": "192.0.2.20"})
    pool.mark()
    facts = run_module("vm_info", name="calls01")["vm"]
    # login, the where-lookup, VBDs + VIFs + metrics + hosts + SRs, VDIs + networks, logout
    assert pool.calls() == ["session.login_with_password", "VM.get_all_records_where", "event_from",
                            "event_from", "session.logout"]
    assert facts["ip"] == "192.0.2.20" and facts["disks"][0]["sr"] and facts["resident_on"]


def test_filters_cost_the_same_calls_for_many_vms(pool, run_module):
    for index in range(6):
        vm = _make_vm(pool, "many%02d" % index)
        _vif(pool, vm, "1")
    pool.mark()
    vms = run_module("vm_info", filters={"name_prefix": "many"})["vms"]
    assert [v["name"] for v in vms] == ["many%02d" % i for i in range(6)]
    assert pool.calls() == ["session.login_with_password", "VM.get_all_records_where", "event_from",
                            "event_from", "session.logout"]
    api = pool.api
    for facts in vms:
        vdi = api.VDI.get_by_uuid(facts["disks"][0]["vdi_uuid"])
        assert (facts["disks"][0]["sr"], facts["disks"][0]["sr_uuid"]) == _named(api, "SR", api.VDI.get_SR(vdi))
        assert [n["network_uuid"] for n in facts["networks"]] == [api.network.get_uuid(n)
                                                                  for n in api.network.get_all()[:2]]
    pool.mark()
    assert run_module("vm_info", filters={"name_prefix": "none"})["vms"] == []
    assert pool.calls() == ["session.login_with_password", "VM.get_all_records_where", "session.logout"]
