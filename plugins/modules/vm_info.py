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
    C(xenstore_data), boot settings and OS version of one VM, or of the VMs matching a filter.
  - Templates, snapshots and control domains are never listed by a filter.
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes.info_module
options:
  name:
    description:
      - The VM's name. Fails if several VMs have this name (use O(uuid)).
      - Mutually exclusive with O(uuid) and O(filters).
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
    disks: [{userdevice: "0", size: 8589934592, name: web01 0, bootable: true}]
    networks: [{device: "0", mac: "00:16:3e:12:34:56", network: Pool-wide network associated with eth0, ip: 192.0.2.10}]
    xenstore_data: {vm-data/role: web}
    boot: {PV_bootloader: pygrub, PV_args: "", install_repository: null}
    os_version: {name: CentOS, distro: centos, major: "5"}
exists:
  description: Whether the VM named by O(name) or O(uuid) exists.
  returned: when O(name) or O(uuid) is given
  type: bool
vms:
  description: Facts of each VM matching O(filters), sorted by name.
  returned: when O(filters) is given
  type: list
  elements: dict
"""

from ansible_collections.xenserver.provisioning.plugins.module_utils._module import XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import find_vm, vm_facts

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
    client = xs.client
    if p["filters"] is not None:
        try:
            expr, local = filter_expression(p["filters"])
        except ValueError as err:
            xs.fail(str(err))
        records = client.call("VM.get_all_records_where", expr)
        networks = dict((r, n["name_label"]) for r, n in client.call("network.get_all_records").items())
        found = [vm_facts(client, ref, rec, networks) for ref, rec in records.items() if matches(rec, local)]
        return dict(changed=False, vms=sorted(found, key=lambda v: v["name"]))
    ref, record = find_vm(client, name=p["name"], uuid=p["uuid"])
    if ref is None:
        return dict(changed=False, exists=False, vm={})
    return dict(changed=False, exists=True, vm=vm_facts(client, ref, record))


def main():
    xs = XenServerModule(
        dict(name=dict(type="str"), uuid=dict(type="str"), filters=dict(type="dict")),
        mutually_exclusive=[("name", "uuid", "filters")],
        required_one_of=[("name", "uuid", "filters")],
    )
    xs.run(run)


if __name__ == "__main__":
    main()
