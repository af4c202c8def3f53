"""Fault injection (``--faults``): a comma-separated list of NAME=VALUE.

    reset=P         drop the connection without an answer on a share P of calls
    spike=P:MS      add MS milliseconds of latency to a share P of calls
    expire=P        invalidate the caller's session before a share P of calls (SESSION_INVALID)
    busy=P          OTHER_OPERATION_IN_PROGRESS on a share P of VM operations
    nomem=P         HOST_NOT_ENOUGH_FREE_MEMORY on a share P of VM.start calls
    crash=N         the server dies (state kept on disk) after N calls
    seed=N          random seed (default 1), so a run is repeatable
Logins are never reset or expired, so a client can always get back in.
"""
import os
import random
import threading
import time

from .errors import XapiError

VM_OPERATIONS = {"start", "start_on", "clean_shutdown", "hard_shutdown", "clean_reboot",
                 "hard_reboot", "clone", "copy", "provision", "suspend", "resume", "destroy"}


class Faults:
    def __init__(self, spec):
        self.rates = {}
        self.spike_ms = 0
        self.crash_after = None
        seed = 1
        for item in filter(None, (s.strip() for s in (spec or "").split(","))):
            name, _, value = item.partition("=")
            if name == "seed":
                seed = int(value)
            elif name == "crash":
                self.crash_after = int(value)
            elif name == "spike":
                share, _, ms = value.partition(":")
                self.rates["spike"] = float(share)
                self.spike_ms = int(ms or 500)
            elif name in ("reset", "expire", "busy", "nomem"):
                self.rates[name] = float(value)
            else:
                raise ValueError("unknown fault %r" % name)
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.calls = 0
        self.injected = {}

    def _roll(self, name):
        rate = self.rates.get(name, 0.0)
        hit = rate > 0 and self.random.random() < rate
        if hit:
            self.injected[name] = self.injected.get(name, 0) + 1
        return hit

    def before(self, sim, method, params):
        """None to go on, "reset" to drop the connection, or an XapiError to answer with."""
        with self.lock:
            self.calls += 1
            if self.crash_after is not None and self.calls > self.crash_after:
                sim.db.commit()
                os._exit(137)
            if "login" in method:
                return None
            if self._roll("spike"):
                time.sleep(self.spike_ms / 1000.0)
            if self._roll("reset"):
                return "reset"
            if params and self._roll("expire"):
                sim.sessions.expire(params[0])
            name = method.replace("Async.", "")
            if name.startswith("VM.") and name[3:] in VM_OPERATIONS and self._roll("busy"):
                return XapiError("OTHER_OPERATION_IN_PROGRESS", "VM", params[1] if len(params) > 1 else "",
                                 "start", "OpaqueRef:injected")
            if name in ("VM.start", "VM.start_on") and self._roll("nomem"):
                return XapiError("HOST_NOT_ENOUGH_FREE_MEMORY", "1073741824", "0")
        return None
