"""The simulated YaST installer finds autoinst.xml on a disk labelled OEMDRV when neither its boot
entry (autoyast=) nor its medium names one, as linuxrc does (openSUSE/linuxrc,
linuxrc_and_autoyast.md); one on the medium wins over it."""
from xapisim import images, isolib

from test_hvm_guests import MiB, attach, booted, installer_vm, iso, new_vdi, pool, session, x  # noqa: F401  pylint: disable=unused-import


def profile(hostname):
    return ('<?xml version="1.0"?>\n<profile xmlns="http://www.suse.com/1.0/yast2ns">'
            '<general><mode><confirm>false</confirm><halt>true</halt></mode></general>'
            '<networking><dns><hostname>%s</hostname></dns></networking></profile>\n' % hostname).encode()


def sles_medium(x, pool, directory, name, extra=None):
    files = images.installer_files("sles-15", "yast", "SLE-15-SP6-Full-x86_64")
    files.update(extra or {})
    (directory / name).write_bytes(images.build_iso(files, "SLE-15-SP6-Full-x86_64"))
    isolib.attach(pool.sim, str(directory))
    return x.VDI.get_by_name_label(name)[0]


def install(pool, session, x, vm, label):
    oemdrv = iso({"autoinst.xml": profile("from-oemdrv")}, label)
    attach(x, vm, new_vdi(x, label, len(oemdrv), oemdrv, pool, session), 1)
    x.VM.start(vm, False, True)
    return pool.sim.guests.wait(vm, lambda s: s.get("stage") in (None, "installer-waiting-for-answer-file"))


def test_autoinst_xml_on_an_oemdrv_disk(pool, session, x, tmp_path):
    vm = installer_vm(x, sles_medium(x, pool, tmp_path, "sles.iso"), "sles-oemdrv")
    install(pool, session, x, vm, "OEMDRV")
    assert x.VM.get_power_state(vm) == "Halted"      # <halt>: powered off after stage 1
    x.VM.remove_from_HVM_boot_params(vm, "order")
    x.VM.add_to_HVM_boot_params(vm, "order", "cd")
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "booted" and guest["hostname"] == "from-oemdrv"


def test_another_label_is_not_read_and_the_medium_wins(pool, session, x, tmp_path):
    waiting = installer_vm(x, sles_medium(x, pool, tmp_path, "sles.iso"), "sles-other-label")
    guest = install(pool, session, x, waiting, "ANSWERS")
    assert guest["stage"] == "installer-waiting-for-answer-file" and "OEMDRV" in guest["error"]
    medium = sles_medium(x, pool, tmp_path, "sles-auto.iso", {"/autoinst.xml": profile("from-medium")})
    vm = installer_vm(x, medium, "sles-medium")
    install(pool, session, x, vm, "OEMDRV")
    x.VM.remove_from_HVM_boot_params(vm, "order")
    x.VM.add_to_HVM_boot_params(vm, "order", "cd")
    x.VM.start(vm, False, True)
    assert pool.sim.guests.wait(vm, booted)["hostname"] == "from-medium"
