#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_boot
short_description: Boot settings of a XenServer VM (PV bootloader, kernel args, install repository, HVM boot order)
version_added: 0.1.0
description:
  - Sets how a VM boots. For a PV VM, the bootloader (C(eliloader) to install, C(pygrub)
    afterwards, or none to boot a kernel from dom0), its arguments, the kernel command line,
    and the C(install-repository), C(install-distro) and C(install-arch) keys eliloader reads
    from C(other_config). For an HVM VM, the boot order and the firmware.
  - Only the options given are changed. In C(other_config) and C(HVM_boot_params) only the keys
    named change (one key at a time, never the whole map).
  - Options of the other boot kind fail the task (PV options on an HVM VM and HVM options on a
    PV VM), before anything is changed.
  - Changing the boot settings of a running VM is allowed; they take effect when it next boots,
    and the result says so with RV(reboot_required).
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes
  - xenserver.provisioning.vm_identity
attributes:
  check_mode:
    details:
      - In check mode a VM named by O(name) that does not exist is the VM an earlier task of the
        run would create (M(xenserver.provisioning.vm) creates nothing in check mode); every
        option given is reported as a change (C(changed=true), RV(boot) empty, since the VM's boot
        kind comes from its template) and C(msg) starts with C(the VM does not exist yet (check mode)).
        A VM named by O(uuid), and a template (O(template=true)), must exist.
options:
  template:
    description:
      - Change a custom template rather than a VM (then O(name) or O(uuid) name the template). Built-in templates are refused (clone them first).
    type: bool
    default: false
  pv_bootloader:
    description:
      - The PV bootloader. V(eliloader) installs from O(install_repository); V(pygrub) boots the
        kernel installed on the VM's bootable disk; V(none) (or an empty string) boots O(pv_kernel)
        and O(pv_ramdisk) from dom0.
    type: str
    choices: [pygrub, eliloader, none, ""]
    aliases: [PV_bootloader]
  pv_bootloader_args:
    description:
      - Arguments for the bootloader, for example C(--kernel /boot/vmlinuz-xen --ramdisk /boot/initrd-xen)
        (SLES after installation). An empty string clears them.
    type: str
    aliases: [PV_bootloader_args]
  pv_args:
    description:
      - The guest kernel's command line, for example C(console=xvc0 ks=http://192.0.2.1/ks.cfg).
    type: str
    aliases: [PV_args]
  pv_kernel:
    description: Path in dom0 of the kernel to boot with O(pv_bootloader=none).
    type: str
    aliases: [PV_kernel]
  pv_ramdisk:
    description: Path in dom0 of the ramdisk to boot with O(pv_bootloader=none).
    type: str
    aliases: [PV_ramdisk]
  install_repository:
    description:
      - C(other_config:install-repository), where eliloader fetches the installer from.
      - One of C(http://host/path), C(https://host/path), C(ftp://host/path), C(nfs:server:/path),
        C(nfs://server/path) or C(cdrom). Anything else fails the task, naming the value.
      - An empty string removes the key.
    type: str
  install_distro:
    description:
      - C(other_config:install-distro), overriding the template's. An empty string removes the key.
    type: str
    choices: [rhlike, sleslike, debianlike, pygrub, ""]
  install_arch:
    description:
      - C(other_config:install-arch), overriding the template's. An empty string removes the key.
    type: str
    choices: [i386, x86_64, ""]
  hvm_boot_order:
    description:
      - C(HVM_boot_params:order) of an HVM VM, the devices tried in turn, for example V(cdn).
      - C(c) is the disk, C(d) the CD/DVD drive, C(n) the network and C(a) the floppy; each letter at most once.
    type: str
    aliases: [boot_order]
  hvm_firmware:
    description:
      - C(HVM_boot_params:firmware) of an HVM VM. A guest installed for one firmware does not boot
        with the other.
    type: str
    choices: [bios, uefi]
"""

EXAMPLES = r"""
- name: Install CentOS 5 over HTTP with a kickstart file
  xenserver.provisioning.vm_boot:
    name: centos01
    pv_bootloader: eliloader
    install_repository: http://192.0.2.1/centos/5/os/x86_64
    install_arch: x86_64
    pv_args: console=xvc0 ks=http://192.0.2.1/ks/centos01.cfg

- name: SLES 10 SP1 round 2 - boot the installed kernel with pygrub
  xenserver.provisioning.vm_boot:
    name: sles01
    pv_bootloader: pygrub
    pv_bootloader_args: --kernel /boot/vmlinuz-xen --ramdisk /boot/initrd-xen
  register: boot

- name: Network first, then disk, on an HVM VM
  xenserver.provisioning.vm_boot:
    name: rhel9-01
    hvm_boot_order: ndc
    hvm_firmware: uefi

- name: Installation done - forget the repository
  xenserver.provisioning.vm_boot:
    name: centos01
    install_repository: ""
"""

RETURN = r"""
boot:
  description:
    - The VM's boot settings after the change (as they would be, in check mode).
    - Empty in check mode for a VM that does not exist yet.
  returned: success
  type: dict
  sample:
    hvm: false
    PV_bootloader: eliloader
    PV_bootloader_args: ""
    PV_args: console=xvc0 ks=http://192.0.2.1/ks/centos01.cfg
    PV_kernel: ""
    PV_ramdisk: ""
    HVM_boot_policy: ""
    HVM_boot_params: {}
    install_repository: http://192.0.2.1/centos/5/os/x86_64
    install_distro: rhlike
    install_arch: x86_64
    install_round: null
reboot_required:
  description: True when settings changed on a VM that is not halted; they take effect at its next boot.
  returned: success
  type: bool
power_state:
  description: The VM's power state.
  returned: success
  type: str
  sample: halted
changes:
  description: What changed; C(fields) names VM fields and C(other_config:<key>) / C(HVM_boot_params:<key>) map keys.
  returned: success
  type: dict
  sample: {fields: [PV_args, other_config:install-repository], actions: [], needs_halt: []}
"""

import re

from ansible_collections.xenserver.provisioning.plugins.module_utils._module import XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._profiles import (
    BOOTLOADERS,
    INSTALL_ARCHES,
    INSTALL_DISTROS,
    ProfileError,
    validate_repository,
)
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import boot_facts, not_created_yet, require_vm

# option -> VM field (set with VM.set_<field>)
PV_FIELDS = (("pv_bootloader", "PV_bootloader"), ("pv_bootloader_args", "PV_bootloader_args"),
             ("pv_args", "PV_args"), ("pv_kernel", "PV_kernel"), ("pv_ramdisk", "PV_ramdisk"))
# option -> (map field, key); map keys change one by one with add_to_/remove_from_
PV_KEYS = (("install_repository", ("other_config", "install-repository")),
           ("install_distro", ("other_config", "install-distro")),
           ("install_arch", ("other_config", "install-arch")))
HVM_KEYS = (("hvm_boot_order", ("HVM_boot_params", "order")),
            ("hvm_firmware", ("HVM_boot_params", "firmware")))
PV_OPTIONS = tuple(option for option, _target in PV_FIELDS + PV_KEYS)
HVM_OPTIONS = tuple(option for option, _target in HVM_KEYS)
BOOT_ORDER = re.compile(r"^[acdn]+$")
# The boot settings compared with for a VM that does not exist yet (check mode): none of them.
UNKNOWN_BOOT = dict([(field, None) for _option, field in PV_FIELDS], other_config={}, HVM_boot_params={})


def wanted_values(params):
    """{option: value} of the options given, normalised; ValueError naming a bad value."""
    wanted = dict((o, params[o]) for o in PV_OPTIONS + HVM_OPTIONS if params[o] is not None)
    if wanted.get("pv_bootloader") == "none":
        wanted["pv_bootloader"] = ""  # XenAPI's "no bootloader"
    if wanted.get("install_repository"):
        validate_repository(wanted["install_repository"])
    order = wanted.get("hvm_boot_order")
    if order is not None and (not BOOT_ORDER.match(order) or len(set(order)) != len(order)):
        raise ValueError("hvm_boot_order '%s' is not a boot order: use each of c (disk), d (CD/DVD), "
                         "n (network), a (floppy) at most once, for example 'cdn'" % order)
    return wanted


def check_kind(label, record, wanted):
    """PV options on an HVM VM, or HVM options on a PV VM, fail before anything changes."""
    if record["HVM_boot_policy"]:
        wrong = [o for o in PV_OPTIONS if o in wanted]
        if wrong:
            raise ValueError("%s boots HVM (HVM_boot_policy '%s'): PV options do not apply to it (given: %s); "
                             "use hvm_boot_order / hvm_firmware" % (label, record["HVM_boot_policy"], ", ".join(wrong)))
    else:
        wrong = [o for o in HVM_OPTIONS if o in wanted]
        if wrong:
            raise ValueError("%s is a PV VM (PV_bootloader '%s'): HVM options do not apply to it (given: %s)"
                             % (label, record["PV_bootloader"], ", ".join(wrong)))


def _set_field(client, ref, field, value):
    return lambda: client.call("VM.set_%s" % field, ref, value)


def _set_key(client, ref, field, key, present, value):
    """A map key changes on its own (add_to_/remove_from_): the other keys stay as they are."""
    def step():
        if present:
            client.call("VM.remove_from_%s" % field, ref, key)
        if value is not None:
            client.call("VM.add_to_%s" % field, ref, key, value)
    return step


def plan_boot(client, ref, record, wanted):
    """The Plan that brings ``record`` to the options ``wanted``: a step per field or map key,
    in name order; a key wanted "" is removed."""
    entries = [(field, None, option) for option, field in PV_FIELDS]
    entries += [("%s:%s" % target, target, option) for option, target in PV_KEYS + HVM_KEYS if option in wanted]
    plan = Plan()
    for name, target, option in sorted(entries):
        if target is None:
            plan.field(name, record[name], wanted.get(option), _set_field(client, ref, name, wanted.get(option)))
            continue
        field, key = target
        current, value = record[field].get(key), wanted[option]
        step = _set_key(client, ref, field, key, key in record[field], value or None)
        if value == "":
            plan.removal(name, current, step)
        else:
            plan.field(name, current, value, step)
    return plan


def after(record, changes):
    """The record as it is once ``changes`` are applied (for the result and the checks)."""
    new = dict(record, other_config=dict(record["other_config"]), HVM_boot_params=dict(record["HVM_boot_params"]))
    for name, value in changes.after.items():
        if ":" in name:
            field, key = name.split(":", 1)
            if value is None:
                new[field].pop(key, None)
            else:
                new[field][key] = value
        else:
            new[name] = value
    return new


def run(xs):
    p = xs.params
    try:
        wanted = wanted_values(p)
    except (ValueError, ProfileError) as err:
        xs.fail(str(err), error_code=getattr(err, "code", None) or "INVALID_INPUT")
    client = xs.client
    kind = "template" if p["template"] else "VM"
    ref, record = require_vm(client, name=p["name"], uuid=p["uuid"], check_mode=xs.check_mode, template=p["template"])
    if ref is None:
        # A VM an earlier task would create: every option given is a change (its kind is the template's).
        boot = plan_boot(client, ref, UNKNOWN_BOOT, wanted)
        would = "set %s" % ", ".join(sorted(boot.changes.after)) if boot.changed else "change nothing"
        return xs.result(boot.changes, msg=not_created_yet(p["name"], would),
                         boot={}, reboot_required=False, power_state="halted")
    label = "%s '%s'" % (kind, record["name_label"])
    if p["template"] and (record["is_default_template"] or record["other_config"].get("default_template") == "true"):
        xs.fail("%s is a built-in template; clone it and change the copy" % label, error_code="TEMPLATE_NOT_MANAGED")
    try:
        check_kind(label, record, wanted)
    except ValueError as err:
        xs.fail(str(err), error_code="INVALID_INPUT")
    boot = plan_boot(client, ref, record, wanted)
    new = after(record, boot.changes)
    if not new["HVM_boot_policy"] and new["PV_bootloader"] == "" and not new["PV_kernel"] \
            and ("pv_bootloader" in wanted or "pv_kernel" in wanted):
        xs.fail("%s would have no bootloader and no PV_kernel: with pv_bootloader none, set pv_kernel "
                "(and pv_ramdisk) to a kernel in dom0" % label, error_code="INVALID_INPUT")
    if new["PV_bootloader"] == "eliloader" and not new["other_config"].get("install-repository") \
            and ("pv_bootloader" in wanted or "install_repository" in wanted):
        xs.module.warn("%s boots with eliloader but has no install_repository; it will fail to start "
                       "(BOOTLOADER_FAILED) until one is set" % label)
    boot.apply(xs.check_mode)
    return xs.result(
        boot.changes,
        boot=boot_facts(new),
        reboot_required=boot.changed and record["power_state"] != "Halted",
        power_state=record["power_state"].lower(),
    )


def main():
    xs = XenServerModule(
        identifies_vm=True,
        argument_spec=dict(
            template=dict(type="bool", default=False),
            pv_bootloader=dict(type="str", choices=list(BOOTLOADERS) + ["none", ""], aliases=["PV_bootloader"]),
            pv_bootloader_args=dict(type="str", aliases=["PV_bootloader_args"]),
            pv_args=dict(type="str", aliases=["PV_args"]),
            pv_kernel=dict(type="str", aliases=["PV_kernel"]),
            pv_ramdisk=dict(type="str", aliases=["PV_ramdisk"]),
            install_repository=dict(type="str"),
            install_distro=dict(type="str", choices=list(INSTALL_DISTROS) + [""]),
            install_arch=dict(type="str", choices=list(INSTALL_ARCHES) + [""]),
            hvm_boot_order=dict(type="str", aliases=["boot_order"]),
            hvm_firmware=dict(type="str", choices=["bios", "uefi"]),
        ),
    )
    xs.run(run)


if __name__ == "__main__":
    main()
