"""event.from (and the legacy register/next) over the database's event log.

A token is "<last event id, 20 digits>,<zeros>" as xapi formats it; the empty token means
"from the beginning": every live object of the subscribed classes comes back as an "add".
The call blocks on the database's condition variable until a matching event or the timeout.
"""
import time

from . import model
from .api import handler
from .errors import XapiError
from .wire import record_to_wire


def _subscriptions(classes):
    """Parse the subscription list into a predicate over (class, ref)."""
    known = {name.lower(): name for name in model.class_names()}
    wanted_all, wanted_classes, wanted_refs = False, set(), set()
    for item in classes:
        if item == "*":
            wanted_all = True
            continue
        name, _, ref = item.partition("/")
        if name.lower() not in known:
            raise XapiError("EVENT_SUBSCRIPTION_PARSE_FAILURE", item)
        if ref:
            wanted_refs.add((known[name.lower()], ref))
        else:
            wanted_classes.add(known[name.lower()])
    return lambda cls, ref: wanted_all or cls in wanted_classes or (cls, ref) in wanted_refs


def _parse_token(token):
    if token == "":
        return None
    try:
        return int(token.split(",")[0])
    except ValueError:
        raise XapiError("EVENT_FROM_TOKEN_PARSE_FAILURE", token) from None


def _token(event_id):
    return "%020d,%020d" % (event_id, 0)


def _event(db, event_id, cls, op, ref, timestamp=None):
    out = {"id": str(event_id), "timestamp": timestamp or "%.6f" % time.time(), "class": cls.lower(),
           "operation": op, "ref": ref}
    if op != "del" and db.exists(cls, ref):
        out["snapshot"] = record_to_wire(cls, db.get(cls, ref))
    return out


def collect(db, wanted, since):
    """Events after ``since`` matching ``wanted``, one per object (its latest state)."""
    if since is None:
        # every object as an "add" carrying its own creation generation (xapi_event.ml
        # collect_events: an object created after the token is a create at time=created)
        events = [(db.generation(cls, ref)[0], cls, "add", ref)
                  for cls in model.class_names() if cls != "session"
                  for ref in db.all(cls) if wanted(cls, ref)]
        return events
    pending = db.events_since(since)
    if pending is None:
        raise XapiError("EVENTS_LOST")
    latest = {}
    for event_id, cls, op, ref in pending:
        if wanted(cls, ref):
            prev = latest.get((cls, ref))
            if prev and prev[2] == "add" and op == "mod":
                op, event_id = "add", prev[0]     # created in the window: id is its creation
            latest[(cls, ref)] = (event_id, cls, op, ref)
    return sorted(latest.values())


@handler("event", "from")
def _from(call, classes, token, timeout):
    db = call.db
    wanted = _subscriptions(classes)
    since = _parse_token(token)
    deadline = time.monotonic() + max(0.0, timeout)
    with db.lock:
        while True:
            found = collect(db, wanted, since)
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                break
            db.changed.wait(remaining)
        counts = {}
        for cls in model.class_names():
            if any(wanted(cls, ref) for ref in db.all(cls)) or cls.lower() in [c.lower() for c in classes]:
                counts[cls.lower()] = len(db.all(cls))
        return {
            # event.from's events carry ts "0.0" (xapi_event.ml from_inner event_of)
            "events": [_event(db, *e, timestamp="0.0") for e in sorted(found)],
            "valid_ref_counts": counts,
            "token": _token(db.event_id),
        }


@handler("event", "get_current_id")
def _current_id(call):
    return str(call.db.event_id)


@handler("event", "register")
def _register(call, classes):
    registrations = call.sim.registrations.setdefault(call.session, {"classes": set(), "since": call.db.event_id})
    registrations["classes"].update(classes)


@handler("event", "unregister")
def _unregister(call, classes):
    registration = call.sim.registrations.get(call.session)
    if registration:
        registration["classes"].difference_update(classes)


@handler("event", "next")
def _next(call):
    registration = call.sim.registrations.get(call.session)
    if not registration:
        raise XapiError("SESSION_NOT_REGISTERED", call.session)
    db = call.db
    wanted = _subscriptions(sorted(registration["classes"]))
    with db.lock:
        while True:
            found = collect(db, wanted, registration["since"])
            if found:
                break
            db.changed.wait(30)
        registration["since"] = db.event_id
        return [_event(db, *e) for e in found]
