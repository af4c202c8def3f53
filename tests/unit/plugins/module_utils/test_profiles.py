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
    assert P.normalize_version("rhel", "6.10") == "6.10" and P.normalize_version("sles", "11") == "11"
    assert P.normalize_version("rocky", "9.4") == "9.4" and P.normalize_version("sles", "15 SP6") == "15sp6"
    with pytest.raises(P.ProfileError, match="RHEL version '6.11' has no install profile; known: 4, 4.5"):
        P.normalize_version("rhel", "6.11")
    for distro, version in (("rhel", "11"), ("sles", "12sp6"), ("sles", "13"), ("centos", "9"), ("rocky", "7")):
        with pytest.raises(P.ProfileError, match="version '%s' has no install profile" % version):
            P.normalize_version(distro, version)


def test_rhel_and_sles_profiles():
    rhel = P.profile("rhel", "5.1", "x86_64", answer_file="http://ks/rhel.cfg", extra_args="text")
    assert rhel["install_distro"] == "rhlike" and rhel["rounds"] == 1
    assert rhel["bootloader_install"] == "eliloader" and rhel["bootloader_final"] == "pygrub"
    assert rhel["pv_args"] == "console=xvc0 ks=http://ks/rhel.cfg text"
    assert (rhel["kernel_path"], rhel["ramdisk_path"]) == ("images/xen/vmlinuz", "images/xen/initrd.img")
    assert rhel["round2_bootloader_args"] == "" and rhel["route"] == "eliloader"
    assert "kernel_md5" not in rhel  # nothing is known of a vendor's bytes; verify_tree reads the tree

    sles = P.profile("sles", "10sp1", "x86_64", answer_file="http://ay/sles.xml", console="console=xvc0")
    assert sles["install_distro"] == "sleslike" and sles["rounds"] == 2
    assert sles["pv_args"] == "console=xvc0 autoyast=http://ay/sles.xml"
    assert (sles["kernel_path"], sles["ramdisk_path"]) == ("boot/x86_64/vmlinuz-xen", "boot/x86_64/initrd-xen")
    assert sles["round2_bootloader_args"] == "--kernel /boot/vmlinuz-xen --ramdisk /boot/initrd-xen"

    sles32 = P.profile("sles", "11sp4", "i386")
    assert (sles32["kernel_path"], sles32["ramdisk_path"]) == ("boot/i386/vmlinuz-xenpae", "boot/i386/initrd-xenpae")
    assert sles32["round2_bootloader_args"] == "--kernel /boot/vmlinuz-xenpae --ramdisk /boot/initrd-xenpae"
    assert sles32["pv_args"] == "console=ttyS0 xencons=ttyS"


def test_major_version_stands_for_its_releases():
    prof = P.profile("centos", "5", "x86_64")
    assert prof["releases"] == ["5.%d" % minor for minor in range(11, -1, -1)]
    assert P.profile("rhel", "6", "i386")["releases"][0] == "6.10"


def test_el6_boots_the_isolinux_kernel_with_the_hvc0_console():
    """EL 6 trees have no images/xen/; eliloader falls back to isolinux/ (a pvops kernel)."""
    prof = P.profile("rhel", "6.4", "x86_64", answer_file="http://ks/r6.cfg")
    assert (prof["kernel_path"], prof["ramdisk_path"]) == ("isolinux/vmlinuz", "isolinux/initrd.img")
    assert prof["pv_args"] == "console=hvc0 ks=http://ks/r6.cfg" and prof["final_pv_args"] == "console=hvc0"
    assert P.template_candidates("centos", "6.4", "i386") == ["CentOS 6 (32-bit)"]
    assert P.template_candidates("sles", "11", "i386") == ["SUSE Linux Enterprise Server 11 (32-bit)",
                                                           "SUSE Linux Enterprise Server 11"]


@pytest.mark.parametrize("distro, version, names, answer", [
    ("rhel", "7", ["Red Hat Enterprise Linux 7"], "ks.cfg"),
    ("rhel", "9.4", ["Red Hat Enterprise Linux 9"], "ks.cfg"),
    ("centos", "7", ["CentOS 7"], "ks.cfg"),
    ("centos_stream", "9", ["CentOS Stream 9"], "ks.cfg"),
    ("rocky", "8", ["Rocky Linux 8"], "ks.cfg"),
    ("almalinux", "10", ["AlmaLinux 10"], "ks.cfg"),
    ("oracle", "8", ["Oracle Linux 8"], "ks.cfg"),
    ("sles", "12sp5", ["SUSE Linux Enterprise Server 12 SP5 (64-bit)", "SUSE Linux Enterprise Server 12 (64-bit)"],
     "autoinst.xml"),
    ("sles", "15", ["SUSE Linux Enterprise Server 15 (64-bit)", "SUSE Linux Enterprise 15 (64-bit)"], "autoinst.xml"),
])
def test_hvm_only_releases_name_their_route(distro, version, names, answer):
    prof = P.profile(distro, version, "x86_64")
    assert prof["route"] == "iso" and prof["routes"] == ["iso", "cloud_image"]
    assert prof["candidates"] == names and prof["answer_volume"] == "OEMDRV" and prof["answer_volume_file"] == answer
    assert prof["firmware"] == "uefi" and "pv_args" not in prof
    with pytest.raises(P.ProfileError, match="has no 'i386' install profile"):
        P.profile(distro, version, "i386")


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
    assert P.template_candidates("centos", "5", "x86_64")[:2] == ["CentOS 5 (64-bit)", "CentOS 5.11 x64"]


def test_every_simulated_el_and_sles_pv_template_is_some_profiles_candidate():
    """The simulator's template list (seed era and today) is reachable from the profiles."""
    names = set()
    for distro, releases in P.VERSIONS.items():
        majors = set(v.split(".")[0] for v in releases if "." in v)
        for version in list(releases) + sorted(majors):
            for arch in P.arches_of(distro, version):
                names.update(P.template_candidates(distro, version, arch))
    wanted = [name for name, _set, kind, distro, _arch, _extra in TEMPLATES
              if kind == "pv" and distro in ("rhlike", "sleslike")]
    assert wanted and [n for n in wanted if n not in names] == []


def test_template_query_is_one_expression_with_or():
    expr = P.template_query(["CentOS 5.0", "CentOS 5 (32-bit)"])
    assert expr == ('field "is_a_template"="true" and field "is_a_snapshot"="false" and '
                    'field "HVM_boot_policy"="" and (field "name__label"="CentOS 5.0" or '
                    'field "name__label"="CentOS 5 (32-bit)")')
    assert P.template_query(["Rocky Linux 9"], hvm=True) == (
        'field "is_a_template"="true" and field "is_a_snapshot"="false" and '
        'not (field "HVM_boot_policy"="") and (field "name__label"="Rocky Linux 9")')


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


def _repo(files):
    """fetch_text and digests_of answering as if http://h/repo held ``files`` ({path: bytes})."""
    def path_of(url):
        return url.split("/repo/", 1)[1]

    def fetch_text(url):
        data = files.get(path_of(url))
        return None if data is None else data.decode("utf-8")

    def digests_of(url, algorithms):
        if path_of(url) not in files:
            raise P.ProfileError("cannot fetch %s: HTTP Error 404: Not Found" % url)
        return dict((name, hashlib.new(name, files[path_of(url)]).hexdigest()) for name in algorithms)
    return fetch_text, digests_of


def _sample(distro, release, arch):
    return _repo(trees.tree_files(distro, release, arch))


def test_every_sample_tree_is_identified_by_its_metadata():
    """The simulator's trees carry the files real ones do; the collection reads them as the installers do."""
    for distro, release, arch in trees.ALL_TREES:
        fetch_text, _digests = _sample(distro, release, arch)
        found = P.identify_tree("http://h/repo/", fetch_text)
        assert (found["distro"], found["version"], found["arch"]) == (distro, release, arch)
        assert found["metadata"] == {"sles": "content"}.get(distro, ".discinfo" if release.startswith("4.") else ".treeinfo")
        assert P.tree_paths(distro, release, arch) == trees.boot_paths(distro, release, arch)


@pytest.mark.parametrize("files, found", [
    # RHEL 5.8 DVD (libguestfs' notes), RHEL 6, CentOS 6 (.treeinfo)
    ({".treeinfo": "[general]\nfamily = Red Hat Enterprise Linux Server\ntimestamp = 1328200566.61\ntotaldiscs = 1\n"
                   "version = 5.8\ndiscnum = 1\npackagedir = Server\narch = x86_64\n"},
     ("rhel", "Red Hat Enterprise Linux Server", "5.8", "x86_64", "RHEL 5.8 x86_64")),
    ({".treeinfo": "[general]\nfamily = Red Hat Enterprise Linux\nvariant = Server\nversion = 6.4\narch = i386\n"},
     ("rhel", "Red Hat Enterprise Linux", "6.4", "i386", "RHEL 6.4 i386")),
    ({".treeinfo": "[general]\nfamily = CentOS\nversion = 6.10\narch = x86_64\n", ".discinfo": "x\nRHEL\ni386\n"},
     ("centos", "CentOS", "6.10", "x86_64", "CentOS 6.10 x86_64")),
    ({".treeinfo": "[general]\nfamily = CentOS Stream\nversion = 9\narch = x86_64\n"},
     ("centos_stream", "CentOS Stream", "9", "x86_64", "CentOS Stream 9 x86_64")),
    # EL 4 has only .discinfo: product and release on line 2, arch on line 3
    ({".discinfo": "1178736539.946433\nRed Hat Enterprise Linux AS 4 Update 5\ni386\n1,2,3,4,5\n"},
     ("rhel", "Red Hat Enterprise Linux AS", "4.5", "i386", "RHEL 4.5 i386")),
    ({".discinfo": "1178736539.946433\nCentOS-4.8\ni686\n1,2,3,4\n"},
     ("centos", "CentOS", "4.8", "i386", "CentOS 4.8 i386")),
    ({".discinfo": "1178736539.946433\nRed Hat Enterprise Linux ES 4\ni386\n1\n"},
     ("rhel", "Red Hat Enterprise Linux ES", "4", "i386", "RHEL 4 i386")),
    # SUSE's content file: SLES 10 (VERSION 10.4-0), SLES 11 (CONTENTSTYLE 11, BASEARCHS)
    ({"content": "PRODUCT SUSE Linux Enterprise Server\nVERSION 10.4-0\nDEFAULTBASE i586\n"},
     ("sles", "SUSE Linux Enterprise Server", "10sp4", "i386", "SLES 10 SP4 i386")),
    ({"content": "CONTENTSTYLE 11\nLABEL SUSE Linux Enterprise Server 11 SP4\nNAME SUSE_SLES\nVERSION 11.4\n"
                 "BASEARCHS x86_64\n"},
     ("sles", "SUSE Linux Enterprise Server", "11sp4", "x86_64", "SLES 11 SP4 x86_64")),
    ({"content": "LABEL SUSE Linux Enterprise Server 11\nVERSION 11\nBASEARCHS x86_64\n"},
     ("sles", "SUSE Linux Enterprise Server", "11", "x86_64", "SLES 11 x86_64")),
    ({".treeinfo": "[general]\nfamily = Fedora\nversion = 8\narch = i386\n"},
     (None, "Fedora", "8", "i386", "Fedora 8 i386")),
])
def test_real_metadata_forms(files, found):
    fetch_text, _digests = _repo(dict((k, v.encode()) for k, v in files.items()))
    got = P.identify_tree("http://h/repo", fetch_text)
    assert (got["distro"], got["family"], got["version"], got["arch"], got["name"]) == found


@pytest.mark.parametrize("files, words", [
    ({".treeinfo": "not an ini file"}, "its .treeinfo is not one anaconda reads"),
    ({".treeinfo": "[general]\nfamily = CentOS\n"}, "its .treeinfo is not one anaconda reads"),
    ({".discinfo": "1178736539.946433\n"}, "its .discinfo has no product and release"),
    ({"content": "VENDOR SUSE\n"}, "its content file names no product"),
    ({}, "has no .treeinfo, .discinfo, content: it is not an install tree"),
])
def test_unreadable_metadata_fails_naming_the_file(files, words):
    fetch_text, _digests = _repo(dict((k, v.encode()) for k, v in files.items()))
    with pytest.raises(P.ProfileError, match=re.escape(words)):
        P.identify_tree("http://h/repo", fetch_text)


def test_verify_tree_tells_rhel_from_centos():
    centos5 = P.profile("centos", "5", "x86_64")
    files = trees.tree_files("centos", "5.1", "x86_64")
    found = P.verify_tree("http://h/repo/", centos5, *_sample("centos", "5.1", "x86_64"))
    assert found == {"tree": {"distro": "centos", "family": "CentOS", "version": "5.1", "arch": "x86_64",
                              "metadata": ".treeinfo", "name": "CentOS 5.1 x86_64"},
                     "tree_version": "5.1",
                     "kernel_md5": hashlib.md5(files["images/xen/vmlinuz"]).hexdigest(),
                     "ramdisk_md5": hashlib.md5(files["images/xen/initrd.img"]).hexdigest(),
                     "checksums": {}}
    with pytest.raises(P.ProfileError) as caught:
        P.verify_tree("http://h/repo", centos5, *_sample("rhel", "5.1", "x86_64"))
    assert str(caught.value) == ("the repository at http://h/repo holds a RHEL 5.1 x86_64 tree (.treeinfo: family "
                                 "'Red Hat Enterprise Linux Server', version '5.1', arch 'x86_64'), not CentOS 5 (x86_64)")


def test_verify_tree_wrong_release_arch_and_missing_kernel():
    prof = P.profile("centos", "5.0", "x86_64")
    with pytest.raises(P.ProfileError, match="holds a CentOS 5.1 x86_64 tree"):
        P.verify_tree("http://h/repo", prof, *_sample("centos", "5.1", "x86_64"))
    with pytest.raises(P.ProfileError, match="holds a CentOS 5.0 i386 tree"):
        P.verify_tree("http://h/repo", prof, *_sample("centos", "5.0", "i386"))
    with pytest.raises(P.ProfileError, match=r"holds a CentOS 4.5 x86_64 tree \(.discinfo: .* not CentOS 4.5 .i386."):
        P.verify_tree("http://h/repo", P.profile("centos", "4.5", "i386"), *_sample("centos", "4.5", "x86_64"))
    with pytest.raises(P.ProfileError, match="holds a RHEL 5.1 x86_64 tree .* not SLES 10 SP1"):
        P.verify_tree("http://h/repo", P.profile("sles", "10sp1", "x86_64"), *_sample("rhel", "5.1", "x86_64"))
    files = dict(trees.tree_files("centos", "5.0", "x86_64"))
    del files["images/xen/vmlinuz"]
    with pytest.raises(P.ProfileError, match="cannot fetch http://h/repo/images/xen/vmlinuz: HTTP Error 404"):
        P.verify_tree("http://h/repo", prof, *_repo(files))
    # a tree that names only its major release matches any release of it
    major_only = {".discinfo": b"1\nCentOS 5\nx86_64\n1\n", "images/xen/vmlinuz": b"k", "images/xen/initrd.img": b"r"}
    assert P.verify_tree("http://h/repo", prof, *_repo(major_only))["tree_version"] == "5"


def test_checksums_are_validated_and_verified():
    assert P.validate_checksums(None) == {}
    assert P.validate_checksums({"images/xen/vmlinuz": "SHA256:" + "A" * 64}) == {"images/xen/vmlinuz": ("sha256", "a" * 64)}
    with pytest.raises(P.ProfileError) as caught:
        P.validate_checksums({"images/xen/vmlinuz": "md5:123", "../etc/passwd": "md5:" + "0" * 32,
                              "boot/x": "crc32:00000000", "ok": "sha1:" + "0" * 40})
    assert str(caught.value).startswith("checksums: path '../etc/passwd' is not a relative path inside the tree; "
                                        "'crc32:00000000' for boot/x is not <algorithm>:<hex digest> (md5:<32 hex digits>")
    assert "'md5:123' for images/xen/vmlinuz" in str(caught.value)
    files = trees.tree_files("sles", "11sp4", "x86_64")
    pins = P.validate_checksums({"content": "sha512:" + hashlib.sha512(files["content"]).hexdigest(),
                                 "boot/x86_64/vmlinuz-xen": "md5:" + "0" * 32})
    with pytest.raises(P.ProfileError) as caught:
        P.verify_tree("http://h/repo", P.profile("sles", "11sp4", "x86_64"), *_sample("sles", "11sp4", "x86_64"),
                      checksums=pins)
    assert str(caught.value) == ("the repository at http://h/repo does not hold the files checksums pins: "
                                 "boot/x86_64/vmlinuz-xen has md5 %s, not %s"
                                 % (hashlib.md5(files["boot/x86_64/vmlinuz-xen"]).hexdigest(), "0" * 32))


def test_hvm_trees_are_verified_by_metadata_alone():
    fetch_text, digests_of = _repo({".treeinfo": b"[general]\nfamily = Rocky Linux\nversion = 9.3\narch = x86_64\n"})
    found = P.verify_tree("http://h/repo", P.profile("rocky", "9", "x86_64"), fetch_text, digests_of)
    assert found["tree"]["name"] == "Rocky Linux 9.3 x86_64" and found["kernel_md5"] is None
    with pytest.raises(P.ProfileError, match="holds a Rocky Linux 9.3 x86_64 tree .* not AlmaLinux 9"):
        P.verify_tree("http://h/repo", P.profile("almalinux", "9", "x86_64"), fetch_text, digests_of)


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
