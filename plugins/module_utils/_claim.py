# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""A claim on a name across the pool, so that two runs never create (or remove) one VM at once.

XenAPI has no lock call, but xapi's database adds a key to a map in one step under its lock
and fails for the second caller: ``add_to_<map>`` of a key the map holds raises
MAP_DUPLICATE_KEY (ocaml/database/db_cache_impl.ml; the "idempotent" map add of newer xapi
lets the same key *with the same value* pass, so every holder writes a value of its own).
The map is ``pool.gui_config``: pool-wide, and writable by every role from vm-operator up
(datamodel_pool.ml: writer_roles _R_VM_OP), so a claim needs no more rights than the module.

A claim is a row of tickets ``xenserver.provisioning.claim:<kind>:<sha256 of the name>:<n>``;
it belongs to the holder of the highest ticket. A ticket's value names its holder (the
request id, host, pid), its lease in seconds and the requests of dead holders it took over
from. Taking a claim is adding ticket 1 (no claim: one call), or, when that key is taken,
waiting on ``event.from`` for the pool's gui_config to change (never a sleep-and-poll): the
claim is free when no ticket is left, and its holder is taken for dead when its ticket has
not changed for a whole lease, as this run's own clock measures it (no clock of another host
is trusted). Then the next ticket is added; of several waiters only one gets it. A holder
renews its lease by adding its next ticket and removing the old one (an atomic step, from a
second session, once a third of the lease has passed), and removes its ticket when done.
A killed holder thus holds the others up for at most one lease.

Every disk made under a claim carries ``other_config[HOLDER_KEY] = <request id>``; the run
that takes over from dead holders removes their disks that no VBD uses (``stale_requests``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
import uuid

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerClient, XenServerError

PREFIX = "xenserver.provisioning.claim:"
# other_config key of a disk made under a claim: the request id of the claim's holder.
HOLDER_KEY = "xenserver.provisioning.holder"
LEASE = 60.0
# The lease a run writes into its tickets (seconds); how long a killed run holds up the others.
LEASE_ENV = "XENSERVER_CLAIM_LEASE"


def lease_from_env():
    text = os.environ.get(LEASE_ENV)
    if not text:
        return LEASE
    try:
        lease = float(text)
    except ValueError:
        lease = 0.0
    if not 0.5 <= lease <= 86400:
        raise XenServerError("%s must be a number of seconds from 0.5 to 86400, got '%s'" % (LEASE_ENV, text),
                             code="INVALID_VALUE")
    return lease


def claim_key(kind, name):
    """The tickets' common prefix: the name hashed, so any name makes a short, plain key."""
    digest = hashlib.sha256(("%s\0%s" % (kind, name)).encode("utf-8")).hexdigest()[:40]
    return "%s%s:%s" % (PREFIX, kind, digest)


class Claim(object):
    """A claim on ``kind``/``name``; ``acquire`` waits at most ``wait`` seconds."""

    def __init__(self, client, kind, name, lease=None, wait=None, request=None, pool=None):
        self.client = client
        self.kind = kind
        self.name = name
        self.base = claim_key(kind, name)
        self.lease = float(lease or lease_from_env())
        self.wait = client.timeout if wait is None else wait
        self.request = request or str(uuid.uuid4())
        self.pool = pool            # its ref, when the caller has read it already
        self.ticket = None
        self.stale_requests = []    # the requests of dead holders this run took over from
        self.waited = 0.0           # seconds spent waiting for another holder
        self.lost = False           # another run took the claim over (this run's lease ran out)
        self.release_error = None
        self._value = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._renewer = None

    # --- tickets ---------------------------------------------------------------------------
    def _key(self, n):
        return "%s:%d" % (self.base, n)

    def tickets(self, gui_config):
        """{n: holder dict} of this claim's tickets in a gui_config map."""
        prefix = self.base + ":"
        found = {}
        for key, value in gui_config.items():
            if key.startswith(prefix) and key[len(prefix):].isdigit():
                try:
                    holder = json.loads(value)
                except ValueError:
                    holder = None
                found[int(key[len(prefix):])] = holder if isinstance(holder, dict) else {"value": value}
        return found

    def _holder(self, inherits):
        return json.dumps({"request": self.request, "host": socket.gethostname(), "pid": os.getpid(),
                           "lease": self.lease, "name": self.name[:200], "inherits": inherits},
                          sort_keys=True)

    def _add(self, client, n):
        """Take ticket n: True, or False when another caller has it. A lost answer is resolved
        by the client (MAP_DUPLICATE_KEY with this run's value under the key: done)."""
        try:
            client.call("pool.add_to_gui_config", self.pool, self._key(n), self._value)
            return True
        except XenServerError as err:
            if err.code == "MAP_DUPLICATE_KEY":
                return False
            raise

    # --- taking and giving back --------------------------------------------------------------
    def acquire(self):
        client = self.client
        started = time.monotonic()
        if self.pool is None:
            self.pool = client.call("pool.get_all")[0]
        self._value = self._holder([])
        n, gui, token = 1, None, ""
        first_seen = {}     # (ticket, holder) -> when this run first saw it
        while not self._add(client, n):
            # Taken: what the pool holds now comes from the next event.from (the ticket that
            # beat this run's add is an event after the token), never from an older view.
            n, fresh = None, False
            while n is None:
                now = time.monotonic()
                remaining = self.wait - (now - started)     # for the event.from below
                tickets = self.tickets(gui) if gui is not None else None
                if tickets is not None and fresh:
                    if not tickets:
                        n = 1
                        break
                    top = max(tickets)
                    holder = tickets[top]
                    seen = first_seen.setdefault((top, json.dumps(holder, sort_keys=True)), now)
                    expires = seen + _lease_of(holder, self.lease)
                    if now >= expires:
                        # Dead (or cut off for a whole lease): take over, and inherit its leftovers.
                        dead = set(self.stale_requests)
                        for older in tickets.values():
                            dead.update(r for r in [older.get("request")] + list(older.get("inherits") or [])
                                        if isinstance(r, str))
                        self.stale_requests = sorted(dead)
                        self._value = self._holder(self.stale_requests)
                        n = top + 1
                        break
                    remaining = min(remaining, expires - now)
                if now - started >= self.wait:
                    raise self._timeout(tickets)
                try:
                    batch = client.call("event_from", ["pool/%s" % self.pool], token, max(0.05, min(remaining, 60.0)))
                except XenServerError as err:
                    if err.code != "EVENTS_LOST":
                        raise
                    batch = {"token": "", "events": []}
                    gui = client.call("pool.get_gui_config", self.pool)
                token = batch["token"]
                for event in batch["events"]:
                    snapshot = event.get("snapshot")
                    if event.get("ref") == self.pool and isinstance(snapshot, dict):
                        gui = snapshot.get("gui_config") or {}
                if gui is None:
                    gui = client.call("pool.get_gui_config", self.pool)
                fresh = True
        self.ticket = n
        self.waited = time.monotonic() - started
        self._forget_older(gui)
        self._renewer = threading.Thread(target=self._renew_loop, name="claim-renewer")
        self._renewer.daemon = True
        self._renewer.start()
        return self

    def _forget_older(self, gui):
        """Remove the tickets of the dead holders taken over from (best effort)."""
        for n in sorted(self.tickets(gui or {})):
            if n < self.ticket:
                try:
                    self.client.call("pool.remove_from_gui_config", self.pool, self._key(n))
                except XenServerError:
                    pass

    def _timeout(self, tickets):
        holder = tickets[max(tickets)] if tickets else {}
        return XenServerError(
            "%s '%s' is being created or removed by another run (request %s on host %s, pid %s) for more than "
            "%g s; run again later, or, if that run is gone, after its lease (%g s)" % (
                self.kind, self.name, holder.get("request", "?"), holder.get("host", "?"), holder.get("pid", "?"),
                self.wait, _lease_of(holder, self.lease)), code="CLAIM_TIMEOUT")

    def release(self):
        """Give the claim back (also after a failure). An error is kept, not raised: the
        others then take the claim over after the lease."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        with self._lock:
            ticket, self.ticket = self.ticket, None
        if ticket is None:
            return
        try:
            self.client.call("pool.remove_from_gui_config", self.pool, self._key(ticket))
        except XenServerError as err:
            self.release_error = err

    # --- renewing --------------------------------------------------------------------------
    def _renew_loop(self):
        """Renew every third of the lease, from a session of its own (the module's session is
        busy in the main thread; one XenAPI session is not shared between threads)."""
        client = None
        try:
            while not self._stop.wait(self.lease / 3.0):
                try:
                    if client is None:
                        client = self._sibling()
                    if not self.renew(client):
                        return
                except XenServerError:
                    continue    # a lease is three periods long: the next one may get through
        finally:
            if client is not None:
                client.logout()

    def renew(self, client=None):
        """Move to the next ticket (a fresh lease): False if another run took the claim over."""
        client = client or self.client
        with self._lock:
            n = self.ticket
        if n is None:
            return False
        if not self._add(client, n + 1):
            self.lost = True
            return False
        with self._lock:
            self.ticket = n + 1
        client.call("pool.remove_from_gui_config", self.pool, self._key(n))
        return True

    def _sibling(self):
        c = self.client
        return XenServerClient(c.url, c.username, c.password, validate_certs=c.validate_certs, ca_path=c.ca_path,
                               timeout=self.lease, reconnect_timeout=self.lease / 3.0,
                               reuse_session=c.reuse_session).connect()


def _lease_of(holder, default):
    try:
        lease = float(holder.get("lease"))
    except (TypeError, ValueError):
        return default
    return lease if 0 < lease <= 86400 else default


@contextlib.contextmanager
def claim(client, kind, name, **options):
    """``with claim(client, "vm", name) as held:`` the block runs while this run alone holds
    the claim on ``kind``/``name``; it is given back at the end, also on failure."""
    held = Claim(client, kind, name, **options).acquire()
    try:
        yield held
    finally:
        held.release()


def stale_disks(client, requests):
    """{ref: record} of the disks dead holders made (HOLDER_KEY) that no VBD uses."""
    if not requests:
        return {}
    wanted = set(requests)
    found = client.call("VDI.get_all_records")
    return dict((ref, vdi) for ref, vdi in found.items()
                if vdi["other_config"].get(HOLDER_KEY) in wanted and not vdi["VBDs"])
