#!/usr/bin/env python3
"""Write simulator/xapisim/templates_modern.json from guest-templates-json sources.

Usage: modern-templates.py --source NOTE DIR [--source NOTE DIR ...] OUT

Each DIR holds *.json template files (xenserver/guest-templates-json json/, then
xcp-ng-rpms/guest-templates-json SOURCES/ for the templates XCP-ng adds); a later DIR adds
only templates whose name an earlier one lacks (its base files are shared). Every Linux HVM template (derived from base-hvmlinux.json, plus "Other install
media") is flattened the way guest-templates-json's loader builds the VM record it imports:
``derived_from`` chains applied base first, platform defaults, ``min_memory`` ->
memory_static_min (and twice that for static_max / dynamic_min / dynamic_max), ``disks`` ->
the <provision> XML, restrictions -> the recommendations XML. NOTE names the source (repo and
commit) and is kept per template.
"""
import argparse
import json
import os
import re
import sys
from xml.dom import minidom

SCALE = {"T": 40, "G": 30, "M": 20, "K": 10}


def amount(text):
    match = re.match(r"(\d+)([TtGgMmKk])?$", text)
    if not match:
        raise ValueError("bad amount %r" % text)
    return int(match.group(1)) << SCALE.get((match.group(2) or "").upper(), 0)


def truthy(value, default):
    if value is None:
        return default
    if isinstance(value, str):
        return value.lower() in ("t", "true", "y", "yes", "1")
    return bool(value)


def chain(files, name):
    data = files[name]
    if "derived_from" in data:
        return chain(files, data["derived_from"]) + [data]
    return [data]


def disks_xml(disks):
    doc = minidom.Document()
    root = doc.createElement("provision")
    for position, disk in enumerate(disks):
        entry = doc.createElement("disk")
        for key, value in (("size", str(amount(disk["size"]))), ("sr", disk.get("sr", "")),
                           ("bootable", "true" if disk.get("bootable", True) else "false"),
                           ("type", disk.get("type", "system")), ("device", str(position))):
            entry.setAttribute(key, value)
        root.appendChild(entry)
    return root.toxml()


RESTRICTIONS = (("memory-static-max", "max"), ("vcpus-min", "min"), ("vcpus-max", "max"),
                ("has-vendor-device", "value"), ("allow-gpu-passthrough", "value"),
                ("allow-vgpu", "value"), ("allow-network-sriov", "value"),
                ("supports-bios", "value"), ("supports-uefi", "value"),
                ("supports-secure-boot", "value"))


def restrictions(layers):
    found = {}
    for index, data in enumerate(layers):
        if "max_memory" in data:
            found["memory-static-max"] = str(amount(data["max_memory"]))
        for key in ("vcpus_max", "vcpus_min", "number_of_vbds", "number_of_vifs"):
            if key in data:
                found[key.replace("_", "-")] = str(data[key])
        if index == 0 or "has_vendor_device" in data:
            found["has-vendor-device"] = "true" if truthy(data.get("has_vendor_device"), False) else "false"
        for key in ("allow_gpu_passthrough", "allow_vgpu", "allow_network_sriov"):
            if key in data:
                found[key.replace("_", "-")] = "1" if truthy(data[key], False) else "0"
        for key in ("supports_bios", "supports_uefi", "supports_secure_boot"):
            if key in data:
                found[key.replace("_", "-")] = "yes" if truthy(data[key], False) else "no"
    doc = minidom.Document()
    root = doc.createElement("restrictions")
    for field, attr in RESTRICTIONS:
        if field in found:
            entry = doc.createElement("restriction")
            entry.setAttribute("field", field)
            entry.setAttribute(attr, found[field])
            root.appendChild(entry)
    for prop in ("number-of-vbds", "number-of-vifs"):
        entry = doc.createElement("restriction")
        entry.setAttribute("property", prop)
        entry.setAttribute("max", found.get(prop, ""))
        root.appendChild(entry)
    return root.toxml()


def flatten(files, name, source):
    layers = chain(files, name)
    record = {"HVM_boot_policy": "", "HVM_boot_params": {}, "PV_bootloader": "", "PV_args": "",
              "VCPUs_max": 1, "VCPUs_at_startup": 1}
    platform = {"nx": "true", "acpi": "1", "apic": "true", "pae": "true", "hpet": "true",
                "secureboot": "true"}
    other = {}
    for data in layers:
        for key in ("uuid", "reference_label", "name_label", "name_description",
                    "HVM_boot_policy", "PV_bootloader", "PV_args", "VCPUs_max", "VCPUs_at_startup"):
            if key in data:
                record[key] = data[key]
        if "HVM_boot_params" in data:
            record["HVM_boot_params"] = dict(data["HVM_boot_params"])
        if "min_memory" in data:
            low = amount(data["min_memory"])
            record.update(memory_static_min=low, memory_static_max=2 * low,
                          memory_dynamic_min=2 * low, memory_dynamic_max=2 * low)
        platform.update(data.get("platform", {}))
        if "disks" in data:
            other["disks"] = disks_xml(data["disks"])
        other.update(data.get("other_config", {}))
    record["platform"] = {k: v for k, v in platform.items() if v}     # null/"" keys are not imported
    record["other_config"] = other
    record["recommendations"] = restrictions(layers)
    record["source"] = source
    return record


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", nargs=2, action="append", metavar=("NOTE", "DIR"), required=True)
    parser.add_argument("out")
    args = parser.parse_args(argv)
    files, origin, order = {}, {}, {}
    for index, (note, directory) in enumerate(args.source):
        for entry in sorted(os.listdir(directory)):
            if entry.endswith(".json"):
                with open(os.path.join(directory, entry), encoding="utf-8") as handle:
                    files[entry] = json.load(handle)
                origin[entry] = "%s %s" % (note, entry)
                order.setdefault(entry, index)
    templates, names = [], set()
    for name in sorted(files, key=lambda n: (order[n], n)):
        data = files[name]
        if "name_label" not in data or data["name_label"] in names:
            continue            # a base-*.json, or a name an earlier DIR already has
        bases = [layer.get("derived_from") for layer in chain(files, name)]
        if "base-hvmlinux.json" in bases or name == "other-install-media.json":
            templates.append(flatten(files, name, origin[name]))
            names.add(data["name_label"])
    templates.sort(key=lambda t: t["name_label"])
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump({"source": [note for note, _ in args.source], "templates": templates},
                  handle, indent=1, sort_keys=True)
        handle.write("\n")
    print("%d templates -> %s" % (len(templates), args.out))


if __name__ == "__main__":
    main(sys.argv[1:])
