# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""What may go into a VM's ``xenstore_data``: the one place for the vm-data key and value rules.

Only keys under ``vm-data/`` reach the guest: at domain build XenServer writes the keys with an
allowed prefix and silently drops the rest (SDK guide 4.1 section 5.3; xenopsd
``allowed_xsdata_prefixes`` in ocaml/xenopsd/xc/domain.ml). So every key is checked here,
before anything is written, against what xenstored would accept.

Key forms: a key without "/" names a child of vm-data (``hostname`` is ``vm-data/hostname``);
a key with "/" is a path relative to the guest's domain and must start with ``vm-data/``
(``vm-data/networks/0/ip``). Anything else (``FIST/x``, ``attr/foo``, ``/local/domain/1/x``)
is refused.

Values are UTF-8 text. Control characters (C0 including tab and newline, DEL, C1) are refused:
XML 1.0 cannot carry most of them through XML-RPC, and xenstore values are meant to be
printable (xen docs/misc/xenstore.txt).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import unicodedata

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerError

PREFIX = "vm-data/"

# Limits (the binding ones, checked in bytes of UTF-8):
# - Path characters: xenstored accepts [A-Za-z0-9-/_@] (xen docs/misc/xenstore.txt; oxenstored
#   store.ml char_is_valid); empty components (doubled or trailing "/") are invalid.
# - Path length: XenServer runs oxenstored with quota-path-max 1024 (xenopsd.ml reads that
#   default from oxenstored.conf). Older oxenstored (utils.ml path_validate before the
#   relative-length fix) measured the path as sent, and xenopsd sends absolute paths
#   /local/domain/<domid>/<key>. Domids go up to 32751 (DOMID_FIRST_RESERVED - 1), so the
#   longest prefix is "/local/domain/32751/" (20 bytes): a key of at most 1004 bytes is
#   accepted by every version. (The protocol's own limit, 2048 relative, is looser.)
# - Value size: oxenstored quota-maxsize 2048 (quota.ml: a bigger value is Data_too_big).
PATH_MAX = 1024
LONGEST_DOMAIN_PREFIX = "/local/domain/32751/"
KEY_MAX = PATH_MAX - len(LONGEST_DOMAIN_PREFIX)
VALUE_MAX = 2048

_PATH_CHARS = re.compile(r"[A-Za-z0-9\-/_@]")
_DROPPED = ("XenServer writes only keys under vm-data/ into the guest and drops any other key "
            "silently when the VM starts")


class XenstoreKeyError(ValueError):
    """A key or value that xenstored (or XenServer's vm-data rule) would not accept."""


def _show(value, limit=40):
    """A key or value for an error message: quoted, shortened, control characters escaped."""
    shown = value if len(value) <= limit else value[:limit] + "..."
    if not shown.isprintable():
        shown = shown.encode("unicode_escape").decode("ascii")
    return "'%s'" % shown


def normalize_key(key):
    """``hostname`` / ``vm-data/hostname`` -> ``vm-data/hostname``; raise for anything else."""
    if not isinstance(key, str) or key == "":
        raise XenstoreKeyError("xenstore key %r is empty or not a string" % (key,))
    if key.startswith("/"):
        hint = ""
        match = re.match(r"^/local/domain/[0-9]+/(vm-data/.+)$", key)
        if match:
            hint = "; write it relative to the domain, as '%s'" % match.group(1)
        raise XenstoreKeyError("xenstore key %s is an absolute path: %s%s" % (_show(key), _DROPPED, hint))
    if key in ("vm-data", PREFIX):
        raise XenstoreKeyError("xenstore key %s is the vm-data directory itself; name a key under it, "
                               "for example 'vm-data/hostname'" % _show(key))
    if "/" in key and not key.startswith(PREFIX):
        raise XenstoreKeyError("xenstore key %s is outside vm-data: %s; use a key under vm-data/"
                               % (_show(key), _DROPPED))
    full = key if key.startswith(PREFIX) else PREFIX + key
    bad = sorted(set(c for c in full if not _PATH_CHARS.match(c)))
    if bad:
        raise XenstoreKeyError("xenstore key %s has characters xenstore does not allow (%s); allowed are "
                               "A-Z a-z 0-9 - / _ @" % (_show(key), ", ".join(repr(c) for c in bad)))
    if "//" in full or full.endswith("/"):
        raise XenstoreKeyError("xenstore key %s has an empty path component (doubled or trailing '/')"
                               % _show(key))
    size = len(full.encode("utf-8"))
    if size > KEY_MAX:
        raise XenstoreKeyError("xenstore key %s is %d bytes; at most %d fit in xenstore's %d-byte path "
                               "limit under /local/domain/<domid>/" % (_show(full), size, KEY_MAX, PATH_MAX))
    return full


def check_value(key, value):
    """The value as xenstore will hold it (a string); raise if xenstore or XML-RPC cannot carry it."""
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int, float)):
        raise XenstoreKeyError("value of xenstore key %s must be a string, got %s %r; quote it in YAML"
                               % (_show(key), type(value).__name__, value))
    text = value if isinstance(value, str) else str(value)
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise XenstoreKeyError("value of xenstore key %s contains the control character %r at offset %d "
                                   "(value %s); xenstore values must be printable text"
                                   % (_show(key), char, text.index(char), _show(text)))
    size = len(text.encode("utf-8"))
    if size > VALUE_MAX:
        raise XenstoreKeyError("value of xenstore key %s is %d bytes; xenstored accepts at most %d "
                               "(quota-maxsize)" % (_show(key), size, VALUE_MAX))
    return text


def normalize_data(data):
    """{key: value} as given -> {vm-data/key: value}; the same key given twice is an error."""
    out = {}
    for key, value in (data or {}).items():
        full = normalize_key(key)
        text = check_value(full, value)
        if full in out and out[full] != text:
            raise XenstoreKeyError("xenstore key %s is given twice with different values" % _show(full))
        out[full] = text
    return out


def normalize_keys(keys):
    return sorted(set(normalize_key(key) for key in keys or []))


def vm_data(xenstore_data):
    """Only the vm-data keys of a VM's xenstore_data map."""
    return dict((k, v) for k, v in xenstore_data.items() if k.startswith(PREFIX))


def plan(current, present=None, absent=(), exclusive=False):
    """The whole new xenstore_data map: ``current`` with vm-data keys set or removed.

    Keys outside vm-data are kept as they are, always; with ``exclusive`` the vm-data keys
    not in ``present`` are removed.
    """
    present = present or {}
    new = dict(current)
    for key in absent:
        new.pop(key, None)
    if exclusive:
        for key in list(new):
            if key.startswith(PREFIX) and key not in present:
                del new[key]
    new.update(present)
    return new


def _holds(data, present, absent):
    return all(data.get(k) == v for k, v in present.items()) and not any(k in data for k in absent)


def _set_key(client, ref, key, value, exists):
    """One key, atomically in xapi's database: add_to_ (remove_from_ first for a new value).

    add_to_ of a key that is there fails MAP_DUPLICATE_KEY (another writer set it meanwhile):
    then it is removed and added again, a few times at most.
    """
    for attempt in range(3):
        if exists or attempt:
            client.call("VM.remove_from_xenstore_data", ref, key)
        try:
            client.call("VM.add_to_xenstore_data", ref, key, value)
            return
        except XenServerError as err:
            if err.code != "MAP_DUPLICATE_KEY" or attempt == 2:
                raise


def write(client, ref, current, present=None, absent=(), exclusive=False, live=False):
    """Apply a change planned from ``current`` key by key; returns the map as it is after.

    Each key is one add_to_ / remove_from_ call, atomic in xapi's database, so writers of
    other keys at the same time never lose theirs (the whole map written back would drop
    keys another writer added since it was read). Those calls change the database only: on a
    running VM the guest's vm-data is rewritten by set_xenstore_data alone, so the map is then
    read afresh (with every writer's keys) and pushed whole, and read once more: if another
    writer's push (from an older read) overwrote ours, our keys are written and pushed again.
    """
    new = plan(current, present, absent, exclusive)
    sets = dict((k, v) for k, v in new.items() if current.get(k) != v)
    removes = sorted(k for k in current if k not in new)
    for key in removes:
        client.call("VM.remove_from_xenstore_data", ref, key)
    for key in sorted(sets):
        _set_key(client, ref, key, sets[key], key in current)
    if not live:
        return new
    after = new
    for _round in range(3):
        now = client.call("VM.get_xenstore_data", ref)
        if not _holds(now, sets, removes):
            for key in removes:
                client.call("VM.remove_from_xenstore_data", ref, key)
            for key in sorted(sets):
                if now.get(key) != sets[key]:
                    _set_key(client, ref, key, sets[key], key in now)
            now = client.call("VM.get_xenstore_data", ref)
        client.call("VM.set_xenstore_data", ref, now)
        after = client.call("VM.get_xenstore_data", ref)
        if _holds(after, sets, removes):
            break
    return after


# xapi pushes vm-data to a running guest only (message_forwarding.ml).
LIVE_STATES = ("Running",)


def plan_into(into, client, ref, record, present=None, absent=(), exclusive=False):
    """Plan a change of the VM's vm-data keys into ``into`` (a _plan.Plan): the field
    ``xenstore_data`` (vm-data keys before and after) and the step that writes it key by key
    (``write``), pushed to a running guest. The vm and vm_xenstore_data modules share it.
    Returns a dict whose ``map`` is the VM's whole map after the run (the planned one until the
    step has run) and ``live`` whether the guest sees the change at once."""
    current = record["xenstore_data"]
    new = plan(current, present, absent, exclusive)
    outcome = dict(map=new, live=False, before=vm_data(current), after=vm_data(new))

    def apply():
        outcome["map"] = write(client, ref, current, present, absent, exclusive, live=outcome["live"])
    if into.field("xenstore_data", outcome["before"], outcome["after"], apply):
        outcome["live"] = record["power_state"] in LIVE_STATES
    return outcome
