"""Test hook: what a simulated guest sees from the inside, read from a ``--state`` file.

``xapisim guest --state FILE --vm NAME`` and ``xapisim xenstore-read --state FILE --vm NAME
PATH`` let tests that drive the simulator as a process (molecule scenarios, integration
targets) check the guest's side of things: ``xenstore-read vm-data/foo`` run inside the
guest, ``uname -r`` and ``/proc/cmdline`` of the kernel it booted. XenAPI has no way to ask
this, and neither does this module: it is a simulator test hook, not part of the pool.

It only reads the state file (``xapisim serve --state`` writes it atomically after every
change), so it works while the simulator runs and never changes anything. The rules are the
guest's: only a running domain has a xenstore to read, and it sees only its own
``/local/domain/<domid>`` subtree (paths are relative to it, or absolute under it).
"""
import json

from .guests import guest_path

#: What ``guest`` reports of the hidden guest state (xapisim.guests): the rest is internal.
VIEW_KEYS = ("stage", "loader", "kernel", "ramdisk", "cmdline", "uname", "tools",
             # HVM guests (guests/hvm.py): the console's last lines, the booted system's os-release,
             # hostname and network, cloud-init's status, the installer and its answer file
             "firmware", "console", "os", "hostname", "network", "cloud_init", "installer", "answer",
             "error")


class GuestViewError(Exception):
    """A VM that cannot be found in the state file, or a path the guest cannot read."""


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def find_vm(data, name):
    """The ref of the one non-template VM whose name label or uuid is ``name``."""
    found = [ref for ref, record in data["tables"].get("VM", {}).items()
             if not record["is_a_template"] and not record["is_control_domain"]
             and name in (record["name_label"], record["uuid"])]
    if not found:
        raise GuestViewError("no VM named '%s' in the state file" % name)
    if len(found) > 1:
        raise GuestViewError("%d VMs are named '%s'; give a uuid" % (len(found), name))
    return found[0]


def view(data, name):
    """The guest's own view: power state, domid, stage, booted kernel and command line, uname,
    tools, and its xenstore keys (relative to /local/domain/<domid>)."""
    ref = find_vm(data, name)
    record = data["tables"]["VM"][ref]
    hidden = data.get("hidden", {})
    state = hidden.get("guests", {}).get(ref, {})
    running = record["power_state"] == "Running"
    out = {"name": record["name_label"], "uuid": record["uuid"],
           "power_state": record["power_state"].lower(), "domid": int(record["domid"])}
    out.update({key: state.get(key) for key in VIEW_KEYS})
    out["xenstore"] = dict(hidden.get("xenstore", {}).get(ref, {})) if running else {}
    return out


def xenstore_read(data, name, path):
    """``xenstore-read PATH`` inside the guest of VM ``name``."""
    ref = find_vm(data, name)
    record = data["tables"]["VM"][ref]
    try:
        key = guest_path(record, path)
    except KeyError:
        raise GuestViewError("VM '%s' is %s: a guest has a xenstore only while its domain runs"
                             % (name, record["power_state"].lower())) from None
    except PermissionError:
        raise GuestViewError("xenstore-read: could not read path %s: Permission denied "
                             "(domain %s sees only /local/domain/%s)" % (path, record["domid"], record["domid"])
                             ) from None
    store = data.get("hidden", {}).get("xenstore", {}).get(ref, {})
    if key not in store:
        raise GuestViewError("xenstore-read: could not read path %s" % path)
    return store[key]
