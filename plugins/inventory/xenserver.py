# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: xenserver
short_description: XenServer / XCP-ng VMs as inventory hosts
version_added: 0.1.0
description:
  - Every VM of a pool is a host; templates, snapshots and control domains are not.
  - Hosts are grouped by power state (C(xenserver_running), C(xenserver_halted),
    C(xenserver_suspended), C(xenserver_paused)), by the distribution the guest agent reports
    (C(xenserver_distro_<distro>)), by the pool host the VM runs on (C(xenserver_host_<host name>))
    and by tag (C(xenserver_tag_<tag>)). Characters not allowed in group names become C(_).
  - The whole pool is read in a handful of XenAPI calls whatever its size (the VMs, the guest
    metrics, the host names), never one call per VM.
  - Uses a YAML configuration file whose name ends with C(xenserver.yml) or C(xenserver.yaml)
    and which sets O(plugin) to V(xenserver.provisioning.xenserver).
author:
  - xenserver.provisioning developers (@xenserver)
extends_documentation_fragment:
  - xenserver.provisioning.connection.plugins
  - ansible.builtin.constructed
  - ansible.builtin.inventory_cache
options:
  plugin:
    description: The name of this plugin; marks the file as a configuration of it.
    required: true
    type: str
    choices: [xenserver.provisioning.xenserver]
  hostnames:
    description:
      - How to name each host, in order of preference; the first that gives a non-empty name is used.
      - V(name_label) is the VM's name, V(uuid) its uuid. Any other entry is a Jinja2
        expression over the host variables (listed in the notes), for example
        V(xenserver_vm_data.hostname) or V(xenserver_name_label ~ '.example.com').
      - When several VMs get the same name, the first (by uuid) keeps it and each of the
        others is named by its uuid, with a warning.
    type: list
    elements: str
    default: [name_label, uuid]
notes:
  - "Host variables: C(xenserver_uuid), C(xenserver_name_label), C(xenserver_power_state)
    (V(running), V(halted), V(suspended) or V(paused)), C(xenserver_resident_on) (the name of
    the pool host a running VM is on), C(xenserver_os_version) (what the guest agent reports:
    C(name), C(distro), C(major), C(minor), C(uname)), C(xenserver_ips) (the guest's addresses:
    IPv4 first, then IPv6, link-local ones last), C(xenserver_vm_data) (the C(vm-data/) keys of
    C(xenstore_data), without the C(vm-data/) prefix), C(xenserver_boot) (C(pv_bootloader), C(pv_bootloader_args),
    C(pv_args)), C(xenserver_memory_mb), C(xenserver_vcpus), C(xenserver_tags) and
    C(xenserver_other_config)."
  - C(ansible_host) is the guest's primary address, the same as M(xenserver.provisioning.vm_info)
    reports as C(ip) and O(xenserver.provisioning.vm_power#module:wait_for=ip) waits for, that is its
    first IPv4 address (by device, then index), or its first IPv6 one when it has no IPv4, never a
    link-local one; unset when the guest agent reports none. C(compose) can set it otherwise.
  - Every value read from the pool is marked unsafe, so a template in a VM's name, tags or
    C(other_config) is never evaluated.
  - The cache (O(cache)) is kept per configuration file, pool and user.
"""

EXAMPLES = r"""
# Each example is a whole configuration file, for example pool.xenserver.yml; see it with
# ansible-inventory -i pool.xenserver.yml --graph

# The pool and the credentials come from XENSERVER_HOST, XENSERVER_USER and XENSERVER_PASSWORD.
---
plugin: xenserver.provisioning.xenserver

# Everything in the file, and a cache of the pool's answer for ten minutes.
---
plugin: xenserver.provisioning.xenserver
hostname: https://pool-master.example.com
username: inventory
password: "{{ lookup('ansible.builtin.env', 'XS_INVENTORY_PASSWORD') }}"
ca_path: /etc/pki/xenserver/pool.pem
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/ansible-xenserver
cache_timeout: 600

# Name hosts by the hostname the guest was given in vm-data; more variables and groups.
---
plugin: xenserver.provisioning.xenserver
hostnames:
  - xenserver_vm_data.hostname
  - name_label
compose:
  ansible_user: xenserver_vm_data.user | default('root')
groups:
  big: xenserver_memory_mb >= 4096
keyed_groups:
  - key: xenserver_vm_data.role | default('none')
    prefix: role
  - key: xenserver_os_version.distro ~ '_' ~ xenserver_os_version.major
    prefix: os
    default_value: unknown
"""

import hashlib

from ansible.errors import AnsibleError, AnsibleParserError
from ansible.module_utils.common.text.converters import to_native, to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable, to_safe_group_name

from ansible_collections.xenserver.provisioning.plugins.module_utils._addresses import guest_addresses
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    MAX_RECONNECT_TIMEOUT,
    NULL_REF,
    XenServerClient,
    XenServerError,
)
from ansible_collections.xenserver.provisioning.plugins.plugin_utils._unsafe import make_unsafe

# One call for every VM that is a host: no templates (snapshots are templates too), no dom0.
VM_WHERE = ('field "is_a_template"="false" and field "is_a_snapshot"="false" and '
            'field "is_control_domain"="false"')
VM_DATA = "vm-data/"
MIB = 1024 * 1024
# hostnames entries that name a field rather than hold an expression.
NAMING_FIELDS = ("name_label", "uuid")
# Part of the cache key: entries cached in another format (before "ip") are not read back.
ENTRY_FORMAT = "2"


# --- from XenAPI records to the facts the inventory keeps (and caches) -------------------------

def vm_entry(record, metrics, host_names):
    """What the inventory keeps of one VM: plain data, no refs (so it can be cached)."""
    guest = metrics or {}
    addresses = guest_addresses(guest.get("networks"))
    return {
        "uuid": record["uuid"],
        "name_label": record["name_label"],
        "power_state": record["power_state"].lower(),
        "resident_on": host_names.get(record["resident_on"], ""),
        "os_version": dict(guest.get("os_version") or {}),
        "ips": addresses.all,
        "ip": addresses.primary,
        "vm_data": dict((k[len(VM_DATA):], v) for k, v in record["xenstore_data"].items()
                        if k.startswith(VM_DATA) and len(k) > len(VM_DATA)),
        "boot": {
            "pv_bootloader": record["PV_bootloader"],
            "pv_bootloader_args": record["PV_bootloader_args"],
            "pv_args": record["PV_args"],
        },
        "memory_mb": int(record["memory_static_max"]) // MIB,
        "vcpus": int(record["VCPUs_at_startup"]),
        "tags": list(record["tags"]),
        "other_config": dict(record["other_config"]),
    }


def read_pool(client):
    """Every VM of the pool as ``vm_entry`` facts, sorted by uuid.

    At most three calls: the VMs, their guest metrics (only if some VM has any), the names
    of the hosts (only if some VM runs somewhere).
    """
    vms = client.call("VM.get_all_records_where", VM_WHERE)
    metrics = {}
    if any(r["guest_metrics"] != NULL_REF for r in vms.values()):
        metrics = client.call("VM_guest_metrics.get_all_records")
    host_names = {}
    if any(r["resident_on"] != NULL_REF for r in vms.values()):
        host_names = dict((ref, host["name_label"]) for ref, host in client.call("host.get_all_records").items())
    entries = [vm_entry(record, metrics.get(record["guest_metrics"]), host_names) for record in vms.values()]
    entries.sort(key=lambda entry: entry["uuid"])
    return entries


def host_variables(entry):
    variables = {
        "xenserver_uuid": entry["uuid"],
        "xenserver_name_label": entry["name_label"],
        "xenserver_power_state": entry["power_state"],
        "xenserver_resident_on": entry["resident_on"],
        "xenserver_os_version": entry["os_version"],
        "xenserver_ips": entry["ips"],
        "xenserver_vm_data": entry["vm_data"],
        "xenserver_boot": entry["boot"],
        "xenserver_memory_mb": entry["memory_mb"],
        "xenserver_vcpus": entry["vcpus"],
        "xenserver_tags": entry["tags"],
        "xenserver_other_config": entry["other_config"],
    }
    if entry["ip"]:
        variables["ansible_host"] = entry["ip"]
    return variables


def group_names(entry):
    """The plugin's own groups for one VM (before sanitizing)."""
    names = ["xenserver_%s" % entry["power_state"]]
    distro = entry["os_version"].get("distro")
    if distro:
        names.append("xenserver_distro_%s" % distro)
    if entry["resident_on"]:
        names.append("xenserver_host_%s" % entry["resident_on"])
    names.extend("xenserver_tag_%s" % tag for tag in entry["tags"] if tag)
    return names


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):

    NAME = "xenserver.provisioning.xenserver"

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and \
            path.endswith(("xenserver.yml", "xenserver.yaml"))

    # --- options -------------------------------------------------------------------------
    def _text_option(self, name):
        """An option's value with templates (a lookup for the password, say) evaluated, as a
        plain str: XML-RPC cannot send the str subclasses configuration values may come as."""
        value = self.get_option(name)
        if value is None:
            return None
        if isinstance(value, str) and self.templar.is_template(value):
            value = self.templar.template(value)
        # join copies a str subclass (unsafe or tagged text, which XML-RPC refuses) into a str.
        return "".join([to_text(value)])

    def _connection(self):
        hostname = self._text_option("hostname")
        if not hostname:
            raise AnsibleParserError("the xenserver inventory needs the pool: set hostname in %s "
                                     "or the environment variable XENSERVER_HOST" % self._path)
        return dict(hostname=hostname, username=self._text_option("username"),
                    password=self._text_option("password") or "",
                    validate_certs=self._validate_certs(),
                    ca_path=self._text_option("ca_path"),
                    reconnect_timeout=self._reconnect_timeout())

    def _validate_certs(self):
        """Strictly a boolean: a typo (``ture``, ``maybe``) must never turn verification off."""
        raw = self.get_option("validate_certs")
        if isinstance(raw, str) and self.templar.is_template(raw):
            raw = self.templar.template(raw)
        try:
            value = boolean(raw, strict=True)
        except TypeError:
            raise AnsibleParserError("the xenserver inventory's validate_certs must be a boolean (true or false), "
                                     "got %r in %s" % (to_native(raw), self._path))
        if not value:
            self.display.warning("xenserver inventory: validate_certs is false: the pool's TLS certificate "
                                 "is not verified")
        return value

    def _reconnect_timeout(self):
        raw = self.get_option("reconnect_timeout")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or not 0 < value <= MAX_RECONNECT_TIMEOUT:
            raise AnsibleParserError("the xenserver inventory's reconnect_timeout must be a number of seconds above "
                                     "0 and at most %d, got %r in %s" % (MAX_RECONNECT_TIMEOUT, raw, self._path))
        return value

    def _cache_key(self, path, connection):
        """One cache entry per configuration file, pool and user (and format of the entries)."""
        source = "%s\0%s\0%s" % (connection["hostname"], connection["username"], ENTRY_FORMAT)
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]
        return "%s_%s" % (self.get_cache_key(path), digest)

    # --- parse ---------------------------------------------------------------------------
    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._path = path
        self._read_config_data(path)
        connection = self._connection()
        key = self._cache_key(path, connection)

        use_cache = self.get_option("cache") and cache
        update_cache = self.get_option("cache") and not cache
        entries = None
        if use_cache:
            try:
                entries = self._cache[key]
            except KeyError:
                update_cache = True
        if entries is None:
            entries = self._read(connection)
        if update_cache:
            self._cache[key] = entries
        self._populate(entries)

    def _read(self, connection):
        client = None
        try:
            client = XenServerClient(**connection)
            return read_pool(client)
        except XenServerError as err:
            message = to_native(err)
            if client is not None and client.where not in message:
                message = "%s: %s" % (client.where, message)
            raise AnsibleParserError("xenserver inventory: %s" % message)
        finally:
            if client is not None:
                client.logout()

    # --- hosts and groups ----------------------------------------------------------------
    def _hostname(self, entry, variables):
        for preference in self.get_option("hostnames"):
            if preference in NAMING_FIELDS:
                name = entry[preference]
            else:
                try:
                    name = self._compose(preference, variables)
                except Exception as err:  # an undefined variable here just means "no name this way"
                    if self.get_option("strict"):
                        raise AnsibleError("cannot name VM %s with hostnames entry %r: %s"
                                           % (entry["uuid"], preference, to_native(err)))
                    continue
            if name:
                return to_text(name)
        return entry["uuid"]

    def _named(self, entries):
        """(hostname, entry, variables) for each VM, sorted by hostname. VMs are named in uuid
        order, so when names collide the same VM keeps the name from one run to the next."""
        taken = {}
        named = []
        for entry in entries:
            entry = make_unsafe(entry)
            variables = host_variables(entry)
            hostname = self._hostname(entry, variables)
            if hostname in taken:
                self.display.warning(
                    "xenserver inventory: VMs %s and %s are both named '%s'; the second one is "
                    "the host %s (set hostnames to name them apart)"
                    % (taken[hostname], entry["uuid"], hostname, entry["uuid"]))
                hostname = entry["uuid"]
            taken[hostname] = entry["uuid"]
            named.append((make_unsafe(hostname), entry, variables))
        named.sort(key=lambda item: item[0])
        return named

    def _populate(self, entries):
        strict = self.get_option("strict")
        for hostname, entry, variables in self._named(entries):
            self.inventory.add_host(hostname)
            for name, value in variables.items():
                self.inventory.set_variable(hostname, name, value)
            for group in group_names(entry):
                group = self.inventory.add_group(to_safe_group_name(group))
                self.inventory.add_child(group, hostname)
            self._set_composite_vars(self.get_option("compose"), variables, hostname, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), variables, hostname, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), variables, hostname, strict=strict)
