#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: install_phase
short_description: Where the install of a VM stands, and the step that comes next
version_added: 0.2.0
description:
  - Inspects a VM (whether it exists, its power state, boot settings, drives, what the guest
    reports, and the marker the install roles keep in its C(other_config) under
    C(xenserver.provisioning:install)) and returns the phase of its install and the next step.
  - The install roles (rhel_install, centos_install, sles_install) run their steps top to bottom,
    each guarded by RV(phase); a VM stopped at any step is taken up there.
  - Route C(eliloader) (the PV releases of the XenServer SDK guide) - RV(phase) is one of
    V(absent), V(foreign) (not a PV guest booted by eliloader or pygrub), V(resume) (paused or
    suspended), V(install) (halted, eliloader round 1, or an install found cut short), V(installing),
    V(round2) (halted between SLES's rounds), V(check_disk) (halted with pygrub after an install
    the role did not see finish), V(boot) (halted after an install the role saw finish), V(booted).
  - Route C(iso) (today's HVM releases, from the vendor's ISO) - V(absent), V(foreign) (a PV VM, or an
    HVM VM without the roles' marker), V(resume), V(install) (halted before the installer ran to its
    end), V(installing), V(eject) (installed, the installer ISO, answer drive or CD-first boot order
    still there), V(boot) (installed, before its first boot), V(booted).
  - Also names the pool's tools ISO (the VDI flagged C(is_tools_iso), whatever its name, that is
    C(guest-tools.iso) on XenServer 8 and XCP-ng 8.3 and C(xs-tools.iso) on older pools).
  - Changes nothing.
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection
  - xenserver.provisioning.attributes.info_module
options:
  name:
    description: The VM's name. Fails if several VMs have this name (use O(uuid)).
    type: str
  uuid:
    description: The VM's uuid.
    type: str
  route:
    description:
      - The install route, as xenserver.provisioning.install_profile answers it.
      - Give it, or O(distro) and O(version) to have it told from the release as install_profile tells it.
    type: str
    choices: [eliloader, iso]
  distro:
    description: The distribution (as install_profile takes it), with O(version), instead of O(route).
    type: str
    choices: [rhel, centos, sles, centos_stream, rocky, almalinux, oracle]
  version:
    description: The release (as install_profile takes it), with O(distro). An unknown one fails naming it.
    type: str
seealso:
  - module: xenserver.provisioning.install_profile
  - module: xenserver.provisioning.vm_answer_drive
"""

EXAMPLES = r"""
- name: Where the install of web01 stands
  xenserver.provisioning.install_phase:
    hostname: https://pool-master.example.com
    username: root
    password: "{{ pool_password }}"
    name: web01
    route: iso
  register: install

- name: Start the installer
  xenserver.provisioning.vm_power:
    name: web01
    state: running
    wait_for: halted
  when: install.phase == 'install'
"""

RETURN = r"""
exists:
  description: Whether the VM exists.
  returned: always
  type: bool
phase:
  description: The phase of the install (see the description for each route).
  returned: always
  type: str
  sample: install
reason:
  description: What the phase was told from.
  returned: always
  type: str
  sample: halted, the installer still to run
next_step:
  description: The step the phase calls for, in words.
  returned: always
  type: str
install_ahead:
  description: Whether an installer run is still to come (the repository and answer file are then checked).
  returned: always
  type: bool
marker:
  description: The VM's C(other_config:xenserver.provisioning:install) (C(created), C(installer), C(installed), C(cut-short)), or empty.
  returned: always
  type: str
marker_key:
  description: The C(other_config) key of the marker, for the roles that write it.
  returned: always
  type: str
  sample: "xenserver.provisioning:install"
media:
  description: What of the install is still attached (ISO route), that is ISOs in drives, answer drives, a CD-first boot order.
  returned: always
  type: list
  elements: str
tools_iso:
  description: The pool's tools ISO (C(is_tools_iso)) by name and uuid; empty when the pool has none.
  returned: always
  type: dict
  sample: {name: guest-tools.iso, uuid: 6c2b5b0e-58ad-4b4b-8d8a-0d2b7c5c2b4f}
route:
  description: The install route the phase is for.
  returned: always
  type: str
  sample: iso
vm:
  description: The VM's facts as xenserver.provisioning.vm_info returns them (each disk also says C(answer_drive)); empty when absent.
  returned: always
  type: dict
"""

from ansible_collections.xenserver.provisioning.plugins.module_utils import _install_phase as phases
from ansible_collections.xenserver.provisioning.plugins.module_utils import _profiles as profiles
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import NULL_REF
from ansible_collections.xenserver.provisioning.plugins.module_utils._module import ChangeSet, XenServerModule
from ansible_collections.xenserver.provisioning.plugins.module_utils._vm import find_vm, vm_facts


def tools_iso(client):
    """{name, uuid} of the VDI xapi flags as the tools ISO; {} when there is none."""
    found = client.call("VDI.get_all_records_where", 'field "is_tools_iso"="true"')
    for _ref, vdi in sorted(found.items(), key=lambda item: item[1]["name_label"]):
        return {"name": vdi["name_label"], "uuid": vdi["uuid"]}
    return {}


def _mark_answer_drives(client, facts):
    for disk in facts["disks"]:
        disk["answer_drive"] = False
        if disk.get("vdi_uuid"):
            vdi = client.call("VDI.get_by_uuid", disk["vdi_uuid"])
            if vdi != NULL_REF:
                disk["answer_drive"] = phases.ANSWER_DRIVE_KEY in client.call("VDI.get_other_config", vdi)


def route_of(p):
    """The route given, or the one install_profile answers for the distro and version."""
    if p["route"]:
        return p["route"]
    return profiles.route_of(p["distro"], profiles.normalize_version(p["distro"], p["version"]))


def run(xs):
    p = xs.params
    try:
        route = route_of(p)
    except profiles.ProfileError as err:
        xs.fail(str(err), error_code="INVALID_VALUE")
    client = xs.client
    ref, record = find_vm(client, name=p["name"], uuid=p["uuid"])
    facts = None
    if ref is not None:
        facts = vm_facts(client, ref, record)
        _mark_answer_drives(client, facts)
    phase, reason = phases.phase_of(facts, route)
    return xs.result(ChangeSet(), exists=facts is not None, phase=phase, reason=reason,
                     next_step=phases.NEXT_STEP[phase], install_ahead=phase in phases.INSTALL_AHEAD,
                     marker=(facts or {}).get("other_config", {}).get(phases.MARKER_KEY, ""), marker_key=phases.MARKER_KEY,
                     media=phases.install_media(facts) if facts and route == phases.ROUTE_ISO else [], route=route,
                     tools_iso=tools_iso(client), vm=facts or {})


def main():
    xs = XenServerModule(
        argument_spec=dict(
            name=dict(type="str"),
            uuid=dict(type="str"),
            route=dict(type="str", choices=[phases.ROUTE_PV, phases.ROUTE_ISO]),
            distro=dict(type="str", choices=sorted(profiles.DISTROS)),
            version=dict(type="str"),
        ),
        mutually_exclusive=[("name", "uuid"), ("route", "distro")],
        required_one_of=[("name", "uuid"), ("route", "distro")],
        required_together=[("distro", "version")],
    )
    xs.run(run)


if __name__ == "__main__":
    main()
