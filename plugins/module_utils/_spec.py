# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""The connection options every module takes (documented in doc_fragments/connection.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import RECONNECT_TIMEOUT


def connection_argument_spec():
    return dict(
        hostname=dict(type="str", aliases=["host", "pool"], fallback=(env_fallback, ["XENSERVER_HOST"])),
        username=dict(type="str", aliases=["user", "admin"], default="root",
                      fallback=(env_fallback, ["XENSERVER_USER"])),
        password=dict(type="str", aliases=["pass", "pwd"], no_log=True,
                      fallback=(env_fallback, ["XENSERVER_PASSWORD"])),
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["XENSERVER_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["XENSERVER_CA_PATH"])),
        reconnect_timeout=dict(type="float", default=RECONNECT_TIMEOUT,
                               fallback=(env_fallback, ["XENSERVER_RECONNECT_TIMEOUT"])),
        reuse_session=dict(type="bool", default=True, fallback=(env_fallback, ["XENSERVER_REUSE_SESSION"])),
    )


def vm_identity_argument_spec():
    """``name`` or ``uuid`` of the one existing VM a module acts on (doc_fragments/vm_identity.py)."""
    return dict(name=dict(type="str"), uuid=dict(type="str"))


def vm_argument_spec():
    """The options of the vm module (and of each entry of vm_fleet's vms)."""
    return dict(
        name=dict(type="str"),
        uuid=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        template=dict(type="str"),
        template_uuid=dict(type="str"),
        full_copy=dict(type="bool", default=False),
        sr=dict(type="str"),
        description=dict(type="str"),
        memory_mb=dict(type="int"),
        memory_max_mb=dict(type="int"),
        vcpus=dict(type="int"),
        vcpus_max=dict(type="int"),
        disks=dict(type="list", elements="dict", options=dict(
            size_gb=dict(type="int"),
            size_mb=dict(type="int"),
            sr=dict(type="str"),
            name=dict(type="str"),
        ), mutually_exclusive=[("size_gb", "size_mb")]),
        networks=dict(type="list", elements="dict", options=dict(
            network=dict(type="str", required=True),
            mac=dict(type="str"),
        )),
        other_config=dict(type="dict"),
        other_config_exclusive=dict(type="bool", default=False),
        home_server=dict(type="str"),
        firmware=dict(type="str", choices=["bios", "uefi"]),
        secure_boot=dict(type="str", choices=["true", "false", "auto"]),
        vtpm=dict(type="bool"),
        restart_if_needed=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        hard_shutdown_fallback=dict(type="bool", default=False),
        shutdown_timeout=dict(type="int", default=120),
        keep_disks=dict(type="bool", default=False),
        xenstore_data=dict(type="dict"),
        xenstore_data_exclusive=dict(type="bool", default=False),
        power_state=dict(type="str", choices=["running", "halted", "suspended", "paused"]),
        wait_for=dict(type="str", choices=["running", "ip", "guest_agent", "pv_drivers"]),
        wait_timeout=dict(type="int", default=300),
        keep_snapshots=dict(type="bool", default=False),
    )
