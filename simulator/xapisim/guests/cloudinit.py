"""cloud-init's NoCloud datasource, as a guest with cloud-init installed sees it at first boot.

Pure functions, no simulator imports (the guest models call them; contract 3 of issue 17):

``read_seed(fileobj) -> Seed | None``
    ``fileobj`` is a seekable binary file holding one volume (a disk or CD VDI's raw contents).
    A Seed comes back when the volume is an ISO 9660 or VFAT filesystem labelled ``cidata`` or
    ``CIDATA`` whose root directory holds ``meta-data`` and ``user-data`` (cloud-init's required
    files; ``vendor-data`` and ``network-config`` are optional). Anything else - another
    filesystem, another label, a seed without its required files - is None: cloud-init skips such
    a device. ISO names are read as Linux mounts them (Rock Ridge, else Joliet, else the ISO 9660
    name lowercased without ``;1``); VFAT names through their long-name entries, compared
    case-insensitively as the vfat driver does. Seed fields: ``meta_data`` (dict; ``{}`` when its
    YAML is bad, the error is reported by apply), ``user_data`` / ``vendor_data`` (bytes or None),
    ``network_config`` (bytes or None), ``label``, ``filesystem`` ("iso9660" | "vfat").

``apply(seed, previous_instance_id, nics=None, default_user="cloud-user") -> dict``
    What cloud-init does with the seed at this boot. It runs once per instance-id: when the
    seed's instance-id (``nocloud`` if meta-data names none) equals ``previous_instance_id``,
    ``ran`` is False and nothing is applied again (every action below is empty, network None;
    the guest keeps what the first run left). Otherwise ``ran`` is True and the dict holds:
    ``instance_id``, ``status`` ("done" | "error"), ``errors`` [str], ``hostname`` and ``fqdn``
    (None: cloud-init leaves the image's own), ``users`` [{name, groups, sudo,
    ssh_authorized_keys, shell, lock_passwd, has_password, default}], ``groups`` [str],
    ``write_files`` [path], ``files`` {path: {content (bytes), permissions, owner, append, defer}},
    ``bootcmd`` / ``runcmd`` [str or list, as given; a ``#!`` user-data script or boothook is
    one entry, its whole text], ``packages`` [str or [name, version]], ``package_update``,
    ``package_upgrade``, ``power_state`` (None | {mode, delay, message, timeout, condition}),
    ``network`` {"interfaces": [{name, mac, dhcp4, dhcp6, addresses [cidr], gateway4,
    gateway6, nameservers [..], search [..]}]} from network-config v1 or v2, or cloud-init's
    fallback (DHCPv4 on the first NIC) when there is none or it cannot be read.
    ``nics`` is the guest's NICs in device order, [(name, mac)], used to resolve v2 ``match``
    rules and the fallback (default: one NIC ``eth0``). ``default_user`` is the image's
    distro default user (the ``default`` entry of ``users``).

    Errors leave ``status`` "error" (``cloud-init status`` reports error on a real guest) while
    the rest still applies, as cloud-init goes on with its other modules: malformed user-data or
    vendor-data YAML (its cloud-config is then empty), user-data of a type cloud-init cannot
    handle here, a bad network-config (the fallback network applies), a write_files entry or
    power_state it cannot use.
"""

import base64
import binascii
import collections
import email
import fnmatch
import gzip
import io
import ipaddress
import struct
import zlib

import yaml

LABELS = ("cidata", "CIDATA")
REQUIRED = ("meta-data", "user-data")
OPTIONAL = ("vendor-data", "network-config")
DEFAULT_INSTANCE_ID = "nocloud"
MAX_FILE = 16 * 1024 * 1024  # a seed file larger than this is not a seed anyone builds

Seed = collections.namedtuple(
    "Seed", "meta_data user_data vendor_data network_config label filesystem meta_data_error")


def read_seed(fileobj):
    """The NoCloud seed on this volume, or None when it holds none (see the module docstring)."""
    found = _read_iso9660(fileobj)
    if found is None:
        found = _read_vfat(fileobj)
    if found is None:
        return None
    label, filesystem, files = found
    if any(name not in files for name in REQUIRED):
        return None
    meta_data, meta_error = {}, None
    try:
        loaded = yaml.safe_load(files["meta-data"].decode("utf-8")) if files["meta-data"] else {}
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ValueError("meta-data is a %s, not a mapping" % type(loaded).__name__)
        meta_data = loaded
    except (yaml.YAMLError, UnicodeDecodeError, ValueError) as exc:
        meta_error = "meta-data: %s" % _one_line(exc)
    return Seed(meta_data, files["user-data"], files.get("vendor-data"),
                files.get("network-config"), label, filesystem, meta_error)


# ---- ISO 9660 ------------------------------------------------------------------------------

def _read_iso9660(fileobj):
    fileobj.seek(16 * 2048)
    pvd = fileobj.read(2048)
    if len(pvd) < 2048 or pvd[1:6] != b"CD001":
        return None
    import pycdlib  # imported here: only a CD-looking volume needs it
    iso = pycdlib.PyCdlib()
    try:
        iso.open_fp(fileobj)
    except pycdlib.pycdlibexception.PyCdlibException:
        return None
    try:
        labels = [iso.pvd.volume_identifier.decode("ascii", "replace").strip()]
        if iso.has_joliet():
            joliet_vd = iso.joliet_vd  # pylint: disable=no-member
            labels.append(joliet_vd.volume_identifier.decode("utf-16-be", "replace").strip())
        label = next((name for name in labels if name in LABELS), None)
        if label is None:
            return None
        files = {}
        for kind, path_key in _iso_name_spaces(iso):
            for child in iso.list_children(**{path_key: "/"}):
                if child.is_dir():
                    continue
                name = _iso_name(iso, child, kind)
                if name in REQUIRED + OPTIONAL and name not in files:
                    files[name] = _iso_file(iso, child, kind, path_key)
            break  # Linux mounts one name space: the first one present
        return label, "iso9660", files
    finally:
        iso.close()


def _iso_name_spaces(iso):
    if iso.has_rock_ridge():
        yield "rr", "rr_path"
    if iso.has_joliet():
        yield "joliet", "joliet_path"
    yield "iso", "iso_path"


def _iso_name(iso, record, kind):
    if kind == "rr":
        return iso.full_path_from_dirrecord(record, rockridge=True).rsplit("/", 1)[-1]
    raw = record.file_identifier()
    name = raw.decode("utf-16-be") if kind == "joliet" else raw.decode("ascii", "replace")
    name = name.split(";", 1)[0]
    if kind == "iso":  # Linux isofs map=normal: lowercase, no version, no trailing dot
        name = name.rstrip(".").lower()
    return name


def _iso_file(iso, record, kind, path_key):
    if record.get_data_length() > MAX_FILE:
        return b""
    out = io.BytesIO()
    path = iso.full_path_from_dirrecord(record, rockridge=kind == "rr")
    iso.get_file_from_iso_fp(out, **{path_key: path})
    return out.getvalue()


# ---- VFAT (FAT12/16/32), root directory only: where cloud-init reads its files ----------

def _read_vfat(fileobj):
    fileobj.seek(0)
    boot = fileobj.read(512)
    if len(boot) < 512 or boot[510:512] != b"\x55\xaa" or boot[0] not in (0xEB, 0xE9):
        return None
    (bytes_per_sector, sectors_per_cluster, reserved, fat_count, root_entries, total16,
     _media, fat_size16) = struct.unpack_from("<HBHBHHBH", boot, 11)
    total32, fat_size32, root_cluster = struct.unpack_from("<I", boot, 32)[0], \
        struct.unpack_from("<I", boot, 36)[0], struct.unpack_from("<I", boot, 44)[0]
    if bytes_per_sector not in (512, 1024, 2048, 4096) or not sectors_per_cluster or not fat_count:
        return None
    fat_size = fat_size16 or fat_size32
    total = total16 or total32
    root_sectors = (root_entries * 32 + bytes_per_sector - 1) // bytes_per_sector
    first_data = reserved + fat_count * fat_size + root_sectors
    if not fat_size or total <= first_data:
        return None
    clusters = (total - first_data) // sectors_per_cluster
    bits = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
    vol = _Fat(fileobj, bytes_per_sector, sectors_per_cluster, reserved, fat_size, first_data, bits)
    if bits == 32:
        root = vol.chain_bytes(root_cluster, None)
        boot_label = boot[71:82]
    else:
        fileobj.seek((reserved + fat_count * fat_size) * bytes_per_sector)
        root = fileobj.read(root_sectors * bytes_per_sector)
        boot_label = boot[43:54]
    entries, dir_label = _fat_entries(root)
    labels = [dir_label, boot_label.decode("ascii", "replace").strip()]
    label = next((name for name in labels if name in LABELS), None)
    if label is None:
        return None
    files = {}
    wanted = {name.lower(): name for name in REQUIRED + OPTIONAL}
    for name, cluster, size in entries:
        key = wanted.get(name.lower())
        if key and key not in files:
            files[key] = vol.chain_bytes(cluster, size) if size <= MAX_FILE else b""
    return label, "vfat", files


class _Fat:
    def __init__(self, fileobj, sector, per_cluster, reserved, fat_size, first_data, bits):
        self.fileobj, self.sector, self.per_cluster = fileobj, sector, per_cluster
        self.first_data, self.bits = first_data, bits
        fileobj.seek(reserved * sector)
        self.fat = fileobj.read(fat_size * sector)

    def next_cluster(self, cluster):
        if self.bits == 12:
            offset = cluster + cluster // 2
            value = struct.unpack_from("<H", self.fat, offset)[0]
            value = value >> 4 if cluster & 1 else value & 0xFFF
            return None if value >= 0xFF8 else value
        if self.bits == 16:
            value = struct.unpack_from("<H", self.fat, cluster * 2)[0]
            return None if value >= 0xFFF8 else value
        value = struct.unpack_from("<I", self.fat, cluster * 4)[0] & 0x0FFFFFFF
        return None if value >= 0x0FFFFFF8 else value

    def chain_bytes(self, cluster, size):
        size_cluster = self.sector * self.per_cluster
        out, seen = bytearray(), set()
        while cluster and cluster >= 2 and cluster not in seen and (size is None or len(out) < size):
            seen.add(cluster)
            self.fileobj.seek((self.first_data + (cluster - 2) * self.per_cluster) * self.sector)
            out += self.fileobj.read(size_cluster)
            if (cluster * self.bits) // 8 + 4 > len(self.fat):
                break
            cluster = self.next_cluster(cluster)
        return bytes(out if size is None else out[:size])


def _fat_entries(directory):
    """([(name, first cluster, size)], volume label) of one FAT directory's entries."""
    entries, label, long_parts = [], None, {}
    for offset in range(0, len(directory) - 31, 32):
        entry = directory[offset:offset + 32]
        if entry[0] == 0:
            break
        if entry[0] == 0xE5:
            long_parts = {}
            continue
        attributes = entry[11]
        if attributes == 0x0F:  # a long-name slot: 13 UCS-2 characters
            chars = entry[1:11] + entry[14:26] + entry[28:32]
            long_parts[entry[0] & 0x1F] = (chars, entry[13])
            continue
        short = entry[0:11]
        if attributes & 0x08:
            if not attributes & 0x10:
                label = short.decode("ascii", "replace").strip()
            long_parts = {}
            continue
        name = _long_name(long_parts, short) or _short_name(entry)
        long_parts = {}
        if attributes & 0x10:
            continue
        cluster = struct.unpack_from("<H", entry, 26)[0] | (struct.unpack_from("<H", entry, 20)[0] << 16)
        entries.append((name, cluster, struct.unpack_from("<I", entry, 28)[0]))
    return entries, label


def _long_name(parts, short):
    if not parts:
        return None
    checksum = 0
    for byte in short:
        checksum = (((checksum & 1) << 7) + (checksum >> 1) + byte) & 0xFF
    if any(sum_ != checksum for _chars, sum_ in parts.values()):
        return None
    raw = b"".join(parts[index][0] for index in sorted(parts))
    name = raw.decode("utf-16-le", "replace")
    return name.split("\x00", 1)[0]


def _short_name(entry):
    base = entry[0:8].decode("ascii", "replace").rstrip()
    ext = entry[8:11].decode("ascii", "replace").rstrip()
    if entry[12] & 0x08:
        base = base.lower()
    if entry[12] & 0x10:
        ext = ext.lower()
    return base + ("." + ext if ext else "")


# ---- what cloud-init applies ----------------------------------------------------------------

def apply(seed, previous_instance_id, nics=None, default_user="cloud-user"):
    """What cloud-init does with ``seed`` at this boot (see the module docstring)."""
    instance_id = str(seed.meta_data.get("instance-id") or DEFAULT_INSTANCE_ID)
    result = {
        "instance_id": instance_id, "ran": instance_id != previous_instance_id,
        "status": "done", "errors": [], "hostname": None, "fqdn": None,
        "users": [], "groups": [], "write_files": [], "files": {}, "bootcmd": [], "runcmd": [],
        "packages": [], "package_update": False, "package_upgrade": False,
        "power_state": None, "network": None,
    }
    if not result["ran"]:
        return result
    errors = result["errors"]
    if seed.meta_data_error:
        errors.append(seed.meta_data_error)
    nics = list(nics or [("eth0", None)])

    vendor_config, vendor_scripts = _user_data("vendor-data", seed.vendor_data, errors)
    config, scripts = _user_data("user-data", seed.user_data, errors)
    vendor_enabled = (config.get("vendor_data") or {}).get("enabled", True) \
        if isinstance(config.get("vendor_data"), dict) else True
    if vendor_enabled not in (False, "false", "False"):
        config = dict(vendor_config, **config)  # user-data wins over vendor-data, key by key
        scripts = vendor_scripts + scripts

    result["hostname"], result["fqdn"] = _hostname(config, seed.meta_data)
    result["users"], result["groups"] = _users(config, default_user, errors)
    _write_files(config.get("write_files"), result, errors)
    result["bootcmd"] = _command_list("bootcmd", config.get("bootcmd"), errors)
    result["runcmd"] = _command_list("runcmd", config.get("runcmd"), errors) + scripts
    result["packages"] = _packages(config.get("packages"), errors)
    result["package_update"] = bool(config.get("package_update", config.get("apt_update", False)))
    result["package_upgrade"] = bool(config.get("package_upgrade", config.get("apt_upgrade", False)))
    result["power_state"] = _power_state(config.get("power_state"), errors)
    result["network"] = _network(seed.network_config, nics, errors)
    if errors:
        result["status"] = "error"
    return result


def _one_line(exc):
    return " ".join(str(exc).split())


def _user_data(source, data, errors):
    """(cloud-config dict, [script texts]) of user-data or vendor-data, in any type handled."""
    if not data:
        return {}, []
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            errors.append("%s: cannot decompress: %s" % (source, _one_line(exc)))
            return {}, []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        errors.append("%s: not UTF-8 text" % source)
        return {}, []
    if text.lstrip().lower().startswith("content-type:") or text.startswith("MIME-Version:"):
        return _multipart(source, text, errors)
    return _part(source, text, None, errors)


def _part(source, text, content_type, errors):
    first = text.split("\n", 1)[0].strip()
    if content_type == "text/cloud-config" or first.startswith("#cloud-config") \
            and not first.startswith("#cloud-config-archive"):
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            errors.append("%s: invalid cloud-config YAML: %s" % (source, _one_line(exc)))
            return {}, []
        if config is None:
            return {}, []
        if not isinstance(config, dict):
            errors.append("%s: cloud-config is a %s, not a mapping" % (source, type(config).__name__))
            return {}, []
        return config, []
    if content_type in ("text/x-shellscript", "text/cloud-boothook") or first.startswith("#!") \
            or first.startswith("#cloud-boothook"):
        return {}, [text]
    if not text.strip():
        return {}, []
    errors.append("%s: unhandled user-data type (first line %r)" % (source, first[:40]))
    return {}, []


def _multipart(source, text, errors):
    message = email.message_from_string(text)
    if not message.is_multipart():
        body = message.get_payload(decode=True) or b""
        return _part(source, body.decode("utf-8", "replace"), message.get_content_type(), errors)
    config, scripts = {}, []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        if payload[:2] == b"\x1f\x8b":
            try:
                payload = gzip.decompress(payload)
            except (OSError, EOFError, zlib.error):
                errors.append("%s: a gzip part cannot be decompressed" % source)
                continue
        kind = part.get_content_type()
        part_config, part_scripts = _part(
            source, payload.decode("utf-8", "replace"),
            None if kind in ("text/plain", "text/x-not-multipart") else kind, errors)
        config.update(part_config)
        scripts += part_scripts
    return config, scripts


def _hostname(config, meta_data):
    """set_hostname's choice: fqdn, hostname (user-data) before local-hostname (meta-data)."""
    if config.get("preserve_hostname") is True:
        return None, None
    fqdn = config.get("fqdn")
    hostname = config.get("hostname")
    if fqdn:
        fqdn = str(fqdn)
        hostname = str(hostname) if hostname else fqdn.split(".", 1)[0]
    elif hostname:
        hostname = str(hostname)
        fqdn = hostname
        if "." in hostname:
            hostname = hostname.split(".", 1)[0]
    else:
        local = meta_data.get("local-hostname") or meta_data.get("hostname")
        if not local:
            return None, None
        fqdn = str(local)
        hostname = fqdn.split(".", 1)[0]
    if config.get("prefer_fqdn_over_hostname") is True:
        hostname = fqdn
    return hostname, fqdn


def _as_list(value):
    if value is None or value is False:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return [str(value)]


def _user(name, spec, default):
    sudo = spec.get("sudo")
    return {
        "name": name,
        "default": default,
        "groups": _as_list(spec.get("groups")),
        "sudo": None if sudo in (None, False, "false") else
        ([sudo] if isinstance(sudo, str) else [str(rule) for rule in sudo]),
        "ssh_authorized_keys": [str(key) for key in spec.get("ssh_authorized_keys") or []],
        "shell": spec.get("shell"),
        "lock_passwd": spec.get("lock_passwd", True) is not False,
        "has_password": bool(spec.get("passwd") or spec.get("hashed_passwd")
                             or spec.get("plain_text_passwd")),
    }


def _users(config, default_user, errors):
    """users_groups: the default user (from ``user`` / the distro) and the listed ones."""
    default_spec = {"name": default_user, "sudo": "ALL=(ALL) NOPASSWD:ALL", "lock_passwd": True}
    if isinstance(config.get("user"), dict):
        default_spec.update(config["user"])
    elif isinstance(config.get("user"), str):
        default_spec["name"] = config["user"]
    entries = config.get("users", ["default"])
    if isinstance(entries, (str, dict)):
        entries = [entries]
    if not isinstance(entries, list):
        errors.append("users: expected a list, got %s" % type(entries).__name__)
        entries = ["default"]
    users = []
    for entry in entries:
        if isinstance(entry, str):
            for name in _as_list(entry):
                if name == "default":
                    users.append(_user(default_spec["name"], default_spec, True))
                else:
                    users.append(_user(name, {}, False))
        elif isinstance(entry, dict) and entry.get("name"):
            users.append(_user(str(entry["name"]), entry, False))
        else:
            errors.append("users: an entry without a name: %r" % (entry,))
    top_keys = [str(key) for key in config.get("ssh_authorized_keys") or []]
    for user in users:  # top-level keys go to the default user
        if user["default"]:
            user["ssh_authorized_keys"] += top_keys
    groups = config.get("groups") or []
    if isinstance(groups, (str, dict)):
        groups = [groups]
    names = []
    for group in groups:
        names += list(group) if isinstance(group, dict) else _as_list(group)
    return users, names


_ENCODINGS = {"": (), "text/plain": (), "b64": ("b64",), "base64": ("b64",),
              "gz": ("gz",), "gzip": ("gz",)}
for _name in ("gz+base64", "gzip+base64", "gz+b64", "gzip+b64"):
    _ENCODINGS[_name] = ("b64", "gz")


def _write_files(entries, result, errors):
    if entries is None:
        return
    if not isinstance(entries, list):
        errors.append("write_files: expected a list, got %s" % type(entries).__name__)
        return
    for entry in entries:
        if not isinstance(entry, dict) or not entry.get("path"):
            errors.append("write_files: an entry without a path: %r" % (entry,))
            continue
        path = str(entry["path"])
        content = entry.get("content", "")
        content = content.encode("utf-8") if isinstance(content, str) else bytes(str(content), "utf-8")
        encoding = str(entry.get("encoding") or "").lower().strip()
        try:
            for step in _ENCODINGS.get(encoding, ()):  # unknown encodings: plain, as cloud-init
                content = base64.b64decode(content, validate=False) if step == "b64" \
                    else gzip.decompress(content)
        except (binascii.Error, OSError, EOFError, zlib.error) as exc:
            errors.append("write_files: %s: cannot decode %s content: %s" % (path, encoding, _one_line(exc)))
            continue
        permissions = entry.get("permissions", "0644")
        try:
            permissions = "%04o" % (int(permissions, 8) if isinstance(permissions, str) else int(permissions))
        except ValueError:
            errors.append("write_files: %s: bad permissions %r" % (path, permissions))
            continue
        result["write_files"].append(path)
        result["files"][path] = {
            "content": content, "permissions": permissions,
            "owner": str(entry.get("owner", "root:root")),
            "append": entry.get("append") is True, "defer": entry.get("defer") is True,
        }


def _command_list(key, value, errors):
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append("%s: expected a list, got %s" % (key, type(value).__name__))
        return []
    return [item if isinstance(item, list) else str(item) for item in value]


def _packages(value, errors):
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append("packages: expected a list, got %s" % type(value).__name__)
        return []
    packages = []
    for item in value:
        if isinstance(item, list) and len(item) == 2:
            packages.append([str(item[0]), str(item[1])])
        elif isinstance(item, str):
            packages.append(item)
        else:
            errors.append("packages: bad entry %r" % (item,))
    return packages


def _power_state(value, errors):
    if not value:
        return None
    if not isinstance(value, dict):
        errors.append("power_state: expected a mapping")
        return None
    mode = value.get("mode")
    if mode not in ("poweroff", "reboot", "halt"):
        errors.append("power_state[mode] required, must be one of: halt,poweroff,reboot. found: %r" % (mode,))
        return None
    delay = value.get("delay", "now")
    if delay == "now":
        minutes = 0
    else:
        try:
            minutes = int(str(delay).lstrip("+"))
        except ValueError:
            errors.append("power_state: bad delay %r" % (delay,))
            return None
    try:
        timeout = float(value.get("timeout", 30.0))
    except (TypeError, ValueError):
        errors.append("power_state: failed to convert timeout %r to float" % (value.get("timeout"),))
        return None
    condition = value.get("condition", True)
    if condition is False:
        return None  # the condition is not met: no power change
    return {"mode": mode, "delay": minutes, "message": value.get("message"),
            "timeout": timeout, "condition": condition}


# ---- network-config v1 / v2 ----------------------------------------------------------------

def _fallback(nics):
    name, mac = nics[0]
    return {"interfaces": [_interface(name, mac, dhcp4=True)]}


def _interface(name, mac, dhcp4=False):
    return {"name": name, "mac": mac, "dhcp4": dhcp4, "dhcp6": False, "addresses": [],
            "gateway4": None, "gateway6": None, "nameservers": [], "search": []}


class _BadNetwork(ValueError):
    pass


def _network(data, nics, errors):
    if data is None or not data.strip():
        return _fallback(nics)
    try:
        config = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        errors.append("network-config: invalid YAML: %s" % _one_line(exc))
        return _fallback(nics)
    if isinstance(config, dict) and isinstance(config.get("network"), dict):
        config = config["network"]  # with or without the top-level "network:" key
    try:
        if not isinstance(config, dict):
            raise _BadNetwork("not a mapping")
        if config.get("config") == "disabled":
            return {"interfaces": [], "disabled": True}
        version = config.get("version")
        if version == 1:
            interfaces = _network_v1(config.get("config"))
        elif version == 2:
            interfaces = _network_v2(config, nics)
        else:
            raise _BadNetwork("unsupported version %r (1 or 2)" % (version,))
    except _BadNetwork as exc:
        errors.append("network-config: %s" % exc)
        return _fallback(nics)
    return {"interfaces": interfaces}


def _address(text, netmask=None):
    """An address as a CIDR string; the prefix from the CIDR notation or the netmask."""
    try:
        if netmask and "/" not in str(text):
            prefix = ipaddress.ip_network("0.0.0.0/%s" % netmask).prefixlen \
                if "." in str(netmask) else int(str(netmask).lstrip("/"))
            text = "%s/%s" % (text, prefix)
        return str(ipaddress.ip_interface(str(text)))
    except ValueError as exc:
        raise _BadNetwork("bad address %r: %s" % (text, exc)) from None


def _ip(text, what):
    try:
        return ipaddress.ip_address(str(text))
    except ValueError:
        raise _BadNetwork("bad %s %r" % (what, text)) from None


def _network_v1(entries):
    if not isinstance(entries, list):
        raise _BadNetwork("version 1 needs a list under 'config'")
    interfaces, global_dns, global_search = [], [], []
    for entry in entries:
        if not isinstance(entry, dict) or "type" not in entry:
            raise _BadNetwork("a config entry without a type: %r" % (entry,))
        kind = entry["type"]
        if kind == "nameserver":
            global_dns += [str(_ip(a, "nameserver")) for a in _as_list(entry.get("address"))]
            global_search += _as_list(entry.get("search"))
            continue
        if kind == "route":
            continue
        if kind not in ("physical", "bond", "bridge", "vlan"):
            raise _BadNetwork("unknown config type %r" % (kind,))
        if not entry.get("name"):
            raise _BadNetwork("a %s entry without a name" % kind)
        iface = _interface(str(entry["name"]), entry.get("mac_address"))
        for subnet in entry.get("subnets") or []:
            _v1_subnet(iface, subnet)
        interfaces.append(iface)
    for iface in interfaces:
        iface["nameservers"] += [a for a in global_dns if a not in iface["nameservers"]]
        iface["search"] += [s for s in global_search if s not in iface["search"]]
    return interfaces


def _v1_subnet(iface, subnet):
    if not isinstance(subnet, dict):
        raise _BadNetwork("a subnet that is not a mapping: %r" % (subnet,))
    kind = subnet.get("type")
    if kind in ("dhcp", "dhcp4"):
        iface["dhcp4"] = True
    elif kind in ("dhcp6", "ipv6_dhcpv6-stateful", "ipv6_dhcpv6-stateless", "ipv6_slaac"):
        iface["dhcp6"] = True
    elif kind in ("static", "static6"):
        if not subnet.get("address"):
            raise _BadNetwork("a %s subnet of %s without an address" % (kind, iface["name"]))
        for text in _as_list(subnet["address"]):
            iface["addresses"].append(_address(text, subnet.get("netmask") or subnet.get("prefix")))
        if subnet.get("gateway"):
            gateway = _ip(subnet["gateway"], "gateway")
            iface["gateway%d" % gateway.version] = str(gateway)
    else:
        raise _BadNetwork("unknown subnet type %r on %s" % (kind, iface["name"]))
    iface["nameservers"] += [str(_ip(a, "nameserver")) for a in _as_list(subnet.get("dns_nameservers"))]
    iface["search"] += _as_list(subnet.get("dns_search"))


def _network_v2(config, nics):
    interfaces = []
    for section in ("ethernets", "bonds", "bridges", "vlans"):
        devices = config.get(section) or {}
        if not isinstance(devices, dict):
            raise _BadNetwork("%s must be a mapping" % section)
        for device_id, spec in devices.items():
            spec = spec or {}
            if not isinstance(spec, dict):
                raise _BadNetwork("%s %s is not a mapping" % (section, device_id))
            name, mac = _v2_match(str(device_id), spec, nics, section == "ethernets")
            iface = _interface(str(spec.get("set-name") or name), mac,
                               dhcp4=_yes(spec.get("dhcp4")))
            iface["dhcp6"] = _yes(spec.get("dhcp6"))
            for text in spec.get("addresses") or []:
                iface["addresses"].append(_address(text))
            for family in ("4", "6"):
                if spec.get("gateway" + family):
                    iface["gateway" + family] = str(_ip(spec["gateway" + family], "gateway" + family))
            for route in spec.get("routes") or []:
                if isinstance(route, dict) and str(route.get("to")) in ("default", "0.0.0.0/0", "::/0"):
                    via = _ip(route.get("via"), "route via")
                    iface["gateway%d" % via.version] = str(via)
            servers = spec.get("nameservers") or {}
            iface["nameservers"] = [str(_ip(a, "nameserver")) for a in servers.get("addresses") or []]
            iface["search"] = [str(s) for s in servers.get("search") or []]
            interfaces.append(iface)
    return interfaces


def _yes(value):
    return value in (True, "true", "yes", "on")


def _v2_match(device_id, spec, nics, physical):
    """(kernel name, MAC) of the NIC a v2 ethernet matches: by macaddress, by name (glob)."""
    match = spec.get("match")
    if not physical or not match:
        mac = dict(nics).get(device_id)
        return device_id, spec.get("macaddress") or mac
    if not isinstance(match, dict):
        raise _BadNetwork("match of %s is not a mapping" % device_id)
    for name, mac in nics:
        if match.get("macaddress") and (mac or "").lower() != str(match["macaddress"]).lower():
            continue
        if match.get("name") and not fnmatch.fnmatchcase(name, str(match["name"])):
            continue
        return name, mac
    # no NIC of this guest matches: the interface stays as configured, unresolved
    return str(match.get("name") or device_id), match.get("macaddress")
