"""What runs inside a started VM: the boot path, the guest's xenstore, and a guest model.

The boot path follows xapi (ocaml/xapi/helpers.ml boot_method_of_vm):
  HVM (HVM_boot_policy set)     -> firmware boots whatever the disks hold; no PV drivers.
  PV_bootloader ""              -> direct boot of PV_kernel / PV_ramdisk.
  PV_bootloader "pygrub"        -> reads the bootable disk; nothing bootable: BOOTLOADER_FAILED.
  PV_bootloader "eliloader"     -> the installer flow (install-repository must be valid).
  anything else                 -> UNKNOWN_BOOTLOADER [vm, bootloader].
Only keys under "vm-data/" (and "FIST/") of VM.xenstore_data reach the guest's xenstore
(xenopsd allowed_xsdata_prefixes); the rest stays in the record and is silently dropped.
A domain sees only its own /local/domain/<domid> subtree (SDK guide 5.4).

eliloader is XenServer 4.1's (the old one: rhlike installs in 1 round, sleslike in 2; the
reference's section 5 and eliloader.py): round 1 downloads the installer kernel and ramdisk
from other_config install-repository, recognises the tree by their MD5s (xapisim.trees) and
boots them with ``method=<repo>/`` (rhlike) or `` install=<repo>/ maxcpus=1`` (sleslike)
appended to PV_args; rhlike then switches PV_bootloader to pygrub at once. SLES round 2
emulates SUSE's domUloader: no usable menu.lst on the disk -> find /vmlinuz-xen or
/boot/vmlinuz-xen (-xenpae on i386), set PV_bootloader_args, switch to pygrub, run it.

A guest then lives in a background thread on the simulator's clock (``sim.clock``):
  installer   kernel boots (KERNEL_BOOT_SECONDS), fetches the ks=/autoyast= answer file named
              in its command line; none or unreachable -> hangs ("installer-waiting-for-
              answer-file", forever); else installs (INSTALL_SECONDS), writes the system onto
              its disk (with a static eth0 address when the answer file gives one), and
              reboots / powers off / waits as the answer file says.
  booting     a pygrub-booted installed system; after BOOT_SECONDS it is "booted" and
              publishes VM_guest_metrics (os_version from its release file, uname of the
              booted kernel). PV drivers and networks only once xs-tools are installed; eth0
              reports its static address (ifcfg-eth0 on the disk), else a DHCP-style one.
  xs-tools    inserting xs-tools.iso into a booted guest installs the guest utilities
              (TOOLS_SECONDS); RHEL/CentOS also get XenServer's kernel as the new grub
              default, which the next boot runs.
Every change goes through the database (events for event.from) and is committed. Hidden
state (stage, kernel command line, disk contents) is in ``db.hidden`` and read by tests via
``inspect``; no API exposes it.
"""
import copy
import hashlib
import os
import re
import shlex
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.dom.minidom

from . import trees
from .db import new_uuid
from .errors import XapiError
from .model import NULL_REF

XS_PREFIXES = ("vm-data/", "FIST/")
REPOSITORY = re.compile(r"^(cdrom$|https?://|ftp://|nfs:)")
# eliloader (old, XenServer 4.1): rounds per install-distro.
ROUNDS = {"rhlike": 1, "sleslike": 2, "debianlike": 1, "pygrub": 1}

# Simulated seconds on the simulator's clock.
KERNEL_BOOT_SECONDS = 20.0      # installer kernel up, looking for its answer file
INSTALL_SECONDS = 300.0         # the installer's work
BOOT_SECONDS = 30.0             # installed system from pygrub to a running userland
TOOLS_SECONDS = 60.0            # xs-tools install from the inserted ISO
STEP_SECONDS = 5.0              # granularity of a guest's progress (paused time is not counted)
FETCH_TIMEOUT = 5.0             # real seconds for each download

# Stages a guest thread is working through (resumed after suspend/resume or a restart).
BUSY_STAGES = ("installer", "installing", "booting")
GRUB_CONFIGS = ("/boot/grub/menu.lst", "/boot/grub/grub.conf", "/grub/menu.lst", "/grub/grub.conf")
TOOLS_MARK = "/usr/sbin/xe-update-guest-attrs"
TOOLS_VERSION = {"major": "4", "minor": "1", "micro": "0", "build": "0"}
XS_KERNEL_TAG = ".xs4.1.0"
NETWORK_PREFIXES = ("192.0.2", "198.51.100", "203.0.113")     # RFC 5737 documentation ranges
# Where the installer writes eth0's static configuration, per install flow.
IFCFG_ETH0 = {"rhlike": "/etc/sysconfig/network-scripts/ifcfg-eth0",
              "sleslike": "/etc/sysconfig/network/ifcfg-eth0"}


class _NotFound(Exception):
    pass


class _PygrubFailed(Exception):
    pass


def _bootloader_failed(vm, exname, text=""):
    """BOOTLOADER_FAILED [vm, msg]: msg is what eliloader prints (APILevelException.apifmt)."""
    return XapiError("BOOTLOADER_FAILED", vm, "%s\n%s" % (exname, text + "\n" if text else ""))


class _Ctx:
    """What vm.set_power/halt need of a call, for changes the guest itself makes."""

    def __init__(self, sim):
        self.sim = sim
        self.db = sim.db


class Guests:
    def __init__(self, sim):
        self.sim = sim
        self.db = sim.db
        self._closed = threading.Event()

    # --- state kept beside the database (persisted with it, never exposed by the API) ---
    def state(self, vm):
        return self.db.hidden.setdefault("guests", {}).setdefault(vm, {})

    def xenstore(self, vm):
        return self.db.hidden.setdefault("xenstore", {}).setdefault(vm, {})

    def disks(self):
        """{VDI ref: {path: text}}: what simulated disks (and CDs) hold."""
        return self.db.hidden.setdefault("disks", {})

    def forget(self, vm):
        self.db.hidden.get("guests", {}).pop(vm, None)
        self.db.hidden.get("xenstore", {}).pop(vm, None)

    # --- accessors for tests and tools (no XenAPI equivalent) ------------------------------
    def inspect(self, vm):
        """A copy of the guest's hidden state: stage, cmdline, kernel, uname, tree, answer..."""
        with self.db.lock:
            out = copy.deepcopy(self.db.hidden.get("guests", {}).get(vm, {}))
            out["xenstore"] = dict(self.db.hidden.get("xenstore", {}).get(vm, {}))
            return out

    def kernel_args(self, vm):
        """The command line the guest's kernel was booted with (eliloader's args included)."""
        return self.inspect(vm).get("cmdline")

    def disk_files(self, vm):
        """A copy of the files on the VM's boot disk ({path: text})."""
        with self.db.lock:
            vdi = self._boot_vdi(vm) or self._target_vdi(vm)
            return dict(self.disks().get(vdi, {})) if vdi else {}

    def write_disk(self, vdi, files):
        """Put files ({path: text or bytes}) on a VDI: an ISO's tree for cdrom installs, say."""
        with self.db.lock:
            self.db.get("VDI", vdi)
            self.disks()[vdi] = {("/" + path.lstrip("/")): (data.decode("latin-1") if isinstance(
                data, bytes) else data) for path, data in files.items()}
            self._changed()
        self.db.commit()

    def wait(self, vm, predicate, timeout=30.0):
        """Block until ``predicate(inspect(vm))`` is true; returns the state or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self.db.lock:
            while True:
                state = self.inspect(vm)
                if predicate(state):
                    return state
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("guest %s: %r" % (vm, state.get("stage")))
                self.db.changed.wait(min(remaining, 0.2))

    def close(self):
        """Stop every guest thread (they exit at their next step, saving nothing more): a
        stopped simulator's guests must not write its state file after a new one loaded it."""
        self._closed.set()

    def _commit(self):
        """Save what a guest thread changed (not once the simulator is closed)."""
        if not self._closed.is_set():
            self.db.commit()

    def _changed(self):
        """Hidden state changed: persist it on the next commit, wake waiters."""
        with self.db.lock:
            self.db.dirty = True
            self.db.changed.notify_all()

    # --- boot ---------------------------------------------------------------------------
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

    def boot(self, call, vm, plan=None):
        """Run the VM's boot path (database lock held); raise what xapi raises when it cannot."""
        record = self.db.get("VM", vm)
        if record["HVM_boot_policy"]:
            self.state(vm).update(stage="firmware")
            self._changed()
            return
        loader = record["PV_bootloader"]
        if loader == "":
            self.state(vm).update(stage="direct", kernel=record["PV_kernel"],
                                  cmdline=record["PV_args"])
            self._changed()
        elif loader == "pygrub":
            self.pygrub(vm, record)
        elif loader == "eliloader":
            self.eliloader(vm, record, plan)
        else:
            raise XapiError("UNKNOWN_BOOTLOADER", vm, loader)

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
        tree = trees.identify(kernel_md5, ramdisk_md5)
        if tree is None:        # not a known tree: trust what the kernel says it is, if anything
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

    # --- pygrub --------------------------------------------------------------------------
    def pygrub(self, vm, record):
        try:
            kernel, ramdisk, args = self._pygrub_select(self._boot_files(vm), record["PV_bootloader_args"])
        except _PygrubFailed as err:
            raise XapiError("BOOTLOADER_FAILED", vm, str(err)) from None
        files = self._boot_files(vm)
        match = re.search(r"uname=(\S+)", files.get(kernel, ""))
        state = self.state(vm)
        for key in ("answer", "tree", "kernel_md5", "ramdisk_md5", "repository", "error", "round"):
            state.pop(key, None)
        state.update(stage="booting", loader="pygrub", kernel=kernel, ramdisk=ramdisk or "",
                     cmdline=(args + " " + record["PV_args"]).strip(),
                     uname=match.group(1) if match else "unknown", remaining=BOOT_SECONDS)
        self._changed()

    @staticmethod
    def _pygrub_select(files, bootloader_args):
        """(kernel, ramdisk, args) pygrub boots from ``files``, or _PygrubFailed(message)."""
        if not files:
            raise _PygrubFailed("Unable to find partition containing kernel")
        try:
            words = shlex.split(bootloader_args or "")
        except ValueError:
            words = (bootloader_args or "").split()
        opts = {}
        for index, word in enumerate(words):
            for name in ("kernel", "ramdisk", "args", "entry"):
                if word == "--" + name and index + 1 < len(words):
                    opts[name] = words[index + 1]
                elif word.startswith("--%s=" % name):
                    opts[name] = word.split("=", 1)[1]
        if "kernel" in opts:
            for path in (opts["kernel"], opts.get("ramdisk")):
                if path and path not in files:
                    raise _PygrubFailed("[Errno 2] No such file or directory: '%s'" % path)
            return opts["kernel"], opts.get("ramdisk"), opts.get("args", "")
        config = next((path for path in GRUB_CONFIGS if path in files), None)
        if config is None:
            raise _PygrubFailed("couldn't find bootloader config file in the image provided.")
        default, entries = _parse_grub(files[config])
        if not entries:
            raise _PygrubFailed("no bootable entry in %s" % config)
        try:
            chosen = int(opts.get("entry", default))
        except ValueError:
            chosen = 0
        entry = entries[chosen if 0 <= chosen < len(entries) else 0]
        for path in (entry["kernel"], entry["initrd"]):
            if path and path not in files:
                raise _PygrubFailed("[Errno 2] No such file or directory: '%s'" % path)
        return entry["kernel"], entry["initrd"], entry["args"]

    # --- disks ---------------------------------------------------------------------------
    def _boot_vdi(self, vm):
        """The VDI of the VM's first bootable VBD (what xapi hands the bootloader), or None."""
        for vbd in self.db.get("VM", vm)["VBDs"]:
            record = self.db.get("VBD", vbd)
            if record["bootable"] and record["VDI"] != NULL_REF and not record["empty"]:
                return record["VDI"]
        return None

    def _target_vdi(self, vm):
        """The disk an installer writes: the bootable disk, else the lowest-numbered disk."""
        disks = []
        for vbd in self.db.get("VM", vm)["VBDs"]:
            record = self.db.get("VBD", vbd)
            if record["type"] == "Disk" and record["VDI"] != NULL_REF:
                disks.append((not record["bootable"], int(record["userdevice"])
                              if record["userdevice"].isdigit() else 99, record["VDI"]))
        return min(disks)[2] if disks else None

    def _boot_files(self, vm):
        vdi = self._boot_vdi(vm)
        return self.disks().get(vdi, {}) if vdi else {}

    def bootable_disk(self, vm):
        """The simulated filesystem of the VM's bootable disk (dict of path -> text), or None."""
        vdi = self._boot_vdi(vm)
        return self.disks().get(vdi) if vdi else None

    # --- the domain comes and goes ---------------------------------------------------------
    def started(self, call, vm, resumed=False):
        """The domain exists: write the allowed xenstore_data keys, start the guest's thread."""
        if not resumed:
            # xapi drops the guest metrics of the previous boot (Xapi_vm.start; on reboot those
            # older than the new start time): no stale IP until the agent reports again.
            self.forget_agent(vm)
            store = self.xenstore(vm)
            store.clear()
            data = self.db.get("VM", vm)["xenstore_data"]
            store.update({k: v for k, v in data.items() if k.startswith(XS_PREFIXES)})
        self._changed()
        self._spawn(vm)

    def stopped(self, call, vm, suspended=False, rebooting=False):
        """The domain is gone. Halting (not a suspend or reboot) drops the guest metrics,
        as xapi's force_state_reset does."""
        if suspended:
            return
        self.xenstore(vm).clear()
        state = self.state(vm)
        for key in ("stage", "remaining", "tools", "tools_remaining"):
            state.pop(key, None)
        if not rebooting:
            self.forget_agent(vm)
        self._changed()

    def revive(self):
        """After a reload: restart the threads of guests that were busy when the state was saved."""
        with self.db.lock:
            for vm, state in list(self.db.hidden.get("guests", {}).items()):
                if self.db.exists("VM", vm):
                    self._spawn(vm)

    def assert_cooperative(self, call, vm):
        """Clean shutdown/reboot/suspend need a PV guest or an HVM guest with PV drivers."""
        record = self.db.get("VM", vm)
        if record["HVM_boot_policy"] and not self._has_pv_drivers(record):
            raise XapiError("VM_LACKS_FEATURE", vm)

    def _has_pv_drivers(self, record):
        metrics = record["guest_metrics"]
        return self.db.exists("VM_guest_metrics", metrics) and \
            self.db.get("VM_guest_metrics", metrics)["PV_drivers_detected"]

    def push_vm_data(self, vm, data):
        """VM.set_xenstore_data on a running VM rewrites the vm-data and FIST subtrees live."""
        store = self.xenstore(vm)
        for key in [k for k in store if k.startswith(XS_PREFIXES)]:
            del store[key]
        store.update({k: v for k, v in data.items() if k.startswith(XS_PREFIXES)})
        self._changed()

    def cd_inserted(self, call, vm, vdi):
        self.state(vm).setdefault("cds", []).append(self.db.get("VDI", vdi)["name_label"])
        self._changed()
        if self.db.get("VDI", vdi)["is_tools_iso"]:
            self._maybe_install_tools(vm)

    # --- the guest agent (xe-guest-utilities / PV drivers) -----------------------------------
    def report_agent(self, vm, networks=None, os_version=None, pv_drivers=True):
        """The guest agent reports in: create or update the VM's VM_guest_metrics record.

        ``networks`` uses xapi's keys ("0/ip", "0/ipv4/0", "0/ipv6/0", ...). Only a running
        guest has an agent. Returns the VM_guest_metrics ref.
        """
        db = self.db
        with db.lock:
            record = db.get("VM", vm)
            if record["power_state"] != "Running":
                raise ValueError("VM %s is %s: only a running guest reports" % (vm, record["power_state"]))
            values = dict(networks=dict(networks or {}), os_version=dict(os_version or {}),
                          PV_drivers_detected=bool(pv_drivers), live=True,
                          PV_drivers_version={"major": "8", "minor": "4", "micro": "0"} if pv_drivers else {},
                          last_updated=self.sim.clock.stamp())
            metrics = record["guest_metrics"]
            if db.exists("VM_guest_metrics", metrics):
                db.update("VM_guest_metrics", metrics, **values)
            else:
                metrics = db.create("VM_guest_metrics", uuid=new_uuid(), **values)
                db.update("VM", vm, guest_metrics=metrics)
            return metrics

    def forget_agent(self, vm):
        db = self.db
        metrics = db.get("VM", vm)["guest_metrics"]
        if metrics != NULL_REF:
            db.update("VM", vm, guest_metrics=NULL_REF)
            if db.exists("VM_guest_metrics", metrics):
                db.delete("VM_guest_metrics", metrics)

    # --- the guest's own view ------------------------------------------------------------
    def _guest_path(self, vm, path, as_domid):
        return guest_path(self.db.get("VM", vm), path, as_domid)

    def xenstore_read(self, vm, path, as_domid=None):
        """``xenstore-read`` run inside the guest of ``vm`` (domain ``as_domid``)."""
        with self.db.lock:
            return self.xenstore(vm)[self._guest_path(vm, path, as_domid)]

    def xenstore_write(self, vm, path, value, as_domid=None):
        """``xenstore-write`` inside the guest; vm-data/ changes are copied to VM.xenstore_data."""
        with self.db.lock:
            key = self._guest_path(vm, path, as_domid)
            self.xenstore(vm)[key] = str(value)
            self._copy_back(vm)
            self._changed()
        self.db.commit()

    def xenstore_remove(self, vm, path, as_domid=None):
        """``xenstore-rm`` inside the guest (the key and everything under it)."""
        with self.db.lock:
            key = self._guest_path(vm, path, as_domid)
            store = self.xenstore(vm)
            gone = [k for k in store if k == key or k.startswith(key.rstrip("/") + "/")]
            if not gone:
                raise KeyError(path)
            for k in gone:
                del store[k]
            self._copy_back(vm)
            self._changed()
        self.db.commit()

    def _copy_back(self, vm):
        """While the VM runs, xapi copies the guest's vm-data subtree into VM.xenstore_data."""
        record = self.db.get("VM", vm)
        data = {k: v for k, v in record["xenstore_data"].items() if not k.startswith("vm-data/")}
        data.update({k: v for k, v in self.xenstore(vm).items() if k.startswith("vm-data/")})
        if data != record["xenstore_data"]:
            self.db.update("VM", vm, xenstore_data=data)

    # --- the guest thread ------------------------------------------------------------------
    def _spawn(self, vm):
        state = self.state(vm)
        record = self.db.get("VM", vm)
        if record["power_state"] not in ("Running", "Paused"):
            return
        domid = record["domid"]
        if state.get("stage") in BUSY_STAGES:
            threading.Thread(target=self._guest_main, args=(vm, domid), daemon=True,
                             name="guest-%s" % vm[-8:]).start()
        if state.get("tools") == "installing":
            threading.Thread(target=self._tools_main, args=(vm, domid), daemon=True,
                             name="tools-%s" % vm[-8:]).start()

    def _alive(self, vm, domid):
        if self._closed.is_set() or not self.db.exists("VM", vm):
            return False
        record = self.db.get("VM", vm)
        return record["power_state"] in ("Running", "Paused") and record["domid"] == domid

    def _spend(self, vm, domid, key="remaining"):
        """Let ``state[key]`` simulated seconds pass for the guest (not while it is paused).
        False if the domain went away meanwhile."""
        db = self.db
        while True:
            with db.lock:
                if not self._alive(vm, domid):
                    return False
                state = self.state(vm)
                remaining = state.get(key, 0.0)
                if remaining <= 0:
                    return True
                if db.get("VM", vm)["power_state"] == "Paused":
                    db.changed.wait(0.5)
                    continue
            step = min(STEP_SECONDS, remaining)
            self.sim.clock.sleep(step)
            with db.lock:
                if not self._alive(vm, domid):
                    return False
                state[key] = max(0.0, state.get(key, 0.0) - step)

    def _guest_main(self, vm, domid):
        try:
            while True:
                with self.db.lock:
                    if not self._alive(vm, domid):
                        return
                    stage = self.state(vm).get("stage")
                if stage not in BUSY_STAGES or not self._spend(vm, domid):
                    return
                step = {"installer": self._installer_started, "installing": self._installed,
                        "booting": self._booted}[stage]
                if not step(vm, domid):
                    return
        finally:
            self._commit()

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
                                 "network": _answer_network(match.group(1), text)})
            self._changed()
        self._commit()
        return True

    def _installed(self, vm, domid):
        """The installer is done: write the system to disk, then do what the answer file says."""
        with self.db.lock:
            if not self._alive(vm, domid):
                return False
            state = self.state(vm)
            vdi = self._target_vdi(vm)
            if vdi is not None:
                self.disks()[vdi] = _installed_system(state.get("tree"), state.get("flow", "rhlike"),
                                                      state.get("arch", "i386"))
                self.disks()[vdi].update(_ifcfg_files(state.get("flow", "rhlike"),
                                                      state.get("answer", {}).get("network")))
            finish = state.get("answer", {}).get("finish", "wait")
            state.update(stage="installer-finished")
            state.pop("remaining", None)
            self._changed()
        self._commit()
        if finish == "reboot":
            self._guest_reboot(vm, domid)
        elif finish == "poweroff":
            self._guest_poweroff(vm, domid)
        return False

    def _booted(self, vm, domid):
        with self.db.lock:
            if not self._alive(vm, domid):
                return False
            state = self.state(vm)
            state.update(stage="booted")
            state.pop("remaining", None)
            self._publish_metrics(vm)
            self._maybe_install_tools(vm)
            self._changed()
        self._commit()
        return False

    def _guest_poweroff(self, vm, domid):
        """The guest shut itself down: actions_after_shutdown (restart -> a reboot)."""
        from . import vm as vm_ops
        with self.db.lock:
            if not self._alive(vm, domid):
                return
            if self.db.get("VM", vm)["actions_after_shutdown"] == "restart":
                restart = True
            else:
                restart = False
                vm_ops.halt(_Ctx(self.sim), vm)
        if restart:
            self._guest_reboot(vm, domid)
        self._commit()

    def _guest_reboot(self, vm, domid):
        """The guest rebooted itself: a new domain through the boot path (actions_after_reboot)."""
        from . import vm as vm_ops
        ctx = _Ctx(self.sim)
        db = self.db
        with db.lock:
            if not self._alive(vm, domid):
                return
            if db.get("VM", vm)["actions_after_reboot"] == "destroy":
                vm_ops.halt(ctx, vm)
                self._commit()
                return
            self.stopped(ctx, vm, rebooting=True)
        try:
            plan = self.prepare(ctx, vm)
            with db.lock:
                if not self._alive(vm, domid):
                    return
                self.boot(ctx, vm, plan)
                vm_ops.set_power(ctx, vm, "Running", domid=self.sim.next_domid())
                self.started(ctx, vm)
        except XapiError as err:
            with db.lock:
                if self._alive(vm, domid):
                    vm_ops.halt(ctx, vm)
                    self.state(vm)["error"] = err.description
                    self._changed()
        finally:
            self._commit()

    # --- guest metrics and xs-tools ----------------------------------------------------------
    def _publish_metrics(self, vm):
        """What the guest reports: os_version always, PV drivers and networks with the tools."""
        record = self.db.get("VM", vm)
        files = self._boot_files(vm)
        tools = TOOLS_MARK in files
        values = dict(
            os_version=_os_version(files, self.state(vm).get("uname", "unknown")),
            PV_drivers_version=dict(TOOLS_VERSION) if tools else {},
            PV_drivers_detected=tools, PV_drivers_up_to_date=tools,
            networks=self._networks(vm) if tools else {},
            other={"feature-shutdown": "1", "feature-reboot": "1", "feature-suspend": "1"}
            if tools else {},
            can_use_hotplug_vbd="yes" if tools else "unspecified",
            can_use_hotplug_vif="yes" if tools else "unspecified",
            live=True, last_updated=self.sim.clock.stamp())
        metrics = record["guest_metrics"]
        if self.db.exists("VM_guest_metrics", metrics):
            self.db.update("VM_guest_metrics", metrics, **values)
        else:
            metrics = self.db.create("VM_guest_metrics", uuid=new_uuid(), **values)
            self.db.update("VM", vm, guest_metrics=metrics)

    def _networks(self, vm):
        """{"<device>/ip": address}: eth0's static address from its ifcfg file, else (DHCP)
        a fixed address per VM in a documentation range per device."""
        record = self.db.get("VM", vm)
        host = int(hashlib.md5(record["uuid"].encode()).hexdigest(), 16) % 250 + 2
        static = _static_address(self._boot_files(vm))
        out = {}
        for vif in record["VIFs"]:
            device = self.db.get("VIF", vif)["device"]
            index = int(device) if device.isdigit() else 0
            out["%s/ip" % device] = static if device == "0" and static else \
                "%s.%d" % (NETWORK_PREFIXES[index % len(NETWORK_PREFIXES)], host)
        return out

    def _tools_cd_inserted(self, vm):
        for vbd in self.db.get("VM", vm)["VBDs"]:
            record = self.db.get("VBD", vbd)
            if record["type"] == "CD" and not record["empty"] and self.db.exists("VDI", record["VDI"]) \
                    and self.db.get("VDI", record["VDI"])["is_tools_iso"]:
                return True
        return False

    def _maybe_install_tools(self, vm):
        """A booted guest with xs-tools.iso in its drive installs the tools (once)."""
        state = self.state(vm)
        record = self.db.get("VM", vm)
        if record["power_state"] not in ("Running", "Paused") or state.get("stage") != "booted" \
                or state.get("tools") == "installing" or TOOLS_MARK in self._boot_files(vm) \
                or not self._tools_cd_inserted(vm):
            return
        state.update(tools="installing", tools_remaining=TOOLS_SECONDS)
        self._changed()
        threading.Thread(target=self._tools_main, args=(vm, record["domid"]), daemon=True,
                         name="tools-%s" % vm[-8:]).start()

    def _tools_main(self, vm, domid):
        try:
            if not self._spend(vm, domid, "tools_remaining"):
                return
            with self.db.lock:
                if not self._alive(vm, domid):
                    return
                state = self.state(vm)
                vdi = self._boot_vdi(vm)
                files = dict(self.disks().get(vdi, {})) if vdi else {}
                files[TOOLS_MARK] = "#!/bin/sh\n# xe-guest-utilities %(major)s.%(minor)s.%(micro)s\n" % TOOLS_VERSION
                if "/etc/redhat-release" in files:
                    _install_xs_kernel(files, state.get("uname", ""))
                if vdi:
                    self.disks()[vdi] = files
                state.update(tools="installed")
                state.pop("tools_remaining", None)
                self._publish_metrics(vm)
                self._changed()
        finally:
            self._commit()


def guest_path(record, path, as_domid=None):
    """The xenstore key a guest of VM ``record`` reads as ``path``: relative to its own
    /local/domain/<domid>, or absolute under it (PermissionError elsewhere, KeyError when the
    domain does not run). Shared with the guestview test hook."""
    domid = int(record["domid"])
    if record["power_state"] != "Running":
        raise KeyError("domain not running")
    prefix = "/local/domain/%d/" % domid
    if as_domid is not None and as_domid != domid:
        raise PermissionError(path)
    if path.startswith("/"):
        if not path.startswith(prefix):
            raise PermissionError(path)
        path = path[len(prefix):]
    return path


# --- installed systems -------------------------------------------------------------------------

def _kernel_file(uname):
    return "XAPISIM-VMLINUZ uname=%s\n" % uname


def _grub_entry(title, uname, initrd_name):
    return ("title %s (%s)\n\troot (hd0,0)\n\tkernel /boot/vmlinuz-%s ro root=/dev/VolGroup00/LogVol00\n"
            "\tinitrd /boot/%s\n" % (title, uname, uname, initrd_name))


def _installed_system(tree, flow, arch):
    """The files an installer leaves on the disk ({path: text}).

    RHEL/CentOS: kernel, initrd and a valid /boot/grub/menu.lst (pygrub boots it).
    SLES 9/10: kernel and initrd plus the vmlinuz-xen/initrd-xen links, and a menu.lst YaST
    did not make bootable (no entries): pygrub alone fails, eliloader round 2 (domUloader)
    or PV_bootloader_args --kernel/--ramdisk are needed. SLES 11 writes a valid menu.lst.
    """
    if tree:
        distro, version, arch = tree.split("-", 2)
        facts = trees.RELEASES[(distro, version)]
        uname = trees.uname(distro, version, arch)
        release = trees.release_text(distro, version, arch)
        flow, title, grub_ok = facts["flow"], facts["family"], facts["menu_lst"]
    else:   # an unknown tree: a generic system of the install flow's kind
        uname = "2.6.18-xapisim" + ("-xen" if flow == "sleslike" else "xen")
        release = ("SUSE Linux Enterprise Server (%s)\nVERSION = 0\nPATCHLEVEL = 0\n" % arch
                   if flow == "sleslike" else "Linux release 0 (unknown)\n")
        title, grub_ok = "Linux", flow != "sleslike"
    files = {"/etc/fstab": "/dev/xvda1 / ext3 defaults 1 1\n"}
    if flow == "sleslike":
        flavour = "xen" if arch == "x86_64" else "xenpae"
        initrd = "initrd-%s" % uname
        files.update({"/etc/SuSE-release": release,
                      "/boot/vmlinuz-%s" % uname: _kernel_file(uname),
                      "/boot/%s" % initrd: "initrd for %s\n" % uname,
                      "/boot/vmlinuz-%s" % flavour: _kernel_file(uname),
                      "/boot/initrd-%s" % flavour: "initrd for %s\n" % uname})
        if grub_ok:
            files["/boot/grub/menu.lst"] = "default 0\ntimeout 8\n" + _grub_entry(title, uname, initrd)
        else:
            files["/boot/grub/menu.lst"] = ("# Modified by YaST2.\ncolor white/blue black/light-gray\n"
                                            "default 0\ntimeout 8\n")
        return files
    initrd = "initrd-%s.img" % uname
    files.update({"/etc/redhat-release": release,
                  "/boot/vmlinuz-%s" % uname: _kernel_file(uname),
                  "/boot/%s" % initrd: "initrd for %s\n" % uname,
                  "/boot/grub/menu.lst": "default=0\ntimeout=5\n" + _grub_entry(title, uname, initrd)})
    return files


def _xs_uname(uname):
    """XenServer's updated kernel for a vendor one: 2.6.18-53.el5xen -> 2.6.18-53.el5.xs4.1.0xen."""
    match = re.match(r"^(.*?)(xenU|xen)$", uname)
    if match:
        return match.group(1) + XS_KERNEL_TAG + match.group(2)
    return uname + XS_KERNEL_TAG


def _install_xs_kernel(files, uname):
    """xs-tools.iso on RHEL/CentOS: XenServer's kernel, made the grub default."""
    current = uname
    if not current or current == "unknown":
        return
    new = _xs_uname(current if XS_KERNEL_TAG not in current else current.replace(XS_KERNEL_TAG, ""))
    if "/boot/vmlinuz-%s" % new in files:
        return
    initrd = "initrd-%s.img" % new
    files["/boot/vmlinuz-%s" % new] = _kernel_file(new)
    files["/boot/%s" % initrd] = "initrd for %s\n" % new
    config = next((path for path in GRUB_CONFIGS if path in files), "/boot/grub/menu.lst")
    release = files.get("/etc/redhat-release", "Linux").splitlines()[0]
    title = "CentOS" if release.startswith("CentOS") else \
        "Red Hat Enterprise Linux Server" if release.startswith("Red Hat") else "Linux"
    _, entries = _parse_grub(files.get(config, ""))
    text = "default=0\ntimeout=5\n" + _grub_entry(title, new, initrd)
    for entry in entries:
        text += "title %s\n\troot (hd0,0)\n\tkernel %s%s\n" % (
            entry["title"], entry["kernel"], (" " + entry["args"]) if entry["args"] else "")
        if entry["initrd"]:
            text += "\tinitrd %s\n" % entry["initrd"]
    files[config] = text


def _parse_grub(text):
    """(default index, [{title, kernel, initrd, args}]) of a grub-legacy menu.lst."""
    default, entries = 0, []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^(\S+?)(?:\s*=\s*|\s+)(.*)$", line)
        word, rest = (match.group(1), match.group(2).strip()) if match else (line, "")
        if word == "default" and not entries:
            try:
                default = int(rest)
            except ValueError:
                default = 0
        elif word == "title":
            entries.append({"title": rest, "kernel": None, "initrd": None, "args": ""})
        elif word == "kernel" and entries:
            path, _, args = rest.partition(" ")
            entries[-1].update(kernel=path, args=args.strip())
        elif word == "initrd" and entries:
            entries[-1]["initrd"] = rest.split()[0] if rest else None
    return default, [entry for entry in entries if entry["kernel"]]


def _answer_finish(kind, text):
    """What the installer does when done: "reboot", "poweroff" or "wait"; None if unusable.

    Kickstart: a ``reboot`` line reboots; ``poweroff``, ``shutdown`` or ``halt`` power the VM
    off (a halted Xen PV domain is shut down); none of them: the installer waits on its last
    screen for a key press (RHEL 5 anaconda's default), so the VM stays Running.
    AutoYaST: ``<final_halt>true</final_halt>`` powers off; otherwise it reboots (SLES's
    installer always reboots into the installed system at the end of stage 1).
    """
    if kind == "ks":
        if not text.strip():
            return None
        for line in text.splitlines():
            word = line.strip().split(" ", 1)[0]
            if word == "reboot":
                return "reboot"
            if word in ("poweroff", "shutdown", "halt"):
                return "poweroff"
        return "wait"
    try:
        doc = xml.dom.minidom.parseString(text)
    except Exception:
        return None
    if doc.documentElement.tagName != "profile":
        return None
    for node in doc.getElementsByTagName("final_halt"):
        if node.firstChild is not None and node.firstChild.data.strip() == "true":
            return "poweroff"
    return "reboot"


def _answer_network(kind, text):
    """eth0's static configuration in an answer file, {ip, netmask, gateway}; None for DHCP."""
    return _kickstart_network(text) if kind == "ks" else _autoyast_network(text)


def _kickstart_network(text):
    """``network --device eth0 --bootproto static --ip A --netmask M --gateway G`` (``--opt=value``
    too; a network line without --device is eth0's)."""
    for line in text.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if not words or words[0] != "network":
            continue
        opts, key = {}, None
        for word in words[1:]:
            if word.startswith("--"):
                key, _, value = word[2:].partition("=")
                opts[key] = value
            elif key is not None:
                opts[key], key = word, None
        if opts.get("device", "eth0") == "eth0" and opts.get("bootproto") == "static" and opts.get("ip"):
            return {"ip": opts["ip"], "netmask": opts.get("netmask", ""), "gateway": opts.get("gateway", "")}
    return None


def _autoyast_network(text):
    """The ``<interface>`` of eth0 with ``<bootproto>static</bootproto>``, ``<ipaddr>`` and
    ``<netmask>`` or ``<prefixlen>``, and the default route of ``<routing>``."""
    doc = xml.dom.minidom.parseString(text)

    def value(node, tag):
        found = node.getElementsByTagName(tag)
        return found[0].firstChild.data.strip() if found and found[0].firstChild is not None else ""
    for interface in doc.getElementsByTagName("interface"):
        if value(interface, "device") in ("eth0", "") and value(interface, "bootproto") == "static" \
                and value(interface, "ipaddr"):
            gateway = ""
            for route in doc.getElementsByTagName("route"):
                if value(route, "destination") == "default":
                    gateway = value(route, "gateway")
            return {"ip": value(interface, "ipaddr"),
                    "netmask": value(interface, "netmask") or value(interface, "prefixlen"),
                    "gateway": gateway}
    return None


def _ifcfg_files(flow, network):
    """The installed system's ifcfg-eth0 for a static address ({} for DHCP, the default)."""
    if not network:
        return {}
    lines = ["DEVICE=eth0", "BOOTPROTO=static", "IPADDR=%s" % network["ip"],
             "NETMASK=%s" % network["netmask"], "ONBOOT=yes"]
    if network.get("gateway"):
        lines.append("GATEWAY=%s" % network["gateway"])
    return {IFCFG_ETH0.get(flow, IFCFG_ETH0["rhlike"]): "\n".join(lines) + "\n"}


def _static_address(files):
    """eth0's address when an installed system configures it statically, else None."""
    for path in IFCFG_ETH0.values():
        values = dict(line.split("=", 1) for line in files.get(path, "").splitlines() if "=" in line)
        if values.get("BOOTPROTO", "").strip("'\"") == "static" and values.get("IPADDR"):
            return values["IPADDR"].strip("'\"")
    return None


def _os_version(files, uname):
    """os_version as xe-guest-utilities reports it (xe-linux-distribution)."""
    out = {"name": "Linux", "distro": "linux", "major": "", "minor": "", "uname": uname}
    if "/etc/redhat-release" in files:
        name = files["/etc/redhat-release"].splitlines()[0]
        match = re.search(r"release (\d+)(?:\.(\d+))?(?:.*Update (\d+))?", name)
        out.update(name=name, distro="centos" if name.startswith("CentOS") else
                   "rhel" if name.startswith("Red Hat") else "linux")
        if match:
            out.update(major=match.group(1), minor=match.group(2) or match.group(3) or "0")
    elif "/etc/SuSE-release" in files:
        lines = files["/etc/SuSE-release"].splitlines()
        values = dict(line.replace(" ", "").split("=", 1) for line in lines[1:] if "=" in line)
        out.update(name=lines[0], distro="sles", major=values.get("VERSION", ""),
                   minor=values.get("PATCHLEVEL", "0"))
    return out
