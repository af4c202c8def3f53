"""Fault injection (``--faults``): a comma-separated list of NAME=VALUE.

    reset=P         drop the connection without an answer on a share P of calls, before the
                    call is carried out (nothing happened)
    reset_after=P   carry the call out, then drop the connection without an answer on a share
                    P of calls (it happened, the client does not know)
    spike=P:MS      add MS milliseconds of latency to a share P of calls
    expire=P        invalidate the caller's session before a share P of calls (SESSION_INVALID)
    busy=P          OTHER_OPERATION_IN_PROGRESS on a share P of VM operations
    nomem=P         HOST_NOT_ENOUGH_FREE_MEMORY on a share P of VM.start calls
    crash=N         the server dies (state kept on disk, exit 137) when call N+1 arrives
    seed=N          random seed (default 1), so a run is repeatable
    NAME@METHOD=P   the share P for that one method instead (reset_after@VM.clone=0.5); for
                    reset, reset_after, expire, busy and nomem
    delay=MS        hold every answer MS milliseconds after the call was carried out, so the
                    caller's next call comes that much later (widens races between clients)
    delay@GLOB=MS   the same for the methods matching a shell pattern (delay@VM.provision=300,
                    delay@Async.VM.*=100); the first matching entry counts
Logins are never reset, dropped or expired, so a client can always get back in.

``injected`` counts the faults by name; with a fault log (``--fault-log``) each one is also
appended to that file as a JSON line at once, so the counts survive a crash.
"""
import fnmatch
import json
import os
import random
import threading
import time

from .errors import XapiError

VM_OPERATIONS = {"start", "start_on", "clean_shutdown", "hard_shutdown", "clean_reboot",
                 "hard_reboot", "clone", "copy", "provision", "suspend", "resume", "destroy"}
RATES = ("reset", "reset_after", "expire", "busy", "nomem")


class Faults:
    def __init__(self, spec, log=None):
        self.rates = {}
        self.spike_ms = 0
        self.crash_after = None
        seed = 1
        self.method_rates = {}
        self.delays = []        # (method pattern, seconds), in the order given
        for item in filter(None, (s.strip() for s in (spec or "").split(","))):
            name, _, value = item.partition("=")
            name, _, method = name.partition("@")
            if name == "delay":
                self.delays.append((method or "*", float(value) / 1000.0))
            elif method:
                if name not in RATES:
                    raise ValueError("fault %r cannot be limited to a method" % name)
                self.method_rates[(name, method)] = float(value)
            elif name == "seed":
                seed = int(value)
            elif name == "crash":
                self.crash_after = int(value)
            elif name == "spike":
                share, _, ms = value.partition(":")
                self.rates["spike"] = float(share)
                self.spike_ms = int(ms or 500)
            elif name in RATES:
                self.rates[name] = float(value)
            else:
                raise ValueError("unknown fault %r" % name)
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.calls = 0
        self.injected = {}
        self.log_path = log

    def _record(self, name, method):
        self.injected[name] = self.injected.get(name, 0) + 1
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({"fault": name, "method": method, "call": self.calls}) + "\n")

    def _roll(self, name, method):
        rate = self.method_rates.get((name, method), self.rates.get(name, 0.0))
        hit = rate > 0 and self.random.random() < rate
        if hit:
            self._record(name, method)
        return hit

    def summary(self):
        """{fault: count} of the faults injected so far."""
        with self.lock:
            return dict(self.injected)

    def before(self, sim, method, params):
        """None to go on, "reset" to drop the connection, or an XapiError to answer with."""
        with self.lock:
            spike, outcome = self._before(sim, method, params)
        if spike:   # outside the lock: a slow call does not hold up the others
            time.sleep(self.spike_ms / 1000.0)
        return outcome

    def _before(self, sim, method, params):
        """(spike?, outcome) decided under the lock."""
        self.calls += 1
        if self.crash_after is not None and self.calls > self.crash_after:
            self._record("crash", method)
            sim.db.commit()
            os._exit(137)
        if "login" in method:
            return False, None
        spike = self._roll("spike", method)
        if self._roll("reset", method):
            return spike, "reset"
        if params and self._roll("expire", method):
            sim.sessions.expire(params[0])
        name = method.replace("Async.", "")
        if name.startswith("VM.") and name[3:] in VM_OPERATIONS and self._roll("busy", method):
            return spike, XapiError("OTHER_OPERATION_IN_PROGRESS", "VM", params[1] if len(params) > 1 else "",
                                    "start", "OpaqueRef:injected")
        if name in ("VM.start", "VM.start_on") and self._roll("nomem", method):
            return spike, XapiError("HOST_NOT_ENOUGH_FREE_MEMORY", "1073741824", "0")
        return spike, None

    def delay(self, method):
        """Seconds to hold the answer of a call that was carried out (``delay``)."""
        for pattern, seconds in self.delays:
            if fnmatch.fnmatchcase(method, pattern):
                if seconds > 0:
                    with self.lock:
                        self._record("delay", method)
                return seconds
        return 0.0

    def after(self, method):
        """True to drop the answer of a call that was carried out (``reset_after``)."""
        if "login" in method:
            return False
        with self.lock:
            return self._roll("reset_after", method)


class Scripted(Faults):
    """Faults on named methods, a given number of times (embedded pools, for tests):

        Scripted(reset_after={"VM.clone": 1}, reset={"VIF.create": 2}, expire={"VM.get_record": 4},
                 busy={"Async.VM.start": 1})

    ``Async.X`` and ``X`` are different methods here. Counted in ``injected`` like random faults.
    """

    def __init__(self, log=None, **plan):
        super().__init__("", log=log)
        unknown = set(plan) - {"reset", "reset_after", "expire", "busy"}
        if unknown:
            raise ValueError("unknown fault %r" % sorted(unknown)[0])
        self.plan = {kind: dict(methods) for kind, methods in plan.items()}

    def _take(self, kind, method):
        left = self.plan.get(kind, {}).get(method, 0)
        if left:
            self.plan[kind][method] = left - 1
            self._record(kind, method)
        return bool(left)

    def _before(self, sim, method, params):
        self.calls += 1
        if self._take("reset", method):
            return False, "reset"
        if params and self._take("expire", method):
            sim.sessions.expire(params[0])
        if self._take("busy", method):
            return False, XapiError("OTHER_OPERATION_IN_PROGRESS", "VM", params[1] if len(params) > 1 else "",
                                    "start", "OpaqueRef:injected")
        return False, None

    def after(self, method):
        with self.lock:
            return self._take("reset_after", method)
