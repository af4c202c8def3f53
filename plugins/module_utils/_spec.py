# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""The connection options every module takes (documented in doc_fragments/connection.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import env_fallback


def connection_argument_spec():
    return dict(
        hostname=dict(type="str", aliases=["host", "pool"], fallback=(env_fallback, ["XENSERVER_HOST"])),
        username=dict(type="str", aliases=["user", "admin"], default="root",
                      fallback=(env_fallback, ["XENSERVER_USER"])),
        password=dict(type="str", aliases=["pass", "pwd"], no_log=True,
                      fallback=(env_fallback, ["XENSERVER_PASSWORD"])),
        validate_certs=dict(type="bool", default=True, fallback=(env_fallback, ["XENSERVER_VALIDATE_CERTS"])),
        ca_path=dict(type="path", fallback=(env_fallback, ["XENSERVER_CA_PATH"])),
    )


def vm_identity_argument_spec():
    """``name`` or ``uuid`` of the one existing VM a module acts on (doc_fragments/vm_identity.py)."""
    return dict(name=dict(type="str"), uuid=dict(type="str"))
