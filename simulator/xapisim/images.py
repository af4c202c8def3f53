"""Sample images for HVM guests: cloud images (raw disks) and installer ISOs (ISO 9660).

``xapisim make-images DIR`` writes them (cli.py). Uploaded into a VDI (PUT /import_raw_vdi)
they are what the simulated firmware (guests/hvm.py) boots, as a pool's guests would boot the
real images. Nothing of a real OS is in them: only what the firmware and the guest need to
know, in a format defined here (issue 17, contract 2).

A disk image is a sparse raw file of DISK_SIZE bytes:
  bytes 0..15             MAGIC, the image's "boot code"
  bytes 510..511          0x55 0xAA (the MBR boot signature) when a BIOS boot loader is installed
  bytes 512..HEADER_SIZE  the system on the disk as JSON (UTF-8, NUL padded):
      {"format": 1, "kind": "disk", "name": ..., "os": {os-release keys: NAME, ID, VERSION_ID,
       PRETTY_NAME}, "kernel": uname -r, "boot": {"bios": bool, "uefi": bool, "signed": bool
       (its UEFI boot loader is signed for Secure Boot: shim)}, "cloud_init": bool,
       "agent": bool (a guest agent is installed), "state": {what the guest wrote: hostname,
       network, cloud_init status and last instance-id}}
  the rest is zeros (holes).
An installer ISO is a real ISO 9660 volume (pycdlib, Joliet and Rock Ridge names) laid out as
the vendor's media: anaconda's have ``/.treeinfo`` (family, version, arch), YaST's
``/media.1/products``; both have an ``/isolinux/isolinux.cfg`` (BIOS) and ``/EFI/BOOT/grub.cfg``
with the installer's kernel command line, and ``/EFI/BOOT/BOOTX64.EFI`` (a signed shim).
``describe`` tells them apart; any other volume (a kickstart ``OEMDRV`` volume, a ``cidata``
seed) is an ISO without an installer.
"""
import configparser
import io
import json
import os
import re

import pycdlib
from pycdlib.pycdlibexception import PyCdlibException

MAGIC = b"XAPISIM-IMAGE 1\n"
HEADER_SIZE = 64 * 1024
DISK_SIZE = 8 * 1024 * 1024         # virtual size of a sample disk (sparse: 64 KiB on disk)
BOOT_SIGNATURE = b"\x55\xaa"
SECTOR = 512
ISO_MAGIC_OFFSET = 16 * 2048 + 1    # "CD001" of the primary volume descriptor
EFI_SIGNED = b"MZ XAPISIM-EFI shimx64 signed-by=Microsoft Corporation UEFI CA 2011\n"
EFI_UNSIGNED = b"MZ XAPISIM-EFI grubx64 unsigned\n"

# The releases sample media carry: os-release and the kernel an install (or the image) boots.
RELEASES = {
    "rocky-9": {"os": {"NAME": "Rocky Linux", "ID": "rocky", "VERSION_ID": "9.4",
                       "PRETTY_NAME": "Rocky Linux 9.4 (Blue Onyx)"},
                "kernel": "5.14.0-427.13.1.el9_4.x86_64"},
    "rhel-9": {"os": {"NAME": "Red Hat Enterprise Linux", "ID": "rhel", "VERSION_ID": "9.4",
                      "PRETTY_NAME": "Red Hat Enterprise Linux 9.4 (Plow)"},
               "kernel": "5.14.0-427.13.1.el9_4.x86_64"},
    "ubuntu-24.04": {"os": {"NAME": "Ubuntu", "ID": "ubuntu", "VERSION_ID": "24.04",
                            "PRETTY_NAME": "Ubuntu 24.04.1 LTS"},
                     "kernel": "6.8.0-45-generic"},
    "debian-12": {"os": {"NAME": "Debian GNU/Linux", "ID": "debian", "VERSION_ID": "12",
                         "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"},
                  "kernel": "6.1.0-25-cloud-amd64"},
    "sles-15": {"os": {"NAME": "SLES", "ID": "sles", "VERSION_ID": "15.6",
                       "PRETTY_NAME": "SUSE Linux Enterprise Server 15 SP6"},
                "kernel": "6.4.0-150600.21-default"},
}

# make-images' disks: {file name: (release, boot, cloud_init, agent)}.
DISKS = {
    "Rocky-9-GenericCloud.x86_64.raw": ("rocky-9", {"bios": True, "uefi": True, "signed": True}, True, True),
    "noble-server-cloudimg-amd64.raw": ("ubuntu-24.04", {"bios": True, "uefi": True, "signed": True},
                                        True, True),
    "debian-12-genericcloud-amd64.raw": ("debian-12", {"bios": True, "uefi": True, "signed": True},
                                         True, True),
    "SLES15-SP6-Minimal-VM.x86_64-Cloud.raw": ("sles-15", {"bios": True, "uefi": True, "signed": True},
                                               True, True),
    # negative samples: a locally built boot loader nobody signed; an image without an ESP
    "Rocky-9-GenericCloud-unsigned.x86_64.raw": ("rocky-9", {"bios": True, "uefi": True, "signed": False},
                                                 True, True),
    "debian-12-bios-only-amd64.raw": ("debian-12", {"bios": True, "uefi": False, "signed": False},
                                      True, True),
}

# make-images' installer ISOs: {file name: (release, installer, volume id)}.
ISOS = {
    "Rocky-9.4-x86_64-minimal.iso": ("rocky-9", "anaconda", "Rocky-9-4-x86_64-dvd"),
    "rhel-9.4-x86_64-boot.iso": ("rhel-9", "anaconda", "RHEL-9-4-0-BaseOS-x86_64"),
    "SLE-15-SP6-Full-x86_64-GM-Media1.iso": ("sles-15", "yast", "SLE-15-SP6-Full-x86_64"),
}


# make-images' answer volumes: {file name: (label, {path: text})} - attach one beside an installer
# ISO (a disk or a second CD) and the install runs unattended.
SAMPLE_KICKSTART = ("text\ncdrom\nlang en_US.UTF-8\nkeyboard us\ntimezone UTC --utc\nrootpw --lock\n"
                    "network --device=link --bootproto=dhcp --hostname=installed.example.com\n"
                    "zerombr\nclearpart --all --initlabel\nautopart\nreboot --eject\n"
                    "%packages\n@^minimal-environment\n%end\n")
ANSWER_VOLUMES = {"OEMDRV-kickstart.iso": ("OEMDRV", {"/ks.cfg": SAMPLE_KICKSTART})}


def system(release, boot, cloud_init=False, agent=False, state=None, name=None):
    """The JSON header of a disk holding ``release`` (see the module docstring)."""
    facts = RELEASES[release]
    return {"format": 1, "kind": "disk", "name": name or facts["os"]["PRETTY_NAME"],
            "release": release, "os": dict(facts["os"]), "kernel": facts["kernel"],
            "boot": dict(boot), "cloud_init": bool(cloud_init), "agent": bool(agent),
            "state": dict(state or {})}


def disk_header(header):
    """The first HEADER_SIZE bytes of a disk holding ``header`` (a ``system`` dict)."""
    body = json.dumps(header, sort_keys=True).encode("utf-8")
    if len(body) > HEADER_SIZE - SECTOR:
        raise ValueError("disk header too large (%d bytes)" % len(body))
    data = bytearray(HEADER_SIZE)
    data[:len(MAGIC)] = MAGIC
    if header.get("boot", {}).get("bios"):
        data[SECTOR - 2:SECTOR] = BOOT_SIGNATURE
    data[SECTOR:SECTOR + len(body)] = body
    return bytes(data)


def write_disk(path, header, size=DISK_SIZE):
    """A sparse raw disk image of ``size`` bytes holding ``header``."""
    with open(path, "wb") as handle:
        handle.write(disk_header(header))
        handle.truncate(size)
    return path


def _opened(source):
    """(file object, close it?) for a path or an open binary file."""
    if isinstance(source, (str, os.PathLike)):
        return open(source, "rb"), True
    return source, False


def describe(source):
    """What a disk or ISO holds, as the firmware tells it; None for anything else (empty, zeros).

    A disk: its header dict (kind "disk"). An ISO 9660 volume: {"kind": "iso", "label":
    volume id, "installer": None or {"family": "anaconda"|"yast", "release", "os", "kernel",
    "boot_args": {"bios": kernel line, "uefi": kernel line}}, "boot": {"bios", "uefi",
    "signed"}}.
    """
    handle, close = _opened(source)
    try:
        handle.seek(0)
        head = handle.read(HEADER_SIZE)
        if head.startswith(MAGIC):
            try:
                header = json.loads(head[SECTOR:].rstrip(b"\0").decode("utf-8"))
            except ValueError:
                return None
            if not isinstance(header, dict) or header.get("kind") != "disk":
                return None
            header.setdefault("state", {})
            header["boot"] = dict(header.get("boot", {}), bios=head[SECTOR - 2:SECTOR] == BOOT_SIGNATURE)
            return header
        handle.seek(ISO_MAGIC_OFFSET)
        if handle.read(5) == b"CD001":
            try:
                return _describe_iso(handle)
            except (PyCdlibException, OSError, ValueError):
                return None         # a damaged volume: the firmware finds nothing to boot
        return None
    finally:
        if close:
            handle.close()


def _open_iso(handle):
    iso = pycdlib.PyCdlib()
    handle.seek(0)
    iso.open_fp(handle)
    return iso


def _iso_get(iso, path):
    """A file of an open ISO by its name (Rock Ridge, Joliet, then ISO 9660 ``NAME.EXT;1``)."""
    out = io.BytesIO()
    attempts = []
    if iso.has_rock_ridge():
        attempts.append({"rr_path": path})
    if iso.has_joliet():
        attempts.append({"joliet_path": path})
    attempts.append({"iso_path": path.upper() + ("" if ";" in path else ";1")})
    for kwargs in attempts:
        try:
            iso.get_file_from_iso_fp(out, **kwargs)
            return out.getvalue()
        except PyCdlibException:
            continue
    return None


def iso_label(source):
    """The volume id of an ISO 9660 volume, or None."""
    handle, close = _opened(source)
    try:
        handle.seek(ISO_MAGIC_OFFSET)
        if handle.read(5) != b"CD001":
            return None
        handle.seek(ISO_MAGIC_OFFSET - 1 + 40)
        return handle.read(32).decode("ascii", "replace").strip()
    finally:
        if close:
            handle.close()


def iso_file(source, path):
    """The bytes of ``path`` on an ISO 9660 volume, or None (no such file, not an ISO)."""
    handle, close = _opened(source)
    try:
        handle.seek(ISO_MAGIC_OFFSET)
        if handle.read(5) != b"CD001":
            return None
        try:
            iso = _open_iso(handle)
        except (PyCdlibException, OSError, ValueError):
            return None
        try:
            return _iso_get(iso, path)
        finally:
            iso.close()
    finally:
        if close:
            handle.close()


def _kernel_line(text, keyword):
    """The arguments of the first kernel line (``append`` in isolinux.cfg, ``linux``/``linuxefi``
    in grub.cfg) of a boot menu: what the installer's kernel boots with by default."""
    for raw in (text or "").splitlines():
        words = raw.strip().split(None, 1)
        if words and words[0] in keyword:
            args = words[1] if len(words) > 1 else ""
            if words[0] in ("linux", "linuxefi"):
                args = args.split(None, 1)[1] if " " in args else ""
            return args
    return None


def _describe_iso(handle):
    iso = _open_iso(handle)
    try:
        label = iso_label(handle)
        efi = _iso_get(iso, "/EFI/BOOT/BOOTX64.EFI")
        isolinux = _iso_get(iso, "/isolinux/isolinux.cfg") or \
            _iso_get(iso, "/boot/x86_64/loader/isolinux.cfg")
        grub = _iso_get(iso, "/EFI/BOOT/grub.cfg")
        out = {"kind": "iso", "label": label, "installer": None,
               "boot": {"bios": isolinux is not None, "uefi": efi is not None,
                        "signed": efi is not None and efi.startswith(EFI_SIGNED)}}
        release, family = None, None
        treeinfo = _iso_get(iso, "/.treeinfo")
        products = _iso_get(iso, "/media.1/products")
        if treeinfo is not None:
            family, release = "anaconda", _release_of_treeinfo(treeinfo.decode("utf-8", "replace"))
        elif products is not None:
            family, release = "yast", _release_of_products(products.decode("utf-8", "replace"))
        if release is not None:
            out["installer"] = {
                "family": family, "release": release, "os": dict(RELEASES[release]["os"]),
                "kernel": RELEASES[release]["kernel"],
                "boot_args": {"bios": _kernel_line((isolinux or b"").decode("utf-8", "replace"), ("append",)),
                              "uefi": _kernel_line((grub or b"").decode("utf-8", "replace"),
                                                   ("linux", "linuxefi"))}}
        return out
    finally:
        iso.close()


def _release_of_treeinfo(text):
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text)
        short, version = parser["release"]["short"], parser["release"]["version"]
    except (configparser.Error, KeyError):
        return None
    key = "%s-%s" % (short.lower(), version.split(".")[0])
    return key if key in RELEASES else None


def _release_of_products(text):
    """``/ SLES 15.6-0`` (path, product, version-release) -> "sles-15"."""
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] == "SLES":
            key = "sles-%s" % words[2].split(".")[0]
            return key if key in RELEASES else None
    return None


# --- building ISOs --------------------------------------------------------------------------

def _d_characters(text):
    return re.sub(r"[^A-Z0-9_]", "_", text.upper())


def _iso9660_name(part, is_file, taken, parent):
    """An ISO 9660 level 3 name for ``part`` (``NAME.EXT;1`` for files, d-characters only),
    unique in its directory; the real name goes into the Rock Ridge and Joliet records."""
    stem, dot, ext = part.rpartition(".") if is_file and "." in part.lstrip(".") else (part, "", "")
    stem, ext = _d_characters(stem)[:24] or "_", _d_characters(ext)[:3]
    for counter in range(1000):
        base = stem if counter == 0 else "%s%d" % (stem[:20], counter)
        name = (base + "." + ext + ";1") if is_file else base
        if parent + "/" + name not in taken:
            return name
    raise ValueError("too many names like %s" % part)


def build_iso(files, label):
    """A real ISO 9660 volume (Joliet and Rock Ridge names) holding ``files`` ({path: bytes});
    returns its bytes."""
    iso = pycdlib.PyCdlib()
    joliet = 3 if len(label) <= 16 else None     # a Joliet volume id holds 16 characters
    iso.new(interchange_level=3, joliet=joliet, rock_ridge="1.09", vol_ident=label)
    iso_paths = {"": ""}       # real directory path -> its ISO 9660 path
    for path in sorted(files):
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            real = "/" + "/".join(parts[:depth])
            if real in iso_paths:
                continue
            parent = iso_paths["/" + "/".join(parts[:depth - 1]) if depth > 1 else ""]
            is_file = depth == len(parts)
            name = _iso9660_name(parts[depth - 1], is_file, set(iso_paths.values()), parent)
            iso_paths[real] = parent + "/" + name
            if is_file:
                data = files[path]
                iso.add_fp(io.BytesIO(data), len(data), iso_paths[real], rr_name=parts[-1],
                           joliet_path=real if joliet else None)
            else:
                iso.add_directory(iso_paths[real], rr_name=parts[depth - 1],
                                  joliet_path=real if joliet else None)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    return out.getvalue()


def installer_files(release, family, label):
    """The files of an installer ISO for ``release`` (see the module docstring)."""
    facts = RELEASES[release]["os"]
    if family == "anaconda":
        stage2 = "inst.stage2=hd:LABEL=%s" % label
        treeinfo = ("[header]\ntype = productmd.treeinfo\nversion = 1.2\n\n"
                    "[general]\nfamily = %(name)s\nversion = %(version)s\narch = x86_64\n"
                    "name = %(name)s %(version)s\n\n"
                    "[release]\nname = %(name)s\nshort = %(short)s\nversion = %(version)s\n"
                    % {"name": facts["NAME"], "version": facts["VERSION_ID"],
                       "short": {"rhel": "RHEL", "rocky": "Rocky"}[facts["ID"]]})
        return {
            "/.treeinfo": treeinfo.encode(),
            "/isolinux/isolinux.cfg": ("default vesamenu.c32\ntimeout 600\n\n"
                                       "label linux\n  menu label ^Install %s\n"
                                       "  kernel vmlinuz\n  append initrd=initrd.img %s quiet\n"
                                       % (facts["PRETTY_NAME"], stage2)).encode(),
            "/isolinux/vmlinuz": b"XAPISIM-VMLINUZ installer\n",
            "/isolinux/initrd.img": b"XAPISIM-INITRD installer\n",
            "/EFI/BOOT/BOOTX64.EFI": EFI_SIGNED,
            "/EFI/BOOT/grub.cfg": ("set default=\"0\"\nset timeout=60\n\n"
                                   "menuentry 'Install %s' --class fedora {\n"
                                   "\tlinuxefi /images/pxeboot/vmlinuz %s quiet\n"
                                   "\tinitrdefi /images/pxeboot/initrd.img\n}\n"
                                   % (facts["PRETTY_NAME"], stage2)).encode(),
            "/images/pxeboot/vmlinuz": b"XAPISIM-VMLINUZ installer\n",
            "/images/pxeboot/initrd.img": b"XAPISIM-INITRD installer\n",
        }
    return {
        "/media.1/products": ("/ SLES %s-0\n" % facts["VERSION_ID"]).encode(),
        "/media.1/media": b"SUSE - SLE-15-SP6-Full-x86_64\n",
        "/boot/x86_64/loader/isolinux.cfg": b"default harddisk\n\nlabel linux\n  kernel linux\n"
                                            b"  append initrd=initrd splash=silent showopts\n",
        "/boot/x86_64/loader/linux": b"XAPISIM-VMLINUZ installer\n",
        "/boot/x86_64/loader/initrd": b"XAPISIM-INITRD installer\n",
        "/EFI/BOOT/BOOTX64.EFI": EFI_SIGNED,
        "/EFI/BOOT/grub.cfg": b"set default=0\nset timeout=60\n\n"
                              b"menuentry 'Installation' --class opensuse {\n"
                              b"  linuxefi /boot/x86_64/loader/linux splash=silent showopts\n"
                              b"  initrdefi /boot/x86_64/loader/initrd\n}\n",
    }


def write_iso(path, release, family, label):
    with open(path, "wb") as handle:
        handle.write(build_iso(installer_files(release, family, label), label))
    return path


def write_samples(directory):
    """Every sample disk and installer ISO into ``directory``; returns the file names."""
    os.makedirs(directory, exist_ok=True)
    for name, (release, boot, cloud_init, agent) in DISKS.items():
        write_disk(os.path.join(directory, name), system(release, boot, cloud_init, agent,
                                                         name=os.path.splitext(name)[0]))
    for name, (release, family, label) in ISOS.items():
        write_iso(os.path.join(directory, name), release, family, label)
    for name, (label, files) in ANSWER_VOLUMES.items():
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(build_iso({path: text.encode() for path, text in files.items()}, label))
    return sorted(DISKS) + sorted(ISOS) + sorted(ANSWER_VOLUMES)
