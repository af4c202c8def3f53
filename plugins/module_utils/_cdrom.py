# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""A VM's CD drives and the ISOs that go in them (vm_cdrom; the cdrom install flow later).

A CD drive is a VBD of type CD; an empty one has ``empty`` true and a NULL VDI. ISOs are
VDIs on SRs whose content_type is "iso" (the XenServer Tools SR, ISO libraries).
VBD.insert/eject work on a running VM (live) and on a halted one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.xenserver.provisioning.plugins.module_utils import _transfer
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    NULL_REF,
    InvalidInput,
    NotFound,
    XenServerError,
    find_created,
)
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm_lifecycle import PROVISIONAL

# XenServer puts a VM's CD drive on device 3 (xe vm-install, XenCenter) when it is free.
PREFERRED_DEVICE = "3"


def _device_order(item):
    device = item[1]["userdevice"]
    return (0, int(device)) if device.isdigit() else (1, device)


def cd_drives(client, vm_ref):
    """[(vbd_ref, vbd)] of the VM's CD drives, by device number: one call."""
    found = client.call("VBD.get_all_records_where", 'field "VM"="%s" and field "type"="CD"' % vm_ref)
    return sorted(found.items(), key=_device_order)


def disc_names(client, drives):
    """{vdi_ref: name_label} of the discs in ``drives``: one call per disc (usually none or one)."""
    names = {}
    for _ref, vbd in drives:
        if not vbd["empty"] and vbd["VDI"] != NULL_REF and vbd["VDI"] not in names:
            try:
                names[vbd["VDI"]] = client.call("VDI.get_name_label", vbd["VDI"])
            except XenServerError as err:
                if err.code != "HANDLE_INVALID":
                    raise
                names[vbd["VDI"]] = ""      # the ISO was removed from its library meanwhile
    return names


def find_iso(client, iso):
    """(vdi_ref, vdi) of the one ISO named (or with uuid) ``iso`` on an ISO SR: two calls.

    Fails naming the ISO when none or several match.
    """
    if '"' in iso:      # the where-grammar has no escapes: look the name up the long way
        found = dict((ref, client.call("VDI.get_record", ref)) for ref in client.call("VDI.get_by_name_label", iso))
    else:
        found = client.call("VDI.get_all_records_where",
                            'field "name__label"="%s" or field "uuid"="%s"' % (iso, iso))
    libraries = client.call("SR.get_all_records_where", 'field "content_type"="iso"')
    by_uuid = [(r, v) for r, v in found.items() if v["uuid"] == iso and v["SR"] in libraries]
    matches = by_uuid or [(r, v) for r, v in found.items()
                          if v["name_label"] == iso and v["SR"] in libraries and not v.get("is_a_snapshot")]
    if not matches:
        elsewhere = [v for v in found.values() if v["SR"] not in libraries]
        hint = (" (a disk named so exists, but not on an ISO storage repository)" if elsewhere else "")
        raise NotFound("no ISO named '%s' in the pool's ISO libraries (%s)%s" % (
            iso, ", ".join(sorted(sr["name_label"] for sr in libraries.values())) or "none", hint),
            code="ISO_NOT_FOUND")
    if len(matches) > 1:
        where = sorted("uuid %s in '%s'" % (v["uuid"], libraries[v["SR"]]["name_label"]) for _r, v in matches)
        raise XenServerError("%d ISOs are named '%s' (%s); give the uuid of the one you mean as iso" % (
            len(matches), iso, ", ".join(where)), code="ISO_AMBIGUOUS")
    return matches[0]


# An ISO 9660 volume has its first volume descriptor ("CD001") at byte 32769 (ECMA-119 8.1).
ISO9660_MAGIC = (32769, b"CD001")


def iso_file_facts(path):
    """{path, name (its base name), size, sha256} of a local installer ISO to upload; fails
    naming the file (and changing nothing) when it is missing, not a file or not an ISO 9660 image."""
    if not os.path.exists(path):
        raise NotFound("iso_file '%s' does not exist (it is read on the host the module runs on)" % path,
                       code="ISO_FILE_NOT_FOUND")
    if not os.path.isfile(path):
        raise InvalidInput("iso_file '%s' is not a regular file" % path, code="ISO_FILE_INVALID")
    offset, magic = ISO9660_MAGIC
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            found = handle.read(len(magic))
    except (IOError, OSError) as err:
        raise InvalidInput("iso_file '%s' cannot be read: %s" % (path, err), code="ISO_FILE_INVALID")
    if found != magic:
        raise InvalidInput("iso_file '%s' is not an ISO 9660 image (no 'CD001' at byte %d)" % (path, offset),
                           code="ISO_FILE_INVALID")
    return {"path": path, "name": os.path.basename(path), "size": os.path.getsize(path),
            "sha256": _transfer.file_sha256(path)}


def upload_sr(client, wanted):
    """The disk SR an ISO file is uploaded to: the one named (or with uuid) ``wanted``, else the
    pool's default SR. xapi lets a CD drive hold a VDI of any SR (xapi_vbd.ml assert_ok_to_insert)."""
    if wanted:
        return _transfer.named_disk_sr(client, wanted)[0]
    sr = client.call("pool.get_default_SR", client.call("pool.get_all")[0])
    if sr == NULL_REF:
        raise NotFound("the pool has no default SR; give sr", code="SR_NOT_FOUND")
    return sr


def find_uploaded(client, sr_ref, image):
    """(vdi_ref, vdi) of an earlier upload of ``image`` to the SR (its name and sha256), or None: one call."""
    if '"' in image["name"]:
        refs = client.call("VDI.get_by_name_label", image["name"])
        found = dict((r, client.call("VDI.get_record", r)) for r in refs)
    else:
        found = client.call("VDI.get_all_records_where", 'field "name__label"="%s" and field "SR"="%s"'
                            % (image["name"], sr_ref))
    matches = sorted(((r, v) for r, v in found.items() if v["SR"] == sr_ref and not v.get("is_a_snapshot")
                      and v["other_config"].get(_transfer.IMAGE_SHA_KEY) == image["sha256"]),
                     key=lambda item: item[1]["uuid"])
    return matches[0] if matches else None


def upload_iso(client, image, sr_ref):
    """A new VDI on ``sr_ref`` holding the ISO file ``image``; returns its ref. It is named
    provisionally until the upload succeeded, so a failed one never leaves a VDI under its name."""
    provisional = PROVISIONAL % image["name"]
    vdi = client.call("VDI.create", {
        "name_label": provisional, "name_description": "ISO uploaded from %s" % image["path"], "SR": sr_ref,
        "virtual_size": str(_transfer.rounded(image["size"])), "type": "user", "sharable": False,
        "read_only": False, "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []},
        recover=find_created(client, "VDI", 'field "name__label"="%s" and field "SR"="%s"' % (provisional, sr_ref),
                             keep=lambda r: not r["VBDs"]))
    try:
        _transfer.upload(client, vdi, image["path"], "raw", "iso_file '%s'" % image["path"])
        client.call("VDI.add_to_other_config", vdi, _transfer.IMAGE_SHA_KEY, image["sha256"])
        client.call("VDI.set_name_label", vdi, image["name"])
    except XenServerError:
        try:
            client.call("VDI.destroy", vdi)
        except XenServerError:
            pass    # left under its provisional name, never taken for the ISO
        raise
    return vdi


def free_device(client, vm_ref):
    """The device a new CD drive takes: "3" when free (as XenServer does), else the first free."""
    allowed = client.call("VM.get_allowed_VBD_devices", vm_ref)
    if PREFERRED_DEVICE in allowed:
        return PREFERRED_DEVICE
    if not allowed:
        raise XenServerError("the VM has no free device for a CD drive (VM.get_allowed_VBD_devices is empty)",
                             code="NO_FREE_DEVICE")
    return sorted(allowed, key=lambda d: (0, int(d)) if d.isdigit() else (1, d))[0]


def create_drive(client, vm_ref, device, vdi=NULL_REF):
    """A new CD drive on ``device``, empty or with ``vdi`` in it; returns the VBD ref."""
    return client.call("VBD.create", {
        "VM": vm_ref, "VDI": vdi, "userdevice": device, "bootable": False, "mode": "RO",
        "type": "CD", "empty": vdi == NULL_REF, "unpluggable": True, "other_config": {},
        "qos_algorithm_type": "", "qos_algorithm_params": {},
    }, recover=find_created(client, "VBD", 'field "VM"="%s" and field "userdevice"="%s"' % (vm_ref, device)))


def drive_facts(vbd, iso=""):
    return {"userdevice": vbd["userdevice"], "iso": iso, "empty": not iso,
            "vbd_uuid": vbd["uuid"], "attached": vbd["currently_attached"]}
