"""An installer ISO booted by the HVM firmware (hvm.py): anaconda (RHEL, Rocky) or YaST (SLES).

The installer's kernel command line is the boot menu's default entry on the ISO (isolinux.cfg
under BIOS, grub.cfg under UEFI). It looks for its answer file as the vendors document:
  anaconda  ``inst.ks=`` (or ``ks=``): http(s):// or ftp:// URL, ``hd:LABEL=<label>:/<path>``
            (any attached volume with that label), ``cdrom:/<path>`` (a CD); without it, a
            ``ks.cfg`` at the root of a volume labelled ``OEMDRV`` (anaconda's automatic load).
  YaST      ``autoyast=`` (or ``autoyast2=``): http(s):// or ftp:// URL, ``cd:/<path>``,
            ``device:///<path>`` (every device searched); without it, ``autoinst.xml`` at the
            root of the boot medium, else at the root of a disk labelled ``OEMDRV`` (linuxrc).
No answer file (or one it cannot read): the installer waits for its user, forever
("installer-waiting-for-answer-file"). Else it installs (INSTALL_SECONDS) onto the first disk
that is not itself a volume (an ISO), writing a system (xapisim.images format) that boots
under the firmware it was installed from, with the answer file's hostname and static network,
then does what the answer file says: kickstart ``reboot`` (``--eject`` ejects the CD first),
``poweroff``/``shutdown`` power off, ``halt`` or nothing halts (the domain stays running);
AutoYaST ``<halt>`` powers off at the end of stage 1, otherwise it reboots (``<final_halt>`` acts at the
end of stage 2, which the simulator models for the PV installed system only).
"""
import ipaddress
import re
import xml.dom.minidom

from .. import images
from ..model import NULL_REF
from .eliloader import KERNEL_BOOT_SECONDS, _NotFound
from .install import INSTALL_SECONDS, _answer_finish, kickstart_network_lines

ANSWER_FILES = {"anaconda": ("ks", "ks.cfg", "OEMDRV"), "yast": ("autoyast", "autoinst.xml", "OEMDRV")}
CONSOLE = {"anaconda": "Starting installer, one moment...", "yast": "Loading Installation System"}


class IsoInstaller:
    def _iso_boot(self, vm, vbd_record, desc, kind):
        installer = desc["installer"]
        state = self.state(vm)
        state.update(stage="iso-installer", installer={
            "family": installer["family"], "release": installer["release"], "medium": desc["label"],
            "medium_vdi": vbd_record["VDI"]}, cmdline=installer["boot_args"].get(kind) or "",
            remaining=KERNEL_BOOT_SECONDS)
        state["console"].append(CONSOLE[installer["family"]])

    # --- the installer's steps (guest thread, core.py) ---------------------------------------
    def _iso_installer_started(self, vm, domid):
        """The installer is up: find and read its answer file."""
        with self.db.lock:
            if not self._alive(vm, domid):
                return False
            state = self.state(vm)
            family, cmdline = state["installer"]["family"], state.get("cmdline", "")
            kind = ANSWER_FILES[family][0]
            source, text, error = self._local_answer(vm, family, cmdline)
        if text is None and error is None:      # a URL: fetched without the lock
            try:
                text = self._fetcher({}, None)(source).decode("utf-8", "replace")
            except _NotFound:
                error = "cannot fetch %s" % source
        with self.db.lock:
            if not self._alive(vm, domid):
                return False
            state = self.state(vm)
            finish = _finish(kind, text) if text is not None else None
            if finish is None:
                state.update(stage="installer-waiting-for-answer-file",
                             error=error or "%s is not a valid %s file" % (source, kind))
                state.pop("remaining", None)
                self._changed()
                return False
            hostname, interface = _answer_system(kind, text)
            state.update(stage="iso-installing", remaining=INSTALL_SECONDS, answer={
                "kind": "kickstart" if kind == "ks" else "autoyast", "source": source,
                "finish": finish[0], "eject": finish[1], "hostname": hostname, "network": interface})
            self._changed()
        self._commit()
        return True

    def _local_answer(self, vm, family, cmdline):
        """(source, text, error) of the answer file on an attached volume; text None and error
        None when ``source`` is a URL still to fetch."""
        kind, default_name, default_label = ANSWER_FILES[family]
        keys = ("inst.ks", "ks") if kind == "ks" else ("autoyast", "autoyast2")
        match = re.search(r"(?:^|\s)(?:%s)=(\S+)" % "|".join(re.escape(key) for key in keys), cmdline)
        if match:
            source = match.group(1)
            if source.startswith(("http://", "https://", "ftp://")):
                return source, None, None
            where = _volume_path(source)
            if where is None:
                return source, None, "cannot read %s" % source
            types, label, path = where
            text = self._read_volumes(vm, path, types=types, label=label)
            return source, text, None if text is not None else "no %s on any volume" % source
        if kind == "ks":
            text = self._read_volumes(vm, "/" + default_name, label=default_label)
            source = "hd:LABEL=%s:/%s" % (default_label, default_name)
            return source, text, None if text is not None else "no kickstart (inst.ks= or an OEMDRV volume)"
        medium = self.state(vm)["installer"]["medium_vdi"]
        text = self._read_volumes(vm, "/" + default_name, only=medium)
        if text is not None:
            return "cd:/" + default_name, text, None
        # linuxrc also loads /autoinst.xml from a disk labelled OEMDRV (openSUSE/linuxrc, linuxrc_and_autoyast.md)
        text = self._read_volumes(vm, "/" + default_name, label=default_label)
        source = "label://%s/%s" % (default_label, default_name)
        return source, text, None if text is not None else "no AutoYaST profile (autoyast=, autoinst.xml on the medium or OEMDRV)"

    def _read_volumes(self, vm, path, types=("Disk", "CD"), label=None, only=None):
        """``path`` on the first attached ISO 9660 volume (by userdevice) of ``types`` with
        ``label`` (any when None), as text; None when none has it."""
        for vbd_type in types:
            for _, record in self._hvm_devices(vm, vbd_type):
                if only is not None and record["VDI"] != only:
                    continue
                handle = self._vdi_open(record["VDI"])
                if handle is None:
                    continue
                with handle:
                    if label is not None and images.iso_label(handle) != label:
                        continue
                    data = images.iso_file(handle, path)
                if data is not None:
                    return data.decode("utf-8", "replace")
        return None

    def _iso_installed(self, vm, domid):
        """The installer is done: write the system onto the disk, then finish as told."""
        with self.db.lock:
            if not self._alive(vm, domid):
                return False
            state = self.state(vm)
            answer, installer = state["answer"], state["installer"]
            target = self._iso_target(vm)
            state.pop("remaining", None)
            if target is None:
                state.update(stage="installer-failed", error="no disk to install onto")
                state["console"].append("Storage configuration failed: no usable disks")
                self._changed()
                return False
            interfaces = [answer["network"]] if answer["network"] else []
            header = images.system(installer["release"], {
                "bios": state["firmware"] == "bios", "uefi": state["firmware"] == "uefi", "signed": True},
                state={"hostname": answer["hostname"] or "localhost.localdomain",
                       "network": {"interfaces": interfaces or [_dhcp(self._nics(vm)[0])]}})
            self._write_header(target, header)
            state.update(stage="installer-finished", installed_on=target)
            state["console"].append("Installation complete.")
            if answer["finish"] == "reboot" and answer["eject"]:
                for vbd in self.db.get("VM", vm)["VBDs"]:
                    if self.db.get("VBD", vbd)["VDI"] == installer["medium_vdi"] and \
                            self.db.get("VBD", vbd)["type"] == "CD":
                        self.db.update("VBD", vbd, VDI=NULL_REF, empty=True)
            if answer["finish"] == "halt":
                state["console"].append("reboot: System halted")
            self._changed()
            finish = answer["finish"]
        self._commit()
        if finish == "reboot":
            self._guest_reboot(vm, domid)
        elif finish == "poweroff":
            self._guest_poweroff(vm, domid)
        return False

    def _iso_target(self, vm):
        """The first disk (by userdevice) that is not a volume and can hold a system."""
        for _, record in self._hvm_devices(vm, "Disk"):
            desc = self._describe_vdi(record["VDI"])
            if desc is not None and desc["kind"] == "iso":
                continue
            if int(self.db.get("VDI", record["VDI"])["virtual_size"]) >= images.HEADER_SIZE:
                return record["VDI"]
        return None


def _volume_path(source):
    """(VBD types, label or None, path) an answer-file location names on attached volumes."""
    match = re.match(r"^hd:LABEL=([^:]+):(/\S*)$", source)
    if match:
        return ("Disk", "CD"), match.group(1), match.group(2)
    for prefix, types in (("cdrom:", ("CD",)), ("cd:", ("CD",)), ("device://", ("Disk", "CD"))):
        if source.startswith(prefix):
            path = source[len(prefix):]
            if prefix == "device://":
                path = "/" + path.split("/", 1)[1] if "/" in path else "/"
            return types, None, "/" + path.lstrip("/")
    return None


def _finish(kind, text):
    """(finish, eject): finish "reboot" | "poweroff" | "halt"; None for an unusable file."""
    if kind == "autoyast":
        finish = _answer_finish("autoyast", text)
        return None if finish is None else (finish, False)
    if not text.strip():
        return None
    for line in text.splitlines():
        words = line.strip().split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "reboot":
            return "reboot", "--eject" in words
        if words[0] in ("poweroff", "shutdown"):
            return "poweroff", False
        if words[0] == "halt":
            return "halt", False
    return "halt", False            # kickstart's default completion is halt


def _answer_system(kind, text):
    """(hostname, the interface a static network configures or None) of an answer file."""
    return _kickstart_system(text) if kind == "ks" else _autoyast_system(text)


def _interface(device, dhcp4=False, addresses=(), gateway4=None, nameservers=(), ipv6=(), gateway6=None):
    mac = device if device and re.match(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$", device) else None
    name = None if mac or device in (None, "", "link", "bootif") else device
    return {"name": name or "eth0", "mac": mac, "dhcp4": dhcp4, "dhcp6": False,
            "addresses": list(addresses) + list(ipv6), "gateway4": gateway4, "gateway6": gateway6,
            "nameservers": list(nameservers), "search": []}


def _cidr(address, netmask):
    try:
        return str(ipaddress.ip_interface("%s/%s" % (address, netmask or "24")))
    except ValueError:
        return None


def _kickstart_system(text):
    hostname, interface = None, None
    for opts in kickstart_network_lines(text):
        hostname = opts.get("hostname") or hostname
        if interface is None and opts.get("bootproto") == "static" and opts.get("ip"):
            address = _cidr(opts["ip"], opts.get("netmask"))
            ipv6 = [opts["ipv6"]] if opts.get("ipv6") and "/" in opts["ipv6"] else []
            interface = _interface(opts.get("device"), addresses=[address] if address else [],
                                   gateway4=opts.get("gateway") or None,
                                   nameservers=[n for n in opts.get("nameserver", "").split(",") if n],
                                   ipv6=ipv6, gateway6=opts.get("ipv6gateway") or None)
    return hostname, interface


def _autoyast_system(text):
    doc = xml.dom.minidom.parseString(text)

    def value(node, tag):
        found = node.getElementsByTagName(tag)
        return found[0].firstChild.data.strip() if found and found[0].firstChild is not None else ""
    hostname = value(doc, "hostname") or None
    gateway = ""
    for route in doc.getElementsByTagName("route"):
        if value(route, "destination") == "default":
            gateway = value(route, "gateway")
    nameservers = [node.firstChild.data.strip() for node in doc.getElementsByTagName("nameserver")
                   if node.firstChild is not None]
    for node in doc.getElementsByTagName("interface"):
        if value(node, "bootproto") == "static" and value(node, "ipaddr"):
            address = value(node, "ipaddr")
            address = _cidr(*address.split("/", 1)) if "/" in address else \
                _cidr(address, value(node, "netmask") or value(node, "prefixlen"))
            return hostname, _interface(value(node, "device") or None, addresses=[address] if address else [],
                                        gateway4=gateway or None, nameservers=nameservers)
    return hostname, None


def _dhcp(nic):
    interface = _interface(nic[0], dhcp4=True)
    interface["mac"] = nic[1]
    return interface
