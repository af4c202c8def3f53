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

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NULL_REF, XenServerError


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
            raise XenServerError("uuid %s is a %s, not a %s" % (
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
            len(matches), kind, name, ", ".join(sorted(r["uuid"] for r in matches.values()))))
    if not matches:
        return None, None
    return next(iter(matches.items()))


def require_vm(client, name=None, uuid=None):
    ref, record = find_vm(client, name=name, uuid=uuid)
    if ref is None:
        raise XenServerError("no VM %s" % ("with uuid '%s'" % uuid if uuid else "named '%s'" % name))
    return ref, record


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


def vm_facts(client, ref, record, networks=None):
    """Facts of one VM: power, size, disks, networks with the guest's IPs, boot, OS."""
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
            entry.update(name=vdi["name_label"], size=to_int(vdi["virtual_size"]),
                         vdi_uuid=vdi["uuid"], sr=vdi["SR"])
        disks.append(entry)
    guest = {}
    if record["guest_metrics"] != NULL_REF:
        try:
            guest = client.call("VM_guest_metrics.get_record", record["guest_metrics"])
        except XenServerError:
            guest = {}
    guest_networks = guest.get("networks", {})
    if networks is None:
        networks = dict((r, n["name_label"]) for r, n in client.call("network.get_all_records").items())
    nics = []
    for vif in client.call("VIF.get_all_records_where", 'field "VM"="%s"' % ref).values():
        device = vif["device"]
        nics.append({
            "device": device, "mac": vif["MAC"], "network": networks.get(vif["network"], vif["network"]),
            "ip": guest_networks.get("%s/ip" % device, ""),
            "ipv6": [v for k, v in sorted(guest_networks.items()) if k.startswith("%s/ipv6/" % device)],
        })
    nics.sort(key=lambda n: int(n["device"]))
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
        "ip": next((n["ip"] for n in nics if n["ip"]), ""),
        "xenstore_data": record["xenstore_data"],
        "other_config": record["other_config"],
        "boot": boot_facts(record),
        "os_version": os_version,
        "pv_drivers": bool(guest.get("PV_drivers_detected")),
        "resident_on": record["resident_on"],
        "domid": to_int(record["domid"]),
    }
