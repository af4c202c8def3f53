"""pygrub: boots the kernel a grub-legacy menu.lst on the bootable disk names (or the one
PV_bootloader_args --kernel/--ramdisk give); the installed system is "booted" after BOOT_SECONDS."""
import re
import shlex

from ..errors import XapiError

BOOT_SECONDS = 30.0             # installed system from pygrub to a running userland
GRUB_CONFIGS = ("/boot/grub/menu.lst", "/boot/grub/grub.conf", "/grub/menu.lst", "/grub/grub.conf")


class _PygrubFailed(Exception):
    pass


class PygrubBoot:
    def pygrub(self, vm, record):
        try:
            kernel, ramdisk, args = self._pygrub_select(self._boot_files(vm), record["PV_bootloader_args"])
        except _PygrubFailed as err:
            raise XapiError("BOOTLOADER_FAILED", vm, str(err)) from None
        files = self._boot_files(vm)
        match = re.search(r"uname=(\S+)", files.get(kernel, ""))
        state = self.state(vm)
        for key in ("answer", "tree", "kernel_md5", "ramdisk_md5", "repository", "error", "round",
                    "system_vdi"):
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
