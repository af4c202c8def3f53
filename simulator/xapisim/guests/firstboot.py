"""cloud-init at boot of an HVM disk's system that has it (the NoCloud datasource).

cloud-init's ds-identify looks at every block device for a filesystem labelled ``cidata``:
here every attached disk and CD VDI, by userdevice (cloudinit.read_seed tells a seed). The
first seed found is applied (cloudinit.apply) once per instance-id: the last instance-id is
kept in the system's own state on its disk, so a clone of the disk carries it, and a new
instance-id (a new seed) runs cloud-init again. What it applied (hostname, network, users,
files, status and errors) goes into that state; the guest view and the agent report it.
Without any seed ds-identify disables cloud-init ("disabled") and the image's own network
configuration applies (DHCP on the first NIC, as cloud images ship).
"""
from . import cloudinit

# The distro's default user (cloud-init's system_info default_user per distro).
DEFAULT_USERS = {"rocky": "rocky", "rhel": "cloud-user", "ubuntu": "ubuntu", "debian": "debian",
                 "sles": "sles"}


class CloudInitGlue:
    def _nics(self, vm):
        """The guest's NICs in device order, [(name, MAC)], as the kernel names them."""
        found = []
        for vif in self.db.get("VM", vm)["VIFs"]:
            record = self.db.get("VIF", vif)
            device = record["device"]
            found.append((int(device) if device.isdigit() else 99, "eth%s" % device, record["MAC"]))
        return [(name, mac) for _, name, mac in sorted(found)] or [("eth0", None)]

    def _find_seed(self, vm):
        """The first cidata volume among the VM's attached VDIs (by userdevice), or None."""
        vbds = []
        for vbd in self.db.get("VM", vm)["VBDs"]:
            record = self.db.get("VBD", vbd)
            if not record["empty"] and self.db.exists("VDI", record["VDI"]):
                device = record["userdevice"]
                vbds.append((int(device) if device.isdigit() else 99, record["VDI"]))
        for _, vdi in sorted(vbds):
            handle = self._vdi_open(vdi)
            if handle is None:
                continue
            with handle:
                seed = cloudinit.read_seed(handle)
            if seed is not None:
                return seed
        return None

    def _run_cloud_init(self, vm, header):
        """Run cloud-init on ``header``'s system (its ``state`` is updated in place); returns
        its power_state request, or None."""
        state = header.setdefault("state", {})
        if not header.get("cloud_init"):
            state.setdefault("network", _dhcp_first(self._nics(vm)))
            return None
        previous = (state.get("cloud_init") or {}).get("instance_id")
        seed = self._find_seed(vm)
        if seed is None:
            state["cloud_init"] = dict(state.get("cloud_init") or {}, status="disabled", datasource=None)
            state.setdefault("network", _dhcp_first(self._nics(vm)))
            return None
        default_user = DEFAULT_USERS.get(header.get("os", {}).get("ID"), "cloud-user")
        result = cloudinit.apply(seed, previous, nics=self._nics(vm), default_user=default_user)
        if not result["ran"]:
            return None
        state["cloud_init"] = {
            "instance_id": result["instance_id"], "status": result["status"],
            "errors": list(result["errors"]), "datasource": "NoCloud",
            "users": [user["name"] for user in result["users"]],
            "write_files": list(result["write_files"]), "runcmd": list(result["runcmd"]),
            "packages": list(result["packages"])}
        if result["hostname"]:
            state["hostname"] = result["hostname"]
        if result["fqdn"]:
            state["fqdn"] = result["fqdn"]
        if result["network"] is not None:
            state["network"] = result["network"]
        return result["power_state"]


def _dhcp_first(nics):
    name, mac = nics[0]
    return {"interfaces": [{"name": name, "mac": mac, "dhcp4": True, "dhcp6": False, "addresses": [],
                            "gateway4": None, "gateway6": None, "nameservers": [], "search": []}]}
