# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""Where an install stands (install_phase): the phase of a VM and the step that comes next.

The install roles run their release family's sequence top to bottom, each step guarded by the
phase this computes; the phase is read again after every step that changed the VM. It is
decided from what the pool shows (power state, boot settings, the drives, what the guest
reports) and from the marker the role leaves in the VM's other_config (MARKER_KEY), because
some states look alike from outside: a PV VM halted with pygrub after an install the role saw
finish, and one whose installer was cut short, both show an untouched-looking halted VM.

Pure: no XenAPI, no Ansible. ``phase_of`` takes vm_facts (plugins/module_utils/_vm.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

ROUTE_PV = "eliloader"
ROUTE_ISO = "iso"

# other_config key the install roles keep on the VM, and its values in the order they come.
MARKER_KEY = "xenserver.provisioning:install"
CREATED = "created"          # the role made this VM (ISO route: an HVM VM of the role's)
INSTALLER = "installer"      # the role started the installer
INSTALLED = "installed"      # the role saw the installer power the VM off (its install ended)
CUT_SHORT = "cut-short"      # pygrub found no system on the disk: the install is done again
MARKERS = (CREATED, INSTALLER, INSTALLED, CUT_SHORT)

# other_config key of a VDI that is a VM's answer-file volume (vm_answer_drive)
ANSWER_DRIVE_KEY = "xenserver.provisioning:answer-drive"

# The PV installer's kernel argument naming the answer file: on the kernel line only while it installs.
ANSWER_ARG = re.compile(r"(^|\s)(ks|autoyast)=\S+")

# phase -> the next step, as the roles name their steps
NEXT_STEP = {
    "absent": "create the VM",
    "foreign": "none: the VM was not made by an install role; remove it or pick another name",
    "resume": "resume the VM (paused or suspended)",
    "install": "start the installer and wait until it powers the VM off",
    "installing": "wait until the installer powers the VM off",
    "round2": "start SLES's second round (eliloader finds the installed kernel, pygrub boots it)",
    "check_disk": "boot the disk with pygrub; a disk without a system means the install was cut short: install again",
    "eject": "eject the installer ISO, detach the answer drive, boot from the disk",
    "boot": "boot the installed system",
    "booted": "the tools and the checks of the installed system",
}
PHASES = tuple(NEXT_STEP)
# phases after which an install (installer run) is still to come
INSTALL_AHEAD = ("absent", "install", "check_disk")


def phase_of(vm, route):
    """(phase, reason) of the VM described by ``vm`` (vm_facts, or None when there is none)."""
    if vm is None:
        return "absent", "no VM of that name"
    boot = vm["boot"]
    marker = vm["other_config"].get(MARKER_KEY, "")
    power = vm["power_state"]
    if route == ROUTE_PV:
        if boot["hvm"] or boot["PV_bootloader"] not in ("eliloader", "pygrub"):
            return "foreign", ("not a PV guest booted by eliloader or pygrub (HVM: %s, PV_bootloader: '%s')"
                               % (boot["hvm"], boot["PV_bootloader"]))
    elif not boot["hvm"]:
        return "foreign", "a PV VM (PV_bootloader '%s'), not an HVM guest" % boot["PV_bootloader"]
    elif marker not in MARKERS:
        return "foreign", "an HVM VM not made by an install role (no other_config %s)" % MARKER_KEY
    if power in ("paused", "suspended"):
        return "resume", power
    if route == ROUTE_PV:
        return _pv_phase(vm, boot, marker, power)
    return _iso_phase(vm, marker, power)


def _pv_phase(vm, boot, marker, power):
    eliloader = boot["PV_bootloader"] == "eliloader"
    if power == "halted":
        if marker == CUT_SHORT or (eliloader and (boot["install_round"] or "1") != "2"):
            return "install", "halted, the installer still to run"
        if eliloader:
            return "round2", "halted between SLES's two rounds"
        if marker == INSTALLED:
            return "boot", "halted after the install the role saw finish"
        return "check_disk", "halted with pygrub, an install the role did not see finish"
    if vm["os_version"]:
        return "booted", "the guest reports %s" % vm["os_version"].get("name", "its OS")
    if eliloader or ANSWER_ARG.search(boot["PV_args"] or ""):
        return "installing", "running the installer"
    return "booted", "running the installed system (no report before the VM Tools run)"


def _iso_phase(vm, marker, power):
    if power == "halted":
        if marker != INSTALLED:
            return "install", "halted, the installer still to run (or run again: its end was not seen)"
        if install_media(vm):
            return "eject", "halted after the install, its media still attached"
        return "boot", "halted after the install, before its first boot"
    if marker == INSTALLED:
        return "booted", "running the installed system"
    if marker == INSTALLER:
        return "installing", "running the installer"
    return "foreign", "running, but the role has not started its installer"


def install_media(vm):
    """What of the install is still attached: an ISO in a drive, the answer drive, a CD first in the boot order."""
    media = ["CD %s" % cd["iso"] for cd in vm["cdroms"] if cd.get("iso")]
    media += ["answer drive %s" % disk["userdevice"] for disk in vm["disks"] if disk.get("answer_drive")]
    if (vm["boot"]["HVM_boot_params"] or {}).get("order", "c")[:1] == "d":
        media.append("boot order %s" % vm["boot"]["HVM_boot_params"]["order"])
    return media
