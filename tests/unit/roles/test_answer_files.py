"""Every answer file install_guest can render, checked by the distributions' own rules.

Kickstart (RHEL, CentOS): pykickstart, the parser anaconda itself is built on, with the version
handler of the target release (RHEL4 / RHEL5 / RHEL6), the way its ``ksvalidator`` checks a file:
parse warnings are errors, and so is a deprecated command or option.

AutoYaST (SLES): parsed as XML, then checked for what SUSE's AutoYaST documentation (SLES 10 / 11
"Configuration and Installation Options") says an unattended install reads: the ``profile`` root in
the yast2 namespace with the config namespace for ``config:type``, ``general/mode/confirm`` false,
a ``partitioning`` list of drives, ``software``, ``users`` with root's encrypted password,
``networking`` with eth0's interface, and typed values that hold their type.

Releases and arches come from install_profile's own table (_profiles.VERSIONS), so a release added
there is checked here without a change. The templates are rendered by ansible-playbook.
"""
import ipaddress
import re
import warnings
import xml.etree.ElementTree as ET

import pytest
from pykickstart.constants import KS_REBOOT, KS_SHUTDOWN
from pykickstart.errors import KickstartError, KickstartParseWarning
from pykickstart.parser import KickstartParser, preprocessFromStringToString
from pykickstart.version import makeVersion

from role_render import ROOT_HASH, profile, profiles, render_answers

STATIC = {"address": "10.20.30.40/24", "gateway": "10.20.30.1",
          "nameservers": ["10.20.30.2", "10.20.30.3"], "hostname": "web01.example.com"}
BARE = {"address": "10.0.0.5", "netmask": "255.0.0.0"}
PACKAGES = ["vim-enhanced", "@development-tools", "-sendmail"]
# Kickstart variants: the first two for every RHEL and CentOS release and arch, the others for the
# newest release of each major one.
KS_VARIANTS = {
    "dhcp": (None, {}),
    "static": (STATIC, {"install_guest_packages": PACKAGES, "install_guest_timezone": "Europe/Berlin"}),
}
KS_MORE_VARIANTS = {
    "bare-nfs": (BARE, {"install_guest_repository": "nfs:192.0.2.1:/exports/tree"}),
    "nfs-url-ftp-name": (None, {"install_guest_repository": "nfs://192.0.2.1/exports/tree",
                                "install_guest_name": "db/02 test"}),
    "ftp": (None, {"install_guest_repository": "ftp://192.0.2.1/pub/tree"}),
    "cdrom": (None, {"install_guest_repository": "cdrom"}),
}
AY_VARIANTS = {
    "dhcp": (None, {}),
    "static": ({"address": "10.4.5.6", "netmask": "255.255.0.0", "gateway": "10.4.0.1",
                "nameservers": ["10.4.0.2"], "hostname": "erp01.example.com"},
               {"install_guest_packages": ["vim", "@apparmor", "-sendmail"], "install_guest_name": "erp<01>&co--x"}),
    "bare": (BARE, {"install_guest_timezone": "America/New_York"}),
}


def releases(distro):
    return [(version, arch) for version, arches in sorted(profiles.VERSIONS[distro].items()) for arch in arches]


def newest_of_each_major(distro):
    majors = {}
    for version, arches in profiles.VERSIONS[distro].items():
        key = [int(n) for n in re.findall("[0-9]+", version)]
        if key > majors.get(key[0], ([], None))[0]:
            majors[key[0]] = (key, (version, arches[-1]))
    return [release for _major, release in majors.values()]


def case(distro, version, arch, variant, network, variables):
    return {"id": "-".join([distro, version, arch, variant]).replace("/", "_"), "distro": distro,
            "version": version, "arch": arch, "profile": profile(distro, version, arch, network, variables),
            "vars": variables}


# The ISO route's releases (install_guest_answer_era 'iso', from the profile's route): the kickstart
# of RHEL 8-10, its rebuilds and CentOS Stream 9 / 10 (install_guest_distro as the role has it),
# validated with pykickstart's handler of the RHEL major they follow; SLES 12 SP5 and 15 SPx.
ISO_KICKSTARTS = [(d, v) for d in ("rhel", "rocky", "almalinux", "oracle") for v in ("8", "9", "10")] + [
    ("rhel", "9.4"), ("centos_stream", "9"), ("centos_stream", "10")]
ISO_VARIANTS = {
    "dhcp": (None, {}),
    "static-reboot": (STATIC, {"install_guest_packages": PACKAGES + ["@^minimal-environment"],
                               "install_guest_answer_finish": "reboot", "install_guest_repository": "cdrom"}),
    "url": (None, {"install_guest_repository": "https://mirror.example.com/rocky/9/BaseOS/x86_64/os"}),
}
ISO_AUTOYAST = ["12sp5", "15", "15sp5", "15sp7"]


CASES = ([case(d, v, a, name, net, extra) for d in ("rhel", "centos") for v, a in releases(d)
          for name, (net, extra) in KS_VARIANTS.items()]
         + [case(d, v, a, name, net, extra) for d in ("rhel", "centos") for v, a in newest_of_each_major(d)
            for name, (net, extra) in KS_MORE_VARIANTS.items()]
         + [case("sles", v, a, name, net, extra) for v, a in releases("sles")
            for name, (net, extra) in AY_VARIANTS.items()]
         + [case(d, v, "x86_64", "iso-" + name, net, extra) for d, v in ISO_KICKSTARTS
            for name, (net, extra) in ISO_VARIANTS.items()]
         + [case("sles", v, "x86_64", "iso-" + name, net, extra) for v in ISO_AUTOYAST
            for name, (net, extra) in AY_VARIANTS.items()])
# Changes to a good kickstart that anaconda refuses: an unknown option slipped into a command.
BROKEN = [
    ("rhel-5.1-x86_64-dhcp", "timezone --utc UTC", "timezone --utc UTC --bogus"),
    ("centos-4.8-i386-static", "--gateway 10.20.30.1", "--gateway --nameserver"),
    ("rhel-9-x86_64-iso-dhcp", "timezone --utc UTC", "timezone --utc UTC --bogus"),
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return render_answers(tmp_path_factory.mktemp("answers"), CASES)


def kickstart_handler(version):
    """pykickstart's version handler of a RHEL / CentOS release (or the RHEL major a rebuild or
    CentOS Stream follows): '5.1' -> RHEL5, '10' -> RHEL10."""
    return makeVersion("RHEL" + version.split(".")[0])


def validate_kickstart(text, version):
    """ksvalidator's check: raises KickstartError (or a parse warning made an error) if the target
    release's anaconda would not take ``text``."""
    parser = KickstartParser(kickstart_handler(version), errorsAreFatal=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", KickstartParseWarning)
        parser.readKickstartFromString(preprocessFromStringToString(text).decode())
    return parser.handler


YAST = "{http://www.suse.com/1.0/yast2ns}"
CONFIG_TYPE = "{http://www.suse.com/1.0/configns}type"
TYPES = {"boolean": re.compile(r"^(true|false)$"), "integer": re.compile(r"^-?[0-9]+$"),
         "symbol": re.compile(r"^\w+$"), "list": None, "map": None}


def validate_autoyast(text):
    """The AutoYaST profile's root and the sections an unattended SLES install reads; returns the
    parsed root. Raises AssertionError naming what is wrong."""
    assert re.search(r"^<\?xml version=\"1\.0\"[^>]*\?>\s*<!DOCTYPE profile>", text), "no XML declaration / DOCTYPE"
    root = ET.fromstring(text)
    assert root.tag == YAST + "profile", "root element is %s, not profile in the yast2 namespace" % root.tag

    for node in root.iter():
        assert node.tag.startswith(YAST), "element %s is outside the yast2 namespace" % node.tag
        kind = node.get(CONFIG_TYPE)
        if kind is None:
            assert not [a for a in node.attrib if a.endswith("}type") or a == "type"], \
                "%s has a type attribute outside the config namespace" % node.tag
            continue
        assert kind in TYPES, "%s has config:type %r" % (node.tag, kind)
        if kind == "list":
            assert len(set(child.tag for child in node)) <= 1, "list %s mixes element names" % node.tag
        elif TYPES[kind]:
            assert TYPES[kind].match((node.text or "").strip()), "%s is not a %s" % (node.tag, kind)

    def one(path, parent=root):
        found = parent.findall("/".join(YAST + step for step in path.split("/")))
        assert len(found) == 1, "expected one <%s>, found %d" % (path, len(found))
        return found[0]

    def listed(path):
        node = one(path)
        assert node.get(CONFIG_TYPE) == "list", "<%s> is not a config:type list" % path
        return list(node)

    assert one("general/mode/confirm").text == "false", "confirm is not false: the install would wait"
    # the role's flow needs the VM powered off after stage 1 (SLES 10 to 15: general/mode/halt);
    # final_halt (SLES 11 on) would act at the end of stage 2 instead
    assert one("general/mode/halt").text == "true", "halt is not true: stage 1 would reboot"
    assert not root.findall("%sgeneral/%smode/%sfinal_halt" % ((YAST,) * 3)), "final_halt halts after stage 2"
    drives = listed("partitioning")
    assert drives and all(d.tag == YAST + "drive" for d in drives), "partitioning has no drive"
    for drive in drives:
        assert one("device", drive).text.startswith("/dev/"), "drive without a device"
        assert one("use", drive).text in ("all", "linux", "free"), "drive use is not all/linux/free"
    software = one("software")
    assert software.findall(YAST + "patterns") or software.findall(YAST + "packages"), "software selects nothing"
    users = listed("users")
    root_users = [u for u in users if one("username", u).text == "root"]
    assert len(root_users) == 1, "no root user"
    assert one("user_password", root_users[0]).text, "root has no password"
    assert one("encrypted", root_users[0]).text == "true", "root's hash is not marked encrypted"
    interfaces = listed("networking/interfaces")
    eth0 = [i for i in interfaces if one("device", i).text == "eth0"]
    assert len(eth0) == 1, "no eth0 interface"
    bootproto = one("bootproto", eth0[0]).text
    assert bootproto in ("dhcp", "static"), "eth0 bootproto %r" % bootproto
    if bootproto == "static":
        ipaddress.IPv4Network("%s/%s" % (one("ipaddr", eth0[0]).text, one("netmask", eth0[0]).text),
                              strict=False)
    assert one("networking/dns/hostname").text, "no host name"
    for route in root.findall("./%snetworking/%srouting/%sroutes/%sroute" % ((YAST,) * 4)):
        ipaddress.IPv4Address(one("gateway", route).text)
    assert one("timezone/hwclock").text in ("UTC", "localtime")
    assert one("timezone/timezone").text
    return root


# --- kickstart ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [c for c in CASES if c["distro"] != "sles"], ids=lambda c: c["id"])
def test_kickstart_validates_for_its_release(rendered, case):
    text = rendered[case["id"]]
    handler = validate_kickstart(text, case["version"])
    iso = case["profile"]["route"] == "iso"
    # what pykickstart read is what the role asked for
    assert handler.rootpw.isCrypted and handler.rootpw.password == ROOT_HASH
    if case["vars"].get("install_guest_answer_finish") == "reboot":
        assert handler.reboot.action == KS_REBOOT and handler.reboot.eject == iso
    else:
        assert handler.reboot.action == KS_SHUTDOWN   # poweroff: the role boots the installed system
    (device,) = handler.network.network
    assert device.device == ("link" if iso else "eth0")
    assert device.hostname == case["profile"]["answer"]["hostname"]
    net = case["profile"]["network"]
    assert device.bootProto == ("static" if net else "dhcp")
    if net:
        assert (device.ip, device.netmask, device.gateway or None) == (net["address"], net["netmask"], net["gateway"])
    packages = case["vars"].get("install_guest_packages", [])
    groups = {p[1:] for p in packages if p.startswith("@") and not p.startswith("@^")}
    assert {g.name for g in handler.packages.groupList} == {"core" if iso else "base"} | groups
    assert handler.packages.environment == next((p[2:] for p in packages if p.startswith("@^")), None)
    assert handler.packages.packageList == [p for p in packages if p[0] not in "@-"]
    assert handler.packages.excludedList == [p[1:] for p in packages if p.startswith("-")]
    assert handler.timezone.timezone == case["vars"].get("install_guest_timezone", "UTC")
    if iso:
        # only the system disk is used (the answer volume beside it is never partitioned), UEFI's
        # EFI system partition comes with autopart, no command anaconda has dropped
        assert handler.ignoredisk.onlyuse == ["xvda"] and handler.clearpart.drives == ["xvda"]
        assert handler.zerombr.zerombr and handler.autopart.autopart
        assert not re.search(r"(?m)^(install|authconfig)\b", text)


def test_every_release_is_covered():
    """Every RHEL and CentOS release install_profile knows is rendered and validated (major
    releases alone pick the newest, so they are not rendered twice)."""
    covered = {(c["distro"], c["version"]) for c in CASES}
    for distro in ("rhel", "centos", "sles"):
        assert {(distro, v) for v in profiles.VERSIONS[distro]} <= covered


@pytest.mark.parametrize("broken", BROKEN, ids=lambda b: b[0])
def test_validation_rejects_a_broken_kickstart(rendered, broken):
    """The check is real: an unknown option slipped into a command fails it."""
    case_id, good, bad = broken
    assert good in rendered[case_id]
    with pytest.raises(KickstartError, match=r"--bogus|--gateway"):
        validate_kickstart(rendered[case_id].replace(good, bad), case_id.split("-")[1])


def test_validation_rejects_an_unknown_command_and_a_release_mismatch(rendered):
    text = rendered["rhel-5.1-x86_64-dhcp"]
    with pytest.raises(KickstartError, match="Unknown command"):
        validate_kickstart(text.replace("\nautopart\n", "\nautopartition\n"), "5.1")
    # a RHEL 6 file must close %packages with %end; RHEL 5's anaconda does not know %end
    with pytest.raises(KickstartError, match="%end"):
        validate_kickstart(text.rstrip().replace("\n%end", "") + "\n", "6.0")


# --- AutoYaST -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", [c for c in CASES if c["distro"] == "sles"], ids=lambda c: c["id"])
def test_autoyast_profile_has_what_the_installer_needs(rendered, case):
    root = validate_autoyast(rendered[case["id"]])
    wanted = case["vars"].get("install_guest_packages", [])
    software = root.find(YAST + "software")
    assert [p.text for p in software.findall("%spatterns/%spattern" % (YAST, YAST))] == \
        ["base"] + [p[1:] for p in wanted if p.startswith("@")]
    assert [p.text for p in software.findall("%spackages/%spackage" % (YAST, YAST))] == \
        [p for p in wanted if p[0] not in "@-"]
    assert [p.text for p in software.findall("%sremove-packages/%spackage" % (YAST, YAST))] == \
        [p[1:] for p in wanted if p.startswith("-")]
    zone = root.find("%stimezone/%stimezone" % (YAST, YAST)).text
    assert zone == case["vars"].get("install_guest_timezone", "UTC")
    net = case["profile"]["network"]
    ipaddr = root.find(".//%sinterface/%sipaddr" % (YAST, YAST))
    assert (ipaddr.text if ipaddr is not None else None) == (net["address"] if net else None)
    assert root.find("%snetworking/%sdns/%shostname" % ((YAST,) * 3)).text == \
        case["profile"]["answer"]["hostname"].split(".")[0]
    iso = case["profile"]["route"] == "iso"
    loader = root.find("%sbootloader/%sloader_type" % (YAST, YAST))
    assert (loader.text if loader is not None else None) == ("grub2-efi" if iso else None)
    sles15 = iso and case["version"].startswith("15")
    # SLES 15's unified installer installs the products asked for; wicked is its network backend
    assert [p.text for p in software.findall("%sproducts/%sproduct" % (YAST, YAST))] == (["SLES"] if sles15 else [])
    backend = root.find("%snetworking/%sbackend" % (YAST, YAST))
    assert (backend.text if backend is not None else None) == ("wicked" if sles15 else None)


def test_autoyast_escapes_what_it_writes(rendered):
    """XML escaping: a VM name with <, > and & (and '--', which an XML comment cannot hold)."""
    text = rendered["sles-11sp4-x86_64-static"]
    assert "erp&lt;01&gt;&amp;co- -x" in text
    validate_autoyast(text)


@pytest.mark.parametrize("mutation", [
    ('xmlns="http://www.suse.com/1.0/yast2ns"', 'xmlns="http://example.com/profile"'),
    ('<confirm config:type="boolean">false</confirm>', '<confirm config:type="boolean">no</confirm>'),
    ("<username>root</username>", "<username>admin</username>"),
    ('<encrypted config:type="boolean">true</encrypted>', ""),
    ('<partitioning config:type="list">', '<partitioning>'),
    ("<device>eth0</device>", "<device>eth1</device>"),
    ('<halt config:type="boolean">true</halt>', '<final_halt config:type="boolean">true</final_halt>'),
    ("</profile>", ""),
])
def test_autoyast_check_rejects_a_broken_profile(rendered, mutation):
    """The check is real: each of these changes to a good profile fails it."""
    text = rendered["sles-11sp4-x86_64-static"]
    assert mutation[0] in text
    with pytest.raises((AssertionError, ET.ParseError)):
        validate_autoyast(text.replace(mutation[0], mutation[1]))
