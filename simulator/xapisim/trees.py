"""Sample network install trees: the files eliloader downloads, with deterministic contents.

A tree is named ``<distro>-<version>-<arch>`` (``rhel-5.1-x86_64``) and holds the installer
kernel and ramdisk at the paths eliloader fetches (reference section 5; eliloader
``rhel_first_boot_handler`` / ``sles_first_boot_handler``):

    RHEL, CentOS   images/xen/vmlinuz, images/xen/initrd.img      + .treeinfo
    SLES x86_64    boot/x86_64/vmlinuz-xen, boot/x86_64/initrd-xen  + content
    SLES i386      boot/i386/vmlinuz-xenpae, boot/i386/initrd-xenpae + content

Contents are defined once, here (``payload``), so every tree of a name is byte-identical
wherever it is built and ``KNOWN_MD5`` is the checksum table the simulated eliloader uses to
tell CentOS from RHEL (SDK guide 5.2.4: "some MD5 checksums are different which eliloader
recognizes"). The collection must not import this module (it runs against real pools): it
carries the same MD5s as literals, and tests/unit/simulator/test_trees.py checks they agree.

``xapisim make-tree``, ``xapisim make-trees`` and ``xapisim serve-trees`` (cli.py) wrap
``write_tree``, ``write_samples`` and ``TreeServer``.
"""
import contextlib
import functools
import hashlib
import http.server
import os
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


def _marker(distro, version, arch):
    facts = RELEASES[(distro, version)]
    kernel, ramdisk = boot_paths(distro, version, arch)
    if facts["flow"] == "sleslike":
        major, service_pack = version.split("sp")
        return "content", (
            "PRODUCT %s %s\nVERSION %s-%s\nLABEL %s %s SP%s\n"
            "VENDOR SUSE LINUX Products GmbH, Nuernberg, Germany\n"
            "ARCH.%s %s noarch\nDEFAULTBASE %s\nDESCRDIR suse/setup/descr\nDATADIR suse\n"
            % (facts["family"], major, major, service_pack, facts["family"], major, service_pack,
               arch, arch, arch))
    return ".treeinfo", (
        "[general]\nfamily = %s\nversion = %s\narch = %s\ndiscnum = 1\ntotaldiscs = 1\n\n"
        "[images-xen]\nkernel = %s\ninitrd = %s\n" % (facts["family"], version, arch, kernel, ramdisk))


def tree_files(distro, version, arch):
    """{relative path: bytes} of the whole tree."""
    kernel, ramdisk = boot_paths(distro, version, arch)
    marker, text = _marker(distro, version, arch)
    return {kernel: payload(distro, version, arch, "kernel"),
            ramdisk: payload(distro, version, arch, "ramdisk"),
            marker: text.encode("ascii")}


@functools.lru_cache(maxsize=None)
def _md5_table():
    return {tree_name(*key): {"kernel": hashlib.md5(payload(*key, "kernel")).hexdigest(),
                              "ramdisk": hashlib.md5(payload(*key, "ramdisk")).hexdigest()}
            for key in ALL_TREES}


# {"rhel-5.1-x86_64": {"kernel": md5 hex, "ramdisk": md5 hex}, ...} for every known tree.
KNOWN_MD5 = _md5_table()


def identify(kernel_md5=None, ramdisk_md5=None):
    """(distro, version, arch) of the known tree a kernel or ramdisk MD5 belongs to, or None."""
    for (distro, version, arch) in ALL_TREES:
        sums = KNOWN_MD5[tree_name(distro, version, arch)]
        if kernel_md5 == sums["kernel"] or ramdisk_md5 == sums["ramdisk"]:
            return distro, version, arch
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
    """A minimal AutoYaST profile; ``final`` is "reboot" (the default) or "halt"."""
    halt = "true" if final == "halt" else "false"
    return ('<?xml version="1.0"?>\n<!DOCTYPE profile>\n'
            '<profile xmlns="http://www.suse.com/1.0/yast2ns" '
            'xmlns:config="http://www.suse.com/1.0/configns">\n'
            '  <general><mode><confirm config:type="boolean">false</confirm>'
            '<final_halt config:type="boolean">%s</final_halt></mode></general>\n'
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
