# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""A VM's configuration, one handler per parameter group (the shape of vmware.vmware's
module_utils/vm/): identity (name, description), memory, vCPUs, other_config, home server,
disks, networks, and firmware (BIOS / UEFI, Secure Boot, vTPM).

Each handler ``plan``s first: it compares what the VM has with what was asked, records every
difference in the ChangeSet (marking those the VM's power state does not allow now as
``needs_halt``) and fails, naming the value, on input it cannot honour. Planning only reads,
so a failure leaves the pool as it was. ``apply`` then makes the changes with the calls the
power state at that moment allows: live ones (VCPUs_number_live, the memory dynamic range, VIF
move, disk/NIC hot-plug) on a running VM, the full setters on a halted one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import unicodedata
import uuid
import xml.etree.ElementTree as ET

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    NULL_REF,
    XenServerError,
    find_created,
)
from ansible_collections.xenserver.provisioning.plugins.module_utils._firmware import (
    READY,
    boot_firmware,
    has_store,
    pool_has_uefi_certificates,
    secure_boot_setting,
    secureboot_readiness,
)
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._power import check_seconds
from ansible_collections.xenserver.provisioning.plugins.module_utils._records import find_named, names

MiB = 1024 ** 2
GiB = 1024 ** 3
INT64_MAX = 2 ** 63 - 1     # XenAPI's int is 64-bit
MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
# other_config keys xapi sets on the clone itself (xapi_vm_clone.ml): their value before our
# first read is not known, so setting one removes it first instead of relying on a guess.
SET_BY_CLONE = ("mac_seed", "base_template_name")
# other_config key of a VDI the module creates: a per-request uuid, so a create whose answer
# was lost finds that VDI and no other.
REQUEST_KEY = "xenserver.provisioning.request"
# Devices a (non-control-domain) VM may have, PV and HVM alike (xapi_vm_helpers.ml
# allowed_VBD_devices_PV/_HVM 0..254, allowed_VIF_devices_PV/_HVM 0..15).
VBD_DEVICES = [str(i) for i in range(255)]
VIF_DEVICES = [str(i) for i in range(16)]
# The longest VM name the modules make (xapi sets no limit; a 1 MiB name is a mistake).
NAME_MAX = 255


def invalid(msg):
    return XenServerError(msg, code="INVALID_OPTION")


def mib(size):
    """Bytes as MiB for messages and the diff (fractions only when not whole)."""
    size = int(size)
    return size // MiB if size % MiB == 0 else round(float(size) / MiB, 2)


def disk_size(spec):
    """The size a disk entry asks for, in bytes, or None."""
    if spec.get("size_gb") is not None:
        return int(spec["size_gb"]) * GiB
    if spec.get("size_mb") is not None:
        return int(spec["size_mb"]) * MiB
    return None


def other_config_value(value):
    """other_config values are strings; YAML booleans become xapi's "true"/"false"."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- input checks (no calls: they run before anything is read or changed) ----------------------

def check_name(name, option="name"):
    """A VM name a person can tell apart and a guest can use: not empty, not only blanks, no
    control characters (a newline in a name once reached an answer file), at most NAME_MAX."""
    problem = None
    if not name.strip():
        problem = "is empty" if not name else "is only whitespace"
    elif any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
        problem = "holds a control character"
    elif len(name) > NAME_MAX:
        problem = "is %d characters long; at most %d" % (len(name), NAME_MAX)
    if problem:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise invalid("%s %r %s" % (option, shown, problem))


def check_macs(nics):
    """MACs a VIF can have: a unicast address (not broadcast, multicast or all zeros), each once."""
    seen = {}
    for index, nic in enumerate(nics):
        mac = (nic.get("mac") or "").lower()
        if not mac:
            continue
        label = "networks[%d].mac '%s'" % (index, nic["mac"])
        if not MAC.match(mac):
            raise invalid("%s is not a MAC address like 00:16:3e:12:34:56" % label)
        first = int(mac[:2], 16)
        if mac == "ff:ff:ff:ff:ff:ff":
            raise invalid("%s is the broadcast address; give a unicast MAC" % label)
        if first & 1:
            raise invalid("%s is a multicast address (the low bit of its first octet is set); give a unicast MAC"
                          % label)
        if mac == "00:00:00:00:00:00":
            raise invalid("%s is all zeros; give a unicast MAC" % label)
        if mac in seen:
            raise invalid("%s is given twice (also networks[%d].mac)" % (label, seen[mac]))
        seen[mac] = index


def validate(p):
    """Fail on values no pool could take, naming the option and the value."""
    if p.get("name") is not None:
        check_name(p["name"])
    for option in ("memory_mb", "memory_max_mb", "vcpus", "vcpus_max", "shutdown_timeout"):
        if isinstance(p.get(option), bool):
            raise invalid("%s must be a number, got %s" % (option, str(p[option]).lower()))
    for option, unit in (("memory_mb", "MiB"), ("memory_max_mb", "MiB"), ("vcpus", "vCPUs"),
                         ("vcpus_max", "vCPUs")):
        value = p.get(option)
        if value is not None and value <= 0:
            raise invalid("%s must be a positive number of %s, got %s" % (option, unit, value))
        if value is not None and unit == "MiB" and value * MiB > INT64_MAX:
            raise invalid("%s %s MiB is more than XenAPI can express (at most %d MiB)" % (option, value, INT64_MAX // MiB))
    if p.get("shutdown_timeout") is not None and check_seconds("shutdown_timeout", p["shutdown_timeout"]):
        raise invalid(check_seconds("shutdown_timeout", p["shutdown_timeout"]))
    if p.get("memory_mb") and p.get("memory_max_mb") and p["memory_max_mb"] < p["memory_mb"]:
        raise invalid("memory_max_mb (%s) must not be below memory_mb (%s)" % (p["memory_max_mb"], p["memory_mb"]))
    if p.get("vcpus") and p.get("vcpus_max") and p["vcpus_max"] < p["vcpus"]:
        raise invalid("vcpus_max (%s) must not be below vcpus (%s)" % (p["vcpus_max"], p["vcpus"]))
    if len(p.get("disks") or []) > len(VBD_DEVICES):
        raise invalid("disks has %d entries; a VM has at most %d disk devices (%s-%s, VM.get_allowed_VBD_devices)"
                      % (len(p["disks"]), len(VBD_DEVICES), VBD_DEVICES[0], VBD_DEVICES[-1]))
    if len(p.get("networks") or []) > len(VIF_DEVICES):
        raise invalid("networks has %d entries; a VM has at most %d network devices (%s-%s, "
                      "VM.get_allowed_VIF_devices)" % (len(p["networks"]), len(VIF_DEVICES), VIF_DEVICES[0],
                                                       VIF_DEVICES[-1]))
    for index, disk in enumerate(p.get("disks") or []):
        for option in ("size_mb", "size_gb"):
            value = disk.get(option)
            if isinstance(value, bool):
                raise invalid("disks[%d].%s must be a number, got %s" % (index, option, str(value).lower()))
            if value is not None and value <= 0:
                raise invalid("disks[%d].%s must be a positive size, got %s" % (index, option, value))
            if value is not None and value * (GiB if option == "size_gb" else MiB) > INT64_MAX:
                raise invalid("disks[%d].%s %s is more than XenAPI can express (at most %d bytes)"
                              % (index, option, value, INT64_MAX))
    check_macs(p.get("networks") or [])
    for index, nic in enumerate(p.get("networks") or []):
        if not nic.get("network"):
            raise invalid("networks[%d].network is required (a network name, uuid or bridge)" % index)
    for key, value in (p.get("other_config") or {}).items():
        if not key:
            raise invalid("other_config has an empty key")
        if isinstance(value, (dict, list)):
            raise invalid("other_config value of '%s' must be a string, got %s" % (key, value))
    if p.get("firmware") == "bios":
        for option, value in (("secure_boot", p.get("secure_boot")), ("vtpm", p.get("vtpm"))):
            if value in ("true", "auto", True):
                raise invalid("%s: %s needs firmware: uefi, not firmware: bios" % (option, str(value).lower()))


# --- the provisioning XML of a template (other_config:disks) -----------------------------------

def parse_provision(text):
    """The <disk> entries of a template's provisioning XML as attribute dicts."""
    if not text:
        return []
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise XenServerError("the template's other_config:disks is not valid XML (%s): %s" % (err, text),
                             code="TEMPLATE_INVALID")
    return [dict(node.attrib) for node in root.iter("disk")]


def provision_text(entries):
    root = ET.Element("provision")
    for entry in entries:
        ET.SubElement(root, "disk", dict((k, v) for k, v in entry.items() if not k.startswith("_")))
    return ET.tostring(root, encoding="unicode")


class VMContext(object):
    """What the handlers share: the VM (or, while creating, its source), its records, the
    options, its power state, and the SRs resolved so far."""

    def __init__(self, client, records, ref, record, params, creating=False, xml_disks=None):
        self.client = client
        self.records = records
        self.ref = ref
        self.record = record
        self.params = params
        self.creating = creating
        self.power = record["power_state"]
        # While creating from a template: its provisioning entries, still editable.
        self.xml_disks = xml_disks
        self.created_vifs = []
        self.created_vtpms = []
        # other_config keys every disk made for the VM carries from its VDI.create (a claim's holder).
        self.markers = {}
        self.srs = {}
        self._default_sr = None
        self._pool = None

    @property
    def name(self):
        return self.params.get("name") or self.record["name_label"]

    @property
    def halted(self):
        return self.power == "Halted"

    @property
    def running(self):
        return self.power == "Running"

    def needs_halt(self, live):
        """Whether a change must wait for a halted VM: ``live`` says XenServer can make it on a
        running one."""
        return not self.halted and not (live and self.running)

    # --- disks --------------------------------------------------------------------------------
    def disks(self):
        """Disks in userdevice order (CD drives left out), XML entries still to be provisioned
        included: dicts with device, and vbd/vdi records or the XML entry."""
        found = []
        for vbd_ref, vbd in self.records.vbds_of(self.ref).items():
            if vbd["type"] != "Disk" or vbd["VDI"] == NULL_REF:
                continue
            vdi = self.records.get(vbd["VDI"])
            if vdi is not None:
                found.append(dict(device=vbd["userdevice"], vbd_ref=vbd_ref, vdi_ref=vbd["VDI"], vdi=vdi, xml=None))
        for entry in self.xml_disks or []:
            found.append(dict(device=entry.get("device", ""), xml=entry))
        found.sort(key=lambda d: (int(d["device"]) if d["device"].isdigit() else 99, d["device"]))
        return found

    def free_device(self):
        used = set(v["userdevice"] for v in self.records.vbds_of(self.ref).values())
        used.update(e.get("device") for e in self.xml_disks or [])
        free = [d for d in VBD_DEVICES if d not in used]
        if not free:
            raise invalid("VM '%s' has no free disk device left (at most %d: %s-%s); give fewer disks"
                          % (self.name, len(VBD_DEVICES), VBD_DEVICES[0], VBD_DEVICES[-1]))
        return free[0]

    # --- storage repositories -----------------------------------------------------------------
    def resolve_srs(self, specs, option="sr"):
        """Look up every SR named in ``specs`` not known yet, in one call."""
        wanted = [s for s in specs if s and s not in self.srs]
        if wanted:
            self.srs.update(find_named(self.client, "SR", wanted, self.records, option))
            for spec in wanted:
                self._check_sr(spec, self.srs[spec][1])

    def sr(self, spec=None):
        """(ref, record) of the SR for a new disk: ``spec``, else the option sr, else the
        pool's default SR (one pool read, plus one SR read when its uuid is needed)."""
        spec = spec or self.params.get("sr")
        if spec:
            self.resolve_srs([spec])
            return self.srs[spec]
        if self._default_sr is None:
            pool = self.pool()
            if pool["default_SR"] == NULL_REF:
                raise invalid("the pool has no default SR: set sr to the SR (name or uuid) for the VM's disks")
            self._default_sr = [pool["default_SR"], None]
        return tuple(self._default_sr)

    def pool(self):
        """The pool's record (default SR, UEFI certificates, restrictions): read once."""
        if self._pool is None:
            if self.records.whole("pool"):
                self._pool = self.records.read_pool()[1]
            else:
                self._pool = next(iter(self.client.call("pool.get_all_records").values()))
        return self._pool

    def sr_uuid(self, spec=None):
        ref, record = self.sr(spec)
        if record is None:   # the pool's default SR: its ref is known, its uuid not yet
            record = self.records.get(ref) or self.client.call("SR.get_record", ref)
            self._check_sr("the pool's default SR", record)
            self._default_sr[1] = record
        return record["uuid"]

    @staticmethod
    def _check_sr(spec, record):
        if record.get("content_type") == "iso":
            raise invalid("SR '%s' is an ISO library; choose an SR that holds disks" % spec)

    def provision_xml(self):
        """The template's provisioning XML with every disk placed on an SR (per-disk sr, else
        the option sr, else the SR the template names, else the pool's default SR)."""
        specs = [e.get("_sr") or self.params.get("sr") for e in self.xml_disks]
        self.resolve_srs(specs, "disks[].sr / sr")
        for entry, spec in zip(self.xml_disks, specs):
            if spec or not entry.get("sr"):
                entry["sr"] = self.sr_uuid(spec)
        return provision_text(self.xml_disks)


# --- handlers ---------------------------------------------------------------------------------

class Handler(object):
    def __init__(self, ctx):
        self.ctx = ctx
        self.params = ctx.params
        self.client = ctx.client

    def plan(self, changes):
        raise NotImplementedError

    def apply(self):
        pass


class IdentityHandler(Handler):
    """name (a VM named by uuid is renamed) and description."""

    def plan(self, changes):
        record, p = self.ctx.record, self.params
        self.label = self.description = None
        if p.get("uuid") and p.get("name") and not self.ctx.creating \
                and changes.compare("name", record["name_label"], p["name"]):
            self.label = p["name"]
        if changes.compare("description", record["name_description"], p.get("description")):
            self.description = p["description"]

    def apply(self):
        if self.label is not None:
            self.client.call("VM.set_name_label", self.ctx.ref, self.label)
        if self.description is not None:
            self.client.call("VM.set_name_description", self.ctx.ref, self.description)


class MemoryHandler(Handler):
    """memory_mb: what the VM runs with (dynamic min = max); memory_max_mb: the static maximum.

    A running VM's dynamic range moves live within its static range; the static range needs
    the VM halted. Without memory_max_mb an existing VM's static maximum only grows (to
    memory_mb); a new VM gets exactly memory_mb.
    """

    def plan(self, changes):
        self.target = None
        memory, maximum = self.params.get("memory_mb"), self.params.get("memory_max_mb")
        if memory is None and maximum is None:
            return
        r = self.ctx.record
        current = tuple(int(r[k]) for k in ("memory_static_min", "memory_static_max",
                                            "memory_dynamic_min", "memory_dynamic_max"))
        smin, smax, dmin, dmax = current
        dynamic = (memory * MiB, memory * MiB) if memory is not None else (dmin, dmax)
        if maximum is not None:
            tsmax = maximum * MiB
        else:
            tsmax = dynamic[1] if self.ctx.creating else max(smax, dynamic[1])
        if dynamic[1] > tsmax:
            raise invalid("memory_max_mb %s is below the memory VM '%s' runs with (%s MiB); lower memory_mb too"
                          % (maximum, self.ctx.name, mib(dmax)))
        self.target = (min(smin, dynamic[0]), tsmax) + dynamic
        if self.target == current:
            self.target = None
            return
        halt = self.ctx.needs_halt(live=self.target[:2] == current[:2])
        before = mib(dmax) if dmin == dmax else "%s-%s" % (mib(dmin), mib(dmax))
        if dynamic != (dmin, dmax):
            changes.compare("memory_mb", before, memory, needs_halt=halt)
        changes.compare("memory_max_mb", mib(smax), mib(tsmax), needs_halt=halt)
        changes.compare("memory_static_min_mb", mib(smin), mib(self.target[0]), needs_halt=halt)

    def apply(self):
        if self.target is None:
            return
        if self.ctx.halted:
            self.client.call("VM.set_memory_limits", self.ctx.ref, *[str(v) for v in self.target])
        else:
            self.client.call("VM.set_memory_dynamic_range", self.ctx.ref, str(self.target[2]), str(self.target[3]))


class VcpuHandler(Handler):
    """vcpus (VCPUs_at_startup, live up to VCPUs_max) and vcpus_max (needs the VM halted).

    Without vcpus_max an existing VM's VCPUs_max only grows (to vcpus); a new VM gets exactly
    vcpus.
    """

    def plan(self, changes):
        self.target = None
        vcpus, maximum = self.params.get("vcpus"), self.params.get("vcpus_max")
        if vcpus is None and maximum is None:
            return
        startup, current_max = int(self.ctx.record["VCPUs_at_startup"]), int(self.ctx.record["VCPUs_max"])
        if maximum is None:
            maximum = vcpus if self.ctx.creating else max(current_max, vcpus)
        wanted = vcpus if vcpus is not None else startup
        if wanted > maximum:
            raise invalid("vcpus_max %s is below the vCPUs of VM '%s' (%s); lower vcpus too"
                          % (maximum, self.ctx.name, startup))
        if (wanted, maximum) == (startup, current_max):
            return
        self.target = (wanted, maximum)
        self.current = (startup, current_max)
        halt = self.ctx.needs_halt(live=maximum == current_max)
        changes.compare("vcpus", startup, wanted, needs_halt=halt)
        changes.compare("vcpus_max", current_max, maximum, needs_halt=halt)

    def apply(self):
        if self.target is None:
            return
        (wanted, maximum), (startup, current_max) = self.target, self.current
        ref = self.ctx.ref
        if not self.ctx.halted:
            # xapi records the live count as VCPUs_at_startup too (xapi_xenops.set_vcpus).
            self.client.call("VM.set_VCPUs_number_live", ref, str(wanted))
            return
        # Keep 0 < VCPUs_at_startup <= VCPUs_max true after each call.
        steps = [("VCPUs_max", maximum, current_max), ("VCPUs_at_startup", wanted, startup)]
        if maximum < startup:
            steps.reverse()
        for field, value, old in steps:
            if value != old:
                self.client.call("VM.set_%s" % field, ref, str(value))


class OtherConfigHandler(Handler):
    """other_config: only the keys named change (a null value removes the key), unless
    other_config_exclusive asks to remove every key not named."""

    def plan(self, changes):
        self.to_set, self.to_remove = {}, []
        wanted = self.params.get("other_config")
        exclusive = self.params.get("other_config_exclusive")
        if wanted is None and not exclusive:
            return
        wanted = dict((k, other_config_value(v)) for k, v in (wanted or {}).items())
        current = self.ctx.record["other_config"]
        self.current = current
        self.to_set = dict((k, v) for k, v in wanted.items() if v is not None and current.get(k) != v)
        self.to_remove = sorted(k for k in current if (k in wanted and wanted[k] is None)
                                or (exclusive and k not in wanted))
        touched = sorted(set(self.to_set) | set(self.to_remove))
        changes.compare("other_config", dict((k, current[k]) for k in touched if k in current),
                        dict(self.to_set))

    def apply(self):
        ref, call = self.ctx.ref, self.client.call
        for key in self.to_remove:
            call("VM.remove_from_other_config", ref, key)
        for key, value in sorted(self.to_set.items()):
            # add_to_ fails on a key that exists (MAP_DUPLICATE_KEY): remove it first.
            if key in self.current or (self.ctx.creating and key in SET_BY_CLONE):
                call("VM.remove_from_other_config", ref, key)
            call("VM.add_to_other_config", ref, key, value)


class HomeServerHandler(Handler):
    """home_server: the host the VM prefers to start on (VM.affinity); "" clears it."""

    def plan(self, changes):
        self.target = None
        spec = self.params.get("home_server")
        if spec is None:
            return
        affinity = self.ctx.record["affinity"]
        if affinity != NULL_REF:
            self.ctx.records.fetch([("host", affinity)])
        current = self.ctx.records.get(affinity) if affinity != NULL_REF else None
        before = current["name_label"] if current else ""
        if spec == "":
            if affinity != NULL_REF:
                self.target = NULL_REF
                changes.compare("home_server", before, "")
            return
        if current and spec in names(current, "host"):
            return
        ref, record = find_named(self.client, "host", [spec], self.ctx.records, "home_server")[spec]
        self.target = ref
        changes.compare("home_server", before, record["name_label"])

    def apply(self):
        if self.target is not None:
            self.client.call("VM.set_affinity", self.ctx.ref, self.target)


class DiskHandler(Handler):
    """disks[i] is the VM's i-th disk in userdevice order (CD drives not counted).

    Existing disks only grow (VDI.resize, which XenServer does on a halted VM) and may be
    renamed; entries past the last disk are new disks (VDI + VBD, hot-plugged into a running
    VM). A disk the list does not name is left alone. While creating from a template the
    template's own disks are still provisioning entries: their size and SR are set in the XML,
    and new disks join it, so provisioning makes them all at once.
    """

    def plan(self, changes):
        self.resize, self.rename, self.create = [], [], []
        specs = self.params.get("disks") or []
        if not specs:
            return
        ctx = self.ctx
        current = ctx.disks()
        new_srs = []
        for index, spec in enumerate(specs):
            size = disk_size(spec)
            label = "disks[%d]" % index
            if index < len(current):
                disk = current[index]
                if disk["xml"] is not None:
                    self._plan_entry(changes, label, disk["xml"], spec, size)
                    new_srs.append(spec.get("sr"))
                else:
                    self._plan_existing(changes, label, disk, spec, size)
                continue
            if size is None:
                raise invalid("%s is a new disk for VM '%s': give its size_gb or size_mb" % (label, ctx.name))
            name = spec.get("name") or "%s disk %d" % (ctx.name, index)
            view = dict(size_mb=mib(size), sr=spec.get("sr") or self.params.get("sr") or "(pool default SR)",
                        name=name)
            new_srs.append(spec.get("sr") or self.params.get("sr"))
            if ctx.xml_disks is not None:
                # A template being provisioned: the new disk joins its provisioning XML.
                ctx.xml_disks.append(dict(device=ctx.free_device(), size=str(size), sr="", bootable="false",
                                          type="user", _sr=spec.get("sr") or "", _name=name))
                changes.compare(label, None, view)
                continue
            changes.compare(label, None, view, needs_halt=ctx.needs_halt(live=True))
            self.create.append(dict(size=size, sr=spec.get("sr"), name=name, bootable=not current and index == 0))
        # Every SR named for a new disk is looked up now, in one call, before anything changes.
        ctx.resolve_srs(new_srs, "disks[].sr / sr")

    def _plan_entry(self, changes, label, entry, spec, size):
        if size is not None and size != int(entry.get("size", 0)):
            changes.compare(label + ".size_mb", mib(entry.get("size", 0)), mib(size))
            entry["size"] = str(size)
        if spec.get("sr"):
            entry["_sr"] = spec["sr"]
        if spec.get("name"):
            entry["_name"] = spec["name"]

    def _plan_existing(self, changes, label, disk, spec, size):
        vdi = disk["vdi"]
        current = int(vdi["virtual_size"])
        if size is not None and size < current:
            raise invalid("%s: %s MiB is smaller than the disk '%s' (%s MiB); disks only grow"
                          % (label, mib(size), vdi["name_label"], mib(current)))
        if size is not None and size > current:
            # Online resize is not offered by XenServer's storage back-ends: grow when halted.
            changes.compare(label + ".size_mb", mib(current), mib(size), needs_halt=self.ctx.needs_halt(live=False))
            self.resize.append((disk["vdi_ref"], size))
        if changes.compare(label + ".name", vdi["name_label"], spec.get("name")):
            self.rename.append((disk["vdi_ref"], spec["name"]))

    def apply(self):
        call, ctx = self.client.call, self.ctx
        for vdi, size in self.resize:
            call("VDI.resize", vdi, str(size))
        for vdi, name in self.rename:
            call("VDI.set_name_label", vdi, name)
        for disk in self.create:
            sr_ref = ctx.sr(disk["sr"])[0]
            # The request marker tells this VDI from any other if the answer to the create is lost.
            marker = str(uuid.uuid4())
            vdi = call("VDI.create", {
                "name_label": disk["name"], "name_description": "Created by xenserver.provisioning.vm",
                "SR": sr_ref, "virtual_size": str(disk["size"]), "type": "user", "sharable": False,
                "read_only": False, "other_config": dict(ctx.markers, **{REQUEST_KEY: marker}), "sm_config": {},
                "xenstore_data": {},
                "tags": []}, recover=find_created(self.client, "VDI", 'field "SR"="%s"' % sr_ref,
                                                  keep=lambda r, m=marker: r["other_config"].get(REQUEST_KEY) == m,
                                                  what="disk '%s'" % disk["name"]))
            try:
                vbd = call("VBD.create", {
                    "VM": ctx.ref, "VDI": vdi, "userdevice": "autodetect", "bootable": disk["bootable"],
                    "mode": "RW", "type": "Disk", "empty": False, "unpluggable": True, "other_config": {},
                    "qos_algorithm_type": "", "qos_algorithm_params": {}},
                    recover=find_created(self.client, "VBD", 'field "VM"="%s" and field "VDI"="%s"' % (ctx.ref, vdi)))
            except XenServerError:
                _forget(self.client, "VDI", vdi)    # no disk without a drive is left behind
                raise
            if ctx.running:
                call("VBD.plug", vbd)


def _forget(client, cls, ref):
    """Best-effort removal of something just made, after the step that needed it failed."""
    try:
        client.call("%s.destroy" % cls, ref)
    except XenServerError:
        pass


class NetworkHandler(Handler):
    """networks[i] is the VIF with device i: its network (moved live with VIF.move) and MAC
    (a new MAC means a new VIF: halted VMs only). Missing VIFs are created (hot-plugged into a
    running VM); VIFs the list does not name are left alone."""

    def plan(self, changes):
        self.ops = []
        specs = self.params.get("networks") or []
        if not specs:
            return
        ctx = self.ctx
        nics = dict((vif["device"], (ref, vif)) for ref, vif in ctx.records.vifs_of(ctx.ref).items())
        unresolved = []
        for index, spec in enumerate(specs):
            device, label = str(index), "networks[%d]" % index
            mac = spec["mac"].lower() if spec.get("mac") else None
            if device not in nics:
                unresolved.append(spec["network"])
                changes.compare(label, None, dict(network=spec["network"], mac=mac or "(generated)"),
                                needs_halt=ctx.needs_halt(live=True))
                self.ops.append(("create", device, None, spec["network"], mac))
                continue
            ref, vif = nics[device]
            network = ctx.records.get(vif["network"])
            same_network = network is not None and spec["network"] in names(network, "network")
            same_mac = mac is None or vif["MAC"].lower() == mac
            if not same_network:
                unresolved.append(spec["network"])
                changes.compare(label + ".network", network["name_label"] if network else vif["network"],
                                spec["network"], needs_halt=ctx.needs_halt(live=True))
            if not same_mac:
                changes.compare(label + ".mac", vif["MAC"], mac, needs_halt=ctx.needs_halt(live=False))
                self.ops.append(("recreate", device, ref, None if same_network else spec["network"], mac))
            elif not same_network:
                self.ops.append(("move", device, ref, spec["network"], None))
        # Every network named for a change is looked up now, in one call, before anything changes.
        self.networks = find_named(self.client, "network", unresolved, ctx.records, "networks[].network")

    def apply(self):
        call, ctx = self.client.call, self.ctx
        for op, device, ref, spec, mac in self.ops:
            net_ref = self.networks[spec][0] if spec else None
            if op == "move":
                call("VIF.move", ref, net_ref)
                continue
            if op == "recreate":
                net_ref = net_ref or ctx.records.get(ref)["network"]
                call("VIF.destroy", ref)
            network = ctx.records.get(net_ref) or {}
            new = call("VIF.create", {
                "device": device, "network": net_ref, "VM": ctx.ref, "MAC": mac or "",
                "MTU": str(network.get("MTU", 1500)), "qos_algorithm_type": "",
                "qos_algorithm_params": {}, "other_config": {}},
                recover=find_created(self.client, "VIF", 'field "VM"="%s" and field "device"="%s"' % (ctx.ref, device)))
            ctx.created_vifs.append(new)
            if ctx.running:
                call("VIF.plug", new)


def secure_boot_not_ready(name, answer, how, why):
    """``answer``: what VM.get_secureboot_readiness answers (or would answer), ``how`` says which."""
    return XenServerError("Secure Boot for VM '%s' would not be enforced: VM.get_secureboot_readiness %s; %s"
                          % (name, how % answer, why), code="SECURE_BOOT_NOT_READY", params=[answer])


class FirmwareHandler(Handler):
    """firmware (HVM_boot_params:firmware), secure_boot (platform:secureboot) and vtpm (one
    VTPM, xapi's maximum).

    xapi stores a new firmware or Secure Boot setting in any power state, but a running VM
    keeps the firmware it was started with, and VTPM.create needs it halted (VTPM.destroy
    halted or suspended): so every change here needs the VM halted (restart_if_needed).
    Secure Boot on (true) needs keys the firmware enrols from the pool's UEFI certificates at
    the VM's first boot: turning it on (or creating such a VM) on a pool without them fails,
    as does keeping it on for a VM whose store lacks them (VM.get_secureboot_readiness).
    """

    def plan(self, changes):
        self.boot_params = self.platform = None
        self.add_vtpm, self.remove_vtpms = False, []
        p, ctx = self.params, self.ctx
        wanted_fw, wanted_sb, wanted_vtpm = p.get("firmware"), p.get("secure_boot"), p.get("vtpm")
        if wanted_fw is None and wanted_sb is None and wanted_vtpm is None:
            return
        record = ctx.record
        if not record["HVM_boot_policy"] and (wanted_fw or wanted_sb in ("true", "auto") or wanted_vtpm):
            raise invalid("VM '%s' is a PV guest (HVM_boot_policy is empty): it boots without BIOS or UEFI "
                          "firmware, so firmware, secure_boot and vtpm do not apply; create it from an HVM template"
                          % ctx.name)
        current_fw, current_sb = boot_firmware(record), secure_boot_setting(record)
        vtpms = list(record.get("VTPMs") or [])
        target_fw = wanted_fw or current_fw
        target_vtpm = bool(vtpms) if wanted_vtpm is None else wanted_vtpm
        if wanted_sb in ("true", "auto") and target_fw != "uefi":
            raise invalid("secure_boot: %s needs UEFI and VM '%s' boots with %s firmware: set firmware: uefi too"
                          % (wanted_sb, ctx.name, target_fw))
        if target_vtpm and target_fw != "uefi":
            raise invalid("VM '%s' %s a vTPM and would boot with %s firmware, which XenServer does not start "
                          "with a vTPM (NOT_IMPLEMENTED): keep firmware: uefi, or set vtpm: false to remove it "
                          "(its secrets are lost)" % (ctx.name, "would get" if wanted_vtpm else "has", target_fw))
        halt = ctx.needs_halt(live=False)
        if changes.compare("firmware", current_fw, wanted_fw, needs_halt=halt):
            self.boot_params = dict(record["HVM_boot_params"], firmware=wanted_fw)
        if wanted_sb is not None and not self._auto_met(wanted_sb, current_sb) \
                and changes.compare("secure_boot", current_sb, wanted_sb, needs_halt=halt):
            self.platform = dict(record["platform"], secureboot=wanted_sb)
        if (wanted_sb or current_sb) == "true" and target_fw == "uefi":
            self._check_secure_boot(record, turning_on=ctx.creating or self.boot_params is not None
                                    or self.platform is not None, asked=wanted_sb == "true")
        if wanted_vtpm is not None and changes.compare("vtpm", bool(vtpms), wanted_vtpm, needs_halt=halt):
            if wanted_vtpm:
                restrictions = ctx.pool().get("restrictions") or {}
                if restrictions.get("restrict_vtpm") != "false":
                    raise XenServerError("the pool's license does not allow vTPMs (pool restrictions: restrict_vtpm "
                                         "is not false), so VM '%s' cannot get one" % ctx.name,
                                         code="FEATURE_RESTRICTED", params=["restrict_vtpm"])
                self.add_vtpm = True
            else:
                self.remove_vtpms = vtpms

    def _auto_met(self, wanted, current):
        """secure_boot: auto is met by "auto" and by what VM.start made of it on this pool (true
        with UEFI certificates, false without): xapi replaces "auto" at every start."""
        if wanted != "auto" or current == "auto":
            return False
        return current == ("true" if pool_has_uefi_certificates(self.ctx.pool()) else "false")

    def _check_secure_boot(self, record, turning_on, asked):
        """Fail, before anything changes, when Secure Boot (true) would not be enforced.

        Turning it on (or creating such a VM): xapi's readiness of a VM that has not booted is
        first_boot whatever the pool has, so the check is the pool's: its first boot enrols the
        pool's certificates; without any the store is left in setup mode. Keeping it on
        (secure_boot: true asked again) for a VM with a store: xapi's readiness itself.
        """
        ctx = self.ctx
        if turning_on:
            if not pool_has_uefi_certificates(ctx.pool()):
                raise secure_boot_not_ready(ctx.name, "setup_mode", "would answer %s after its first boot", (
                    "the pool has no UEFI certificates (pool uefi_certificates and custom_uefi_certificates are "
                    "empty). Install them (XCP-ng: secureboot-certs install) or use secure_boot: auto (on when "
                    "the pool has certificates) or false"))
            return
        if not (asked and has_store(record)):
            return
        answer = secureboot_readiness(self.client, ctx.ref, record)
        ctx.records.readiness[ctx.ref] = answer
        if answer is not None and answer not in READY:
            raise secure_boot_not_ready(ctx.name, answer, "answers %s", (
                "its UEFI variable store lacks the Secure Boot keys (PK, KEK, db). With the pool's certificates "
                "installed, enrol them while it is halted (xe vm-set-uefi-mode uuid=<vm> mode=user), or use "
                "secure_boot: auto or false"))

    def apply(self):
        call, ctx = self.client.call, self.ctx
        if self.boot_params is not None:
            call("VM.set_HVM_boot_params", ctx.ref, self.boot_params)
        if self.platform is not None:
            call("VM.set_platform", ctx.ref, self.platform)
        for vtpm in self.remove_vtpms:
            # Destroys the vTPM's contents (its secrets) with it: only ever on vtpm: false.
            call("VTPM.destroy", vtpm)
        if self.add_vtpm:
            ctx.created_vtpms.append(call("VTPM.create", ctx.ref, False, recover=find_created(
                self.client, "VTPM", 'field "VM"="%s"' % ctx.ref, what="the vTPM of VM '%s'" % ctx.name)))


HANDLERS = (IdentityHandler, MemoryHandler, VcpuHandler, OtherConfigHandler, HomeServerHandler,
            DiskHandler, NetworkHandler, FirmwareHandler)


class ConfigPlan(Plan):
    """The Plan of a VM's configuration: each parameter group (a handler) plans its fields
    and is one step, in HANDLERS order."""

    def __init__(self, ctx, changes):
        super(ConfigPlan, self).__init__(changes)
        self.handlers = [cls(ctx) for cls in HANDLERS]
        for handler in self.handlers:
            handler.plan(self.changes)
            self.step(handler.apply)

    def handler(self, cls):
        return next(h for h in self.handlers if isinstance(h, cls))


def plan(ctx, changes):
    """Plan every parameter group into ``changes``; returns the ConfigPlan, ready to apply."""
    return ConfigPlan(ctx, changes)


def _show(value):
    return "(none)" if value is None else value


def halt_problem(ctx, changes):
    """Why the planned changes cannot be made in the VM's power state, or None."""
    if not changes.needs_halt:
        return None
    fields = ", ".join("%s %s -> %s" % (name, _show(changes.before.get(name)), _show(changes.after[name]))
                       for name in sorted(changes.needs_halt))
    state = ctx.power.lower()
    if ctx.running:
        return ("VM '%s' is running and these changes need it halted: %s. Set restart_if_needed: true to "
                "let the module shut it down, apply them and start it again, or shut it down first"
                % (ctx.name, fields))
    return ("VM '%s' is %s and these changes need it halted: %s. Shut it down first (with "
            "xenserver.provisioning.vm_power, state: halted)" % (ctx.name, state, fields))
