#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_info
short_description: Facts of XenServer VMs
version_added: 0.1.0
description:
  - Reports power state, uuid, memory, vCPUs, disks, networks with the guest's IPs,
    C(xenstore_data), boot settings, firmware, Secure Boot and vTPM, and OS version of one VM,
    or of the VMs matching a filter.
  - SRs, networks and hosts are named by name and uuid, never by an internal reference.
  - Templates, snapshots and control domains are never listed by a filter; O(templates) lists
    the pool's templates instead.
  - One VM, or every VM a filter matches, costs the same few XenAPI calls whatever the number
    of VMs and devices; only a VM with Secure Boot on and a UEFI variable store (one that has
    booted) costs a call of its own, C(VM.get_secureboot_readiness), as only xapi reads a store.
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes.info_module
options:
  name:
    description:
      - The VM's name. Fails if several VMs have this name (use O(uuid)).
      - Mutually exclusive with O(uuid), O(filters) and O(templates).
    type: str
  uuid:
    description: The VM's uuid.
    type: str
  filters:
    description:
      - Report every VM whose fields match all these values.
      - Keys are C(power_state) (V(running), V(halted), V(suspended), V(paused)),
        C(name_prefix), C(tag), and C(other_config:<key>).
    type: dict
  templates:
    description:
      - V(true) lists the pool's templates (the ones VMs are created from, not snapshots) in
        RV(templates), with what choosing one needs (HVM or PV, firmware, install distribution,
        whether XenServer ships it).
      - Mutually exclusive with O(name), O(uuid) and O(filters).
    type: bool
    default: false
notes:
  - The guest's addresses come from what its agent reports (C(VM_guest_metrics.networks)), from
    xe-guest-utilities (C(<device>/ip), C(<device>/ipv6/<n>)) and xen-guest-agent or the
    XenServer VM Tools (C(<device>/ipv4/<n>), C(<device>/ipv6/<n>)) alike. Each is checked as an
    IP address; the primary one (RV(vm.ip)) is the first IPv4 address by device, else the first
    IPv6 one, never a link-local one. M(xenserver.provisioning.vm_power) with
    O(xenserver.provisioning.vm_power#module:wait_for=ip) and the inventory plugin's
    C(ansible_host) use the same address.
"""

EXAMPLES = r"""
- name: Facts of one VM
  xenserver.provisioning.vm_info:
    hostname: pool-master.example.com
    username: root
    password: "{{ xenserver_password }}"
    name: web01
  register: web01

- name: Every running VM whose name starts with web
  xenserver.provisioning.vm_info:
    filters:
      power_state: running
      name_prefix: web
  register: running_web

- name: The pool's templates
  xenserver.provisioning.vm_info:
    templates: true
  register: pool_templates

- name: Names of the HVM templates XenServer ships with UEFI firmware
  ansible.builtin.debug:
    msg: >-
      {{ pool_templates.templates | selectattr('default') | selectattr('hvm')
         | selectattr('firmware', 'equalto', 'uefi') | map(attribute='name') | list }}
"""

RETURN = r"""
vm:
  description: Facts of the VM named by O(name) or O(uuid); empty if there is none.
  returned: when O(name) or O(uuid) is given
  type: dict
  sample:
    name: web01
    uuid: 8d6a0a4e-8b0c-4ad2-a6b6-3b1d5e1a9d7c
    power_state: running
    memory_mb: 1024
    vcpus: 2
    ip: 192.0.2.10
    ips: [192.0.2.10, "2001:db8::10", "fe80::216:3eff:fe12:3456"]
    disks: [{userdevice: "0", size: 8589934592, name: web01 0, bootable: true,
             sr: Local storage, sr_uuid: 2c8f1a3e-7f10-4a4e-9d35-0c1f4e6f9a11}]
    networks: [{device: "0", mac: "00:16:3e:12:34:56", network: Pool-wide network associated with eth0,
                network_uuid: 6f0d1e2c-1b7a-4c55-8e0a-4d2b3c9e8f70, ip: 192.0.2.10,
                ips: [192.0.2.10, "2001:db8::10", "fe80::216:3eff:fe12:3456"],
                ipv6: ["2001:db8::10", "fe80::216:3eff:fe12:3456"]}]
    xenstore_data: {vm-data/role: web}
    boot: {PV_bootloader: pygrub, PV_args: "", install_repository: null}
    os_version: {name: CentOS, distro: centos, major: "5"}
    resident_on: xs01
    resident_on_uuid: 0b5e7a1c-3d2f-4e6a-9b8c-7d6e5f4a3b21
    home_server: ""
    home_server_uuid: ""
    firmware: uefi
    secure_boot: "true"
    secure_boot_readiness: ready
    vtpm: {present: true, uuid: 3c5f0d9e-2b1a-4f6e-8d7c-9a0b1c2d3e4f}
  contains:
    ip:
      description:
        - The guest's primary address, the one O(xenserver.provisioning.vm_power#module:wait_for=ip) waits for and
          the inventory plugin makes C(ansible_host) - its first IPv4 address (by device, then
          index), or its first IPv6 one when it has no IPv4; never link-local. Empty when the
          guest agent reports none.
      type: str
    ips:
      description: Every address the guest reports, IPv4 first, then IPv6, link-local ones last; no repeats.
      type: list
      elements: str
    disks:
      description:
        - The VM's disks by C(userdevice), with their VDI's name, size (bytes) and uuid, and the
          SR they are on (C(sr), its name, and C(sr_uuid)).
      type: list
      elements: dict
    networks:
      description:
        - The VM's NICs by C(device), with their MAC, network (C(network), its name, and
          C(network_uuid)) and the addresses the guest reports on them - C(ips) (IPv4 first,
          link-local last), C(ipv6) (the IPv6 ones of C(ips)) and C(ip), the NIC's first address
          that is not link-local.
      type: list
      elements: dict
    resident_on:
      description: Name of the pool host the VM runs on; empty when it is not running (C(resident_on_uuid), its uuid).
      type: str
    home_server:
      description: Name of the host the VM prefers to start on (C(affinity)); empty when it has none (C(home_server_uuid), its uuid).
      type: str
    firmware:
      description: The firmware the VM boots with, V(bios) or V(uefi) (C(HVM_boot_params:firmware)); empty for a PV VM.
      type: str
    secure_boot:
      description:
        - The Secure Boot setting (C(platform:secureboot)), V(true), V(false) or V(auto) (xapi
          replaces V(auto) at a start with what the pool's UEFI certificates allow).
      type: str
    secure_boot_readiness:
      description:
        - What C(VM.get_secureboot_readiness) answers - V(not_supported) (BIOS), V(disabled)
          (Secure Boot off, V(auto) until a start), V(first_boot) (no UEFI variable store yet; it
          is made at the first boot from the pool's UEFI certificates), V(ready),
          V(ready_no_dbx), V(setup_mode) (no Platform Key, so nothing is enforced) or
          V(certs_incomplete).
        - The first three come from the VM's record; the others need xapi to read the store
          (one call, C(pool-admin) only). Null when the session's role may not ask.
      type: str
    vtpm:
      description: The VM's virtual TPM - C(present) and its C(uuid) (empty when it has none).
      type: dict
exists:
  description: Whether the VM named by O(name) or O(uuid) exists.
  returned: when O(name) or O(uuid) is given
  type: bool
vms:
  description: Facts of each VM matching O(filters), sorted by name; each as RV(vm).
  returned: when O(filters) is given
  type: list
  elements: dict
templates:
  description: The pool's templates, sorted by name (then uuid).
  returned: when O(templates=true)
  type: list
  elements: dict
  sample:
    - name: CentOS 5 (64-bit)
      uuid: 1f4c6f0e-4a1b-4e8e-bd9f-3e2a6c7d8e90
      description: Template for CentOS 5 (64-bit)
      hvm: false
      firmware: ""
      install_distro: rhlike
      install_methods: [cdrom, nfs, http, ftp]
      default: true
      memory_mb: 1024
      vcpus: 1
  contains:
    hvm:
      description: Whether VMs of this template boot HVM (C(HVM_boot_policy) set), not PV.
      type: bool
    firmware:
      description: The C(firmware) of C(HVM_boot_params) (V(bios) or V(uefi)); empty when the template sets none.
      type: str
    install_distro:
      description: The template's C(other_config:install-distro) (the PV installer family); null when it has none.
      type: str
    install_methods:
      description: The template's C(other_config:install-methods) (V(cdrom), V(http), V(nfs), V(ftp)).
      type: list
      elements: str
    default:
      description: Whether the template is one XenServer ships (C(is_default_template) or C(other_config:default_template)).
      type: bool
"""

from ansible_collections.xenserver.provisioning.plugins.module_utils._module import INVALID_INPUT, XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._records import Records
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import find_vm, template_facts, templates

POWER_STATES = ("running", "halted", "suspended", "paused")


def filter_expression(filters):
    """A get_all_records_where expression for ``filters`` (plus what is checked locally)."""
    clauses = ['field "is_a_template"="false"', 'field "is_a_snapshot"="false"',
               'field "is_control_domain"="false"']
    local = {}
    for key, value in filters.items():
        value = str(value)
        if key == "power_state":
            if value.lower() not in POWER_STATES:
                raise ValueError("filters.power_state must be one of %s, got '%s'" % (", ".join(POWER_STATES), value))
            clauses.append('field "power_state"="%s"' % value.capitalize())
        elif key in ("name_prefix", "tag") or key.startswith("other_config:"):
            local[key] = value
        else:
            raise ValueError("unknown filter '%s': use power_state, name_prefix, tag or other_config:<key>" % key)
    return " and ".join(clauses), local


def matches(record, local):
    for key, value in local.items():
        if key == "name_prefix" and not record["name_label"].startswith(value):
            return False
        if key == "tag" and value not in record["tags"]:
            return False
        if key.startswith("other_config:") and record["other_config"].get(key.split(":", 1)[1]) != value:
            return False
    return True


def run(xs):
    p = xs.params
    given = [k for k in ("name", "uuid", "filters") if p[k] is not None]
    if p["templates"] and given:
        xs.fail("templates=true lists the pool's templates; it cannot be combined with %s" % ", ".join(given),
                error_code=INVALID_INPUT)
    if not (p["templates"] or given):
        xs.fail("give one of name, uuid, filters, or templates=true", error_code=INVALID_INPUT)
    client = xs.client      # connects: the options are checked first
    if p["templates"]:
        listed = [template_facts(record) for record in templates(client).values()]
        return dict(changed=False, templates=sorted(listed, key=lambda t: (t["name"], t["uuid"])))
    # Every VM and its devices (and the SRs, networks and hosts they name) in two event.from calls.
    records = Records(client)
    if p["filters"] is not None:
        try:
            expr, local = filter_expression(p["filters"])
        except ValueError as err:
            xs.fail(str(err), error_code=INVALID_INPUT)
        found = dict((ref, rec) for ref, rec in client.call("VM.get_all_records_where", expr).items()
                     if matches(rec, local))
        records.put("VM", found)
        records.devices_of(list(found))
        facts = [records.facts(ref) for ref in found if records.get(ref) is not None]
        return dict(changed=False, vms=sorted(facts, key=lambda v: (v["name"], v["uuid"])))
    ref, record = find_vm(client, name=p["name"], uuid=p["uuid"])
    if ref is None:
        return dict(changed=False, exists=False, vm={})
    records.put("VM", {ref: record})
    records.vm_devices(ref)
    return dict(changed=False, exists=True, vm=records.facts(ref))


def main():
    xs = XenServerModule(
        dict(name=dict(type="str"), uuid=dict(type="str"), filters=dict(type="dict"),
             templates=dict(type="bool", default=False)),
        mutually_exclusive=[("name", "uuid", "filters")],
    )
    xs.run(run)


if __name__ == "__main__":
    main()
