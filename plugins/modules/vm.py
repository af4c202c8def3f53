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
    Changes that need the VM halted (O(vcpus_max), O(memory_max_mb), growing a disk, a new MAC,
    O(firmware), O(secure_boot), O(vtpm)) fail, listing those fields, before anything changes,
    unless O(restart_if_needed) allows the module to shut the VM down, apply them and start it
    again.
  - One task makes a whole VM, as the peers' modules do (amazon.aws.ec2_instance,
    community.vmware.vmware_guest) - O(xenstore_data) sets its vm-data keys, O(power_state)
    starts (or stops, suspends, pauses) it and O(wait_for) waits until it runs, reports an IP,
    its guest agent or its PV drivers. A new VM gets its vm-data keys while it is made, in one
    call; an existing one key by key, as M(xenserver.provisioning.vm_xenstore_data) does (with
    the same code). Without O(power_state) the power state is left alone.
    M(xenserver.provisioning.vm_xenstore_data) and M(xenserver.provisioning.vm_power) remain,
    for VMs made elsewhere.
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes
options:
  name:
    description:
      - The VM's name. Required to create a VM.
      - At most 255 characters, not empty or only whitespace, without control characters.
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
      - V(absent) removes the VM, its snapshots and the disks only they use (see O(keep_disks),
        O(keep_snapshots), O(force)).
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
      - At most 255 (devices 0 to 254, as C(VM.get_allowed_VBD_devices) allows).
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
      - The VM's NICs; entry I(i) is the VIF with device I(i). At most 16 (devices 0 to 15, as
        C(VM.get_allowed_VIF_devices) allows).
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
        description:
          - The MAC address; default is one XenServer generates.
          - A unicast address (not broadcast, multicast or all zeros), each MAC once in the list.
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
  firmware:
    description:
      - The firmware an HVM VM boots with (C(HVM_boot_params:firmware)), V(bios) or V(uefi).
        XenServer 8 / XCP-ng 8.3 templates of current Linux releases are UEFI already.
      - A guest installed under one firmware does not boot under the other; change it on a new
        VM, before its installation.
      - Changing it needs the VM halted (a running VM keeps the firmware it was started with).
      - A PV VM (C(HVM_boot_policy) empty) has no firmware; giving O(firmware) for one fails.
    type: str
    choices: [bios, uefi]
  secure_boot:
    description:
      - UEFI Secure Boot (C(platform:secureboot)). Needs O(firmware=uefi) (or a UEFI VM).
      - V(true) turns it on. The VM's first boot enrols the pool's UEFI certificates (C(PK),
        C(KEK), C(db), C(dbx)) into its variable store; without them the store stays in setup
        mode and nothing is enforced. So creating a Secure Boot VM, or turning it on, fails
        with C(error_code=SECURE_BOOT_NOT_READY) before anything changes when the pool has no
        certificates (C(uefi_certificates) and C(custom_uefi_certificates) empty), naming what
        C(VM.get_secureboot_readiness) would answer after that boot (C(setup_mode)). xapi's own
        readiness of a VM that never booted is C(first_boot), whatever the pool has, which is
        why the module checks the pool instead. For a VM that has a variable store already,
        V(true) asks C(VM.get_secureboot_readiness) and fails the same way, naming its answer,
        unless it is C(ready) or C(ready_no_dbx) (the check needs C(pool-admin); for other
        roles it is skipped).
      - V(auto) lets XenServer decide at each start (on when the pool has UEFI certificates);
        xapi then replaces V(auto) with V(true) or V(false), which O(secure_boot=auto) accepts
        when it is what the pool decides. V(false) turns it off.
      - Changing it needs the VM halted.
    type: str
    choices: ["true", "false", "auto"]
  vtpm:
    description:
      - V(true) adds a virtual TPM 2.0 (C(VTPM.create); a VM has at most one), which needs
        O(firmware=uefi) (XenServer does not start a BIOS VM with a vTPM).
      - V(false) removes the VM's vTPM (C(VTPM.destroy)), and with it what the guest keeps in
        it (keys, sealed secrets such as disk encryption keys); the module only does this when
        asked with V(false). Not set, the vTPM is left as it is.
      - Both need the VM halted. The pool must allow vTPMs (C(pool.restrictions)
        C(restrict_vtpm=false)), otherwise adding one fails with C(error_code=FEATURE_RESTRICTED)
        before anything changes.
    type: bool
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
    description:
      - Seconds to wait for a clean shutdown (or reboot, or suspend) the module makes; at most
        604800 (a week). A start needs no timeout (XenServer finishes it by itself).
    type: int
    default: 120
  xenstore_data:
    description:
      - vm-data keys and values for the guest (C(vm-data/...) in its xenstore), with the rules of
        the O(xenserver.provisioning.vm_xenstore_data#module:data) option of
        M(xenserver.provisioning.vm_xenstore_data) (a key without C(vm-data/) gets it; other
        xenstore keys are refused). Keys not named are kept, unless O(xenstore_data_exclusive).
      - A running guest sees the change at once; a halted one at its next start.
    type: dict
  xenstore_data_exclusive:
    description:
      - Remove every vm-data key not named in O(xenstore_data). Keys outside vm-data are never
        touched.
    type: bool
    default: false
  power_state:
    description:
      - The power state to leave the VM in; not set leaves it as it is.
      - Uses the transitions XenServer allows (a halted VM cannot be suspended; a suspended one is
        resumed to run and hard-shut-down to halt, which discards its saved memory). A clean
        shutdown obeys O(shutdown_timeout), O(hard_shutdown_fallback) and O(force) as with
        O(restart_if_needed).
    type: str
    choices: [running, halted, suspended, paused]
  wait_for:
    description:
      - After the power change, wait until the VM runs (V(running)), its guest agent reports an IP
        address (V(ip)), the guest agent reports at all (V(guest_agent)) or PV drivers are
        detected (V(pv_drivers)), at most O(wait_timeout) seconds, as
        M(xenserver.provisioning.vm_power) waits. A wait that fails reports C(error_code=WAIT_TIMEOUT)
        (and what the task did before it).
      - Refused with O(power_state) V(halted), V(suspended) or V(paused) (never met).
    type: str
    choices: [running, ip, guest_agent, pv_drivers]
  wait_timeout:
    description: Seconds O(wait_for) waits at most; at most 604800 (a week).
    type: int
    default: 300
  keep_disks:
    description:
      - With O(state=absent), keep every disk of the VM; only the VM goes.
      - Without it, the disks only this VM owns are removed. Never removed are CD/ISO media, disks
        on an ISO library, sharable or read-only disks and disks another VM also uses.
      - It keeps the disks of the snapshots removed with the VM too (see O(keep_snapshots)).
    type: bool
    default: false
  keep_snapshots:
    description:
      - With O(state=absent), keep the VM's snapshots and their disks; only the VM (and its own
        disks) go. The snapshots are then left without their VM, as XenServer's C(VM.destroy)
        leaves them, and no module of this collection can reach them by the VM's name any more.
      - Without it, the snapshots are destroyed with the VM, with the snapshot disks only they
        use, by the same rules as the VM's disks (a snapshot disk another VM or template also
        uses is kept, as are CD/ISO media, sharable and read-only disks).
      - A VM without snapshots costs no call more either way; one with snapshots costs one more
        read and one C(VM.destroy) per snapshot.
    type: bool
    default: false
notes:
  - "Call economy: a whole VM in one task (a clone with the template's disk, memory, vCPUs, one
    NIC, three vm-data keys, started, waited for until running) costs 15 XenAPI calls, the login
    included (with O(reuse_session), the default; 14 once a session is cached, 16 with
    O(reuse_session=false), whose logout is one call more); a run that changes nothing costs 3
    (4 with a login). community.general's xenserver_guest needs over three times as many for
    the same task (the collection's benchmarks/results.md). Only a VM with Secure Boot on and a
    UEFI variable store (one that has booted) costs one call more,
    C(VM.get_secureboot_readiness): only xapi reads a variable store."
  - "RBAC: C(vm-admin) is enough for every option, O(vtpm) included (C(VTPM.create) and
    C(VTPM.destroy) allow C(pool-admin), C(pool-operator), C(vm-power-admin), C(vm-admin));
    C(VM.get_secureboot_readiness) is C(pool-admin) only, so for other roles
    C(vm.secure_boot_readiness) of a VM with a variable store is null."
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

- name: A whole VM in one task - made, its vm-data keys set, started and waited for
  xenserver.provisioning.vm:
    name: app02
    template: Rocky Linux 9
    memory_mb: 2048
    vcpus: 2
    networks:
      - network: Pool-wide network associated with eth0
    xenstore_data:
      hostname: app02
      role: app
    power_state: running
    wait_for: ip
    wait_timeout: 600
  register: app02

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

- name: A UEFI VM with Secure Boot and a vTPM, from a XenServer 8 / XCP-ng 8.3 template
  xenserver.provisioning.vm:
    name: app01
    template: Rocky Linux 9
    firmware: uefi
    secure_boot: "true"
    vtpm: true
    memory_mb: 4096
    vcpus: 2
    networks:
      - network: Pool-wide network associated with eth0

- name: Remove the vTPM (and the secrets the guest keeps in it), restarting the VM for that
  xenserver.provisioning.vm:
    name: app01
    vtpm: false
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
    firmware: uefi
    secure_boot: "true"
    secure_boot_readiness: first_boot
    vtpm: {present: true, uuid: 3c5f0d9e-2b1a-4f6e-8d7c-9a0b1c2d3e4f}
changes:
  description:
    - What the run changed (or would change in check mode).
    - C(fields) are the options that differed, C(actions) what was done besides setting them
      (create, provision, restart, destroy, the power steps), C(needs_halt) the fields that
      needed the VM halted.
  returned: always
  type: dict
  sample:
    fields: [memory_mb, vcpus]
    actions: []
    needs_halt: []
ip:
  description: The IP address the wait saw (with O(wait_for)); empty when it saw none.
  returned: when O(wait_for) is set
  type: str
  sample: 192.0.2.10
removed_disks:
  description:
    - The disks removed with the VM (uuid, name, size, userdevice), its own first, then its
      snapshots'; a snapshot's disk also has C(snapshot), the snapshot's uuid.
  returned: when O(state=absent)
  type: list
  elements: dict
kept_disks:
  description:
    - The disks of the removed VM (and of its removed snapshots, with C(snapshot)) that were
      kept, each with its C(reason) (V(keep_disks), V(CD/ISO media), V(on an ISO library),
      V(sharable), V(read-only), V(attached to another VM), V(a snapshot) for a snapshot disk
      attached to the VM itself, V(not a snapshot disk) for a VM's disk only a snapshot uses).
  returned: when O(state=absent)
  type: list
  elements: dict
  sample: [{uuid: 2f0a6c3e-3b67-4c8e-9a0e-0d5b1f0f6f4b, name: xs-tools.iso, reason: CD/ISO media}]
removed_snapshots:
  description:
    - The snapshots removed with the VM, oldest first, as M(xenserver.provisioning.vm_snapshot)
      returns them (C(name), C(uuid), C(time)). Empty with O(keep_snapshots=true).
  returned: when O(state=absent)
  type: list
  elements: dict
  sample: [{name: before-upgrade, uuid: 3c3a1a8e-7c61-4a4e-9d5c-0f3a4b1e2d10, time: "20240131T10:15:00Z"}]
"""

from ansible_collections.xenserver.provisioning.plugins.module_utils._module import XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._spec import vm_argument_spec
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm_converge import run


def main():
    xs = XenServerModule(
        vm_argument_spec(),
        required_one_of=[("name", "uuid")],
        mutually_exclusive=[("template", "template_uuid")],
    )
    xs.run(run)


if __name__ == "__main__":
    main()
