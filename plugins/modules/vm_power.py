#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_power
short_description: Power a XenServer VM on, off, suspend, pause or restart it, and wait for its IP
version_added: 0.1.0
description:
  - Brings a VM to the power state asked for, only along the paths XenServer allows
    (a suspended VM is resumed, a paused one unpaused, a running one shut down cleanly), then
    optionally waits until the VM is running or halted, reports an IP address, or its guest agent
    has reported.
  - Every power operation runs as a XenServer task and every wait blocks on the pool's event
    stream (C(event.from)), so timeouts are enforced and nothing polls.
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
        run would create (M(xenserver.provisioning.vm) creates nothing in check mode); the module
        reports the power operations it would do to it, halted as a new VM is, with
        C(changed=true) and a C(msg) that starts with C(the VM does not exist yet (check mode)).
        A VM named by O(uuid) must exist.
      - In check mode the module never waits.
  idempotent:
    support: partial
    details: O(state=restarted) always restarts the VM and reports a change.
options:
  state:
    description:
      - The power state the VM must be in.
      - V(running) starts a halted VM, resumes a suspended one and unpauses a paused one.
      - V(halted) shuts a running VM down cleanly (see O(force), O(hard_shutdown_fallback),
        O(shutdown_timeout)); a paused or suspended VM can only be hard shut down, which for a
        suspended VM discards its saved memory image.
      - V(suspended) suspends a running VM (a paused one is unpaused first). A halted VM cannot be
        suspended; the module fails and says so.
      - V(paused) pauses a running VM, starts a halted one paused, resumes a suspended one paused.
      - V(restarted) reboots a running VM cleanly (hard reboot with O(force), or as a fall-back),
        hard reboots a paused one and starts a halted one; it always reports a change.
        A suspended VM cannot be restarted.
      - If not set, the power state is left alone and only O(wait_for) is done.
    type: str
    choices: [running, halted, suspended, paused, restarted]
  force:
    description:
      - Hard shut down or hard reboot straight away instead of asking the guest (like pulling the
        power cord; unsaved data in the guest is lost).
      - Takes precedence over O(hard_shutdown_fallback).
    type: bool
    default: false
  hard_shutdown_fallback:
    description:
      - When the guest refuses a clean shutdown or reboot (an HVM guest without PV drivers answers
        C(VM_LACKS_FEATURE)) or does not finish it within O(shutdown_timeout), do a hard shutdown or
        hard reboot instead of failing.
    type: bool
    default: false
  shutdown_timeout:
    description:
      - Seconds a clean shutdown or clean reboot may take before the module gives up (or falls
        back to a hard one, see O(hard_shutdown_fallback)); at most 604800 (a week).
    type: int
    default: 120
  wait_for:
    description:
      - After the power change, wait until the VM is V(running) or V(halted), has reported an IP
        address (V(ip), its first IPv4 address, or its first IPv6 one when it has no IPv4; link-local
        addresses do not count), its guest agent has reported (V(guest_agent)), or it reports PV drivers
        (V(pv_drivers), C(VM_guest_metrics.PV_drivers_detected)), which is how the end of a
        XenServer VM Tools installation from C(xs-tools.iso) shows.
      - V(halted) after O(state=running) waits for the guest to power itself off, for example at
        the end of an unattended installation.
      - V(ip), V(guest_agent) and V(pv_drivers) need a running VM and a guest agent
        (xe-guest-utilities or the XenServer VM Tools) in the guest.
      - In check mode the module never waits; it reports what it would do.
    type: str
    choices: [running, halted, ip, guest_agent, pv_drivers]
  wait_timeout:
    description: Seconds to wait for O(wait_for) before failing; at most 604800 (a week).
    type: int
    default: 300
notes:
  - On failure after a power change (for example a timeout waiting for an IP), the result still
    has RV(power_state), RV(changes) and C(changed=true).
seealso:
  - module: xenserver.provisioning.vm_info
"""

EXAMPLES = r"""
- name: Start web01 and wait until it reports an IP address
  xenserver.provisioning.vm_power:
    hostname: pool-master.example.com
    username: root
    password: "{{ xenserver_password }}"
    name: web01
    state: running
    wait_for: ip
    wait_timeout: 600
  register: web01

- name: Use the IP
  ansible.builtin.debug:
    msg: "web01 is at {{ web01.ip }}"

- name: Shut down cleanly, hard shut down if the guest does not react within 2 minutes
  xenserver.provisioning.vm_power:
    name: web01
    state: halted
    shutdown_timeout: 120
    hard_shutdown_fallback: true

- name: Start the installer and wait for it to power the VM off when it is done
  xenserver.provisioning.vm_power:
    name: centos5-build
    state: running
    wait_for: halted
    wait_timeout: 3600

- name: Reboot, hard if the guest has no PV drivers
  xenserver.provisioning.vm_power:
    uuid: 8d6a0a4e-8b0c-4ad2-a6b6-3b1d5e1a9d7c
    state: restarted
    hard_shutdown_fallback: true
"""

RETURN = r"""
power_state:
  description:
    - The VM's power state at the end (in check mode, the state it would be in).
  returned: always
  type: str
  sample: running
ip:
  description:
    - The guest's primary address, the same as RV(xenserver.provisioning.vm_info#module:vm.ip), that is
      its first IPv4 address, or its first IPv6 one when it has no IPv4 (never a link-local one);
      empty when it has reported none (yet), and after a power change unless O(wait_for=ip).
  returned: always
  type: str
  sample: 192.0.2.10
uuid:
  description: The VM's uuid (empty in check mode for a VM that does not exist yet).
  returned: always
  type: str
changes:
  description:
    - What changed (or would change in check mode).
    - C(fields) lists V(power_state) when it changed; C(actions) lists the XenAPI power operations
      done, in order (for example V(start), or V(unpause) then V(suspend)); after a fall-back
      it lists V(hard_shutdown) (or V(hard_reboot)) and a warning says why.
  returned: always
  type: dict
  sample: {fields: [power_state], actions: [start], needs_halt: []}
"""

from ansible_collections.xenserver.provisioning.plugins.module_utils import _power
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerError
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import ChangeSet, XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import not_created_yet, require_vm

# wait_for conditions a VM left in a given state can never meet.
NEVER = {
    "halted": ("running", "ip", "guest_agent", "pv_drivers"),
    "suspended": ("running", "halted", "ip", "guest_agent", "pv_drivers"),
    "paused": ("running", "halted", "ip", "guest_agent", "pv_drivers"),
}


def check_options(p):
    """Contradictions are refused before anything is asked of the pool."""
    for option in ("shutdown_timeout", "wait_timeout"):
        problem = _power.check_seconds(option, p[option])
        if problem:
            raise ValueError(problem)
    if p["wait_for"] in NEVER.get(p["state"], ()):
        raise ValueError("wait_for: %s can never be met by a VM left %s (state: %s)"
                         % (p["wait_for"], p["state"], p["state"]))


def run(xs):
    p = xs.params
    try:
        check_options(p)
    except ValueError as err:
        xs.fail(str(err), error_code="INVALID_INPUT")
    client = xs.client
    ref, record = require_vm(client, name=p["name"], uuid=p["uuid"], check_mode=xs.check_mode)
    label = p["name"] or p["uuid"]
    if ref is None:
        current = "halted"      # as vm leaves the VM it creates
    else:
        label = record["name_label"]
        current = record["power_state"].lower()

    plan, notes = Plan(), []
    steps, done = [], []
    if p["state"]:
        try:
            steps, done = _power.plan_into(plan, client, ref, label, current, p["state"], p["shutdown_timeout"],
                                           force=p["force"], fallback=p["hard_shutdown_fallback"], notes=notes)
        except XenServerError as err:
            xs.fail("VM '%s': %s" % (label, err), error_code=err.code)
    changes = plan.changes
    uuid = record["uuid"] if record else ""

    if xs.check_mode or not steps and not p["wait_for"]:
        state = _power.predicted_state(current, p["state"]) if p["state"] else current
        ip = _power.current_ip(client, record) if record and not steps else ""
        extra = {}
        if ref is None:
            extra["msg"] = not_created_yet(label, "%s%s" % (
                ", ".join(steps) if steps else "leave it %s" % current,
                (" and wait for %s" % p["wait_for"]) if p["wait_for"] else ""))
        return xs.result(changes, power_state=state, ip=ip, uuid=uuid, **extra)

    try:
        if steps:
            try:
                plan.apply()
            finally:
                for note in notes:
                    xs.module.warn(note)
            record = None       # changed by the steps; the wait reads it again if it needs to
        state = _power.predicted_state(current, p["state"]) if p["state"] else current
        outcome = dict(power_state=state, ip="")
        if p["wait_for"]:
            outcome = _power.wait(client, ref, label, p["wait_for"], p["wait_timeout"], record=record,
                                  after=done if steps else None)
        elif record is not None:
            outcome["ip"] = _power.current_ip(client, record)
    except XenServerError as err:
        # Report what was done before the failure, and where the VM is now.
        state = client.call("VM.get_power_state", ref).lower()
        failed = ChangeSet()
        failed.compare("power_state", current, state)
        failed.actions = list(changes.actions)
        xs.fail(str(err), error_code=err.code, error_params=err.params, changed=failed.changed,
                changes=failed.summary(), power_state=state, uuid=uuid)
    return xs.result(changes, uuid=uuid, **outcome)


def main():
    xs = XenServerModule(
        identifies_vm=True,
        argument_spec=dict(
            state=dict(type="str", choices=list(_power.STATES)),
            force=dict(type="bool", default=False),
            hard_shutdown_fallback=dict(type="bool", default=False),
            shutdown_timeout=dict(type="int", default=120),
            wait_for=dict(type="str", choices=list(_power.WAIT_CONDITIONS)),
            wait_timeout=dict(type="int", default=300),
        ),
        required_one_of=[("state", "wait_for")],
    )
    xs.run(run)


if __name__ == "__main__":
    main()
