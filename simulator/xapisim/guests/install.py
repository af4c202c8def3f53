"""What any installer does once it has its answer file: installs (INSTALL_SECONDS), writes
the system onto its disk (with a static eth0 address when the answer file gives one), and
reboots / powers off / waits as the answer file says."""
import shlex
import xml.dom.minidom

from .. import trees

INSTALL_SECONDS = 300.0         # the installer's work
# YaST's flag on the installed disk: stage 2 runs at the next boot (the simulator also notes
# final_halt in it).
STAGE2_PENDING = "/var/lib/YaST2/runme_at_boot"
# Where the installer writes eth0's static configuration, per install flow.
IFCFG_ETH0 = {"rhlike": "/etc/sysconfig/network-scripts/ifcfg-eth0",
              "sleslike": "/etc/sysconfig/network/ifcfg-eth0"}


class Installer:
    def _installed(self, vm, domid):
        """The installer is done: write the system to disk, then do what the answer file says."""
        with self.db.lock:
            if not self._alive(vm, domid):
                return False
            state = self.state(vm)
            vdi = self._target_vdi(vm)
            answer = state.get("answer", {})
            if vdi is not None:
                self.disks()[vdi] = _installed_system(state.get("tree"), state.get("flow", "rhlike"),
                                                      state.get("arch", "i386"))
                self.disks()[vdi].update(_ifcfg_files(state.get("flow", "rhlike"), answer.get("network")))
                if answer.get("kind") == "autoyast":
                    # YaST's stage 2 runs at the installed system's first boot (runme_at_boot)
                    self.disks()[vdi][STAGE2_PENDING] = "final_halt\n" if answer.get("final_halt") else ""
            finish = answer.get("finish", "wait")
            state.update(stage="installer-finished")
            state.pop("remaining", None)
            self._changed()
        self._commit()
        if finish == "reboot":
            self._guest_reboot(vm, domid)
        elif finish == "poweroff":
            self._guest_poweroff(vm, domid)
        return False

    def _stage2_done(self, vm):
        """The installed system is up: an AutoYaST install's stage 2 has run (the pending flag
        goes). True when its profile says final_halt: the system powers off now (SLES 11 on)."""
        files = self._boot_files(vm)
        if STAGE2_PENDING not in files:
            return False
        return files.pop(STAGE2_PENDING) == "final_halt\n"


# --- installed systems -------------------------------------------------------------------------

def _kernel_file(uname):
    return "XAPISIM-VMLINUZ uname=%s\n" % uname


def _grub_entry(title, uname, initrd_name):
    return ("title %s (%s)\n\troot (hd0,0)\n\tkernel /boot/vmlinuz-%s ro root=/dev/VolGroup00/LogVol00\n"
            "\tinitrd /boot/%s\n" % (title, uname, uname, initrd_name))


def _installed_system(tree, flow, arch):
    """The files an installer leaves on the disk ({path: text}).

    RHEL/CentOS: kernel, initrd and a valid /boot/grub/menu.lst (pygrub boots it).
    SLES 9/10: kernel and initrd plus the vmlinuz-xen/initrd-xen links, and a menu.lst YaST
    did not make bootable (no entries): pygrub alone fails, eliloader round 2 (domUloader)
    or PV_bootloader_args --kernel/--ramdisk are needed. SLES 11 writes a valid menu.lst.
    """
    if tree:
        distro, version, arch = tree.split("-", 2)
        facts = trees.RELEASES[(distro, version)]
        uname = trees.uname(distro, version, arch)
        release = trees.release_text(distro, version, arch)
        flow, title, grub_ok = facts["flow"], facts["family"], facts["menu_lst"]
    else:   # an unknown tree: a generic system of the install flow's kind
        uname = "2.6.18-xapisim" + ("-xen" if flow == "sleslike" else "xen")
        release = ("SUSE Linux Enterprise Server (%s)\nVERSION = 0\nPATCHLEVEL = 0\n" % arch
                   if flow == "sleslike" else "Linux release 0 (unknown)\n")
        title, grub_ok = "Linux", flow != "sleslike"
    files = {"/etc/fstab": "/dev/xvda1 / ext3 defaults 1 1\n"}
    if flow == "sleslike":
        flavour = "xen" if arch == "x86_64" else "xenpae"
        initrd = "initrd-%s" % uname
        files.update({"/etc/SuSE-release": release,
                      "/boot/vmlinuz-%s" % uname: _kernel_file(uname),
                      "/boot/%s" % initrd: "initrd for %s\n" % uname,
                      "/boot/vmlinuz-%s" % flavour: _kernel_file(uname),
                      "/boot/initrd-%s" % flavour: "initrd for %s\n" % uname})
        if grub_ok:
            files["/boot/grub/menu.lst"] = "default 0\ntimeout 8\n" + _grub_entry(title, uname, initrd)
        else:
            files["/boot/grub/menu.lst"] = ("# Modified by YaST2.\ncolor white/blue black/light-gray\n"
                                            "default 0\ntimeout 8\n")
        return files
    initrd = "initrd-%s.img" % uname
    files.update({"/etc/redhat-release": release,
                  "/boot/vmlinuz-%s" % uname: _kernel_file(uname),
                  "/boot/%s" % initrd: "initrd for %s\n" % uname,
                  "/boot/grub/menu.lst": "default=0\ntimeout=5\n" + _grub_entry(title, uname, initrd)})
    return files


# Pre-built images a template's postinstall script writes onto its provisioned disks
# (xapi_templates_install.ml runs other_config:postinstall from post-install-scripts). The
# XenServer 4.x "Debian Etch 4.0" template was such an image: Etch with its Xen kernel, a
# menu.lst pygrub boots, and the guest utilities already installed.
POST_INSTALL_DIR = "/opt/xensource/packages/post-install-scripts"
ETCH_UNAME = "2.6.18-6-xen-686"


def post_install_files(script):
    """{path: text} the post-install ``script`` puts on the bootable disk, or None."""
    if script != POST_INSTALL_DIR + "/debian-etch":
        return None
    initrd = "initrd.img-%s" % ETCH_UNAME
    return {
        "/etc/debian_version": "4.0\n",
        "/etc/fstab": "/dev/xvda1 / ext3 defaults,errors=remount-ro 0 1\n/dev/xvdb none swap sw 0 0\n",
        "/boot/vmlinuz-%s" % ETCH_UNAME: _kernel_file(ETCH_UNAME),
        "/boot/%s" % initrd: "initrd for %s\n" % ETCH_UNAME,
        "/boot/grub/menu.lst": "default 0\ntimeout 5\ntitle Debian GNU/Linux, kernel %s\n\troot (hd0,0)\n"
                               "\tkernel /boot/vmlinuz-%s root=/dev/xvda1 ro\n\tinitrd /boot/%s\n"
                               % (ETCH_UNAME, ETCH_UNAME, initrd),
        "/usr/sbin/xe-update-guest-attrs": "#!/bin/sh\n# xe-guest-utilities 4.1.0\n",    # agent.TOOLS_MARK
    }


def _answer_finish(kind, text):
    """What the installer does when done: "reboot", "poweroff" or "wait"; None if unusable.

    Kickstart: a ``reboot`` line reboots; ``poweroff``, ``shutdown`` or ``halt`` power the VM
    off (a halted Xen PV domain is shut down); none of them: the installer waits on its last
    screen for a key press (RHEL 5 anaconda's default), so the VM stays Running.
    AutoYaST (SUSE's AutoYaST guide, general/mode): ``<halt>true</halt>`` powers the machine off
    at the end of stage 1 instead of rebooting into stage 2 (SLES 10 and later); otherwise it
    reboots into the installed system, where stage 2 runs. ``<final_halt>`` (SLES 11 and later)
    acts at the end of stage 2, not here (see _autoyast_final_halt).
    """
    if kind == "ks":
        if not text.strip():
            return None
        for line in text.splitlines():
            word = line.strip().split(" ", 1)[0]
            if word == "reboot":
                return "reboot"
            if word in ("poweroff", "shutdown", "halt"):
                return "poweroff"
        return "wait"
    mode = _autoyast_mode(text)
    if mode is None:
        return None
    return "poweroff" if mode.get("halt") == "true" else "reboot"


def _autoyast_mode(text):
    """{element: text} of an AutoYaST profile's general/mode; None if it is not a profile."""
    try:
        doc = xml.dom.minidom.parseString(text)
    except Exception:
        return None
    if doc.documentElement.tagName != "profile":
        return None
    mode = {}
    for general in doc.documentElement.getElementsByTagName("general"):
        for node in general.getElementsByTagName("mode"):
            for child in node.childNodes:
                if child.nodeType == child.ELEMENT_NODE:
                    mode[child.tagName] = "".join(t.data for t in child.childNodes if t.nodeType == t.TEXT_NODE).strip()
    return mode


def _autoyast_final_halt(text):
    """Whether an AutoYaST profile halts the machine at the end of stage 2 (``final_halt``)."""
    return (_autoyast_mode(text) or {}).get("final_halt") == "true"


def _answer_network(kind, text):
    """eth0's static configuration in an answer file, {ip, netmask, gateway}; None for DHCP."""
    return _kickstart_network(text) if kind == "ks" else _autoyast_network(text)


def kickstart_network_lines(text):
    """The options of each ``network`` line of a kickstart, as dicts (``--opt value`` and
    ``--opt=value``; a flag alone maps to "")."""
    for line in text.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if not words or words[0] != "network":
            continue
        opts, key = {}, None
        for word in words[1:]:
            if word.startswith("--"):
                key, _, value = word[2:].partition("=")
                opts[key] = value
            elif key is not None:
                opts[key], key = word, None
        yield opts


def _kickstart_network(text):
    """``network --device eth0 --bootproto static --ip A --netmask M --gateway G`` (``--opt=value``
    too; a network line without --device is eth0's)."""
    for opts in kickstart_network_lines(text):
        if opts.get("device", "eth0") == "eth0" and opts.get("bootproto") == "static" and opts.get("ip"):
            return {"ip": opts["ip"], "netmask": opts.get("netmask", ""), "gateway": opts.get("gateway", "")}
    return None


def _autoyast_network(text):
    """The ``<interface>`` of eth0 with ``<bootproto>static</bootproto>``, ``<ipaddr>`` and
    ``<netmask>`` or ``<prefixlen>``, and the default route of ``<routing>``."""
    doc = xml.dom.minidom.parseString(text)

    def value(node, tag):
        found = node.getElementsByTagName(tag)
        return found[0].firstChild.data.strip() if found and found[0].firstChild is not None else ""
    for interface in doc.getElementsByTagName("interface"):
        if value(interface, "device") in ("eth0", "") and value(interface, "bootproto") == "static" \
                and value(interface, "ipaddr"):
            gateway = ""
            for route in doc.getElementsByTagName("route"):
                if value(route, "destination") == "default":
                    gateway = value(route, "gateway")
            return {"ip": value(interface, "ipaddr"),
                    "netmask": value(interface, "netmask") or value(interface, "prefixlen"),
                    "gateway": gateway}
    return None


def _ifcfg_files(flow, network):
    """The installed system's ifcfg-eth0 for a static address ({} for DHCP, the default)."""
    if not network:
        return {}
    lines = ["DEVICE=eth0", "BOOTPROTO=static", "IPADDR=%s" % network["ip"],
             "NETMASK=%s" % network["netmask"], "ONBOOT=yes"]
    if network.get("gateway"):
        lines.append("GATEWAY=%s" % network["gateway"])
    return {IFCFG_ETH0.get(flow, IFCFG_ETH0["rhlike"]): "\n".join(lines) + "\n"}
