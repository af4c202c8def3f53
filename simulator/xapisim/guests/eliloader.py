"""eliloader, XenServer 4.1's (the old one: rhlike installs in 1 round, sleslike in 2; the
reference's section 5 and eliloader.py).

Round 1 downloads the installer kernel and ramdisk from other_config install-repository,
recognises the tree by their MD5s (xapisim.trees) and boots them with ``method=<repo>/``
(rhlike) or `` install=<repo>/ maxcpus=1`` (sleslike) appended to PV_args; rhlike then
switches PV_bootloader to pygrub at once. SLES round 2 emulates SUSE's domUloader: no usable
menu.lst on the disk -> find /vmlinuz-xen or /boot/vmlinuz-xen (-xenpae on i386), set
PV_bootloader_args, switch to pygrub, run it.

The installer kernel boots (KERNEL_BOOT_SECONDS) and fetches the ks=/autoyast= answer file
named in its command line; none or unreachable -> hangs ("installer-waiting-for-answer-file",
forever); else it installs (install.py).
"""
import hashlib
import os
import re
import urllib.error
import urllib.parse
import urllib.request

from .. import trees
from ..errors import XapiError
from .install import INSTALL_SECONDS, _answer_finish, _answer_network, _autoyast_final_halt
from .pygrub import _PygrubFailed

REPOSITORY = re.compile(r"^(cdrom$|https?://|ftp://|nfs:)")
# eliloader (old, XenServer 4.1): rounds per install-distro.
ROUNDS = {"rhlike": 1, "sleslike": 2, "debianlike": 1, "pygrub": 1}
KERNEL_BOOT_SECONDS = 20.0      # installer kernel up, looking for its answer file
FETCH_TIMEOUT = 5.0             # real seconds for each download


class _NotFound(Exception):
    pass


def _fetch_or_none(fetch, url):
    try:
        return fetch(url)
    except _NotFound:
        return None


def _bootloader_failed(vm, exname, text=""):
    """BOOTLOADER_FAILED [vm, msg]: msg is what eliloader prints (APILevelException.apifmt)."""
    return XapiError("BOOTLOADER_FAILED", vm, "%s\n%s" % (exname, text + "\n" if text else ""))


class EliloaderBoot:
    def prepare(self, call, vm):
        """The part of a boot done without the database lock: eliloader's round-1 downloads.

        Returns a plan for ``boot`` (or None when the boot needs nothing fetched); raises
        BOOTLOADER_FAILED as eliloader would for a repository it cannot use.
        """
        with self.db.lock:
            record = self.db.get("VM", vm)
            if record["HVM_boot_policy"] or record["PV_bootloader"] != "eliloader":
                return None
            config = self._eli_config(vm, record)
            if config["round"] != 1:
                return None
            cd_files = self._cd_files(vm) if config["repository"] == "cdrom" else None
        return {"config": config, "fetched": self._fetch_installer(vm, config, cd_files)}

    # --- eliloader -----------------------------------------------------------------------
    def _eli_config(self, vm, record):
        """canonicaliseOtherConfig plus eliloader main()'s checks."""
        other = record["other_config"]
        distro = other.get("install-distro", "rhlike")
        if distro not in ROUNDS:
            raise _bootloader_failed(vm, "UNSUPPORTED_INSTALL_METHOD",
                                     "Distribution '%s' is not supported." % distro)
        try:
            current = int(other.get("install-round", "1"))
        except ValueError:
            raise _bootloader_failed(vm, "INTERNAL_ERROR", "invalid install-round %r"
                                     % other.get("install-round")) from None
        repository = other.get("install-repository", "")
        if current == 1 and not REPOSITORY.match(repository):
            raise _bootloader_failed(
                vm, "UNSUPPORTED_INSTALL_METHOD",
                "other-config:install-repository was not set to an appropriate value, "
                "and this is required for the selected distribution type.")
        if current not in (1, 2):
            raise _bootloader_failed(vm, "INTERNAL_ERROR", "install-round %d: nothing to boot" % current)
        return {"repository": repository, "distro": distro, "round": current,
                "arch": other.get("install-arch", "i386"),
                "vnc": other.get("install-vnc", "false") in ("1", "true"),
                "vncpasswd": other.get("install-vncpasswd"),
                "proxy": other.get("install-proxy"),
                "kernel": other.get("install-kernel"), "ramdisk": other.get("install-ramdisk"),
                "debian_release": other.get("debian-release")}

    def _cd_files(self, vm):
        for vbd in self.db.get("VM", vm)["VBDs"]:
            record = self.db.get("VBD", vbd)
            if record["type"] == "CD" and not record["empty"] and record["VDI"] in self.disks():
                return dict(self.disks()[record["VDI"]])
        return None

    def _repo_base(self, vm, config, cd_files):
        repo = config["repository"]
        if repo == "cdrom":
            if cd_files is None:
                raise _bootloader_failed(vm, "INVALID_SOURCE", "cdrom repo: no installation media")
            return "cdrom:///"
        if repo.startswith("nfs"):
            return "file://%s/" % self._nfs_local(vm, repo)
        return repo if repo.endswith("/") else repo + "/"

    @staticmethod
    def _nfs_local(vm, repo):
        """The simulator cannot mount NFS: nfs:<loopback>:/dir reads /dir of this machine."""
        text = repo
        if text.startswith("nfs://"):
            server, _, path = text[6:].partition("/")
            text = "nfs:%s:/%s" % (server.rstrip(":"), path)
        parts = text.split(":", 2)
        if len(parts) != 3 or not parts[2].startswith("/"):
            raise _bootloader_failed(vm, "INVALID_SOURCE", "Directory part of NFS path was not an absolute path.")
        if parts[1] not in ("127.0.0.1", "localhost") or not os.path.isdir(parts[2]):
            raise _bootloader_failed(vm, "INVALID_SOURCE", "nfs repo %s" % repo)
        return parts[2].rstrip("/")

    def _fetcher(self, config, cd_files):
        handlers = [urllib.request.ProxyHandler({"http": config["proxy"]} if config.get("proxy") else {})]
        opener = urllib.request.build_opener(*handlers)

        def fetch(url):
            if url.startswith("cdrom:///"):
                data = (cd_files or {}).get("/" + url[len("cdrom:///"):])
                if data is None:
                    raise _NotFound(url)
                return data.encode("latin-1")
            if url.startswith("file://"):
                try:
                    with open(urllib.parse.unquote(url[len("file://"):]), "rb") as handle:
                        return handle.read()
                except OSError:
                    raise _NotFound(url) from None
            try:
                with opener.open(url, timeout=FETCH_TIMEOUT) as reply:
                    return reply.read()
            except (urllib.error.URLError, OSError, ValueError):
                raise _NotFound(url) from None
        return fetch

    def _fetch_installer(self, vm, config, cd_files):
        """Round 1: the installer kernel and ramdisk (eliloader *_first_boot_handler)."""
        base = self._repo_base(vm, config, cd_files)
        fetch = self._fetcher(config, cd_files)
        distro = config["distro"]
        missing = "Unable to access a required file in the specified repository: %s."
        if distro == "rhlike":
            kernel, ramdisk = "images/xen/vmlinuz", "images/xen/initrd.img"
            try:
                fetch(base + kernel)
            except _NotFound:
                kernel, ramdisk = "isolinux/vmlinuz", "isolinux/initrd.img"
        elif distro == "sleslike":
            suffix = "xen" if config["arch"] == "x86_64" else "xenpae"
            boot = "boot/x86_64/" if config["arch"] == "x86_64" else "boot/i386/"
            kernel, ramdisk = boot + "vmlinuz-" + suffix, boot + "initrd-" + suffix
            missing = "The repository specified did not contain a required file, %s."
        elif distro == "debianlike":
            if not config["debian_release"]:
                raise _bootloader_failed(
                    vm, "UNSUPPORTED_INSTALL_METHOD",
                    "other-config:debian-release was not set to an appropriate value, "
                    "and this is required for the selected distribution type.")
            images = "dists/%s/main/installer-%s/current/images/netboot/xen/" % (
                config["debian_release"], config["arch"])
            kernel, ramdisk = images + "vmlinuz", images + "initrd.gz"
        else:   # install-distro=pygrub: install-kernel / install-ramdisk inside the repository
            if not config["kernel"]:
                raise _bootloader_failed(vm, "INVALID_SOURCE",
                                         "install-distro=pygrub requires install-kernel for network boot")
            kernel, ramdisk = config["kernel"], config["ramdisk"]
        try:
            kernel_data = fetch(base + kernel)
            ramdisk_data = fetch(base + ramdisk) if ramdisk else b""
        except _NotFound as err:
            raise _bootloader_failed(vm, "INVALID_SOURCE", missing % err.args[0]) from None
        kernel_md5 = hashlib.md5(kernel_data).hexdigest()
        ramdisk_md5 = hashlib.md5(ramdisk_data).hexdigest() if ramdisk else ""
        # What gets installed is what the tree's metadata says it is, as anaconda / YaST read it
        # (.treeinfo, .discinfo, content), whatever the kernel's bytes.
        tree = trees.identify(lambda path: _fetch_or_none(fetch, base + path))
        if tree is None:        # no metadata we know: trust what the kernel says it is, if anything
            header = trees.parse_header(kernel_data)
            if header and (header[1], header[2]) in trees.RELEASES and header[3] in trees.ARCHES:
                tree = header[1:4]
        return {"kernel_url": base + kernel, "ramdisk_url": base + ramdisk if ramdisk else "",
                "kernel_md5": kernel_md5, "ramdisk_md5": ramdisk_md5,
                "tree": trees.tree_name(*tree) if tree else None}

    @staticmethod
    def _first_boot_args(pv_args, config):
        """eliloader handle_first_boot: PV_args, then the method=/install= for the repository."""
        repo = config["repository"]
        network = repo.startswith(("http", "ftp", "nfs"))
        if config["distro"] == "rhlike":
            if repo == "cdrom":
                extra = ""
            elif network and not repo.endswith("/"):
                extra = "method=%s/" % repo
            else:
                extra = "method=%s" % repo
        elif config["distro"] == "sleslike":
            extra = ""
            if repo == "cdrom":
                extra += " install=hd"
            elif network:
                extra += " install=%s/" % repo if not repo.endswith("/") else " install=%s" % repo
            extra += " maxcpus=1"
        else:
            extra = ""
        args = (pv_args + " " if pv_args else "") + " " + extra
        if config["vnc"]:
            args += " vnc"
        if config["vncpasswd"]:
            args += " vncpassword=%s" % config["vncpasswd"]
        return args

    def _update_rounds(self, vm, current, required):
        other = dict(self.db.get("VM", vm)["other_config"])
        other.pop("install-round", None)
        if current != required:
            other["install-round"] = str(current + 1)
        else:
            other.pop("install-distro", None)
        self.db.update("VM", vm, other_config=other)

    def eliloader(self, vm, record, plan=None):
        config = self._eli_config(vm, record)
        if config["round"] == 2:
            return self._second_boot(vm, config)
        if plan is None or plan["config"] != config:
            # Not prepared outside the lock (or the VM changed since): fetch now.
            plan = {"config": config, "fetched": self._fetch_installer(
                vm, config, self._cd_files(vm) if config["repository"] == "cdrom" else None)}
        fetched = plan["fetched"]
        if config["repository"] == "cdrom":
            # booting from the CD this time, from the first disk next time
            for vbd in record["VBDs"]:
                self.db.update("VBD", vbd, bootable=self.db.get("VBD", vbd)["userdevice"] == "0")
        if ROUNDS[config["distro"]] == 1:
            self.db.update("VM", vm, PV_bootloader="pygrub")
        self._update_rounds(vm, 1, ROUNDS[config["distro"]])
        state = self.state(vm)
        for key in ("answer", "uname", "ramdisk", "error"):
            state.pop(key, None)
        state.update(stage="installer", loader="eliloader", round=1, flow=config["distro"],
                     arch=config["arch"], repository=config["repository"],
                     kernel=fetched["kernel_url"], ramdisk=fetched["ramdisk_url"],
                     kernel_md5=fetched["kernel_md5"], ramdisk_md5=fetched["ramdisk_md5"],
                     tree=fetched["tree"], cmdline=self._first_boot_args(record["PV_args"], config),
                     remaining=KERNEL_BOOT_SECONDS)
        self._changed()

    def _second_boot(self, vm, config):
        """eliloader handle_second_boot: SLES's domUloader emulation, then pygrub."""
        if config["distro"] != "sleslike":
            raise _bootloader_failed(vm, "UNSUPPORTED_INSTALL_METHOD")
        files = self._boot_files(vm)
        try:
            self._pygrub_select(files, "")
        except _PygrubFailed:
            suffix = "xen" if config["arch"] == "x86_64" else "xenpae"
            kernel, initrd = "vmlinuz-" + suffix, "initrd-" + suffix
            for k, i in (("/" + kernel, "/" + initrd), ("/boot/" + kernel, "/boot/" + initrd)):
                try:
                    self._pygrub_select(files, "--kernel %s --ramdisk %s" % (k, i))
                except _PygrubFailed:
                    continue
                self.db.update("VM", vm, PV_bootloader_args="--kernel %s --ramdisk %s" % (k, i))
                break
        # switchBootloader + update_rounds happen even when nothing was found; pygrub then fails.
        self.db.update("VM", vm, PV_bootloader="pygrub")
        self._update_rounds(vm, 2, 2)
        self.pygrub(vm, self.db.get("VM", vm))
        self.state(vm).update(loader="eliloader", round=2)

    def _installer_started(self, vm, domid):
        """The installer kernel is up: fetch the answer file named on its command line."""
        with self.db.lock:
            cmdline = self.state(vm).get("cmdline", "")
        match = re.search(r"(?:^|\s)(ks|autoyast)=(\S+)", cmdline)
        text, error = None, "no ks= or autoyast= on the kernel command line"
        if match:
            url = match.group(2)
            if url.startswith("nfs:"):
                local = url.split(":", 2)
                url = "file://" + local[2] if len(local) == 3 and local[1] in (
                    "127.0.0.1", "localhost") else ""
            if url.startswith(("http://", "https://", "ftp://", "file://")):
                try:
                    text = self._fetcher({}, None)(url).decode("utf-8", "replace")
                except _NotFound:
                    error = "cannot fetch %s" % match.group(2)
            else:
                error = "cannot read %s" % match.group(2)
        with self.db.lock:
            if not self._alive(vm, domid):
                return False
            state = self.state(vm)
            finish = None if text is None else _answer_finish(match.group(1), text)
            if finish is None:
                if text is not None:
                    error = "%s is not a valid %s file" % (match.group(2), match.group(1))
                state.update(stage="installer-waiting-for-answer-file", error=error)
                state.pop("remaining", None)
                self._changed()
                return False
            state.update(stage="installing", remaining=INSTALL_SECONDS,
                         answer={"kind": "kickstart" if match.group(1) == "ks" else "autoyast",
                                 "url": match.group(2), "finish": finish,
                                 "final_halt": match.group(1) == "autoyast" and _autoyast_final_halt(text),
                                 "network": _answer_network(match.group(1), text)})
            self._changed()
        self._commit()
        return True
