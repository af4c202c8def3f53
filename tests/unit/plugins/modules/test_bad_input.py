"""Bad input, property-based: for every module and option, values of the wrong type, out of
range, huge, unicode, with quotes, malformed URLs, keys outside vm-data, unknown templates,
networks, SRs and ISOs, and power states XenServer cannot reach. Each run must end ``failed``
with a message that names the option or the value, without a traceback, and leave the pool
byte for byte as it was."""
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.xenserver.provisioning.plugins.module_utils import _client, _profiles

from test_vm_power import make_vm

TEMPLATE = "CentOS 5 (64-bit)"
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- values ----------------------------------------------------------------------------------------

unicode_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
quoted = st.sampled_from(['we"b', "o'brien", 'a "b" c', "\\", '"', "x\" or \"1\"=\"1"])
strange_names = st.one_of(unicode_text, quoted, st.sampled_from(["\u2603 snow", "日本語", "nul\x00byte"]))
not_an_int = st.one_of(st.sampled_from(["lots", "1.5", "0x10", "", "ten"]), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))
not_positive = st.integers(max_value=0)
huge = st.integers(min_value=2 ** 53, max_value=2 ** 80)
not_a_bool = st.sampled_from(["maybe", "2", "yess", [], {"a": 1}])
bad_urls = st.one_of(
    st.sampled_from(["", "not a url", "http//missing-colon", "://nohost", "htp://typo.example/x",
                     "ftp:/one-slash", "file:///etc/passwd", "javascript:alert(1)", "http://",
                     "http://exa mple.com/repo", "\u2603://snow", "http://[::1", 'http://"quoted"/x']),
    unicode_text.filter(lambda t: "://" not in t))
not_a_mac = st.one_of(st.sampled_from(["00:16:3e", "zz:zz:zz:zz:zz:zz", "00-16-3e-00-00-0", "0016.3e00.0000x",
                                       "00:16:3e:00:00:00:00"]), unicode_text.filter(lambda t: len(t) != 17))
unknown = st.one_of(unicode_text.map(lambda t: "no such " + t), quoted.map(lambda t: "missing " + t))


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Refused connections (bad hostnames) are retried with backoff: no real waiting here."""
    class Clock(object):
        offset = 0.0

        def sleep(self, seconds):
            self.offset += seconds

        def time(self):
            return time.time() + self.offset
    monkeypatch.setattr(_client, "time", Clock())


def refused(pool, run_module, module, options, needles, check_mode=False):
    """Run; it must fail naming one of ``needles``, cleanly, with an error_code, the pool unchanged."""
    before = pool.state()
    result = run_module(module, check_mode=check_mode, **options)
    assert result.get("failed") is True, (options, result)
    assert result.get("error_code"), (options, result)  # roles decide on it
    msg = result.get("msg", "")
    assert msg and "Traceback" not in msg and "unexpected error" not in msg, (options, msg)
    assert "exception" not in result, (options, result)
    assert "xenroot" not in json.dumps(result), (options, result)      # the password, even then
    shown = [str(n) for n in needles if n is not None]
    shown += [n.encode("unicode_escape").decode("ascii") for n in shown]    # control characters escaped
    assert any(n in msg for n in shown), (options, msg, shown)
    assert pool.state() == before, options
    return result


def existing_vm(pool, name="target"):
    if not pool.api.VM.get_by_name_label(name):
        make_vm(pool, name)
    return name


# --- connection options (every module takes them) ----------------------------------------------

@SETTINGS
@given(module=st.sampled_from(["vm", "vm_info", "vm_power", "vm_boot", "vm_xenstore_data", "vm_cdrom",
                               "vm_snapshot", "install_profile"]),
       hostname=bad_urls, username=st.one_of(strange_names, st.none()))
def test_bad_connections(pool, run_module, module, hostname, username):
    options = {"vm": dict(name="x"), "vm_info": dict(name="x"), "vm_power": dict(name="x", state="running"),
               "vm_boot": dict(name="x", pv_args="x"), "vm_xenstore_data": dict(name="x", data={"a": "b"}),
               "vm_cdrom": dict(name="x", iso="x.iso"), "vm_snapshot": dict(name="x", snapshot="s"),
               "install_profile": dict(distro="rhel", version="5.1")}[module]
    connection = dict(hostname=hostname, password="xenroot")
    if username is not None:
        connection["username"] = username
        hostname = pool.url             # a good pool, a user it does not know
        connection["hostname"] = hostname
    options.update(connection)
    refused(pool, run_module, module, dict(options, connection=False),
            [hostname or "hostname", username, "XENSERVER_HOST"])


# --- vm ----------------------------------------------------------------------------------------------

def vm_bad_option():
    number = st.sampled_from(["memory_mb", "memory_max_mb", "vcpus", "vcpus_max", "shutdown_timeout"])
    return st.one_of(
        st.tuples(number, not_an_int),
        st.tuples(number.filter(lambda o: o != "shutdown_timeout"), not_positive),
        st.tuples(st.sampled_from(["memory_mb", "memory_max_mb"]), huge),
        st.tuples(st.sampled_from(["vcpus", "vcpus_max"]), st.integers(min_value=65, max_value=2 ** 40)),
        st.tuples(st.just("shutdown_timeout"), not_positive),
        st.tuples(st.sampled_from(["full_copy", "other_config_exclusive", "restart_if_needed", "force",
                                   "hard_shutdown_fallback", "keep_disks", "keep_snapshots"]), not_a_bool),
        st.tuples(st.just("state"), unicode_text.filter(lambda t: t not in ("present", "absent"))),
        st.tuples(st.just("template"), unknown),
        st.tuples(st.just("template_uuid"), unknown),
        st.tuples(st.just("sr"), unknown),
        st.tuples(st.just("home_server"), unknown),
        st.tuples(st.just("disks"), st.one_of(
            st.just([{"size_gb": 0}]), st.just([{"size_mb": -1}]), st.just([{"size_gb": 1, "size_mb": 1}]),
            huge.map(lambda n: [{"size_gb": n}]), not_an_int.map(lambda v: [{"size_gb": v}]),
            unknown.map(lambda s: [{"size_gb": 1, "sr": s}]), st.just([{"size_gb": 1, "colour": "red"}]),
            st.just("eight gigabytes"), st.just([1, 2]))),
        st.tuples(st.just("networks"), st.one_of(
            unknown.map(lambda n: [{"network": n}]), not_a_mac.map(lambda m: [{"network": "xenbr0", "mac": m}]),
            st.just([{"mac": "00:16:3e:00:00:01"}]), st.just([{"network": ""}]), st.just("xenbr0"))),
        st.tuples(st.just("other_config"), st.one_of(
            st.just({"": "empty key"}), st.just({"nested": {"a": 1}}), st.just({"list": [1, 2]}),
            st.just("no equals sign"))),
        st.tuples(st.sampled_from(["description", "name"]), st.sampled_from(["nul\x00", "bell\x07", "\ufffe"])),
        st.tuples(st.just("firmware"), unicode_text.filter(lambda t: t not in ("bios", "uefi"))),
        st.tuples(st.just("secure_boot"), unicode_text.filter(
            lambda t: t not in ("true", "false", "auto", "True", "False"))),      # True/False: Ansible's booleans
        st.tuples(st.just("vtpm"), not_a_bool),
        # Well-formed, but not for the PV template the VM is (or is made) from: no firmware.
        st.tuples(st.sampled_from(["firmware", "secure_boot", "vtpm"]), st.sampled_from(["uefi", "true", True])),
    )


@SETTINGS
@given(bad=vm_bad_option(), name=st.one_of(st.just("fresh"), strange_names))
def test_vm_create_refuses_bad_input(pool, run_module, bad, name):
    option, value = bad
    options = dict(name=name, template=TEMPLATE, memory_mb=512, vcpus=1)
    options[option] = value
    if option == "template_uuid":
        options.pop("template")
    needles = [option.split("_uuid")[0], value if not isinstance(value, (list, dict)) else None, "name"]
    refused(pool, run_module, "vm", options, needles)


@SETTINGS
@given(bad=vm_bad_option())
def test_vm_update_refuses_bad_input(pool, run_module, bad):
    option, value = bad
    name = existing_vm(pool)
    options = {"name": name, option: value}
    if option in ("template", "template_uuid", "sr") and isinstance(value, str):
        return      # only read when creating (or for new disks): not bad input for a VM that exists
    refused(pool, run_module, "vm", options, [option, value if isinstance(value, (str, int)) else None])


# --- vm_info -----------------------------------------------------------------------------------------

@SETTINGS
@given(filters=st.one_of(
    st.dictionaries(unicode_text.filter(lambda k: k not in ("power_state", "name_prefix", "tag")
                                        and not k.startswith("other_config:")), st.text(max_size=5),
                    min_size=1, max_size=2),
    unicode_text.filter(lambda v: v.lower() not in ("running", "halted", "suspended", "paused"))
    .map(lambda v: {"power_state": v}),
    st.just("no equals sign"), st.just(["running"])),
    extra=st.sampled_from([None, "name", "uuid"]))
def test_vm_info_refuses_bad_filters(pool, run_module, filters, extra):
    options = dict(filters=filters)
    if extra:
        options[extra] = "x"
    needles = ["filters", "filter", "power_state", "mutually exclusive"]
    needles += list(filters) if isinstance(filters, dict) else []
    refused(pool, run_module, "vm_info", options, needles)


# --- vm_power ----------------------------------------------------------------------------------------

@SETTINGS
@given(bad=st.one_of(
    st.tuples(st.just("state"), unicode_text.filter(
        lambda t: t not in ("running", "halted", "suspended", "paused", "restarted"))),
    st.tuples(st.just("wait_for"), unicode_text.filter(
        lambda t: t not in ("running", "halted", "ip", "guest_agent", "pv_drivers"))),
    st.tuples(st.sampled_from(["shutdown_timeout", "wait_timeout"]), st.one_of(not_positive, not_an_int)),
    st.tuples(st.sampled_from(["force", "hard_shutdown_fallback"]), not_a_bool),
    st.tuples(st.just("name"), unknown),
    st.tuples(st.just("uuid"), unknown),
    st.tuples(st.just("impossible"), st.sampled_from([
        ("halted", "suspended", None), ("halted", "halted", "ip"), ("suspended", "suspended", "running")]))))
def test_vm_power_refuses_bad_input(pool, run_module, bad):
    name = existing_vm(pool)
    option, value = bad
    options = dict(name=name, state="running")
    if option == "impossible":
        options["state"], wait = value[1], value[2]
        if wait:
            options["wait_for"] = wait
        needles = ["suspended", "halted", "wait_for"]
    else:
        options[option] = value
        if option == "uuid":
            options.pop("name")
        needles = [option, value if isinstance(value, (str, int)) else None]
    refused(pool, run_module, "vm_power", options, needles)


# --- vm_boot -----------------------------------------------------------------------------------------

@SETTINGS
@given(bad=st.one_of(
    st.tuples(st.just("pv_bootloader"), unicode_text.filter(lambda t: t not in ("pygrub", "eliloader", "none", ""))),
    st.tuples(st.just("install_repository"), bad_urls.filter(lambda u: u != "")),
    st.tuples(st.just("install_distro"), unicode_text.filter(
        lambda t: t not in ("rhlike", "sleslike", "debianlike", "pygrub", ""))),
    st.tuples(st.just("install_arch"), unicode_text.filter(lambda t: t not in ("i386", "x86_64", ""))),
    st.tuples(st.just("hvm_boot_order"), st.one_of(st.sampled_from(["cc", "xyz", "c d", "cdnac"]),
                                                   unicode_text.filter(lambda t: not set(t) <= set("acdn")))),
    st.tuples(st.just("hvm_firmware"), unicode_text.filter(lambda t: t not in ("bios", "uefi"))),
    st.tuples(st.just("template"), not_a_bool),
    st.tuples(st.just("name"), unknown),
    st.tuples(st.just("pv_args"), st.sampled_from(["nul\x00", "esc\x1b[0m"]))))
def test_vm_boot_refuses_bad_input(pool, run_module, bad):
    name = existing_vm(pool)
    option, value = bad
    options = {"name": name, option: value}
    refused(pool, run_module, "vm_boot", options, [option, value if isinstance(value, str) else None])


# --- vm_xenstore_data --------------------------------------------------------------------------------

outside = st.one_of(st.sampled_from(["/local/domain/0/vm-data/x", "FIST/crash", "attr/os", "data/x", "vm-data",
                                     "vm-data/", "../vm-data/x", "vm-data/../x", "vm-data//x", "vm-data/a b",
                                     "control/shutdown", "", "vm-data/\u2603", "vm-data/x\ny"]),
                    unicode_text.filter(lambda t: "/" in t and not t.startswith("vm-data/")))


@SETTINGS
@given(bad=st.one_of(
    st.tuples(st.just("key"), outside),
    st.tuples(st.just("value"), st.one_of(st.sampled_from(["tab\there", "new\nline", "bell\x07", "del\x7f"]),
                                          st.integers(min_value=2049, max_value=5000).map(lambda n: "x" * n),
                                          st.just({"nested": "dict"}), st.just([1, 2]))),
    st.tuples(st.just("state"), unicode_text.filter(lambda t: t not in ("present", "absent"))),
    st.tuples(st.just("exclusive_absent"), st.just(True)),
    st.tuples(st.just("data"), st.sampled_from(["no equals sign", [["a", "b"]], 42])),
    st.tuples(st.just("name"), unknown)))
def test_vm_xenstore_data_refuses_bad_input(pool, run_module, bad):
    name = existing_vm(pool)
    option, value = bad
    options = dict(name=name, data={"hostname": "web01"})
    needles = [option]
    if option == "key":
        options["data"] = {value: "v"}
        needles = [value[:40] if value else "empty", "xenstore key", "key"]
    elif option == "value":
        options["data"] = {"hostname": value}
        needles = ["hostname", "value"]
    elif option == "exclusive_absent":
        options.update(state="absent", exclusive=True)
        needles = ["exclusive"]
    else:
        options[option] = value
        needles.append(value if isinstance(value, str) else None)
    refused(pool, run_module, "vm_xenstore_data", options, needles)


# --- vm_cdrom ----------------------------------------------------------------------------------------

@SETTINGS
@given(bad=st.one_of(
    st.tuples(st.just("iso"), unknown),
    st.tuples(st.just("iso"), st.sampled_from(["", "   "])),
    st.tuples(st.just("state"), unicode_text.filter(lambda t: t not in ("inserted", "ejected", "present", "absent"))),
    st.tuples(st.just("iso_with_ejected"), st.just("xs-tools.iso")),
    st.tuples(st.just("name"), unknown)))
def test_vm_cdrom_refuses_bad_input(pool, run_module, bad):
    name = existing_vm(pool)
    option, value = bad
    options = dict(name=name, iso="xs-tools.iso")
    if option == "iso_with_ejected":
        options["state"] = "ejected"
        needles = ["iso", "ejected"]
    else:
        options[option] = value
        needles = [option, value.strip() or None if isinstance(value, str) else None]
    refused(pool, run_module, "vm_cdrom", options, needles)


# --- vm_snapshot -------------------------------------------------------------------------------------

@SETTINGS
@given(bad=st.one_of(
    st.tuples(st.just("snapshot"), st.sampled_from(["", "   "])),
    st.tuples(st.just("state"), unicode_text.filter(lambda t: t not in ("present", "absent", "reverted"))),
    st.tuples(st.just("revert_missing"), unknown),
    st.tuples(st.just("name"), unknown)))
def test_vm_snapshot_refuses_bad_input(pool, run_module, bad):
    name = existing_vm(pool)
    option, value = bad
    options = dict(name=name, snapshot="s")
    if option == "revert_missing":
        options.update(snapshot=value, state="reverted")
        needles = [value]
    else:
        options[option] = value
        needles = [option, value.strip() or None]
    refused(pool, run_module, "vm_snapshot", options, needles)


# --- install_profile ---------------------------------------------------------------------------------

def _accepted_version(value):
    """A drawn text that happens to name a RHEL release (PV or HVM) is no bad input."""
    try:
        return bool(_profiles.normalize_version("rhel", value))
    except _profiles.ProfileError:
        return False


@SETTINGS
@given(bad=st.one_of(
    st.tuples(st.just("distro"), unicode_text.filter(lambda t: t not in _profiles.DISTROS)),
    st.tuples(st.just("version"), st.one_of(unicode_text, st.sampled_from(["5.12", "4.5x", "10sp9", "99"]))),
    st.tuples(st.just("arch"), unicode_text.filter(lambda t: t not in ("i386", "x86_64"))),
    st.tuples(st.just("repository"), bad_urls),
    st.tuples(st.just("verify_without_repository"), st.just(True)),
    st.tuples(st.just("verify_nfs"), st.just("nfs:server:/export/rhel")),
    st.tuples(st.just("answer_file"), bad_urls),
    st.tuples(st.just("verify_repository"), not_a_bool),
    st.tuples(st.just("network"), st.one_of(
        unicode_text.map(lambda t: {"address": t}).filter(lambda n: "/" not in n["address"]),
        st.sampled_from(["10.0.0.5/33", "10.0.0.256/24", "192.0.2.10/24 "]).map(lambda a: {"address": a}),
        st.sampled_from(["255.0.255.0", "0.0.0.255", "24"]).map(lambda m: {"address": "10.0.0.5", "netmask": m}),
        st.sampled_from(["router", "10.0.1.1", "10.0.0.5"]).map(lambda g: {"address": "10.0.0.5/24", "gateway": g}),
        unicode_text.map(lambda t: {"address": "10.0.0.5/24", "nameservers": [t]}),
        quoted.map(lambda h: {"address": "10.0.0.5/24", "hostname": h}),
        st.just({"address": "10.0.0.5/24", "gatway": "10.0.0.1"})))))
def test_install_profile_refuses_bad_input(pool, run_module, bad):
    option, value = bad
    options = dict(distro="rhel", version="5.1")
    if option == "network":
        options["network"] = value
        # the unknown key, or the bad value (an address alone lacks a netmask: named all the same)
        needles = ["gatway"] + [v if isinstance(v, str) else v[0] for k, v in value.items() if k != "gatway"]
    elif option == "verify_without_repository":
        options["verify_repository"] = True
        needles = ["repository"]
    elif option == "verify_nfs":
        options.update(repository=value, verify_repository=True)
        needles = [value]
    else:
        options[option] = value
        needles = [option, value if isinstance(value, str) else None]
    if option == "version" and _accepted_version(value):
        return
    refused(pool, run_module, "install_profile", options, needles)


# --- vm_fleet (every entry takes vm's options, plus xenstore_data, power_state, wait_for) --------

@SETTINGS
@given(bad=st.one_of(
    vm_bad_option(),
    st.tuples(st.just("xenstore_data"), outside.filter(bool).map(lambda k: {k: "v"})),
    st.tuples(st.just("power_state"), unicode_text.filter(lambda t: t not in ("running", "halted"))),
    st.tuples(st.just("wait_for"), unicode_text.filter(
        lambda t: t not in ("running", "halted", "ip", "guest_agent", "pv_drivers"))),
    st.tuples(st.just("wait_timeout"), st.one_of(not_positive, not_an_int)),
    st.tuples(st.just("colour"), st.just("red")),
    st.tuples(st.just("parallel"), st.one_of(not_positive, not_an_int)),
    st.tuples(st.just("duplicate"), st.just("fresh")),
    st.tuples(st.just("vms"), st.sampled_from(["no equals sign", [1], [{"template": TEMPLATE}], [None]]))))
def test_vm_fleet_refuses_bad_input(pool, run_module, bad):
    option, value = bad
    entry = dict(name="fresh", template=TEMPLATE, memory_mb=512, vcpus=1)
    options = dict(vms=[entry])
    if option == "template_uuid":
        entry.pop("template")
    if option in ("parallel", "vms"):
        options[option] = value
    elif option == "duplicate":
        options["vms"] = [entry, dict(entry)]
    else:
        entry[option] = value
    needles = [option.split("_uuid")[0], value if isinstance(value, (str, int)) else None]
    if option in ("name", "description") or (option == "duplicate"):
        needles.append("fresh")
    if option == "xenstore_data":
        needles.append(next(iter(value))[:40])
    refused(pool, run_module, "vm_fleet", options, needles)
