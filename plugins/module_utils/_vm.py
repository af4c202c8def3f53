# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""Finding VMs and templates, and describing a VM as facts.

Lookups use get_all_records_where on the name, so their cost does not grow with the
pool: one call returns only the matching records.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib

from ansible_collections.xenserver.provisioning.plugins.module_utils._addresses import guest_addresses
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    NULL_REF,
    InvalidInput,
    NotFound,
    XenServerError,
)
from ansible_collections.xenserver.provisioning.plugins.module_utils._firmware import (
    firmware,
    secure_boot_setting,
    secureboot_readiness,
)

# The pool's templates: snapshots are templates too, but not ones to create VMs from.
TEMPLATES_WHERE = 'field "is_a_template"="true" and field "is_a_snapshot"="false"'


def _quoted_ok(text):
    # The where-grammar has no escapes: a name with a double quote needs another route.
    return '"' not in text


def find_vm(client, name=None, uuid=None, template=False):
    """(ref, record) of the one VM (or template) named ``name`` or with ``uuid``; (None, None).

    Several VMs with the same name is an error: the user must say which by uuid.
    """
    kind = "template" if template else "VM"
    if uuid:
        # One call either way: a uuid has no quotes, so the where-lookup is always possible.
        matches = client.call("VM.get_all_records_where", 'field "uuid"="%s"' % uuid) if _quoted_ok(uuid) else {}
        if not matches:
            return None, None
        ref, record = next(iter(matches.items()))
        if bool(record["is_a_template"]) != template:
            raise InvalidInput("uuid %s is a %s, not a %s" % (
                uuid, "template" if record["is_a_template"] else "VM", kind))
        return ref, record
    if _quoted_ok(name):
        expr = ('field "name__label"="%s" and field "is_a_template"="%s" and '
                'field "is_a_snapshot"="false" and field "is_control_domain"="false"'
                % (name, "true" if template else "false"))
        matches = client.call("VM.get_all_records_where", expr)
    else:
        matches = {}
        for ref in client.call("VM.get_by_name_label", name):
            record = client.call("VM.get_record", ref)
            if bool(record["is_a_template"]) == template and not record["is_a_snapshot"] \
                    and not record["is_control_domain"]:
                matches[ref] = record
    if len(matches) > 1:
        raise XenServerError("%d %ss are named '%s' (uuids: %s); name the one you mean by uuid" % (
            len(matches), kind, name, ", ".join(sorted(r["uuid"] for r in matches.values()))), code="AMBIGUOUS")
    if not matches:
        return None, None
    return next(iter(matches.items()))


def templates(client):
    """{ref: record} of the pool's templates: one call."""
    return client.call("VM.get_all_records_where", TEMPLATES_WHERE)


def template_facts(record):
    """What choosing a template needs to know of it."""
    other = record["other_config"]
    return {
        "name": record["name_label"],
        "uuid": record["uuid"],
        "description": record["name_description"],
        "hvm": bool(record["HVM_boot_policy"]),
        "firmware": record["HVM_boot_params"].get("firmware", ""),
        "install_distro": other.get("install-distro"),
        "install_methods": [m for m in other.get("install-methods", "").split(",") if m],
        # xapi counts either flag (is_default_template is newer than other_config's key)
        "default": bool(record.get("is_default_template"))
        or other.get("default_template", "").lower() in ("true", "1"),
        "memory_mb": to_int(record["memory_static_max"]) // (1024 * 1024),
        "vcpus": to_int(record["VCPUs_at_startup"]),
    }


def nearest_template_names(client, name, count=5):
    """The pool's template names closest to ``name`` (for a message), best first; case does not count."""
    by_folded = {}
    for record in sorted(templates(client).values(), key=lambda r: r["name_label"]):
        by_folded.setdefault(record["name_label"].lower(), record["name_label"])
    return [by_folded[n] for n in difflib.get_close_matches(name.lower(), sorted(by_folded), n=count, cutoff=0.5)]


# Check mode across tasks. In ``--check`` a task that creates a VM (vm, vm_fleet) creates
# nothing, so the tasks after it that configure the VM find none. The one rule for every module
# that acts on an existing VM: in check mode, a VM named by ``name`` and not found is the VM an
# earlier task of the same run would create. The module fails only for bad input, reports
# changed with its whole wanted change (against a VM that has none of it yet: halted, as vm
# leaves a new VM) and says so in ``msg`` (``not_created_yet``). A ``uuid`` names a VM that
# exists (XenServer chooses a new VM's uuid), so it fails as outside check mode; so does a
# template (vm_boot's template: true changes templates that exist).
NOT_CREATED_YET = "the VM does not exist yet (check mode)"


def require_vm(client, name=None, uuid=None, check_mode=False, template=False):
    """(ref, record) of the VM (or template) the module acts on; NOT_FOUND if there is none,
    but (None, None) for one an earlier task would create (check mode, by name: see above)."""
    ref, record = find_vm(client, name=name, uuid=uuid, template=template)
    if ref is None and not (check_mode and name and not uuid and not template):
        which = "with uuid '%s'" % uuid if uuid else "named '%s'" % name
        raise NotFound("no %s %s" % ("template" if template else "VM", which))
    return ref, record


def not_created_yet(name, would):
    """The ``msg`` of a check-mode result for a VM an earlier task would create: what this task
    ``would`` do to it (a phrase: "set PV_args")."""
    return "%s: VM '%s' would be created by an earlier task, and then this task would %s" % (NOT_CREATED_YET, name, would)


def to_int(value):
    """XenAPI sends 64-bit ints as strings."""
    return int(value)


def boot_facts(record):
    other = record["other_config"]
    return {
        "hvm": bool(record["HVM_boot_policy"]),
        "PV_bootloader": record["PV_bootloader"],
        "PV_bootloader_args": record["PV_bootloader_args"],
        "PV_args": record["PV_args"],
        "PV_kernel": record["PV_kernel"],
        "PV_ramdisk": record["PV_ramdisk"],
        "HVM_boot_policy": record["HVM_boot_policy"],
        "HVM_boot_params": record["HVM_boot_params"],
        "install_repository": other.get("install-repository"),
        "install_distro": other.get("install-distro"),
        "install_arch": other.get("install-arch"),
        "install_round": other.get("install-round"),
    }


def _name_and_uuid(client, cls, ref):
    """(name_label, uuid) of the SR, host or network ``ref``; ("", "") for none (or a removed one)."""
    if not ref or ref == NULL_REF:
        return "", ""
    try:
        record = client.call("%s.get_record" % cls, ref)
    except XenServerError:
        return "", ""
    return record["name_label"], record["uuid"]


def vtpm_facts(client, record):
    """{present, uuid} of the VM's vTPM (xapi allows one per VM)."""
    for vtpm_ref in record.get("VTPMs") or []:
        try:
            return {"present": True, "uuid": client.call("VTPM.get_record", vtpm_ref)["uuid"]}
        except XenServerError:      # removed while this task ran
            continue
    return {"present": False, "uuid": ""}


def vm_facts(client, ref, record):
    """Facts of one VM: power, size, disks, networks with the guest's IPs, boot, OS.

    ``client`` answers the reads; ``_records.Records.facts`` passes one that answers them from
    records read in batches, so describing a VM costs no call of its own.
    """
    disks, cdroms = [], []
    for vbd_ref, vbd in client.call("VBD.get_all_records_where", 'field "VM"="%s"' % ref).items():
        entry = {"userdevice": vbd["userdevice"], "bootable": vbd["bootable"], "vbd_uuid": vbd["uuid"]}
        if vbd["type"] == "CD":
            if not vbd["empty"] and vbd["VDI"] != NULL_REF:
                entry["iso"] = client.call("VDI.get_name_label", vbd["VDI"])
            cdroms.append(entry)
            continue
        if vbd["VDI"] != NULL_REF:
            vdi = client.call("VDI.get_record", vbd["VDI"])
            sr_name, sr_uuid = _name_and_uuid(client, "SR", vdi["SR"])
            entry.update(name=vdi["name_label"], size=to_int(vdi["virtual_size"]),
                         vdi_uuid=vdi["uuid"], sr=sr_name, sr_uuid=sr_uuid)
        disks.append(entry)
    guest = {}
    if record["guest_metrics"] != NULL_REF:
        try:
            guest = client.call("VM_guest_metrics.get_record", record["guest_metrics"])
        except XenServerError:
            guest = {}
    addresses = guest_addresses(guest.get("networks"))
    nics = []
    for vif in client.call("VIF.get_all_records_where", 'field "VM"="%s"' % ref).values():
        device = vif["device"]
        network_name, network_uuid = _name_and_uuid(client, "network", vif["network"])
        ips = addresses.of_device(device)
        nics.append({
            "device": device, "mac": vif["MAC"], "network": network_name, "network_uuid": network_uuid,
            "ip": addresses.primary_of(device), "ips": ips,
            "ipv6": [ip for ip in ips if ":" in ip],
        })
    nics.sort(key=lambda n: int(n["device"]))
    resident_on = _name_and_uuid(client, "host", record["resident_on"])
    home_server = _name_and_uuid(client, "host", record["affinity"])
    disks.sort(key=lambda d: int(d["userdevice"]) if d["userdevice"].isdigit() else 99)
    os_version = guest.get("os_version", {})
    return {
        "name": record["name_label"],
        "uuid": record["uuid"],
        "description": record["name_description"],
        "power_state": record["power_state"].lower(),
        "is_template": record["is_a_template"],
        "memory_mb": to_int(record["memory_static_max"]) // (1024 * 1024),
        "memory": {k: to_int(record["memory_" + k]) for k in
                   ("static_min", "static_max", "dynamic_min", "dynamic_max")},
        "vcpus": to_int(record["VCPUs_at_startup"]),
        "vcpus_max": to_int(record["VCPUs_max"]),
        "disks": disks,
        "cdroms": cdroms,
        "networks": nics,
        "ip": addresses.primary,
        "ips": addresses.all,
        "xenstore_data": record["xenstore_data"],
        "other_config": record["other_config"],
        "boot": boot_facts(record),
        "firmware": firmware(record),
        "secure_boot": secure_boot_setting(record),
        "secure_boot_readiness": secureboot_readiness(client, ref, record),
        "vtpm": vtpm_facts(client, record),
        "os_version": os_version,
        "pv_drivers": bool(guest.get("PV_drivers_detected")),
        "resident_on": resident_on[0],
        "resident_on_uuid": resident_on[1],
        "home_server": home_server[0],
        "home_server_uuid": home_server[1],
        "domid": to_int(record["domid"]),
    }
