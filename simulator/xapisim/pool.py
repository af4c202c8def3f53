"""The pool a fresh simulator starts with: hosts, storage, networks, dom0s and templates."""
import copy
import json
import os

from . import firmware, model, vtpm
from .db import new_uuid

GiB = 1024 ** 3
MiB = 1024 ** 2
DISKS_XML = ('<provision><disk device="0" size="%d" sr="" bootable="true" type="system"/>'
             '</provision>')

# Built-in PV templates: (name, set, kind, distro, arch, extra other_config).
# Seed era names: XenServer 4.1 (Miami) and 5.x; the PV templates XenServer 8 / XCP-ng 8.3
# still ship (sources in docs/simulator.md). kind "pv" = eliloader template.
# The HVM templates of XenServer 8 / XCP-ng 8.3 come from templates_modern.json (MODERN_HVM).
TEMPLATES = [
    ("Red Hat Enterprise Linux 4.5", "legacy", "pv", "rhlike", "i386", {}),
    ("Red Hat Enterprise Linux 4.6", "legacy", "pv", "rhlike", "i386", {}),
    ("Red Hat Enterprise Linux 5.0", "legacy", "pv", "rhlike", "i386", {"rhel5": "true"}),
    ("Red Hat Enterprise Linux 5.0 x64", "legacy", "pv", "rhlike", "x86_64", {"rhel5": "true"}),
    ("Red Hat Enterprise Linux 5.1", "legacy", "pv", "rhlike", "i386", {"rhel5": "true"}),
    ("Red Hat Enterprise Linux 5.1 x64", "legacy", "pv", "rhlike", "x86_64", {"rhel5": "true"}),
    ("CentOS 4.5", "legacy", "pv", "rhlike", "i386", {}),
    ("CentOS 4.6", "legacy", "pv", "rhlike", "i386", {}),
    ("CentOS 5.0", "legacy", "pv", "rhlike", "i386", {"rhel5": "true"}),
    ("CentOS 5.0 x64", "legacy", "pv", "rhlike", "x86_64", {"rhel5": "true"}),
    ("CentOS 5.1", "legacy", "pv", "rhlike", "i386", {"rhel5": "true"}),
    ("CentOS 5.1 x64", "legacy", "pv", "rhlike", "x86_64", {"rhel5": "true"}),
    ("SUSE Linux Enterprise Server 10 SP1", "legacy", "pv", "sleslike", "i386", {}),
    ("SUSE Linux Enterprise Server 10 SP1 x64", "legacy", "pv", "sleslike", "x86_64", {}),
    # a pre-built image, not an installer: its postinstall script writes Etch onto the disks
    ("Debian Etch 4.0", "legacy", "image", None, "i386",
     {"postinstall": "/opt/xensource/packages/post-install-scripts/debian-etch"}),
    ("Red Hat Enterprise Linux 5 (32-bit)", "modern", "pv", "rhlike", "i386", {"rhel5": "true"}),
    ("Red Hat Enterprise Linux 5 (64-bit)", "modern", "pv", "rhlike", "x86_64", {"rhel5": "true"}),
    ("Red Hat Enterprise Linux 6 (64-bit)", "modern", "pv", "rhlike", "x86_64", {"rhel6": "true"}),
    ("CentOS 5 (32-bit)", "modern", "pv", "rhlike", "i386", {"rhel5": "true"}),
    ("CentOS 5 (64-bit)", "modern", "pv", "rhlike", "x86_64", {"rhel5": "true"}),
    ("CentOS 6 (64-bit)", "modern", "pv", "rhlike", "x86_64", {"rhel6": "true"}),
    ("SUSE Linux Enterprise Server 10 SP1 (32-bit)", "modern", "pv", "sleslike", "i386", {}),
    ("SUSE Linux Enterprise Server 10 SP1 (64-bit)", "modern", "pv", "sleslike", "x86_64", {}),
    ("SUSE Linux Enterprise Server 11 SP4 (64-bit)", "modern", "pv", "sleslike", "x86_64", {}),
]
# Flattened from xenserver/guest-templates-json (XenServer 8) and the templates XCP-ng 8.3
# adds, by scripts/modern-templates.py; its "source" key names the commits. "Other install
# media" is in every set.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates_modern.json"),
          encoding="utf-8") as _handle:
    MODERN_HVM = json.load(_handle)["templates"]
EVERY_SET = {"Other install media"}
# Not from the source: the real "Other install media" has no disks key (the user adds disks);
# the simulator keeps the 8 GiB disk it always gave it, which many tests provision.
EXTRA_DISKS = {"Other install media": DISKS_XML % (8 * GiB)}


def build(sim, template_set="all", members=0, filler_vms=0, uefi_certificates=True):
    """Create the initial pool in ``sim.db``; returns the master host ref.

    ``uefi_certificates``: the pool has the Secure Boot certificates XenServer 8 ships (its
    varstored RPM), or none, as a fresh XCP-ng 8.3 before ``secureboot-certs install``."""
    db = sim.db
    certificates = firmware.certificates_tarball() if uefi_certificates else ""
    addresses = [sim.master_address] + ["127.0.0.%d" % (i + 2) for i in range(members)]
    hosts = [_host(db, i, address, certificates) for i, address in enumerate(addresses)]
    master = hosts[0]
    local = _sr(db, "Local storage", "lvm", "user", 2048 * GiB, master)
    tools = _sr(db, "XenServer Tools", "iso", "iso", 0, None, is_tools_sr=True,
                other_config={"xenserver_tools_sr": "true", "i18n-key": "xenserver-tools"})
    db.create("VDI", uuid=new_uuid(), name_label="xs-tools.iso", SR=tools, type="user",
              virtual_size=62 * MiB, physical_utilisation=62 * MiB, read_only=True,
              sharable=True, is_tools_iso=True, location="xs-tools.iso")
    for index, bridge in enumerate(("xenbr0", "xenbr1")):
        network = db.create("network", uuid=new_uuid(), bridge=bridge, MTU=1500,
                            name_label="Pool-wide network associated with eth%d" % index)
        for host in hosts:
            db.create("PIF", uuid=new_uuid(), device="eth%d" % index, network=network,
                      host=host, MTU=1500, physical=True, currently_attached=True,
                      management=index == 0, MAC=_mac(hash((host, index))))
    db.create("pool", uuid=new_uuid(), name_label="xapisim", master=master,
              default_SR=local, suspend_image_SR=local, crash_dump_SR=local,
              other_config={"memory-ratio-hvm": "0.25", "memory-ratio-pv": "0.25"},
              uefi_certificates=certificates,
              # vTPMs are not restricted on XenServer 8 / XCP-ng 8.3 (xapi_vtpm.ml)
              restrictions={"restrict_vtpm": "false"})
    for name, tset, kind, distro, arch, extra in TEMPLATES:
        if template_set == "all" or tset in (template_set, "all"):
            make_template(db, name, kind, distro, arch, extra)
    for spec in MODERN_HVM:
        if template_set in ("all", "modern") or spec["name_label"] in EVERY_SET:
            make_hvm_template(db, spec)
    for index in range(filler_vms):
        make_vm(db, "filler-%05d" % index, memory=256 * MiB)
    sim.hosts.recount()    # dom0s are running: host_metrics.memory_free must not count them free
    return master


def _host(db, index, address, certificates=""):
    metrics = db.create("host_metrics", uuid=new_uuid(), memory_total=64 * GiB,
                        memory_free=64 * GiB, live=True)
    host = db.create(
        "host", uuid=new_uuid(), name_label="xapisim-host-%d" % index, hostname="xapisim-%d" % index,
        address=address, enabled=True, metrics=metrics, API_version_major=2,
        API_version_minor=21, API_version_vendor="XenServer",
        software_version={"product_brand": "XenServer", "product_version": "8.4.0",
                          "platform_name": "XCP", "xapi": "25.0", "xen": "4.17.5"},
        cpu_info={"cpu_count": "16", "socket_count": "2", "vendor": "GenuineIntel"},
        memory_overhead=0, uefi_certificates=certificates)
    dom0 = make_vm(db, "Control domain on host: xapisim-host-%d" % index, memory=2 * GiB,
                   control_domain=True)
    db.update("VM", dom0, power_state="Running", resident_on=host, domid=0)
    db.update("host", host, control_domain=dom0)
    return host


def _sr(db, name, sr_type, content, size, host, **extra):
    sr = db.create("SR", uuid=new_uuid(), name_label=name, type=sr_type, content_type=content,
                   physical_size=size, physical_utilisation=0, virtual_allocation=0,
                   shared=host is None, **extra)
    db.create("PBD", uuid=new_uuid(), SR=sr, host=host or db_first(db, "host"),
              currently_attached=True, device_config={})
    return sr


def db_first(db, cls):
    return next(iter(db.all(cls)))


def _mac(seed):
    value = seed & 0xFFFFFF
    return "00:16:3e:%02x:%02x:%02x" % ((value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF)


def make_vm(db, name, memory=GiB, vcpus=1, control_domain=False, **fields):
    """A halted VM (or template) record with its VM_metrics, as xapi creates them."""
    metrics = db.create("VM_metrics", uuid=new_uuid(), memory_actual=0, VCPUs_number=0,
                        state=[], install_time=model.EPOCH)
    values = dict(
        uuid=new_uuid(), name_label=name, power_state="Halted", memory_static_min=min(memory, 512 * MiB),
        memory_static_max=memory, memory_dynamic_min=memory, memory_dynamic_max=memory,
        memory_target=memory, VCPUs_max=vcpus, VCPUs_at_startup=vcpus,
        actions_after_shutdown="destroy", actions_after_reboot="restart",
        actions_after_crash="restart", is_control_domain=control_domain, domid=-1,
        metrics=metrics, user_version=1, HVM_shadow_multiplier=1.0,
        platform={"nx": "true", "acpi": "1", "apic": "true", "pae": "true", "viridian": "false"},
        other_config={}, domain_type="pv", allowed_operations=[])
    values.update(fields)
    ref = db.create("VM", **values)
    refresh_allowed(db, ref)
    return ref


def make_template(db, name, kind, distro, arch, extra):
    """A PV (eliloader) template, or (kind "image") a pre-built image's pygrub template."""
    if kind == "image":
        return _image_template(db, name, extra)
    other = {"default_template": "true", "linux_template": "true",
             "disks": DISKS_XML % (8 * GiB), "mac_seed": new_uuid()}
    other.update(extra)
    other.update({"install-methods": "cdrom,nfs,http,ftp", "install-distro": distro,
                  "install-arch": arch})
    boot = dict(PV_bootloader="eliloader", PV_args="graphical utf8" if distro == "rhlike" else "",
                HVM_boot_policy="", domain_type="pv")
    return make_vm(db, name, memory=GiB, is_a_template=True,
                   is_default_template=True, other_config=other,
                   reference_label=name.lower().replace(" ", "-"), **boot)


def _image_template(db, name, extra):
    """A XenServer 4.x pre-built image template (Debian Etch 4.0): PV, booted by pygrub; a
    root disk and a swap disk, which VM.provision fills by running the postinstall script."""
    other = {"default_template": "true", "linux_template": "true", "mac_seed": new_uuid(),
             "disks": '<provision><disk device="0" size="%d" sr="" bootable="true" type="system"/>'
                      '<disk device="1" size="%d" sr="" bootable="false" type="system"/></provision>'
                      % (4 * GiB, 512 * MiB)}
    other.update(extra)
    return make_vm(db, name, memory=256 * MiB, is_a_template=True, is_default_template=True,
                   other_config=other, reference_label=name.lower().replace(" ", "-"),
                   PV_bootloader="pygrub", PV_args="", HVM_boot_policy="", domain_type="pv")


def make_hvm_template(db, spec):
    """A template as guest-templates-json's loader imports it: the record its JSON describes
    (uuid included), then is_default_template set; its other_config keeps
    default_template "false", the value it was imported with (guesttemplates/loader.py)."""
    fields = copy.deepcopy({k: v for k, v in spec.items() if k not in ("source", "name_label")})
    fields["other_config"].update(default_template="false", mac_seed=new_uuid())
    if spec["name_label"] in EXTRA_DISKS:
        fields["other_config"].setdefault("disks", EXTRA_DISKS[spec["name_label"]])
    return make_vm(db, spec["name_label"], memory=fields.get("memory_static_max", GiB),
                   is_a_template=True, is_default_template=True, domain_type="hvm", **fields)


# Operations xapi lets run side by side (xapi_vm_lifecycle.ml is_allowed_concurrently,
# "long_copies"): a template may be cloned or copied by several clients at once.
LONG_COPIES = ("clone", "copy", "export")
# Operations a snapshot may do (xapi_vm_lifecycle.ml check_snapshot; others: VM_IS_SNAPSHOT).
SNAPSHOT_OPS = {"revert", "clone", "copy", "export", "destroy", "hard_shutdown", "metadata_export"}


def refresh_allowed(db, ref):
    record = db.get("VM", ref)
    from . import vm        # vm imports this module; the lifecycle rules live there
    ops = vm.allowed_operations(db, ref)
    vtpm.refresh_vm(db, record)
    running = set(record["current_operations"].values())
    if running:
        # While clones/copies run, only more of them are allowed (xapi computes the list with
        # the same check_operation_error, is_allowed_concurrently included).
        ops = [op for op in ops if op in LONG_COPIES] if running <= set(LONG_COPIES) else []
    record["allowed_operations"] = ops
