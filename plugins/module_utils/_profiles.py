# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""Per-distro install profiles as data: the one place for what the eliloader install flow needs.

For each distro (rhel, centos, sles), version and arch: the template names a pool may have,
the ``install-distro`` and ``install-arch`` eliloader reads, the bootloaders (eliloader for
the install, pygrub afterwards), the answer-file argument for ``PV_args``, the number of
install rounds, SLES's round-2 ``PV_bootloader_args``, the kernel/ramdisk paths inside the
repository and their known MD5 checksums. Sources: XenServer 4.1 SDK guide section 5.2,
xen-api ocaml/xapi/create_templates.ml and guest-templates, eliloader.py (djs55/xcp-eliloader).

Nothing here imports Ansible, so tests can load it as is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported, keep sanity's import test happy
    from urlparse import urlsplit  # type: ignore

BOOTLOADER_INSTALL = "eliloader"
BOOTLOADER_FINAL = "pygrub"
# PV_bootloader values XenServer knows ("" = boot PV_kernel/PV_ramdisk directly from dom0);
# anything else gives UNKNOWN_BOOTLOADER at start.
BOOTLOADERS = ("pygrub", "eliloader")
# other-config:install-distro and install-arch as eliloader reads them.
INSTALL_DISTROS = ("rhlike", "sleslike", "debianlike", "pygrub")
INSTALL_ARCHES = ("i386", "x86_64")

# other-config:install-repository forms eliloader accepts (canonicaliseOtherConfig): cdrom,
# http(s)://, ftp://, nfs:server:/path or nfs://server/path. eliloader itself only looks at the
# prefix and fails at VM start (BOOTLOADER_FAILED); we insist on a host and no blanks now.
_REPOSITORY = re.compile(r"^(?:cdrom"
                         r"|(?:https?|ftp)://[^/\s]+(?:/\S*)?"
                         r"|nfs://[^/\s]+/\S*"
                         r"|nfs:[^/:\s]+:/\S*)$")
REPOSITORY_FORMS = "http://host/path, https://host/path, ftp://host/path, nfs:server:/path, nfs://server/path or cdrom"
# Where anaconda (ks=) and AutoYaST (autoyast=) can read an answer file from.
_ANSWER_FILE = re.compile(r"^(?:(?:https?|ftp|tftp|nfs|file|device|usb|floppy|cifs|smb|label|relurl)://\S+"
                          r"|(?:nfs|hd|cdrom|file):\S+|floppy|slp)$")
ANSWER_FILE_FORMS = ("http://host/path (or https, ftp, tftp, nfs://), nfs:server:/path, hd:device:/path, "
                     "cdrom:/path or file:/path")


class ProfileError(ValueError):
    """Input no profile fits, or a repository that is not the tree asked for."""


def validate_repository(value):
    """``value`` if eliloader can install from it; ProfileError naming the value otherwise."""
    if not isinstance(value, str) or not _REPOSITORY.match(value) or _malformed_url(value):
        raise ProfileError("install repository '%s' is not one eliloader can use: give %s"
                           % (value, REPOSITORY_FORMS))
    return value


def _malformed_url(value):
    """True for an http(s)/ftp/nfs:// URL the regex lets through but no client can open
    (an unclosed IPv6 bracket, a port out of range, a host that is not a host name)."""
    if "://" not in value:
        return False
    try:
        parts = urlsplit(value)
        parts.port  # ValueError for a bad port
        return not parts.hostname or any(c in "\"<>'`{}|^\\" for c in parts.netloc)
    except ValueError:
        return True


# --- distros, versions, arches ------------------------------------------------------------

DISTROS = {
    "rhel": {"label": "RHEL", "template_base": "Red Hat Enterprise Linux", "family": "rhlike"},
    "centos": {"label": "CentOS", "template_base": "CentOS", "family": "rhlike"},
    "sles": {"label": "SLES", "template_base": "SUSE Linux Enterprise Server", "family": "sleslike"},
}

# The old eliloader (the SDK guide's): rhlike installs in one round, sleslike in two (round 2
# finds the installed kernel, as SUSE's domUloader would). Consoles: what the PV kernels of
# these releases call their console (RHEL/CentOS 4-5 xenlinux: xvc0; the SLES templates'
# own PV_args for SLES 10/11).
# net_args: the installer's own static network on its kernel line, as anaconda (rhlike) and
# SUSE's linuxrc (sleslike) name it; anaconda takes several name servers, linuxrc one.
FAMILIES = {
    "rhlike": {"rounds": 1, "answer_arg": "ks", "console": "console=xvc0",
               "net_args": {"device": "ksdevice", "address": "ip", "dns": "dns", "dns_count": None}},
    "sleslike": {"rounds": 2, "answer_arg": "autoyast", "console": "console=ttyS0 xencons=ttyS",
                 "net_args": {"device": "netdevice", "address": "hostip", "dns": "nameserver", "dns_count": 1}},
}

_EL_I386 = ("i386",)
_BOTH = ("i386", "x86_64")
# Releases with a profile, and the arches each has PV templates for. RHEL/CentOS 4 had
# 32-bit PV templates only.
VERSIONS = {
    "rhel": dict([(v, _EL_I386) for v in ("4.5", "4.6", "4.7", "4.8")]
                 + [(v, _BOTH) for v in ("5.0", "5.1", "5.2", "5.3", "5.4")]),
    "centos": dict([(v, _EL_I386) for v in ("4.5", "4.6", "4.7", "4.8")]
                   + [(v, _BOTH) for v in ("5.0", "5.1", "5.2", "5.3", "5.4")]),
    "sles": dict((v, _BOTH) for v in ("10sp1", "10sp2", "11sp3", "11sp4")),
}


def _version_key(version):
    return [int(part) for part in re.findall(r"[0-9]+", version)]


def normalize_version(distro, version):
    """'10 SP1' -> '10sp1', ' 5.1' -> '5.1'; ProfileError naming the value if unknown."""
    text = re.sub(r"[\s_-]+", "", str(version)).lower()
    releases = VERSIONS[distro]
    majors = sorted(set(v.split(".")[0] for v in releases if "." in v))
    if text in releases or text in majors:
        return text
    raise ProfileError("%s version '%s' has no install profile; known: %s" % (
        DISTROS[distro]["label"], version, ", ".join(sorted(list(releases) + majors, key=_version_key))))


def releases_of(distro, version):
    """The concrete releases a version stands for, newest first ('5' -> 5.4 ... 5.0)."""
    if version in VERSIONS[distro]:
        return [version]
    return sorted((v for v in VERSIONS[distro] if v.split(".")[0] == version), key=_version_key, reverse=True)


def arches_of(distro, version):
    arches = set()
    for release in releases_of(distro, version):
        arches.update(VERSIONS[distro][release])
    return sorted(arches)


# --- template names ---------------------------------------------------------------------------

def template_candidates(distro, version, arch):
    """Template names for a release, most specific first, seed era and today's.

    Seed era (XenServer 4.1-5.x): "CentOS 5.0", "CentOS 5.0 x64", "SUSE Linux Enterprise Server
    10 SP1" (one SLES 10 SP1 template in 4.1; for x86_64 it serves with install-arch set),
    "... 10 SP1 x64" (5.0), "... 10 SP2 (x64)" (5.5). Today (6.x-8): "CentOS 5 (64-bit)",
    "CentOS 4.5 (32-bit)", "SUSE Linux Enterprise Server 11 SP4 (64-bit)".
    """
    base = DISTROS[distro]["template_base"]
    wide = arch == "x86_64"
    if distro == "sles":
        major, service_pack = version.split("sp")
        name = "%s %s SP%s" % (base, major, service_pack)
        if wide:
            return [name + " (64-bit)", name + " x64", name + " (x64)", name]
        return [name + " (32-bit)", name]
    major = version.split(".")[0]
    # Today's templates name EL 5 and later by major release only; EL 4 kept its minors.
    by_major = ["%s %s (%s-bit)" % (base, major, "64" if wide else "32")] if int(major) >= 5 else []
    if "." in version:
        if wide:
            return ["%s %s x64" % (base, version)] + by_major
        return ["%s %s" % (base, version), "%s %s (32-bit)" % (base, version)] + by_major
    names = list(by_major)
    for release in releases_of(distro, version):
        if wide:
            names.append("%s %s x64" % (base, release))
        else:
            names.extend(["%s %s" % (base, release), "%s %s (32-bit)" % (base, release)])
    return names


def template_query(names):
    """One get_all_records_where expression for PV templates named any of ``names``."""
    # The where-grammar has no escapes; our names never hold a double quote.
    wanted = " or ".join('field "name__label"="%s"' % name for name in names)
    return ('field "is_a_template"="true" and field "is_a_snapshot"="false" and '
            'field "HVM_boot_policy"="" and (%s)' % wanted)


def pick_template(names, records):
    """(ref, record) of the best match among ``records`` for ``names`` (in order), or (None, None).

    Built-in templates win over user copies of the same name; ties go to the lowest uuid, so
    the answer does not depend on the order the pool returns records in.
    """
    for name in names:
        matches = [(ref, rec) for ref, rec in records.items() if rec["name_label"] == name]
        if matches:
            matches.sort(key=lambda item: (not _is_default(item[1]), item[1]["uuid"]))
            return matches[0]
    return None, None


def _is_default(record):
    return bool(record.get("is_default_template")) or record["other_config"].get("default_template") == "true"


# --- repository layout --------------------------------------------------------------------

def _sles_flavour(arch):
    # SLES ships a PAE Xen kernel for i386 and a plain Xen kernel for x86_64.
    return "xen" if arch == "x86_64" else "xenpae"


def tree_paths(distro, arch):
    """(kernel, ramdisk) paths inside the repository, as eliloader downloads them in round 1."""
    if DISTROS[distro]["family"] == "sleslike":
        flavour = _sles_flavour(arch)
        return ("boot/%s/vmlinuz-%s" % (arch, flavour), "boot/%s/initrd-%s" % (arch, flavour))
    return ("images/xen/vmlinuz", "images/xen/initrd.img")


def round2_bootloader_args(distro, arch):
    """SLES round 2: PV_bootloader_args pointing pygrub at the installed kernel (guest paths)."""
    if DISTROS[distro]["family"] != "sleslike":
        return ""
    flavour = _sles_flavour(arch)
    return "--kernel /boot/vmlinuz-%s --ramdisk /boot/initrd-%s" % (flavour, flavour)


# --- checksums -------------------------------------------------------------------------------
# MD5 of the kernel and ramdisk of every install tree verify_repository knows, keyed
# (distro, release, arch, path inside the repository). There is no vendor media here: the
# entries below are the checksums of the project's sample trees (the XenAPI simulator's,
# simulator/xapisim/trees.py, for both arches of every release above; vendors shipped both),
# copied once as literals because the collection runs against real pools and imports nothing
# from the simulator. tests/unit/simulator/test_trees.py checks that they still agree.
# Vendor media checksums are added the same way, one literal line per file, e.g.
#     ("rhel", "5.1", "x86_64", "images/xen/vmlinuz"): "<md5 of the vendor's file>",
# so verify_repository tells real RHEL from real CentOS trees as it does the sample ones.
KNOWN_MD5 = {
    ("rhel", "4.5", "i386", "images/xen/vmlinuz"): "d5dee905335515bbd11439637bf03138",
    ("rhel", "4.5", "i386", "images/xen/initrd.img"): "17a97cd845672db80e2b2c5eb6f9e282",
    ("rhel", "4.5", "x86_64", "images/xen/vmlinuz"): "354325d645e7de040434b1eb49c11b5e",
    ("rhel", "4.5", "x86_64", "images/xen/initrd.img"): "3fa9d4fc5bf42350110dd8d7b7119465",
    ("rhel", "4.6", "i386", "images/xen/vmlinuz"): "d9bb781674a52402a1e554a31a42d1ab",
    ("rhel", "4.6", "i386", "images/xen/initrd.img"): "eabd33aaf82eb83bbcb1e318b009a66b",
    ("rhel", "4.6", "x86_64", "images/xen/vmlinuz"): "b7756a3d4da87246f52f474b9a97a3f1",
    ("rhel", "4.6", "x86_64", "images/xen/initrd.img"): "9d2c1690345037b5f5b8659e20242866",
    ("rhel", "4.7", "i386", "images/xen/vmlinuz"): "bbad805d88b0c8646fc4e6884ba1e304",
    ("rhel", "4.7", "i386", "images/xen/initrd.img"): "ca31418912f91f82ac71f18ae00a7c53",
    ("rhel", "4.7", "x86_64", "images/xen/vmlinuz"): "3ec2bae8659d2d0aca65b668e09e8949",
    ("rhel", "4.7", "x86_64", "images/xen/initrd.img"): "fb071500f81f8ba155076462f782e518",
    ("rhel", "4.8", "i386", "images/xen/vmlinuz"): "24c26433c7a8e3d18cef9f7199bab986",
    ("rhel", "4.8", "i386", "images/xen/initrd.img"): "540c21092d3326c466d6d30b5bf6a38b",
    ("rhel", "4.8", "x86_64", "images/xen/vmlinuz"): "24c8ac7b96401321e2205dcc646cc6a3",
    ("rhel", "4.8", "x86_64", "images/xen/initrd.img"): "6ee484f6023ea6892ece0bd0a8e2024b",
    ("rhel", "5.0", "i386", "images/xen/vmlinuz"): "2d36024039e076b6c4afb22bd9b6287f",
    ("rhel", "5.0", "i386", "images/xen/initrd.img"): "1530e32b8e7759963c15a140ed7e37c0",
    ("rhel", "5.0", "x86_64", "images/xen/vmlinuz"): "fa8cd571a88423b82d4c8829959492f5",
    ("rhel", "5.0", "x86_64", "images/xen/initrd.img"): "812e474667104eb380dd0c6f1b094ff5",
    ("rhel", "5.1", "i386", "images/xen/vmlinuz"): "9677017cfed94ff72125e69e83a79d08",
    ("rhel", "5.1", "i386", "images/xen/initrd.img"): "a06bda46131e0ab8684852f80dfc268a",
    ("rhel", "5.1", "x86_64", "images/xen/vmlinuz"): "68889a6fa4377c55670b4b051a4fb5ff",
    ("rhel", "5.1", "x86_64", "images/xen/initrd.img"): "6d4176b1f3faf16868ec5a3a3c6effb6",
    ("rhel", "5.2", "i386", "images/xen/vmlinuz"): "11f6d4379aee23c5b462d3a893b00e75",
    ("rhel", "5.2", "i386", "images/xen/initrd.img"): "a3754f2e17a661fcd51ce71ba0a84260",
    ("rhel", "5.2", "x86_64", "images/xen/vmlinuz"): "d2ab42e3dd1171abb0029f2b03de04cc",
    ("rhel", "5.2", "x86_64", "images/xen/initrd.img"): "edbe3e3954223730e9465e20123425d1",
    ("rhel", "5.3", "i386", "images/xen/vmlinuz"): "6d476bb9cbec36a815ce25060a54024b",
    ("rhel", "5.3", "i386", "images/xen/initrd.img"): "9333df8fdbff71506bd19ce9297bbbb9",
    ("rhel", "5.3", "x86_64", "images/xen/vmlinuz"): "befce1584986e3ba89dd5d6cc0b1833c",
    ("rhel", "5.3", "x86_64", "images/xen/initrd.img"): "08c6dcc0f827935566af5cb6b8ec71c4",
    ("rhel", "5.4", "i386", "images/xen/vmlinuz"): "0b111ebe1ee0e371467fd0f9343d2e31",
    ("rhel", "5.4", "i386", "images/xen/initrd.img"): "ed28f21b1462bc1f4caa3c33b2836bad",
    ("rhel", "5.4", "x86_64", "images/xen/vmlinuz"): "42b7c62fec377867dc6b2e811b7bedf0",
    ("rhel", "5.4", "x86_64", "images/xen/initrd.img"): "56494fd03f00017ca6ebeddb74729ac2",
    ("centos", "4.5", "i386", "images/xen/vmlinuz"): "0eb77d5b84ef5441bc5a6a48afec8676",
    ("centos", "4.5", "i386", "images/xen/initrd.img"): "807d50d533e697f4102bbe31ccd1ae98",
    ("centos", "4.5", "x86_64", "images/xen/vmlinuz"): "e3f91bd2ab4896853a1876a68731bd12",
    ("centos", "4.5", "x86_64", "images/xen/initrd.img"): "38f98166b147948a6c37e8ca407fb629",
    ("centos", "4.6", "i386", "images/xen/vmlinuz"): "3f0223011ca2f84d562c263a75317efa",
    ("centos", "4.6", "i386", "images/xen/initrd.img"): "dca73119a7a7ba19ef322a6ce241583b",
    ("centos", "4.6", "x86_64", "images/xen/vmlinuz"): "a17c099530d6f61de11de113150f9784",
    ("centos", "4.6", "x86_64", "images/xen/initrd.img"): "190614dfe61359b46f8a6b370b39ff8d",
    ("centos", "4.7", "i386", "images/xen/vmlinuz"): "67c86ab9bb073869423cf6e25960309a",
    ("centos", "4.7", "i386", "images/xen/initrd.img"): "43909fe0628dc3eb53e48c0f53ecb8e5",
    ("centos", "4.7", "x86_64", "images/xen/vmlinuz"): "deb35c1937bbea381c2ee17843f9a288",
    ("centos", "4.7", "x86_64", "images/xen/initrd.img"): "f8d2bf06c682f3d4ad9acc02a3e18bf6",
    ("centos", "4.8", "i386", "images/xen/vmlinuz"): "e45cdc82c1f046ec04169956f545e523",
    ("centos", "4.8", "i386", "images/xen/initrd.img"): "427de50a55854e3502c7ee2068b7e769",
    ("centos", "4.8", "x86_64", "images/xen/vmlinuz"): "3cba5c6651bde8b6ca8e7560c360bc93",
    ("centos", "4.8", "x86_64", "images/xen/initrd.img"): "989837847aea7ae8d22a43564d85af99",
    ("centos", "5.0", "i386", "images/xen/vmlinuz"): "9f7cd32d9af0a78e64c9c35c0bc7882b",
    ("centos", "5.0", "i386", "images/xen/initrd.img"): "e6754bfd25f7278fb2be34db69a2dc20",
    ("centos", "5.0", "x86_64", "images/xen/vmlinuz"): "c4a1b73708a7681e14657eff6f72f500",
    ("centos", "5.0", "x86_64", "images/xen/initrd.img"): "784ba359a79ab3148f7de27aab64a355",
    ("centos", "5.1", "i386", "images/xen/vmlinuz"): "41992306d19d74ad001242233dde591c",
    ("centos", "5.1", "i386", "images/xen/initrd.img"): "dffbac6b6d729a01fcd2a2d06135e4a1",
    ("centos", "5.1", "x86_64", "images/xen/vmlinuz"): "9e4dfb6dfdc6705ecb155b8f1993b303",
    ("centos", "5.1", "x86_64", "images/xen/initrd.img"): "871032154892a42c8a13d1f764c972bc",
    ("centos", "5.2", "i386", "images/xen/vmlinuz"): "6ae49a4764c89f99dfd4b9243ca1acae",
    ("centos", "5.2", "i386", "images/xen/initrd.img"): "8fd86c2404c3f0852225ede292b8fa15",
    ("centos", "5.2", "x86_64", "images/xen/vmlinuz"): "fd2f5f5dbbeedacf14eb6f1c4df99757",
    ("centos", "5.2", "x86_64", "images/xen/initrd.img"): "87b7f5c25305bbf2b9743ba634ac386d",
    ("centos", "5.3", "i386", "images/xen/vmlinuz"): "eba2a9b79d464d3cd2e0d28df464bb54",
    ("centos", "5.3", "i386", "images/xen/initrd.img"): "d261c9c7fa490f585d2dac03389e26f2",
    ("centos", "5.3", "x86_64", "images/xen/vmlinuz"): "67cd2d09572a47d26ae390e4801d25dc",
    ("centos", "5.3", "x86_64", "images/xen/initrd.img"): "a2e71590128c7a0d311de92be006f5c8",
    ("centos", "5.4", "i386", "images/xen/vmlinuz"): "8f2ebc831cd29d38c83c8ef378533c31",
    ("centos", "5.4", "i386", "images/xen/initrd.img"): "c9fb9f630e9b595bfa6c94d2fc37c545",
    ("centos", "5.4", "x86_64", "images/xen/vmlinuz"): "032daaee06d3c6ad7648d8de3512c3a1",
    ("centos", "5.4", "x86_64", "images/xen/initrd.img"): "57c7cc8e74adfb58228135be820b92aa",
    ("sles", "10sp1", "i386", "boot/i386/vmlinuz-xenpae"): "716854ccab29135acaf575e88a922c5c",
    ("sles", "10sp1", "i386", "boot/i386/initrd-xenpae"): "d556143a8e394ed6bc41962ac63e3ad0",
    ("sles", "10sp1", "x86_64", "boot/x86_64/vmlinuz-xen"): "59fb216e28d6bb11c1395a34fa0b8fb8",
    ("sles", "10sp1", "x86_64", "boot/x86_64/initrd-xen"): "5a7eb651ac474c12a09f1cbef12b5b66",
    ("sles", "10sp2", "i386", "boot/i386/vmlinuz-xenpae"): "ec1233d70776acafd565e69f85927ba9",
    ("sles", "10sp2", "i386", "boot/i386/initrd-xenpae"): "2869cb809674f5a6e41062ab07ac8cc3",
    ("sles", "10sp2", "x86_64", "boot/x86_64/vmlinuz-xen"): "853691ddfdd47b2cc85755a6c4fb745c",
    ("sles", "10sp2", "x86_64", "boot/x86_64/initrd-xen"): "8fde60b780c7bcddda2b860b7074de43",
    ("sles", "11sp3", "i386", "boot/i386/vmlinuz-xenpae"): "9c8a0f4e8258a1461b0c2717b2e806e6",
    ("sles", "11sp3", "i386", "boot/i386/initrd-xenpae"): "9a1718b3fc4f69617228d49b3feffe0d",
    ("sles", "11sp3", "x86_64", "boot/x86_64/vmlinuz-xen"): "1301c6e96e6f63c458a5174112dfff88",
    ("sles", "11sp3", "x86_64", "boot/x86_64/initrd-xen"): "2946ec261ad914fac82d853baeaf10fa",
    ("sles", "11sp4", "i386", "boot/i386/vmlinuz-xenpae"): "dcaa2a64a8603b9933b3deffce577362",
    ("sles", "11sp4", "i386", "boot/i386/initrd-xenpae"): "56d6ef49b6f0f63183402f03d9a98b6e",
    ("sles", "11sp4", "x86_64", "boot/x86_64/vmlinuz-xen"): "360b8f7f38d85c372ed0613826f3b2ac",
    ("sles", "11sp4", "x86_64", "boot/x86_64/initrd-xen"): "d8da8b0a132501428062674496a90d9d",
}


def _index():
    return dict((digest, key) for key, digest in KNOWN_MD5.items())


def release_name(distro, version):
    """'SLES 10 SP1', 'CentOS 5.0', 'RHEL 5'."""
    return "%s %s" % (DISTROS[distro]["label"], re.sub(r"sp([0-9]+)$", r" SP\1", version))


def describe(distro, version, arch):
    """'SLES 10 SP1 (x86_64)'."""
    return "%s (%s)" % (release_name(distro, version), arch)


# --- eth0's static address ----------------------------------------------------------------

NETWORK_KEYS = ("address", "netmask", "gateway", "nameservers", "hostname")
_PREFIX = re.compile(r"^[0-9]{1,2}$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")


def _ipv4(text):
    """An IPv4Address for a dotted quad, None for anything else (no leading zeros, no integers)."""
    try:
        address = ipaddress.IPv4Address(text)
    except ValueError:
        return None
    return address if str(address) == text else None


def _prefix_of_netmask(text):
    """The prefix length of a contiguous netmask (255.255.255.0 -> 24), None for anything else."""
    try:
        net = ipaddress.IPv4Network("0.0.0.0/%s" % text)
    except ValueError:
        return None
    return net.prefixlen if str(net.netmask) == text else None  # refuses hostmasks and bare prefixes


def network(value):
    """eth0's static address, checked and normalised, or None for DHCP (nothing given).

    ``value``: {address (a.b.c.d/prefix, or a.b.c.d with netmask), netmask, gateway, nameservers,
    hostname}, unset keys None or absent. Returns {address, prefix, netmask, gateway, nameservers,
    hostname} (address without its prefix; gateway and hostname None when not given). Raises
    ProfileError naming every bad value.
    """
    value = dict((key, item) for key, item in (value or {}).items() if item not in (None, "", []))
    if not value:
        return None
    text = str(value.get("address", ""))
    mask = value.get("netmask")
    gateway = value.get("gateway")
    servers = [str(server) for server in value.get("nameservers") or []]
    hostname = value.get("hostname")
    problems = []
    ip, _slash, given_prefix = text.partition("/")
    ip = _ipv4(ip)
    prefix = int(given_prefix) if _PREFIX.match(given_prefix) and int(given_prefix) <= 32 else None
    if not text:
        problems.append("no address (give one, or leave the network input empty for DHCP)")
    elif ip is None or (_slash and prefix is None):
        problems.append("address '%s' is not an IPv4 address (a.b.c.d/prefix, or a.b.c.d with a netmask)" % text)
    elif not _slash and mask is None:
        problems.append("address '%s' has no /prefix and no netmask is given" % text)
    if mask is not None:
        mask_prefix = _prefix_of_netmask(mask)
        if mask_prefix is None:
            problems.append("netmask '%s' is not an IPv4 netmask (255.255.255.0, ...)" % mask)
        elif prefix is not None and prefix != mask_prefix:
            problems.append("netmask '%s' is not that of address '%s'" % (mask, text))
        elif prefix is None:
            prefix = mask_prefix
    gateway_ip = _ipv4(gateway) if gateway is not None else None
    if gateway is not None and gateway_ip is None:
        problems.append("gateway '%s' is not an IPv4 address" % gateway)
    elif gateway is not None and not problems:
        subnet = ipaddress.IPv4Interface("%s/%d" % (ip, prefix)).network
        if gateway_ip not in subnet or gateway_ip == ip:
            problems.append("gateway '%s' is not another address on the network of %s/%d" % (gateway, ip, prefix))
    problems.extend("nameserver '%s' is not an IPv4 address" % server for server in servers if _ipv4(server) is None)
    if hostname is not None and not _HOSTNAME.match(hostname):
        problems.append("hostname '%s' is not a host name" % hostname)
    if problems:
        raise ProfileError("network: " + "; ".join(problems))
    return {"address": str(ip), "prefix": prefix,
            "netmask": str(ipaddress.IPv4Network("0.0.0.0/%d" % prefix).netmask),
            "gateway": gateway, "nameservers": servers, "hostname": hostname}


def network_args(family, net):
    """The installer's own network on its kernel line ('' for DHCP), named as FAMILIES says."""
    if not net:
        return ""
    names = FAMILIES[family]["net_args"]
    args = ["%s=eth0" % names["device"], "%s=%s" % (names["address"], net["address"]),
            "netmask=" + net["netmask"]]
    if net["gateway"]:
        args.append("gateway=" + net["gateway"])
    if net["nameservers"]:
        args.append("%s=%s" % (names["dns"], ",".join(net["nameservers"][:names["dns_count"]])))
    return " ".join(args)


# --- the profile ---------------------------------------------------------------------------

def profile(distro, version, arch, answer_file=None, console=None, extra_args=None, network_input=None):
    """Everything an install of (distro, version, arch) needs, minus the pool's template.

    ``pv_args`` is the installer's kernel line (console, answer file, static network, extra
    args); ``final_pv_args`` the installed system's (console, extra args).
    """
    if distro not in DISTROS:
        raise ProfileError("distro '%s' has no install profile; known: %s" % (distro, ", ".join(sorted(DISTROS))))
    version = normalize_version(distro, version)
    arches = arches_of(distro, version)
    if arch not in arches:
        raise ProfileError("%s has no '%s' install profile (XenServer had PV templates for %s only)"
                           % (release_name(distro, version), arch, ", ".join(arches)))
    family = DISTROS[distro]["family"]
    kernel, ramdisk = tree_paths(distro, arch)
    if answer_file is not None and (answer_file == "" or re.search(r"\s", answer_file)):
        raise ProfileError("answer file URL '%s' is empty or contains blanks" % answer_file)
    if answer_file is not None and (not _ANSWER_FILE.match(answer_file) or _malformed_url(answer_file)):
        raise ProfileError("answer file '%s' is not a location the installer can fetch: give %s"
                           % (answer_file, ANSWER_FILE_FORMS))
    net = network(network_input)
    parts = [FAMILIES[family]["console"] if console is None else console]
    final_parts = parts + [extra_args or ""]
    if answer_file:
        parts.append("%s=%s" % (FAMILIES[family]["answer_arg"], answer_file))
    parts += [network_args(family, net), extra_args or ""]
    return {
        "distro": distro,
        "version": version,
        "releases": releases_of(distro, version),
        "label": describe(distro, version, arch),
        "install_distro": family,
        "install_arch": arch,
        "bootloader_install": BOOTLOADER_INSTALL,
        "bootloader_final": BOOTLOADER_FINAL,
        "pv_args": _kernel_line(parts),
        "final_pv_args": _kernel_line(final_parts),
        "network": net,
        "rounds": FAMILIES[family]["rounds"],
        "round2_bootloader_args": round2_bootloader_args(distro, arch),
        "kernel_path": kernel,
        "ramdisk_path": ramdisk,
        # Known for one release; for a major version ("5") several trees fit, so only a
        # verified repository says which.
        "kernel_md5": KNOWN_MD5.get((distro, version, arch, kernel)),
        "ramdisk_md5": KNOWN_MD5.get((distro, version, arch, ramdisk)),
        "candidates": template_candidates(distro, version, arch),
    }


def _kernel_line(parts):
    return " ".join(part.strip() for part in parts if part and part.strip())


def verify_tree(repository, prof, md5_of):
    """Check that ``repository`` holds the tree ``prof`` is for; ``md5_of(url)`` fetches a file.

    Returns {tree_version, kernel_md5, ramdisk_md5}. A file whose checksum belongs to another
    distro, release or arch (RHEL vs CentOS differ only there) raises ProfileError naming both.
    """
    index = _index()
    base = repository.rstrip("/")
    wanted = prof["label"]
    found = {}
    for role in ("kernel", "ramdisk"):
        path = prof[role + "_path"]
        digest = md5_of("%s/%s" % (base, path))
        entry = index.get(digest)
        if entry is None:
            raise ProfileError(
                "the repository at %s holds an unknown %s (md5 of %s = %s), not one of a known %s tree; "
                "for vendor media add its checksums to KNOWN_MD5 in plugins/module_utils/_profiles.py"
                % (repository, role, path, digest, wanted))
        distro, release, arch, known_path = entry
        if (distro, arch, known_path) != (prof["distro"], prof["install_arch"], path) \
                or release not in prof["releases"]:
            raise ProfileError("the repository at %s holds a %s tree (md5 of %s = %s), not %s"
                               % (repository, describe(distro, release, arch), path, digest, wanted))
        found[role] = (release, digest)
    if found["kernel"][0] != found["ramdisk"][0]:
        raise ProfileError("the repository at %s mixes releases: its kernel is from %s and its ramdisk from %s"
                           % (repository, describe(prof["distro"], found["kernel"][0], prof["install_arch"]),
                              describe(prof["distro"], found["ramdisk"][0], prof["install_arch"])))
    return {"tree_version": found["kernel"][0], "kernel_md5": found["kernel"][1],
            "ramdisk_md5": found["ramdisk"][1]}
