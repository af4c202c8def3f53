# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""A whole VM in one task: configuration, vm-data keys, power state and the wait.

This is the ``vm`` module's body, and vm_fleet runs it once per entry. The VM is settled
first (``_vm_lifecycle``: created, updated or removed); a new VM gets its vm-data keys while
it is being created, an existing one key by key (``_xenstore.write``, as vm_xenstore_data);
then the power steps (``_power``, as vm_power) and the wait. The facts are read once, at the
end, so they show the VM as the task leaves it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.xenserver.provisioning.plugins.module_utils import _power
from ansible_collections.xenserver.provisioning.plugins.module_utils import _vm_config as config
from ansible_collections.xenserver.provisioning.plugins.module_utils import _vm_lifecycle as lifecycle
from ansible_collections.xenserver.provisioning.plugins.module_utils import _xenstore
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import InvalidInput, XenServerError
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import ChangeSet
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._records import Records

# The power states a wait can never be met in.
NOT_RUNNING = ("halted", "suspended", "paused")


def check(p):
    """The options beyond the configuration, checked before anything changes; InvalidInput
    names the bad value. Normalizes ``xenstore_data`` in ``p``."""
    config.validate(p)
    if p.get("xenstore_data"):
        try:
            p["xenstore_data"] = _xenstore.normalize_data(p["xenstore_data"])
        except _xenstore.XenstoreKeyError as err:
            raise InvalidInput(str(err))
    for option in ("shutdown_timeout", "wait_timeout"):
        problem = _power.check_seconds(option, p[option])
        if problem:
            raise InvalidInput(problem)
    asked = [o for o in ("xenstore_data", "power_state", "wait_for") if p.get(o)]
    if p.get("xenstore_data_exclusive"):
        asked.append("xenstore_data_exclusive")
    if p["state"] == "absent" and asked:
        raise InvalidInput("%s need%s state: present (state: absent removes the VM)"
                           % (", ".join(asked), "s" if len(asked) == 1 else ""))
    if p.get("wait_for") and p.get("power_state") in NOT_RUNNING:
        raise InvalidInput("wait_for: %s can never be met by a VM left %s (power_state: %s)"
                           % (p["wait_for"], p["power_state"], p["power_state"]))


class Outcome(object):
    """What converge found and did, kept up to date as it goes: a failure still reports the
    VM's ref and the changes made so far."""

    def __init__(self, changes=None):
        self.changes = changes if changes is not None else ChangeSet()
        self.ref = None
        self.created = False
        self.facts = {}
        self.removed = []
        self.kept = []
        self.removed_snapshots = []
        self.ip = ""
        self.power_state = ""
        self.notes = []


def converge(xs, outcome=None):
    """Bring the VM to what ``xs.params`` asks (``xs``: params, client, check_mode); returns
    the Outcome (also filled in when it raises)."""
    p, client = xs.params, xs.client
    outcome = outcome or Outcome()
    changes = outcome.changes
    records = Records(client)
    ref, facts, outcome.removed, outcome.kept, outcome.removed_snapshots = lifecycle.settle(xs, records, changes)
    outcome.ref = ref
    if p["state"] == "absent":
        return outcome
    outcome.created = facts is None
    record = None if outcome.created else records.get(ref)
    name = p["name"] or record["name_label"]
    if record is None:
        # A new VM (its vm-data keys were written while it was made), or check mode of one.
        power = "halted"
        if p.get("xenstore_data") or p.get("xenstore_data_exclusive"):
            changes.compare("xenstore_data", {}, _xenstore.vm_data(
                _xenstore.plan({}, p["xenstore_data"], exclusive=p.get("xenstore_data_exclusive"))))
    else:
        power = record["power_state"].lower()
    plan = Plan(changes)
    acts = False        # whether the plan below changes the VM after its configuration
    if record is not None and (p["xenstore_data"] or p.get("xenstore_data_exclusive")):
        planned = _xenstore.plan_into(plan, client, ref, record, p["xenstore_data"],
                                      exclusive=p.get("xenstore_data_exclusive"))
        acts = planned["before"] != planned["after"]
    done = []
    if p["power_state"]:
        steps, done = _power.plan_into(plan, client, ref, name, power, p["power_state"],
                                       p["shutdown_timeout"], force=p["force"], fallback=p["hard_shutdown_fallback"],
                                       notes=outcome.notes)
        acts = acts or bool(steps)
    outcome.power_state = p["power_state"] or power
    if xs.check_mode or ref is None:
        plan.apply(check_mode=True)
        outcome.facts = {} if ref is None else records.facts(ref)
        return outcome
    plan.apply()
    if p["wait_for"]:
        waited = _power.wait(client, ref, name, p["wait_for"], p["wait_timeout"],
                             record=None if done else record, after=done or None)
        outcome.ip = waited.get("ip", "")
    if outcome.created:
        records.read_changes(ref)
    elif acts:
        # Power and vm-data change the VM record (and its guest metrics), not its devices.
        records.forget("VM", "VM_guest_metrics")
        records.vm_devices(ref)
    outcome.facts = records.facts(ref)
    outcome.power_state = outcome.facts["power_state"]
    return outcome


def run(xs):
    """The vm module."""
    try:
        check(xs.params)
    except InvalidInput as err:
        xs.fail(str(err), error_code=err.code)
    outcome = Outcome()
    try:
        converge(xs, outcome)
    except XenServerError as err:
        # What was done before the failure (a VM made, then a start that failed) is reported.
        xs.fail(str(err), error_code=err.code, error_params=err.params, changed=outcome.changes.changed,
                changes=outcome.changes.summary())
    extra = {}
    if xs.params["state"] == "absent":
        return xs.result(outcome.changes, vm={}, removed_disks=outcome.removed, kept_disks=outcome.kept,
                         removed_snapshots=outcome.removed_snapshots)
    if xs.params["wait_for"]:
        extra["ip"] = outcome.ip
    return xs.result(outcome.changes, vm=outcome.facts, **extra)
