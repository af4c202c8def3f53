#!/usr/bin/env python3
"""Write roles/{rhel,centos,sles}_install/meta/argument_specs.yml from one description.

The three wrapper roles take the same inputs under their own prefix; what differs between them
(the release lists, the answer file's kind, a few notes) is in ROLES below, the rest in
scripts/install_role_specs.yml.j2. Run it after editing either:

    .venv/bin/python scripts/install-role-specs.py          # write the three files
    .venv/bin/python scripts/install-role-specs.py --check  # exit 1 naming the files out of date

tests/unit/roles/test_role_specs.py checks they are in sync.
"""
import argparse
import os
import re
import sys
import textwrap

import jinja2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATE = os.path.join(ROOT, "scripts", "install_role_specs.yml.j2")

KICKSTART_NETWORK = (
    "Given: the kickstart file gets C(network --device eth0 --bootproto static --ip --netmask --gateway "
    "--nameserver --hostname); for a PV release the installer's kernel line gets anaconda's C(ksdevice=eth0 "
    "ip= netmask= gateway= dns=) so that it fetches the repository and the kickstart file without DHCP (the "
    "RHEL 5 Installation Guide's boot options; later releases list them as deprecated). Those arguments are "
    "on the kernel line only while the installer runs.")
KICKSTART = dict(answer_kind="kickstart", article="a", answer_arg="ks", hvm_answer_file="ks.cfg",
                 network_doc=KICKSTART_NETWORK, nameservers_note="", hostname_note="")

ROLES = {
    "rhel_install": dict(
        KICKSTART, label="Red Hat Enterprise Linux (or Rocky Linux, AlmaLinux, Oracle Linux)",
        short_description="Install Red Hat Enterprise Linux 4.5 to 10 (and its rebuilds) on a XenServer pool, "
                          "with kickstart",
        pv_releases="RHEL 4.5 to 6.10", sdk_section="5.2.2",
        pv_extra=", XenServer's updated kernel and the VM Tools",
        hvm_releases="RHEL 8, 9 and 10; Rocky Linux, AlmaLinux and Oracle Linux 8 and later through "
                     "O(rhel_install_vendor)",
        stop_extra="", vendor=True,
        version_doc="The release: V(4.5) to V(4.8) (i386), V(5.0) to V(5.11), V(6.0) to V(6.10), or a major "
                    "release alone (V(6), V(5), V(4)), installed by the PV route; V(8), V(9), V(10) (or V(9.4)) "
                    "installed from the ISO. The rebuilds (O(rhel_install_vendor)) have 8 and later only.",
        version_default="5", arch_note=" (release 4 is V(i386) only; the HVM releases V(x86_64))",
        repository_example="http://192.0.2.1/rhel/5.1/os/x86_64", iso_example="rhel-9.4-x86_64-boot.iso",
        verify_note="", verify_default="false",
        tools_note="On the PV releases the guest is then restarted into XenServer's updated kernel "
                   "(SDK guide 5.2.2); today's releases keep their own kernel.",
        tools_default="true"),
    "centos_install": dict(
        KICKSTART, label="CentOS (or CentOS Stream)",
        short_description="Install CentOS 4.5 to 6.10 or CentOS Stream 9 and 10 on a XenServer pool, with kickstart",
        pv_releases="CentOS 4.5 to 6.10", sdk_section="5.2.4",
        pv_extra=", XenServer's updated kernel and the VM Tools",
        hvm_releases="CentOS Stream 9 and 10", stop_extra="", vendor=False,
        version_doc="The release: V(4.5) to V(4.8) (i386), V(5.0) to V(5.11), V(6.0) to V(6.10), or a major "
                    "release alone (V(6), V(5), V(4)), installed by the PV route; V(9) or V(10) for CentOS "
                    "Stream, installed from its ISO.",
        version_default="5", arch_note=" (release 4 is V(i386) only; CentOS Stream V(x86_64))",
        repository_example="http://192.0.2.1/centos/5/os/x86_64",
        iso_example="CentOS-Stream-9-latest-x86_64-dvd1.iso",
        verify_note="This is how a RHEL tree given for CentOS is caught (C(... holds a RHEL 5.1 x86_64 tree "
                    "...)). Any mirror laid out as the vendor's works; nothing about particular media is built in.",
        verify_default="true",
        tools_note="On the PV releases the guest is then restarted into XenServer's updated kernel "
                   "(SDK guide 5.2.2); CentOS Stream keeps its own kernel.",
        tools_default="true"),
    "sles_install": dict(
        label="SUSE Linux Enterprise Server", answer_kind="AutoYaST", article="an", answer_arg="autoyast",
        hvm_answer_file="autoinst.xml",
        short_description="Install SUSE Linux Enterprise Server 10 SP1 to 15 SPx on a XenServer pool, with AutoYaST",
        pv_releases="SLES 10 SP1 to 11 SP4", sdk_section="5.2.3",
        pv_extra=" (two rounds: the second finds the installed kernel and writes its paths into "
                 "C(PV_bootloader_args), which the role checks, and writes itself if the pool's eliloader "
                 "did not)",
        hvm_releases="SLES 12 SP5 and 15 SP0 to SP7", stop_extra=", halted between the two PV rounds",
        vendor=False,
        version_doc="The release: V(10sp1) to V(10sp4) (also written V(10 SP1)); V(11) (11 GA), V(11sp1) to "
                    "V(11sp4), installed by the PV route; V(12sp5), V(15), V(15sp1) to V(15sp7), installed from "
                    "the ISO.",
        version_default="10sp1", arch_note=" (the HVM releases V(x86_64))",
        repository_example="http://192.0.2.1/sles/10sp1/x86_64", iso_example="SLE-15-SP6-Full-x86_64-GM-Media1.iso",
        verify_note="", verify_default="false",
        tools_note="SLES keeps its own kernel; the tools bring the PV drivers and guest agent only.",
        tools_default="false",
        network_doc="Given: the AutoYaST file gets an C(<interface>) for C(eth0) with "
                    "C(<bootproto>static</bootproto>), C(<ipaddr>) and C(<netmask>), a default route under "
                    "C(<routing>) and the servers under C(<dns><nameservers>); for a PV release the "
                    "installer's kernel line gets linuxrc's C(netdevice=eth0 hostip= netmask= gateway= "
                    "nameserver=) so that it fetches the repository and the AutoYaST file without DHCP (SUSE's "
                    "linuxrc documentation, appendix Advanced Linuxrc Options). Those arguments are on the "
                    "kernel line only while the installer runs.",
        nameservers_note=" linuxrc takes one, the first; the installed system gets all.",
        hostname_note=" A name with dots is split into C(<hostname>) and C(<domain>)."),
}


KEY = re.compile(r"^\s*(- )?[a-z_][a-z0-9_]*:( |$)")
WIDTH = 110


def _wrapped(text):
    """Long prose lines of the folded (>-) descriptions wrapped at WIDTH, at their indentation
    (a folded scalar reads them back as one line)."""
    lines = []
    for line in text.split("\n"):
        if len(line) <= WIDTH or KEY.match(line):
            lines.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        lines.extend(textwrap.wrap(line.strip(), WIDTH, initial_indent=indent, subsequent_indent=indent,
                                   break_long_words=False, break_on_hyphens=False))
    return "\n".join(lines)


def render(role):
    environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                                     undefined=jinja2.StrictUndefined)
    with open(TEMPLATE) as handle:
        template = environment.from_string(handle.read())
    return _wrapped(template.render(role=role, **ROLES[role]))


def path_of(role):
    return os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 naming the files out of date")
    args = parser.parse_args(argv)
    stale = []
    for role in sorted(ROLES):
        text = render(role)
        path = path_of(role)
        with open(path) as handle:
            current = handle.read()
        if current == text:
            continue
        stale.append(os.path.relpath(path, ROOT))
        if not args.check:
            with open(path, "w") as handle:
                handle.write(text)
    if args.check and stale:
        print("out of date (run scripts/install-role-specs.py): %s" % ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
