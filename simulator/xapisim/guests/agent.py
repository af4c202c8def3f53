"""The guest agent (xe-guest-utilities / PV drivers): VM_guest_metrics, features, xs-tools.

A booted system publishes VM_guest_metrics (os_version from its release file, uname of the
booted kernel). PV drivers and networks only once xs-tools are installed; eth0 reports its
static address (ifcfg-eth0 on the disk), else a DHCP-style one. Inserting xs-tools.iso into
a booted guest installs the guest utilities (TOOLS_SECONDS); RHEL/CentOS also get
XenServer's kernel as the new grub default, which the next boot runs.
"""
import hashlib
import re
import threading

from ..db import new_uuid
from ..errors import XapiError
from ..model import NULL_REF
from .install import IFCFG_ETH0, _grub_entry, _kernel_file
from .pygrub import GRUB_CONFIGS, _parse_grub

TOOLS_SECONDS = 60.0            # xs-tools install from the inserted ISO
TOOLS_MARK = "/usr/sbin/xe-update-guest-attrs"
TOOLS_VERSION = {"major": "4", "minor": "1", "micro": "0", "build": "0"}
XS_KERNEL_TAG = ".xs4.1.0"
# Today's agent (xe-guest-utilities 8.x) and the features it advertises in data/ (xapi copies
# them to VM_guest_metrics other; they allow clean shutdown, reboot and suspend).
AGENT_VERSION = {"major": "8", "minor": "4", "micro": "0", "build": "1"}
AGENT_FEATURES = {"feature-shutdown": "1", "feature-reboot": "1", "feature-suspend": "1"}
# xenstore keys xapi reads into os_version (xapi_guest_agent.ml), and what the agent owns.
XAPI_OS_VERSION = (("data/os_name", "name"), ("data/os_uname", "uname"), ("data/os_distro", "distro"),
                   ("data/os_majorver", "major"), ("data/os_minorver", "minor"))
AGENT_PREFIXES = ("data/", "attr/", "control/", "feature/")
NETWORK_PREFIXES = ("192.0.2", "198.51.100", "203.0.113")     # RFC 5737 documentation ranges


class GuestAgent:
    def assert_cooperative(self, call, vm):
        """Clean shutdown/reboot/suspend need a PV guest or an HVM guest with PV drivers."""
        record = self.db.get("VM", vm)
        if record["HVM_boot_policy"] and not self._has_pv_drivers(record):
            raise XapiError("VM_LACKS_FEATURE", vm)

    def _has_pv_drivers(self, record):
        metrics = record["guest_metrics"]
        return self.db.exists("VM_guest_metrics", metrics) and \
            self.db.get("VM_guest_metrics", metrics)["PV_drivers_detected"]

    # --- the guest agent (xe-guest-utilities / PV drivers) -----------------------------------
    def report_agent(self, vm, networks=None, os_version=None, pv_drivers=True):
        """The guest agent reports in: create or update the VM's VM_guest_metrics record.

        ``networks`` uses xapi's keys ("0/ip", "0/ipv4/0", "0/ipv6/0", ...). Only a running
        guest has an agent. Returns the VM_guest_metrics ref.
        """
        db = self.db
        with db.lock:
            record = db.get("VM", vm)
            if record["power_state"] != "Running":
                raise ValueError("VM %s is %s: only a running guest reports" % (vm, record["power_state"]))
            values = dict(networks=dict(networks or {}), os_version=dict(os_version or {}),
                          PV_drivers_detected=bool(pv_drivers), live=True,
                          PV_drivers_version={"major": "8", "minor": "4", "micro": "0"} if pv_drivers else {},
                          last_updated=self.sim.clock.stamp())
            metrics = record["guest_metrics"]
            if db.exists("VM_guest_metrics", metrics):
                db.update("VM_guest_metrics", metrics, **values)
            else:
                metrics = db.create("VM_guest_metrics", uuid=new_uuid(), **values)
                db.update("VM", vm, guest_metrics=metrics)
            return metrics

    def forget_agent(self, vm):
        db = self.db
        metrics = db.get("VM", vm)["guest_metrics"]
        if metrics != NULL_REF:
            db.update("VM", vm, guest_metrics=NULL_REF)
            if db.exists("VM_guest_metrics", metrics):
                db.delete("VM_guest_metrics", metrics)

    # --- guest metrics and xs-tools ----------------------------------------------------------
    def _publish_metrics(self, vm):
        """What the guest reports: os_version always, PV drivers and networks with the tools."""
        record = self.db.get("VM", vm)
        files = self._boot_files(vm)
        tools = TOOLS_MARK in files
        values = dict(
            os_version=_os_version(files, self.state(vm).get("uname", "unknown")),
            PV_drivers_version=dict(TOOLS_VERSION) if tools else {},
            PV_drivers_detected=tools, PV_drivers_up_to_date=tools,
            networks=self._networks(vm) if tools else {},
            other={"feature-shutdown": "1", "feature-reboot": "1", "feature-suspend": "1"}
            if tools else {},
            can_use_hotplug_vbd="yes" if tools else "unspecified",
            can_use_hotplug_vif="yes" if tools else "unspecified",
            live=True, last_updated=self.sim.clock.stamp())
        metrics = record["guest_metrics"]
        if self.db.exists("VM_guest_metrics", metrics):
            self.db.update("VM_guest_metrics", metrics, **values)
        else:
            metrics = self.db.create("VM_guest_metrics", uuid=new_uuid(), **values)
            self.db.update("VM", vm, guest_metrics=metrics)

    def _networks(self, vm):
        """{"<device>/ip": address}: eth0's static address from its ifcfg file, else (DHCP)
        a fixed address per VM in a documentation range per device."""
        record = self.db.get("VM", vm)
        host = int(hashlib.md5(record["uuid"].encode()).hexdigest(), 16) % 250 + 2
        static = _static_address(self._boot_files(vm))
        out = {}
        for vif in record["VIFs"]:
            device = self.db.get("VIF", vif)["device"]
            index = int(device) if device.isdigit() else 0
            out["%s/ip" % device] = static if device == "0" and static else \
                "%s.%d" % (NETWORK_PREFIXES[index % len(NETWORK_PREFIXES)], host)
        return out

    def _tools_cd_inserted(self, vm):
        for vbd in self.db.get("VM", vm)["VBDs"]:
            record = self.db.get("VBD", vbd)
            if record["type"] == "CD" and not record["empty"] and self.db.exists("VDI", record["VDI"]) \
                    and self.db.get("VDI", record["VDI"])["is_tools_iso"]:
                return True
        return False

    def _maybe_install_tools(self, vm):
        """A booted guest with xs-tools.iso in its drive installs the tools (once)."""
        state = self.state(vm)
        record = self.db.get("VM", vm)
        installed = state.get("agent") if state.get("system_vdi") else TOOLS_MARK in self._boot_files(vm)
        if record["power_state"] not in ("Running", "Paused") or state.get("stage") != "booted" \
                or state.get("tools") == "installing" or installed or not self._tools_cd_inserted(vm):
            return
        state.update(tools="installing", tools_remaining=TOOLS_SECONDS)
        self._changed()
        threading.Thread(target=self._tools_main, args=(vm, record["domid"]), daemon=True,
                         name="tools-%s" % vm[-8:]).start()

    def _tools_main(self, vm, domid):
        try:
            if not self._spend(vm, domid, "tools_remaining"):
                return
            with self.db.lock:
                if not self._alive(vm, domid):
                    return
                state = self.state(vm)
                if state.get("system_vdi"):
                    self._install_agent(vm)
                    return
                vdi = self._boot_vdi(vm)
                files = dict(self.disks().get(vdi, {})) if vdi else {}
                files[TOOLS_MARK] = "#!/bin/sh\n# xe-guest-utilities %(major)s.%(minor)s.%(micro)s\n" % TOOLS_VERSION
                if "/etc/redhat-release" in files:
                    _install_xs_kernel(files, state.get("uname", ""))
                if vdi:
                    self.disks()[vdi] = files
                state.update(tools="installed")
                state.pop("tools_remaining", None)
                self._publish_metrics(vm)
                self._changed()
        finally:
            self._commit()

    # --- today's agent on an HVM disk's system (hvm.py) ----------------------------------------
    def _install_agent(self, vm):
        """The guest tools ISO installed on an HVM system: its disk now has the agent."""
        state = self.state(vm)
        header = self._describe_vdi(state["system_vdi"])
        if header is not None and header.get("kind") == "disk":
            header["agent"] = True
            self._write_header(state["system_vdi"], header)
            state.update(agent=True)
            self._publish_system_metrics(vm, header)
        state.update(tools="installed")
        state.pop("tools_remaining", None)
        self._changed()

    def _publish_system_metrics(self, vm, header):
        """Today's agent (xe-guest-utilities 8 / xen-guest-agent) writes its keys into the
        guest's xenstore, and xapi turns them into VM_guest_metrics (xapi_guest_agent.ml):
        os_version from data/os_*, PV_drivers_version from attr/PVAddons/*, networks from
        attr/vif/<device>/ipv4|ipv6/<n> (the first IPv4 also as <device>/ip), other from the
        control/feature-* keys that allow a clean shutdown, reboot and suspend. Without an
        agent nothing is written or reported (no VM_guest_metrics)."""
        if not header.get("agent"):
            return
        store = self.xenstore(vm)
        for key in [k for k in store if k.startswith(AGENT_PREFIXES)]:
            del store[key]
        store.update(self._agent_keys(vm, header))
        values = dict(_metrics_of_xenstore(store), PV_drivers_detected=True, PV_drivers_up_to_date=True,
                      live=True, last_updated=self.sim.clock.stamp())
        record = self.db.get("VM", vm)
        metrics = record["guest_metrics"]
        if self.db.exists("VM_guest_metrics", metrics):
            self.db.update("VM_guest_metrics", metrics, **values)
        else:
            metrics = self.db.create("VM_guest_metrics", uuid=new_uuid(), **values)
            self.db.update("VM", vm, guest_metrics=metrics)

    def _agent_keys(self, vm, header):
        """The xenstore keys the agent writes (relative to the guest's domain)."""
        os_release = header.get("os", {})
        version = os_release.get("VERSION_ID", "").split(".")
        keys = {"data/os_name": os_release.get("PRETTY_NAME", "Linux"),
                "data/os_distro": os_release.get("ID", "linux"),
                "data/os_majorver": version[0], "data/os_minorver": version[1] if len(version) > 1 else "0",
                "data/os_uname": header.get("kernel", ""),
                "attr/PVAddons/Installed": "1", "feature/hotplug/vbd": "1", "feature/hotplug/vif": "1",
                "data/updated": "1"}
        keys.update(("attr/PVAddons/%sVersion" % part.capitalize(), AGENT_VERSION[part]) for part in AGENT_VERSION)
        keys.update(("control/" + feature, value) for feature, value in AGENT_FEATURES.items())
        for device, family, index, address in self._system_addresses(vm, header["state"].get("network")):
            keys["attr/vif/%s/%s/%d" % (device, family, index)] = address
        return keys

    def _system_addresses(self, vm, network):
        """[(VIF device, "ipv4"|"ipv6", n, address)] of the interfaces ``network`` configures:
        static addresses as configured, a DHCP one from a documentation range (fixed per VM)."""
        record = self.db.get("VM", vm)
        host = int(hashlib.md5(record["uuid"].encode()).hexdigest(), 16) % 250 + 2
        interfaces = list((network or {}).get("interfaces") or [])
        out = []
        vifs = sorted((self.db.get("VIF", vif) for vif in record["VIFs"]), key=lambda r: r["device"])
        for position, vif in enumerate(vifs):
            device = vif["device"]
            config = _interface_of(interfaces, vif, position)
            if config is None:
                continue
            ipv4 = [address.split("/")[0] for address in config.get("addresses", []) if ":" not in address]
            ipv6 = [address.split("/")[0] for address in config.get("addresses", []) if ":" in address]
            if config.get("dhcp4"):
                index = int(device) if device.isdigit() else 0
                ipv4.append("%s.%d" % (NETWORK_PREFIXES[index % len(NETWORK_PREFIXES)], host))
            out.extend((device, "ipv4", n, address) for n, address in enumerate(ipv4))
            out.extend((device, "ipv6", n, address) for n, address in enumerate(ipv6))
        return out


def _metrics_of_xenstore(store):
    """VM_guest_metrics fields from an agent's xenstore keys, as xapi_guest_agent.ml reads them."""
    os_version = {field: store[key] for key, field in XAPI_OS_VERSION if key in store}
    drivers = {}
    for field in ("major", "minor", "micro", "build"):
        key = "attr/PVAddons/%sVersion" % field.capitalize()
        if key in store:
            drivers[field] = store[key]
    networks = {}
    addresses = sorted((key.split("/") for key in store if key.startswith("attr/vif/")),
                       key=lambda parts: (parts[2], parts[3], int(parts[4])))
    for _, _, device, family, index in addresses:
        value = store["attr/vif/%s/%s/%s" % (device, family, index)]
        networks["%s/%s/%s" % (device, family, index)] = value
        if family == "ipv4" and index == "0":
            networks["%s/ip" % device] = value
    other = {key[len("control/"):]: value for key, value in store.items() if key.startswith("control/")}

    def tristate(key):
        return {"1": "yes", "0": "no"}.get(store.get(key), "unspecified")
    return dict(os_version=os_version, PV_drivers_version=drivers, networks=networks, other=other,
                can_use_hotplug_vbd=tristate("feature/hotplug/vbd"),
                can_use_hotplug_vif=tristate("feature/hotplug/vif"))


def _interface_of(interfaces, vif, position):
    """The configured interface of a NIC: by MAC, else by its name (eth<device>), else the
    only configured interface belongs to the first NIC."""
    mac = (vif["MAC"] or "").lower()
    for config in interfaces:
        if mac and (config.get("mac") or "").lower() == mac:
            return config
    for config in interfaces:
        if config.get("name") == "eth%s" % vif["device"] and not config.get("mac"):
            return config
    if position == 0 and len(interfaces) == 1 and not interfaces[0].get("mac"):
        return interfaces[0]
    return None


def _xs_uname(uname):
    """XenServer's updated kernel for a vendor one: 2.6.18-53.el5xen -> 2.6.18-53.el5.xs4.1.0xen."""
    match = re.match(r"^(.*?)(xenU|xen)$", uname)
    if match:
        return match.group(1) + XS_KERNEL_TAG + match.group(2)
    return uname + XS_KERNEL_TAG


def _install_xs_kernel(files, uname):
    """xs-tools.iso on RHEL/CentOS: XenServer's kernel, made the grub default."""
    current = uname
    if not current or current == "unknown":
        return
    new = _xs_uname(current if XS_KERNEL_TAG not in current else current.replace(XS_KERNEL_TAG, ""))
    if "/boot/vmlinuz-%s" % new in files:
        return
    initrd = "initrd-%s.img" % new
    files["/boot/vmlinuz-%s" % new] = _kernel_file(new)
    files["/boot/%s" % initrd] = "initrd for %s\n" % new
    config = next((path for path in GRUB_CONFIGS if path in files), "/boot/grub/menu.lst")
    release = files.get("/etc/redhat-release", "Linux").splitlines()[0]
    title = "CentOS" if release.startswith("CentOS") else \
        "Red Hat Enterprise Linux Server" if release.startswith("Red Hat") else "Linux"
    _, entries = _parse_grub(files.get(config, ""))
    text = "default=0\ntimeout=5\n" + _grub_entry(title, new, initrd)
    for entry in entries:
        text += "title %s\n\troot (hd0,0)\n\tkernel %s%s\n" % (
            entry["title"], entry["kernel"], (" " + entry["args"]) if entry["args"] else "")
        if entry["initrd"]:
            text += "\tinitrd %s\n" % entry["initrd"]
    files[config] = text


def _static_address(files):
    """eth0's address when an installed system configures it statically, else None."""
    for path in IFCFG_ETH0.values():
        values = dict(line.split("=", 1) for line in files.get(path, "").splitlines() if "=" in line)
        if values.get("BOOTPROTO", "").strip("'\"") == "static" and values.get("IPADDR"):
            return values["IPADDR"].strip("'\"")
    return None


def _os_version(files, uname):
    """os_version as xe-guest-utilities reports it (xe-linux-distribution)."""
    out = {"name": "Linux", "distro": "linux", "major": "", "minor": "", "uname": uname}
    if "/etc/redhat-release" in files:
        name = files["/etc/redhat-release"].splitlines()[0]
        match = re.search(r"release (\d+)(?:\.(\d+))?(?:.*Update (\d+))?", name)
        out.update(name=name, distro="centos" if name.startswith("CentOS") else
                   "rhel" if name.startswith("Red Hat") else "linux")
        if match:
            out.update(major=match.group(1), minor=match.group(2) or match.group(3) or "0")
    elif "/etc/SuSE-release" in files:
        lines = files["/etc/SuSE-release"].splitlines()
        values = dict(line.replace(" ", "").split("=", 1) for line in lines[1:] if "=" in line)
        out.update(name=lines[0], distro="sles", major=values.get("VERSION", ""),
                   minor=values.get("PATCHLEVEL", "0"))
    elif "/etc/debian_version" in files:      # identify_debian: "Debian <first line>"
        version = files["/etc/debian_version"].splitlines()[0].strip()
        major, _, minor = version.partition(".")
        out.update(name="Debian %s" % version, distro="debian", major=major, minor=minor or "0")
    return out
