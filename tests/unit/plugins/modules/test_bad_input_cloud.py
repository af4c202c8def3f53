"""Bad input for vm_template and vm_cloud_init, property-based: images that are not raw or VHD,
malformed #cloud-config, network-config addresses outside their prefix, network and broadcast
addresses, bad prefixes, options of the wrong type. Each run must fail naming the value, without
a traceback, before anything is uploaded or made: the pool byte for byte as it was."""
import ipaddress

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# fast_backoff is an autouse fixture: importing it is using it.
from test_bad_input import bad_urls, fast_backoff, refused  # noqa: F401 pylint: disable=unused-import
from test_vm_power import make_vm

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MAGICS = [b"QFI\xfb", b"KDMV", b"\xfd7zXZ\x00", b"\x1f\x8b", b"BZh9", b"\x28\xb5\x2f\xfd", b"PK\x03\x04"]


def target(pool):
    if not pool.api.VM.get_by_name_label("ci-target"):
        make_vm(pool, "ci-target")
    return "ci-target"


def refused_early(pool, run_module, module, options, needles):
    """``refused``, and nothing was made or uploaded on the way."""
    pool.mark()
    result = refused(pool, run_module, module, options, needles)
    methods = pool.calls()
    assert not {"PUT /import_raw_vdi", "VDI.create", "VM.clone", "task.create"} & set(methods), methods
    return result


# --- vm_template ---------------------------------------------------------------------------------

@SETTINGS
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=600), fmt=st.sampled_from([None, "raw"]))
def test_template_refuses_images_that_are_not_raw_or_vhd(pool, run_module, tmp_path, magic, tail, fmt):
    path = tmp_path / "image.bin"
    path.write_bytes(magic + tail)
    options = dict(name="t", image=str(path), base_template="Rocky Linux 9")
    if fmt:
        options["image_format"] = fmt
    result = refused_early(pool, run_module, "vm_template", options, [str(path)])
    assert result["error_code"] == "IMAGE_INVALID"


@SETTINGS
@given(content=st.binary(min_size=1, max_size=4096))
def test_template_vhd_without_a_footer(pool, run_module, tmp_path, content):
    path = tmp_path / "image.vhd"
    path.write_bytes(content.replace(b"conectix", b"xxxxxxxx"))
    options = dict(name="t", image=str(path), image_format="vhd", base_template="Rocky Linux 9")
    refused_early(pool, run_module, "vm_template", options, [str(path)])


@SETTINGS
@given(bad=st.one_of(
    st.tuples(st.just("image_format"), st.sampled_from(["qcow2", "vmdk", "RAW ", "iso"])),
    st.tuples(st.just("state"), st.sampled_from(["gone", "presentt", ""])),
    st.tuples(st.just("replace"), st.sampled_from(["maybe", "2", [], {"a": 1}])),
    st.tuples(st.just("image"), st.sampled_from(["/no/such/image.raw", "/etc", ""])),
    st.tuples(st.just("base_template"), st.sampled_from(["no such template", 'we"ird', "Rocky Linux 99"])),
    st.tuples(st.just("sr"), st.sampled_from(["no such sr", 'q"uoted'])),
))
def test_template_refuses_bad_options(pool, run_module, image_file, bad):
    option, value = bad
    options = dict(name="t", image=image_file, base_template="Rocky Linux 9")
    options[option] = value
    needles = [option, value if isinstance(value, str) and value else None]
    refused_early(pool, run_module, "vm_template", options, needles)


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "ok.raw"
    path.write_bytes(b"\0" * 1024 * 1024)
    return str(path)


# --- vm_cloud_init -------------------------------------------------------------------------------

broken_yaml = st.sampled_from([
    "users: [\n  - name: a\n", "a: b\n c: d\n", "key: 'unterminated\n", "{a: 1\n", "a: *nothing\n",
    "- a\n- b\n", "just a string\n", "42\n", "a:\n\t- tab\n",
])


@SETTINGS
@given(body=broken_yaml)
def test_cloud_init_refuses_malformed_cloud_config(pool, run_module, body):
    name = target(pool)
    options = dict(name=name, user_data="#cloud-config\n" + body)
    result = refused_early(pool, run_module, "vm_cloud_init", options, ["user_data"])
    assert "#cloud-config" in result["msg"]


@st.composite
def outside_gateway(draw):
    """An address/prefix and a gateway of the same family outside its network."""
    prefix = draw(st.integers(min_value=8, max_value=30))
    network = ipaddress.ip_network("%s/%d" % (ipaddress.IPv4Address(draw(st.integers(0x01000000, 0xDF000000))),
                                              prefix), strict=False)
    address = network.network_address + draw(st.integers(1, network.num_addresses - 2))
    gateway = ipaddress.IPv4Address(draw(st.integers(0x01000000, 0xDF000000)))
    if gateway in network:
        gateway = network.broadcast_address + 1
    return "%s/%d" % (address, prefix), str(gateway)


@SETTINGS
@given(pair=outside_gateway(), version=st.sampled_from([1, 2, "2-route"]), to=st.sampled_from(["default", "0.0.0.0/0"]))
def test_cloud_init_refuses_a_gateway_outside_the_prefix(pool, run_module, pair, version, to):
    """gateway4, a default route's via (v2) and a subnet's gateway (v1): outside the prefix fails
    naming it, with no XenAPI call at all (the input is checked before the pool is contacted)."""
    address, gateway = pair
    if version == 2:
        config = {"version": 2, "ethernets": {"eth0": {"addresses": [address], "gateway4": gateway}}}
    elif version == "2-route":
        config = {"version": 2, "ethernets": {"eth0": {"addresses": [address], "routes": [{"to": to, "via": gateway}]}}}
    else:
        config = {"version": 1, "config": [{"type": "physical", "name": "eth0", "subnets": [
            {"type": "static", "address": address, "gateway": gateway}]}]}
    result = refused_early(pool, run_module, "vm_cloud_init", dict(name=target(pool), network_config=config), [gateway])
    assert "is outside" in result["msg"] and "network_config" in result["msg"]
    assert pool.calls() == [], pool.calls()     # no login: nothing asked of the pool


@SETTINGS
@given(address=st.one_of(
    st.sampled_from(["10.0.0.0/8", "192.0.2.255/24", "192.0.2.1/33", "192.0.2.1/-1", "300.1.1.1/24",
                     "192.0.2.1", "fe80::/64", "2001:db8::1/129", "not-an-ip/24", "192.0.2.1/24/1"]),
    st.text(min_size=1, max_size=12).filter(lambda t: "/" not in t)))
def test_cloud_init_refuses_bad_addresses(pool, run_module, address):
    config = {"version": 2, "ethernets": {"eth0": {"addresses": [address]}}}
    refused_early(pool, run_module, "vm_cloud_init", dict(name=target(pool), network_config=config),
                  [address, "network_config.ethernets.eth0.addresses[0]"])


@SETTINGS
@given(bad=st.one_of(
    st.tuples(st.just("user_data"), st.sampled_from([[1, 2], 42, ["a"]])),
    st.tuples(st.just("network_config"), st.sampled_from([{"version": 3}, {"version": "two"}, {"ethernets": {}},
                                                          {"version": 1, "config": "eth0"}])),
    st.tuples(st.just("meta_data"), st.sampled_from(["not a dict", [1]])),
    st.tuples(st.just("state"), st.sampled_from(["gone", "attached"])),
    st.tuples(st.just("sr"), st.sampled_from(["no such sr"])),
))
def test_cloud_init_refuses_bad_options(pool, run_module, bad):
    option, value = bad
    options = dict(name=target(pool), user_data={"hostname": "x"})
    options[option] = value
    refused_early(pool, run_module, "vm_cloud_init", options, [option, value if isinstance(value, str) else None])


@settings(SETTINGS, max_examples=12)
@given(hostname=bad_urls)
def test_bad_connections(pool, run_module, image_file, hostname):
    for module, options in (("vm_template", dict(name="t", image=image_file, base_template="Rocky Linux 9")),
                            ("vm_cloud_init", dict(name="x", user_data={"hostname": "web-host"}))):
        options = dict(options, connection=False, hostname=hostname, password="xenroot")
        refused_early(pool, run_module, module, options, [hostname or "hostname", "XENSERVER_HOST"])
