"""The pool database: records per class, one-to-many links kept both ways, events, persistence.

One lock guards everything; ``changed`` (a Condition on it) wakes event.from waiters.
Mutations are saved atomically (write + fsync + rename) before the call that made them is
answered, so a ``kill -9`` never loses an acknowledged change.
"""
import copy
import json
import os
import threading
import uuid as uuidlib

from . import model
from .errors import XapiError

# (child class, child field) -> (parent class, parent set field): xapi keeps the set side
# of each one-to-many relation in step with the ref side; so do we, in one place.
RELATIONS = {
    ("VBD", "VM"): ("VM", "VBDs"),
    ("VBD", "VDI"): ("VDI", "VBDs"),
    ("VIF", "VM"): ("VM", "VIFs"),
    ("VIF", "network"): ("network", "VIFs"),
    ("VDI", "SR"): ("SR", "VDIs"),
    ("PBD", "SR"): ("SR", "PBDs"),
    ("PBD", "host"): ("host", "PBDs"),
    ("PIF", "host"): ("host", "PIFs"),
    ("PIF", "network"): ("network", "PIFs"),
    ("VM", "resident_on"): ("host", "resident_VMs"),
    ("console", "VM"): ("VM", "consoles"),
    ("task", "subtask_of"): ("task", "subtasks"),
    ("host_cpu", "host"): ("host", "host_CPUs"),
    ("VM", "snapshot_of"): ("VM", "snapshots"),
    ("VM", "parent"): ("VM", "children"),
    ("VDI", "snapshot_of"): ("VDI", "snapshots"),
    ("VTPM", "VM"): ("VM", "VTPMs"),
}
# Classes whose changes are not events (xapi does not emit events for sessions).
SILENT = {"session"}
EVENT_KEEP = 100000


def new_uuid():
    return str(uuidlib.uuid4())


def new_ref():
    return "OpaqueRef:" + new_uuid()


class Database:
    def __init__(self, path=None):
        self.path = path
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.tables = {name: {} for name in model.class_names()}
        self.by_uuid = {}
        self.hidden = {}      # simulator-only state (disk contents, guest xenstore): no API exposure
        self.event_id = 0
        self.events = []      # (id, class, op, ref)
        self.events_floor = 0  # events up to this id were not kept (a restart): older tokens lose events
        self.dirty = False

    # --- records -----------------------------------------------------------------------
    def create(self, cls, ref=None, **values):
        with self.lock:
            record = model.new_record(cls)
            record.update(values)
            if "uuid" in record and not record.get("uuid"):
                record["uuid"] = new_uuid()
            ref = ref or new_ref()
            self.tables[cls][ref] = record
            if record.get("uuid"):
                self.by_uuid[record["uuid"]] = (cls, ref)
            for field, value in values.items():
                self._link(cls, ref, field, None, value)
            self._event(cls, "add", ref)
            return ref

    def get(self, cls, ref):
        try:
            return self.tables[cls][ref]
        except KeyError:
            raise XapiError("HANDLE_INVALID", cls, ref) from None

    def exists(self, cls, ref):
        return ref in self.tables.get(cls, {})

    def update(self, cls, ref, **values):
        with self.lock:
            record = self.get(cls, ref)
            for field, value in values.items():
                old = record.get(field)
                record[field] = value
                self._link(cls, ref, field, old, value)
            self._event(cls, "mod", ref)
            return record

    def touch(self, cls, ref):
        """Record an event for an in-place change of a record's map or set."""
        with self.lock:
            self._event(cls, "mod", ref)

    def delete(self, cls, ref):
        with self.lock:
            record = self.get(cls, ref)
            for field, value in record.items():
                self._link(cls, ref, field, value, None)
            del self.tables[cls][ref]
            self.by_uuid.pop(record.get("uuid"), None)
            self._event(cls, "del", ref)

    def by_uuid_of(self, cls, uuid):
        found = self.by_uuid.get(uuid)
        if not found or found[0] != cls:
            raise XapiError("UUID_INVALID", cls, uuid)
        return found[1]

    def all(self, cls):
        return self.tables[cls]

    def _link(self, cls, ref, field, old, new):
        relation = RELATIONS.get((cls, field))
        if not relation or old == new:
            return
        parent_cls, parent_field = relation
        parents = self.tables[parent_cls]
        if old in parents and ref in parents[old][parent_field]:
            parents[old][parent_field].remove(ref)
            self._event(parent_cls, "mod", old)
        if new in parents and ref not in parents[new][parent_field]:
            parents[new][parent_field].append(ref)
            self._event(parent_cls, "mod", new)

    # --- events ------------------------------------------------------------------------
    def _event(self, cls, op, ref):
        self.dirty = True
        if cls in SILENT:
            return
        self.event_id += 1
        self.events.append((self.event_id, cls, op, ref))
        # each object's own generation (xapi's Db_cache_types Stat: created, modified), kept
        # with the state: event.from's "id" of an object is its generation, not the token's
        generations = self.hidden.setdefault("generations", {})
        key = cls + "/" + ref
        if op == "del":
            generations.pop(key, None)
        elif op == "add" or key not in generations:
            generations[key] = [self.event_id, self.event_id]
        else:
            generations[key][1] = self.event_id
        if len(self.events) > EVENT_KEEP:
            del self.events[: len(self.events) - EVENT_KEEP]
        self.changed.notify_all()

    def events_since(self, since):
        """Events after id ``since``, or None if some were already dropped."""
        if since < self.events_floor:
            return None
        if self.events and since < self.events[0][0] - 1:
            return None
        return [e for e in self.events if e[0] > since] if since < self.event_id else []

    def generation(self, cls, ref):
        """(created, modified) generation of a live object."""
        return tuple(self.hidden.get("generations", {}).get(cls + "/" + ref, (self.event_id,) * 2))

    # --- persistence -------------------------------------------------------------------
    def snapshot(self):
        with self.lock:
            return {
                "format": 1, "tables": copy.deepcopy(self.tables),
                "hidden": copy.deepcopy(self.hidden), "event_id": self.event_id,
            }

    def commit(self):
        """Save if anything changed since the last save (atomic, durable)."""
        with self.lock:
            if not self.dirty:
                return
            self.dirty = False
            if not self.path:
                return
            tmp = "%s.tmp.%d" % (self.path, threading.get_ident())
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump({"format": 1, "tables": self.tables, "hidden": self.hidden,
                           "event_id": self.event_id}, handle, separators=(",", ":"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)

    def load(self):
        with open(self.path, encoding="utf-8") as handle:
            data = json.load(handle)
        with self.lock:
            for cls, records in data["tables"].items():
                self.tables[cls] = records
                for ref, record in records.items():
                    if record.get("uuid"):
                        self.by_uuid[record["uuid"]] = (cls, ref)
            self.hidden = data.get("hidden", {})
            self.event_id = data.get("event_id", 0)
            self.dirty = False
