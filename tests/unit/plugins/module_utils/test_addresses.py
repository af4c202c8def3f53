"""The one reading of VM_guest_metrics.networks (module_utils/_addresses.py), and proof that
vm_info, ``wait_for: ip`` and the inventory plugin agree on the primary address, through the
real SDK against the simulator."""
import ipaddress

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ansible_collections.xenserver.provisioning.plugins.module_utils import _power
from ansible_collections.xenserver.provisioning.plugins.module_utils._addresses import (
    guest_addresses,
    primary_address,
)
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerClient, XenServerError


@pytest.mark.parametrize("networks, ip", [
    ({}, ""), (None, ""), ("0/ip", ""), ([("0/ip", "192.0.2.1")], ""),
    # xe-guest-utilities: attr/eth<N>/ip and attr/eth<N>/ipv6/<i>/addr
    ({"0/ip": "192.0.2.1"}, "192.0.2.1"),
    ({"1/ip": "192.0.2.2", "0/ipv4/0": "192.0.2.1"}, "192.0.2.1"),
    ({"0/ipv4/1": "192.0.2.9", "0/ipv4/0": "192.0.2.8"}, "192.0.2.8"),
    ({"0/ip": "", "2/ip": "198.51.100.1"}, "198.51.100.1"),          # an empty report is no address
    ({"10/ip": "192.0.2.10", "2/ip": "192.0.2.2"}, "192.0.2.2"),     # numeric device order
    # xen-guest-agent: attr/vif/<devid>/ipv4/<slot>; xapi copies the lowest slot to <devid>/ip.
    # A removed address leaves its slot empty (here slot 0 of device 0).
    ({"0/ip": "192.0.2.7", "0/ipv4/1": "192.0.2.7", "0/ipv4/2": "192.0.2.8",
      "0/ipv6/0": "fe80::216:3eff:fe00:1", "0/ipv6/1": "2001:db8::7"}, "192.0.2.7"),
    ({"0/ipv4/10": "192.0.2.10", "0/ipv4/9": "192.0.2.9"}, "192.0.2.9"),   # numeric index order
    # IPv6 counts when the guest has no IPv4; link-local never does.
    ({"0/ipv6/0": "2001:db8::1"}, "2001:db8::1"),
    ({"0/ipv6/0": "fe80::1", "1/ipv6/0": "2001:db8::2"}, "2001:db8::2"),
    ({"0/ipv6/0": "fe80::1"}, ""),
    ({"0/ipv4/0": "169.254.10.1"}, ""),
    ({"0/ipv4/0": "169.254.10.1", "0/ipv6/0": "2001:db8::3"}, "2001:db8::3"),
    # what is no address of the guest is dropped
    ({"0/ip": "not an address", "1/ip": "192.0.2.4"}, "192.0.2.4"),
    ({"0/ip": "0.0.0.0", "0/ipv4/1": "127.0.0.1", "0/ipv4/2": "224.0.0.1", "0/ipv6/0": "::1"}, ""),
    ({"0/ip": " 192.0.2.5\n"}, "192.0.2.5"),
    ({"0/mac": "00:16:3e:00:00:01", "0/ipv4": "192.0.2.6", "/ip": "192.0.2.6", "0/ipv4/": "192.0.2.6"}, ""),
    # interface names xapi maps besides eth<N> (enx<MAC>): devices that are not numbers come last
    ({"enx00163e000001/ip": "198.51.100.9", "3/ip": "198.51.100.3"}, "198.51.100.3"),
    # IPv6 in its normal form
    ({"0/ipv6/0": "2001:DB8:0:0::1"}, "2001:db8::1"),
])
def test_primary_address(networks, ip):
    assert primary_address(networks) == ip


def test_per_device_lists_and_all_addresses():
    networks = {"10/ip": "10.0.0.10", "2/ip": "10.0.0.2", "0/ipv6/1": "2001:db8::2", "0/ipv6/0": "fe80::1",
                "0/ip": "10.0.0.1", "0/ipv4/0": "10.0.0.1", "0/ipv4/1": "10.0.0.100", "1/ipv4/0": "",
                "0/ipv6/2": "2001:DB8::2", "0/mac": "00:16:3e:00:00:01", "2/ipv6/0": "2001:db8::20"}
    found = guest_addresses(networks)
    assert found.by_device == [("0", ["10.0.0.1", "10.0.0.100", "2001:db8::2", "fe80::1"]),
                               ("2", ["10.0.0.2", "2001:db8::20"]), ("10", ["10.0.0.10"])]
    assert found.all == ["10.0.0.1", "10.0.0.100", "10.0.0.2", "10.0.0.10", "2001:db8::2", "2001:db8::20",
                         "fe80::1"]
    assert found.primary == "10.0.0.1"
    assert found.of_device("2") == ["10.0.0.2", "2001:db8::20"] and found.of_device("1") == []
    assert found.primary_of("0") == "10.0.0.1" and found.primary_of("1") == ""
    only_link_local = guest_addresses({"0/ipv6/0": "fe80::1", "1/ip": "192.0.2.1"})
    assert only_link_local.primary_of("0") == "" and only_link_local.primary_of("1") == "192.0.2.1"


# --- properties ----------------------------------------------------------------------------------

DEVICES = st.one_of(st.sampled_from(["0", "1", "2", "10", "enx00163e000001", "", "01", "\u0663"]),
                    st.text(max_size=4))
KEYS = st.one_of(
    st.builds(lambda d: "%s/ip" % d, DEVICES),
    st.builds(lambda d, kind, i: "%s/%s/%s" % (d, kind, i), DEVICES, st.sampled_from(["ipv4", "ipv6"]),
              st.one_of(st.integers(0, 12).map(str), st.text(max_size=3))),
    st.text(max_size=12),
)
VALUES = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(["fe80::216:3eff:fe00:1", "169.254.1.1", "0.0.0.0", "::", "", " 192.0.2.1 ", "fe80::1%eth0"]),
    st.text(max_size=16),
)
ANYTHING = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.binary()),
                        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                        max_leaves=8)


def _usable(value):
    try:
        address = ipaddress.ip_address(value.strip())
    except (ValueError, AttributeError):
        return None
    if address.is_link_local or address.is_loopback or address.is_multicast or address.is_unspecified:
        return None
    return address


def _address_key(key):
    parts = key.split("/") if isinstance(key, str) else []
    return all(parts) and (parts[1:] == ["ip"] or len(parts) == 3 and parts[1] in ("ipv4", "ipv6"))


def _check(networks):
    found = guest_addresses(networks)
    assert found.primary == primary_address(networks)
    assert len(found.all) == len(set(found.all))
    assert sorted(found.all) == sorted(set(a for _d, addresses in found.by_device for a in addresses))
    for _device, addresses in found.by_device:
        assert addresses and len(addresses) == len(set(addresses))
    if found.primary:
        primary = ipaddress.ip_address(found.primary)
        assert not primary.is_link_local and found.all[0] == found.primary
        reported = [_usable(v) for k, v in networks.items() if isinstance(v, str) and _address_key(k)]
        assert primary in reported
        # IPv4 first: an IPv6 primary means no usable IPv4 under an address key
        if primary.version == 6:
            assert not [a for a in reported if a is not None and a.version == 4]
    return found


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_parser_never_raises_on_agent_like_maps(networks):
    _check(networks)


@settings(max_examples=200, deadline=None)
@given(st.one_of(ANYTHING, st.dictionaries(ANYTHING.filter(lambda v: v.__hash__ is not None), ANYTHING,
                                           max_size=4)))
def test_parser_never_raises_on_anything(networks):
    found = guest_addresses(networks)
    assert isinstance(found.primary, str) and isinstance(found.all, list)


# --- vm_info, wait_for ip and the inventory agree, against the simulator ------------------------

PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)
WIRE_KEYS = st.one_of(
    st.builds(lambda d: "%s/ip" % d, st.sampled_from(["0", "1", "2", "10", "enx00163e000001"])),
    st.builds(lambda d, kind, i: "%s/%s/%d" % (d, kind, i), st.sampled_from(["0", "1", "2", "10"]),
              st.sampled_from(["ipv4", "ipv6"]), st.integers(0, 11)),
    PRINTABLE,
)
WIRE_VALUES = st.one_of(st.ip_addresses().map(str), st.sampled_from(["fe80::216:3eff:fe00:1", "169.254.1.1", ""]),
                        PRINTABLE)


@pytest.fixture
def running_vm(pool):
    api = pool.api
    vm = pool.provisioned_vm("agreed")
    for device in ("0", "1"):
        api.VIF.create({"device": device, "network": api.network.get_all()[int(device)], "VM": vm, "MAC": "",
                        "MTU": "1500", "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})
    pool.boot_directly(vm)
    api.VM.start(vm, False, True)
    client = XenServerClient(pool.url, "root", "xenroot").connect()
    yield vm, client
    client.logout()


def _wait_for_ip(client, vm):
    try:
        return _power.wait(client, vm, "agreed", "ip", 0.2)["ip"]
    except XenServerError as err:
        assert err.code == "WAIT_TIMEOUT", err
        return ""


def _ansible_host(client, vm_uuid):
    from ansible_collections.xenserver.provisioning.plugins.inventory.xenserver import host_variables, read_pool
    entry = next(e for e in read_pool(client) if e["uuid"] == vm_uuid)
    return host_variables(entry).get("ansible_host", "")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(networks=st.dictionaries(WIRE_KEYS, WIRE_VALUES, max_size=6))
@example(networks={"0/ip": "192.0.2.7", "0/ipv4/1": "192.0.2.7", "0/ipv6/0": "fe80::216:3eff:fe00:1",
                   "1/ipv4/0": "198.51.100.7"})         # xen-guest-agent, through xapi
@example(networks={"0/ipv6/0": "fe80::1", "1/ipv6/3": "2001:db8::9"})
@example(networks={"0/ipv6/0": "fe80::1", "1/ipv4/0": "169.254.3.3"})
@example(networks={"1/ip": "198.51.100.1", "0/ipv6/0": "2001:db8::1"})
def test_vm_info_wait_for_ip_and_inventory_agree(pool, run_module, running_vm, networks):
    vm, client = running_vm
    pool.sim.guests.report_agent(vm, networks=networks, os_version={"name": "CentOS"})
    facts = run_module("vm_info", name="agreed")["vm"]
    waited = _wait_for_ip(client, vm)
    inventory = _ansible_host(client, facts["uuid"])
    assert facts["ip"] == waited == inventory == _check(networks).primary
    for nic in facts["networks"]:
        assert nic["ips"] == guest_addresses(networks).of_device(nic["device"])
