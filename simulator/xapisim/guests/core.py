"""The shared guest core: hidden state, the boot dispatch, the domain's life, its xenstore.

The boot path follows xapi (ocaml/xapi/helpers.ml boot_method_of_vm):
  HVM (HVM_boot_policy set)     -> firmware boots whatever the disks hold (hvm.py).
  PV_bootloader ""              -> direct boot of PV_kernel / PV_ramdisk.
  PV_bootloader "pygrub"        -> reads the bootable disk; nothing bootable: BOOTLOADER_FAILED
                                   (pygrub.py).
  PV_bootloader "eliloader"     -> the installer flow (install-repository must be valid;
                                   eliloader.py).
  anything else                 -> UNKNOWN_BOOTLOADER [vm, bootloader].
Only keys under "vm-data/" (and "FIST/") of VM.xenstore_data reach the guest's xenstore
(xenopsd allowed_xsdata_prefixes); the rest stays in the record and is silently dropped.
A domain sees only its own /local/domain/<domid> subtree (SDK guide 5.4).

A guest then lives in a background thread on the simulator's clock (``sim.clock``), working
through the stages of BUSY_STAGES (each boot path's module implements its steps).
Every change goes through the database (events for event.from) and is committed. Hidden
state (stage, kernel command line, disk contents) is in ``db.hidden`` and read by tests via
``inspect``; no API exposes it.
"""
import copy
import threading
import time

from ..errors import XapiError
from ..model import NULL_REF
from ..vdi_store import contents_path

XS_PREFIXES = ("vm-data/", "FIST/")
STEP_SECONDS = 5.0              # granularity of a guest's progress (paused time is not counted)
# Stages a guest thread is working through (resumed after suspend/resume or a restart).
BUSY_STAGES = ("installer", "installing", "booting", "iso-installer", "iso-installing")


class _Ctx:
    """What vm.set_power/halt need of a call, for changes the guest itself makes."""

    def __init__(self, sim):
        self.sim = sim
        self.db = sim.db


class GuestCore:
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
    def boot(self, call, vm, plan=None):
        """Run the VM's boot path (database lock held); raise what xapi raises when it cannot."""
        record = self.db.get("VM", vm)
        if record["HVM_boot_policy"]:
            self.hvm_boot(vm, record)
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

    def _vdi_open(self, vdi):
        """A VDI's contents as a binary file, or None when nothing was ever written
        (vdi_store.contents_path: an ISO library SR's VDI is its file)."""
        if not vdi or vdi == NULL_REF or not self.db.exists("VDI", vdi):
            return None
        name = contents_path(self.db, getattr(self.sim, "vdi_store", None), vdi)
        return open(name, "rb") if name else None

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
                        "booting": self._booted, "iso-installer": self._iso_installer_started,
                        "iso-installing": self._iso_installed}[stage]
                if not step(vm, domid):
                    return
        finally:
            self._commit()

    def _booted(self, vm, domid):
        with self.db.lock:
            if not self._alive(vm, domid):
                return False
            state = self.state(vm)
            state.update(stage="booted")
            state.pop("remaining", None)
            request = None
            if state.get("system_vdi"):         # an HVM disk's system (hvm.py)
                request = self._system_up(vm)
            else:
                self._publish_metrics(vm)
                if self._stage2_done(vm):       # AutoYaST's final_halt (install.py)
                    request = {"mode": "poweroff"}
            self._maybe_install_tools(vm)
            self._changed()
        self._commit()
        if request is not None:                 # cloud-init's power_state
            if request.get("mode") == "reboot":
                self._guest_reboot(vm, domid)
            elif request.get("mode") in ("poweroff", "halt"):
                self._guest_poweroff(vm, domid)
        return False

    def _guest_poweroff(self, vm, domid):
        """The guest shut itself down: actions_after_shutdown (restart -> a reboot)."""
        from .. import vm as vm_ops
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
        from .. import vm as vm_ops
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
