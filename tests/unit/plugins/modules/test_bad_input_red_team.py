"""Bad input the red team of issue 16 found accepted or crashing, and their kin, property-based:
an unusable ca_path, more disks or NICs than a VM has devices, empty / blank / control-character
/ huge VM names (vm and vm_fleet; the template's of vm_template, the snapshot's of vm_snapshot),
booleans for numbers, broadcast / multicast / zero / duplicate MACs, a static address that is a
network's, a broadcast, loopback or /0 address, timeouts no wait should take (2**63),
credentials in the hostname, reconnect_timeout out of range. Each run must fail naming the
option or the value, without a traceback or "unexpected error", with no secret in the result
(the invocation included), and the pool unchanged."""
import ipaddress
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

# fast_backoff: the autouse fixture (refused connections are retried without real waiting)
from test_bad_input import SETTINGS, TEMPLATE, existing_vm, fast_backoff, refused  # noqa: F401 pylint: disable=unused-import

MODULES = {"vm": dict(name="x", template=TEMPLATE), "vm_info": dict(name="x"),
           "vm_power": dict(name="x", state="running"), "vm_boot": dict(name="x", pv_args="x"),
           "vm_xenstore_data": dict(name="x", data={"a": "b"}), "vm_cdrom": dict(name="x", iso="x.iso"),
           "vm_snapshot": dict(name="x", snapshot="s"), "install_profile": dict(distro="rhel", version="5.1"),
           "vm_fleet": dict(vms=[dict(name="x", template=TEMPLATE)])}


# --- connection options ------------------------------------------------------------------------

def _ca_path(tmp_path, kind):
    path = tmp_path / ("ca-" + kind)
    if kind == "directory":
        path.mkdir(exist_ok=True)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not-pem":
        path.write_text("this is not a certificate\n")
    elif kind == "truncated-pem":
        path.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    elif kind == "binary":
        path.write_bytes(bytes(range(256)))
    return str(path)


@SETTINGS
@given(module=st.sampled_from(sorted(MODULES)),
       kind=st.sampled_from(["missing", "directory", "empty", "not-pem", "truncated-pem", "binary"]))
def test_an_unusable_ca_path_fails_naming_it(pool, run_module, tmp_path, module, kind):
    path = _ca_path(tmp_path, kind)
    result = refused(pool, run_module, module, dict(MODULES[module], ca_path=path), ["ca_path"])
    assert result.get("error_code", "INVALID_CA_PATH") == "INVALID_CA_PATH" and path in result["msg"], result


@SETTINGS
@given(module=st.sampled_from(sorted(MODULES)),
       user=st.sampled_from(["root", "admin", "r%40ot"]),
       secret=st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=6, max_size=20)
       .map(lambda t: "Pw-" + t),
       scheme=st.sampled_from(["http", "https"]), with_user=st.booleans())
def test_credentials_in_the_hostname_are_refused_and_never_shown(pool, run_module, module, user, secret, scheme,
                                                                 with_user):
    host = pool.url.split("://", 1)[1]
    userinfo = "%s:%s" % (user, secret) if with_user else secret
    hostname = "%s://%s@%s" % (scheme, userinfo, host)
    options = dict(MODULES[module], hostname=hostname, password="xenroot")
    result = refused(pool, run_module, module, dict(options, connection=False), ["credentials"])
    assert secret not in json.dumps(result), result        # not in msg, not in the invocation
    assert "username and password" in result["msg"] and result.get("error_code", "INVALID_HOSTNAME") == "INVALID_HOSTNAME"


@SETTINGS
@given(module=st.sampled_from(sorted(MODULES)),
       timeout=st.one_of(st.sampled_from([0, -1, 0.0, 86401, 2 ** 63, float("inf"), float("nan")]),
                         st.integers(min_value=86401, max_value=2 ** 80), st.integers(max_value=0)))
def test_reconnect_timeout_out_of_range(pool, run_module, module, timeout):
    refused(pool, run_module, module, dict(MODULES[module], reconnect_timeout=timeout), ["reconnect_timeout"])


# --- vm and vm_fleet ---------------------------------------------------------------------------

bad_names = st.one_of(
    st.sampled_from(["", " ", "   ", "\t", "\u00a0", "\u2003 \u3000", "web\n%pre\nrm -rf /\n%end", "tab\there",
                     "cr\rhere", "x" * 256, "x" * (1 << 20)]),
    st.text(st.sampled_from(" \t\u00a0\u2028\u3000"), min_size=1, max_size=8),
    st.integers(min_value=256, max_value=4096).map(lambda n: "n" * n),
    st.tuples(st.text(min_size=1, max_size=8).filter(str.strip), st.sampled_from("\n\r\x1b\x7f\x85"))
    .map(lambda t: t[0] + t[1] + t[0]))


def _mac(octets):
    return ":".join("%02x" % o for o in octets)


octet = st.integers(min_value=0, max_value=255)
bad_macs = st.one_of(
    st.sampled_from(["ff:ff:ff:ff:ff:ff", "FF:FF:FF:FF:FF:FF", "00:00:00:00:00:00", "01:00:5e:00:00:fb",
                     "33:33:00:00:00:01", "01:80:c2:00:00:00"]),
    st.tuples(octet.map(lambda o: o | 1), octet, octet, octet, octet, octet).map(_mac))   # multicast bit set
NETWORK = "Pool-wide network associated with eth0"


def vm_red_team_option():
    return st.one_of(
        st.tuples(st.just("name"), bad_names),
        st.tuples(st.sampled_from(["memory_mb", "memory_max_mb", "vcpus", "vcpus_max", "shutdown_timeout"]),
                  st.booleans()),
        st.tuples(st.just("disks"), st.booleans().map(lambda b: [{"size_gb": b}])),
        st.tuples(st.just("disks"), st.integers(min_value=256, max_value=400).map(lambda n: [{"size_gb": 1}] * n)),
        st.tuples(st.just("networks"), bad_macs.map(lambda m: [{"network": NETWORK, "mac": m}])),
        st.tuples(st.just("networks"), st.tuples(octet, octet, octet).map(
            lambda t: [{"network": NETWORK, "mac": _mac((0, 0x16, 0x3e) + t)},
                       {"network": NETWORK, "mac": _mac((0, 0x16, 0x3e) + t).upper()}])),     # the same MAC twice
        st.tuples(st.just("networks"), st.integers(min_value=17, max_value=64).map(
            lambda n: [{"network": NETWORK}] * n)),
        st.tuples(st.just("shutdown_timeout"),
                  st.one_of(st.just(2 ** 63), st.integers(min_value=604801, max_value=2 ** 62))),
    )


def _needles(option, value):
    if option == "name":
        return ["name"]
    if option == "networks" and len(value) > 16:
        return ["networks has %d entries" % len(value)]
    if option == "networks":
        return ["networks[0].mac", "networks[1].mac"]
    if option == "disks" and len(value) > 255:
        return ["disks has %d entries" % len(value)]
    if option == "disks":
        return ["disks[0].size_gb"]
    return [option]


@SETTINGS
@given(bad=vm_red_team_option())
def test_vm_create_refuses(pool, run_module, bad):
    option, value = bad
    options = dict(name="fresh", template=TEMPLATE, memory_mb=512, vcpus=1)
    options[option] = value
    refused(pool, run_module, "vm", options, _needles(option, value))


@SETTINGS
@given(bad=vm_red_team_option())
def test_vm_update_refuses(pool, run_module, bad):
    option, value = bad
    if option == "name":        # names the VM to look up; only a uuid with a new name renames it
        uuid = pool.api.VM.get_uuid(pool.api.VM.get_by_name_label(existing_vm(pool))[0])
        options = dict(uuid=uuid, name=value)
    else:
        options = {"name": existing_vm(pool), option: value}
    refused(pool, run_module, "vm", options, _needles(option, value))


@SETTINGS
@given(bad=st.one_of(vm_red_team_option(),
                     st.tuples(st.just("wait_timeout"), st.one_of(st.just(2 ** 63), st.just(True),
                                                                  st.integers(min_value=604801, max_value=2 ** 62)))))
def test_vm_fleet_refuses(pool, run_module, bad):
    option, value = bad
    entry = dict(name="fresh", template=TEMPLATE, memory_mb=512, vcpus=1, power_state="running")
    entry[option] = value
    refused(pool, run_module, "vm_fleet", dict(vms=[entry]), _needles(option, value))


# --- the names of what vm_template and vm_snapshot make: the rule of a VM's name -------------------

@pytest.fixture(scope="module")
def raw_image(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "disk.raw"
    path.write_bytes(b"\0" * (1 << 20))
    return str(path)


@SETTINGS
@given(name=bad_names, state=st.sampled_from(["present", "absent"]))
def test_vm_template_refuses_a_bad_name(pool, run_module, raw_image, name, state):
    options = dict(name=name, state=state, image=raw_image, base_template="Rocky Linux 9")
    result = refused(pool, run_module, "vm_template", options, ["name"])
    assert result["msg"].startswith(("name ", "name:")), result     # the option first (XML-unsafe text: "name:")


@SETTINGS
@given(name=bad_names, state=st.sampled_from(["present", "absent", "reverted"]))
def test_vm_snapshot_refuses_a_bad_name(pool, run_module, name, state):
    result = refused(pool, run_module, "vm_snapshot", dict(name=existing_vm(pool), snapshot=name, state=state),
                     ["snapshot"])
    assert result["msg"].startswith(("snapshot ", "snapshot:")), result     # the option first (XML-unsafe text: "snapshot:")


@SETTINGS
@given(option=st.sampled_from(["wait_timeout", "shutdown_timeout"]),
       value=st.one_of(st.just(2 ** 63), st.just(True), st.integers(min_value=604801, max_value=2 ** 62)))
def test_vm_power_bounds_its_waits(pool, run_module, option, value):
    options = {"name": existing_vm(pool), "state": "running", "wait_for": "running", option: value}
    refused(pool, run_module, "vm_power", options, [option])


# --- install_profile: a static address must be a host address ----------------------------------

networks_v4 = st.tuples(st.integers(min_value=0, max_value=2 ** 32 - 1), st.integers(min_value=1, max_value=30)) \
    .map(lambda t: ipaddress.IPv4Interface((t[0], t[1])).network) \
    .filter(lambda n: not (n.is_loopback or n.is_multicast or n.is_reserved or n.network_address.is_unspecified))
not_host_addresses = st.one_of(
    networks_v4.map(lambda n: "%s/%d" % (n.network_address, n.prefixlen)),
    networks_v4.map(lambda n: "%s/%d" % (n.broadcast_address, n.prefixlen)),
    st.tuples(st.integers(min_value=1, max_value=2 ** 24 - 2), st.integers(min_value=8, max_value=30))
    .map(lambda t: "%s/%d" % (ipaddress.IPv4Address((127 << 24) + t[0]), t[1])),          # loopback
    st.integers(min_value=1, max_value=2 ** 32 - 2).map(lambda i: "%s/0" % ipaddress.IPv4Address(i)),
    st.sampled_from(["224.0.0.5/24", "239.1.2.3/8", "0.0.0.0/8", "255.255.255.255/32", "240.0.0.1/8"]))


@SETTINGS
@given(address=not_host_addresses, with_netmask=st.booleans())
def test_install_profile_refuses_a_static_address_no_host_can_have(pool, run_module, address, with_netmask):
    ip, _slash, prefix = address.partition("/")
    if with_netmask and prefix != "0":
        network = {"address": ip, "netmask": str(ipaddress.IPv4Network("0.0.0.0/%s" % prefix).netmask)}
    else:
        network = {"address": address}
    result = refused(pool, run_module, "install_profile", dict(distro="rhel", version="5.1", network=network),
                     [ip])
    assert "network" in result["msg"]


@SETTINGS
@given(address=st.one_of(not_host_addresses,
                         st.sampled_from(["::1/128", "ff02::1/64", "::/0", "2001:db8::5/0", "::/64"])),
       version=st.sampled_from([1, 2]))
def test_vm_cloud_init_refuses_a_static_address_no_host_can_have(pool, run_module, address, version):
    if version == 2:
        config = {"version": 2, "ethernets": {"eth0": {"addresses": [address]}}}
    else:
        config = {"version": 1, "config": [{"type": "physical", "name": "eth0",
                                            "subnets": [{"type": "static", "address": address}]}]}
    result = refused(pool, run_module, "vm_cloud_init", dict(name=existing_vm(pool), network_config=config),
                     [address])
    assert "network_config" in result["msg"], result["msg"]
