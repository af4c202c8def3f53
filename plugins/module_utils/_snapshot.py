# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""A VM's snapshots (vm_snapshot): find them by name, take, revert and remove them.

A snapshot is a VM record with is_a_snapshot (and is_a_template) true and snapshot_of
pointing at its VM. VM.snapshot copies the disks into snapshot VDIs (is_a_snapshot,
snapshot_of the VM's VDI); VM.destroy of a snapshot leaves those VDIs, which the client
destroys with VDI.destroy, as XenCenter does (``_vm_removal``, which removes a VM with its
snapshots the same way). VM.revert halts the VM and puts the
snapshot's disks and settings back; the VM ends halted for a disk-only snapshot.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.xenserver.provisioning.plugins.module_utils import _vm_removal
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NOT_DONE, XenServerError
from ansible_collections.xenserver.provisioning.plugins.module_utils._records import Records


def snapshots_of(client, vm_ref):
    """{ref: record} of the VM's snapshots: one call (the where-expression holds only a ref)."""
    return client.call("VM.get_all_records_where",
                       'field "snapshot_of"="%s" and field "is_a_snapshot"="true"' % vm_ref)


def find(snapshots, name, vm_name):
    """(ref, record) of the snapshot named ``name``, or (None, None); several is an error."""
    matches = [(ref, record) for ref, record in snapshots.items() if record["name_label"] == name]
    if len(matches) > 1:
        raise XenServerError("VM '%s' has %d snapshots named '%s' (uuids: %s); rename or remove all but one"
                             % (vm_name, len(matches), name, ", ".join(sorted(r["uuid"] for _ref, r in matches))),
                             code="SNAPSHOT_AMBIGUOUS")
    return matches[0] if matches else (None, None)


def facts(snapshots):
    """The snapshots as [{name, uuid, time}], oldest first."""
    found = [{"name": r["name_label"], "uuid": r["uuid"], "time": str(r["snapshot_time"])}
             for r in snapshots.values()]
    return sorted(found, key=lambda s: (s["time"], s["name"], s["uuid"]))


def take(client, vm_ref, name):
    """VM.snapshot through a task; if its answer is lost, the snapshot it made is found by name."""
    def recover():
        made = [ref for ref, r in snapshots_of(client, vm_ref).items() if r["name_label"] == name]
        return made[0] if made else NOT_DONE
    return client.run_async("VM.snapshot", vm_ref, name, recover=recover)


def removal(client, snap_ref, snap):
    """What removing the snapshot takes (``_vm_removal.Removal``; two calls): its record and
    the snapshot disks only it uses (``owned``). A VDI that is not a snapshot (the VM's own
    disk), an ISO, or one another VM also uses is never among them."""
    return _vm_removal.plan(Records(client), snap_ref, snap)


def remove(client, planned):
    """The snapshot record first (if that fails no disk is lost), then its own disks."""
    _vm_removal.apply(client, planned, what="snapshot '%s'" % planned.record["name_label"])
