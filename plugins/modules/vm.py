#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm
short_description: Create, configure and remove XenServer VMs
version_added: 0.1.0
description:
  - Creates a VM from a template (or from a halted VM) the way C(xe vm-install) does, brings an
    existing VM to the wanted name, description, memory, vCPUs, disks, networks, C(other_config)
    entries and home server, and removes a VM with the disks only it owns.
  - Creating clones the template (or, with O(full_copy), copies it), places the template's
    provisioning disks (C(other_config:disks)) on O(sr) or the pool's default SR, provisions them
    (which also makes the clone a VM, C(is_a_template=false)) and configures the rest. Every
    name (template, SRs, networks, home server) and every value is checked before the clone, so
    bad input changes nothing; if a later step fails the half-made VM is removed again.
  - Changes XenServer makes on a running VM are made live (vCPUs up to the VM's C(VCPUs_max),
    memory within its static range, moving a NIC to another network, adding disks and NICs).
    Changes that need the VM halted (O(vcpus_max), O(memory_max_mb), growing a disk, a new MAC)
    fail, listing those fields, before anything changes, unless O(restart_if_needed) allows
    the module to shut the VM down, apply them and start it again.
  - The power state is otherwise left alone; use M(xenserver.provisioning.vm_power) to start
    the VM. C(xenstore_data) is the job of M(xenserver.provisioning.vm_xenstore_data).
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes
options:
  name:
    description:
      - The VM's name. Required to create a VM.
      - Fails, naming their uuids, if several VMs have this name (templates and snapshots are
        not counted); use O(uuid) then.
      - With O(uuid), the VM is renamed to O(name).
    type: str
  uuid:
    description:
      - The uuid of an existing VM.
    type: str
  state:
    description:
      - V(present) creates the VM if needed and configures it.
      - V(absent) removes the VM and the disks only it owns (see O(keep_disks), O(force)).
    type: str
    choices: [present, absent]
    default: present
  template:
    description:
      - The template to create the VM from (its name). If no template has this name, a halted
        VM with this name is used (cloned, or copied with O(full_copy)).
      - A name that matches neither fails with C(error_code=TEMPLATE_NOT_FOUND), listing the
        pool's template names nearest to it (M(xenserver.provisioning.vm_info) with
        O(xenserver.provisioning.vm_info#module:templates=true) lists them all).
      - Only used when the VM does not exist yet.
    type: str
  template_uuid:
    description:
      - The uuid of the template (or halted VM) to create the VM from.
    type: str
  full_copy:
    description:
      - Create the VM with a full copy (C(VM.copy)) instead of a fast copy-on-write clone
        (C(VM.clone)). A copy's disks do not depend on the source's. The source's disks are
        copied to O(sr) when it is set.
    type: bool
    default: false
  sr:
    description:
      - The SR (name or uuid) for the disks the module creates, that is the template's provisioning
        disks, new entries of O(disks) without their own C(sr), and the disks of a O(full_copy).
      - Default is the pool's default SR.
      - Existing disks are never moved.
    type: str
  description:
    description: The VM's description (C(name_description)).
    type: str
  memory_mb:
    description:
      - The memory the VM runs with, in MiB (C(memory_dynamic_min) = C(memory_dynamic_max)).
      - A running VM is changed live as long as the value stays within its static range; if it
        exceeds O(memory_max_mb) (the static maximum) the VM must be halted.
      - A new VM gets exactly this much (static maximum included) unless O(memory_max_mb) says more.
    type: int
  memory_max_mb:
    description:
      - The static maximum of memory in MiB, the ceiling up to which O(memory_mb) can later grow
        live. Changing it needs the VM halted.
      - If not set, an existing VM's static maximum is only ever raised (to O(memory_mb)).
    type: int
  vcpus:
    description:
      - The number of vCPUs (C(VCPUs_at_startup)). A running VM is changed live (hot-plug)
        up to O(vcpus_max).
    type: int
  vcpus_max:
    description:
      - The most vCPUs the VM can have (C(VCPUs_max)), the ceiling for live changes of O(vcpus).
        Changing it needs the VM halted.
      - If not set, an existing VM's maximum is only ever raised (to O(vcpus)); a new VM's is O(vcpus).
    type: int
  disks:
    description:
      - The VM's disks, in userdevice order (CD drives do not count). The first entry is the
        VM's first disk, and so on. Entries past the VM's last disk are new disks.
      - Existing disks only grow; a smaller size fails, naming it. Disks the list does not
        name are left alone.
      - Growing a disk needs the VM halted; a new disk is hot-plugged into a running VM.
    type: list
    elements: dict
    suboptions:
      size_gb:
        description: Size in GiB.
        type: int
      size_mb:
        description: Size in MiB.
        type: int
      sr:
        description:
          - The SR (name or uuid) for a new disk (default O(sr)). Not compared for an existing disk.
        type: str
      name:
        description: The disk's name (C(name_label)); default for a new disk is C(<vm name> disk <index>).
        type: str
  networks:
    description:
      - The VM's NICs; entry I(i) is the VIF with device I(i).
      - Missing VIFs are created (hot-plugged into a running VM). A VIF on another network is
        moved to the wanted one (live). A different MAC needs a new VIF and so a halted VM.
        VIFs the list does not name are left alone.
    type: list
    elements: dict
    suboptions:
      network:
        description: The network's name, uuid or bridge (for example C(xenbr0)).
        type: str
        required: true
      mac:
        description: The MAC address; default is one XenServer generates.
        type: str
  other_config:
    description:
      - Entries of the VM's C(other_config) map to set. Only the keys named change; a key with
        the value V(null) is removed.
      - Values are strings; V(true)/V(false) become C("true")/C("false").
    type: dict
  other_config_exclusive:
    description:
      - Remove every C(other_config) key not named in O(other_config).
      - This includes keys XenServer and its tools keep there (C(mac_seed),
        C(base_template_name), C(install-methods), ...); use with care.
    type: bool
    default: false
  home_server:
    description:
      - The host the VM prefers to start on (C(affinity)), given as a host name, uuid or address.
        An empty string clears it.
    type: str
  restart_if_needed:
    description:
      - When the VM is running and a change needs it halted (see the description), shut it down
        cleanly (hard with O(force)), apply every change and start it again.
      - Without it such changes fail, listing the fields, before anything is changed.
    type: bool
    default: false
  force:
    description:
      - With O(state=absent), hard-shut-down a VM that is not halted before removing it.
        Without it, removing a running, paused or suspended VM fails.
      - With O(restart_if_needed), do a hard shutdown at once instead of a clean one.
    type: bool
    default: false
  hard_shutdown_fallback:
    description:
      - With O(restart_if_needed), do a hard shutdown when the guest refuses a clean one or does
        not finish it within O(shutdown_timeout).
    type: bool
    default: false
  shutdown_timeout:
    description: Seconds to wait for a shutdown or start the module makes.
    type: int
    default: 120
  keep_disks:
    description:
      - With O(state=absent), keep every disk of the VM; only the VM goes.
      - Without it, the disks only this VM owns are removed. Never removed are CD/ISO media, disks
        on an ISO library, sharable or read-only disks and disks another VM also uses.
    type: bool
    default: false
notes:
  - "Call economy: a VM created from a template with memory, vCPUs and one NIC costs 17 XenAPI
    calls (login and logout included); a run that changes nothing costs 5 at most."
  - "A new VM is named C(<name> [xenserver.provisioning: being created]) until it is complete
    and gets O(name) as the last step. A half-made VM left by a failed run is removed by the
    next run (or by O(state=absent)) before anything else, and a clone whose answer was lost on
    the network is found under that name instead of being made twice. See the collection's
    C(docs/reliability.md)."
seealso:
  - module: xenserver.provisioning.vm_info
  - module: xenserver.provisioning.vm_power
  - module: xenserver.provisioning.vm_xenstore_data
"""

EXAMPLES = r"""
- name: A VM from a template, on the pool's default SR
  xenserver.provisioning.vm:
    hostname: pool-master.example.com
    username: root
    password: "{{ xenserver_password }}"
    name: web01
    template: CentOS 5 (64-bit)
    description: web server
    memory_mb: 2048
    vcpus: 2
    disks:
      - size_gb: 20
      - size_gb: 50
        name: web01 data
    networks:
      - network: Pool-wide network associated with eth0
    other_config:
      install-repository: http://mirror.example.com/centos/5/os/x86_64
  register: web01

- name: More vCPUs for a running VM, live (up to its vcpus_max)
  xenserver.provisioning.vm:
    name: web01
    vcpus: 4

- name: Grow a disk of a running VM, restarting it for that
  xenserver.provisioning.vm:
    name: web01
    disks:
      - size_gb: 40
    restart_if_needed: true

- name: Remove one other_config key, leave the others
  xenserver.provisioning.vm:
    name: web01
    other_config:
      install-repository: null

- name: Remove the VM and the disks only it owns, shutting it down if needed
  xenserver.provisioning.vm:
    name: web01
    state: absent
    force: true
"""

RETURN = r"""
vm:
  description:
    - Facts of the VM after the run, as M(xenserver.provisioning.vm_info) returns them
      (C(memory_mb) there is the static maximum).
    - Empty after O(state=absent), and in check mode when the VM would be created.
  returned: always
  type: dict
  sample:
    name: web01
    uuid: 8d6a0a4e-8b0c-4ad2-a6b6-3b1d5e1a9d7c
    power_state: halted
    memory_mb: 2048
    vcpus: 2
    disks: [{userdevice: "0", size: 21474836480, name: "0", bootable: true}]
    networks: [{device: "0", mac: "00:16:3e:12:34:56", network: Pool-wide network associated with eth0}]
changes:
  description:
    - What the run changed (or would change in check mode).
    - C(fields) are the options that differed, C(actions) what was done besides setting them
      (create, provision, restart, destroy), C(needs_halt) the fields that needed the VM halted.
  returned: always
  type: dict
  sample:
    fields: [memory_mb, vcpus]
    actions: []
    needs_halt: []
removed_disks:
  description: The disks removed with the VM (uuid, name, size, userdevice).
  returned: when O(state=absent)
  type: list
  elements: dict
kept_disks:
  description: The disks of the removed VM that were kept, each with its C(reason).
  returned: when O(state=absent)
  type: list
  elements: dict
  sample: [{uuid: 2f0a6c3e-3b67-4c8e-9a0e-0d5b1f0f6f4b, name: xs-tools.iso, reason: CD/ISO media}]
"""

from ansible_collections.xenserver.provisioning.plugins.module_utils._module import XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._spec import vm_argument_spec
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm_lifecycle import run


def main():
    xs = XenServerModule(
        vm_argument_spec(),
        required_one_of=[("name", "uuid")],
        mutually_exclusive=[("template", "template_uuid")],
    )
    xs.run(run)


if __name__ == "__main__":
    main()
