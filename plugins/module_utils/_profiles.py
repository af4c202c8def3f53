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

Nothing here imports Ansible, so the sample-tree builder (tests, demo) can import it as is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

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


class ProfileError(ValueError):
    """Input no profile fits, or a repository that is not the tree asked for."""


def validate_repository(value):
    """``value`` if eliloader can install from it; ProfileError naming the value otherwise."""
    if not isinstance(value, str) or not _REPOSITORY.match(value):
        raise ProfileError("install repository '%s' is not one eliloader can use: give %s"
                           % (value, REPOSITORY_FORMS))
    return value


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
FAMILIES = {
    "rhlike": {"rounds": 1, "answer_arg": "ks", "console": "console=xvc0"},
    "sleslike": {"rounds": 2, "answer_arg": "autoyast", "console": "console=ttyS0 xencons=ttyS"},
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
# There is no vendor media here, so the known trees are sample trees with deterministic
# contents: the file at ``path`` of the sample tree for (distro, release, arch) holds
# sample_payload(distro, release, arch, path), and KNOWN_MD5 is computed from it. Trees exist
# for both arches of every release (vendors shipped both), whatever XenServer had templates for.
# The contents are byte for byte those of the XenAPI simulator's sample trees
# (simulator/xapisim/trees.py payload, which simulated guests read), so ``xapisim serve-trees``
# verifies here; the simulator does not import the collection nor the collection the simulator,
# and tests/unit/plugins/module_utils/test_profiles.py checks that the two agree.
# On real media, add the vendor's checksums to KNOWN_MD5, e.g.
#     KNOWN_MD5[("rhel", "5.1", "x86_64", "images/xen/vmlinuz")] = "<md5 of the vendor's file>"
# so verify_repository tells real RHEL from real CentOS trees the same way.

# The kernel each release's installer puts on the disk (uname -r without the Xen flavour).
KERNELS = {
    "4.5": "2.6.9-55.EL", "4.6": "2.6.9-67.EL", "4.7": "2.6.9-78.EL", "4.8": "2.6.9-89.EL",
    "5.0": "2.6.18-8.el5", "5.1": "2.6.18-53.el5", "5.2": "2.6.18-92.el5",
    "5.3": "2.6.18-128.el5", "5.4": "2.6.18-164.el5",
    "10sp1": "2.6.16.46-0.12", "10sp2": "2.6.16.60-0.21", "11sp3": "3.0.76-0.11", "11sp4": "3.0.101-63",
}
SAMPLE_TREES = sorted((distro, release, arch)
                      for distro, releases in VERSIONS.items()
                      for release in releases
                      for arch in INSTALL_ARCHES)


def installed_uname(distro, version, arch):
    """``uname -r`` of the Xen kernel a release installs (EL4 kernel-xenU, EL5 kernel-xen, SLES -xen/-xenpae)."""
    kernel = KERNELS[version]
    if DISTROS[distro]["family"] == "sleslike":
        return kernel + "-" + _sles_flavour(arch)
    return kernel + ("xenU" if kernel.endswith(".EL") else "xen")


def sample_payload(distro, version, arch, filename):
    """The bytes of ``filename`` (a path inside the repository) in the sample tree.

    ASCII: a header line naming the file's role, the release and its installed kernel, then
    lines of SHA-256 hex derived from it (64 for a kernel, 128 for a ramdisk).
    """
    paths = tree_paths(distro, arch) if distro in DISTROS else ()
    if (distro, version, arch) not in SAMPLE_TREES or filename not in paths:
        raise ProfileError("no sample file %s for %s %s %s" % (filename, distro, version, arch))
    role = "KERNEL" if filename == paths[0] else "RAMDISK"
    header = "XAPISIM-%s %s %s %s uname=%s\n" % (role, distro, version, arch, installed_uname(distro, version, arch))
    lines = 64 if role == "KERNEL" else 128
    body = "".join(hashlib.sha256(("%s%d" % (header, i)).encode("ascii")).hexdigest() + "\n" for i in range(lines))
    return (header + body).encode("ascii")


def sample_tree_files(distro, version, arch):
    """{path: bytes} of the sample tree's kernel and ramdisk for one release and arch."""
    return dict((path, sample_payload(distro, version, arch, path)) for path in tree_paths(distro, arch))


KNOWN_MD5 = dict(((distro, release, arch, path), hashlib.md5(sample_payload(distro, release, arch, path)).hexdigest())
                 for distro, release, arch in SAMPLE_TREES
                 for path in tree_paths(distro, arch))


def _index():
    return dict((digest, key) for key, digest in KNOWN_MD5.items())


def release_name(distro, version):
    """'SLES 10 SP1', 'CentOS 5.0', 'RHEL 5'."""
    return "%s %s" % (DISTROS[distro]["label"], re.sub(r"sp([0-9]+)$", r" SP\1", version))


def describe(distro, version, arch):
    """'SLES 10 SP1 (x86_64)'."""
    return "%s (%s)" % (release_name(distro, version), arch)


# --- the profile ---------------------------------------------------------------------------

def profile(distro, version, arch, answer_file=None, console=None, extra_args=None):
    """Everything an install of (distro, version, arch) needs, minus the pool's template."""
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
    parts = [FAMILIES[family]["console"] if console is None else console]
    if answer_file:
        parts.append("%s=%s" % (FAMILIES[family]["answer_arg"], answer_file))
    parts.append(extra_args or "")
    return {
        "distro": distro,
        "version": version,
        "releases": releases_of(distro, version),
        "label": describe(distro, version, arch),
        "install_distro": family,
        "install_arch": arch,
        "bootloader_install": BOOTLOADER_INSTALL,
        "bootloader_final": BOOTLOADER_FINAL,
        "pv_args": " ".join(part.strip() for part in parts if part and part.strip()),
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
