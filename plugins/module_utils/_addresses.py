# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""The guest's addresses from ``VM_guest_metrics.networks``: the one reading of that map.

xapi fills the map from what the guest agent writes in xenstore, with keys
``<device>/<kind>[/<index>]``:

- ``<device>/ip``: the device's IPv4 address. Old agents (xe-guest-utilities) write
  ``attr/eth<N>/ip`` (also ``xenbr<N>``, ``eno<N>``, ``ens<N>``, ``enx<MAC>`` names, so a
  device is not always a number); for agents of the newer protocol xapi copies the lowest
  IPv4 slot here too.
- ``<device>/ipv4/<index>``: every IPv4 address of the device; xen-guest-agent writes
  ``attr/vif/<devid>/ipv4/<slot>`` (a slot freed by a removed address leaves a gap).
- ``<device>/ipv6/<index>``: every IPv6 address (``attr/eth<N>/ipv6/<i>/addr`` for old agents,
  ``attr/vif/<devid>/ipv6/<slot>`` for xen-guest-agent, which reports link-local ones too).

Every value is checked with ``ipaddress``; what is not an address of the guest (garbage,
unspecified, multicast, loopback) is dropped. The primary address, the one ``vm_info``,
``wait_for: ip`` and the inventory's ``ansible_host`` use, is the first IPv4 address (by
device, then index), else the first IPv6 one; link-local addresses are listed last and are
never primary (they cannot be reached without naming the interface).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

# Rank of each kind of key within a device: "ip" before the indexed IPv4 keys (they repeat it).
_KINDS = {"ip": 0, "ipv4": 1, "ipv6": 2}


def _text(value):
    return str(value) if isinstance(value, str) else None


def _number_first(text):
    """Sort key: numbers in numeric order, then other texts in text order."""
    if text.isdigit() and text.isascii():
        try:
            return (0, int(text), "")
        except ValueError:      # more digits than int() takes from a text
            pass
    return (1, 0, text)


def _parse_key(key):
    """(device, kind rank, index key) of a networks key, or None for a key that is no address."""
    key = _text(key)
    if key is None:
        return None
    parts = key.split("/")
    if len(parts) == 2 and parts[1] == "ip" and parts[0]:
        return parts[0], _KINDS["ip"], (0, 0, "")
    if len(parts) == 3 and parts[1] in ("ipv4", "ipv6") and parts[0] and parts[2]:
        return parts[0], _KINDS[parts[1]], _number_first(parts[2])
    return None


def _address(value):
    """The ipaddress object of a reported value, or None when it is no address of the guest."""
    value = _text(value)
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast or address.is_loopback:
        return None
    return address


def _rank(address):
    """Link-local last, IPv4 before IPv6."""
    return (1 if address.is_link_local else 0, address.version)


class GuestAddresses(object):
    """The addresses in a networks map: per device, all of them, and the primary one.

    ``by_device``: [(device, [address, ...]), ...] in device order (numbers first); each list
    has IPv4 first, then IPv6, then link-local ones, each in the agent's index order, no repeats.
    ``all``: every address, IPv4 of every device first, then IPv6, then link-local; no repeats.
    ``primary``: ``all``'s first address unless it is link-local, else "".
    Addresses are texts in ``ipaddress``'s normal form (``2001:db8::1``, not ``2001:DB8:0::1``).
    """

    def __init__(self, networks):
        found = {}
        items = networks.items() if isinstance(networks, dict) else ()
        for key, value in items:
            parsed, address = _parse_key(key), _address(value)
            if parsed is None or address is None:
                continue
            device, kind, index = parsed
            found.setdefault(device, []).append((_rank(address), kind, index, address))
        self.by_device = []
        self._primaries = {}
        everything = []
        for device in sorted(found, key=_number_first):
            entries = sorted(found[device], key=lambda e: e[:3])
            self.by_device.append((device, _unique(e[3] for e in entries)))
            self._primaries[device] = _primary(entries)
            everything.extend((e[0], _number_first(device)) + e[1:] for e in entries)
        everything.sort(key=lambda e: e[:4])
        self.all = _unique(e[-1] for e in everything)
        self.primary = _primary(everything)

    def of_device(self, device):
        """The addresses of ``device`` ("0" for the VIF with device "0"), as in ``by_device``."""
        return next((addresses for name, addresses in self.by_device if name == device), [])

    def primary_of(self, device):
        """The device's first address unless it is link-local, else ""."""
        return self._primaries.get(device, "")


def _primary(entries):
    """The first of sorted entries unless it is link-local (then all of them are), else ""."""
    first = entries[0][-1] if entries else None
    return str(first) if first is not None and not first.is_link_local else ""


def _unique(addresses):
    texts = []
    for address in addresses:
        if str(address) not in texts:
            texts.append(str(address))
    return texts


def guest_addresses(networks):
    """``GuestAddresses`` of a VM_guest_metrics.networks map (anything else counts as empty)."""
    return GuestAddresses(networks)


def primary_address(networks):
    """The guest's primary address from a networks map, or "" (see the module docstring)."""
    return GuestAddresses(networks).primary
