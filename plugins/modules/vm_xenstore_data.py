#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_xenstore_data
short_description: Set or remove vm-data keys in a XenServer VM's xenstore
version_added: 0.1.0
description:
  - Sets or removes keys under C(vm-data) in a VM's C(xenstore_data), the namespace a guest reads
    with C(xenstore-read vm-data/<key>).
  - Only the keys named change; every other key of the VM's C(xenstore_data) is kept, unless
    O(exclusive) asks to remove the unlisted C(vm-data) keys. Keys outside C(vm-data) are never
    changed.
  - Each key is written on its own (C(VM.add_to_xenstore_data), C(VM.remove_from_xenstore_data)),
    so tasks writing other keys of the same VM at the same time keep theirs.
  - On a running VM the change reaches the guest at once (the module then reads the
    map afresh and writes it with C(VM.set_xenstore_data), the call that also updates the live
    xenstore, and reads it again to check its keys are there); on a halted VM the guest sees it
    when it next starts. XenServer pushes vm-data to a running VM only; a paused or suspended
    guest sees the change only after its next start.
  - Keys and values are checked before anything is written, and a bad one fails the task
    naming it. A key outside C(vm-data) is refused, because XenServer drops such keys silently
    when it starts the VM.
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
        run would create (M(xenserver.provisioning.vm) creates nothing in check mode); it is taken
        to have no C(vm-data) keys, so every key of O(data) is reported set (C(changed=true)), and
        C(msg) starts with C(the VM does not exist yet (check mode)). A VM named by O(uuid) must exist.
options:
  state:
    description:
      - V(present) sets the keys of O(data) to their values.
      - V(absent) removes the keys named in O(keys) or O(data) (the values of O(data) are ignored).
    type: str
    choices: [present, absent]
    default: present
  data:
    description:
      - Keys and values under C(vm-data).
      - A key without C(/) is a child of C(vm-data) (C(hostname) and C(vm-data/hostname) are the
        same key); a key with C(/) must start with C(vm-data/), for example C(vm-data/networks/0/ip).
        Keys such as C(FIST/x), C(attr/foo) or C(/local/domain/1/x) are refused.
      - 'Keys may hold only C(A-Z a-z 0-9 - / _ @), with no doubled or trailing C(/), and be at most
        1004 bytes with the C(vm-data/) prefix (so that C(/local/domain/<domid>/<key>) stays within
        xenstored''s 1024-byte path limit for any domid).'
      - Values are UTF-8 text of at most 2048 bytes (xenstored's value limit) without control
        characters (tab and newline included). Numbers are written as their decimal text;
        booleans and nulls are refused (quote them).
    type: dict
    aliases: [xenstore_data]
  keys:
    description:
      - Keys to remove with O(state=absent), in the same forms as the keys of O(data).
    type: list
    elements: str
  exclusive:
    description:
      - With O(state=present), also remove every C(vm-data) key that is not in O(data).
      - Keys outside C(vm-data) are kept even then.
    type: bool
    default: false
notes:
  - Keys the guest wrote into its own C(vm-data) are kept once XenServer has copied them into the
    VM record (it does so while the VM runs).
"""

EXAMPLES = r"""
- name: Tell the guest its hostname and role (live if it runs)
  xenserver.provisioning.vm_xenstore_data:
    name: web01
    data:
      hostname: web01.example.com
      vm-data/role: web

- name: Network settings for the guest agent, replacing any other vm-data keys
  xenserver.provisioning.vm_xenstore_data:
    name: web01
    exclusive: true
    data:
      vm-data/networks/0/ip: 192.0.2.10
      vm-data/networks/0/netmask: 255.255.255.0
      vm-data/networks/0/gateway: 192.0.2.1

- name: Remove a key
  xenserver.provisioning.vm_xenstore_data:
    name: web01
    state: absent
    keys: [role]
"""

RETURN = r"""
xenstore_data:
  description: The VM's whole C(xenstore_data) map after the change (as it would be, in check mode).
  returned: success
  type: dict
  sample: {vm-data/hostname: web01.example.com, vm-data/role: web}
keys_set:
  description: The C(vm-data) keys added or given a new value.
  returned: success
  type: list
  elements: str
  sample: [vm-data/hostname]
keys_removed:
  description: The C(vm-data) keys removed.
  returned: success
  type: list
  elements: str
  sample: []
live:
  description:
    - Whether the change reaches the guest's xenstore at once (the VM is running).
    - False when nothing changed, or when the VM is halted or suspended (it sees the keys when it next starts).
  returned: success
  type: bool
power_state:
  description: The VM's power state.
  returned: success
  type: str
  sample: running
changes:
  description: What changed (C(fields) holds C(xenstore_data) when a key changed).
  returned: success
  type: dict
"""

from ansible_collections.xenserver.provisioning.plugins.module_utils._module import XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import not_created_yet, require_vm
from ansible_collections.xenserver.provisioning.plugins.module_utils._xenstore import (
    XenstoreKeyError,
    normalize_data,
    normalize_keys,
    plan_into,
)


def wanted_change(params):
    """(present, absent, exclusive) from the options, every key and value checked."""
    if params["state"] == "present":
        if params["keys"]:
            raise XenstoreKeyError("keys is for state=absent; with state=present give data")
        return normalize_data(params["data"]), [], params["exclusive"]
    if params["exclusive"]:
        raise XenstoreKeyError("exclusive applies to state=present only")
    absent = normalize_keys(list(params["keys"] or []) + list((params["data"] or {}).keys()))
    return {}, absent, False


def run(xs):
    p = xs.params
    try:
        present, absent, exclusive = wanted_change(p)
    except XenstoreKeyError as err:
        xs.fail(str(err), error_code="INVALID_INPUT")
    client = xs.client
    ref, record = require_vm(client, name=p["name"], uuid=p["uuid"], check_mode=xs.check_mode)
    if ref is None:
        record = dict(xenstore_data={}, power_state="Halted")     # the VM an earlier task would create
    plan = Plan()
    planned = plan_into(plan, client, ref, record, present, absent, exclusive)
    plan.apply(xs.check_mode)
    before, after, live, shown = planned["before"], planned["after"], planned["live"], planned["map"]
    changes = plan.changes
    keys_set = sorted(k for k, v in after.items() if before.get(k) != v)
    extra = {}
    if ref is None:
        extra["msg"] = not_created_yet(p["name"], "set %s" % ", ".join(keys_set) if keys_set else "change nothing")
    return xs.result(
        changes,
        xenstore_data=shown,
        keys_set=keys_set,
        keys_removed=sorted(k for k in before if k not in after),
        live=live,
        power_state=record["power_state"].lower(),
        **extra
    )


def main():
    xs = XenServerModule(
        identifies_vm=True,
        argument_spec=dict(
            state=dict(type="str", choices=["present", "absent"], default="present"),
            data=dict(type="dict", aliases=["xenstore_data"]),
            keys=dict(type="list", elements="str", no_log=False),
            exclusive=dict(type="bool", default=False),
        ),
        required_if=[("state", "present", ("data",)), ("state", "absent", ("keys", "data"), True)],
    )
    xs.run(run)


if __name__ == "__main__":
    main()
