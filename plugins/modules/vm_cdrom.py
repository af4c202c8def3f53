#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_cdrom
short_description: Manage the CD drive of a XenServer VM and the ISO in it
version_added: 0.1.0
description:
  - Makes sure a VM has a CD drive, inserts an ISO from one of the pool's ISO libraries
    (for example V(xs-tools.iso) from the XenServer Tools SR), ejects it, or removes the drive.
  - Inserting and ejecting work on running VMs (live) as well as on halted ones.
  - A new drive takes device 3 when it is free, as XenServer itself does, else the first free one.
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes
  - xenserver.provisioning.vm_identity
attributes:
  check_mode:
    details:
      - In check mode a VM named by O(name) that does not exist is the VM an earlier task of the
        run would create (M(xenserver.provisioning.vm) creates nothing in check mode); it is taken
        to have no CD drive, so the drive (and O(iso), which must exist) is reported added
        (C(changed=true)), and C(msg) starts with C(the VM does not exist yet (check mode)).
        A VM named by O(uuid) must exist.
options:
  iso:
    description:
      - The ISO to insert, by name (the VDI's name label, for example V(xs-tools.iso)) or uuid.
      - It must be on a storage repository whose content type is C(iso). Fails naming the ISO if
        there is none, or several with this name (then give the uuid).
      - With O(state=inserted) one of O(iso) and O(iso_file) is required; neither is allowed with the other states.
    type: str
  iso_file:
    description:
      - A local ISO file (on the host the module runs on, for example an installer ISO) to insert
        instead of an ISO of a library. Mutually exclusive with O(iso).
      - It is uploaded once (raw, over xapi's C(PUT /import_raw_vdi)) into a VDI on O(sr) named by
        the file's base name, with the file's sha256 in its C(other_config) (key
        C(xenserver.provisioning:image-sha256)). A later run finds that VDI by name and sha256 and
        uploads nothing; a different file with the same name is uploaded into a new VDI.
      - "Until its upload succeeded the VDI has a provisional name (C(<name> [xenserver.provisioning: being created])),
        and a failed upload removes it, so a half-uploaded ISO is never inserted."
      - Fails naming the file, before anything changes, when it does not exist, is not a regular
        file or is not an ISO 9660 image. The whole file is read each run to compute its sha256.
    type: path
  sr:
    description:
      - The storage repository (for disks; name or uuid) O(iso_file) is uploaded to. Default the pool's default SR.
      - Only used with O(iso_file).
    type: str
  state:
    description:
      - V(inserted) - the VM has a CD drive with O(iso) in it. A drive is created if there is none;
        another ISO in the drive is ejected first.
      - V(ejected) - the VM has a CD drive and every CD drive is empty. A drive is created if there
        is none.
      - V(present) - the VM has a CD drive (an empty one is created if there is none); the disc in
        it is left alone.
      - V(absent) - the VM has no CD drive. Removing a drive needs the VM halted; the module fails
        (and changes nothing) when it is not. The ISO itself is never touched.
      - When the VM has several CD drives, V(inserted) uses the first one (lowest device number)
        unless another one already holds O(iso).
    type: str
    choices: [inserted, ejected, present, absent]
    default: inserted
notes:
  - A CD drive added to a running HVM guest appears in the guest only after its next boot
    (HVM guests cannot hot-plug one); the module warns when that is the case.
seealso:
  - module: xenserver.provisioning.vm_info
  - module: xenserver.provisioning.vm_power
"""

EXAMPLES = r"""
- name: Insert the XenServer VM Tools ISO
  xenserver.provisioning.vm_cdrom:
    hostname: pool-master.example.com
    username: root
    password: "{{ xenserver_password }}"
    name: web01
    iso: xs-tools.iso

- name: Insert an installer ISO from the controller (uploaded once into the pool's default SR)
  xenserver.provisioning.vm_cdrom:
    name: web01
    iso_file: /srv/isos/Rocky-9.4-x86_64-dvd.iso

- name: Eject it again
  xenserver.provisioning.vm_cdrom:
    name: web01
    state: ejected

- name: Make sure the VM has a CD drive
  xenserver.provisioning.vm_cdrom:
    name: web01
    state: present

- name: Remove the CD drive (the VM must be halted)
  xenserver.provisioning.vm_cdrom:
    name: web01
    state: absent
"""

RETURN = r"""
cdrom:
  description:
    - The VM's CD drive (the one the module worked on); empty when the VM has none.
    - In check mode, what it would be (C(vbd_uuid) is empty for a drive not created yet, and
      C(userdevice) too for a VM that does not exist yet).
  returned: always
  type: dict
  contains:
    userdevice:
      description: The drive's device number.
      type: str
      sample: "3"
    iso:
      description: Name of the ISO in the drive; empty when there is none.
      type: str
      sample: xs-tools.iso
    empty:
      description: Whether the drive is empty.
      type: bool
    vbd_uuid:
      description: The drive's VBD uuid.
      type: str
    attached:
      description: Whether the drive is attached to the running guest.
      type: bool
  sample: {userdevice: "3", iso: xs-tools.iso, empty: false, vbd_uuid: 0b7c5a6e-3d5e-4a4e-9f1e-4a2f1c0d7e11, attached: true}
changes:
  description:
    - What changed (or would change in check mode). C(fields) lists V(cd_drive) (V(present) or
      V(absent)) and V(iso) when they changed; C(actions) lists the XenAPI calls made, in order
      (V(upload) of O(iso_file), V(create), V(plug), V(eject), V(insert), V(destroy)).
  returned: always
  type: dict
  sample: {fields: [iso], actions: [eject, insert], needs_halt: []}
"""

from ansible_collections.xenserver.provisioning.plugins.module_utils import _cdrom
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NULL_REF, XenServerError
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import not_created_yet, require_vm


def not_created_yet_result(xs, image):
    """Check mode, for a VM an earlier task would create: it has no CD drive yet (the ISO is
    still looked up, so a wrong one fails as it would)."""
    p = xs.params
    plan = Plan()
    iso = ""
    if image is not None:
        iso = image["name"]
        if _cdrom.find_uploaded(xs.client, _cdrom.upload_sr(xs.client, p["sr"]), image) is None:
            plan.action("upload")
    elif p["state"] == "inserted":
        iso = _cdrom.find_iso(xs.client, p["iso"])[1]["name_label"]
    facts = {}
    if p["state"] != "absent":
        plan.field("cd_drive", "absent", "present")
        plan.field("iso", "", iso or None)
        plan.action("create")
        facts = {"userdevice": "", "iso": iso, "empty": not iso, "vbd_uuid": "", "attached": False}
    would = "add a CD drive%s" % (" with %s in it" % iso if iso else "") if plan.changed else "change nothing"
    return xs.result(plan.changes, cdrom=facts, msg=not_created_yet(p["name"], would))


def run(xs):
    p = xs.params
    if p["iso"] is not None and p["state"] != "inserted":
        xs.fail("iso ('%s') is only used with state: inserted, not state: %s" % (p["iso"], p["state"]),
                error_code="INVALID_INPUT")
    if p["iso"] is not None and not p["iso"].strip():
        xs.fail("iso must name an ISO, got '%s'" % p["iso"], error_code="INVALID_INPUT")
    if p["iso_file"] is not None and p["state"] != "inserted":
        xs.fail("iso_file ('%s') is only used with state: inserted, not state: %s" % (p["iso_file"], p["state"]),
                error_code="INVALID_INPUT")
    if p["sr"] is not None and p["iso_file"] is None:
        xs.fail("sr ('%s') is only used with iso_file" % p["sr"], error_code="INVALID_INPUT")
    image = _cdrom.iso_file_facts(p["iso_file"]) if p["iso_file"] is not None else None
    client = xs.client
    ref, record = require_vm(client, name=p["name"], uuid=p["uuid"], check_mode=xs.check_mode)
    if ref is None:
        return not_created_yet_result(xs, image)
    drives = _cdrom.cd_drives(client, ref)
    names = _cdrom.disc_names(client, drives)

    def disc(vbd):
        return "" if vbd["empty"] or vbd["VDI"] == NULL_REF else names.get(vbd["VDI"], "")

    plan = Plan()
    made = {}               # what the steps make: "vdi" (an upload), "vbd" (a new drive)
    state = p["state"]
    drive = None            # (vbd_ref, vbd) of the drive the result describes
    after = ""              # the disc it will hold
    new_device = None       # device of a drive to create

    def call(method, *args):
        return lambda: client.call(method, *args)

    def create(vdi=NULL_REF):
        """A new drive; a running PV guest takes it live (VBD.plug), an HVM one at next boot."""
        def make():
            made["vbd"] = _cdrom.create_drive(client, ref, new_device, made.get("vdi", vdi))
            if record["power_state"] == "Running" and record["HVM_boot_policy"]:
                xs.module.warn("VM '%s' is an HVM guest: it sees the new CD drive (device %s) only after "
                               "its next boot" % (record["name_label"], new_device))
        plan.action("create", make)
        if record["power_state"] == "Running" and not record["HVM_boot_policy"]:
            plan.action("plug", lambda: client.call("VBD.plug", made["vbd"]))

    if state == "absent":
        if drives and record["power_state"] != "Halted":
            raise XenServerError(
                "VM '%s' is %s: its CD drive can only be removed while it is halted; halt it first, "
                "or use state: ejected to just take the disc out" % (record["name_label"], record["power_state"].lower()),
                code="VM_NOT_HALTED")
        if drives:
            plan.field("cd_drive", "present", "absent")
        for vbd_ref, vbd in drives:
            plan.action("destroy", call("VBD.destroy", vbd_ref))
    elif state in ("present", "ejected"):
        if not drives:
            new_device = _cdrom.free_device(client, ref)
            plan.field("cd_drive", "absent", "present")
            create()
        else:
            drive = drives[0]
            after = disc(drive[1])
        if state == "ejected":
            loaded = [(r, v) for r, v in drives if disc(v) or not v["empty"]]
            plan.field("iso", ", ".join(disc(v) for _r, v in loaded), "")
            for vbd_ref, _vbd in loaded:
                plan.action("eject", call("VBD.eject", vbd_ref))
            after = ""
    else:   # inserted
        drive = None if image else next(((r, v) for r, v in drives if disc(v) == p["iso"]), None)
        if drive is None:
            vdi_ref = None      # an upload's VDI is made by its step (made["vdi"])
            if image:
                sr_ref = _cdrom.upload_sr(client, p["sr"])
                vdi_ref, vdi = _cdrom.find_uploaded(client, sr_ref, image) or (None, {"name_label": image["name"]})
            else:
                vdi_ref, vdi = _cdrom.find_iso(client, p["iso"])
            drive = next(((r, v) for r, v in drives if v["VDI"] == vdi_ref and not v["empty"]), None)
            if drive is None:
                after = vdi["name_label"]
                if vdi_ref is None:
                    plan.action("upload", lambda: made.update(vdi=_cdrom.upload_iso(client, image, sr_ref)))
                if drives:
                    drive = drives[0]
                    plan.field("iso", disc(drive[1]), after)
                    if not drive[1]["empty"]:
                        plan.action("eject", call("VBD.eject", drive[0]))
                    plan.action("insert", lambda vbd_ref=drive[0]: client.call(
                        "VBD.insert", vbd_ref, made.get("vdi", vdi_ref)))
                else:
                    new_device = _cdrom.free_device(client, ref)
                    plan.field("cd_drive", "absent", "present")
                    plan.field("iso", "", after)
                    create(vdi_ref)
        if drive is not None and not after:
            after = disc(drive[1]) or p["iso"] or image["name"]

    facts = {}
    if drive is not None:
        facts = _cdrom.drive_facts(drive[1], after)
    elif new_device is not None:
        facts = {"userdevice": new_device, "iso": after, "empty": not after, "vbd_uuid": "", "attached": False}
    plan.apply(xs.check_mode)
    if "vbd" in made:
        facts = _cdrom.drive_facts(client.call("VBD.get_record", made["vbd"]), after)
    return xs.result(plan.changes, cdrom=facts)


def main():
    xs = XenServerModule(
        identifies_vm=True,
        argument_spec=dict(
            iso=dict(type="str"),
            iso_file=dict(type="path"),
            sr=dict(type="str"),
            state=dict(type="str", default="inserted", choices=["inserted", "ejected", "present", "absent"]),
        ),
        mutually_exclusive=[("iso", "iso_file")],
        required_if=[("state", "inserted", ["iso", "iso_file"], True)],
    )
    xs.run(run)


if __name__ == "__main__":
    main()
