# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""Power transitions and waits, shared by vm_power and the install roles.

``plan`` maps (current power state, wanted state) to the XenAPI calls that get there, only
along paths xapi allows (ocaml/xapi/xapi_vm_lifecycle.ml); ``apply`` runs them, the ones that
wait on the guest as Async tasks so a timeout can be enforced, falling back from a clean to a
hard shutdown or reboot when asked; ``wait`` blocks on event.from for running / halted / an IP / the guest agent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.xenserver.provisioning.plugins.module_utils._addresses import primary_address
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NULL_REF, Gone, WaitTimeout, XenServerError

POWER_STATES = ("running", "halted", "suspended", "paused")
STATES = POWER_STATES + ("restarted",)
WAIT_CONDITIONS = ("running", "halted", "ip", "guest_agent", "pv_drivers")
# The hard counterpart of each operation that needs the guest's cooperation.
HARD = {"clean_shutdown": "hard_shutdown", "clean_reboot": "hard_reboot"}
VERB = {"clean_shutdown": "shut down", "clean_reboot": "reboot"}
# Arguments after the VM ref (start/resume: start_paused, force).
ARGS = {"start": (False, False), "start_paused": (True, False),
        "resume": (False, False), "resume_paused": (True, False)}
# The XenAPI message behind each step name.
MESSAGE = {"start_paused": "start", "resume_paused": "resume"}
# The steps that wait on the guest (or on saving its memory), run as Async tasks so that a
# timeout can be enforced; the others xapi finishes by itself: one plain call each.
TIMED = ("clean_shutdown", "clean_reboot", "suspend")
# The power state each step leads to (reboots lead back where they were: not listed).
LEADS_TO = {"start": "Running", "start_paused": "Paused", "resume": "Running", "resume_paused": "Paused",
            "unpause": "Running", "pause": "Paused", "suspend": "Suspended", "clean_shutdown": "Halted",
            "hard_shutdown": "Halted"}

LACKS_FEATURE = (
    "VM '{name}' cannot {what} cleanly: it is an HVM guest without PV drivers (VM_LACKS_FEATURE). "
    "force: true does a hard {noun} at once, hard_shutdown_fallback: true does one when the clean "
    "{noun} is refused or times out; either is like pulling the power cord, so unsaved data in "
    "the guest is lost. Installing the guest's PV drivers / guest agent makes a clean {noun} possible.")
SUSPEND_LACKS_FEATURE = (
    "VM '{name}' cannot be suspended: it is an HVM guest without PV drivers (VM_LACKS_FEATURE); "
    "install the guest's PV drivers first")
SHUTDOWN_TIMEOUT = (
    "VM '{name}' did not finish its clean {noun} within {timeout} s (shutdown_timeout): the guest "
    "ignored the request or is still busy. XenServer may still complete it. Raise shutdown_timeout, "
    "or set hard_shutdown_fallback: true to do a hard {noun} after the timeout.")


# The longest wait a module takes (a week): beyond it a timeout is a mistake (2**63 seconds
# once made a task wait forever), refused naming the option.
MAX_TIMEOUT = 7 * 86400


def check_seconds(option, value):
    """A timeout option: a whole number of seconds, above 0 and at most MAX_TIMEOUT; else a
    message naming it (None when it is fine)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return "%s must be a whole number of seconds, got %r" % (option, value)
    if not 0 < value <= MAX_TIMEOUT:
        return "%s must be a positive number of seconds, at most %d (a week), got %s" % (option, MAX_TIMEOUT, value)
    return None


def plan(current, wanted, force=False):
    """The operations taking a VM from ``current`` to ``wanted`` (lowercase states).

    ``restarted`` always gives a reboot (or a start when halted). Raises XenServerError for a
    transition XenServer cannot make.
    """
    current = current.lower()
    if wanted == "restarted":
        if current == "running":
            return ["hard_reboot" if force else "clean_reboot"]
        if current == "paused":
            return ["hard_reboot"]          # a paused guest cannot answer a clean reboot
        if current == "halted":
            return ["start"]
        raise XenServerError("a suspended VM cannot be restarted: resume it first (state: running), "
                             "or halt it (state: halted) and then start it", code="VM_BAD_POWER_STATE")
    if current == wanted:
        return []
    table = {
        ("halted", "running"): ["start"],
        ("suspended", "running"): ["resume"],
        ("paused", "running"): ["unpause"],
        ("running", "halted"): ["hard_shutdown" if force else "clean_shutdown"],
        # A paused or suspended guest cannot take part in a clean shutdown; a hard shutdown of a
        # suspended VM discards its saved memory image (xapi destroys the suspend VDI).
        ("paused", "halted"): ["hard_shutdown"],
        ("suspended", "halted"): ["hard_shutdown"],
        ("running", "suspended"): ["suspend"],
        ("paused", "suspended"): ["unpause", "suspend"],
        ("running", "paused"): ["pause"],
        ("halted", "paused"): ["start_paused"],
        ("suspended", "paused"): ["resume_paused"],
    }
    steps = table.get((current, wanted))
    if steps is None:
        # The one impossible pair: halted -> suspended (only a running guest has memory to save).
        raise XenServerError("a %s VM cannot be %s: XenServer suspends only running VMs; "
                             "start it first (state: running), then suspend it" % (current, wanted),
                             code="VM_BAD_POWER_STATE")
    return list(steps)


def predicted_state(current, wanted):
    """The power state ``wanted`` leads to (restarted ends running)."""
    return "running" if wanted == "restarted" else wanted


def _timed_out(err):
    return err.code == WaitTimeout.CODE


def apply(client, ref, name, steps, shutdown_timeout, fallback=False, notes=None, done=None):
    """Run ``steps`` (from ``plan``), the TIMED ones as Async tasks; returns the operations
    actually done (appended to ``done`` as they finish, so a caller still knows them after a
    failure).

    A clean shutdown/reboot is bounded by ``shutdown_timeout``; when it is refused
    (VM_LACKS_FEATURE) or times out, ``fallback`` does the hard one (which also cancels the
    pending clean one, as xapi does) and says why in ``notes`` (a list), otherwise the failure
    says what to do.
    """
    done = [] if done is None else done
    for step in steps:
        message = MESSAGE.get(step, step)
        args = ARGS.get(step, ())
        if step not in HARD:
            try:
                _run_step(client, ref, step, "VM.%s" % message, args)
            except XenServerError as err:
                if step == "suspend" and err.code == "VM_LACKS_FEATURE":
                    raise XenServerError(SUSPEND_LACKS_FEATURE.format(name=name), code=err.code,
                                         params=err.params)
                raise
            done.append(step)
            continue
        hard = HARD[step]
        words = dict(name=name, what=VERB[step], noun=hard.split("_")[1], timeout=shutdown_timeout)
        problem = None
        try:
            _run_step(client, ref, step, "VM.%s" % step, (), timeout=shutdown_timeout)
        except XenServerError as err:
            if err.code == "VM_LACKS_FEATURE":
                problem = XenServerError(LACKS_FEATURE.format(**words), code=err.code, params=err.params)
            elif _timed_out(err):
                problem = WaitTimeout(SHUTDOWN_TIMEOUT.format(**words), code="SHUTDOWN_TIMEOUT")
            else:
                raise
        if problem is None:
            done.append(step)
            continue
        if not fallback:
            raise problem
        if notes is not None:
            notes.append("clean %s of VM '%s' %s: did a hard %s instead (hard_shutdown_fallback)" % (
                words["noun"], name, "refused (VM_LACKS_FEATURE)" if problem.code == "VM_LACKS_FEATURE"
                else "not finished within %s s" % shutdown_timeout, words["noun"]))
        _run_step(client, ref, hard, "VM.%s" % hard, ())
        done.append(hard)
    return done


def _run_step(client, ref, step, method, args, timeout=None):
    """One power operation, made safe to repeat: when its answer was lost, or its task died
    with a restarting master (TASK_LOST), the repeat may meet a VM that is already where the
    step leads (VM_BAD_POWER_STATE): that is success. A lost task with the VM not there yet
    is tried once more."""
    target = LEADS_TO.get(step)
    for attempt in (0, 1):
        try:
            if step in TIMED:
                client.run_async(method, ref, *args, timeout=timeout)
            else:
                client.call(method, ref, *args)
            return
        except XenServerError as err:
            if target is None or err.code not in ("VM_BAD_POWER_STATE", "TASK_LOST"):
                raise
            if client.call("VM.get_power_state", ref) == target:
                return
            if err.code != "TASK_LOST" or attempt:
                raise


# --- waits ---------------------------------------------------------------------------------

def agent_reported(metrics):
    """Whether the guest agent has reported (xapi may create the record before it does)."""
    return bool(metrics.get("PV_drivers_detected") or metrics.get("os_version")
                or metrics.get("PV_drivers_version"))


def pv_drivers_reported(metrics):
    """Whether the guest reports PV drivers (the XenServer VM Tools are installed and running)."""
    return bool(metrics.get("PV_drivers_detected"))


def current_ip(client, record):
    """The VM's IP from its guest metrics, when it has any (one call, none if no metrics)."""
    if record["power_state"] != "Running" or record["guest_metrics"] == NULL_REF:
        return ""
    try:
        return primary_address(client.call("VM_guest_metrics.get_networks", record["guest_metrics"]))
    except XenServerError:      # the metrics went away between the two reads
        return ""


def wait(client, ref, name, condition, timeout, record=None, after=None):
    """Block (event.from) until ``condition`` holds; returns dict(power_state, ip).

    ``record`` is the VM as last read (None after a power change: xapi replaces the guest
    metrics on every boot); a condition it already shows costs no call. An IP or guest-agent
    wait costs one event.from for the VM, one more when its guest metrics appear and one per
    change of those: the number of calls follows the changes, never the time waited.

    ``after``: the steps ``apply`` just completed. When the last one leads to the power state
    waited for (a VM.start task that succeeded leaves the VM running), the wait costs no call:
    the VM is not read again (and has no guest metrics yet after a start, so no IP either).
    """
    what = {"running": "to be running", "halted": "to be halted",
            "ip": "to report an IP address", "guest_agent": "to report its guest agent",
            "pv_drivers": "to report PV drivers"}[condition]
    deadline = time.time() + timeout
    try:
        if condition in ("running", "halted"):
            wanted = condition.capitalize()
            if after and LEADS_TO.get(after[-1]) == wanted:
                return dict(power_state=condition, ip="")
            if record is None or record["power_state"] != wanted:
                record = client.wait_for("vm", ref, lambda r: r["power_state"] == wanted, timeout,
                                         what="VM '%s' %s" % (name, what))
            return dict(power_state=condition,
                        ip=current_ip(client, record) if condition == "running" else "")
        done = {"ip": lambda m: primary_address(m.get("networks")), "guest_agent": agent_reported,
                "pv_drivers": pv_drivers_reported}[condition]
        while True:
            if record is None or record["guest_metrics"] == NULL_REF:
                record = client.wait_for("vm", ref, _metrics_linked(name, what), _left(deadline),
                                         what="VM '%s' %s" % (name, what))
            try:
                metrics = client.wait_for("vm_guest_metrics", record["guest_metrics"], done,
                                          _left(deadline), what="VM '%s' %s" % (name, what))
            except XenServerError as err:
                if err.code == Gone.CODE:
                    record = None   # the guest rebooted and xapi dropped its metrics: wait again
                    continue
                raise
            return dict(power_state="running", ip=primary_address(metrics.get("networks")))
    except XenServerError as err:
        if not _timed_out(err):
            raise
        hint = WAIT_HINTS.get(condition, "")
        raise WaitTimeout("timed out after %s s (wait_timeout) waiting for VM '%s' %s%s" % (timeout, name, what, hint))


WAIT_HINTS = {
    "ip": ": is the guest agent (xe-guest-utilities / XenServer VM Tools) installed and running, "
          "and does the guest get an address (DHCP or static)?",
    "guest_agent": ": is the guest agent (xe-guest-utilities / XenServer VM Tools) installed and running?",
    "pv_drivers": ": were the XenServer VM Tools (xs-tools.iso) installed in the guest, and is it running them?",
}


def _left(deadline):
    remaining = deadline - time.time()
    if remaining <= 0:
        raise WaitTimeout("timed out")
    return remaining


def _metrics_linked(name, what):
    def done(record):
        if record["power_state"] in ("Halted", "Suspended"):
            # A stopped guest reports nothing: fail now rather than at the timeout.
            raise XenServerError("VM '%s' is %s, so it cannot %s; set state: running" % (
                name, record["power_state"].lower(), what.replace("to ", "", 1)), code="VM_NOT_RUNNING")
        return record["guest_metrics"] != NULL_REF
    return done


def plan_into(into, client, ref, name, current, wanted, shutdown_timeout, force=False, fallback=False, notes=None):
    """Plan the way from ``current`` to ``wanted`` into ``into`` (a _plan.Plan): the field
    power_state and one action per step, each applied as ``apply`` runs it (a clean shutdown
    that falls back to a hard one is reported as the hard one). The vm and vm_power modules
    share it. Returns (steps, done): the planned steps, and the list of those done, filled in
    as they run (for ``wait``'s ``after``)."""
    steps = plan(current, wanted, force=force)
    into.changes.compare("power_state", current, predicted_state(current, wanted))
    done = []
    for step in steps:
        def run(step=step):
            before = len(done)
            apply(client, ref, name, [step], shutdown_timeout, fallback=fallback, notes=notes, done=done)
            return done[before:]
        into.action(step, run)
    return steps, done
