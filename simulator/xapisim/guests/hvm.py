"""HVM firmware: an HVM domain (HVM_boot_policy set) boots what its disks and CD hold.

As SeaBIOS (firmware "bios") or OVMF (firmware "uefi") would, in the order of
``HVM_boot_params["order"]`` (xapi's default "cd"): ``c`` the disks (by userdevice), ``d`` the
CD drives, ``n`` the network (no PXE server answers in the simulator). A device boots when its
contents (``sim.vdi_store``, or an ISO library file) hold something bootable under this
firmware (xapisim.images.describe): a disk image with a BIOS boot loader (the MBR boot
signature) or an EFI one, an installer ISO with isolinux or an EFI boot loader. Under
enforced Secure Boot (xapisim.firmware.secureboot_allows) an unsigned EFI boot loader is
refused ("Access Denied") and the next device is tried. Nothing bootable: the domain keeps
running at the firmware's last message, as a real console shows it; it never reports an OS.

The console lines go into the guest's state (``console``), which ``xapisim guest`` shows.
A disk's system boots in BOOT_SECONDS; then cloud-init (cloudinit_glue.py) and the guest
agent (agent.py) run. An installer ISO hands over to isoinstall.py.
"""
import copy

from .. import firmware, images
from ..model import NULL_REF
from .pygrub import BOOT_SECONDS

DEFAULT_ORDER = "cd"
# What one HVM boot leaves in the guest's state (dropped at the next boot of any kind).
HVM_KEYS = ("firmware", "console", "system_vdi", "boot_device", "os", "hostname", "network",
            "cloud_init", "agent", "installer", "installed_on")
BANNER = {"bios": "SeaBIOS (version rel-1.16.3-xen)",
          "uefi": "BdsDxe: Xen HVM UEFI firmware (OVMF)"}
NO_BOOT = {"bios": "No bootable device.  Retrying in 60 seconds.",
           "uefi": "BdsDxe: No bootable option or device was found."}
DEVICE_NAMES = {("bios", "Disk"): "Hard Disk", ("bios", "CD"): "DVD/CD",
                ("uefi", "Disk"): "UEFI Xen PV Disk", ("uefi", "CD"): "UEFI QEMU DVD-ROM"}


class HvmFirmware:
    def hvm_boot(self, vm, record):
        """Run the firmware over the boot order; the VM is Running whatever it finds."""
        kind = firmware.firmware_of(record)
        state = self.state(vm)
        for key in HVM_KEYS + ("answer", "error", "uname", "kernel", "cmdline", "remaining"):
            state.pop(key, None)
        console = [BANNER[kind]]
        state.update(stage="firmware", loader=kind, firmware=kind, console=console)
        option = 0
        for letter in record["HVM_boot_params"].get("order", DEFAULT_ORDER):
            if letter == "n":
                option += 1
                console.append("PXE-E18: Server response timeout." if kind == "bios" else
                               'BdsDxe: failed to load Boot%04X "UEFI PXEv4": Not Found' % option)
                continue
            vbd_type = {"c": "Disk", "d": "CD"}.get(letter)
            if vbd_type is None:
                continue
            for vbd, vbd_record in self._hvm_devices(vm, vbd_type):
                option += 1
                name = DEVICE_NAMES[(kind, vbd_type)]
                desc = self._describe_vdi(vbd_record["VDI"])
                verdict = self._bootable(vm, kind, desc)
                if verdict == "ok":
                    if kind == "bios":
                        console.append("Booting from %s..." % name)
                    else:
                        entry = 'Boot%04X "%s %s"' % (option, name, vbd_record["userdevice"])
                        console.extend(["BdsDxe: loading " + entry, "BdsDxe: starting " + entry])
                    if desc["kind"] == "disk":
                        self._boot_system(vm, vbd_record, desc)
                    else:
                        self._iso_boot(vm, vbd_record, desc, kind)
                    self._changed()
                    return
                if kind == "bios":
                    console.append("Booting from %s..." % name)
                    console.append("Boot failed: not a bootable disk" if vbd_type == "Disk" else
                                   "Boot failed: Could not read from CDROM (code 0004)")
                else:
                    console.append('BdsDxe: failed to load Boot%04X "%s %s": %s'
                                   % (option, name, vbd_record["userdevice"], verdict))
        console.append(NO_BOOT[kind])
        state.update(stage="no-bootable-device")
        self._changed()

    def _hvm_devices(self, vm, vbd_type):
        """The VM's VBDs of one type that hold a VDI, by userdevice."""
        found = []
        for vbd in self.db.get("VM", vm)["VBDs"]:
            record = self.db.get("VBD", vbd)
            if record["type"] == vbd_type and not record["empty"] and record["VDI"] != NULL_REF:
                device = record["userdevice"]
                found.append((int(device) if device.isdigit() else 99, vbd, record))
        return [(vbd, record) for _, vbd, record in sorted(found)]

    def _bootable(self, vm, kind, desc):
        """"ok", or what OVMF says of a boot option it cannot start."""
        if desc is None:
            return "Not Found"
        if desc["kind"] == "iso" and desc["installer"] is None:
            return "Not Found"
        if not desc["boot"].get(kind):
            return "Not Found"
        if kind == "uefi" and not firmware.secureboot_allows(self.db, vm, desc["boot"].get("signed", False)):
            return "Access Denied"
        return "ok"

    def _boot_system(self, vm, vbd_record, header):
        """A disk's system: its kernel boots, userland is up after BOOT_SECONDS."""
        self.state(vm).update(stage="booting", boot_device=vbd_record["userdevice"],
                              system_vdi=vbd_record["VDI"], kernel="/boot/vmlinuz-%s" % header["kernel"],
                              uname=header["kernel"], os=dict(header["os"]), remaining=BOOT_SECONDS)
        self.state(vm)["console"].append("%s (kernel %s)" % (header["os"].get("PRETTY_NAME", "Linux"),
                                                             header["kernel"]))

    # --- the booted system: first boot (cloud-init), then the agent -------------------------
    def _system_up(self, vm):
        """The system on the HVM boot disk reached userland (database lock held): cloud-init,
        the hostname and network it leaves, then the agent reports. Returns a power_state
        request of cloud-init ({"mode": ...}) or None."""
        state = self.state(vm)
        vdi = state.get("system_vdi")
        header = self._describe_vdi(vdi) if vdi else None
        if header is None or header.get("kind") != "disk":
            return None
        before = copy.deepcopy(header)
        request = self._run_cloud_init(vm, header)
        system_state = header["state"]
        state.update(hostname=system_state.get("hostname", "localhost"),
                     network=system_state.get("network"), cloud_init=system_state.get("cloud_init"),
                     agent=bool(header.get("agent")))
        if header != before:
            self._write_header(vdi, header)
        self._console_login(vm, header)
        self._publish_system_metrics(vm, header)
        return request

    def _console_login(self, vm, header):
        state = self.state(vm)
        state["console"].append("%s login:" % header["state"].get("hostname", "localhost"))

    # --- VDI contents -----------------------------------------------------------------------
    def _describe_vdi(self, vdi):
        """images.describe of a VDI's contents (None: nothing there, or not an image)."""
        handle = self._vdi_open(vdi)
        if handle is None:
            return None
        with handle:
            return images.describe(handle)

    def _write_header(self, vdi, header):
        """The guest writes its system's state back onto its disk (contents survive, clone and
        export with the VDI)."""
        self.sim.vdi_store.put_bytes(self.db.get("VDI", vdi)["uuid"], images.disk_header(header))
