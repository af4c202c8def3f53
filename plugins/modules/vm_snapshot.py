#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_snapshot
short_description: Take, revert to and remove snapshots of a XenServer VM
version_added: 0.1.0
description:
  - Takes a disk snapshot of a VM under a name, reverts the VM to it, or removes it.
  - Snapshots are found by name among the snapshots of the VM; names are not unique in
    XenServer, so the module fails, naming the uuids, when the VM has several snapshots
    with the name given.
  - Snapshots are crash-consistent disk snapshots (C(VM.snapshot)), taken live from a running VM
    as well as from a halted one. Memory is not saved.
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
        to have no snapshots, so O(state=present) and O(state=reverted) report a change
        (C(changed=true); a revert is to a snapshot an earlier task would take) and
        O(state=absent) none, and C(msg) starts with C(the VM does not exist yet (check mode)).
        A VM named by O(uuid) must exist.
options:
  snapshot:
    description:
      - The snapshot's name. Not empty or only whitespace, no control characters, at most 255
        characters.
    type: str
    required: true
  state:
    description:
      - V(present) - the VM has a snapshot named O(snapshot); it is taken if there is none.
      - V(absent) - the VM has no snapshot named O(snapshot). The snapshot and the snapshot disks
        only it uses are removed; the VM and its own disks are never touched.
      - V(reverted) - the VM is reverted to the snapshot O(snapshot), which must exist. This is an
        action, not a state the VM can be found in, so it always reports a change. Reverting
        halts a running VM, replaces its disks by copies of the snapshot's (whatever was written
        since is lost) and puts its settings back; the VM ends halted. Start it again with
        M(xenserver.provisioning.vm_power).
    type: str
    choices: [present, absent, reverted]
    default: present
notes:
  - Taking and reverting need the C(vm-power-admin) role or above; removing needs C(vm-admin) or above.
seealso:
  - module: xenserver.provisioning.vm_power
  - module: xenserver.provisioning.vm_info
"""

EXAMPLES = r"""
- name: Snapshot before the upgrade
  xenserver.provisioning.vm_snapshot:
    hostname: pool-master.example.com
    username: root
    password: "{{ xenserver_password }}"
    name: web01
    snapshot: before-upgrade

- name: The upgrade went wrong - go back
  xenserver.provisioning.vm_snapshot:
    name: web01
    snapshot: before-upgrade
    state: reverted

- name: Start the VM again (a revert leaves it halted)
  xenserver.provisioning.vm_power:
    name: web01
    state: running

- name: The upgrade went well - drop the snapshot
  xenserver.provisioning.vm_snapshot:
    name: web01
    snapshot: before-upgrade
    state: absent
"""

RETURN = r"""
snapshots:
  description:
    - The VM's snapshots after the task, oldest first. In check mode, what they would be (a snapshot
      not taken yet has an empty C(uuid) and C(time)).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The snapshot's name.
      type: str
      sample: before-upgrade
    uuid:
      description: The snapshot's uuid.
      type: str
    time:
      description: When it was taken (UTC, as XenServer gives it).
      type: str
      sample: "20240131T10:15:00Z"
  sample: [{name: before-upgrade, uuid: 3c3a1a8e-7c61-4a4e-9d5c-0f3a4b1e2d10, time: "20240131T10:15:00Z"}]
changes:
  description:
    - What changed (or would change in check mode). C(fields) lists V(snapshots) when a snapshot is
      taken or removed and V(reverted_to) for a revert; C(actions) lists what was done, in order
      (V(snapshot), V(revert), V(destroy snapshot), V(destroy disk <uuid>)).
  returned: always
  type: dict
  sample: {fields: [snapshots], actions: [snapshot], needs_halt: []}
"""

from ansible_collections.xenserver.provisioning.plugins.module_utils import _snapshot
from ansible_collections.xenserver.provisioning.plugins.module_utils._claim import claim
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NotFound
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import not_created_yet, require_vm
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm_config import check_name


def run(xs):
    p = xs.params
    name, state = p["snapshot"], p["state"]
    check_name(name, "snapshot")
    client = xs.client
    vm_ref, vm = require_vm(client, name=p["name"], uuid=p["uuid"], check_mode=xs.check_mode)
    if vm_ref is None:
        return not_created_yet_result(xs)
    snapshots = _snapshot.snapshots_of(client, vm_ref)
    snap_ref, snap = _snapshot.find(snapshots, name, vm["name_label"])
    if not xs.check_mode and state != "reverted" and (snap is None) == (state == "present"):
        # Taking or removing a snapshot by name: under the claim on that name, after a second
        # look (another run may have done it meanwhile; this one then changes nothing).
        with claim(client, "snapshot", "%s/%s" % (vm["uuid"], name)):
            snapshots = _snapshot.snapshots_of(client, vm_ref)
            snap_ref, snap = _snapshot.find(snapshots, name, vm["name_label"])
            return converge(xs, vm_ref, vm, snapshots, snap_ref, snap)
    return converge(xs, vm_ref, vm, snapshots, snap_ref, snap)


def not_created_yet_result(xs):
    """Check mode, for a VM an earlier task would create: it has no snapshots yet; a revert is
    to one an earlier task of the run would take (the run fails there if none does)."""
    name, state = xs.params["snapshot"], xs.params["state"]
    plan = Plan()
    listed = []
    if state == "present":
        plan.field("snapshots", [], [name])
        plan.action("snapshot")
        listed = [{"name": name, "uuid": "", "time": ""}]
        would = "take snapshot '%s'" % name
    elif state == "reverted":
        plan.field("reverted_to", "", name)
        plan.action("revert")
        would = "revert it to snapshot '%s', if an earlier task takes it" % name
    else:
        would = "change nothing (a new VM has no snapshot)"
    return xs.result(plan.changes, snapshots=listed, msg=not_created_yet(xs.params["name"], would))


def converge(xs, vm_ref, vm, snapshots, snap_ref, snap):
    p, client = xs.params, xs.client
    name, state = p["snapshot"], p["state"]
    listed = _snapshot.facts(snapshots)
    names = [s["name"] for s in listed]
    plan = Plan()

    if state == "present" and snap is None:
        plan.field("snapshots", names, names + [name])
        plan.action("snapshot", lambda: _snapshot.take(client, vm_ref, name))
        listed.append({"name": name, "uuid": "", "time": ""})

        def read_back():
            # the new snapshot's uuid and time come from the pool
            listed[:] = _snapshot.facts(_snapshot.snapshots_of(client, vm_ref))
        plan.step(read_back)
    elif state == "absent" and snap is not None:
        planned = _snapshot.removal(client, snap_ref, snap)
        plan.field("snapshots", names, [n for n in names if n != name])
        plan.actions(["destroy snapshot"] + ["destroy disk %s" % disk["uuid"] for disk in planned.owned],
                     lambda: _snapshot.remove(client, planned))
        listed = [s for s in listed if s["uuid"] != snap["uuid"]]
    elif state == "reverted":
        if snap is None:
            raise NotFound("VM '%s' has no snapshot named '%s' (its snapshots: %s)" % (
                vm["name_label"], name, ", ".join("'%s'" % n for n in names) or "none"), code="SNAPSHOT_NOT_FOUND")
        # always a change: nothing tells whether the VM still is as the snapshot left it
        plan.field("reverted_to", "", "%s (%s)" % (name, snap["uuid"]))
        plan.action("revert", lambda: client.run_async("VM.revert", snap_ref))     # the snapshots stay as they are
    plan.apply(xs.check_mode)
    return xs.result(plan.changes, snapshots=listed)


def main():
    xs = XenServerModule(
        identifies_vm=True,
        argument_spec=dict(
            snapshot=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "absent", "reverted"]),
        ),
    )
    xs.run(run)


if __name__ == "__main__":
    main()
