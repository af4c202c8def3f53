# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""A cloud-init NoCloud seed (vm_cloud_init): the files, their checks, secrets masked, the volume.

cloud-init's NoCloud datasource reads a filesystem labelled ``cidata`` holding ``meta-data``,
``user-data`` and optionally ``network-config``. It mounts the volume, so on ISO 9660 the
names are what Linux shows: the Rock Ridge names (Joliet as a second chance). The volume is
built here with pycdlib, with both, as ``genisoimage -J -R -V cidata`` makes it.

Everything here is pure: no XenAPI, no Ansible; failures are ValueError naming the value.

Sources: cloud-init's docs (canonical/cloud-init doc/rtd: the NoCloud datasource, its file
names and the cidata label; network-config versions 1 and 2; cc_set_passwords for chpasswd's
list and users forms, cc_users_groups for passwd, hashed_passwd, plain_text_passwd);
vatesfr/xen-orchestra packages/xo-server/src/xapi/index.mjs (a config drive per VM in a small
VDI beside the VM's disks, instance-id the VM's uuid).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import io
import ipaddress
import json

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - reported by the module as a missing library
    yaml = None
    HAS_YAML = False

try:
    import pycdlib
    HAS_PYCDLIB = True
except ImportError:  # pragma: no cover - reported by the module as a missing library
    pycdlib = None
    HAS_PYCDLIB = False

CLOUD_CONFIG = "#cloud-config"
LABEL = "cidata"
MASK = "********"
# Keys whose values are secrets wherever they appear in user-data (cloud-init's users and
# groups, set_passwords and the wifi access points of network-config v2).
SECRET_KEYS = frozenset(["passwd", "hashed_passwd", "plain_text_passwd", "password"])


# --- rendering -------------------------------------------------------------------------------------

def dump(data):
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False, allow_unicode=True)


def render_user_data(user_data):
    """(text, parsed): a dict becomes ``#cloud-config`` YAML; a string is used as is, and when it
    says ``#cloud-config`` it must parse as a YAML mapping (parsed is that mapping, else None)."""
    if user_data is None:
        return CLOUD_CONFIG + "\n{}\n", {}
    if isinstance(user_data, dict):
        return CLOUD_CONFIG + "\n" + dump(user_data), user_data
    text = user_data if user_data.endswith("\n") else user_data + "\n"
    if not text.startswith(CLOUD_CONFIG):
        return text, None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = " at line %d, column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise ValueError("user_data is #cloud-config but not valid YAML%s: %s" % (
            where, getattr(err, "problem", None) or err))
    if parsed is None:
        parsed = {}
    if not isinstance(parsed, dict):
        raise ValueError("user_data is #cloud-config but its YAML is a %s, not a mapping of cloud-config keys"
                         % type(parsed).__name__)
    return text, parsed


def render(vm_name, instance_id, user_data, meta_data, network_config):
    """{file name: text} of the seed: meta-data, user-data and (when given) network-config."""
    meta = {"instance-id": instance_id, "local-hostname": vm_name}
    meta.update(meta_data or {})
    files = {"meta-data": dump(meta), "user-data": render_user_data(user_data)[0]}
    if network_config:
        files["network-config"] = dump(network_file(network_config))
    return files


def content_sha256(files):
    """The seed's digest. The caller renders the files for it with an empty generated
    instance-id: a new generated instance-id alone is no new content (one given in meta_data is)."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode("utf-8")).hexdigest()


def build_iso(files, label=LABEL):
    """``files`` ({name: text}) as ISO 9660 bytes labelled ``label`` (the seed: ``cidata``; the
    installers' answer volume: ``OEMDRV``), names kept by Rock Ridge and Joliet."""
    volume = pycdlib.PyCdlib()
    volume.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label)
    for name in sorted(files):
        data = files[name].encode("utf-8")
        stem, _dot, extension = name.upper().replace("-", "_").partition(".")
        short = "/%s.%s;1" % (stem.replace(".", "_"), extension.replace(".", "_"))  # ISO 9660 d-characters only
        volume.add_fp(io.BytesIO(data), len(data), short, rr_name=name, joliet_path="/" + name)
    out = io.BytesIO()
    volume.write_fp(out)
    volume.close()
    return out.getvalue()


# --- secrets ---------------------------------------------------------------------------------------

def masked(data, extra_keys=()):
    """(copy of ``data`` with secret values replaced by ********, [the secret strings]).
    Everything under a secret key is secret, a mapping or a list as well as a plain value."""
    keys = SECRET_KEYS | frozenset(extra_keys or ())
    secrets = []

    def walk(value, secret=False, top=False):
        if isinstance(value, dict):
            return dict((k, _chpasswd(v, secrets) if top and k == "chpasswd" and not secret
                         else walk(v, secret or k in keys)) for k, v in value.items())
        if isinstance(value, list):
            return [walk(item, secret) for item in value]
        if secret and value not in (None, ""):
            secrets.append(str(value))
            return MASK
        return value

    return walk(copy.deepcopy(data), top=True), secrets


def _chpasswd(value, secrets):
    """chpasswd: ``list`` as "user:password" lines (a text or a list), ``users`` entries with
    ``password``; ``expire`` is no secret."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    if "list" in out:
        entries = out["list"]
        lines = entries.splitlines() if isinstance(entries, str) else list(entries or [])
        hidden = []
        for line in lines:
            user, sep, password = str(line).partition(":")
            if sep and password:
                secrets.append(password)
                hidden.append("%s:%s" % (user, MASK))
            else:
                hidden.append(line)
        out["list"] = "\n".join(hidden) + "\n" if isinstance(entries, str) else hidden
    if isinstance(out.get("users"), list):
        users = []
        for entry in out["users"]:
            if isinstance(entry, dict) and entry.get("password") not in (None, ""):
                secrets.append(str(entry["password"]))
                entry = dict(entry, password=MASK)
            users.append(entry)
        out["users"] = users
    return out


def shown_user_data(user_data, extra_keys=()):
    """(the user-data as results and diffs may show it, [secret strings]). User-data that is not
    #cloud-config (a script, an include) cannot be masked by key: it is not shown at all."""
    text, parsed = render_user_data(user_data)
    if parsed is None:
        return "(not #cloud-config, not shown: %d bytes, sha256 %s)" % (
            len(text.encode("utf-8")), hashlib.sha256(text.encode("utf-8")).hexdigest()), [text.rstrip("\n")]
    hidden, secrets = masked(parsed, extra_keys)
    return CLOUD_CONFIG + "\n" + dump(hidden), secrets


# --- network-config --------------------------------------------------------------------------------

def check_network_config(config):
    """Fail (ValueError naming the value) on a network-config cloud-init would reject or that
    would give a guest an address that cannot work: a version other than 1 or 2, a bad address
    or prefix, the network or broadcast address, a gateway (gateway4/6, a default route's via,
    a v1 subnet's gateway) outside the networks of the interface's addresses of its family."""
    if config is None:
        return
    if not isinstance(config, dict):
        raise ValueError("network_config must be a mapping (version 1 or 2), got %r" % (config,))
    body = config.get("network", config) if set(config) == {"network"} else config
    version = body.get("version")
    if str(version) == "1":
        _check_v1(body)
    elif str(version) == "2":
        _check_v2(body)
    else:
        raise ValueError("network_config.version must be 1 or 2, got %r" % (version,))


def _interface(value, where):
    """An address with its prefix (192.0.2.10/24); the network and broadcast address, a /0 and
    addresses no host is given (loopback, unspecified, multicast, reserved) refused."""
    try:
        iface = ipaddress.ip_interface(str(value))
    except ValueError as err:
        raise ValueError("%s: %r is not an address with a prefix: %s" % (where, value, err))
    if "/" not in str(value):
        raise ValueError("%s: %r has no prefix (write it as %s/24, or the prefix your network has)"
                         % (where, value, value))
    if iface.network.prefixlen == 0:
        raise ValueError("%s: %s is a /0 network (every address); give the prefix of the guest's network"
                         % (where, value))
    ip = iface.ip
    for test, what in ((ip.is_loopback, "a loopback"), (ip.is_unspecified, "the unspecified"),
                       (ip.is_multicast, "a multicast"), (iface.version == 4 and ip.is_reserved, "a reserved")):
        if test:
            raise ValueError("%s: %s is %s address, not one a guest can be given" % (where, value, what))
    net = iface.network
    if net.num_addresses > 2 and iface.ip == net.network_address:
        raise ValueError("%s: %s is the network address of %s, not a host address" % (where, value, net))
    if iface.version == 4 and net.num_addresses > 2 and iface.ip == net.broadcast_address:
        raise ValueError("%s: %s is the broadcast address of %s, not a host address" % (where, value, net))
    return iface


def _address(value, where):
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise ValueError("%s: %r is not an IP address" % (where, value))


DEFAULT_ROUTES = {"0.0.0.0/0": 4, "::/0": 6, "default": None}


def _enabled(value):
    """A netplan boolean (dhcp4: true, yes, on)."""
    return value is True or str(value).lower() in ("true", "yes", "on")


def _gateway(value, where, interfaces, dhcp=False):
    """A gateway must be reachable from the interface: inside the network of one of its static
    addresses of the same family (an IPv6 link-local gateway is on every link). With no static
    address of its family it is accepted only when that family is configured by DHCP (or RA)."""
    gateway = _address(value, where)
    same = [i for i in interfaces if i.version == gateway.version]
    if not same:
        if dhcp or (gateway.version == 6 and gateway.is_link_local):
            return gateway
        raise ValueError("%s: %s cannot be reached: the interface has no static IPv%d address (and no DHCP) "
                         "whose network it is in" % (where, value, gateway.version))
    if not (gateway.version == 6 and gateway.is_link_local) and not any(gateway in i.network for i in same):
        raise ValueError("%s: %s is outside %s (the network of %s)" % (
            where, value, ", ".join(str(i.network) for i in same), ", ".join(str(i) for i in same)))
    if any(gateway == i.ip for i in same):
        raise ValueError("%s: %s is the interface's own address" % (where, value))
    return gateway


def _default_route_family(route, spot):
    """4 or 6 for a default route (to 0.0.0.0/0, ::/0 or default), else None. ``default`` takes
    the family of its via, so it needs one."""
    to = str(route.get("to", "")).strip().lower()
    if to not in DEFAULT_ROUTES:
        return None
    via = route.get("via")
    if via is None:
        if to == "default":
            raise ValueError("%s: a route to default needs a via (its gateway), or write to: 0.0.0.0/0 or ::/0"
                             % spot)
        return DEFAULT_ROUTES[to]
    family = _address(via, spot + ".via").version
    if DEFAULT_ROUTES[to] not in (None, family):
        raise ValueError("%s: via %s is an IPv%d address, the route to %s is IPv%d" % (
            spot, via, family, route["to"], DEFAULT_ROUTES[to]))
    return family


def network_file(config):
    """The network-config as written on the drive: a copy of ``config`` where a version 2 route
    ``to: default`` reads ``0.0.0.0/0`` or ``::/0`` by the family of its via (cloud-init 22.4, in
    Debian 12 and the distros of its time, refuses ``default``; newer ones take both)."""
    out = copy.deepcopy(config)
    body = out.get("network", out) if set(out) == {"network"} else out
    if str(body.get("version")) != "2":
        return out
    for kind in ("ethernets", "bonds", "bridges", "vlans", "wifis"):
        for device in (body.get(kind) or {}).values():
            for route in (device.get("routes") or []) if isinstance(device, dict) else []:
                if isinstance(route, dict) and str(route.get("to", "")).strip().lower() == "default" \
                        and route.get("via") is not None:
                    route["to"] = "0.0.0.0/0" if _address(route["via"], "via").version == 4 else "::/0"
    return out


def _nameservers(values, where):
    if isinstance(values, str):
        values = [values]
    for index, value in enumerate(values or []):
        _address(value, "%s[%d]" % (where, index))


def _check_v2(body):
    for kind in ("ethernets", "bonds", "bridges", "vlans", "wifis"):
        devices = body.get(kind) or {}
        if not isinstance(devices, dict):
            raise ValueError("network_config.%s must be a mapping of interface names" % kind)
        for name, device in devices.items():
            where = "network_config.%s.%s" % (kind, name)
            if not isinstance(device, dict):
                raise ValueError("%s must be a mapping, got %r" % (where, device))
            interfaces = [_interface(a, "%s.addresses[%d]" % (where, i))
                          for i, a in enumerate(device.get("addresses") or [])]
            dhcp = {4: _enabled(device.get("dhcp4")),
                    6: _enabled(device.get("dhcp6")) or _enabled(device.get("accept-ra"))}
            for key, family in (("gateway4", 4), ("gateway6", 6)):
                if device.get(key):
                    _gateway(device[key], "%s.%s" % (where, key), interfaces, dhcp[family])
            for index, route in enumerate(device.get("routes") or []):
                spot = "%s.routes[%d]" % (where, index)
                if not isinstance(route, dict):
                    raise ValueError("%s must be a mapping with to and via" % spot)
                if route.get("to") not in (None, "default"):
                    try:
                        ipaddress.ip_network(str(route["to"]), strict=False)
                    except ValueError:
                        raise ValueError("%s.to: %r is not a network" % (spot, route["to"]))
                if route.get("via") is not None:
                    _address(route["via"], spot + ".via")
                family = _default_route_family(route, spot)
                # on-link: the gateway is declared reachable on the link whatever the addresses
                if family and route.get("via") is not None and not _enabled(route.get("on-link")):
                    _gateway(route["via"], spot + ".via", interfaces, dhcp[family])
            nameservers = device.get("nameservers") or {}
            _nameservers(nameservers.get("addresses") if isinstance(nameservers, dict) else nameservers,
                         where + ".nameservers.addresses")


def _check_v1(body):
    config = body.get("config")
    if not isinstance(config, list):
        raise ValueError("network_config.config must be a list of entries (version 1)")
    for index, entry in enumerate(config):
        where = "network_config.config[%d]" % index
        if not isinstance(entry, dict):
            raise ValueError("%s must be a mapping, got %r" % (where, entry))
        if entry.get("type") == "nameserver":
            _nameservers(entry.get("address"), where + ".address")
        for number, subnet in enumerate(entry.get("subnets") or []):
            spot = "%s.subnets[%d]" % (where, number)
            if not isinstance(subnet, dict):
                raise ValueError("%s must be a mapping, got %r" % (spot, subnet))
            if subnet.get("type") not in ("static", "static6"):
                continue
            address = subnet.get("address")
            if address is None:
                raise ValueError("%s: a static subnet needs an address" % spot)
            if "/" not in str(address) and subnet.get("netmask"):
                address = "%s/%s" % (address, subnet["netmask"])
            iface = _interface(address, spot + ".address")
            if subnet.get("gateway"):
                _gateway(subnet["gateway"], spot + ".gateway", [iface])
            _nameservers(subnet.get("dns_nameservers"), spot + ".dns_nameservers")
