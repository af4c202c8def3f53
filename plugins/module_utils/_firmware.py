# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""A VM's firmware (BIOS / UEFI), Secure Boot setting and readiness, and vTPM, as xapi has them.

Facts from xapi-project/xen-api: ``HVM_boot_params["firmware"]`` is "bios" (also when absent)
or "uefi" (xapi_xenops.ml firmware_of_vm); ``platform["secureboot"]`` is on when "true"/"1"
(vm_platform.ml is_true, default false) and "auto" becomes "true" at VM.start iff the pool has
UEFI certificates (xapi_vm.ml update_platform_secureboot, helpers.ml
get_active_uefi_certificates); VM.get_secureboot_readiness (xapi_vm.ml) answers not_supported
(BIOS), disabled (Secure Boot off), first_boot (no variable store in ``NVRAM["EFI-variables"]``
yet), and only for a store reads its keys (varstore-ls): ready, ready_no_dbx, setup_mode,
certs_incomplete. Only xapi can read a store, so only that case costs a call here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerError

# Readiness answers under which the firmware enforces Secure Boot with the pool's keys.
READY = ("ready", "ready_no_dbx")
STORE_KEY = "EFI-variables"


def is_true(value):
    return str(value).lower() in ("true", "1")


def boot_firmware(record):
    """The firmware xapi boots the VM with: "bios" when HVM_boot_params names none."""
    return record["HVM_boot_params"].get("firmware", "bios")


def firmware(record):
    """The VM's firmware for its facts: "bios" or "uefi"; "" for a PV VM (it boots no firmware)."""
    return boot_firmware(record) if record["HVM_boot_policy"] else ""


def secure_boot_setting(record):
    """platform:secureboot as the module's option says it: "true", "false" or "auto"."""
    value = record["platform"].get("secureboot", "")
    if value == "auto":
        return "auto"
    return "true" if is_true(value) else "false"


def has_store(record):
    """Whether the VM has a UEFI variable store (made at its first UEFI boot)."""
    return STORE_KEY in (record.get("NVRAM") or {})


def pool_has_uefi_certificates(pool):
    """Whether a VM's first UEFI boot enrols Secure Boot keys: the pool's active certificates
    (custom ones when set, else the ones the hosts ship) are not empty."""
    return bool(pool.get("custom_uefi_certificates") or pool.get("uefi_certificates"))


def readiness_from_record(record):
    """VM.get_secureboot_readiness's answer where xapi needs no store to answer; None when
    only xapi can tell (a store to read, or a firmware value xapi refuses: INVALID_VALUE)."""
    value = boot_firmware(record)
    if value == "bios":
        return "not_supported"
    if value != "uefi":
        return None
    if not is_true(record["platform"].get("secureboot", "")):
        return "disabled"
    if not has_store(record):
        return "first_boot"
    return None


def secureboot_readiness(client, ref, record):
    """VM.get_secureboot_readiness, asked of xapi only when the record cannot tell; None when
    the session may not ask (the call is pool-admin only) or xapi refuses the firmware value."""
    answer = readiness_from_record(record)
    if answer is not None or boot_firmware(record) != "uefi":
        return answer
    try:
        return client.call("VM.get_secureboot_readiness", ref)
    except XenServerError as err:
        if err.code in ("RBAC_PERMISSION_DENIED", "INVALID_VALUE"):
            return None
        raise
