# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""A small volume built on the controller, uploaded into its own VDI and attached to a VM as a
disk (read-only on PV guests, read-write on HVM ones, as xapi requires): the cloud-init seed
(vm_cloud_init, label ``cidata``) and the installers' answer volume (vm_answer_drive, label
``OEMDRV``). A disk, not the CD drive, which the VM keeps for an ISO.

The VDI is found again by a key of its other_config (``mark_key``: the VM's uuid); it is named
provisionally until its upload succeeded, so a failed upload never leaves a half volume under
its name, and a later run removes what a crash left.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.xenserver.provisioning.plugins.module_utils import _transfer
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    NULL_REF, XenServerError, find_created)
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm_lifecycle import PROVISIONAL

MIB = 1024 * 1024


def find(client, vm_ref, vm_name, mark_key, what):
    """(vbd_ref, vbd, vdi_ref, vdi) of the VM's one drive marked ``mark_key``, or None."""
    vbds = client.call("VBD.get_all_records_where", 'field "VM"="%s" and field "type"="Disk"' % vm_ref)
    found = []
    for vbd_ref, vbd in vbds.items():
        if vbd["VDI"] == NULL_REF:
            continue
        vdi = client.call("VDI.get_record", vbd["VDI"])
        if mark_key in vdi["other_config"]:
            found.append((vbd_ref, vbd, vbd["VDI"], vdi))
    if len(found) > 1:
        raise XenServerError("VM '%s' has %d %ss (devices %s); remove all but one" % (
            vm_name, len(found), what, ", ".join(sorted(f[1]["userdevice"] for f in found))), code="AMBIGUOUS")
    return found[0] if found else None


def disk_sr(client, wanted, vm_ref):
    """The SR named or with uuid ``wanted`` (not an ISO SR), else that of the VM's first disk, else the pool's default."""
    if wanted:
        return _transfer.named_disk_sr(client, wanted)[0]
    disks = client.call("VBD.get_all_records_where", 'field "VM"="%s" and field "type"="Disk"' % vm_ref)
    for _ref, vbd in sorted(disks.items(), key=lambda item: item[1]["userdevice"]):
        if vbd["VDI"] != NULL_REF:
            return client.call("VDI.get_SR", vbd["VDI"])
    return client.call("pool.get_default_SR", client.call("pool.get_all")[0])


def free_device(client, vm_ref):
    """The next free device; 3 is left for the CD drive XenServer puts there, while others are free."""
    allowed = sorted(client.call("VM.get_allowed_VBD_devices", vm_ref), key=lambda d: (len(d), d))
    if not allowed:
        raise XenServerError("the VM has no free device for a disk (VM.get_allowed_VBD_devices is empty)",
                             code="NO_FREE_DEVICE")
    others = [d for d in allowed if d != "3"]
    return (others or allowed)[0]


def upload(client, data, name, description, sr_ref, other_config, what):
    """A new VDI named ``name`` holding ``data`` (provisional name until uploaded), and the upload's stats."""
    provisional = PROVISIONAL % name
    vdi = client.call("VDI.create", {
        "name_label": provisional, "name_description": description, "SR": sr_ref,
        "virtual_size": str(_transfer.rounded(len(data), MIB)), "type": "user", "sharable": False,
        "read_only": False, "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []},
        recover=find_created(client, "VDI", 'field "name__label"="%s" and field "SR"="%s"' % (provisional, sr_ref),
                             keep=lambda r: not r["VBDs"]))
    try:
        stats = _transfer.upload(client, vdi, data, "raw", what)
        for key, value in sorted(other_config.items()):
            client.call("VDI.add_to_other_config", vdi, key, value)
        client.call("VDI.set_name_label", vdi, name)
    except XenServerError:
        try:
            client.call("VDI.destroy", vdi)
        except XenServerError:
            pass    # a later run finds it by its provisional name
        raise
    return vdi, stats


def leftovers(client, name):
    """Unattached VDIs an earlier run left under the provisional form of ``name``."""
    provisional = PROVISIONAL % name
    if '"' in provisional:
        refs = client.call("VDI.get_by_name_label", provisional)
        return [r for r in refs if not client.call("VDI.get_VBDs", r)]
    found = client.call("VDI.get_all_records_where", 'field "name__label"="%s"' % provisional)
    return [r for r, v in found.items() if not v["VBDs"]]


def drive_mode(vm):
    """RO for a PV guest; RW for an HVM one: xapi refuses to plug a read-only disk into an HVM
    guest (DISK_VBD_MUST_BE_READWRITE_FOR_HVM, CA-83260 in xapi_vbd.ml) and qemu opens emulated
    disks read-write (xenopsd device.ml), so, as Xen Orchestra's config drive, it is writable."""
    return "RW" if vm.get("HVM_boot_policy") else "RO"


def attach(client, vm_ref, vm, vdi, device):
    """``vdi`` as the VM's non-bootable disk ``device`` (read-only where the VM allows it)."""
    return client.call("VBD.create", {
        "VM": vm_ref, "VDI": vdi, "userdevice": device, "bootable": False, "mode": drive_mode(vm), "type": "Disk",
        "empty": False, "unpluggable": True, "other_config": {}, "qos_algorithm_type": "",
        "qos_algorithm_params": {}},
        recover=find_created(client, "VBD", 'field "VM"="%s" and field "userdevice"="%s"' % (vm_ref, device)))


def destroy_step(client, drive):
    """The step that detaches and destroys ``drive`` (vbd_ref, vbd, vdi_ref, vdi): its VBD, then its VDI."""
    def destroy():
        client.call("VBD.destroy", drive[0])
        client.call("VDI.destroy", drive[2])
    return destroy


def needs_detach(vm, vbd, what, action):
    """A drive the running VM has attached can only be changed with the VM halted."""
    if vbd is not None and vbd["currently_attached"]:
        raise XenServerError("VM '%s' is %s with its %s attached: the drive can be %s only while "
                             "the VM is halted (hot-unplugging a disk needs PV drivers); halt it first"
                             % (vm["name_label"], vm["power_state"].lower(), what, action), code="VM_NEEDS_HALT")
