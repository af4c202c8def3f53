#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: vm_cloud_init
short_description: Give a XenServer VM a cloud-init config drive (NoCloud)
version_added: 0.2.0
description:
  - Builds a cloud-init NoCloud seed for one VM, an ISO 9660 volume labelled C(cidata) holding
    C(meta-data), C(user-data) and C(network-config), uploads it into a small disk (VDI) named
    C(<vm> cloud-init) and attaches it to the VM as a disk (read-only on a PV VM; read-write on an HVM VM, since xapi
    refuses read-only disks for HVM guests). The VM's CD drive stays free
    for an ISO.
  - The volume is built on the host the module runs on, with the Python library C(pycdlib), with
    Rock Ridge and Joliet names, as C(genisoimage -J -R -V cidata) makes it; cloud-init mounts it
    and finds C(meta-data), C(user-data) and C(network-config) by those names.
  - It goes up through xapi's C(PUT /import_raw_vdi), as M(xenserver.provisioning.vm_template)
    uploads an image (same connection and TLS settings).
  - The drive remembers the sha256 of its content (C(other_config) key
    C(xenserver.provisioning:cloud-init-sha256)). The same content again changes nothing and
    uploads nothing.
  - B(First boot.) cloud-init reads the seed at the first boot of an instance (an
    C(instance-id) it has not seen) and not again. The drive records the VM's boot time
    (C(VM_metrics.start_time)) when it was attached; when the VM has been started since, it has
    booted with the drive and cloud-init has run. Changed content before that first boot -
    the drive is replaced (same C(instance-id)). Changed content after it - the drive is left
    alone, with C(changed=false) and a RV(note) saying so, unless O(replace=true), which
    replaces it with a new C(instance-id) (the VM's uuid and a generation number) so that
    cloud-init runs again at the next boot.
  - Replacing or removing a drive that a running VM has attached needs the VM halted (a
    read-only disk can be hot-unplugged only with PV drivers in the guest); the module fails,
    changing nothing, and says so. A new drive can be added to a running VM; the guest sees it
    at its next boot.
  - Check mode and diff show the user-data and network-config with secrets masked, that is the values
    of C(passwd), C(hashed_passwd), C(plain_text_passwd) and C(password) keys, the passwords of
    C(chpasswd) (its C(list) lines and C(users) entries), and the keys listed in
    O(masked_keys). These values are also kept out of the task's result and log. User-data that
    is not C(#cloud-config) (a script) is not shown at all, only its size and sha256.
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
        to have no config drive, so the whole drive is reported as the change (C(changed=true);
        its C(instance-id) is empty unless O(meta_data) gives one, as the VM's uuid is not known
        yet), and C(msg) starts with C(the VM does not exist yet (check mode)).
        A VM named by O(uuid) must exist.
options:
  user_data:
    description:
      - The user-data. A dict is written as C(#cloud-config) YAML.
      - A string is used as it is. A string starting with C(#cloud-config) must parse as a YAML
        mapping, or the module fails naming the line and the problem before anything changes;
        other strings (a C(#!) script, C(#include)) are not checked.
      - Default an empty C(#cloud-config).
    type: raw
  meta_data:
    description:
      - Keys of C(meta-data). C(instance-id) defaults to the VM's uuid (with a generation
        number after a O(replace) after the first boot), C(local-hostname) to the VM's name.
    type: dict
  network_config:
    description:
      - The C(network-config), version 1 or version 2 (netplan style) as cloud-init reads it.
        When not given, there is no C(network-config) file and cloud-init's fallback applies
        (DHCP on the first NIC).
      - Static addresses are checked before anything changes (before the pool is even
        contacted); the module fails naming the value for an address that is not an address with
        a prefix, a network or broadcast address, a nameserver that is not an IP address, or a
        gateway the interface cannot reach. A gateway (version 2 C(gateway4) and C(gateway6), the
        C(via) of a default route, that is a route C(to) C(0.0.0.0/0), C(::/0) or C(default);
        version 1 a subnet's C(gateway)) must be inside the network of one of the interface's
        static addresses of its family. Accepted besides - an IPv6 link-local gateway
        (C(fe80::/10)), a gateway of a family the interface gets by DHCP (C(dhcp4), C(dhcp6),
        C(accept-ra)) with no static address of it, and a route with C(on-link=true).
      - A version 2 route C(to=default) is written on the drive as C(to=0.0.0.0/0) or
        C(to=::/0), by the family of its C(via) (which it then needs), since cloud-init 22.4 (in
        Debian 12 and other distributions of its time) refuses C(default) and newer cloud-init
        takes both. The diff and the result show it as written.
    type: dict
  masked_keys:
    description:
      - More keys whose values are secrets, masked in the diff and the result wherever they
        appear in O(user_data) and O(network_config).
    type: list
    elements: str
    default: []
  replace:
    description:
      - Replace a drive with other content even when the VM has already booted with it, with a
        new C(instance-id) so that cloud-init runs again at the next boot.
    type: bool
    default: false
  sr:
    description:
      - The SR for the drive's disk, by name or uuid. Default the SR of the VM's first disk, else
        the pool's default SR.
    type: str
  state:
    description:
      - V(present) - the VM has a config drive with this content.
      - V(absent) - the VM has no config drive; it is detached and its disk destroyed.
    type: str
    choices: [present, absent]
    default: present
requirements:
  - pycdlib (C(pip install pycdlib)) on the host the module runs on
  - PyYAML
notes:
  - Needs the C(vm-admin) role or above (a VDI, a VBD, the data path).
seealso:
  - module: xenserver.provisioning.vm_template
  - module: xenserver.provisioning.vm
  - name: cloud-init NoCloud datasource
    description: What cloud-init reads from the drive.
    link: https://cloudinit.readthedocs.io/en/latest/reference/datasources/nocloud.html
"""

EXAMPLES = r"""
- name: Hostname, a user with a key, a static address
  xenserver.provisioning.vm_cloud_init:
    hostname: pool-master.example.com
    username: root
    password: "{{ xenserver_password }}"
    name: web01
    user_data:
      users:
        - name: ops
          sudo: ALL=(ALL) NOPASSWD:ALL
          ssh_authorized_keys:
            - "{{ lookup('ansible.builtin.file', 'ops.pub') }}"
      packages: [nginx]
      runcmd:
        - [systemctl, enable, --now, nginx]
    network_config:
      version: 2
      ethernets:
        eth0:
          addresses: [192.0.2.10/24]
          gateway4: 192.0.2.1
          nameservers:
            addresses: [192.0.2.53]

- name: DHCP (no network-config), a password kept out of the output
  xenserver.provisioning.vm_cloud_init:
    name: web02
    user_data:
      chpasswd:
        expire: false
        users:
          - name: root
            password: "{{ root_password }}"
            type: text

- name: New settings for a VM that has already booted once - cloud-init runs again
  xenserver.provisioning.vm_cloud_init:
    name: web01
    user_data: "{{ lookup('ansible.builtin.file', 'web01.cloud-config') }}"
    replace: true

- name: Remove the config drive (the VM halted, or the drive not attached)
  xenserver.provisioning.vm_cloud_init:
    name: web01
    state: absent
"""

RETURN = r"""
cloud_init:
  description:
    - The VM's config drive after the task; empty when there is none. In check mode, what it
      would be (C(vdi_uuid) empty for a drive not made yet).
  returned: always
  type: dict
  contains:
    vdi_uuid:
      description: The drive's VDI.
      type: str
    userdevice:
      description: The device it is attached as.
      type: str
      sample: "1"
    instance_id:
      description: The C(instance-id) in its meta-data.
      type: str
    sha256:
      description: The sha256 of its content (the instance-id left out).
      type: str
    user_data:
      description: The user-data, secrets masked.
      type: str
    network_config:
      description: The network-config, secrets masked; empty when none.
      type: dict
    meta_data:
      description: The meta-data.
      type: dict
    booted:
      description: Whether the VM has been started since the drive was attached (cloud-init has run).
      type: bool
    attached:
      description: Whether the running VM has the drive attached now.
      type: bool
  sample:
    vdi_uuid: 3c3a1a8e-7c61-4a4e-9d5c-0f3a4b1e2d10
    userdevice: "1"
    instance_id: 6f1d1e44-3c1b-4f57-9a3e-2f7d1d1f0b11
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    user_data: "#cloud-config\nchpasswd:\n  users:\n  - name: root\n    password: '********'\n"
    network_config: {}
    meta_data: {instance-id: 6f1d1e44-3c1b-4f57-9a3e-2f7d1d1f0b11, local-hostname: web02}
    booted: false
    attached: false
note:
  description:
    - Why a drive with other content was left as it is (the VM has booted with it and
      O(replace) is false); empty otherwise.
  returned: always
  type: str
upload:
  description: The drive's upload (C(bytes), C(seconds), C(throughput_mib_s)); empty when nothing was uploaded.
  returned: always
  type: dict
  sample: {bytes: 374784, seconds: 0.2, throughput_mib_s: 1.8}
changes:
  description:
    - What changed (or would change in check mode). C(fields) lists V(user-data), V(meta-data),
      V(network-config) and V(state) when they change; C(actions) lists what was done, in order.
  returned: always
  type: dict
  sample: {fields: [state, user-data], actions: [build and upload the drive, attach it as device 1], needs_halt: []}
"""

import functools
import json

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.xenserver.provisioning.plugins.module_utils import _cloud_init as seed
from ansible_collections.xenserver.provisioning.plugins.module_utils import _volume_drive as drives
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NULL_REF
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import not_created_yet, require_vm

# other_config of the drive's VDI
MARK_KEY = "xenserver.provisioning:cloud-init"          # the VM's uuid: this VDI is its config drive
SHA_KEY = "xenserver.provisioning:cloud-init-sha256"
GEN_KEY = "xenserver.provisioning:cloud-init-generation"
BOOT_KEY = "xenserver.provisioning:cloud-init-start-time"   # VM_metrics.start_time when attached
SHOWN_KEY = "xenserver.provisioning:cloud-init-shown"       # the masked files, for the next diff
ID_KEY = "xenserver.provisioning:cloud-init-instance-id"
DRIVE_NAME = "%s cloud-init"


def _start_time(client, vm_record):
    """The VM's last boot time as xapi keeps it (VM_metrics.start_time), as text."""
    metrics = vm_record["metrics"]
    if metrics == NULL_REF:
        return ""
    return str(client.call("VM_metrics.get_start_time", metrics))


def _shown(p, files):
    """(the files as diffs and results show them, the network-config as a dict): secrets masked."""
    user_data, _secrets = seed.shown_user_data(p["user_data"], p["masked_keys"])
    network, _secrets = seed.masked(seed.network_file(p["network_config"] or {}), p["masked_keys"])
    return {"meta-data": files["meta-data"], "user-data": user_data,
            "network-config": seed.dump(network) if network else ""}, network


def _drive_facts(vbd, vdi, booted):
    """The facts of an existing drive, from what it recorded when it was made."""
    other = vdi["other_config"]
    shown = _old_shown(vdi)
    return {"vdi_uuid": vdi["uuid"], "userdevice": vbd["userdevice"], "instance_id": other.get(ID_KEY, ""),
            "sha256": other.get(SHA_KEY, ""), "user_data": shown.get("user-data", ""),
            "network_config": seed.yaml.safe_load(shown.get("network-config") or "{}") or {},
            "meta_data": seed.yaml.safe_load(shown.get("meta-data") or "{}") or {},
            "booted": booted, "attached": vbd["currently_attached"]}


def _secrets(p):
    """The secret strings in user_data and network_config (see _check_inputs)."""
    user_data = p["user_data"]
    if isinstance(user_data, (dict, str)):
        try:
            secrets = seed.shown_user_data(user_data, p["masked_keys"])[1]
        except ValueError:
            secrets = [user_data]       # not YAML after all: all of it stays hidden
    else:
        # Not a type user_data takes: hidden as Ansible hides a no_log value, but for strings too
        # short to be secrets, which would only mangle the message.
        secrets = [s for s in _strings(user_data) if len(s) >= 3]
    return secrets + seed.masked(p["network_config"] or {}, p["masked_keys"])[1]


def _strings(value):
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def _check_inputs(xs):
    """Everything about the options that needs no pool, before the pool is contacted (the client
    connects at its first use), so that bad input fails with no XenAPI call at all."""
    p = xs.params
    module = xs.module
    # user_data and network_config are no_log, so a failure in Ansible's own argument checks
    # shows neither. From here on only the secrets in them are hidden, so that the masked files
    # can be shown (the connection password stays hidden: it is added again on the way out).
    for option in ("user_data", "network_config"):
        module.argument_spec[option]["no_log"] = False
    secrets = _secrets(p)
    module.no_log_values.clear()
    module.no_log_values.update(s for s in secrets if s)
    if not seed.HAS_PYCDLIB:
        xs.fail(missing_required_lib("pycdlib"), error_code="MISSING_LIBRARY")
    if not seed.HAS_YAML:
        xs.fail(missing_required_lib("PyYAML"), error_code="MISSING_LIBRARY")
    user_data = p["user_data"]
    if user_data is not None and not isinstance(user_data, (dict, str)):
        xs.fail("user_data must be a dict (written as #cloud-config) or a string, got a %s" % type(user_data).__name__,
                error_code="INVALID_VALUE")
    try:
        seed.render_user_data(user_data)
        seed.check_network_config(p["network_config"])
    except ValueError as err:
        xs.fail(str(err), error_code="INVALID_VALUE")
    if p["meta_data"] is not None and "instance-id" in p["meta_data"] and not str(p["meta_data"]["instance-id"]):
        xs.fail("meta_data.instance-id must not be empty", error_code="INVALID_VALUE")


def run(xs):
    p = xs.params
    _check_inputs(xs)
    client = xs.client
    vm_ref, vm = require_vm(client, name=p["name"], uuid=p["uuid"], check_mode=xs.check_mode)
    if vm_ref is None:
        return _not_created_yet_result(xs)
    current = drives.find(client, vm_ref, vm["name_label"], MARK_KEY, "cloud-init drive")
    plan = Plan()
    made = {}       # what the steps make: the new drive's "vdi" and its upload's "stats"
    leftovers = drives.leftovers(client, DRIVE_NAME % vm["name_label"])
    for ref in leftovers:
        plan.action("destroy a half-made cloud-init drive an earlier run left (%s)" % ref,
                    functools.partial(client.call, "VDI.destroy", ref))
    plan.apply(xs.check_mode)       # first, before the rest is planned (as an earlier run's left-overs)

    if p["state"] == "absent":
        if current is None:
            return xs.result(plan.changes, cloud_init={}, note="", upload={})
        drives.needs_detach(vm, current[1], "cloud-init drive", "removed")
        plan.field("state", "present", "absent")
        plan.action("detach and destroy the cloud-init drive (%s)" % current[3]["uuid"],
                    drives.destroy_step(client, current))
        plan.apply(xs.check_mode)
        return xs.result(plan.changes, cloud_init={}, note="", upload={})

    meta = dict(p["meta_data"] or {})
    sha = seed.content_sha256(seed.render(vm["name_label"], "", p["user_data"], meta, p["network_config"]))
    start_time = _start_time(client, vm)
    generation, booted = 0, False
    if current is not None:
        vbd_ref, vbd, vdi_ref, vdi = current[0], current[1], current[2], current[3]
        generation = int(vdi["other_config"].get(GEN_KEY, "0") or 0)
        # A drive copied with its VM (VM.clone/copy keep other_config) names the VM it was made
        # for: this VM has not booted with it.
        booted = vdi["other_config"].get(MARK_KEY) == vm["uuid"] and vdi["other_config"].get(BOOT_KEY, "") != start_time
        if vdi["other_config"].get(SHA_KEY) == sha:
            return xs.result(plan.changes, note="", upload={}, cloud_init=_drive_facts(vbd, vdi, booted))
        if booted and not p["replace"]:
            note = ("VM '%s' has booted since its cloud-init drive was attached, so cloud-init has already run "
                    "with instance-id '%s'; the drive is left as it is. Set replace: true to replace it with a new "
                    "instance-id, so that cloud-init runs again at the next boot"
                    % (vm["name_label"], vdi["other_config"].get(ID_KEY, "")))
            return xs.result(plan.changes, note=note, upload={}, cloud_init=_drive_facts(vbd, vdi, booted))
        drives.needs_detach(vm, vbd, "cloud-init drive", "replaced")
        if booted:
            generation += 1     # replaced after the first boot: a new instance for cloud-init
    instance_id = meta.get("instance-id") or (vm["uuid"] if generation == 0 else "%s-%d" % (vm["uuid"], generation))
    files = seed.render(vm["name_label"], instance_id, p["user_data"], meta, p["network_config"])
    shown, network = _shown(p, files)
    before = _old_shown(current[3]) if current is not None else {}
    for key in ("meta-data", "user-data", "network-config"):
        plan.field(key, before.get(key, ""), shown[key])
    if current is None:
        plan.field("state", "absent", "present")
        device = drives.free_device(client, vm_ref)
        sr_ref = drives.disk_sr(client, p["sr"], vm_ref)
    else:
        device = current[1]["userdevice"]
        sr_ref = drives.disk_sr(client, p["sr"], vm_ref) if p["sr"] else current[3]["SR"]
    other_config = {MARK_KEY: vm["uuid"], SHA_KEY: sha, GEN_KEY: str(generation), BOOT_KEY: start_time,
                    ID_KEY: instance_id, SHOWN_KEY: json.dumps(shown, sort_keys=True)}

    def build_and_upload():
        made["vdi"], made["stats"] = drives.upload(
            client, seed.build_iso(files), DRIVE_NAME % vm["name_label"], "cloud-init NoCloud seed (cidata)",
            sr_ref, other_config, "the cloud-init drive of VM '%s'" % vm["name_label"])
    plan.action("build and upload the cloud-init drive", build_and_upload)
    if current is not None:
        # The new drive is complete before the old one goes.
        plan.action("detach and destroy the old drive (%s)" % current[3]["uuid"], drives.destroy_step(client, current))
    plan.action("attach it as device %s" % device, lambda: drives.attach(client, vm_ref, vm, made["vdi"], device))
    facts = {"vdi_uuid": "", "userdevice": device, "instance_id": instance_id, "sha256": sha,
             "user_data": shown["user-data"], "network_config": network, "meta_data": _meta(files),
             "booted": False, "attached": False}
    plan.apply(xs.check_mode)
    if "vdi" in made:
        facts["vdi_uuid"] = client.call("VDI.get_uuid", made["vdi"])
    return xs.result(plan.changes, note="", upload=made.get("stats", {}), cloud_init=facts)


def _not_created_yet_result(xs):
    """Check mode, for a VM an earlier task would create: it has no config drive yet, so the
    whole drive is the change (its instance-id, the VM's uuid by default, is not known yet)."""
    p = xs.params
    plan = Plan()
    if p["state"] == "absent":
        return xs.result(plan.changes, cloud_init={}, note="", upload={},
                         msg=not_created_yet(p["name"], "change nothing (a new VM has no cloud-init drive)"))
    if p["sr"]:
        drives.disk_sr(xs.client, p["sr"], None)       # a wrong SR fails as it would
    meta = dict(p["meta_data"] or {})
    files = seed.render(p["name"], meta.get("instance-id") or "", p["user_data"], meta, p["network_config"])
    shown, network = _shown(p, files)
    plan.field("state", "absent", "present")
    for key in ("meta-data", "user-data", "network-config"):
        plan.field(key, "", shown[key])
    plan.action("build and upload the cloud-init drive")
    plan.action("attach it")
    sha = seed.content_sha256(seed.render(p["name"], "", p["user_data"], meta, p["network_config"]))
    facts = {"vdi_uuid": "", "userdevice": "", "instance_id": meta.get("instance-id") or "", "sha256": sha,
             "user_data": shown["user-data"], "network_config": network, "meta_data": _meta(files),
             "booted": False, "attached": False}
    return xs.result(plan.changes, note="", upload={}, cloud_init=facts,
                     msg=not_created_yet(p["name"], "attach a cloud-init drive"))


def _meta(files):
    return seed.yaml.safe_load(files["meta-data"]) or {}


def _old_shown(vdi):
    try:
        return json.loads(vdi["other_config"].get(SHOWN_KEY, "{}"))
    except ValueError:
        return {}


def main():
    xs = XenServerModule(
        identifies_vm=True,
        argument_spec=dict(
            user_data=dict(type="raw", no_log=True),
            meta_data=dict(type="dict"),
            network_config=dict(type="dict", no_log=True),
            masked_keys=dict(type="list", elements="str", default=[], no_log=False),
            replace=dict(type="bool", default=False),
            sr=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
        ),
    )
    xs.run(run)


if __name__ == "__main__":
    main()
