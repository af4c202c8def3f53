#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_fleet
short_description: Create, configure and start many XenServer VMs in one task
version_added: 0.2.0
description:
  - Brings a list of VMs to what each entry of O(vms) asks, in one task and in parallel
    (O(parallel) threads). Each entry is what one M(xenserver.provisioning.vm) task does,
    with the same options and the same code, so the VM ends the same way.
  - Run it once (typically on C(localhost)) instead of one M(xenserver.provisioning.vm) task per
    inventory host when one controller runs the whole fleet; Ansible's own cost per task and
    host, not XenServer, bounds the speed of a per-host run. A per-host playbook fits job slicing
    and per-host error handling better (the collection's docs/scaling.md).
  - Every entry is checked (options, values, vm-data keys) before anything changes; a bad one
    fails the task naming the VM and the value. A VM that fails on the pool (a template or
    network that does not exist, a failed start) does not stop the others; all are attempted,
    and the task fails afterwards listing the VMs that failed.
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes
options:
  vms:
    description:
      - The VMs. Each entry takes exactly the options of M(xenserver.provisioning.vm) (C(name),
        C(template), C(memory_mb), C(vcpus), C(disks), C(networks), C(other_config), C(firmware),
        C(secure_boot), C(vtpm), C(xenstore_data), C(power_state), C(wait_for), C(wait_timeout),
        ..., C(state=absent) included) with the same meaning and defaults; not the connection
        options, which are the task's.
      - C(name) is required and must be unique in the list; there is no C(uuid).
    type: list
    elements: dict
    required: true
  parallel:
    description:
      - How many VMs are worked on at the same time (threads, each with its own connection).
    type: int
    default: 10
notes:
  - "Call economy: per VM what one M(xenserver.provisioning.vm) task costs without its login;
    the threads share the controller's cached session (O(reuse_session)), or log in once each.
    A full provision (clone, 1 disk, 1 NIC, 3 vm-data keys, started, waited for until running)
    costs 14 calls per VM, a run that changes nothing 3 per VM."
seealso:
  - module: xenserver.provisioning.vm
  - module: xenserver.provisioning.vm_xenstore_data
  - module: xenserver.provisioning.vm_power
"""

EXAMPLES = r"""
# One inventory host per VM (group web), each with its entry in group_vars/web.yml:
#   vm: {name: "{{ inventory_hostname }}", template: CentOS 5 (64-bit), memory_mb: 1024, vcpus: 1,
#        power_state: running, wait_for: running}
- name: Every web server of the play, started, in one task
  xenserver.provisioning.vm_fleet:
    hostname: pool-master.example.com
    password: "{{ xenserver_password }}"
    parallel: 10
    vms: "{{ ansible_play_hosts | map('extract', hostvars, 'vm') | list }}"
  delegate_to: localhost
  run_once: true

- name: Two VMs with vm-data keys
  xenserver.provisioning.vm_fleet:
    vms:
      - name: db01
        template: CentOS 5 (64-bit)
        memory_mb: 4096
        disks: [{size_gb: 40}]
        networks: [{network: Pool-wide network associated with eth0}]
        xenstore_data: {hostname: db01, role: db}
        power_state: running
      - name: db02
        template: CentOS 5 (64-bit)
        memory_mb: 4096
        xenstore_data: {hostname: db02, role: db}
        power_state: running
"""

RETURN = r"""
vms:
  description: One entry per VM of O(vms), in the same order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The VM's name.
      type: str
    uuid:
      description:
        - Its uuid (empty when it would be created in check mode, or was removed).
        - For a VM that failed after it was found or made (a failed start, a wait that timed out),
          its uuid all the same, with RV(vms[].changed) and RV(vms[].changes) saying what was done.
      type: str
    changed:
      description: Whether this VM changed.
      type: bool
    changes:
      description: As the C(changes) of M(xenserver.provisioning.vm) (C(fields), C(actions), C(needs_halt)).
      type: dict
    power_state:
      description: The VM's power state after the run (for a VM that failed, as the pool reports it then).
      type: str
    ip:
      description: The IP address the wait saw (with C(wait_for=ip)), otherwise empty.
      type: str
    failed:
      description: Whether this VM failed.
      type: bool
    msg:
      description: Why it failed.
      type: str
      returned: when failed
  sample:
    - name: web01
      uuid: 8d6a0a4e-8b0c-4ad2-a6b6-3b1d5e1a9d7c
      changed: true
      power_state: running
      ip: ""
      failed: false
      changes:
        fields: [memory_mb, state, xenstore_data]
        actions: ["clone 'CentOS 5 (64-bit)' as VM 'web01'", start]
        needs_halt: []
failed_vms:
  description: The names of the VMs that failed.
  returned: always
  type: list
  elements: str
"""

import threading
import traceback

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.xenserver.provisioning.plugins.module_utils import _vm_converge
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerError
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import (
    INVALID_INPUT,
    UNEXPECTED_ERROR,
    XenServerModule,
    new_client,
)
from ansible_collections.xenserver.provisioning.plugins.module_utils._spec import vm_argument_spec


def entry_spec():
    """Exactly the vm module's options, but name is required (and there is no uuid)."""
    spec = vm_argument_spec()
    spec["name"] = dict(type="str", required=True)
    del spec["uuid"]
    return spec


def check_entries(vms):
    """Every entry validated and completed with defaults; ValueError naming the VM otherwise."""
    validator = ArgumentSpecValidator(entry_spec(), mutually_exclusive=[("template", "template_uuid")])
    checked, seen = [], set()
    for index, entry in enumerate(vms):
        label = "vms[%d]" % index
        if isinstance(entry, dict) and entry.get("name"):
            label += " (VM '%s')" % entry["name"]
        if not isinstance(entry, dict):
            raise ValueError("%s must be a dict of vm options, got %r" % (label, entry))
        result = validator.validate(entry)
        if result.error_messages:
            raise ValueError("%s: %s" % (label, "; ".join(result.error_messages)))
        p = result.validated_parameters
        if p["name"] in seen:
            raise ValueError("%s: the name '%s' is given twice" % (label, p["name"]))
        seen.add(p["name"])
        try:
            _vm_converge.check(p)
        except XenServerError as err:
            raise ValueError("%s: %s" % (label, err))
        checked.append(p)
    return checked


class VMTask(object):
    """What the vm module's code needs of a XenServerModule (params, client, check_mode), for
    one VM of the fleet, on the session of the thread that works on it."""

    def __init__(self, client, params, check_mode):
        self.client = client
        self.params = params
        self.check_mode = check_mode
        # What converge has found and done so far: a failure still reports it.
        self.outcome = _vm_converge.Outcome()


def converge(task):
    """One VM, as the vm module does it; returns (result entry, changes)."""
    outcome = _vm_converge.converge(task, task.outcome)
    entry = dict(name=task.params["name"], uuid=outcome.facts.get("uuid", ""), power_state=outcome.power_state,
                 ip=outcome.ip, failed=False)
    if task.params["state"] == "absent":
        entry["power_state"] = ""
    return entry, outcome.changes


class Fleet(object):
    def __init__(self, xs, vms):
        self.xs = xs
        self.vms = vms
        self.results = [None] * len(vms)
        self.lock = threading.Lock()
        self.next = 0

    def _take(self):
        with self.lock:
            if self.next >= len(self.vms):
                return None
            index, self.next = self.next, self.next + 1
            return index

    def _client(self):
        return new_client(self.xs.params).connect()

    def worker(self):
        client, login_error = None, None
        try:
            while True:
                index = self._take()
                if index is None:
                    return
                params = self.vms[index]
                if client is None and login_error is None:
                    try:
                        client = self._client()
                    except Exception as err:  # any failure to connect fails this thread's VMs only
                        login_error = err
                if login_error is not None:
                    self.results[index] = self._failure(params, login_error, _vm_converge.Outcome())
                    continue
                task = VMTask(client, params, self.xs.check_mode)
                try:
                    entry, changes = converge(task)
                except XenServerError as err:
                    self.results[index] = self._failure(params, err, task.outcome, task=task)
                    continue
                except Exception as err:  # a bug of ours: still reported for this VM only
                    self.results[index] = self._failure(params, "unexpected error: %s" % err, task.outcome,
                                                        task=task, exception=traceback.format_exc())
                    continue
                self.results[index] = (entry, changes, task.outcome.notes)
        finally:
            if client is not None:
                client.logout()

    @staticmethod
    def _failure(params, err, outcome, task=None, **extra):
        entry = dict(name=params["name"], uuid="", power_state="", ip="", failed=True,
                     msg="VM '%s': %s" % (params["name"], err),
                     error_code=getattr(err, "code", None) or UNEXPECTED_ERROR, **extra)
        if task is not None and outcome.ref is not None:
            # The VM is there (a wait that timed out, a failed start): its uuid and where it is now.
            try:
                record = task.client.call("VM.get_record", outcome.ref)
                entry["uuid"], entry["power_state"] = record["uuid"], record["power_state"].lower()
            except XenServerError:
                entry["power_state"] = outcome.power_state
        return entry, outcome.changes, outcome.notes

    def run(self):
        count = max(1, min(self.xs.params["parallel"], len(self.vms)))
        threads = [threading.Thread(target=self.worker) for _index in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.results


def run(xs):
    p = xs.params
    if p["parallel"] < 1:
        xs.fail("parallel must be at least 1, got %s" % p["parallel"], error_code=INVALID_INPUT)
    try:
        vms = check_entries(p["vms"])
    except ValueError as err:
        xs.fail(str(err), error_code=INVALID_INPUT)
    results = Fleet(xs, vms).run()
    entries, diffs, failed = [], [], []
    for entry, changes, notes in results:
        entry["changed"] = changes.changed
        entry["changes"] = changes.summary()
        for note in notes:
            xs.module.warn("VM '%s': %s" % (entry["name"], note))
        if entry["failed"]:
            failed.append(entry["name"])
        entries.append(entry)
        if changes.changed:
            diff = changes.diff()
            diffs.append(dict(before_header=entry["name"], after_header=entry["name"],
                              before=diff["before"], after=diff["after"]))
    result = dict(changed=any(e["changed"] for e in entries), vms=entries, failed_vms=failed)
    if xs.module._diff:
        result["diff"] = diffs
    if failed:
        result["msg"] = "%d of %d VMs failed: %s" % (len(failed), len(entries), "; ".join(
            e["msg"] for e in entries if e["failed"]))
        codes = sorted(set(e["error_code"] for e in entries if e["failed"]))
        # One code when every VM failed the same way; each VM's own is in its entry.
        xs.fail(result.pop("msg"), error_code=codes[0] if len(codes) == 1 else "VMS_FAILED", **result)
    return result


def main():
    xs = XenServerModule(
        dict(
            vms=dict(type="list", elements="dict", required=True),
            parallel=dict(type="int", default=10),
        ),
    )
    xs.run(run)


if __name__ == "__main__":
    main()
