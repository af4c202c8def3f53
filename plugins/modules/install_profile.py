#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: install_profile
short_description: How to install RHEL, CentOS, SLES (and later EL and SLES releases) on this pool
version_added: 0.1.0
description:
  - Answers, for a distro, version and arch, everything the network install sequence of the
    XenServer SDK guide needs, with the install template this pool actually has.
  - The PV releases the pools' eliloader templates cover are RHEL and CentOS 4.5 to 4.8 (i386),
    5.0 to 5.11 and 6.0 to 6.10, and SLES 10 SP1 to SP4, 11 and 11 SP1 to SP4
    (RV(route=eliloader)). Later releases (RHEL and CentOS 7 and later, CentOS Stream, Rocky
    Linux, AlmaLinux, Oracle Linux, SLES 12 and later) are HVM only; for them the module answers
    which install route applies (RV(route=iso), the vendor ISO with the answer file on a volume
    labelled C(OEMDRV), UEFI; RV(routes) also lists C(cloud_image)) and the pool's HVM template.
  - The template is looked up by the names XenServer used from 4.1 (for example C(CentOS 5.0 x64)
    and C(SUSE Linux Enterprise Server 10 SP1)) to today (names ending in C(32-bit) or C(64-bit)
    in parentheses, such as "CentOS 5 (64-bit)", and C(Rocky Linux 9) for HVM), in one call, most
    specific name first.
  - Also answers the C(install-distro) and C(install-arch) for eliloader, the bootloaders (eliloader
    to install, then pygrub), the kernel command line with the kickstart or AutoYaST file, the
    number of install rounds (RHEL and CentOS 1, SLES 2), SLES's round-2 bootloader arguments, and
    the kernel and ramdisk paths in the repository (EL 4 and 5 C(images/xen/), EL 6 C(isolinux/),
    as eliloader fetches them).
  - With O(network), checks a static IPv4 address for the guest's C(eth0) and puts the installer's
    network boot arguments on RV(pv_args), so that the installer reaches the repository and the
    answer file without DHCP. RV(final_pv_args) is the installed system's kernel line, without them.
  - With O(verify_repository=true) it reads what the tree at O(repository) says it is, as the
    installers do (C(.treeinfo) C([general]) family, version and arch; else C(.discinfo), the only one
    RHEL and CentOS 4 trees have; C(content) for SLES) and fails, naming what it found, unless it is
    the distro, release and arch asked for; this is how a RHEL tree is told from a CentOS one. It
    also fetches the installer kernel and ramdisk (so a tree eliloader cannot boot fails now) and,
    with O(checksums), every file pinned there.
  - With O(answer), checks the values the kickstart or AutoYaST file is rendered from (one line each,
    root's password as exactly one crypt(3) hash, package names, a time zone name, an RFC 1123 host
    name) and returns them as RV(answer), with the answer file's digest.
  - Changes nothing on the pool.
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes.info_module
options:
  distro:
    description: The distribution.
    type: str
    required: true
    choices: [rhel, centos, sles, centos_stream, rocky, almalinux, oracle]
  version:
    description:
      - The release, for example V(5.1), V(6.10) or V(4.5) for RHEL and CentOS, V(10sp1), V(11) or
        V(11sp4) (also V(10 SP1)) for SLES; V(9), V(9.4) or V(15sp6) for an HVM release.
      - A major release alone (V(5), V(4)) takes whichever template of that release the pool has.
    type: str
    required: true
  arch:
    description: The guest's architecture. RHEL and CentOS 4 are i386 only, HVM releases x86_64 only.
    type: str
    choices: [i386, x86_64]
    default: x86_64
  repository:
    description:
      - The install repository (C(other_config:install-repository)), checked as eliloader would;
        one of C(http://), C(https://), C(ftp://), C(nfs:server:/path), C(nfs://server/path) or C(cdrom).
      - Returned as RV(install_repository); required by O(verify_repository).
    type: str
  answer_file:
    description:
      - URL of the kickstart file (RHEL, CentOS; added to RV(pv_args) as C(ks=<url>)) or AutoYaST
        file (SLES; added as C(autoyast=<url>)).
    type: str
    aliases: [kickstart, autoyast]
  console:
    description:
      - The console part of RV(pv_args). Defaults to C(console=xvc0) for RHEL and CentOS and
        C(console=ttyS0 xencons=ttyS) for SLES (the PV consoles of those kernels).
    type: str
  extra_args:
    description: More kernel arguments, appended to RV(pv_args) and RV(final_pv_args).
    type: str
  network:
    description:
      - A static IPv4 address for the guest's C(eth0) while it installs; omitted or empty (no
        suboption set) means DHCP.
      - Checked before the module connects; a bad address, netmask (not contiguous, or not that of
        the address's prefix), gateway (not an address, not on the address's network, or the
        address itself), name server or host name fails naming the value.
      - Adds the installer's network arguments to RV(pv_args), after the answer file; for RHEL and
        CentOS anaconda's C(ksdevice=eth0 ip= netmask= gateway= dns=) (name servers comma-separated),
        for SLES linuxrc's C(netdevice=eth0 hostip= netmask= gateway= nameserver=) (the first name
        server only). Returned normalised as RV(network) for the answer file.
    type: dict
    suboptions:
      address:
        description:
          - The IPv4 address with its prefix length (V(192.0.2.10/24)), or alone with O(network.netmask).
          - Required when any other suboption is set.
        type: str
      netmask:
        description:
          - The netmask (V(255.255.255.0)) when O(network.address) has no prefix; when both are given
            they must agree.
        type: str
      gateway:
        description: The default gateway, another address on O(network.address)'s network.
        type: str
      nameservers:
        description: DNS servers, IPv4 addresses.
        type: list
        elements: str
      hostname:
        description: The guest's host name (letters, digits, C(-) and C(.)); not on the kernel line.
        type: str
  verify_repository:
    description:
      - >-
        Read the tree's metadata from O(repository) (C(http://) or C(https://)): C(.treeinfo), else
        C(.discinfo), else C(content); fail unless it names the asked distro, release (a tree naming
        only its major release matches any of it) and arch, for example when a RHEL tree is given
        for CentOS; the message names what the tree is (C(... holds a RHEL 5.1 x86_64 tree ...)). Found
        values are returned as RV(tree).
      - Then fetch RV(kernel_path) and RV(ramdisk_path) (their MD5 is returned) and the files of
        O(checksums).
      - The certificate of an C(https://) repository is verified unless O(validate_certs=false).
      - >-
        A failure says why in its C(error_code) - C(REPOSITORY_MISMATCH) (not the tree asked for, or a
        pinned file that differs), C(REPOSITORY_UNREADABLE) (a file that cannot be fetched) or
        C(TLS_CERT_UNVERIFIED) (the repository's certificate).
    type: bool
    default: false
  checksums:
    description:
      - >-
        Exact pinning of files of the tree, as M(ansible.builtin.get_url)'s C(checksum) takes it:
        a path inside the tree to C(<algorithm>:<hex digest>), where the algorithm is C(md5),
        C(sha1), C(sha224), C(sha256), C(sha384) or C(sha512), for example
        C(images/xen/vmlinuz: sha256:...).
      - Implies O(verify_repository=true); each file is downloaded and compared, and the module fails
        naming every file that differs. A bad path or value fails naming it before anything is fetched.
    type: dict
  answer:
    description:
      - What the answer file says besides the network, checked before the module connects; a bad value
        fails naming it (the hash by its form only). Kickstart reads a line break as a new command
        (a C(%pre) script, a second C(rootpw)) and a blank as a new option, so none is allowed.
      - Returned, without the hash, as RV(answer).
    type: dict
    suboptions:
      name:
        description: The VM's name (written in a comment; printable, one line, up to 255 characters).
        type: str
        required: true
      root_password_hash:
        description:
          - root's password as exactly one crypt(3) hash, C($1$) (MD5), C($5$) (SHA-256), C($6$)
            (SHA-512, optionally with C(rounds=)), C($2b$) (bcrypt) or C($y$) (yescrypt), in crypt's
            alphabet with the lengths those formats have; no blank, no line break.
        type: str
        required: true
      packages:
        description:
          - Packages to add (letters, digits, C(._+-*)), C(@group) or C(@^environment) to add a group,
            C(-name) to leave a package out.
        type: list
        elements: str
        default: []
      timezone:
        description: The tz database name of the guest's time zone (V(UTC), V(Europe/Berlin)).
        type: str
        default: UTC
notes:
  - Nothing about particular media is built in; trees are told apart by their own metadata.
    Pin files with O(checksums) (from the vendor's published checksums) for exact pinning.
  - The round counts follow the SDK guide's eliloader (RHEL-like 1 round, SLES 2).
"""

EXAMPLES = r"""
- name: What installing CentOS 5 x86_64 takes on this pool
  xenserver.provisioning.install_profile:
    distro: centos
    version: "5"
    arch: x86_64
    repository: http://192.0.2.1/centos/5/os/x86_64
    answer_file: http://192.0.2.1/ks/centos5.cfg
    verify_repository: true
  register: profile
  # profile.tree: {distro: centos, family: CentOS, version: "5.11", arch: x86_64, metadata: .treeinfo, ...}

- name: CentOS 5.0 with the installer kernel pinned by its published checksum
  xenserver.provisioning.install_profile:
    distro: centos
    version: "5.0"
    repository: http://192.0.2.1/centos/5.0/os/x86_64
    checksums:
      images/xen/vmlinuz: "sha256:<the vendor's sha256 of images/xen/vmlinuz>"
  register: pinned

- name: Use it
  ansible.builtin.debug:
    msg: >-
      clone {{ profile.template.name }}, set PV_args '{{ profile.pv_args }}',
      install-distro {{ profile.install_distro }}, {{ profile.rounds }} round(s)

- name: SLES 10 SP1 (two rounds)
  xenserver.provisioning.install_profile:
    distro: sles
    version: 10sp1
    arch: i386
    answer_file: http://192.0.2.1/autoyast/sles10.xml
  register: sles

- name: Rocky Linux 9 is HVM only; which route and template apply
  xenserver.provisioning.install_profile:
    distro: rocky
    version: "9"
  register: rocky
  # rocky.route: iso; rocky.routes: [iso, cloud_image]; rocky.template.name: Rocky Linux 9

- name: RHEL 5.1 with a static address (the installer's kernel line gets ksdevice= ip= ...)
  xenserver.provisioning.install_profile:
    distro: rhel
    version: "5.1"
    answer_file: http://192.0.2.1/ks/web01.cfg
    network:
      address: 192.0.2.10/24
      gateway: 192.0.2.1
      nameservers: [192.0.2.2, 192.0.2.3]
      hostname: web01.example.com
  register: web01
  # web01.pv_args: console=xvc0 ks=http://192.0.2.1/ks/web01.cfg ksdevice=eth0 ip=192.0.2.10
  #   netmask=255.255.255.0 gateway=192.0.2.1 dns=192.0.2.2,192.0.2.3
  # web01.final_pv_args: console=xvc0
"""

RETURN = r"""
template:
  description: The pool's install template for this release (a built-in one if there is one).
  returned: success
  type: dict
  contains:
    name: {description: Its name, type: str, sample: CentOS 5 (64-bit)}
    uuid: {description: Its uuid, type: str}
    install_distro: {description: Its C(other_config:install-distro), type: str, sample: rhlike}
    install_arch: {description: Its C(other_config:install-arch); may differ from RV(install_arch), type: str}
    default: {description: Whether it is a built-in template, type: bool}
route:
  description:
    - >-
      How this release installs on XenServer. V(eliloader) (PV network install; the other PV returns
      apply) or V(iso) (HVM only, the vendor ISO with the answer file on a volume labelled
      C(OEMDRV), UEFI).
  returned: success
  type: str
  sample: eliloader
routes:
  description: Every route that applies, the preferred first (V(iso) and V(cloud_image) for an HVM release).
  returned: success
  type: list
  elements: str
firmware:
  description: The firmware an HVM release boots with.
  returned: when RV(route=iso)
  type: str
  sample: uefi
answer_format:
  description: The answer file an HVM release's installer reads (V(kickstart) or V(autoyast)).
  returned: when RV(route=iso)
  type: str
answer_volume:
  description: The volume label the installer looks for its answer file on.
  returned: when RV(route=iso)
  type: str
  sample: OEMDRV
answer_volume_file:
  description: The answer file's name on that volume (C(ks.cfg), C(autoinst.xml)).
  returned: when RV(route=iso)
  type: str
candidates:
  description: The template names looked for, in order of preference.
  returned: success
  type: list
  elements: str
distro:
  description: The distro asked for.
  returned: success
  type: str
version:
  description: The version asked for, normalised (C(10 SP1) is V(10sp1)).
  returned: success
  type: str
install_distro:
  description: The C(other_config:install-distro) eliloader needs (V(rhlike) or V(sleslike)).
  returned: when RV(route=eliloader)
  type: str
install_arch:
  description: The C(other_config:install-arch) eliloader needs (the asked arch).
  returned: success
  type: str
install_repository:
  description: O(repository), validated.
  returned: when O(repository) is given
  type: str
bootloader_install:
  description: The PV bootloader for the install rounds.
  returned: when RV(route=eliloader)
  type: str
  sample: eliloader
bootloader_final:
  description: The PV bootloader once installed.
  returned: when RV(route=eliloader)
  type: str
  sample: pygrub
pv_args:
  description:
    - The installer's kernel command line (console, C(ks=) or C(autoyast=), the installer's static
      network from O(network), extra args), for the install rounds only.
  returned: when RV(route=eliloader)
  type: str
  sample: console=xvc0 ks=http://192.0.2.1/ks/centos5.cfg
final_pv_args:
  description:
    - The installed system's kernel command line, RV(pv_args) without the answer file and the
      installer's network (console, extra args).
  returned: when RV(route=eliloader)
  type: str
  sample: console=xvc0
network:
  description:
    - O(network), checked and normalised; null for DHCP.
  returned: success
  type: dict
  contains:
    address: {description: "The address, without its prefix", type: str, sample: 192.0.2.10}
    prefix: {description: The prefix length, type: int, sample: 24}
    netmask: {description: The netmask, type: str, sample: 255.255.255.0}
    gateway: {description: The default gateway; null when not given, type: str}
    nameservers: {description: The name servers (maybe none), type: list, elements: str}
    hostname: {description: The host name; null when not given, type: str}
rounds:
  description: The number of install boots (RHEL and CentOS 1, SLES 2).
  returned: when RV(route=eliloader)
  type: int
round2_bootloader_args:
  description:
    - The C(PV_bootloader_args) for SLES's second round, paths of the installed kernel inside the guest;
      empty for RHEL and CentOS.
  returned: when RV(route=eliloader)
  type: str
  sample: --kernel /boot/vmlinuz-xen --ramdisk /boot/initrd-xen
kernel_path:
  description: The installer kernel's path inside the repository.
  returned: when RV(route=eliloader)
  type: str
  sample: images/xen/vmlinuz
ramdisk_path:
  description: The installer ramdisk's path inside the repository.
  returned: when RV(route=eliloader)
  type: str
  sample: images/xen/initrd.img
kernel_md5:
  description:
    - The MD5 of the installer kernel fetched from the verified repository; null when not verified.
  returned: when RV(route=eliloader)
  type: str
ramdisk_md5:
  description: The MD5 of the installer ramdisk, as for RV(kernel_md5).
  returned: when RV(route=eliloader)
  type: str
verified:
  description: Whether the repository was read and found to be the tree asked for.
  returned: success
  type: bool
tree:
  description: What the verified tree's own metadata says it is.
  returned: when verified
  type: dict
  contains:
    distro: {description: "The distro (as O(distro) names it), null for a product the module does not know", type: str, sample: centos}
    family: {description: The product name as the metadata gives it, type: str, sample: CentOS}
    version: {description: "The release (C(5.0), C(11sp4))", type: str, sample: "5.0"}
    arch: {description: "The arch (i586 and i686 read as i386)", type: str, sample: x86_64}
    metadata: {description: "The file read: C(.treeinfo), C(.discinfo) or C(content)", type: str, sample: .treeinfo}
    name: {description: "Distro, release and arch in one", type: str, sample: CentOS 5.0 x86_64}
tree_version:
  description: The release the verified repository holds (for a major version, which one), RV(tree.version).
  returned: when verified
  type: str
  sample: "5.1"
answer:
  description: O(answer) checked, without the hash, with what the answer file needs from it.
  returned: when O(answer) is given
  type: dict
  contains:
    name: {description: The VM's name, type: str}
    hostname:
      description: The guest's host name, O(network.hostname) or made from the VM's name (RFC 1123).
      type: str
      sample: web-01
    packages: {description: The packages, type: list, elements: str}
    timezone: {description: The time zone, type: str, sample: UTC}
    digest:
      description:
        - C(sha256:<hex>) of what the answer file says (these values, the hash, RV(network) and
          O(repository)), not of the template's text. The install roles record it on the VM when its
          installer starts and check it again once the VM is installed.
      type: str
checksums:
  description: The files O(checksums) pinned, with the digest of the fetched file (equal to the pinned one).
  returned: when verified
  type: dict
  sample: {images/xen/vmlinuz: "sha256:4e1f..."}
"""

import hashlib
import ssl

from ansible.module_utils.six.moves.urllib.error import HTTPError
from ansible.module_utils.urls import SSLValidationError, open_url

from ansible_collections.xenserver.provisioning.plugins.module_utils._answers import AnswerError, answer_values
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NotFound
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import INVALID_INPUT, XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._profiles import (
    INSTALL_ARCHES,
    ROUTE_PV,
    ProfileError,
    pick_template,
    profile,
    template_query,
    validate_checksums,
    validate_repository,
    verify_tree,
)

CHUNK = 1024 * 1024
FETCH_TIMEOUT = 30
# Metadata files are small; a bigger one is not a tree's .treeinfo.
METADATA_MAX = 1024 * 1024
PV_KEYS = ("install_distro", "bootloader_install", "bootloader_final", "pv_args", "final_pv_args", "rounds",
           "round2_bootloader_args", "kernel_path", "ramdisk_path")
HVM_KEYS = ("firmware", "answer_format", "answer_volume", "answer_volume_file")


def _cert_unverified(err):
    """Whether ``err`` (from open_url) is a TLS certificate that could not be verified: urllib
    carries ssl's error as the URLError's reason; older ansible-core raised SSLValidationError."""
    return isinstance(getattr(err, "reason", err), ssl.CertificateError) or isinstance(err, SSLValidationError)


def _fetch_error(url, err):
    if _cert_unverified(err):
        return ProfileError("cannot fetch %s to verify the repository: %s; the repository's TLS certificate could "
                            "not be verified (validate_certs: false skips that)" % (url, err), code="TLS_CERT_UNVERIFIED")
    return ProfileError("cannot fetch %s to verify the repository: %s" % (url, err), code="REPOSITORY_UNREADABLE")


def fetchers(validate_certs):
    """(fetch_text, digests_of) for verify_tree, over HTTP(S) with Ansible's open_url."""
    def fetch_text(url):
        try:
            response = open_url(url, validate_certs=validate_certs, timeout=FETCH_TIMEOUT)
            try:
                data = response.read(METADATA_MAX + 1)
            finally:
                response.close()
        except HTTPError as err:
            if err.code == 404:
                return None
            raise _fetch_error(url, err)
        except Exception as err:  # URLError, SSL errors, timeouts: all name the URL
            raise _fetch_error(url, err)
        if len(data) > METADATA_MAX:
            raise ProfileError("%s is larger than %d bytes: not a tree's metadata" % (url, METADATA_MAX),
                               code="REPOSITORY_MISMATCH")
        return data.decode("utf-8", "replace")

    def digests_of(url, algorithms):
        digests = dict((name, hashlib.new(name)) for name in algorithms)
        try:
            response = open_url(url, validate_certs=validate_certs, timeout=FETCH_TIMEOUT)
            try:
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    for digest in digests.values():
                        digest.update(chunk)
            finally:
                response.close()
        except Exception as err:  # HTTPError (404 too: eliloader needs the file), URLError, SSL, timeouts
            raise _fetch_error(url, err)
        return dict((name, digest.hexdigest()) for name, digest in digests.items())
    return fetch_text, digests_of


def run(xs):
    p = xs.params
    try:
        prof = profile(p["distro"], p["version"], p["arch"], answer_file=p["answer_file"],
                       console=p["console"], extra_args=p["extra_args"], network_input=p["network"])
        pins = validate_checksums(p["checksums"])
        verify = p["verify_repository"] or bool(pins)
        if p["repository"] is not None:
            validate_repository(p["repository"])
        if verify and p["repository"] is None:
            raise ProfileError("verify_repository and checksums read the tree at repository, which is not given")
        if verify and not p["repository"].startswith(("http://", "https://")):
            raise ProfileError("verify_repository and checksums fetch the tree's files over HTTP; repository '%s' "
                               "is not an http:// or https:// URL" % p["repository"])
        answer = None
        if p["answer"] is not None:
            given = p["answer"]
            answer = answer_values(given["name"], given["root_password_hash"], given["packages"], given["timezone"],
                                   hostname=(prof["network"] or {}).get("hostname"), network=prof["network"],
                                   repository=p["repository"])
    except ProfileError as err:
        xs.fail(str(err), error_code=err.code)
    except AnswerError as err:
        xs.fail(str(err), error_code=INVALID_INPUT)
    pv = prof["route"] == ROUTE_PV
    candidates = prof["candidates"]
    records = xs.client.call("VM.get_all_records_where", template_query(candidates, hvm=not pv))
    ref, record = pick_template(candidates, records)
    if ref is None:
        raise NotFound("the pool has no %s install template for %s; tried: %s"
                       % ("PV" if pv else "HVM", prof["label"], ", ".join("'%s'" % n for n in candidates)),
                       code="TEMPLATE_NOT_FOUND")
    xs.close()  # the pool has answered; the repository check needs no session
    other = record["other_config"]
    result = dict(
        changed=False,
        template=dict(name=record["name_label"], uuid=record["uuid"],
                      install_distro=other.get("install-distro"), install_arch=other.get("install-arch"),
                      default=bool(record["is_default_template"]) or other.get("default_template") == "true"),
        candidates=candidates,
        verified=False,
    )
    for key in ("distro", "version", "route", "routes", "install_arch", "network") + (PV_KEYS if pv else HVM_KEYS):
        result[key] = prof[key]
    if pv:
        result.update(kernel_md5=None, ramdisk_md5=None)
    if p["repository"] is not None:
        result["install_repository"] = p["repository"]
    if answer is not None:
        result["answer"] = answer
    if verify:
        fetch_text, digests_of = fetchers(p["validate_certs"])
        try:
            found = verify_tree(p["repository"], prof, fetch_text, digests_of, pins)
        except ProfileError as err:
            xs.fail(str(err), error_code=err.code, **result)
        if not pv:
            found.pop("kernel_md5")
            found.pop("ramdisk_md5")
        result.update(found, verified=True)
    return result


def main():
    xs = XenServerModule(
        dict(
            distro=dict(type="str", required=True, choices=["rhel", "centos", "sles", "centos_stream", "rocky", "almalinux", "oracle"]),
            version=dict(type="str", required=True),
            arch=dict(type="str", choices=list(INSTALL_ARCHES), default="x86_64"),
            repository=dict(type="str"),
            answer_file=dict(type="str", aliases=["kickstart", "autoyast"]),
            console=dict(type="str"),
            extra_args=dict(type="str"),
            verify_repository=dict(type="bool", default=False),
            checksums=dict(type="dict"),
            network=dict(type="dict", options=dict(
                address=dict(type="str"),
                netmask=dict(type="str"),
                gateway=dict(type="str"),
                nameservers=dict(type="list", elements="str"),
                hostname=dict(type="str"),
            )),
            answer=dict(type="dict", options=dict(
                name=dict(type="str", required=True),
                root_password_hash=dict(type="str", required=True, no_log=True),
                packages=dict(type="list", elements="str", default=[]),
                timezone=dict(type="str", default="UTC"),
            )),
        ),
        required_if=[("verify_repository", True, ("repository",))],
    )
    xs.run(run)


if __name__ == "__main__":
    main()
