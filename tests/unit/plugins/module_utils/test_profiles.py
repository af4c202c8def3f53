"""Install profiles as data (plugins/module_utils/_profiles.py)."""
import hashlib
import re

import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils import _profiles as P
from xapisim import trees
from xapisim.pool import TEMPLATES


@pytest.mark.parametrize("value", [
    "http://192.0.2.1/centos/5", "https://mirror.example.com/rhel", "ftp://ftp.example.com/pub/sles",
    "nfs:server:/export/sles", "nfs://server/export/centos", "cdrom", "http://host",
])
def test_repositories_eliloader_accepts(value):
    assert P.validate_repository(value) == value


@pytest.mark.parametrize("value", [
    "", "CDROM", "cdrom:", "file:///srv/repo", "smb://host/share", "http://", "http:///path",
    "nfs:/export", "nfs:server/export", "nfs://server", "http://host/with space", "/srv/repo", "www.example.com/centos",
])
def test_other_repositories_fail_naming_the_value(value):
    with pytest.raises(P.ProfileError) as caught:
        P.validate_repository(value)
    assert "'%s'" % value in str(caught.value) and "nfs:server:/path" in str(caught.value)


def test_versions_normalise_and_unknown_ones_name_the_value():
    assert P.normalize_version("sles", "10 SP1") == "10sp1"
    assert P.normalize_version("sles", "11SP4") == "11sp4"
    assert P.normalize_version("rhel", " 5.1") == "5.1"
    assert P.normalize_version("centos", "5") == "5"
    with pytest.raises(P.ProfileError, match="RHEL version '6.2' has no install profile; known: 4, 4.5"):
        P.normalize_version("rhel", "6.2")


def test_rhel_and_sles_profiles():
    rhel = P.profile("rhel", "5.1", "x86_64", answer_file="http://ks/rhel.cfg", extra_args="text")
    assert rhel["install_distro"] == "rhlike" and rhel["rounds"] == 1
    assert rhel["bootloader_install"] == "eliloader" and rhel["bootloader_final"] == "pygrub"
    assert rhel["pv_args"] == "console=xvc0 ks=http://ks/rhel.cfg text"
    assert (rhel["kernel_path"], rhel["ramdisk_path"]) == ("images/xen/vmlinuz", "images/xen/initrd.img")
    assert rhel["round2_bootloader_args"] == ""
    assert rhel["kernel_md5"] == P.KNOWN_MD5[("rhel", "5.1", "x86_64", "images/xen/vmlinuz")]

    sles = P.profile("sles", "10sp1", "x86_64", answer_file="http://ay/sles.xml", console="console=xvc0")
    assert sles["install_distro"] == "sleslike" and sles["rounds"] == 2
    assert sles["pv_args"] == "console=xvc0 autoyast=http://ay/sles.xml"
    assert (sles["kernel_path"], sles["ramdisk_path"]) == ("boot/x86_64/vmlinuz-xen", "boot/x86_64/initrd-xen")
    assert sles["round2_bootloader_args"] == "--kernel /boot/vmlinuz-xen --ramdisk /boot/initrd-xen"

    sles32 = P.profile("sles", "11sp4", "i386")
    assert (sles32["kernel_path"], sles32["ramdisk_path"]) == ("boot/i386/vmlinuz-xenpae", "boot/i386/initrd-xenpae")
    assert sles32["round2_bootloader_args"] == "--kernel /boot/vmlinuz-xenpae --ramdisk /boot/initrd-xenpae"
    assert sles32["pv_args"] == "console=ttyS0 xencons=ttyS"


def test_major_version_has_no_single_checksum():
    prof = P.profile("centos", "5", "x86_64")
    assert prof["releases"] == ["5.4", "5.3", "5.2", "5.1", "5.0"]
    assert prof["kernel_md5"] is None and prof["ramdisk_md5"] is None


def test_profile_errors_name_the_value():
    with pytest.raises(P.ProfileError, match="CentOS 4.5 has no 'x86_64' install profile"):
        P.profile("centos", "4.5", "x86_64")
    with pytest.raises(P.ProfileError, match="distro 'ubuntu'"):
        P.profile("ubuntu", "8.04", "i386")
    with pytest.raises(P.ProfileError, match="'http://x/a b.cfg'"):
        P.profile("rhel", "5", "i386", answer_file="http://x/a b.cfg")


def test_candidates_cover_the_seed_era_and_today():
    assert P.template_candidates("rhel", "5.1", "x86_64") == [
        "Red Hat Enterprise Linux 5.1 x64", "Red Hat Enterprise Linux 5 (64-bit)"]
    assert P.template_candidates("centos", "5.0", "i386") == ["CentOS 5.0", "CentOS 5.0 (32-bit)", "CentOS 5 (32-bit)"]
    assert P.template_candidates("centos", "4.5", "i386") == ["CentOS 4.5", "CentOS 4.5 (32-bit)"]
    assert P.template_candidates("sles", "10sp1", "x86_64") == [
        "SUSE Linux Enterprise Server 10 SP1 (64-bit)", "SUSE Linux Enterprise Server 10 SP1 x64",
        "SUSE Linux Enterprise Server 10 SP1 (x64)", "SUSE Linux Enterprise Server 10 SP1"]
    assert P.template_candidates("centos", "5", "x86_64")[:2] == ["CentOS 5 (64-bit)", "CentOS 5.4 x64"]


def test_every_simulated_el_and_sles_pv_template_is_some_profiles_candidate():
    """The simulator's template list (seed era and today) is reachable from the profiles."""
    names = set()
    for distro, releases in P.VERSIONS.items():
        majors = set(v.split(".")[0] for v in releases if "." in v)
        for version in list(releases) + sorted(majors):
            for arch in P.arches_of(distro, version):
                names.update(P.template_candidates(distro, version, arch))
    # EL 6 has no profile: the SDK guide's sequences end with EL 5 and SLES 11.
    wanted = [name for name, _set, kind, distro, _arch, _extra in TEMPLATES
              if kind == "pv" and distro in ("rhlike", "sleslike") and " 6 (" not in name]
    assert wanted and [n for n in wanted if n not in names] == []


def test_template_query_is_one_expression_with_or():
    expr = P.template_query(["CentOS 5.0", "CentOS 5 (32-bit)"])
    assert expr == ('field "is_a_template"="true" and field "is_a_snapshot"="false" and '
                    'field "HVM_boot_policy"="" and (field "name__label"="CentOS 5.0" or '
                    'field "name__label"="CentOS 5 (32-bit)")')


def test_pick_template_prefers_order_then_builtin_then_uuid():
    records = {
        "r1": {"name_label": "CentOS 5 (32-bit)", "uuid": "b", "is_default_template": False, "other_config": {}},
        "r2": {"name_label": "CentOS 5.0", "uuid": "c", "is_default_template": False, "other_config": {}},
        "r3": {"name_label": "CentOS 5.0", "uuid": "d", "is_default_template": False,
               "other_config": {"default_template": "true"}},
        "r4": {"name_label": "CentOS 5.0", "uuid": "a", "is_default_template": False, "other_config": {}},
    }
    assert P.pick_template(["CentOS 5.0", "CentOS 5 (32-bit)"], records)[0] == "r3"
    del records["r3"]
    assert P.pick_template(["CentOS 5.0", "CentOS 5 (32-bit)"], records)[0] == "r4"
    assert P.pick_template(["CentOS 5 (32-bit)"], records)[0] == "r1"
    assert P.pick_template(["CentOS 4.5"], records) == (None, None)


def test_known_md5_covers_every_profiled_release_with_literal_checksums():
    """Both arches of every release, kernel and ramdisk: distinct MD5 hex strings."""
    wanted = sorted((distro, release, arch, path)
                    for distro, releases in P.VERSIONS.items()
                    for release in releases
                    for arch in P.INSTALL_ARCHES
                    for path in P.tree_paths(distro, arch))
    assert sorted(P.KNOWN_MD5) == wanted
    assert len(set(P.KNOWN_MD5.values())) == len(P.KNOWN_MD5)
    assert all(re.match(r"^[0-9a-f]{32}$", digest) for digest in P.KNOWN_MD5.values())


def test_sample_trees_are_where_the_profiles_look():
    """The simulator's sample trees hold kernel and ramdisk at the profiles' paths, with our checksums."""
    for distro, release, arch in trees.ALL_TREES:
        kernel, ramdisk = P.tree_paths(distro, arch)
        files = trees.tree_files(distro, release, arch)
        assert hashlib.md5(files[kernel]).hexdigest() == P.KNOWN_MD5[(distro, release, arch, kernel)]
        assert hashlib.md5(files[ramdisk]).hexdigest() == P.KNOWN_MD5[(distro, release, arch, ramdisk)]


def _tree_md5(distro, release, arch):
    """md5_of(url) answering as if the repository held that sample tree."""
    files = trees.tree_files(distro, release, arch)

    def md5_of(url):
        path = url.split("/repo/", 1)[1]
        if path not in files:
            raise P.ProfileError("cannot fetch %s: HTTP Error 404: Not Found" % url)
        return hashlib.md5(files[path]).hexdigest()
    return md5_of


def test_verify_tree_tells_rhel_from_centos():
    centos5 = P.profile("centos", "5", "x86_64")
    found = P.verify_tree("http://h/repo/", centos5, _tree_md5("centos", "5.1", "x86_64"))
    assert found == {"tree_version": "5.1",
                     "kernel_md5": P.KNOWN_MD5[("centos", "5.1", "x86_64", "images/xen/vmlinuz")],
                     "ramdisk_md5": P.KNOWN_MD5[("centos", "5.1", "x86_64", "images/xen/initrd.img")]}
    with pytest.raises(P.ProfileError) as caught:
        P.verify_tree("http://h/repo", centos5, _tree_md5("rhel", "5.1", "x86_64"))
    digest = P.KNOWN_MD5[("rhel", "5.1", "x86_64", "images/xen/vmlinuz")]
    assert str(caught.value) == ("the repository at http://h/repo holds a RHEL 5.1 (x86_64) tree "
                                 "(md5 of images/xen/vmlinuz = %s), not CentOS 5 (x86_64)" % digest)


def test_verify_tree_wrong_release_arch_unknown_and_mixed():
    prof = P.profile("centos", "5.0", "x86_64")
    with pytest.raises(P.ProfileError, match="holds a CentOS 5.1 .x86_64. tree"):
        P.verify_tree("http://h/repo", prof, _tree_md5("centos", "5.1", "x86_64"))
    with pytest.raises(P.ProfileError, match="holds a CentOS 5.0 .i386. tree"):
        P.verify_tree("http://h/repo", prof, _tree_md5("centos", "5.0", "i386"))
    with pytest.raises(P.ProfileError, match="holds a CentOS 4.5 .x86_64. tree .* not CentOS 4.5 .i386."):
        P.verify_tree("http://h/repo", P.profile("centos", "4.5", "i386"), _tree_md5("centos", "4.5", "x86_64"))
    with pytest.raises(P.ProfileError, match="unknown kernel .md5 of images/xen/vmlinuz = 0+.*KNOWN_MD5"):
        P.verify_tree("http://h/repo", prof, lambda url: "0" * 32)
    kernel = _tree_md5("centos", "5.1", "x86_64")
    ramdisk = _tree_md5("centos", "5.0", "x86_64")

    def mixed(url):
        return (kernel if url.endswith("vmlinuz") else ramdisk)(url)
    with pytest.raises(P.ProfileError, match="mixes releases: its kernel is from CentOS 5.1 .x86_64. "
                                             "and its ramdisk from CentOS 5.0"):
        P.verify_tree("http://h/repo", P.profile("centos", "5", "x86_64"), mixed)
    with pytest.raises(P.ProfileError, match="404"):
        P.verify_tree("http://h/repo", P.profile("sles", "10sp1", "x86_64"), _tree_md5("rhel", "5.1", "x86_64"))


# --- eth0's static address (the network input) ---------------------------------------------------

NET_STATIC = {"address": "10.20.30.40/24", "gateway": "10.20.30.1",
              "nameservers": ["10.20.30.2", "10.20.30.3"], "hostname": "web01.example.com"}
NET_BAD = {
    "no-address": ({"gateway": "10.0.0.1"}, "no address"),
    "octet": ({"address": "10.0.0.256/24"}, "address '10.0.0.256/24' is not an IPv4 address"),
    "leading-zero": ({"address": "010.0.0.5/24"}, "address '010.0.0.5/24' is not an IPv4 address"),
    "prefix": ({"address": "10.0.0.5/33"}, "address '10.0.0.5/33' is not an IPv4 address"),
    "prefix-text": ({"address": "10.0.0.5/"}, "address '10.0.0.5/' is not an IPv4 address"),
    "no-mask": ({"address": "10.0.0.5"}, "address '10.0.0.5' has no /prefix"),
    "mask": ({"address": "10.0.0.5", "netmask": "255.0.255.0"}, "netmask '255.0.255.0' is not an IPv4 netmask"),
    "hostmask": ({"address": "10.0.0.5", "netmask": "0.0.0.255"}, "netmask '0.0.0.255' is not an IPv4 netmask"),
    "mask-prefix": ({"address": "10.0.0.5", "netmask": "24"}, "netmask '24' is not an IPv4 netmask"),
    "two-masks": ({"address": "10.0.0.5/24", "netmask": "255.255.0.0"},
                  "netmask '255.255.0.0' is not that of address '10.0.0.5/24'"),
    "gateway": ({"address": "10.0.0.5/24", "gateway": "router"}, "gateway 'router' is not an IPv4 address"),
    "off-net": ({"address": "10.0.0.5/24", "gateway": "10.0.1.1"},
                "gateway '10.0.1.1' is not another address on the network of 10.0.0.5/24"),
    "self": ({"address": "10.0.0.5/24", "gateway": "10.0.0.5"}, "gateway '10.0.0.5' is not another address"),
    "dns": ({"address": "10.0.0.5/24", "nameservers": ["10.0.0.2", "ns.example.com"]},
            "nameserver 'ns.example.com' is not an IPv4 address"),
    "hostname": ({"address": "10.0.0.5/24", "hostname": "web_01"}, "hostname 'web_01' is not a host name"),
}


NET_UNSET = {"address": None, "netmask": None, "gateway": None, "nameservers": None, "hostname": None}


@pytest.mark.parametrize("value", [None, {}, NET_UNSET, {"nameservers": []}])
def test_no_network_is_dhcp(value):
    assert P.network(value) is None
    rhel = P.profile("rhel", "5.1", "x86_64", answer_file="http://ks/r.cfg", network_input=value)
    assert rhel["network"] is None
    assert rhel["pv_args"] == "console=xvc0 ks=http://ks/r.cfg" and rhel["final_pv_args"] == "console=xvc0"


def test_network_is_normalised():
    assert P.network(NET_STATIC) == {"address": "10.20.30.40", "prefix": 24, "netmask": "255.255.255.0",
                                     "gateway": "10.20.30.1", "nameservers": ["10.20.30.2", "10.20.30.3"],
                                     "hostname": "web01.example.com"}
    assert P.network({"address": "10.0.0.5", "netmask": "255.0.0.0"}) == {
        "address": "10.0.0.5", "prefix": 8, "netmask": "255.0.0.0", "gateway": None, "nameservers": [],
        "hostname": None}
    # prefix and netmask may both be given when they agree
    assert P.network({"address": "10.0.0.5/30", "netmask": "255.255.255.252", "gateway": "10.0.0.6"})["prefix"] == 30


def test_anaconda_arguments_on_the_installer_line_only():
    rhel = P.profile("rhel", "5.1", "x86_64", answer_file="http://ks/r.cfg", extra_args="text",
                     network_input=NET_STATIC)
    assert rhel["pv_args"] == ("console=xvc0 ks=http://ks/r.cfg ksdevice=eth0 ip=10.20.30.40 netmask=255.255.255.0 "
                               "gateway=10.20.30.1 dns=10.20.30.2,10.20.30.3 text")
    assert rhel["final_pv_args"] == "console=xvc0 text"
    bare = P.profile("centos", "5", "x86_64", network_input={"address": "10.0.0.5", "netmask": "255.0.0.0"})
    assert bare["pv_args"] == "console=xvc0 ksdevice=eth0 ip=10.0.0.5 netmask=255.0.0.0"


def test_linuxrc_arguments_take_one_name_server():
    sles = P.profile("sles", "10sp1", "x86_64", answer_file="http://ay/s.xml", network_input={
        "address": "10.4.5.6", "netmask": "255.255.0.0", "gateway": "10.4.0.1", "nameservers": ["10.4.0.2", "10.4.0.3"]})
    assert sles["pv_args"] == ("console=ttyS0 xencons=ttyS autoyast=http://ay/s.xml netdevice=eth0 hostip=10.4.5.6 "
                               "netmask=255.255.0.0 gateway=10.4.0.1 nameserver=10.4.0.2")
    assert sles["final_pv_args"] == "console=ttyS0 xencons=ttyS"
    assert sles["network"]["nameservers"] == ["10.4.0.2", "10.4.0.3"]


@pytest.mark.parametrize("name", sorted(NET_BAD))
def test_bad_network_input_is_named(name):
    value, message = NET_BAD[name]
    with pytest.raises(P.ProfileError) as caught:
        P.network(value)
    assert str(caught.value).startswith("network: ") and message in str(caught.value)


def test_every_network_problem_is_named_at_once():
    with pytest.raises(P.ProfileError) as caught:
        P.network({"address": "10.0.0.5/24", "netmask": "255.0.255.0", "nameservers": ["x"], "hostname": "a_b"})
    assert str(caught.value) == ("network: netmask '255.0.255.0' is not an IPv4 netmask (255.255.255.0, ...); "
                                 "nameserver 'x' is not an IPv4 address; hostname 'a_b' is not a host name")
