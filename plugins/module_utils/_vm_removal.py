# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""Removing a VM (or a template, or a snapshot) with its snapshots and the disks only they use:
the one implementation for ``vm`` (state absent, the half-made VMs of earlier runs),
``vm_template`` and ``vm_snapshot``.

xapi's VM.destroy removes the record with its VBDs and VIFs, never its disks nor its snapshots
(xapi_vm.ml, xapi_vm_helpers.ml ``destroy``): a VM destroyed alone leaves snapshots whose
``snapshot_of`` names a VM that is gone, which no module can reach by the VM's name. So what
goes is decided here (``plan``) and removed in one order (``apply``): the disks get the claim
holder's marker, then the VM goes (if that fails, nothing is lost), then its snapshots, then
the disks. A snapshot that cannot be destroyed does not stop the others, nor the disks no
snapshot left uses: the error then names what is left.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.xenserver.provisioning.plugins.module_utils import _claim
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NULL_REF, XenServerError


class Removal(object):
    """What removing one VM takes: the VM, the snapshots that go with it (oldest first), the
    disks only they use (``owned``, removed) and the others (``kept``, each with its reason)."""

    def __init__(self, records, ref, record, snapshots, owned, kept):
        self.records = records
        self.ref = ref
        self.record = record
        self.snapshots = snapshots
        self.owned = owned
        self.kept = kept

    def describe(self, changes):
        """The actions after the VM's own: its snapshots, then the disks."""
        for _ref, snap in self.snapshots:
            changes.action("destroy snapshot '%s' (%s)" % (snap["name_label"], snap["uuid"]))
        for disk in self.owned:
            changes.action("destroy disk '%s' (%s)" % (disk["name"], disk["uuid"]))

    def removed_disks(self):
        return without_refs(self.owned)

    def kept_disks(self):
        return without_refs(self.kept)

    def removed_snapshots(self):
        """The snapshots as vm_snapshot returns them: [{name, uuid, time}], oldest first."""
        return [{"name": s["name_label"], "uuid": s["uuid"], "time": str(s["snapshot_time"])}
                for _ref, s in self.snapshots]


def _snapshot_order(item):
    return (str(item[1]["snapshot_time"]), item[1]["name_label"], item[1]["uuid"])


def plan(records, ref, record, keep_disks=False, keep_snapshots=False):
    """The ``Removal`` of the VM ``ref``: reads it with its devices (two calls) and, unless
    ``keep_snapshots``, its snapshots with theirs (one call more, only when it has some: the
    VM's record lists them). Snapshots removed meanwhile are left out."""
    records.put("VM", {ref: record})
    snap_refs = [] if keep_snapshots else list(record.get("snapshots") or [])
    records.devices_of([ref] + snap_refs)
    if records.get(ref) is None:
        raise XenServerError("the VM %s was removed while this task ran" % ref, code="HANDLE_INVALID")
    snapshots = sorted(((s, records.get(s)) for s in snap_refs if records.get(s) is not None), key=_snapshot_order)
    for _snap_ref, snap in snapshots:
        blocked = snap.get("blocked_operations") or {}
        if "destroy" in blocked:
            # Known before anything is destroyed: fail with nothing changed.
            raise XenServerError("VM '%s' has snapshot '%s' (%s) whose destroy is blocked (%s); unblock it, or set "
                                 "keep_snapshots: true to keep the snapshots" % (
                                     record["name_label"], snap["name_label"], snap["uuid"],
                                     blocked["destroy"]), code="OPERATION_BLOCKED")
    owned, kept = classify_disks(records, ref, keep_disks, [s for s, _snap in snapshots])
    return Removal(records, ref, record, snapshots, owned, kept)


def apply(client, removal, holder=None, what=None):
    """Remove what ``removal`` holds. ``holder``: the request of the claim this run holds; the
    disks get its marker first, so a run killed before its last VDI.destroy leaves disks the
    claim's next holder removes. ``what`` names the VM in an error."""
    mark_disks(client, removal.records, [d["ref"] for d in removal.owned], holder)
    # The VM first: if that fails, nothing is lost (its snapshots and disks are all still there).
    client.call("VM.destroy", removal.ref)
    failure, left = None, []
    standing = set()        # snapshots still there: their disks stay with them
    for snap_ref, snap in removal.snapshots:
        try:
            client.call("VM.destroy", snap_ref)
        except XenServerError as err:
            failure = failure or err
            standing.add(snap_ref)
            left.append(snap["uuid"])
    records = removal.records
    for disk in removal.owned:
        users = set((records.get(v) or {}).get("VM") for v in records.get(disk["ref"])["VBDs"])
        if users & standing:
            left.append(disk["uuid"])
            continue
        try:
            client.call("VDI.destroy", disk["ref"])
        except XenServerError as err:
            failure = failure or err
            left.append(disk["uuid"])
    if failure is not None:
        raise XenServerError("%s was removed but not all its %s: %s (left: %s)" % (
            what or "VM '%s'" % removal.record["name_label"],
            "snapshots and disks" if removal.snapshots else "disks", failure, ", ".join(left)),
            code=failure.code, params=failure.params)


def classify_disks(records, vm_ref, keep_disks, snapshot_refs=()):
    """(owned, kept): the disks of the VM (and of ``snapshot_refs``, the snapshots removed with
    it) that only they use, and the others, each with why it stays.

    Never removed: CD/ISO media, VDIs on an ISO library, sharable or read-only VDIs, VDIs a VM
    (or template, or snapshot) not being removed also has a VBD to, a snapshot disk none of the
    removed snapshots uses, a VM's disk only removed snapshots use, and everything with
    keep_disks. The VM's disks are listed by VBD (userdevice order); a snapshot's disks follow,
    each VDI once.
    """
    removed_vms = [vm_ref] + list(snapshot_refs)
    vbds = {}
    for ref in removed_vms:
        vbds.update(records.vbds_of(ref))
    records.fetch([("SR", records.get(v["VDI"])["SR"]) for v in vbds.values()
                   if v["VDI"] != NULL_REF and records.get(v["VDI"]) and v["type"] == "Disk" and not keep_disks])
    owned, kept, listed = [], [], set()
    for ref in removed_vms:
        own = sorted((v for v in records.vbds_of(ref).values() if v["VDI"] != NULL_REF), key=lambda v: v["userdevice"])
        for vbd in own:
            vdi = records.get(vbd["VDI"])
            if vdi is None or (ref != vm_ref and vbd["VDI"] in listed):
                continue
            reason = _reason(records, vbd, vdi, vbds, keep_disks)
            entry = dict(ref=vbd["VDI"], uuid=vdi["uuid"], name=vdi["name_label"], size=int(vdi["virtual_size"]),
                         userdevice=vbd["userdevice"])
            if ref != vm_ref:
                entry["snapshot"] = records.get(ref)["uuid"]
            if reason:
                entry["reason"] = reason
                kept.append(entry)
            elif vbd["VDI"] not in listed:
                owned.append(entry)
            listed.add(vbd["VDI"])
    return owned, kept


def _reason(records, vbd, vdi, removed_vbds, keep_disks):
    """Why the VDI of ``vbd`` stays (None: it goes with the VMs whose VBDs are ``removed_vbds``)."""
    sr = records.get(vdi["SR"]) or {}
    if keep_disks:
        return "keep_disks"
    if vbd["type"] != "Disk":
        return "CD/ISO media"
    if sr.get("content_type") == "iso" or vdi.get("is_tools_iso"):
        return "on an ISO library"
    if vdi["sharable"]:
        return "sharable"
    if vdi["read_only"]:
        return "read-only"
    if set(vdi["VBDs"]) - set(removed_vbds):
        return "attached to another VM"
    # A snapshot disk goes with a snapshot, a VM's own disk with the VM: a snapshot disk a user
    # attached to the VM is another VM's restore point; a VM's disk is never a snapshot's to take.
    users = [records.get(vm) or {} for vm in set([vbd["VM"]] + [removed_vbds[v]["VM"] for v in vdi["VBDs"]])]
    if not any(bool(u.get("is_a_snapshot")) == bool(vdi.get("is_a_snapshot")) for u in users):
        return "a snapshot" if vdi.get("is_a_snapshot") else "not a snapshot disk"
    return None


def mark_disks(client, records, vdi_refs, holder):
    """Give the disks that have none this run's holder marker (``_claim.HOLDER_KEY``): if the
    run dies before it has removed (or finished) them, the next holder of the claim finds them."""
    if not holder:
        return
    for vdi_ref in vdi_refs:
        vdi = records.get(vdi_ref)
        if vdi is not None and _claim.HOLDER_KEY not in vdi["other_config"]:
            client.call("VDI.add_to_other_config", vdi_ref, _claim.HOLDER_KEY, holder)
            vdi["other_config"][_claim.HOLDER_KEY] = holder


def without_refs(disks):
    return [dict((k, v) for k, v in d.items() if k != "ref") for d in disks]
