"""The XenServer 8 / XCP-ng 8.3 HVM templates (--template-set modern and all), record by record,
against xenserver/guest-templates-json v2.0.16 and xcp-ng-rpms/guest-templates-json 8.3
(flattened into xapisim/templates_modern.json by scripts/modern-templates.py)."""
import xml.dom.minidom

import pytest

GiB = 1024 ** 3
MiB = 1024 ** 2
# name -> (firmware, platform secureboot, memory_static_min, first disk size, VCPUs)
EXPECTED = {
    "Rocky Linux 8": ("uefi", "auto", 2 * GiB, 10 * GiB, 1),
    "Rocky Linux 9": ("uefi", "auto", 2 * GiB, 15 * GiB, 1),
    "AlmaLinux 8": ("uefi", "auto", 2 * GiB, 10 * GiB, 1),
    "AlmaLinux 9": ("uefi", "auto", 2 * GiB, 10 * GiB, 1),
    "AlmaLinux 10": ("uefi", "auto", 2 * GiB, 10 * GiB, 1),
    "Red Hat Enterprise Linux 8": ("uefi", "auto", 2 * GiB, 10 * GiB, 1),
    "Red Hat Enterprise Linux 9": ("uefi", "auto", 2 * GiB, 10 * GiB, 1),
    "Red Hat Enterprise Linux 10": ("uefi", "auto", 2 * GiB, 10 * GiB, 1),
    "CentOS Stream 9": ("bios", "false", 2 * GiB, 10 * GiB, 1),
    "Oracle Linux 8": ("uefi", "auto", 2 * GiB, 10 * GiB, 2),
    "Oracle Linux 9": ("bios", "false", 2 * GiB, 15 * GiB, 1),          # XCP-ng 8.3's
    "Debian Bullseye 11": ("bios", "false", 512 * MiB, 10 * GiB, 1),
    "Debian Bookworm 12": ("uefi", "auto", GiB, 10 * GiB, 1),
    "Ubuntu Focal Fossa 20.04 (deprecated)": ("uefi", "auto", 512 * MiB, 10 * GiB, 1),
    "Ubuntu Jammy Jellyfish 22.04": ("uefi", "auto", GiB, 10 * GiB, 1),
    "Ubuntu Noble Numbat 24.04": ("uefi", "auto", GiB, 10 * GiB, 1),
    "SUSE Linux Enterprise Server 12 SP5 (64-bit)": ("bios", "false", GiB, 8 * GiB, 1),
    "SUSE Linux Enterprise 15 (64-bit)": ("uefi", "auto", GiB, 8 * GiB, 1),
}


def templates(x):
    return {r["name_label"]: r for r in x.VM.get_all_records_where('field "is_a_template"="true"').values()}


def restrictions(record):
    doc = xml.dom.minidom.parseString(record["recommendations"])
    found = {}
    for node in doc.getElementsByTagName("restriction"):
        key = node.getAttribute("field") or node.getAttribute("property")
        found[key] = node.getAttribute("value") or node.getAttribute("max") or node.getAttribute("min")
    return found


@pytest.mark.parametrize("template_set", ["modern", "all"])
def test_modern_templates_present(make_pool, login, template_set):
    found = templates(login(make_pool(template_set=template_set).url))
    assert set(EXPECTED) <= set(found)


def test_legacy_set_has_no_modern_hvm_templates(make_pool, login):
    found = templates(login(make_pool(template_set="legacy").url))
    assert not set(EXPECTED) & set(found)
    assert "Other install media" in found


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_template_record(shared_api, name):
    firmware, secureboot, low, disk, vcpus = EXPECTED[name]
    record = templates(shared_api)[name]
    assert record["is_a_template"] and record["is_default_template"]
    assert record["domain_type"] == "hvm" and record["power_state"] == "Halted"
    assert record["HVM_boot_policy"] == "BIOS order" and record["PV_bootloader"] == ""
    assert record["HVM_boot_params"] == {"firmware": firmware, "order": "cdn"}
    platform = record["platform"]
    assert platform["secureboot"] == secureboot
    assert {k: platform[k] for k in ("nx", "acpi", "apic", "pae", "hpet", "viridian", "vga",
                                     "videoram", "device_id")} == {
        "nx": "true", "acpi": "1", "apic": "true", "pae": "true", "hpet": "true",
        "viridian": "false", "vga": "std", "videoram": "8", "device_id": "0001"}
    # base-linux-uefi.json drops the BIOS device model (null in the JSON)
    assert platform.get("device-model") == (None if firmware == "uefi" else "qemu-upstream-compat")
    assert record["memory_static_min"] == str(low)
    assert record["memory_static_max"] == record["memory_dynamic_min"] == \
        record["memory_dynamic_max"] == str(2 * low)
    assert record["VCPUs_max"] == record["VCPUs_at_startup"] == str(vcpus)
    other = record["other_config"]
    assert other["linux_template"] == "true" and other["install-methods"] == "cdrom,nfs,http,ftp"
    assert other["default_template"] == "false" and other["mac_seed"]     # as the loader imports
    (disk_node,) = xml.dom.minidom.parseString(other["disks"]).getElementsByTagName("disk")
    assert {k: disk_node.getAttribute(k) for k in ("size", "sr", "bootable", "type", "device")} == {
        "size": str(disk), "sr": "", "bootable": "true", "type": "system", "device": "0"}
    found = restrictions(record)
    assert found["supports-uefi"] == ("yes" if firmware == "uefi" else "no")
    assert found["supports-secure-boot"] == ("yes" if firmware == "uefi" else "no")
    assert found["supports-bios"] == "yes"
    assert found["memory-static-max"] == str(1536 * GiB)
    assert (found["vcpus-max"], found["number-of-vbds"], found["number-of-vifs"]) == ("64", "255", "7")
    assert found["has-vendor-device"] == "false"
    if "SUSE" in name:
        assert other["install-arch"] == "x86_64"


def test_template_uuids_are_the_published_ones(shared_api):
    found = templates(shared_api)
    assert found["Rocky Linux 9"]["uuid"] == "1a647cf9-99c1-4e9c-b3b4-6b9989c530be"
    assert found["Ubuntu Noble Numbat 24.04"]["reference_label"] == "ubuntu-24.04"
    assert found["Oracle Linux 9"]["reference_label"] == "oel-9"


def test_other_install_media(shared_api):
    record = templates(shared_api)["Other install media"]
    assert record["HVM_boot_params"] == {"firmware": "bios", "order": "cd"}
    assert record["platform"]["viridian"] == "true" and record["platform"]["secureboot"] == "false"
    assert record["other_config"]["install-methods"] == "cdrom"
    assert record["memory_static_min"] == str(128 * MiB)
    found = restrictions(record)
    assert (found["supports-bios"], found["supports-uefi"], found["supports-secure-boot"]) == \
        ("yes", "yes", "yes")


def test_a_uefi_template_clones_and_starts(shared_api, make_pool, login):
    x = login(make_pool(template_set="modern").url)
    (tmpl,) = x.VM.get_by_name_label("Ubuntu Noble Numbat 24.04")
    vm = x.VM.clone(tmpl, "noble")
    assert x.VM.get_other_config(vm)["base_template_name"] == "Ubuntu Noble Numbat 24.04"
    assert "default_template" not in x.VM.get_other_config(vm)
    x.VM.set_is_a_template(vm, False)
    x.VM.start(vm, False, False)
    assert x.VM.get_platform(vm)["secureboot"] == "true"      # auto, on a pool with certificates
    assert x.VM.get_secureboot_readiness(vm) == "ready"
