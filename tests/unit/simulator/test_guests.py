"""Simulated guests and install flows, through the real XenAPI SDK (reference section 5).

Every test runs an embedded pool with a fast clock (installs of 300 simulated seconds take
milliseconds) and the sample install trees of xapisim.trees served over HTTP in-process.
What no API shows (the kernel command line, the guest's stage, disk contents) is read with
``sim.guests.inspect`` / ``disk_files``, the simulator's test accessors.
"""
import functools
import http.server
import json
import shutil
import threading
import time

import pytest
import XenAPI

from xapisim import guests as guests_module
from xapisim import trees
from xapisim.embedded import embedded
from xapisim.sim import Simulator

FAST = 100000.0          # simulated seconds per real second
NULL = "OpaqueRef:NULL"
STATIC_NETWORKING = (
    '<networking><interfaces config:type="list"><interface><bootproto>static</bootproto>'
    '<device>eth0</device><ipaddr>10.4.5.6</ipaddr><netmask>255.255.0.0</netmask></interface>'
    '</interfaces><routing><routes config:type="list"><route><destination>default</destination>'
    '<gateway>10.4.0.1</gateway><netmask>-</netmask><device>-</device></route></routes></routing>'
    '</networking>\n')


@pytest.fixture(scope="module")
def tree_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("trees")
    trees.write_samples(str(directory))
    (directory / "answers" / "rhel-wait.ks").write_text(trees.sample_kickstart(""))
    (directory / "answers" / "empty.ks").write_text("")
    (directory / "answers" / "broken.xml").write_text("<profile><general>")
    (directory / "answers" / "rhel-static.ks").write_text(trees.sample_kickstart(
        "reboot", "network --device eth0 --bootproto static --ip 10.1.2.3 --netmask 255.255.255.0 "
                  "--gateway 10.1.2.1 --nameserver 10.1.2.2 --hostname web\n"))
    (directory / "answers" / "sles-static.xml").write_text(trees.sample_autoyast("reboot").replace(
        "</profile>", STATIC_NETWORKING + "</profile>"))
    (directory / "answers" / "sles-final-halt.xml").write_text(trees.sample_autoyast("reboot").replace(
        "</mode>", '<final_halt config:type="boolean">true</final_halt></mode>'))
    return directory


@pytest.fixture(scope="module")
def repo(tree_dir):
    with trees.served(str(tree_dir)) as server:
        yield server


@pytest.fixture
def pool(make_pool):
    return make_pool(clock_speed=FAST)


@pytest.fixture
def x(pool, login):
    return login(pool.url)


def new_vm(x, template, repository=None, pv_args=None, name="guest"):
    """The SDK sample flow up to provision: clone, disks on the default SR, repository, args, VIF."""
    vm = x.VM.clone(x.VM.get_by_name_label(template)[0], name)
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    disks = x.VM.get_other_config(vm)["disks"]
    x.VM.remove_from_other_config(vm, "disks")
    x.VM.add_to_other_config(vm, "disks", disks.replace('sr=""', 'sr="%s"' % x.SR.get_uuid(sr)))
    if repository is not None:
        x.VM.add_to_other_config(vm, "install-repository", repository)
    if pv_args is not None:
        x.VM.set_PV_args(vm, pv_args)
    x.VIF.create({"device": "0", "network": x.network.get_all()[0], "VM": vm, "MAC": "",
                  "MTU": "1500", "qos_algorithm_type": "", "qos_algorithm_params": {},
                  "other_config": {}})
    x.VM.provision(vm)
    return vm


def stage_is(*stages):
    return lambda state: state.get("stage") in stages


def wait_power(x, vm, state, timeout=20.0):
    deadline = time.monotonic() + timeout
    while x.VM.get_power_state(vm) != state:
        assert time.monotonic() < deadline, x.VM.get_power_state(vm)
        time.sleep(0.01)


def metrics(x, vm):
    ref = x.VM.get_guest_metrics(vm)
    return None if ref == NULL else x.VM_guest_metrics.get_record(ref)


def insert_tools(x, vm):
    cd = x.VBD.create({"VM": vm, "VDI": NULL, "userdevice": "3", "bootable": False, "mode": "RO",
                       "type": "CD", "unpluggable": True, "empty": True, "other_config": {},
                       "qos_algorithm_type": "", "qos_algorithm_params": {}})
    x.VBD.plug(cd)
    x.VBD.insert(cd, x.VDI.get_by_name_label("xs-tools.iso")[0])
    return cd


# --- RHEL / CentOS ---------------------------------------------------------------------------

def test_rhel_install_boot_and_xs_tools(pool, x, repo):
    url = repo.url + "/rhel-5.1-x86_64"
    vm = new_vm(x, "Red Hat Enterprise Linux 5.1 x64", url,
                "ks=%s/answers/rhel-reboot.ks console=xvc0" % repo.url)
    token = x.event.__getattr__("from")(["vm_guest_metrics"], "", 0.0)["token"]
    x.VM.start(vm, False, True)
    record = x.VM.get_record(vm)
    installer_domid = int(record["domid"])
    # eliloader round 1 (rhlike: one round) switched to pygrub and dropped its keys
    assert record["PV_bootloader"] == "pygrub"
    assert "install-distro" not in record["other_config"] and "install-round" not in record["other_config"]
    assert record["other_config"]["install-repository"] == url
    assert record["PV_args"] == "ks=%s/answers/rhel-reboot.ks console=xvc0" % repo.url
    guest = pool.sim.guests.inspect(vm)
    assert guest["tree"] == "rhel-5.1-x86_64"
    assert guest["kernel"] == url + "/images/xen/vmlinuz"
    assert guest["kernel_md5"] == trees.KNOWN_MD5["rhel-5.1-x86_64"]["kernel"]
    assert pool.sim.guests.kernel_args(vm) == \
        "ks=%s/answers/rhel-reboot.ks console=xvc0  method=%s/" % (repo.url, url)
    assert "/rhel-5.1-x86_64/images/xen/initrd.img" in repo.requests

    # the installer fetches its kickstart, installs, reboots; pygrub boots the installed kernel
    guest = pool.sim.guests.wait(vm, stage_is("booted"))
    assert "/answers/rhel-reboot.ks" in repo.requests
    assert guest["loader"] == "pygrub" and guest["uname"] == "2.6.18-53.el5xen"
    assert guest["kernel"] == "/boot/vmlinuz-2.6.18-53.el5xen"
    record = x.VM.get_record(vm)
    assert record["power_state"] == "Running" and int(record["domid"]) > installer_domid
    files = pool.sim.guests.disk_files(vm)
    assert "title Red Hat Enterprise Linux Server (2.6.18-53.el5xen)" in files["/boot/grub/menu.lst"]
    gm = metrics(x, vm)
    assert gm["os_version"] == {"name": "Red Hat Enterprise Linux Server release 5.1 (Tikanga)",
                                "distro": "rhel", "major": "5", "minor": "1",
                                "uname": "2.6.18-53.el5xen"}
    assert gm["PV_drivers_detected"] is False and gm["networks"] == {} and gm["PV_drivers_version"] == {}
    # event.from saw the guest metrics appear
    events = x.event.__getattr__("from")(["vm_guest_metrics"], token, 5.0)["events"]
    assert any(e["class"] == "vm_guest_metrics" and e["operation"] == "add" for e in events)

    # xs-tools.iso: guest utilities (PV drivers, networks) and XenServer's kernel as grub default
    insert_tools(x, vm)
    pool.sim.guests.wait(vm, lambda s: s.get("tools") == "installed")
    gm = metrics(x, vm)
    assert gm["PV_drivers_detected"] is True and gm["PV_drivers_version"]["major"] == "4"
    assert set(gm["networks"]) == {"0/ip"} and gm["networks"]["0/ip"].startswith("192.0.2.")
    assert gm["os_version"]["uname"] == "2.6.18-53.el5xen"          # until the next boot
    menu = pool.sim.guests.disk_files(vm)["/boot/grub/menu.lst"]
    assert menu.index("2.6.18-53.el5.xs4.1.0xen") < menu.index("(2.6.18-53.el5xen)")
    address = gm["networks"]["0/ip"]

    x.VM.clean_reboot(vm)
    pool.sim.guests.wait(vm, stage_is("booted"))
    gm = metrics(x, vm)
    assert gm["os_version"]["uname"] == "2.6.18-53.el5.xs4.1.0xen"
    assert gm["PV_drivers_detected"] is True and gm["networks"] == {"0/ip": address}
    x.VM.clean_shutdown(vm)
    assert x.VM.get_guest_metrics(vm) == NULL


@pytest.mark.parametrize("template, tree, arch", [
    ("Red Hat Enterprise Linux 5 (64-bit)", "rhel-5.1-x86_64", "x86_64"),
    ("Red Hat Enterprise Linux 5 (32-bit)", "rhel-5.0-i386", "i386"),
    ("CentOS 4.5", "centos-4.5-i386", "i386"),
])
def test_rhlike_templates_of_both_eras(pool, x, repo, template, tree, arch):
    vm = new_vm(x, template, repo.url + "/" + tree, "ks=%s/answers/rhel-reboot.ks" % repo.url)
    assert x.VM.get_other_config(vm)["install-arch"] == arch
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, stage_is("booted"))
    distro, version, arch = tree.split("-")
    assert metrics(x, vm)["os_version"]["uname"] == trees.uname(distro, version, arch)
    assert metrics(x, vm)["os_version"]["distro"] == distro


def test_centos_is_told_from_rhel_by_md5(pool, x, repo):
    """A RHEL tree through a CentOS template installs RHEL (install-distro drives the flow,
    the checksums say what was installed), and the other way round."""
    rhel_in_centos = new_vm(x, "CentOS 5.0 x64", repo.url + "/rhel-5.0-x86_64",
                            "ks=%s/answers/rhel-reboot.ks" % repo.url, name="a")
    centos_in_rhel = new_vm(x, "Red Hat Enterprise Linux 5.0 x64", repo.url + "/centos-5.0-x86_64",
                            "ks=%s/answers/rhel-reboot.ks" % repo.url, name="b")
    x.VM.start(rhel_in_centos, False, True)
    x.VM.start(centos_in_rhel, False, True)
    assert pool.sim.guests.inspect(rhel_in_centos)["tree"] == "rhel-5.0-x86_64"
    assert pool.sim.guests.inspect(centos_in_rhel)["tree"] == "centos-5.0-x86_64"
    assert pool.sim.guests.inspect(centos_in_rhel)["ramdisk_md5"] == \
        trees.KNOWN_MD5["centos-5.0-x86_64"]["ramdisk"]
    for vm in (rhel_in_centos, centos_in_rhel):
        pool.sim.guests.wait(vm, stage_is("booted"))
    # same kernel version on both: only the MD5s told them apart
    assert metrics(x, rhel_in_centos)["os_version"] == {
        "name": "Red Hat Enterprise Linux Server release 5 (Tikanga)", "distro": "rhel",
        "major": "5", "minor": "0", "uname": "2.6.18-8.el5xen"}
    assert metrics(x, centos_in_rhel)["os_version"] == {
        "name": "CentOS release 5 (Final)", "distro": "centos", "major": "5", "minor": "0",
        "uname": "2.6.18-8.el5xen"}


def test_centos_4_gets_the_xenu_kernel_and_tools(pool, x, repo):
    vm = new_vm(x, "CentOS 4.5", repo.url + "/centos-4.5-i386", "ks=%s/answers/rhel-reboot.ks" % repo.url)
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, stage_is("booted"))
    assert metrics(x, vm)["os_version"]["uname"] == "2.6.9-55.ELxenU"
    assert metrics(x, vm)["os_version"]["minor"] == "5"
    insert_tools(x, vm)
    pool.sim.guests.wait(vm, lambda s: s.get("tools") == "installed")
    x.VM.hard_reboot(vm)
    pool.sim.guests.wait(vm, stage_is("booted"))
    assert metrics(x, vm)["os_version"]["uname"] == "2.6.9-55.EL.xs4.1.0xenU"


def test_kickstart_poweroff_then_start_boots_the_installed_system(pool, x, repo):
    vm = new_vm(x, "CentOS 5.0", repo.url + "/centos-5.0-i386", "ks=%s/answers/rhel-poweroff.ks" % repo.url)
    x.VM.start(vm, False, True)
    wait_power(x, vm, "Halted")
    assert x.VM.get_guest_metrics(vm) == NULL
    assert "/boot/grub/menu.lst" in pool.sim.guests.disk_files(vm)
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, stage_is("booted"))
    assert metrics(x, vm)["os_version"]["distro"] == "centos"


def test_kickstart_without_a_finish_command_waits_on_its_last_screen(pool, x, repo):
    vm = new_vm(x, "CentOS 5.0", repo.url + "/centos-5.0-i386", "ks=%s/answers/rhel-wait.ks" % repo.url)
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, stage_is("installer-finished"))
    time.sleep(0.05)
    assert x.VM.get_power_state(vm) == "Running" and x.VM.get_guest_metrics(vm) == NULL
    x.VM.hard_reboot(vm)                     # someone presses the key
    pool.sim.guests.wait(vm, stage_is("booted"))


# --- SLES: two rounds --------------------------------------------------------------------------

@pytest.mark.parametrize("template, tree, flavour", [
    ("SUSE Linux Enterprise Server 10 SP1 x64", "sles-10sp1-x86_64", "xen"),
    ("SUSE Linux Enterprise Server 10 SP1", "sles-10sp1-i386", "xenpae"),
])
def test_sles_two_rounds_with_eliloader(pool, x, repo, template, tree, flavour):
    url = repo.url + "/" + tree
    vm = new_vm(x, template, url, "autoyast=%s/answers/sles-reboot.xml" % repo.url)
    x.VM.start(vm, False, True)
    record = x.VM.get_record(vm)
    assert record["PV_bootloader"] == "eliloader"
    assert record["other_config"]["install-round"] == "2"
    assert record["other_config"]["install-distro"] == "sleslike"
    arch = "x86_64" if flavour == "xen" else "i386"
    assert pool.sim.guests.inspect(vm)["kernel"] == "%s/boot/%s/vmlinuz-%s" % (url, arch, flavour)
    assert pool.sim.guests.kernel_args(vm) == \
        "autoyast=%s/answers/sles-reboot.xml   install=%s/ maxcpus=1" % (repo.url, url)
    # YaST reboots after installing; round 2 finds the kernel (domUloader) and hands to pygrub
    guest = pool.sim.guests.wait(vm, stage_is("booted"))
    assert guest["round"] == 2 and guest["kernel"] == "/boot/vmlinuz-%s" % flavour
    record = x.VM.get_record(vm)
    assert record["PV_bootloader"] == "pygrub"
    assert record["PV_bootloader_args"] == "--kernel /boot/vmlinuz-%s --ramdisk /boot/initrd-%s" % (flavour, flavour)
    assert "install-round" not in record["other_config"] and "install-distro" not in record["other_config"]
    assert metrics(x, vm)["os_version"] == {
        "name": "SUSE Linux Enterprise Server 10 (%s)" % arch, "distro": "sles", "major": "10",
        "minor": "1", "uname": "2.6.16.46-0.12-%s" % flavour}
    # later boots are plain pygrub with those args
    x.VM.clean_reboot(vm)
    pool.sim.guests.wait(vm, stage_is("booted"))
    assert pool.sim.guests.inspect(vm).get("round") is None


def test_sles_final_halt_powers_off_at_the_end_of_stage_two_not_stage_one(pool, x, repo):
    """SUSE's AutoYaST guide: final_halt (SLES 11 on) halts once stage 2 is done; stage 1 still
    reboots (only <halt> powers off there). Stage 2 runs at the installed system's first boot."""
    vm = new_vm(x, "SUSE Linux Enterprise Server 10 SP1 x64", repo.url + "/sles-10sp1-x86_64",
                "autoyast=%s/answers/sles-final-halt.xml" % repo.url)
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, stage_is("booted", None))
    assert guest.get("round") == 2 or guest.get("stage") is None     # rebooted into round 2, not halted
    wait_power(x, vm, "Halted")                                       # then stage 2 ended with final_halt
    assert x.VM.get_PV_bootloader(vm) == "pygrub"
    x.VM.start(vm, False, True)                                       # stage 2 is done: it stays up
    pool.sim.guests.wait(vm, stage_is("booted"))
    time.sleep(0.05)
    assert x.VM.get_power_state(vm) == "Running"


def test_sles_without_round_two_does_not_boot_until_the_args_are_set(pool, x, repo, fails):
    """What a role that does round 2 itself needs: pygrub alone fails on YaST's menu.lst;
    PV_bootloader_args --kernel/--ramdisk (guest paths) make it boot."""
    vm = new_vm(x, "SUSE Linux Enterprise Server 10 SP1 x64", repo.url + "/sles-10sp1-x86_64",
                "autoyast=%s/answers/sles-halt.xml" % repo.url)
    x.VM.start(vm, False, True)
    wait_power(x, vm, "Halted")                                   # halt after stage 1
    assert x.VM.get_other_config(vm)["install-round"] == "2"
    files = pool.sim.guests.disk_files(vm)
    assert "/boot/vmlinuz-xen" in files and "/boot/initrd-xen" in files
    assert "title" not in files["/boot/grub/menu.lst"]
    x.VM.set_PV_bootloader(vm, "pygrub")
    with fails("BOOTLOADER_FAILED", vm, "no bootable entry in /boot/grub/menu.lst"):
        x.VM.start(vm, False, True)
    assert x.VM.get_power_state(vm) == "Halted"
    x.VM.set_PV_bootloader_args(vm, "--kernel /vmlinuz-xen --ramdisk /initrd-xen")
    with fails("BOOTLOADER_FAILED", vm, "[Errno 2] No such file or directory: '/vmlinuz-xen'"):
        x.VM.start(vm, False, True)
    x.VM.set_PV_bootloader_args(vm, "--kernel /boot/vmlinuz-xen --ramdisk /boot/initrd-xen")
    x.VM.remove_from_other_config(vm, "install-round")
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, stage_is("booted"))
    assert guest["kernel"] == "/boot/vmlinuz-xen" and guest["uname"] == "2.6.16.46-0.12-xen"


def test_sles_round_two_on_an_empty_disk_switches_and_fails(pool, x, fails):
    """eliloader switches to pygrub and clears the rounds even when domUloader finds nothing."""
    vm = new_vm(x, "SUSE Linux Enterprise Server 10 SP1 x64", "http://127.0.0.1:1/unused")
    x.VM.add_to_other_config(vm, "install-round", "2")
    with fails("BOOTLOADER_FAILED", vm, "Unable to find partition containing kernel"):
        x.VM.start(vm, False, True)
    record = x.VM.get_record(vm)
    assert record["PV_bootloader"] == "pygrub" and record["PV_bootloader_args"] == ""
    assert "install-round" not in record["other_config"] and "install-distro" not in record["other_config"]


def test_round_two_is_sles_only(pool, x, fails):
    vm = new_vm(x, "CentOS 5.0", "http://127.0.0.1:1/unused")
    x.VM.add_to_other_config(vm, "install-round", "2")
    with fails("BOOTLOADER_FAILED", vm, "UNSUPPORTED_INSTALL_METHOD\n"):
        x.VM.start(vm, False, True)


# --- repositories that do not work ---------------------------------------------------------------

@pytest.mark.parametrize("template, path", [
    ("Red Hat Enterprise Linux 5.1 x64", "isolinux/vmlinuz"),     # images/xen/ absent: the fallback
    ("SUSE Linux Enterprise Server 10 SP1 x64", "boot/x86_64/vmlinuz-xen"),
])
def test_a_repository_without_the_files_fails_naming_the_url(pool, x, repo, template, path):
    url = repo.url + "/no-such-tree"
    vm = new_vm(x, template, url)
    with pytest.raises(XenAPI.Failure) as caught:
        x.VM.start(vm, False, True)
    code, ref, message = caught.value.details
    assert (code, ref) == ("BOOTLOADER_FAILED", vm)
    assert message.startswith("INVALID_SOURCE\n") and "%s/%s" % (url, path) in message
    record = x.VM.get_record(vm)
    assert record["power_state"] == "Halted" and record["PV_bootloader"] == "eliloader"
    assert record["current_operations"] == {} and "install-distro" in record["other_config"]


def test_an_unreachable_repository_fails_naming_the_url(pool, x):
    vm = new_vm(x, "CentOS 5.0", "http://127.0.0.1:1/centos")
    with pytest.raises(XenAPI.Failure) as caught:
        x.VM.start(vm, False, True)
    assert caught.value.details[:2] == ["BOOTLOADER_FAILED", vm]
    assert "http://127.0.0.1:1/centos/" in caught.value.details[2]


@pytest.mark.parametrize("repository", ["", "smb://host/share", "/srv/centos", "file:///srv/centos"])
def test_an_unsupported_repository(pool, x, repository):
    vm = new_vm(x, "CentOS 5.0", repository or None)
    with pytest.raises(XenAPI.Failure) as caught:
        x.VM.start(vm, False, True)
    assert caught.value.details[:2] == ["BOOTLOADER_FAILED", vm]
    assert caught.value.details[2].startswith("UNSUPPORTED_INSTALL_METHOD\nother-config:install-repository")


def test_unknown_install_distro(pool, x, repo, fails):
    vm = new_vm(x, "CentOS 5.0", repo.url + "/centos-5.0-i386")
    x.VM.remove_from_other_config(vm, "install-distro")
    x.VM.add_to_other_config(vm, "install-distro", "gentoolike")
    with fails("BOOTLOADER_FAILED", vm, "UNSUPPORTED_INSTALL_METHOD\nDistribution 'gentoolike' is not supported.\n"):
        x.VM.start(vm, False, True)


def test_start_downloads_without_holding_the_database(pool, x, tree_dir):
    """A slow repository delays only its own VM.start: other calls and event.from go on."""
    release = threading.Event()

    class Slow(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            release.wait(10)
            super().do_GET()

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Slow, directory=str(tree_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        vm = new_vm(x, "CentOS 5.0", "http://127.0.0.1:%d/centos-5.0-i386" % server.server_address[1])
        task = x.Async.VM.start(vm, False, True)
        deadline = time.monotonic() + 10
        while "start" not in x.VM.get_current_operations(vm).values():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        began = time.monotonic()
        assert len(x.VM.get_all()) > 1
        token = x.event.__getattr__("from")(["vm"], "", 0.0)["token"]
        x.VM.set_name_description(vm, "still answering")
        assert x.event.__getattr__("from")(["vm"], token, 5.0)["events"]
        assert time.monotonic() - began < 4.0   # blocked calls would wait for the release, never
        assert x.task.get_status(task) == "pending"
        release.set()
        while x.task.get_status(task) == "pending":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert x.task.get_status(task) == "success"
        assert pool.sim.guests.inspect(vm)["tree"] == "centos-5.0-i386"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_nfs_on_loopback_reads_the_local_directory(pool, x, tree_dir, fails):
    vm = new_vm(x, "CentOS 5.0", "nfs:127.0.0.1:%s/centos-5.0-i386" % tree_dir)
    x.VM.start(vm, False, True)
    assert pool.sim.guests.inspect(vm)["tree"] == "centos-5.0-i386"
    assert pool.sim.guests.kernel_args(vm).endswith("method=nfs:127.0.0.1:%s/centos-5.0-i386/" % tree_dir)
    other = new_vm(x, "CentOS 5.0", "nfs:192.0.2.9:/export/centos", name="other")
    with fails("BOOTLOADER_FAILED", other, "INVALID_SOURCE\nnfs repo nfs:192.0.2.9:/export/centos\n"):
        x.VM.start(other, False, True)


def test_cdrom_install_from_an_iso(pool, x, repo):
    vm = new_vm(x, "Red Hat Enterprise Linux 5.1", "cdrom", "ks=%s/answers/rhel-reboot.ks" % repo.url)
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    iso = x.VDI.create({"name_label": "rhel-5.1-i386.iso", "name_description": "", "SR": sr,
                        "virtual_size": "4194304", "type": "user", "sharable": False,
                        "read_only": True, "other_config": {}, "xenstore_data": {},
                        "sm_config": {}, "tags": []})
    pool.sim.guests.write_disk(iso, trees.tree_files("rhel", "5.1", "i386"))
    cd = x.VBD.create({"VM": vm, "VDI": iso, "userdevice": "3", "bootable": True, "mode": "RO",
                       "type": "CD", "unpluggable": True, "empty": False, "other_config": {},
                       "qos_algorithm_type": "", "qos_algorithm_params": {}})
    x.VM.start(vm, False, True)
    assert pool.sim.guests.inspect(vm)["tree"] == "rhel-5.1-i386"
    assert "method=" not in pool.sim.guests.kernel_args(vm)
    assert x.VBD.get_bootable(cd) is False          # next time: the first disk
    pool.sim.guests.wait(vm, stage_is("booted"))
    assert metrics(x, vm)["os_version"]["uname"] == "2.6.18-53.el5xen"


# --- the installer -------------------------------------------------------------------------------

@pytest.mark.parametrize("args, why", [
    ("ks={url}/answers/missing.ks", "cannot fetch"),
    ("console=xvc0", "no ks= or autoyast="),
    ("ks={url}/answers/empty.ks", "not a valid ks file"),
    ("ks=floppy", "cannot read floppy"),
])
def test_without_an_answer_file_the_installer_hangs(pool, x, repo, args, why):
    vm = new_vm(x, "CentOS 5.0", repo.url + "/centos-5.0-i386", args.format(url=repo.url))
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, stage_is("installer-waiting-for-answer-file"))
    assert why in guest["error"]
    time.sleep(0.1)                               # ~10,000 simulated seconds
    assert pool.sim.guests.inspect(vm)["stage"] == "installer-waiting-for-answer-file"
    assert x.VM.get_power_state(vm) == "Running" and x.VM.get_guest_metrics(vm) == NULL
    assert pool.sim.guests.disk_files(vm) == {}


def test_a_broken_autoyast_profile_hangs_too(pool, x, repo):
    vm = new_vm(x, "SUSE Linux Enterprise Server 10 SP1 x64", repo.url + "/sles-10sp1-x86_64",
                "autoyast=%s/answers/broken.xml" % repo.url)
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, stage_is("installer-waiting-for-answer-file"))
    assert "not a valid autoyast file" in guest["error"]


@pytest.mark.parametrize("kind, text, network", [
    ("ks", "network --device eth0 --bootproto dhcp --hostname a\n", None),
    ("ks", "network --bootproto=static --ip=10.0.0.5 --netmask=255.0.0.0\n",
     {"ip": "10.0.0.5", "netmask": "255.0.0.0", "gateway": ""}),
    ("ks", "network --device eth1 --bootproto static --ip 10.0.0.5 --netmask 255.0.0.0\n", None),
    ("autoyast", trees.sample_autoyast(), None),
    ("autoyast", trees.sample_autoyast().replace("</profile>", STATIC_NETWORKING + "</profile>"),
     {"ip": "10.4.5.6", "netmask": "255.255.0.0", "gateway": "10.4.0.1"}),
    ("autoyast", trees.sample_autoyast().replace("</profile>", STATIC_NETWORKING.replace(
        "<netmask>255.255.0.0</netmask>", "<prefixlen>16</prefixlen>") + "</profile>"),
     {"ip": "10.4.5.6", "netmask": "16", "gateway": "10.4.0.1"}),
])
def test_the_installer_reads_eth0s_static_address(kind, text, network):
    assert guests_module._answer_network(kind, text) == network


@pytest.mark.parametrize("template, tree, answer, path, address", [
    ("Red Hat Enterprise Linux 5.1 x64", "rhel-5.1-x86_64", "rhel-static.ks",
     "/etc/sysconfig/network-scripts/ifcfg-eth0", "10.1.2.3"),
    ("SUSE Linux Enterprise Server 10 SP1 x64", "sles-10sp1-x86_64", "sles-static.xml",
     "/etc/sysconfig/network/ifcfg-eth0", "10.4.5.6"),
])
def test_a_static_address_from_the_answer_file_is_what_the_guest_reports(
        pool, x, repo, template, tree, answer, path, address):
    kind = "ks" if answer.endswith(".ks") else "autoyast"
    vm = new_vm(x, template, repo.url + "/" + tree, "%s=%s/answers/%s" % (kind, repo.url, answer))
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, stage_is("booted"))
    assert "IPADDR=%s\n" % address in pool.sim.guests.disk_files(vm)[path]
    insert_tools(x, vm)
    pool.sim.guests.wait(vm, lambda s: s.get("tools") == "installed")
    assert metrics(x, vm)["networks"] == {"0/ip": address}
    x.VM.clean_reboot(vm)                       # the installed system keeps its address
    pool.sim.guests.wait(vm, stage_is("booted"))
    assert metrics(x, vm)["networks"] == {"0/ip": address}


def test_a_paused_guest_makes_no_progress(pool, x, repo):
    vm = new_vm(x, "CentOS 5.0", repo.url + "/centos-5.0-i386", "ks=%s/answers/rhel-reboot.ks" % repo.url)
    x.VM.start(vm, True, True)
    assert x.VM.get_power_state(vm) == "Paused"
    time.sleep(0.1)
    assert pool.sim.guests.inspect(vm)["stage"] == "installer"
    x.VM.unpause(vm)
    pool.sim.guests.wait(vm, stage_is("booted"))


def test_hard_shutdown_during_the_install_stops_it(pool, x, repo):
    pool.sim.clock.speed = 1000.0          # the install takes 0.3 s
    vm = new_vm(x, "CentOS 5.0", repo.url + "/centos-5.0-i386", "ks=%s/answers/rhel-reboot.ks" % repo.url)
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, stage_is("installing"))
    x.VM.hard_shutdown(vm)
    time.sleep(0.4)
    assert x.VM.get_power_state(vm) == "Halted"
    assert pool.sim.guests.inspect(vm).get("stage") is None
    assert pool.sim.guests.disk_files(vm) == {}


def test_an_install_carries_on_after_a_restart(tmp_path, repo):
    """The pool is saved mid-install; a simulator loaded from the file finishes the job."""
    state = tmp_path / "pool.json"
    with embedded(state=str(state), clock_speed=1000.0) as first:   # the install takes 0.3 s
        session = XenAPI.Session(first.url)
        session.xenapi.login_with_password("root", "xenroot")
        vm = new_vm(session.xenapi, "CentOS 5.0", repo.url + "/centos-5.0-i386",
                    "ks=%s/answers/rhel-reboot.ks" % repo.url)
        session.xenapi.VM.start(vm, False, True)
        first.sim.guests.wait(vm, stage_is("installing"))
        first.sim.clock.speed = 0.001                            # ... and now forever
        first.sim.guests.close()
        time.sleep(0.1)
        first.sim.db.commit()
        shutil.copy(str(state), str(tmp_path / "copy.json"))
    saved = json.loads((tmp_path / "copy.json").read_text())["hidden"]["guests"][vm]
    assert saved["stage"] == "installing" and saved["remaining"] > 0
    second = Simulator(state=str(tmp_path / "copy.json"), clock_speed=FAST)
    second.guests.wait(vm, stage_is("booted"))
    assert second.db.get("VM", vm)["power_state"] == "Running"
    second.guests.close()


# --- HVM, pygrub, direct -------------------------------------------------------------------------

def test_hvm_guests_boot_firmware_and_report_nothing(pool, x, fails):
    vm = new_vm(x, "Other install media")
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.inspect(vm)     # an empty disk and no CD: nothing to boot
    assert guest["stage"] == "no-bootable-device"
    assert guest["console"][-1] == "No bootable device.  Retrying in 60 seconds."
    time.sleep(0.05)
    assert x.VM.get_guest_metrics(vm) == NULL
    with fails("VM_LACKS_FEATURE", vm):
        x.VM.clean_shutdown(vm)
    x.VM.hard_shutdown(vm)


def test_pygrub_on_an_empty_disk_fails(pool, x, fails):
    vm = new_vm(x, "CentOS 5.0")
    x.VM.set_PV_bootloader(vm, "pygrub")
    with fails("BOOTLOADER_FAILED", vm, "Unable to find partition containing kernel"):
        x.VM.start(vm, False, True)
    assert x.VM.get_power_state(vm) == "Halted"


def test_a_copy_of_an_installed_vm_boots_its_own_disk(pool, x, repo):
    vm = new_vm(x, "CentOS 5.0", repo.url + "/centos-5.0-i386", "ks=%s/answers/rhel-poweroff.ks" % repo.url)
    x.VM.start(vm, False, True)
    wait_power(x, vm, "Halted")
    clone = x.VM.clone(vm, "clone")
    x.VM.start(clone, False, True)
    pool.sim.guests.wait(clone, stage_is("booted"))
    assert metrics(x, clone)["os_version"]["distro"] == "centos"


# --- xenstore --------------------------------------------------------------------------------------

def test_guest_xenstore_own_domain_and_copy_back(pool, x):
    one = new_vm(x, "Other install media", name="one")
    two = new_vm(x, "Other install media", name="two")
    x.VM.set_xenstore_data(one, {"vm-data/role": "web", "other/key": "x", "FIST/a": "1"})
    x.VM.set_xenstore_data(two, {"vm-data/role": "db"})
    x.VM.start(one, False, True)
    x.VM.start(two, False, True)
    guests = pool.sim.guests
    d1, d2 = int(x.VM.get_domid(one)), int(x.VM.get_domid(two))
    assert guests.xenstore_read(one, "vm-data/role") == "web"
    assert guests.xenstore_read(one, "/local/domain/%d/vm-data/role" % d1) == "web"
    with pytest.raises(KeyError):
        guests.xenstore_read(one, "other/key")                 # never written to xenstore
    with pytest.raises(PermissionError):
        guests.xenstore_read(one, "/local/domain/%d/vm-data/role" % d2)
    with pytest.raises(PermissionError):
        guests.xenstore_read(two, "vm-data/role", as_domid=d1)
    with pytest.raises(PermissionError):
        guests.xenstore_write(one, "/local/domain/%d/vm-data/role" % d2, "evil")
    assert guests.xenstore_read(two, "vm-data/role") == "db"

    token = x.event.__getattr__("from")(["vm/%s" % one], "", 0.0)["token"]
    guests.xenstore_write(one, "vm-data/state", "ready")
    guests.xenstore_write(one, "data/updated", "1")            # not vm-data: not copied
    assert x.VM.get_xenstore_data(one) == {"vm-data/role": "web", "other/key": "x", "FIST/a": "1",
                                           "vm-data/state": "ready"}
    assert x.event.__getattr__("from")(["vm/%s" % one], token, 5.0)["events"]
    guests.xenstore_remove(one, "/local/domain/%d/vm-data/role" % d1)
    assert x.VM.get_xenstore_data(one) == {"other/key": "x", "FIST/a": "1", "vm-data/state": "ready"}
    x.VM.hard_shutdown(one)
    with pytest.raises(KeyError):
        guests.xenstore_read(one, "vm-data/state")
    assert x.VM.get_xenstore_data(one)["vm-data/state"] == "ready"
