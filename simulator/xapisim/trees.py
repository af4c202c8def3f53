"""Sample network install trees: the files eliloader downloads and the metadata files real
trees carry, with deterministic contents.

A tree is named ``<distro>-<version>-<arch>`` (``rhel-5.1-x86_64``) and holds the installer
kernel and ramdisk at the paths eliloader fetches (reference section 5; eliloader
``rhel_first_boot_handler`` / ``sles_first_boot_handler``), and the files that say what the tree
is, modelled on the vendors' own:

    RHEL, CentOS 5   images/xen/vmlinuz, images/xen/initrd.img   + .treeinfo, .discinfo
    RHEL, CentOS 4   images/xen/vmlinuz, images/xen/initrd.img   + .discinfo
    SLES x86_64      boot/x86_64/vmlinuz-xen, boot/x86_64/initrd-xen  + content
    SLES i386        boot/i386/vmlinuz-xenpae, boot/i386/initrd-xenpae + content

``.treeinfo`` (anaconda/pungi): ``[general]`` family ("CentOS", "Red Hat Enterprise Linux
Server"), version, arch, packagedir, ``[images-xen]``. ``.discinfo``: timestamp, product and
release ("Red Hat Enterprise Linux Server 5.1"), arch, disc numbers, package directories.
``content`` (SUSE media): SLES 10's PRODUCT / VERSION 10.1-0 / LABEL / DEFAULTBASE, SLES 11's
CONTENTSTYLE 11 / LABEL / NAME SUSE_SLES / VERSION 11.3 / BASEARCHS (i586 for 32-bit).

Contents are defined once, here (``payload``, ``metadata``), so every tree of a name is
byte-identical wherever it is built. The simulated installer tells the release (and RHEL from
CentOS) by the tree's metadata (``identify``), as anaconda and YaST do, never by checksums: a
hand-made tree with other kernel bytes installs as what its metadata says. The collection
imports nothing from here; tests/unit/plugins/test_no_simulator_data.py checks that none of
the sample trees' digests (``sample_digests``) appear in plugins/ or roles/.

``xapisim make-tree``, ``xapisim make-trees`` and ``xapisim serve-trees`` (cli.py) wrap
``write_tree``, ``write_samples`` and ``TreeServer``.
"""
import configparser
import contextlib
import functools
import hashlib
import http.server
import os
import re
import threading

ARCHES = ("i386", "x86_64")

# (distro, version) -> facts about the release: the installer flow it takes (eliloader
# install-distro), the kernel its installer puts on the disk, its /etc release file, and whether
# that installer writes a usable /boot/grub/menu.lst (SLES 9/10 do not: eliloader round 2 and
# SDK guide 5.2.3; SLES 11 does). The releases are the ones the collection has install
# profiles for (plugins/module_utils/_profiles.py VERSIONS).
_EL = {"4.5": "2.6.9-55.EL", "4.6": "2.6.9-67.EL", "4.7": "2.6.9-78.EL", "4.8": "2.6.9-89.EL",
       "5.0": "2.6.18-8.el5", "5.1": "2.6.18-53.el5", "5.2": "2.6.18-92.el5",
       "5.3": "2.6.18-128.el5", "5.4": "2.6.18-164.el5"}
_SLES = {"10sp1": "2.6.16.46-0.12", "10sp2": "2.6.16.60-0.21", "11sp3": "3.0.76-0.11",
         "11sp4": "3.0.101-63"}


def _el_release(distro, version):
    major, minor = version.split(".")
    if distro == "centos":
        return "CentOS release %s (Final)" % (major if minor == "0" else version)
    if major == "4":
        return "Red Hat Enterprise Linux AS release 4 (Nahant Update %s)" % minor
    return "Red Hat Enterprise Linux Server release %s (Tikanga)" % (major if minor == "0" else version)


RELEASES = {}
for _distro, _family in (("rhel", "Red Hat Enterprise Linux Server"), ("centos", "CentOS")):
    for _version, _kernel in _EL.items():
        RELEASES[(_distro, _version)] = dict(flow="rhlike", kernel=_kernel, family=_family,
                                             release=_el_release(_distro, _version), menu_lst=True)
for _version, _kernel in _SLES.items():
    _major, _sp = _version.split("sp")
    RELEASES[("sles", _version)] = dict(
        flow="sleslike", kernel=_kernel, family="SUSE Linux Enterprise Server",
        release="SUSE Linux Enterprise Server %s (%%(arch)s)\nVERSION = %s\nPATCHLEVEL = %s"
                % (_major, _major, _sp),
        menu_lst=_major != "10")
DISTROS = sorted({distro for distro, _ in RELEASES})
VERSIONS = sorted({version for _, version in RELEASES})
# Every tree ``identify`` and ``KNOWN_MD5`` know: each release, both architectures.
ALL_TREES = [(distro, version, arch) for (distro, version) in sorted(RELEASES) for arch in ARCHES]
# The sample set ``make-trees`` writes (``--all``: ALL_TREES).
SAMPLES = [(distro, version, arch)
           for distro, version in (("rhel", "5.0"), ("rhel", "5.1"), ("centos", "4.5"),
                                   ("centos", "5.0"), ("sles", "10sp1"))
           for arch in ARCHES]


def release_text(distro, version, arch):
    """The installed system's /etc/redhat-release or /etc/SuSE-release."""
    return RELEASES[(distro, version)]["release"] % {"arch": arch} + "\n"


def tree_name(distro, version, arch):
    return "%s-%s-%s" % (distro, version, arch)


def _check(distro, version, arch):
    if (distro, version) not in RELEASES:
        raise ValueError("no sample tree for %s %s (have: %s)" % (
            distro, version, ", ".join("%s %s" % k for k in sorted(RELEASES))))
    if arch not in ARCHES:
        raise ValueError("arch must be one of %s, got %r" % (", ".join(ARCHES), arch))


def boot_paths(distro, version, arch):
    """(kernel path, ramdisk path) inside the tree, where eliloader looks for them."""
    _check(distro, version, arch)
    if RELEASES[(distro, version)]["flow"] == "sleslike":
        suffix = "xen" if arch == "x86_64" else "xenpae"
        return ("boot/%s/vmlinuz-%s" % (arch, suffix), "boot/%s/initrd-%s" % (arch, suffix))
    return ("images/xen/vmlinuz", "images/xen/initrd.img")


def uname(distro, version, arch):
    """``uname -r`` of the kernel the release's installer puts on the disk."""
    _check(distro, version, arch)
    kernel = RELEASES[(distro, version)]["kernel"]
    if distro == "sles":
        return kernel + ("-xen" if arch == "x86_64" else "-xenpae")
    if kernel.endswith(".EL"):          # EL4: kernel-xenU
        return kernel + "xenU"
    return kernel + "xen"               # EL5: kernel-xen


HEADER = "XAPISIM-%s %s %s %s uname=%s\n"


def payload(distro, version, arch, filename):
    """The bytes of the tree's ``kernel`` or ``ramdisk`` (``filename``): ASCII, deterministic.

    A one-line header naming the release (simulated guests read it) and lines of SHA-256
    hex derived from it, so every tree has distinct MD5s (4 KiB kernel, 8 KiB ramdisk).
    """
    _check(distro, version, arch)
    if filename not in ("kernel", "ramdisk"):
        raise ValueError("filename must be 'kernel' or 'ramdisk', got %r" % filename)
    header = HEADER % (filename.upper(), distro, version, arch, uname(distro, version, arch))
    lines = 64 if filename == "kernel" else 128
    body = "".join(hashlib.sha256(("%s%d" % (header, i)).encode()).hexdigest() + "\n"
                   for i in range(lines))
    return (header + body).encode("ascii")


def parse_header(data):
    """(role, distro, version, arch, uname) from a payload's first line, or None."""
    line = data[:200].split(b"\n", 1)[0].decode("ascii", "replace")
    parts = line.split()
    if len(parts) != 5 or not parts[0].startswith("XAPISIM-") or not parts[4].startswith("uname="):
        return None
    return (parts[0][len("XAPISIM-"):].lower(), parts[1], parts[2], parts[3],
            parts[4][len("uname="):])


_PACKAGE_DIRS = {"rhel4": "RedHat", "centos4": "CentOS", "rhel5": "Server", "centos5": "CentOS"}


def _timestamp(distro, version):
    """A fixed compose time per release (the metadata's line 1 / timestamp)."""
    return 1110000000 + 1000 * sorted(RELEASES).index((distro, version))


def metadata(distro, version, arch):
    """{file name: text} of the tree's own metadata (see the module docstring)."""
    _check(distro, version, arch)
    facts = RELEASES[(distro, version)]
    kernel, ramdisk = boot_paths(distro, version, arch)
    major = version.split(".")[0].split("sp")[0]
    if facts["flow"] == "sleslike":
        service_pack = version.partition("sp")[2]
        label = "%s %s%s" % (facts["family"], major, " SP" + service_pack if service_pack else "")
        base_arch = "i586" if arch == "i386" else arch
        if major == "10":
            return {"content": (
                "PRODUCT %s\nVERSION %s.%s-0\nLABEL %s\n"
                "VENDOR SUSE Linux Products GmbH, Nuernberg, Germany\n"
                "ARCH.%s %s noarch\nDEFAULTBASE %s\nDESCRDIR suse/setup/descr\nDATADIR suse\n"
                % (facts["family"], major, service_pack or "0", label,
                   "i686" if arch == "i386" else arch, "i686 i586 i486 i386" if arch == "i386" else arch, base_arch))}
        return {"content": (
            "CONTENTSTYLE 11\nDATADIR suse\nDESCRDIR suse/setup/descr\nDISTRIBUTION SUSE_SLE\n"
            "LABEL %s\nNAME SUSE_SLES\nSUMMARY %s\nVENDOR SUSE LINUX Products GmbH, Nuernberg, Germany\n"
            "VERSION %s%s\nBASEARCHS %s\n" % (label, label, major, "." + service_pack if service_pack else "", base_arch))}
    packages = _PACKAGE_DIRS[distro + major]
    product = "Red Hat Enterprise Linux AS" if distro + major == "rhel4" else facts["family"]
    stamp = _timestamp(distro, version)
    files = {".discinfo": "%d.%06d\n%s %s\n%s\n1\n%s/base\n%s/RPMS\n%s/pixmaps\n" % (
        stamp, stamp % 999983, product, version, arch, packages, packages, packages)}
    if major != "4":    # anaconda wrote .treeinfo from EL 5 on
        files[".treeinfo"] = (
            "[general]\nfamily = %s\ntimestamp = %d.%02d\ntotaldiscs = 1\nversion = %s\ndiscnum = 1\n"
            "packagedir = %s\narch = %s\n\n[images-%s]\nkernel = images/pxeboot/vmlinuz\n"
            "initrd = images/pxeboot/initrd.img\nboot.iso = images/boot.iso\n\n"
            "[images-xen]\nkernel = %s\ninitrd = %s\n\n[stage2]\nmainimage = images/stage2.img\n"
            % (facts["family"], stamp, stamp % 97, version, packages, arch, arch, kernel, ramdisk))
    return files


def tree_files(distro, version, arch):
    """{relative path: bytes} of the whole tree."""
    kernel, ramdisk = boot_paths(distro, version, arch)
    files = {kernel: payload(distro, version, arch, "kernel"),
             ramdisk: payload(distro, version, arch, "ramdisk")}
    files.update((name, text.encode("ascii")) for name, text in metadata(distro, version, arch).items())
    return files


@functools.lru_cache(maxsize=None)
def _md5_table():
    return {tree_name(*key): {"kernel": hashlib.md5(payload(*key, "kernel")).hexdigest(),
                              "ramdisk": hashlib.md5(payload(*key, "ramdisk")).hexdigest()}
            for key in ALL_TREES}


# {"rhel-5.1-x86_64": {"kernel": md5 hex, "ramdisk": md5 hex}, ...} for every known tree.
KNOWN_MD5 = _md5_table()


def sample_digests():
    """The md5 and sha256 hex of every file of every tree this module builds (simulator-only values)."""
    digests = set()
    for key in ALL_TREES:
        for data in tree_files(*key).values():
            digests.update((hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()))
    return digests


# --- telling a tree by its metadata, as the installers do ------------------------------------

_FAMILIES = (("Red Hat Enterprise Linux", "rhel"), ("CentOS", "centos"), ("SUSE Linux Enterprise Server", "sles"))
_ARCH_NAMES = {"i386": "i386", "i586": "i386", "i686": "i386", "x86_64": "x86_64"}


def _distro(product):
    return next((distro for name, distro in _FAMILIES if product.startswith(name)), None)


def _from_treeinfo(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(text)
    general = parser["general"]
    return _distro(general["family"]), general["version"].strip(), general["arch"].strip()


def _from_discinfo(text):
    lines = text.splitlines()
    product, _space, version = lines[1].strip().rpartition(" ")
    return _distro(product), version, lines[2].strip()


def _from_content(text):
    fields = {}
    for line in text.splitlines():
        key, _sep, value = line.strip().partition(" ")
        fields.setdefault(key, value.strip())
    label = re.match(r"^(.*?) ([0-9]+)(?: SP([0-9]+))?$", fields.get("LABEL", ""))
    arch = (fields.get("BASEARCHS") or fields.get("DEFAULTBASE") or "").split()
    return (_distro(label.group(1)), label.group(2) + ("sp" + label.group(3) if label.group(3) else ""),
            arch[0] if arch else "")


def identify(read):
    """(distro, version, arch) of a known release from the tree's metadata, or None.

    ``read(path)`` returns a file of the tree (bytes) or None; .treeinfo is read first, then
    .discinfo (EL 4 has only that), then SUSE's content.
    """
    for filename, parse in ((".treeinfo", _from_treeinfo), (".discinfo", _from_discinfo), ("content", _from_content)):
        data = read(filename)
        if data is None:
            continue
        try:
            distro, version, arch = parse(data.decode("utf-8", "replace"))
        except (configparser.Error, AttributeError, KeyError, IndexError, ValueError):
            return None
        arch = _ARCH_NAMES.get(arch)
        return (distro, version, arch) if (distro, version) in RELEASES and arch else None
    return None


def write_tree(directory, distro, version, arch):
    """Write one tree into ``directory`` (created if needed); returns the paths written."""
    _check(distro, version, arch)
    written = []
    for relative, data in sorted(tree_files(distro, version, arch).items()):
        path = os.path.join(directory, *relative.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
        written.append(path)
    return written


# --- answer files (samples for the demo and tests; not part of a real tree) -------------------

def sample_kickstart(finish="reboot", extra=""):
    """A minimal kickstart; ``finish`` is its last command (reboot, poweroff, halt or "")."""
    return ("install\ntext\nlang en_US.UTF-8\nkeyboard us\nrootpw --iscrypted $1$xapisim$\n"
            "bootloader --location=mbr\nclearpart --all --initlabel\nautopart\n%s%s\n"
            "%%packages\n@base\n" % (extra, finish))


def sample_autoyast(final="reboot"):
    """A minimal AutoYaST profile; ``final`` is "reboot" (the default) or "halt" (stage 1 ends
    with a power-off, general/mode/halt)."""
    halt = "true" if final == "halt" else "false"
    return ('<?xml version="1.0"?>\n<!DOCTYPE profile>\n'
            '<profile xmlns="http://www.suse.com/1.0/yast2ns" '
            'xmlns:config="http://www.suse.com/1.0/configns">\n'
            '  <general><mode><confirm config:type="boolean">false</confirm>'
            '<halt config:type="boolean">%s</halt></mode></general>\n'
            '</profile>\n' % halt)


def write_samples(directory, everything=False):
    """The sample trees (``everything``: all known trees) under ``directory/<name>/``, plus
    ``answers/`` with sample answer files; returns the tree names."""
    names = []
    for distro, version, arch in (ALL_TREES if everything else SAMPLES):
        name = tree_name(distro, version, arch)
        write_tree(os.path.join(directory, name), distro, version, arch)
        names.append(name)
    answers = os.path.join(directory, "answers")
    os.makedirs(answers, exist_ok=True)
    for filename, text in (("rhel-reboot.ks", sample_kickstart("reboot")),
                           ("rhel-poweroff.ks", sample_kickstart("poweroff")),
                           ("sles-reboot.xml", sample_autoyast("reboot")),
                           ("sles-halt.xml", sample_autoyast("halt"))):
        with open(os.path.join(answers, filename), "w", encoding="ascii") as handle:
            handle.write(text)
    return names


# --- a real local HTTP server for the trees ---------------------------------------------------

class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):     # quiet; requests are recorded on the server
        pass

    def send_head(self):
        self.server.requests.append(self.path)
        return super().send_head()


class TreeServer(http.server.ThreadingHTTPServer):
    """Serves ``directory`` over HTTP; ``requests`` lists the paths asked for."""
    daemon_threads = True

    def __init__(self, directory, host="127.0.0.1", port=0):
        self.directory = os.path.abspath(directory)
        self.requests = []
        super().__init__((host, port), functools.partial(_Handler, directory=self.directory))

    @property
    def url(self):
        host, port = self.server_address[:2]
        return "http://%s:%d" % (host, port)

    def start(self):
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True, name="xapisim-trees").start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()


@contextlib.contextmanager
def served(directory, host="127.0.0.1", port=0):
    """``with served(dir) as server: server.url`` -- the trees over HTTP, in this process."""
    server = TreeServer(directory, host, port).start()
    try:
        yield server
    finally:
        server.stop()
