"""What runs inside a started VM: the boot path, the guest's xenstore, and a guest model.

One module per boot path, each rule in one place: core (hidden state, boot dispatch, the
domain's life and its xenstore, the guest thread), hvm (HVM firmware), pygrub, eliloader
(XenServer 4.1's installer loader), install (what an installer writes and does once it has
its answer file), isoinstall (an installer ISO under HVM: kickstart, AutoYaST), firstboot
(cloud-init's NoCloud at boot, around cloudinit's reader), agent (the guest agent:
VM_guest_metrics, xs-tools). ``Guests`` is them all together, one per simulator (``sim.guests``).
"""
from .agent import GuestAgent
from .core import GuestCore, guest_path
from .eliloader import EliloaderBoot
from .firstboot import CloudInitGlue
from .hvm import HvmFirmware
from .install import Installer, _answer_network  # noqa: F401  (tests parse answer files)
from .isoinstall import IsoInstaller
from .pygrub import PygrubBoot

__all__ = ["Guests", "guest_path"]


class Guests(EliloaderBoot, PygrubBoot, HvmFirmware, IsoInstaller, CloudInitGlue, Installer, GuestAgent,
             GuestCore):
    """The guests of one simulator."""
