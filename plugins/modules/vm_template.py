#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_template
short_description: Make a XenServer template from a disk image (a cloud image)
version_added: 0.2.0
description:
  - Makes a template named O(name) from a disk image file, such as a distribution's cloud image
    (Rocky Linux GenericCloud, Ubuntu cloud images, Debian genericcloud), so that
    M(xenserver.provisioning.vm) can make VMs from it.
  - The template is a clone of one of the pool's templates (O(base_template), for example
    V(Rocky Linux 9)), so firmware (BIOS or UEFI), Secure Boot setting, platform flags and
    recommendations carry over; its provisioning disk list is dropped and the image becomes its
    disk (device 0, bootable) instead.
  - The image goes up through xapi's C(PUT /import_raw_vdi) on the pool master, on the same URL
    and with the same TLS settings as the API (O(validate_certs), O(ca_path)), streamed from the
    file. The upload runs in a XenAPI task named C(xenserver.provisioning upload ...) whose
    progress xapi updates (C(xe task-list) shows it while a large image goes up); the module's
    result reports the bytes sent, the time taken and the throughput.
  - Idempotent by the image's sha256, kept in the template's and its disk's C(other_config)
    (key C(xenserver.provisioning:image-sha256)). A run with the same image changes nothing and
    uploads nothing (the image is still read once to compute its sha256).
  - >-
    A template being made is named C(<name> [xenserver.provisioning: being created]) until its
    image is uploaded and the upload's task succeeded; only then does it take O(name). A failed
    or dropped upload, or a lost answer, never leaves a half disk under O(name); the module
    removes what it made, and a later run removes what a crash left under the provisional name.
  - >-
    Making, replacing or removing a template holds a pool-wide claim on O(name) (as
    M(xenserver.provisioning.vm) does for a VM), so runs at the same time make one template; a
    second run waits for the first, looks again and converges as a rerun would (no change for
    the same image). Every disk the module makes carries the run's request in its
    C(other_config) (key C(xenserver.provisioning.holder)), so the disk of a killed run is
    removed by the next run once the killed run's lease ran out. A run that finds its image in
    place takes no claim.
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes
options:
  name:
    description:
      - The template's name. Not empty or only whitespace, no control characters, at most 255
        characters.
    type: str
    required: true
  image:
    description:
      - Path of the disk image file. Required with O(state=present).
      - The file is read on the host the module runs on. With C(connection=local) (or
        C(delegate_to=localhost)), as usual for this collection, that is the Ansible controller.
      - Compressed images (C(.xz), C(.gz)) and formats other than raw and VHD (qcow2, VMDK) fail
        with a message saying how to convert them, before anything is made.
    type: path
  image_format:
    description:
      - The image's format. V(raw) is a plain disk image, V(vhd) a fixed or dynamic VHD.
      - It is checked against the content (a VHD ends with a footer with the cookie
        C(conectix)); a mismatch fails before anything is made.
      - When not set, the format the content shows is used.
    type: str
    choices: [raw, vhd]
  base_template:
    description:
      - The pool template to clone, by name, for example V(Rocky Linux 9) or
        V(Ubuntu Noble Numbat 24.04). Required when the template does not exist yet (or is
        replaced).
      - Pick the one for the image's distribution, so that the firmware matches what the image
        boots (UEFI for today's cloud images).
    type: str
  sr:
    description:
      - The storage repository for the template's disk, by name or uuid.
      - Default the pool's default SR. Used when the template is made; an existing template's
        disk is not moved.
    type: str
  description:
    description:
      - The template's description. Default the image's file name, when the template is made.
    type: str
  replace:
    description:
      - What to do when a template named O(name) exists and holds another image (its
        sha256 differs) or was not made by this module.
      - V(false) - fail, naming both sha256 values; nothing changes.
      - V(true) - make a new template from O(image) and remove the old one (and the disks only
        it uses). VMs already made from the old template keep their own disks.
    type: bool
    default: false
  state:
    description:
      - V(present) - the template exists and holds O(image).
      - V(absent) - there is no template named O(name); it is removed with the disks only it
        uses (never a disk a VM or another template also uses). Built-in templates cannot be
        removed.
    type: str
    choices: [present, absent]
    default: present
notes:
  - Needs the C(vm-admin) role or above (creating VDIs and templates, the data path's
    C(http/put_import_raw_vdi) permission).
  - A large image takes a while to go up; the task cannot stream output, so follow it with
    C(xe task-list) on the pool or read RV(upload) after the task. The upload is not retried
    when the connection drops; run the task again (what the first run made is removed).
  - The whole image is read once more each run, to compute its sha256.
seealso:
  - module: xenserver.provisioning.vm
  - module: xenserver.provisioning.vm_cloud_init
"""

EXAMPLES = r"""
- name: A Rocky Linux 9 template from the GenericCloud image on the controller
  xenserver.provisioning.vm_template:
    hostname: pool-master.example.com
    username: root
    password: "{{ xenserver_password }}"
    ca_path: /etc/pki/xenserver-pool.pem
    name: rocky9-cloud
    image: /srv/images/Rocky-9-GenericCloud-Base.latest.x86_64.raw
    base_template: Rocky Linux 9
  register: template

- name: Show how long the upload took
  ansible.builtin.debug:
    msg: "{{ template.upload.bytes }} bytes in {{ template.upload.seconds }} s"
  when: template.upload.bytes is defined

- name: Ubuntu 24.04 from a VHD, on the shared SR, replacing an older image
  xenserver.provisioning.vm_template:
    name: noble-cloud
    image: /srv/images/noble-server-cloudimg-amd64.vhd
    image_format: vhd
    base_template: Ubuntu Noble Numbat 24.04
    sr: nfs-shared
    replace: true

- name: Remove the template and its disk
  xenserver.provisioning.vm_template:
    name: noble-cloud
    state: absent
"""

RETURN = r"""
template:
  description:
    - The template after the task; empty when absent. In check mode, what it would be (C(uuid)
      and C(disk_uuid) empty for a template not made yet).
  returned: always
  type: dict
  contains:
    name:
      description: The template's name.
      type: str
    uuid:
      description: The template's uuid.
      type: str
    sha256:
      description: The sha256 of the image it holds.
      type: str
    base_template:
      description: The pool template it was cloned from.
      type: str
    disk_uuid:
      description: The uuid of its disk (the image's VDI).
      type: str
    sr:
      description: Name of the SR the disk is on.
      type: str
    virtual_size:
      description: The disk's size in bytes.
      type: int
    firmware:
      description: The firmware VMs made from it boot with (V(bios) or V(uefi)).
      type: str
  sample:
    name: rocky9-cloud
    uuid: 5a1e4f0c-8f1b-4c1e-9a57-2f7d1d1f0b11
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    base_template: Rocky Linux 9
    disk_uuid: 0b7c5a6e-3d5e-4a4e-9f1e-4a2f1c0d7e11
    sr: Local storage
    virtual_size: 10737418240
    firmware: uefi
upload:
  description:
    - The image's upload; empty when nothing was uploaded.
  returned: always
  type: dict
  contains:
    bytes:
      description: Bytes sent.
      type: int
    seconds:
      description: How long the upload took, until xapi's task succeeded.
      type: float
    throughput_mib_s:
      description: MiB per second.
      type: float
  sample: {bytes: 10737418240, seconds: 95.4, throughput_mib_s: 107.3}
removed_disks:
  description: The disks removed with a template (state absent, or the old one replaced).
  returned: always
  type: list
  elements: dict
  sample: [{uuid: 0b7c5a6e-3d5e-4a4e-9f1e-4a2f1c0d7e11, name: rocky9-cloud, size: 10737418240, userdevice: "0"}]
changes:
  description:
    - What changed (or would change in check mode). C(fields) lists V(state), V(sha256) and
      V(description) when they change; C(actions) lists what was done, in order.
  returned: always
  type: dict
  sample: {fields: [sha256, state], actions: ["clone 'Rocky Linux 9'", "upload image"], needs_halt: []}
"""

import functools
import os

from ansible_collections.xenserver.provisioning.plugins.module_utils import _claim, _transfer, _vm_removal
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    NOT_DONE, NULL_REF, XenServerError, find_created)
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import ChangeSet, XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._records import Records
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import find_vm, nearest_template_names
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm_config import check_name
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm_lifecycle import PROVISIONAL, remove_stale_disks

SHA_KEY = _transfer.IMAGE_SHA_KEY
BASE_KEY = "xenserver.provisioning:base-template"


def _templates_named(client, names):
    """{ref: record} of the templates (not snapshots) named any of ``names``."""
    if all('"' not in n for n in names):
        clause = " or ".join('field "name__label"="%s"' % n for n in names)
        found = client.call("VM.get_all_records_where",
                            'field "is_a_template"="true" and field "is_a_snapshot"="false" and (%s)' % clause)
    else:   # the where-grammar has no escapes
        found = {}
        for name in names:
            for ref in client.call("VM.get_by_name_label", name):
                found[ref] = client.call("VM.get_record", ref)
    return dict((r, v) for r, v in found.items() if v["is_a_template"] and not v["is_a_snapshot"])


def _one(found, name):
    matches = sorted(((r, v) for r, v in found.items() if v["name_label"] == name), key=lambda i: i[1]["uuid"])
    if len(matches) > 1:
        raise XenServerError("%d templates are named '%s' (uuids: %s); rename or remove all but one"
                             % (len(matches), name, ", ".join(v["uuid"] for _r, v in matches)), code="AMBIGUOUS")
    return matches[0] if matches else (None, None)


def _leftover_vdis(client, provisional):
    if '"' in provisional:
        refs = client.call("VDI.get_by_name_label", provisional)
        return dict((r, client.call("VDI.get_record", r)) for r in refs)
    return client.call("VDI.get_all_records_where", 'field "name__label"="%s"' % provisional)


def _sr(client, wanted, need):
    """(ref, record) of the SR for the disk: the one named (or with uuid) ``wanted``, else the
    pool's default SR; it must hold disks and have room for ``need`` bytes."""
    if wanted:
        ref, record = _transfer.named_disk_sr(client, wanted)
    else:
        pool = client.call("pool.get_all")[0]
        ref = client.call("pool.get_default_SR", pool)
        if ref == NULL_REF:
            raise XenServerError("the pool has no default SR; give sr", code="SR_NOT_FOUND")
        record = client.call("SR.get_record", ref)
    free = int(record["physical_size"]) - int(record["physical_utilisation"])
    if int(record["physical_size"]) > 0 and free < need:
        raise XenServerError("SR '%s' has %d bytes free, the image needs %d" % (record["name_label"], free, need),
                             code="SR_FULL")
    return ref, record


def _facts(client, ref, record):
    disk = {}
    for vbd in record["VBDs"]:
        vbd_record = client.call("VBD.get_record", vbd)
        if vbd_record["type"] == "Disk" and vbd_record["VDI"] != NULL_REF:
            disk = client.call("VDI.get_record", vbd_record["VDI"])
            break
    return {"name": record["name_label"], "uuid": record["uuid"],
            "sha256": record["other_config"].get(SHA_KEY, ""),
            "base_template": record["other_config"].get(BASE_KEY, ""),
            "disk_uuid": disk.get("uuid", ""),
            "sr": client.call("SR.get_name_label", disk["SR"]) if disk else "",
            "virtual_size": int(disk.get("virtual_size", 0)),
            "firmware": record["HVM_boot_params"].get("firmware", "bios") if record["HVM_boot_policy"] else "bios"}


def _remove(client, ref, record, holder=None):
    """Destroy the template, then the disks only it uses; returns them (without refs). Under a
    claim its disks get the holder's marker first: a run killed between the two destroys leaves
    disks the claim's next holder removes."""
    removal = _vm_removal.plan(Records(client), ref, record)
    _vm_removal.apply(client, removal, holder, what="template '%s'" % record["name_label"])
    return removal.removed_disks()


def _plan_removal(client, ref, record):
    return _vm_removal.plan(Records(client), ref, record).removed_disks()


def _make(xs, image, base_ref, base, sr_ref, description, provisional, gone, holder):
    """Clone the base, upload the image into a new VDI, attach it: all under the provisional
    name. Returns (template ref, upload stats). A failure removes what was made. The VDI carries
    the claim's holder marker from its VDI.create, so a killed run's disk is found by the next."""
    client = xs.client
    ref = vdi = None

    def find_clone():
        refs = [r for r in client.call("VM.get_by_name_label", provisional) if r not in gone]
        if len(refs) > 1:
            raise XenServerError("the answer to the clone was lost and %d templates are named '%s'; remove them "
                                 "and run again" % (len(refs), provisional), code="AMBIGUOUS")
        return refs[0] if refs else NOT_DONE
    try:
        ref = client.call("VM.clone", base_ref, provisional, recover=find_clone)
        # The image is the disk: the base's provisioning list would add an empty one.
        if "disks" in client.call("VM.get_other_config", ref):
            client.call("VM.remove_from_other_config", ref, "disks")
        vdi = client.call("VDI.create", {
            "name_label": provisional, "name_description": description, "SR": sr_ref,
            "virtual_size": str(_transfer.rounded(image["virtual_size"])), "type": "user", "sharable": False,
            "read_only": False, "other_config": {_claim.HOLDER_KEY: holder} if holder else {}, "xenstore_data": {},
            "sm_config": {}, "tags": []},
            recover=find_created(client, "VDI", 'field "name__label"="%s" and field "SR"="%s"'
                                 % (provisional, sr_ref), keep=lambda r: r["VBDs"] == [] and r["uuid"] not in gone))
        stats = _transfer.upload(client, vdi, image["path"], image["format"], "image '%s'" % image["path"])
        allowed = client.call("VM.get_allowed_VBD_devices", ref)
        device = "0" if "0" in allowed else sorted(allowed, key=lambda d: (len(d), d))[0]
        client.call("VBD.create", {
            "VM": ref, "VDI": vdi, "userdevice": device, "bootable": True, "mode": "RW", "type": "Disk",
            "empty": False, "unpluggable": False, "other_config": {}, "qos_algorithm_type": "",
            "qos_algorithm_params": {}},
            recover=find_created(client, "VBD", 'field "VM"="%s" and field "userdevice"="%s"' % (ref, device)))
        client.call("VDI.add_to_other_config", vdi, SHA_KEY, image["sha256"])
        client.call("VDI.set_name_label", vdi, xs.params["name"])
        client.call("VM.add_to_other_config", ref, SHA_KEY, image["sha256"])
        client.call("VM.add_to_other_config", ref, BASE_KEY, base["name_label"])
        client.call("VM.set_name_description", ref, description)
        return ref, stats
    except XenServerError as err:
        raise _discard(client, ref, vdi, xs.params["name"], err)


def _discard(client, ref, vdi, name, err):
    try:
        if ref is not None:
            client.call("VM.destroy", ref)
        if vdi is not None:
            client.call("VDI.destroy", vdi)
    except XenServerError as cleanup:
        return XenServerError("%s; what was made for template '%s' could not be removed (%s); the next run "
                              "removes it" % (err, name, cleanup), code=err.code, params=err.params)
    return XenServerError("%s (what was made for template '%s' was removed again)" % (err, name),
                          code=err.code, params=err.params)


def _take_the_name(client, new_ref, name, ref, record, holder, removed):
    """The old template (``ref``, if any) goes, then the new one takes the name: the last step.
    If either fails, the new one is removed again."""
    try:
        if ref is not None:
            removed.extend(_remove(client, ref, record, holder))
        client.call("VM.set_name_label", new_ref, name)     # complete: the last step
    except XenServerError as err:
        try:
            _remove(client, new_ref, client.call("VM.get_record", new_ref), holder)
        except XenServerError as cleanup:
            raise XenServerError("%s; the new template could not be removed (%s); the next run removes it"
                                 % (err, cleanup), code=err.code, params=err.params)
        raise XenServerError("%s (the new template was removed again)" % err, code=err.code, params=err.params)


def _look(client, name, provisional):
    """(ref, record) of the template named ``name``, the half-made templates and the loose
    disks earlier runs left under the provisional name."""
    found = _templates_named(client, [name, provisional])
    ref, record = _one(found, name)
    leftovers = sorted(((r, v) for r, v in found.items() if v["name_label"] == provisional),
                       key=lambda i: i[1]["uuid"])
    return ref, record, leftovers, _leftover_vdis(client, provisional)


def _needs_claim(xs, image, look):
    """Whether the run creates, replaces or removes a template (check mode changes nothing; a
    rerun that finds its image in place, or fails without replace, needs no claim)."""
    ref, record, leftovers, loose = look
    if xs.check_mode:
        return False
    if xs.params["state"] == "absent":
        return ref is not None or bool(leftovers) or bool(loose)
    return ref is None or (xs.params["replace"] and record["other_config"].get(SHA_KEY) != image["sha256"])


def run(xs):
    p = xs.params
    name, state = p["name"], p["state"]
    check_name(name)
    image = None
    if state == "present":
        if not p["image"]:
            xs.fail("image is required with state: present (the path of a raw or VHD disk image)",
                    error_code="INVALID_INPUT")
        image = _transfer.describe_image(p["image"], p["image_format"])
    client = xs.client
    provisional = PROVISIONAL % name
    look = _look(client, name, provisional)
    if not _needs_claim(xs, image, look):
        return converge(xs, image, look, ChangeSet(), [], None)
    # Creating, replacing or removing: under the claim on the name, after a second look (another
    # run may have done it meanwhile; this one then converges as a rerun would). The disks of
    # runs that died holding the claim go first.
    with _claim.claim(client, "template", name) as held:
        changes = ChangeSet()
        stale = remove_stale_disks(xs, changes, held) if held.stale_requests else []
        return converge(xs, image, _look(client, name, provisional), changes, stale, held.request)


def converge(xs, image, look, changes, removed, holder):
    """Bring the template to its state from what ``look`` found; ``holder``: the request of the
    claim this run holds (None: no change to a template's existence is made)."""
    p, client = xs.params, xs.client
    name, state = p["name"], p["state"]
    provisional = PROVISIONAL % name
    ref, record, leftovers, loose = look
    plan = Plan(changes)
    made = {}           # what the steps make: the new template's "ref" and its upload's "stats"

    def remove_leftover(left_ref, left):
        removed.extend(_remove(client, left_ref, left, holder))

    def clean_leftovers(into):
        """What earlier runs left half-made goes too: its actions and steps into the plan ``into``."""
        for left_ref, left in leftovers:
            into.action("remove '%s' (%s), left half-made by an earlier run" % (provisional, left["uuid"]),
                        functools.partial(remove_leftover, left_ref, left))
        for vdi_ref, vdi in sorted(loose.items(), key=lambda i: i[1]["uuid"]):
            if vdi["VBDs"] and not xs.check_mode:
                continue    # attached to a leftover template: goes with it
            into.action("destroy disk '%s' (%s), left by an earlier run" % (provisional, vdi["uuid"]),
                        functools.partial(client.call, "VDI.destroy", vdi_ref))

    def disk_action(disk):
        return "destroy disk '%s' (%s)" % (disk["name"], disk["uuid"])

    if state == "absent":
        if ref is not None:
            plan.field("state", "present", "absent")
            destroy = "destroy template '%s'" % name

            def destroy_template():
                # the disks that went with it, as _remove found them (a look ahead would cost calls)
                disks = _remove(client, ref, record, holder)
                removed.extend(disks)
                return [destroy] + [disk_action(disk) for disk in disks]
            plan.action(destroy, destroy_template)
            if xs.check_mode:
                disks = _plan_removal(client, ref, record)
                plan.actions([disk_action(disk) for disk in disks])
                removed.extend(disks)
        clean_leftovers(plan)
        plan.apply(xs.check_mode)
        return xs.result(changes, template={}, upload={}, removed_disks=removed)

    description = p["description"] if p["description"] is not None else os.path.basename(image["path"])
    if ref is not None:
        held = record["other_config"].get(SHA_KEY)
        if held == image["sha256"]:
            # Only a description given changes an existing template (the default is the file's name,
            # which a copy of the same image elsewhere would change).
            plan.field("description", record["name_description"], p["description"],
                       functools.partial(client.call, "VM.set_name_description", ref, description))
            plan.apply(xs.check_mode)
            facts = _facts(client, ref, record)
            facts["name"] = name
            return xs.result(changes, template=facts, upload={}, removed_disks=[])
        if not p["replace"]:
            if held is None:
                raise XenServerError("template '%s' exists and was not made from an image by this module; set "
                                     "replace: true to replace it, or choose another name" % name,
                                     code="TEMPLATE_NOT_MANAGED")
            raise XenServerError("template '%s' holds another image (sha256 %s); image '%s' has sha256 %s. Set "
                                 "replace: true to replace it" % (name, held, image["path"], image["sha256"]),
                                 code="IMAGE_DIFFERS")
    if not p["base_template"]:
        raise XenServerError("base_template is required to make template '%s' (a pool template such as "
                             "'Rocky Linux 9', whose firmware and platform it takes)" % name, code="MISSING_OPTION")
    base_ref, base = find_vm(client, name=p["base_template"], template=True)
    if base_ref is None:
        nearest = nearest_template_names(client, p["base_template"])
        raise XenServerError("base_template '%s': the pool has no template named so%s" % (
            p["base_template"], "; did you mean %s?" % ", ".join("'%s'" % n for n in nearest) if nearest else ""),
            code="TEMPLATE_NOT_FOUND")
    sr_ref, sr = _sr(client, p["sr"], _transfer.rounded(image["virtual_size"]))
    plan.field("state", "absent" if ref is None else "present", "present")
    plan.field("sha256", record["other_config"].get(SHA_KEY, "") if ref is not None else "", image["sha256"])
    upload = "upload image '%s' (%d bytes, %s) to SR '%s'" % (
        image["path"], image["size"], image["format"], sr["name_label"])
    building = ["clone '%s'" % base["name_label"], upload]
    replaced = []
    if ref is not None:
        replaced = _plan_removal(client, ref, record)
        building.append("destroy the old template '%s' (%s)" % (name, record["uuid"]))
        building.extend(disk_action(disk) for disk in replaced)
    gone = set(r for r, _v in leftovers)

    def build():
        made["ref"], made["stats"] = _make(xs, image, base_ref, base, sr_ref, description, provisional, gone, holder)
        _take_the_name(client, made["ref"], name, ref, record, holder, removed)
    plan.actions(building, build)
    # What earlier runs left goes first (its actions are listed after the build's).
    first = Plan(changes)
    clean_leftovers(first)
    first.extend(plan)
    first.apply(xs.check_mode)
    if "ref" not in made:
        planned = {"name": name, "uuid": "", "sha256": image["sha256"], "base_template": base["name_label"],
                   "disk_uuid": "", "sr": sr["name_label"], "virtual_size": _transfer.rounded(image["virtual_size"]),
                   "firmware": base["HVM_boot_params"].get("firmware", "bios") if base["HVM_boot_policy"] else "bios"}
        return xs.result(changes, template=planned, upload={}, removed_disks=removed + replaced)
    facts = _facts(client, made["ref"], client.call("VM.get_record", made["ref"]))
    return xs.result(changes, template=facts, upload=made["stats"], removed_disks=removed)


def main():
    xs = XenServerModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            image=dict(type="path"),
            image_format=dict(type="str", choices=["raw", "vhd"]),
            base_template=dict(type="str"),
            sr=dict(type="str"),
            description=dict(type="str"),
            replace=dict(type="bool", default=False),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
    )
    xs.run(run)


if __name__ == "__main__":
    main()
