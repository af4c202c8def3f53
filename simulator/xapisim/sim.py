"""The Simulator: one pool (database + behaviour) that one or more servers answer for."""
import datetime
import os
import threading
import time

from . import api, devices, events, firmware, guests, model, pool, snapshots, vm, vtpm  # noqa: F401  (handlers register on import)
from . import hosts, storage_ops  # noqa: F401  (handlers: migration, evacuation, PBD/SR)
from .db import Database
from .vdi_store import VdiStore


class Clock:
    """Simulated durations: ``speed`` simulated seconds pass per real second."""

    def __init__(self, speed=100.0):
        self.speed = speed

    def sleep(self, seconds):
        if seconds > 0 and self.speed > 0:
            time.sleep(seconds / self.speed)

    @staticmethod
    def stamp():
        return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H:%M:%SZ")


class Simulator:
    def __init__(self, state=None, users=None, template_set="all", members=0, filler_vms=0,
                 master_address="127.0.0.1", clock_speed=100.0, session_ttl=0,
                 uefi_certificates=True):
        self.db = Database(state)
        self.master_address = master_address
        self.clock = Clock(clock_speed)
        self.sessions = api.Sessions(self, users or {"root": ("xenroot", "pool-admin")}, session_ttl)
        self.tasks = api.Tasks(self)
        self.storage = devices.Storage(self)
        self.network = devices.Network(self)
        self.hosts = devices.Hosts(self)
        self.guests = guests.Guests(self)
        self.registrations = {}
        self.vdi_store = VdiStore.beside(state)     # VDI contents, beside the state file
        self._domid_lock = threading.Lock()
        if state and os.path.exists(state):
            self.db.load()
            self.vdi_store.collect(rec["uuid"] for rec in self.db.all("VDI").values())
            self._restarted()
            self.guests.revive()        # guests that were installing/booting carry on
        else:
            self.vdi_store.collect(())         # a new pool: no contents from an earlier one
            with self.db.lock:
                pool.build(self, template_set, members, filler_vms, uefi_certificates)
                hosts.add_pif_metrics(self)     # PIFs of every host, members included
            self.db.commit()

    def _restarted(self):
        """A pool loaded from its state file is a restarted master. As in xapi, sessions,
        tasks and current operations do not survive a restart (the datamodel does not persist
        sessions and tasks; ocaml/xapi/cancel_tasks.ml): callers log in again (SESSION_INVALID),
        a waiter on a task hears it go ("del"), and no VM stays locked by an operation that
        died with the old process. Tokens from before the restart whose events were not all
        saved get EVENTS_LOST."""
        db = self.db
        with db.lock:
            db.events_floor = db.event_id
            for ref in list(db.all("session")):
                db.delete("session", ref)
            db.hidden.pop("session_roles", None)
            for ref in list(db.all("task")):
                db.delete("task", ref)
            for cls in model.class_names():
                for ref, record in db.all(cls).items():
                    if record.get("current_operations"):
                        record["current_operations"] = {}
                        db.touch(cls, ref)
            for ref in db.all("VM"):
                pool.refresh_allowed(db, ref)
        db.commit()

    @property
    def master_host(self):
        pool_ref = next(iter(self.db.all("pool")))
        return self.db.get("pool", pool_ref)["master"]

    def next_domid(self):
        with self._domid_lock:
            hidden = self.db.hidden
            hidden["next_domid"] = hidden.get("next_domid", 0) + 1
            return hidden["next_domid"]

    def call(self, method, params, member=False):
        """Dispatch one call and commit what it changed; returns (value, result type)."""
        try:
            return api.dispatch(self, method, params, member=member)
        finally:
            self.db.commit()
            self.vdi_store.purge()      # contents of destroyed VDIs go once that is saved
