"""Built-in templates per --template-set (names: reference section 9; shape: section 5,
xenserver/guest-templates create_templates.ml, guest-templates-json base-*.json)."""
import xml.dom.minidom

import pytest

LEGACY = ["Red Hat Enterprise Linux 5.1 x64", "CentOS 4.5", "CentOS 5.0 x64",
          "SUSE Linux Enterprise Server 10 SP1"]
MODERN = ["Red Hat Enterprise Linux 5 (64-bit)", "CentOS 5 (64-bit)",
          "SUSE Linux Enterprise Server 11 SP4 (64-bit)"]


def templates(x):
    return {r["name_label"]: r for r in x.VM.get_all_records_where('field "is_a_template"="true"').values()}


@pytest.mark.parametrize("template_set,present,absent", [
    ("legacy", LEGACY, MODERN), ("modern", MODERN, LEGACY), ("all", LEGACY + MODERN, [])])
def test_template_sets(make_pool, login, template_set, present, absent):
    pool = make_pool(template_set=template_set)
    names = set(templates(login(pool.url)))
    assert set(present) <= names
    assert not set(absent) & names
    assert "Other install media" in names


@pytest.mark.parametrize("template_set", ["legacy", "modern"])
def test_pv_templates_carry_the_install_keys(make_pool, login, template_set):
    pool = make_pool(template_set=template_set)
    found = templates(login(pool.url))
    pv = {name: r for name, r in found.items() if r["PV_bootloader"] == "eliloader"}
    assert set(LEGACY if template_set == "legacy" else MODERN) <= set(pv)
    for name, record in pv.items():
        other = record["other_config"]
        assert record["is_default_template"] is True and other["default_template"] == "true", name
        assert record["HVM_boot_policy"] == "" and record["domain_type"] == "pv", name
        assert other["install-methods"] and set(other["install-methods"].split(",")) <= {
            "cdrom", "nfs", "http", "ftp"}, name
        assert other["install-distro"] == ("sleslike" if "SUSE" in name else
                                           "debianlike" if "Debian" in name else "rhlike"), name
        arch = "x86_64" if ("x64" in name or "64-bit" in name) else "i386"
        assert other["install-arch"] == arch, name
        doc = xml.dom.minidom.parseString(other["disks"])
        (provision,) = doc.getElementsByTagName("provision")
        disks = provision.getElementsByTagName("disk")
        assert disks and all(d.getAttribute("sr") == "" for d in disks), name
        assert disks[0].getAttribute("device") == "0" and disks[0].getAttribute("bootable") == "true"
        assert int(disks[0].getAttribute("size")) > 0
        assert record["power_state"] == "Halted" and record["VBDs"] == [] and record["VIFs"] == []


def test_hvm_templates(shared_api):
    for name, record in templates(shared_api).items():
        if record["PV_bootloader"] in ("eliloader", "pygrub"):     # PV: installers, Debian Etch's image
            continue
        assert record["HVM_boot_policy"] == "BIOS order", name
        assert record["HVM_boot_params"]["order"], name
        assert record["PV_bootloader"] == "", name


def test_filler_vms(make_pool, login):
    pool = make_pool(filler_vms=25)
    x = login(pool.url)
    fillers = x.VM.get_all_records_where('field "is_a_template"="false" and not '
                                         'field "is_control_domain"="true"')
    assert len(fillers) == 25
    assert {r["power_state"] for r in fillers.values()} == {"Halted"}
