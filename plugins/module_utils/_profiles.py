# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""Per-distro install profiles as data: the one place for what an install needs.

For each distro, version and arch: the route (eliloader's PV network install for RHEL/CentOS
4.5-6.10 and SLES 10 SP1-11 SP4; the vendor ISO or a cloud image, HVM, for later releases), the
template names a pool may have, the ``install-distro`` and ``install-arch`` eliloader reads, the
bootloaders (eliloader for the install, pygrub afterwards), the answer-file argument for
``PV_args``, the number of install rounds, SLES's round-2 ``PV_bootloader_args``, the
kernel/ramdisk paths inside the repository; and how a tree says what it is (.treeinfo,
.discinfo, SUSE's content file), which is how RHEL is told from CentOS. Sources: XenServer 4.1
SDK guide section 5.2, xen-api ocaml/xapi/create_templates.ml and xenserver/guest-templates-json,
eliloader.py (xcp-eliloader / linux-guest-loader), anaconda's and pungi's .treeinfo/.discinfo,
SUSE media's content file (as virt-install's urldetect and libguestfs read them).

Nothing here imports Ansible, so tests can load it as is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

try:
    import configparser
except ImportError:  # pragma: no cover - Python 2 is not supported
    import ConfigParser as configparser  # type: ignore

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
    """Input no profile fits, or a repository that is not the tree asked for.

    ``code`` is the module result's error_code: INVALID_INPUT for input no profile fits, or one
    saying what is wrong with the repository."""

    def __init__(self, message, code="INVALID_INPUT"):
        super(ProfileError, self).__init__(message)
        self.code = code


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

# family: eliloader's install-distro for the releases installed PV (None: HVM only).
# tree_families: the product names a tree's own metadata gives (.treeinfo [general] family,
# .discinfo line 2, SUSE content LABEL), longest first where one is a prefix of another.
DISTROS = {
    "rhel": {"label": "RHEL", "template_base": "Red Hat Enterprise Linux", "family": "rhlike",
             "tree_families": ("Red Hat Enterprise Linux", "RHEL")},
    "centos": {"label": "CentOS", "template_base": "CentOS", "family": "rhlike",
               "tree_families": ("CentOS",)},
    "sles": {"label": "SLES", "template_base": "SUSE Linux Enterprise Server", "family": "sleslike",
             "tree_families": ("SUSE Linux Enterprise Server", "SUSE_SLES", "SLES")},
    "centos_stream": {"label": "CentOS Stream", "template_base": "CentOS Stream", "family": None,
                      "tree_families": ("CentOS Stream",)},
    "rocky": {"label": "Rocky Linux", "template_base": "Rocky Linux", "family": None,
              "tree_families": ("Rocky Linux", "Rocky")},
    "almalinux": {"label": "AlmaLinux", "template_base": "AlmaLinux", "family": None,
                  "tree_families": ("AlmaLinux",)},
    "oracle": {"label": "Oracle Linux", "template_base": "Oracle Linux", "family": None,
               "tree_families": ("Oracle Linux",)},
}

# The old eliloader (the SDK guide's): rhlike installs in one round, sleslike in two (round 2
# finds the installed kernel, as SUSE's domUloader would). Consoles: what the PV kernels of
# these releases call their console (RHEL/CentOS 4-5 xenlinux: xvc0; the SLES templates'
# own PV_args for SLES 10/11); EL 6's pvops kernel calls it hvc0 (CONSOLES).
# net_args: the installer's own static network on its kernel line, as anaconda (rhlike) and
# SUSE's linuxrc (sleslike) name it; anaconda takes several name servers, linuxrc one.
FAMILIES = {
    "rhlike": {"rounds": 1, "answer_arg": "ks", "console": "console=xvc0",
               "net_args": {"device": "ksdevice", "address": "ip", "dns": "dns", "dns_count": None}},
    "sleslike": {"rounds": 2, "answer_arg": "autoyast", "console": "console=ttyS0 xencons=ttyS",
                 "net_args": {"device": "netdevice", "address": "hostip", "dns": "nameserver", "dns_count": 1}},
}
CONSOLES = {("rhlike", "6"): "console=hvc0"}

_I386 = ("i386",)
_BOTH = ("i386", "x86_64")
_EL = ([("4.%d" % minor, _I386) for minor in range(5, 9)]
       + [("5.%d" % minor, _BOTH) for minor in range(0, 12)]
       + [("6.%d" % minor, _BOTH) for minor in range(0, 11)])
# The PV (eliloader) releases the pools' templates cover, and their arches: RHEL/CentOS 4.5-4.8
# (32-bit templates only), 5.0-5.11 and 6.0-6.10 ("CentOS 6 (64-bit)", ...), SLES 10 SP1-SP4,
# 11 and 11 SP1-SP4. SLES "11" is 11 GA.
VERSIONS = {
    "rhel": dict(_EL),
    "centos": dict(_EL),
    "sles": dict((v, _BOTH) for v in ("10sp1", "10sp2", "10sp3", "10sp4", "11", "11sp1", "11sp2", "11sp3", "11sp4")),
}
# HVM-only releases (majors; any minor or service pack up to the last): no eliloader, the
# installer boots from the vendor ISO (or the VM starts from a cloud image).
HVM_MAJORS = {
    "rhel": ("7", "8", "9", "10"),
    "centos": ("7", "8"),
    "centos_stream": ("8", "9", "10"),
    "rocky": ("8", "9", "10"),
    "almalinux": ("8", "9", "10"),
    "oracle": ("7", "8", "9", "10"),
    "sles": ("12", "15"),
}
SLES_SERVICE_PACKS = {"12": 5, "15": 7}
ROUTE_PV = "eliloader"
ROUTE_ISO = "iso"
ROUTE_CLOUD = "cloud_image"
# How an HVM release is installed: its ISO with the answer file on a second volume labelled
# OEMDRV, which anaconda (RHEL 7+: ks.cfg) and AutoYaST (autoinst.xml) look for, UEFI firmware;
# or the vendor's cloud image with cloud-init.
HVM_ANSWER = {"rhlike": ("kickstart", "ks.cfg"), "sleslike": ("autoyast", "autoinst.xml")}
ANSWER_VOLUME = "OEMDRV"


def _version_key(version):
    return [int(part) for part in re.findall(r"[0-9]+", version)]


def _pv_majors(distro):
    return sorted(set(v.split(".")[0] for v in VERSIONS.get(distro, {}) if "." in v), key=_version_key)


def _hvm_version(distro, text):
    """``text`` if it names an HVM-only release of ``distro`` ('8', '9.4', '15sp6'), else None."""
    if distro == "sles":
        match = re.match(r"^([0-9]+)(?:sp([0-9]+))?$", text)
        if match and match.group(1) in HVM_MAJORS["sles"] and \
                int(match.group(2) or 0) <= SLES_SERVICE_PACKS[match.group(1)]:
            return text
        return None
    match = re.match(r"^([0-9]+)(?:\.([0-9]+))?$", text)
    return text if match and match.group(1) in HVM_MAJORS.get(distro, ()) else None


def normalize_version(distro, version):
    """'10 SP1' -> '10sp1', ' 5.1' -> '5.1', '9.4' -> '9.4'; ProfileError naming the value if unknown."""
    text = re.sub(r"[\s_-]+", "", str(version)).lower()
    releases = VERSIONS.get(distro, {})
    if text in releases or text in _pv_majors(distro) or _hvm_version(distro, text):
        return text
    known = sorted(list(releases) + _pv_majors(distro), key=_version_key)
    hvm = HVM_MAJORS.get(distro, ())
    raise ProfileError("%s version '%s' has no install profile; known: %s" % (
        DISTROS[distro]["label"], version, ", ".join(
            known + (["%s to %s (HVM)" % (hvm[0], hvm[-1])] if hvm else []))))


def route_of(distro, version):
    """'eliloader' for a PV release, 'iso' for an HVM-only one (version normalised)."""
    return ROUTE_PV if version in VERSIONS.get(distro, {}) or version in _pv_majors(distro) else ROUTE_ISO


def releases_of(distro, version):
    """The concrete releases a version stands for, newest first ('5' -> 5.11 ... 5.0)."""
    if version in VERSIONS.get(distro, {}) or route_of(distro, version) != ROUTE_PV:
        return [version]
    return sorted((v for v in VERSIONS[distro] if v.split(".")[0] == version), key=_version_key, reverse=True)


def arches_of(distro, version):
    if route_of(distro, version) != ROUTE_PV:
        return ["x86_64"]
    arches = set()
    for release in releases_of(distro, version):
        arches.update(VERSIONS[distro][release])
    return sorted(arches)


# --- template names ---------------------------------------------------------------------------

def template_candidates(distro, version, arch):
    """Template names for a release, most specific first, seed era and today's.

    Seed era (XenServer 4.1-5.x): "CentOS 5.0", "CentOS 5.0 x64", "SUSE Linux Enterprise Server
    10 SP1" (one SLES 10 SP1 template in 4.1; for x86_64 it serves with install-arch set),
    "... 10 SP1 x64" (5.0), "... 10 SP2 (x64)" (5.5). Later (5.6-8): "CentOS 5 (64-bit)",
    "CentOS 6 (32-bit)", "CentOS 4.5 (32-bit)", "SUSE Linux Enterprise Server 11 SP4 (64-bit)".
    HVM (guest-templates-json): "Red Hat Enterprise Linux 8", "Rocky Linux 9", "SUSE Linux
    Enterprise Server 12 SP5 (64-bit)", "SUSE Linux Enterprise 15 (64-bit)".
    """
    base = DISTROS[distro]["template_base"]
    wide = arch == "x86_64"
    if route_of(distro, version) != ROUTE_PV:
        major = re.match(r"^[0-9]+", version).group(0)
        if distro != "sles":
            return ["%s %s" % (base, major)]
        service_pack = version.partition("sp")[2]
        names = ["%s %s SP%s (64-bit)" % (base, major, service_pack)] if service_pack else []
        names.append("%s %s (64-bit)" % (base, major))
        if major == "15":
            names.append("SUSE Linux Enterprise 15 (64-bit)")
        return names
    if distro == "sles":
        major, _sp, service_pack = version.partition("sp")
        name = "%s %s SP%s" % (base, major, service_pack) if service_pack else "%s %s" % (base, major)
        if wide:
            return [name + " (64-bit)", name + " x64", name + " (x64)", name]
        return [name + " (32-bit)", name]
    major = version.split(".")[0]
    # Today's templates name EL 5 and later by major release only; EL 4 kept its minors, and only
    # EL 4 and 5 had a template per minor release in the seed era.
    by_major = ["%s %s (%s-bit)" % (base, major, "64" if wide else "32")] if int(major) >= 5 else []
    if int(major) >= 6:
        return by_major
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


def template_query(names, hvm=False):
    """One get_all_records_where expression for PV (or HVM) templates named any of ``names``."""
    # The where-grammar has no escapes; our names never hold a double quote.
    wanted = " or ".join('field "name__label"="%s"' % name for name in names)
    boot = 'not (field "HVM_boot_policy"="")' if hvm else 'field "HVM_boot_policy"=""'
    return ('field "is_a_template"="true" and field "is_a_snapshot"="false" and %s and (%s)' % (boot, wanted))


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


def tree_paths(distro, version, arch):
    """(kernel, ramdisk) paths inside the repository, as eliloader downloads them in round 1.

    EL 4 and 5 trees carry a Xen installer in images/xen/; EL 6 trees have none, and eliloader
    falls back to isolinux/ (a pvops kernel that boots PV). SLES: boot/<arch>/ *-xen(pae).
    """
    if DISTROS[distro]["family"] == "sleslike":
        flavour = _sles_flavour(arch)
        return ("boot/%s/vmlinuz-%s" % (arch, flavour), "boot/%s/initrd-%s" % (arch, flavour))
    if version.split(".")[0] == "6":
        return ("isolinux/vmlinuz", "isolinux/initrd.img")
    return ("images/xen/vmlinuz", "images/xen/initrd.img")


def round2_bootloader_args(distro, arch):
    """SLES round 2: PV_bootloader_args pointing pygrub at the installed kernel (guest paths)."""
    if DISTROS[distro]["family"] != "sleslike":
        return ""
    flavour = _sles_flavour(arch)
    return "--kernel /boot/vmlinuz-%s --ramdisk /boot/initrd-%s" % (flavour, flavour)


def release_name(distro, version):
    """'SLES 10 SP1', 'CentOS 5.0', 'RHEL 5'."""
    return "%s %s" % (DISTROS[distro]["label"], re.sub(r"sp([0-9]+)$", r" SP\1", version))


def describe(distro, version, arch):
    """'SLES 10 SP1 (x86_64)'."""
    return "%s (%s)" % (release_name(distro, version), arch)


# --- what a tree says it is ------------------------------------------------------------------
# Real trees name their product, release and arch in their own metadata, which is how RHEL is
# told from CentOS (their installers' bytes are vendor builds no table could list):
#   .treeinfo (anaconda/pungi, EL 5 and later): [general] family, version, arch
#   .discinfo (anaconda, every EL tree; the only one EL 4 has): line 1 timestamp, line 2
#             product and release ("Red Hat Enterprise Linux Server 5.8"), line 3 arch,
#             line 4 disc numbers
#   content   (SUSE media): LABEL "SUSE Linux Enterprise Server 11 SP4", VERSION "10.1-0" /
#             "11.4", NAME SUSE_SLES, DEFAULTBASE / BASEARCHS (i586 for 32-bit)
TREE_FILES = (".treeinfo", ".discinfo", "content")
_ARCHES = {"i386": "i386", "i486": "i386", "i586": "i386", "i686": "i386", "x86_64": "x86_64", "amd64": "x86_64"}


def _arch(text):
    words = (text or "").split()
    return _ARCHES.get(words[0], words[0]) if words else None


def _distro_of(family):
    """The distro a metadata product name belongs to, or None ('Fedora', ...)."""
    best = None
    for distro, facts in DISTROS.items():
        for name in facts["tree_families"]:
            if family.startswith(name) and (best is None or len(name) > best[1]):
                best = (distro, len(name))
    return best[0] if best else None


def _parse_treeinfo(text):
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        return {"family": parser.get("general", "family").strip(),
                "version": parser.get("general", "version").strip(),
                "arch": _arch(parser.get("general", "arch"))}
    except (configparser.Error, ValueError) as err:
        raise ProfileError("its .treeinfo is not one anaconda reads ([general] family, version, arch): %s"
                           % str(err).splitlines()[0])


_PRODUCT = re.compile(r"^(?P<family>.*?)[\s-]+(?:release\s+)?(?P<major>[0-9]+)"
                      r"(?:\.(?P<minor>[0-9]+)|\s+Update\s+(?P<update>[0-9]+))?\b")


def _parse_discinfo(text):
    lines = [line.strip() for line in text.splitlines()]
    match = _PRODUCT.match(lines[1]) if len(lines) >= 3 else None
    if not match:
        raise ProfileError("its .discinfo has no product and release on line 2 and arch on line 3")
    minor = match.group("minor") or match.group("update")
    return {"family": match.group("family").strip(),
            "version": match.group("major") + ("." + minor if minor is not None else ""),
            "arch": _arch(lines[2])}


def _parse_suse_content(text):
    fields = {}
    for line in text.splitlines():
        key, _sep, value = line.strip().partition(" ")
        if key and key not in fields:
            fields[key] = value.strip()
    label = fields.get("LABEL") or fields.get("SUMMARY") or fields.get("PRODUCT") \
        or fields.get("DISTRO", "").rpartition(",")[2] or fields.get("NAME", "")
    family, version = label, None
    match = re.search(r"\s([0-9]+)(?:\s+SP([0-9]+))?\s*$", label)
    if match:       # LABEL SUSE Linux Enterprise Server 11 SP4
        family, version = label[:match.start()].strip(), match.group(1) + ("sp" + match.group(2) if match.group(2) else "")
    else:           # VERSION 10.1-0 (SLES 10 SP1), 11.4 (SLES 11 SP4), 11 (GA)
        match = re.match(r"^([0-9]+)(?:\.([0-9]+))?", fields.get("VERSION", ""))
        if match:
            version = match.group(1) + ("sp" + match.group(2) if match.group(2) not in (None, "0") else "")
    arch_field = fields.get("BASEARCHS") or fields.get("DEFAULTBASE") \
        or next((value for key, value in sorted(fields.items()) if key.startswith("ARCH.")), None)
    if not label or version is None:
        raise ProfileError("its content file names no product (LABEL) and release (VERSION)")
    return {"family": family or label, "version": version, "arch": _arch(arch_field)}


_PARSERS = {".treeinfo": _parse_treeinfo, ".discinfo": _parse_discinfo, "content": _parse_suse_content}


def identify_tree(repository, fetch_text):
    """What the tree at ``repository`` says it is, from its first metadata file (TREE_FILES order).

    ``fetch_text(url)`` returns a file's text, None when there is none (HTTP 404), and raises
    ProfileError when it cannot tell. Returns {distro (None if not one we know), family, version,
    arch, metadata (the file read), name ("CentOS 5.0 x86_64")}.
    """
    base = repository.rstrip("/")
    for filename in TREE_FILES:
        text = fetch_text("%s/%s" % (base, filename))
        if text is None:
            continue
        try:
            found = _PARSERS[filename](text)
        except ProfileError as err:
            raise ProfileError("the repository at %s is not a tree the installer can read: %s" % (repository, err),
                               code="REPOSITORY_MISMATCH")
        distro = _distro_of(found["family"])
        label = DISTROS[distro]["label"] if distro else found["family"]
        found.update(distro=distro, metadata=filename,
                     name="%s %s %s" % (label, re.sub(r"sp([0-9]+)$", r" SP\1", found["version"]), found["arch"]))
        return found
    raise ProfileError("the repository at %s has no %s: it is not an install tree (give the directory "
                       "that holds them, e.g. .../centos/5.0/os/x86_64)" % (repository, ", ".join(TREE_FILES)),
                       code="REPOSITORY_MISMATCH")


def _parts(distro, version):
    """Comparable release parts: '5.3' -> [5, 3], '5' -> [5]; SLES '11' (GA) -> [11, 0], '11sp4' -> [11, 4]."""
    parts = _version_key(version)
    if distro == "sles" and version in VERSIONS["sles"] and len(parts) == 1:
        parts.append(0)
    return parts


def _same_release(distro, asked, found):
    """True if a tree of release ``found`` is one of ``asked``; either may give only the major."""
    want, have = _parts(distro, asked), _parts(distro, found)
    shared = min(len(want), len(have))
    return shared > 0 and want[:shared] == have[:shared]


# --- checksums ---------------------------------------------------------------------------------
# Exact pinning, as get_url's checksum takes it: {path inside the tree: "<algorithm>:<hex>"}.
DIGEST_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
_TREE_PATH = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[^\s?#\\]+$")


def validate_checksums(value):
    """{path: (algorithm, hex)} for {path: 'md5:<hex>' | 'sha256:<hex>' ...}; ProfileError naming every bad entry."""
    problems, pins = [], {}
    for path, checksum in sorted((value or {}).items()):
        algorithm, _sep, digest = str(checksum).strip().partition(":")
        algorithm, digest = algorithm.lower(), digest.lower()
        if not isinstance(path, str) or not _TREE_PATH.match(path):
            problems.append("path '%s' is not a relative path inside the tree" % path)
        elif algorithm not in DIGEST_LENGTHS or not re.match(r"^[0-9a-f]{%d}$" % DIGEST_LENGTHS.get(algorithm, 0), digest):
            problems.append("'%s' for %s is not <algorithm>:<hex digest> (%s)"
                            % (checksum, path, ", ".join("%s:<%d hex digits>" % (name, size)
                                                         for name, size in sorted(DIGEST_LENGTHS.items()))))
        else:
            pins[path] = (algorithm, digest)
    if problems:
        raise ProfileError("checksums: " + "; ".join(problems))
    return pins


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


def _not_a_host_address(ip, prefix, label):
    """Why ``ip``/``prefix`` cannot be a guest's own static address ([] when it can)."""
    if prefix == 0:
        return ["%s: a /0 network is every address; give the prefix of the guest's network" % label]
    for test, what in ((ip.is_loopback, "a loopback address"), (ip.is_unspecified, "the unspecified address"),
                       (ip.is_multicast, "a multicast address"), (ip.is_reserved, "a reserved address")):
        if test:
            return ["%s is %s, not an address a guest can be given" % (label, what)]
    net = ipaddress.IPv4Interface("%s/%d" % (ip, prefix)).network
    if net.num_addresses > 2 and ip == net.network_address:
        return ["%s is the network address of %s, not a host address" % (label, net)]
    if net.num_addresses > 2 and ip == net.broadcast_address:
        return ["%s is the broadcast address of %s, not a host address" % (label, net)]
    return []


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
    if not problems and ip is not None and prefix is not None:
        problems.extend(_not_a_host_address(ip, prefix, "address '%s'" % text))
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

    For a PV release (route 'eliloader'): ``pv_args`` is the installer's kernel line (console,
    answer file, static network, extra args); ``final_pv_args`` the installed system's (console,
    extra args). For an HVM-only release (route 'iso'): the routes that apply and what the ISO
    install needs (firmware, the answer file's volume label and name), no PV keys.
    """
    if distro not in DISTROS:
        raise ProfileError("distro '%s' has no install profile; known: %s" % (distro, ", ".join(sorted(DISTROS))))
    version = normalize_version(distro, version)
    arches = arches_of(distro, version)
    route = route_of(distro, version)
    if arch not in arches:
        raise ProfileError("%s has no '%s' install profile (XenServer has templates for %s only)"
                           % (release_name(distro, version), arch, ", ".join(arches)))
    if answer_file is not None and (answer_file == "" or re.search(r"\s", answer_file)):
        raise ProfileError("answer file URL '%s' is empty or contains blanks" % answer_file)
    if answer_file is not None and (not _ANSWER_FILE.match(answer_file) or _malformed_url(answer_file)):
        raise ProfileError("answer file '%s' is not a location the installer can fetch: give %s"
                           % (answer_file, ANSWER_FILE_FORMS))
    net = network(network_input)
    common = {
        "distro": distro,
        "version": version,
        "releases": releases_of(distro, version),
        "label": describe(distro, version, arch),
        "route": route,
        "network": net,
        "candidates": template_candidates(distro, version, arch),
    }
    if route != ROUTE_PV:
        answer_format, answer_name = HVM_ANSWER["sleslike" if distro == "sles" else "rhlike"]
        common.update(routes=[ROUTE_ISO, ROUTE_CLOUD], install_arch=arch, firmware="uefi",
                      answer_format=answer_format, answer_volume=ANSWER_VOLUME, answer_volume_file=answer_name)
        return common
    family = DISTROS[distro]["family"]
    kernel, ramdisk = tree_paths(distro, version, arch)
    default_console = CONSOLES.get((family, version.split(".")[0]), FAMILIES[family]["console"])
    parts = [default_console if console is None else console]
    final_parts = parts + [extra_args or ""]
    if answer_file:
        parts.append("%s=%s" % (FAMILIES[family]["answer_arg"], answer_file))
    parts += [network_args(family, net), extra_args or ""]
    common.update({
        "routes": [ROUTE_PV],
        "install_distro": family,
        "install_arch": arch,
        "bootloader_install": BOOTLOADER_INSTALL,
        "bootloader_final": BOOTLOADER_FINAL,
        "pv_args": _kernel_line(parts),
        "final_pv_args": _kernel_line(final_parts),
        "rounds": FAMILIES[family]["rounds"],
        "round2_bootloader_args": round2_bootloader_args(distro, arch),
        "kernel_path": kernel,
        "ramdisk_path": ramdisk,
    })
    return common


def _kernel_line(parts):
    return " ".join(part.strip() for part in parts if part and part.strip())


def verify_tree(repository, prof, fetch_text, digests_of, checksums=None):
    """Check that ``repository`` holds the tree ``prof`` is for, by the tree's own metadata.

    ``fetch_text(url)``: a file's text or None (404); ``digests_of(url, algorithms)``: {algorithm:
    hex} of a downloaded file; both raise ProfileError when they cannot. ``checksums``: pins as
    validate_checksums returns them. A tree of another distro, release or arch raises ProfileError
    naming what it is; so does a missing installer kernel or a pinned file that differs.
    Returns {tree, tree_version, kernel_md5, ramdisk_md5, checksums}.
    """
    found = identify_tree(repository, fetch_text)
    asked = prof["label"]
    said = "%s: family '%s', version '%s', arch '%s'" % (found["metadata"], found["family"], found["version"], found["arch"])
    if found["distro"] != prof["distro"] or found["arch"] != prof["install_arch"] \
            or not any(_same_release(prof["distro"], release, found["version"]) for release in prof["releases"]):
        raise ProfileError("the repository at %s holds a %s tree (%s), not %s" % (repository, found["name"], said, asked),
                           code="REPOSITORY_MISMATCH")
    base = repository.rstrip("/")
    wanted = {}
    for path in (prof.get("kernel_path"), prof.get("ramdisk_path")):
        if path:
            wanted[path] = {"md5"}
    for path, (algorithm, _digest) in (checksums or {}).items():
        wanted.setdefault(path, set()).add(algorithm)
    got = dict((path, digests_of("%s/%s" % (base, path), sorted(algorithms))) for path, algorithms in sorted(wanted.items()))
    bad = ["%s has %s %s, not %s" % (path, algorithm, got[path][algorithm], digest)
           for path, (algorithm, digest) in sorted((checksums or {}).items()) if got[path][algorithm] != digest]
    if bad:
        raise ProfileError("the repository at %s does not hold the files checksums pins: %s" % (repository, "; ".join(bad)),
                           code="REPOSITORY_MISMATCH")
    return {"tree": dict((key, found[key]) for key in ("distro", "family", "version", "arch", "metadata", "name")),
            "tree_version": found["version"],
            "kernel_md5": got.get(prof.get("kernel_path"), {}).get("md5"),
            "ramdisk_md5": got.get(prof.get("ramdisk_path"), {}).get("md5"),
            "checksums": dict((path, "%s:%s" % (algorithm, got[path][algorithm]))
                              for path, (algorithm, _digest) in sorted((checksums or {}).items()))}
