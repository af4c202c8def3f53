#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_answer_drive
short_description: Give a XenServer VM an installer's answer-file volume (OEMDRV)
version_added: 0.2.0
description:
  - Builds a small ISO 9660 volume labelled O(label) (default C(OEMDRV)) holding O(files), uploads
    it into its own VDI named C(<vm> answer drive) and attaches it to the VM as a disk (read-write, since the VM is HVM and xapi refuses read-only
    disks for HVM guests);
    the VM's CD drive stays free for the installer ISO.
  - Anaconda (RHEL, CentOS Stream, Rocky Linux, AlmaLinux, Oracle Linux 7 and later) reads
    C(ks.cfg) from the root of a volume labelled C(OEMDRV) when no C(inst.ks=) is given (Red Hat,
    "Performing an advanced RHEL installation", automatic kickstart from OEMDRV); SUSE's linuxrc
    loads C(autoinst.xml) from a disk labelled C(OEMDRV) (openSUSE/linuxrc, C(linuxrc_and_autoyast.md)).
  - The volume is built as M(xenserver.provisioning.vm_cloud_init) builds its C(cidata) seed (same
    code, Rock Ridge and Joliet names) and goes up through xapi's C(PUT /import_raw_vdi).
  - The drive remembers the sha256 of its label and files; the same content again changes nothing and
    uploads nothing. Other content replaces the drive, which needs the VM halted when it has the
    drive attached. O(state=absent) detaches and destroys it (the VM halted, or the drive not attached).
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes
  - xenserver.provisioning.vm_identity
options:
  files:
    description:
      - The volume's files, a file name in its root (for example V(ks.cfg), V(autoinst.xml)) to its
        text. Required with O(state=present).
      - Answer files hold the root password's hash, so the contents are never shown; results and
        diffs name the files and the digest only.
    type: dict
  label:
    description: The volume's label (ISO 9660 volume identifier, at most 32 characters A-Z, 0-9, _).
    type: str
    default: OEMDRV
  sr:
    description: The SR (name or uuid) for the drive's VDI; default that of the VM's first disk, else the pool's default SR.
    type: str
  state:
    description: V(present) - the VM has the drive with these files. V(absent) - it has none.
    type: str
    choices: [present, absent]
    default: present
requirements:
  - pycdlib
seealso:
  - module: xenserver.provisioning.vm_cloud_init
  - module: xenserver.provisioning.install_phase
"""

EXAMPLES = r"""
- name: Kickstart on an OEMDRV volume beside the installer ISO
  xenserver.provisioning.vm_answer_drive:
    hostname: https://pool-master.example.com
    username: root
    password: "{{ pool_password }}"
    name: web01
    files:
      ks.cfg: "{{ lookup('ansible.builtin.template', 'ks.cfg.j2') }}"

- name: After the install
  xenserver.provisioning.vm_answer_drive:
    name: web01
    state: absent
"""

RETURN = r"""
drive:
  description: The drive; empty with O(state=absent).
  returned: success
  type: dict
  contains:
    vdi_uuid: {description: The VDI's uuid (empty in check mode before it exists)., type: str}
    userdevice: {description: The disk's device number., type: str}
    label: {description: The volume's label., type: str}
    files: {description: The file names., type: list, elements: str}
    sha256: {description: The digest of the label and files., type: str}
upload:
  description: The upload's statistics (bytes, seconds); empty when nothing was uploaded.
  returned: success
  type: dict
"""

import functools
import hashlib
import json
import re

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.xenserver.provisioning.plugins.module_utils import _cloud_init as volume
from ansible_collections.xenserver.provisioning.plugins.module_utils import _volume_drive as drives
from ansible_collections.xenserver.provisioning.plugins.module_utils._install_phase import ANSWER_DRIVE_KEY
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import require_vm

SHA_KEY = "xenserver.provisioning:answer-drive-sha256"
DRIVE_NAME = "%s answer drive"
WHAT = "answer drive"
LABEL = re.compile(r"^[A-Z0-9_]{1,32}$")
FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")


def digest(label, files):
    return hashlib.sha256(json.dumps([label, files], sort_keys=True).encode("utf-8")).hexdigest()


def _check_inputs(xs):
    p = xs.params
    if not volume.HAS_PYCDLIB:
        xs.fail(missing_required_lib("pycdlib"), error_code="MISSING_LIBRARY")
    if not LABEL.match(p["label"]):
        xs.fail("label '%s' is not an ISO 9660 volume label: 1 to 32 of A-Z, 0-9 and _" % p["label"],
                error_code="INVALID_VALUE")
    if p["state"] == "present":
        if not p["files"]:
            xs.fail("files is required with state present (a file name to its text)", error_code="INVALID_VALUE")
        for name, text in sorted(p["files"].items()):
            if not FILE_NAME.match(name) or name.count(".") > 1:
                xs.fail("file name '%s' cannot be kept on the volume: a name in its root, letters, digits, _ and -, "
                        "with at most one extension" % name, error_code="INVALID_VALUE")
            if not isinstance(text, str):
                xs.fail("files.%s must be text, got a %s" % (name, type(text).__name__), error_code="INVALID_VALUE")


def _facts(vbd, vdi, label, files, sha):
    return {"vdi_uuid": vdi["uuid"] if vdi else "", "userdevice": vbd["userdevice"] if vbd else "",
            "label": label, "files": sorted(files), "sha256": sha}


def run(xs):
    p = xs.params
    _check_inputs(xs)
    client = xs.client
    vm_ref, vm = require_vm(client, name=p["name"], uuid=p["uuid"])
    name = DRIVE_NAME % vm["name_label"]
    current = drives.find(client, vm_ref, vm["name_label"], ANSWER_DRIVE_KEY, WHAT)
    plan = Plan()
    made = {}       # what the steps make: the new drive's "vdi" and its upload's "stats"
    for ref in drives.leftovers(client, name):
        plan.action("destroy a half-made answer drive an earlier run left (%s)" % ref,
                    functools.partial(client.call, "VDI.destroy", ref))
    plan.apply(xs.check_mode)       # first, before the rest is planned (as an earlier run's left-overs)

    if p["state"] == "absent":
        if current is not None:
            drives.needs_detach(vm, current[1], WHAT, "removed")
            plan.field("state", "present", "absent")
            plan.action("detach and destroy the answer drive (%s)" % current[3]["uuid"],
                        drives.destroy_step(client, current))
            plan.apply(xs.check_mode)
        return xs.result(plan.changes, drive={}, upload={})

    files = dict((key, p["files"][key]) for key in sorted(p["files"]))
    sha = digest(p["label"], files)
    old_sha = current[3]["other_config"].get(SHA_KEY, "") if current else ""
    if current is not None and old_sha == sha:
        return xs.result(plan.changes, drive=_facts(current[1], current[3], p["label"], files, sha), upload={})
    if current is not None:
        drives.needs_detach(vm, current[1], WHAT, "replaced")
    plan.field("state", "present" if current else "absent", "present")
    plan.field("sha256", old_sha, sha)
    device = current[1]["userdevice"] if current else drives.free_device(client, vm_ref)

    def build_and_upload():
        sr_ref = drives.disk_sr(client, p["sr"], vm_ref) if (p["sr"] or current is None) else current[3]["SR"]
        made["vdi"], made["stats"] = drives.upload(
            client, volume.build_iso(files, p["label"]), name, "installer answer file volume (%s)" % p["label"],
            sr_ref, {ANSWER_DRIVE_KEY: vm["uuid"], SHA_KEY: sha}, "the answer drive of VM '%s'" % vm["name_label"])
    plan.action("build and upload the %s volume (%s)" % (p["label"], ", ".join(sorted(files))), build_and_upload)
    if current is not None:
        # the new drive is complete before the old one goes
        plan.action("detach and destroy the old drive (%s)" % current[3]["uuid"], drives.destroy_step(client, current))
    plan.action("attach it as device %s" % device, lambda: drives.attach(client, vm_ref, vm, made["vdi"], device))
    plan.apply(xs.check_mode)
    vdi = client.call("VDI.get_record", made["vdi"]) if "vdi" in made else None
    return xs.result(plan.changes, drive=_facts({"userdevice": device}, vdi, p["label"], files, sha),
                     upload=made.get("stats", {}))


def main():
    xs = XenServerModule(
        identifies_vm=True,
        argument_spec=dict(
            files=dict(type="dict", no_log=True),
            label=dict(type="str", default="OEMDRV"),
            sr=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
    )
    xs.run(run)


if __name__ == "__main__":
    main()
