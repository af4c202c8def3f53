# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""Reading a VM and its devices in few calls, and finding objects by name or uuid.

``Records`` keeps the records read so far. It reads many objects of different classes in ONE
call: ``event.from`` with one ``class/ref`` subscription per object and the empty token
answers at once with the current record of each (xapi's own "give me everything since the
beginning"; XenCenter fills its cache the same way); a bare ``class`` subscription brings
every object of the class. A VM with its disks and NICs therefore costs two calls whatever
the number of devices: VBDs + VIFs (+ guest metrics, home server and current host, every SR:
a pool has few, and the disks' SRs are not known before the VDIs), then VDIs + networks.
Several VMs cost the same two calls (``devices_of``).

``find_named`` looks objects up by name, uuid (and bridge / host name) with one
``get_all_records_where`` for all of them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NULL_REF, XenServerError
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import vm_facts

# Database column of each record field used in lookups (namespaces joined by "__").
COLUMNS = {"name_label": "name__label", "uuid": "uuid", "bridge": "bridge",
           "hostname": "hostname", "address": "address"}
# Fields that name an object, per class, in the order a user is likely to use them.
NAMING_FIELDS = {
    "SR": ("name_label", "uuid"),
    "network": ("name_label", "uuid", "bridge"),
    "host": ("name_label", "uuid", "hostname", "address"),
}
KIND = {"SR": "SR", "network": "network", "host": "host"}


# Records xapi keeps beside a VM and changes with it: re-read after changing the VM.
VM_CLASSES = ("VM", "VBD", "VDI", "VIF", "VM_guest_metrics", "VTPM")
# The devices a VM gets when it is made: read_changes asks for every change to them.
CHANGED_WITH_VM = ("VBD", "VDI", "VIF", "VTPM")


def _usable(ref):
    return bool(ref) and ref != NULL_REF


class Records(object):
    """Records by ref, read in batches through event.from; None marks a ref that is gone."""

    def __init__(self, client):
        self.client = client
        self._records = {}
        self._classes = {}
        self._whole = set()     # classes read whole (every object of the class is known)
        # VM.get_secureboot_readiness answers by VM ref: a method, not a field, so event.from
        # cannot batch it; asked once per run at most (see _firmware.secureboot_readiness).
        self.readiness = {}
        self.token = ""         # of read_pool's event.from: read_changes answers from it

    def put(self, cls, records):
        for ref, record in records.items():
            self._records[ref] = record
            self._classes[ref] = cls

    def get(self, ref):
        return self._records.get(ref)

    def of_class(self, cls):
        return dict((ref, rec) for ref, rec in self._records.items()
                    if self._classes.get(ref) == cls and rec is not None)

    def forget(self, *classes):
        """Drop the records of ``classes`` (after changing them), keeping the others."""
        for ref in [r for r, c in self._classes.items() if c in classes]:
            self._records.pop(ref, None)
            self._classes.pop(ref, None)
        self._whole.difference_update(classes)
        if "VM" in classes:
            self.readiness.clear()

    def read_pool(self):
        """The pool, every SR, network and host in ONE call (a pool has few of each), and an
        event token for ``read_changes``; returns (pool ref, pool record)."""
        if "pool" not in self._whole:
            classes = ("pool", "SR", "network", "host")
            batch = self.client.call("event_from", [c.lower() for c in classes], "", 0.0)
            by_class = dict((c.lower(), c) for c in classes)
            for event in batch.get("events", []):
                cls = by_class.get(str(event.get("class")).lower())
                if cls and event.get("snapshot") is not None:
                    self.put(cls, {event["ref"]: event["snapshot"]})
            self._whole.update(classes)
            self.token = batch.get("token", "")
        pools = self.of_class("pool")
        if not pools:
            raise XenServerError("the pool record could not be read", code="NOT_FOUND")
        return next(iter(pools.items()))

    def read_changes(self, vm_ref):
        """The VM and the devices made or changed since ``read_pool`` (a new VM's disks, NICs
        and vTPM among them), in ONE call: event.from with that token answers with the objects
        of these classes changed since then, so their refs need not be known, and its size
        follows what changed meanwhile, not the size of the pool. Falls back to
        ``vm_devices`` when the pool lost the events (EVENTS_LOST) or there is no token.
        Returns the call count."""
        token = self.token
        self.forget(*VM_CLASSES)
        if token:
            subscriptions = ["vm/%s" % vm_ref] + [c.lower() for c in CHANGED_WITH_VM]
            try:
                batch = self.client.call("event_from", subscriptions, token, 0.0)
            except XenServerError as err:
                if err.code != "EVENTS_LOST":
                    raise
                batch = None
            if batch is not None:
                by_class = dict((c.lower(), c) for c in CHANGED_WITH_VM)
                for event in batch.get("events", []):
                    ref = event.get("ref")
                    cls = "VM" if ref == vm_ref else by_class.get(str(event.get("class")).lower())
                    if cls and event.get("snapshot") is not None and event.get("operation") != "del":
                        self.put(cls, {ref: event["snapshot"]})
                if self.get(vm_ref) is not None:
                    return 1 + self.vm_devices(vm_ref)
        self.put("VBD", self.client.call("VBD.get_all_records_where", 'field "VM"="%s"' % vm_ref))
        return 1 + self.vm_devices(vm_ref)

    def whole(self, cls):
        """Whether every object of ``cls`` has been read."""
        return cls in self._whole

    def fetch(self, wanted, whole=()):
        """Read every (cls, ref) of ``wanted`` not known yet, and every object of each class in
        ``whole`` not read whole yet, in one call; returns the call count."""
        missing = []
        for cls, ref in wanted:
            if _usable(ref) and ref not in self._records and (cls, ref) not in missing:
                missing.append((cls, ref))
        classes = [cls for cls in dict.fromkeys(whole) if cls not in self._whole]
        if not missing and not classes:
            return 0
        subscriptions = ["%s/%s" % (cls.lower(), ref) for cls, ref in missing] + [c.lower() for c in classes]
        # Timeout 0: objects that exist are answered at once; we never wait for changes here.
        batch = self.client.call("event_from", subscriptions, "", 0.0)
        asked = dict((ref, cls) for cls, ref in missing)
        by_class = dict((cls.lower(), cls) for cls in classes)
        for event in batch.get("events", []):
            ref = event.get("ref")
            cls = asked.get(ref) or by_class.get(str(event.get("class")).lower())
            if cls and event.get("snapshot") is not None:
                self._records[ref] = event["snapshot"]
                self._classes[ref] = cls
        self._whole.update(classes)
        for cls, ref in missing:
            if ref not in self._records:    # removed meanwhile: remember, do not ask again
                self._records[ref] = None
                self._classes[ref] = cls
        return 1

    # --- one VM ---------------------------------------------------------------------------
    def vbds_of(self, vm_ref):
        record = self._records.get(vm_ref) or {}
        refs = set(record.get("VBDs", []))
        refs.update(r for r, v in self.of_class("VBD").items() if v["VM"] == vm_ref)
        return dict((r, self._records[r]) for r in refs if self._records.get(r) is not None)

    def vifs_of(self, vm_ref):
        record = self._records.get(vm_ref) or {}
        refs = set(record.get("VIFs", []))
        refs.update(r for r, v in self.of_class("VIF").items() if v["VM"] == vm_ref)
        return dict((r, self._records[r]) for r in refs if self._records.get(r) is not None)

    def vm_devices(self, vm_ref, hints=()):
        """Read the VM (unless known), its VBDs, VDIs, VIFs, networks, guest metrics, home
        server, current host and vTPM, and the pool's SRs: one call per level of references still
        unknown (two for a VM already read).

        ``hints`` are (cls, ref) known to belong to the VM (e.g. a VIF just created), read in
        the first call together with the VM itself.
        """
        calls = self.devices_of([vm_ref], hints)
        if self._records.get(vm_ref) is None:
            raise XenServerError("the VM %s was removed while this task ran" % vm_ref, code="HANDLE_INVALID")
        return calls

    def devices_of(self, vm_refs, hints=()):
        """``vm_devices`` for several VMs at once, in the same number of calls; a VM removed
        meanwhile is left out (its record is None)."""
        extra = list(hints)
        calls = 0
        while vm_refs or extra:
            wanted = list(extra)
            for vm_ref in vm_refs:
                wanted.append(("VM", vm_ref))
                record = self._records.get(vm_ref)
                if record:
                    wanted += [("VBD", r) for r in record["VBDs"]] + [("VIF", r) for r in record["VIFs"]]
                    wanted += [("VM_guest_metrics", record["guest_metrics"]), ("host", record["affinity"]),
                               ("host", record["resident_on"])]
                    wanted += [("VTPM", r) for r in record.get("VTPMs") or []]
                wanted += [("VDI", v["VDI"]) for v in self.vbds_of(vm_ref).values()]
                wanted += [("network", v["network"]) for v in self.vifs_of(vm_ref).values()]
            done = self.fetch(wanted, whole=("SR",))
            calls += done
            extra = []
            if not done:
                break
        return calls

    def facts(self, vm_ref):
        """vm_facts of a VM read with ``vm_devices``, answered from these records."""
        return vm_facts(_KnownReads(self, vm_ref), vm_ref, self._records[vm_ref])


class _KnownReads(object):
    """The reads vm_facts makes, answered from ``Records``; anything else goes to the pool."""

    def __init__(self, records, vm_ref):
        self.records = records
        self.vm_ref = vm_ref

    def call(self, method, *args):
        records = self.records
        if method == "VBD.get_all_records_where" and self.vm_ref in args[0]:
            return records.vbds_of(self.vm_ref)
        if method == "VIF.get_all_records_where" and self.vm_ref in args[0]:
            return records.vifs_of(self.vm_ref)
        if method == "VM.get_secureboot_readiness":
            if args[0] not in records.readiness:
                records.readiness[args[0]] = records.client.call(method, *args)
            return records.readiness[args[0]]
        if method in ("VDI.get_record", "VM_guest_metrics.get_record", "VDI.get_name_label",
                      "SR.get_record", "host.get_record", "network.get_record", "VTPM.get_record"):
            record = records.get(args[0])
            if record is not None:
                return record["name_label"] if method.endswith("name_label") else record
        return records.client.call(method, *args)


# --- finding objects by name -------------------------------------------------------------------

def _where(fields, text):
    return " or ".join('field "%s"="%s"' % (COLUMNS[f], text) for f in fields)


def find_named(client, cls, specs, records=None, option=None):
    """{spec: (ref, record)} for each name/uuid in ``specs``: one call for all of them.

    Fails naming the spec (and ``option``, the parameter it came from) when nothing or
    several objects match a name; a uuid match wins over name matches.
    """
    specs = [s for s in dict.fromkeys(specs) if s]
    if not specs:
        return {}
    fields = NAMING_FIELDS[cls]
    plain = [s for s in specs if '"' not in s]
    found = {}
    if records is not None and records.whole(cls):
        # Every object of the class is known already (Records.read_pool): no call.
        plain, found = [], records.of_class(cls)
        specs_left = []
    else:
        specs_left = [s for s in specs if s not in plain]
    if plain:
        expr = " or ".join("(%s)" % _where(fields, s) for s in plain)
        found.update(client.call("%s.get_all_records_where" % cls, expr))
    for spec in specs_left:     # the where-grammar has no escapes: look such names up one by one
        for ref in client.call("%s.get_by_name_label" % cls, spec):
            found[ref] = client.call("%s.get_record" % cls, ref)
    if records is not None:
        records.put(cls, found)
    result = {}
    for spec in specs:
        by_uuid = [(r, v) for r, v in found.items() if v.get("uuid") == spec]
        matches = by_uuid or [(r, v) for r, v in found.items()
                              if any(v.get(f) == spec for f in fields)]
        label = "%s '%s'%s" % (KIND[cls], spec, " (%s)" % option if option else "")
        if not matches:
            raise XenServerError("no %s: check the name or uuid" % label, code="NOT_FOUND")
        if len(matches) > 1:
            raise XenServerError("%d %ss match %s (uuids: %s); name the one you mean by uuid" % (
                len(matches), KIND[cls], label.split(" ", 1)[1],
                ", ".join(sorted(v["uuid"] for _r, v in matches))), code="AMBIGUOUS")
        result[spec] = matches[0]
    return result


def names(record, cls):
    """Every text that names ``record`` (for comparing with what the user wrote)."""
    return set(record.get(f) for f in NAMING_FIELDS[cls] if record.get(f))
