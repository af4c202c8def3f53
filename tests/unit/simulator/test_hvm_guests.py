"""Live HVM guests through the real XenAPI SDK: cloud images with cloud-init, installer ISOs,
Secure Boot refusing an unsigned image, the guest agent (guests/hvm.py, isoinstall.py,
firstboot.py, agent.py; images in xapisim.images).

Disks are uploaded with PUT /import_raw_vdi, as a client uploads to a real pool. What no API
shows (the console, the guest's hostname, cloud-init's status) is read with
``sim.guests.inspect``, the simulator's test accessor (``xapisim guest`` shows the same).
"""
import http.client
import io
import json
import os
import subprocess
import time
import urllib.parse

import pycdlib
import pytest
import XenAPI

from xapisim import images, isolib

FAST = 100000.0
NULL = "OpaqueRef:NULL"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("images")
    images.write_samples(str(directory))
    return directory


@pytest.fixture
def pool(make_pool):
    return make_pool(clock_speed=FAST)


@pytest.fixture
def session(pool):
    session = XenAPI.Session(pool.url)
    session.xenapi.login_with_password("root", "xenroot", "1.0", "test_hvm_guests")
    yield session
    session.xenapi.session.logout()


@pytest.fixture
def x(session):
    return session.xenapi


def iso(files, label):
    """A volume as genisoimage -J -R makes it (the test's own, not the simulator's builder)."""
    volume = pycdlib.PyCdlib()
    volume.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=label)
    for index, (name, data) in enumerate(sorted(files.items())):
        volume.add_fp(io.BytesIO(data), len(data), "/F%d.;1" % index, rr_name=name,
                      joliet_path="/" + name)
    out = io.BytesIO()
    volume.write_fp(out)
    volume.close()
    return out.getvalue()


def cidata(instance_id="i-0001", hostname="web1", user_data=None, address="192.0.2.50/24"):
    network = ("version: 2\nethernets:\n  eth0:\n    addresses: [%s]\n    gateway4: 192.0.2.1\n"
               "    nameservers: {addresses: [192.0.2.53]}\n" % address).encode()
    return iso({"meta-data": ("instance-id: %s\nlocal-hostname: %s\n" % (instance_id, hostname)).encode(),
                "user-data": user_data if user_data is not None else
                b"#cloud-config\nusers:\n  - name: ops\n    ssh_authorized_keys: [ssh-ed25519 AAAA ops]\n",
                "network-config": network}, "cidata")


def upload(pool, session, vdi, data):
    """PUT /import_raw_vdi, as XenServer's SDK samples and xe vdi-import do."""
    url = urllib.parse.urlparse(pool.url)
    query = urllib.parse.urlencode({"session_id": session._session, "vdi": vdi, "format": "raw"})
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request("PUT", "/import_raw_vdi?" + query, body=data,
                       headers={"Content-Length": str(len(data))})
    reply = connection.getresponse()
    reply.read()
    connection.close()
    assert reply.status == 200, reply.status


def new_vdi(x, name, size, data=None, pool=None, session=None):
    """A VDI on the default SR, with ``data`` uploaded into it when given."""
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    vdi = x.VDI.create({"name_label": name, "name_description": "", "SR": sr, "virtual_size": str(size),
                        "type": "user", "sharable": False, "read_only": False, "other_config": {},
                        "xenstore_data": {}, "sm_config": {}, "tags": []})
    if data is not None:
        upload(pool, session, vdi, data)
    return vdi


def attach(x, vm, vdi, userdevice, kind="Disk", bootable=False):
    return x.VBD.create({"VM": vm, "VDI": vdi, "userdevice": str(userdevice), "bootable": bootable,
                         "mode": "RO" if kind == "CD" else "RW", "type": kind, "empty": vdi == NULL,
                         "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})


def hvm_vm(x, name, firmware="uefi", secureboot="true", order="cd", template="Other install media"):
    """An HVM VM from ``template`` without disks, with one NIC; firmware None keeps the
    template's firmware, order and platform."""
    vm = x.VM.clone(x.VM.get_by_name_label(template)[0], name)
    x.VM.set_is_a_template(vm, False)
    for vbd in x.VM.get_VBDs(vm):
        x.VBD.destroy(vbd)
    if firmware is not None:
        x.VM.set_HVM_boot_params(vm, {"firmware": firmware, "order": order})
        x.VM.set_platform(vm, dict(x.VM.get_platform(vm), secureboot=secureboot))
    network = x.network.get_by_name_label("Pool-wide network associated with eth0")[0]
    x.VIF.create({"VM": vm, "network": network, "device": "0", "MAC": "", "MTU": "1500",
                  "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    return vm


def image(image_dir, name):
    return (image_dir / name).read_bytes()


def booted(state):
    return state.get("stage") in ("booted", "no-bootable-device", "installer-waiting-for-answer-file")


def cloud_template(pool, session, x, image_dir, name, label, base="Other install media"):
    """The cloud image uploaded into a VDI, a VM on it made a template (as users do)."""
    disk = new_vdi(x, label + " disk", images.DISK_SIZE, image(image_dir, name), pool, session)
    vm = hvm_vm(x, label, template=base, firmware=None if base != "Other install media" else "uefi")
    attach(x, vm, disk, 0, bootable=True)
    x.VM.set_is_a_template(vm, True)
    return vm


def instance(pool, session, x, template, name, seed=None):
    vm = x.VM.clone(template, name)
    x.VM.set_is_a_template(vm, False)
    if seed is not None:
        attach(x, vm, new_vdi(x, name + " cidata", len(seed), seed, pool, session), 1)
    return vm


# --- Done when: a Rocky 9 cloud image, cidata with a static address, UEFI + Secure Boot + vTPM --

def test_rocky_cloud_image_with_static_cidata_under_secure_boot(pool, session, x, image_dir):
    template = cloud_template(pool, session, x, image_dir, "Rocky-9-GenericCloud.x86_64.raw", "rocky9",
                              base="Rocky Linux 9")
    vm = instance(pool, session, x, template, "web1", cidata())
    x.VM.set_HVM_boot_params(vm, dict(x.VM.get_HVM_boot_params(vm), firmware="uefi"))
    x.VM.set_platform(vm, dict(x.VM.get_platform(vm), secureboot="true"))
    x.VTPM.create(vm, False)
    assert len(x.VM.get_VTPMs(vm)) == 1
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "booted", guest.get("console")
    assert guest["hostname"] == "web1"
    assert guest["cloud_init"]["status"] == "done" and guest["cloud_init"]["users"][-1] == "ops"
    metrics = x.VM.get_guest_metrics(vm)
    assert x.VM_guest_metrics.get_networks(metrics)["0/ip"] == "192.0.2.50"
    assert x.VM_guest_metrics.get_networks(metrics)["0/ipv4/0"] == "192.0.2.50"
    os_version = x.VM_guest_metrics.get_os_version(metrics)
    assert (os_version["distro"], os_version["major"], os_version["minor"]) == ("rocky", "9", "4")
    assert os_version["uname"] == "5.14.0-427.13.1.el9_4.x86_64"
    assert x.VM_guest_metrics.get_PV_drivers_detected(metrics) is True
    assert x.VM_guest_metrics.get_other(metrics)["feature-shutdown"] == "1"
    x.VM.clean_shutdown(vm)         # the agent's features allow it
    assert x.VM.get_power_state(vm) == "Halted"
    # cloud-init wrote its instance-id on the clone's disk; the template's disk is untouched
    clone_disk = x.VBD.get_VDI([v for v in x.VM.get_VBDs(vm) if x.VBD.get_userdevice(v) == "0"][0])
    template_disk = x.VBD.get_VDI(x.VM.get_VBDs(template)[0])
    with pool.sim.vdi_store.open(x.VDI.get_uuid(clone_disk)) as handle:
        assert images.describe(handle)["state"]["cloud_init"]["instance_id"] == "i-0001"
    with pool.sim.vdi_store.open(x.VDI.get_uuid(template_disk)) as handle:
        assert images.describe(handle)["state"] == {}


def test_unsigned_image_never_boots_under_secure_boot(pool, session, x, image_dir):
    template = cloud_template(pool, session, x, image_dir, "Rocky-9-GenericCloud-unsigned.x86_64.raw",
                              "unsigned")
    vm = instance(pool, session, x, template, "web2", cidata())
    x.VTPM.create(vm, False)
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "no-bootable-device"
    assert any(line.endswith(": Access Denied") for line in guest["console"]), guest["console"]
    assert guest["console"][-1] == "BdsDxe: No bootable option or device was found."
    assert x.VM.get_power_state(vm) == "Running"
    assert x.VM.get_guest_metrics(vm) == NULL
    x.VM.hard_shutdown(vm)
    # the same image boots once Secure Boot is off
    x.VM.set_platform(vm, dict(x.VM.get_platform(vm), secureboot="false"))
    x.VM.start(vm, False, True)
    assert pool.sim.guests.wait(vm, booted)["stage"] == "booted"


def test_bios_only_image_under_uefi_and_an_empty_disk_never_boot(pool, session, x, image_dir):
    data = image(image_dir, "debian-12-bios-only-amd64.raw")
    vm = hvm_vm(x, "deb", secureboot="false")
    attach(x, vm, new_vdi(x, "deb", images.DISK_SIZE, data, pool, session), 0, bootable=True)
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "no-bootable-device" and "Not Found" in guest["console"][-2]
    x.VM.hard_shutdown(vm)
    x.VM.set_HVM_boot_params(vm, {"firmware": "bios", "order": "cd"})
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "booted" and guest["os"]["ID"] == "debian"
    assert guest["cloud_init"]["status"] == "disabled"         # no cidata volume
    assert x.VM_guest_metrics.get_networks(x.VM.get_guest_metrics(vm))["0/ip"].startswith("192.0.2.")
    x.VM.hard_shutdown(vm)
    empty = hvm_vm(x, "empty", firmware="bios")
    attach(x, empty, new_vdi(x, "blank", images.DISK_SIZE), 0, bootable=True)
    x.VM.start(empty, False, True)
    guest = pool.sim.guests.wait(empty, booted)
    assert guest["console"][-2:] == ["Boot failed: not a bootable disk",
                                     "No bootable device.  Retrying in 60 seconds."]


def test_a_vfat_cidata_disk_configures_a_sles_cloud_image(pool, session, x, image_dir, tmp_path):
    # NoCloud reads a VFAT volume labelled cidata too (Xen Orchestra's config drive is one)
    from test_cloudinit import vfat_seed
    network = b"version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets:\n" \
              b"      - {type: static, address: 198.51.100.9/24, gateway: 198.51.100.1}\n"
    with vfat_seed(tmp_path, {"meta-data": b"instance-id: i-fat\nlocal-hostname: sles-fat\n",
                              "user-data": b"#cloud-config\npackages: [vim]\n",
                              "network-config": network}) as volume:
        seed = volume.read()
    template = cloud_template(pool, session, x, image_dir, "SLES15-SP6-Minimal-VM.x86_64-Cloud.raw", "sles15")
    vm = instance(pool, session, x, template, "sles-fat", seed)
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "booted" and guest["os"]["ID"] == "sles" and guest["hostname"] == "sles-fat"
    assert guest["cloud_init"]["status"] == "done" and guest["cloud_init"]["packages"] == ["vim"]
    assert x.VM_guest_metrics.get_networks(x.VM.get_guest_metrics(vm))["0/ip"] == "198.51.100.9"


def test_cloud_init_runs_once_per_instance_id(pool, session, x, image_dir):
    template = cloud_template(pool, session, x, image_dir, "noble-server-cloudimg-amd64.raw", "noble")
    vm = instance(pool, session, x, template, "n1", cidata("i-1", "first"))
    x.VM.start(vm, False, True)
    assert pool.sim.guests.wait(vm, booted)["hostname"] == "first"
    x.VM.clean_shutdown(vm)
    x.VBD.destroy([v for v in x.VM.get_VBDs(vm) if x.VBD.get_userdevice(v) == "1"][0])
    same_id = cidata("i-1", "renamed")            # same instance: cloud-init does not run again
    attach(x, vm, new_vdi(x, "seed2", len(same_id), same_id, pool, session), 1)
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["hostname"] == "first" and guest["cloud_init"]["instance_id"] == "i-1"
    x.VM.clean_shutdown(vm)
    x.VBD.destroy([v for v in x.VM.get_VBDs(vm) if x.VBD.get_userdevice(v) == "1"][0])
    new_id = cidata("i-2", "second", address="192.0.2.77/24")
    attach(x, vm, new_vdi(x, "seed3", len(new_id), new_id, pool, session), 1, kind="CD")
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["hostname"] == "second" and guest["cloud_init"]["instance_id"] == "i-2"
    assert x.VM_guest_metrics.get_networks(x.VM.get_guest_metrics(vm))["0/ip"] == "192.0.2.77"


def test_malformed_user_data_leaves_cloud_init_in_error(pool, session, x, image_dir):
    template = cloud_template(pool, session, x, image_dir, "debian-12-genericcloud-amd64.raw", "deb12")
    vm = instance(pool, session, x, template, "bad", cidata(user_data=b"#cloud-config\nusers: [\n"))
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "booted" and guest["cloud_init"]["status"] == "error"
    assert guest["cloud_init"]["errors"]
    assert guest["hostname"] == "web1"      # meta-data still applies


def test_the_guest_view_shows_what_cloud_init_applied(serve, tmp_path, image_dir, xapisim_cmd):
    # `xapisim guest` reads the state file, as one would look at the guest's console and logs
    state = str(tmp_path / "pool.json")
    served = serve("--state", state)
    session = XenAPI.Session(served.url)
    session.xenapi.login_with_password("root", "xenroot", "1.0", "test_hvm_guests")
    x = session.xenapi
    template = cloud_template(served, session, x, image_dir, "debian-12-genericcloud-amd64.raw", "deb12")
    for name, user_data in (("good", None), ("broken", b"#cloud-config\nusers: [\n")):
        vm = instance(served, session, x, template, name, cidata(hostname=name, user_data=user_data))
        x.VM.start(vm, False, True)
    views = {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        views = {name: json.loads(subprocess.run(xapisim_cmd + ["guest", "--state", state, "--vm", name],
                                                 capture_output=True, text=True, check=True).stdout)
                 for name in ("good", "broken")}
        if all(view["stage"] == "booted" and view["cloud_init"] for view in views.values()):
            break
        time.sleep(0.2)
    good, broken = views["good"], views["broken"]
    assert good["stage"] == "booted" and good["hostname"] == "good", good
    assert good["cloud_init"]["status"] == "done" and good["cloud_init"]["instance_id"] == "i-0001"
    assert "ops" in good["cloud_init"]["users"] and good["cloud_init"]["errors"] == []
    assert "192.0.2.50/24" in json.dumps(good["network"])
    assert broken["stage"] == "booted" and broken["cloud_init"]["status"] == "error", broken
    assert broken["cloud_init"]["errors"] and broken["hostname"] == "broken"


# --- Done when: an RHEL 9 installer ISO with an OEMDRV kickstart ------------------------------

KICKSTART = (b"text\ncdrom\nlang en_US.UTF-8\nrootpw --lock\n"
             b"network --device=link --bootproto=static --ip=198.51.100.20 --netmask=255.255.255.0 "
             b"--gateway=198.51.100.1 --nameserver=198.51.100.53 --hostname=db1.example.com\n"
             b"reboot --eject\n%packages\n@^minimal-environment\n%end\n")


def installer_vm(x, medium, name, firmware="uefi", order="dc"):
    vm = hvm_vm(x, name, firmware=firmware, order=order)
    attach(x, vm, new_vdi(x, name + " disk", 16 * MiB), 0, bootable=True)
    attach(x, vm, medium, 3, kind="CD")
    return vm


def test_rhel9_iso_with_oemdrv_kickstart_installs_and_the_system_boots(pool, session, x, image_dir):
    data = image(image_dir, "rhel-9.4-x86_64-boot.iso")
    medium = new_vdi(x, "rhel-9.4-x86_64-boot.iso", len(data), data, pool, session)
    vm = installer_vm(x, medium, "db1")
    oemdrv = iso({"ks.cfg": KICKSTART}, "OEMDRV")
    attach(x, vm, new_vdi(x, "oemdrv", len(oemdrv), oemdrv, pool, session), 1)
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, lambda s: s.get("stage") == "booted" and s.get("os"))
    assert guest["os"]["PRETTY_NAME"] == "Red Hat Enterprise Linux 9.4 (Plow)"
    assert guest["hostname"] == "db1.example.com" and guest["boot_device"] == "0"
    cd = [v for v in x.VM.get_VBDs(vm) if x.VBD.get_type(v) == "CD"][0]
    assert x.VBD.get_empty(cd) is True          # reboot --eject
    assert x.VM.get_guest_metrics(vm) == NULL   # no agent until the tools are installed
    tools = x.VDI.get_by_name_label("xs-tools.iso")[0]
    x.VBD.insert(cd, tools)
    pool.sim.guests.wait(vm, lambda s: s.get("tools") == "installed")
    networks = x.VM_guest_metrics.get_networks(x.VM.get_guest_metrics(vm))
    assert networks["0/ip"] == "198.51.100.20"
    x.VM.clean_reboot(vm)
    assert pool.sim.guests.wait(vm, booted)["stage"] == "booted"


def test_kickstart_halt_and_missing_kickstart(pool, session, x, image_dir):
    data = image(image_dir, "Rocky-9.4-x86_64-minimal.iso")
    medium = new_vdi(x, "rocky.iso", len(data), data, pool, session)
    waiting = installer_vm(x, medium, "nobody", firmware="bios")
    x.VM.start(waiting, False, True)
    guest = pool.sim.guests.wait(waiting, booted)
    assert guest["stage"] == "installer-waiting-for-answer-file" and "OEMDRV" in guest["error"]
    halts = installer_vm(x, medium, "halts", firmware="bios")
    oemdrv = iso({"ks.cfg": b"text\nhalt\n"}, "OEMDRV")
    attach(x, halts, new_vdi(x, "oemdrv", len(oemdrv), oemdrv, pool, session), 1)
    x.VM.start(halts, False, True)
    guest = pool.sim.guests.wait(halts, lambda s: s.get("stage") == "installer-finished")
    assert guest["console"][-1] == "reboot: System halted"
    assert x.VM.get_power_state(halts) == "Running"


def test_autoyast_on_the_boot_medium_powers_off_and_the_system_boots(pool, session, x, tmp_path):
    profile = (b'<?xml version="1.0"?>\n<profile xmlns="http://www.suse.com/1.0/yast2ns">'
               b'<general><mode><confirm>false</confirm><halt>true</halt></mode></general>'
               b'<networking><dns><hostname>sles1</hostname></dns></networking></profile>\n')
    files = images.installer_files("sles-15", "yast", "SLE-15-SP6-Full-x86_64")
    files["/autoinst.xml"] = profile
    (tmp_path / "sles-auto.iso").write_bytes(images.build_iso(files, "SLE-15-SP6-Full-x86_64"))
    isolib.attach(pool.sim, str(tmp_path))          # the ISO library SR: serve --iso-dir
    medium = x.VDI.get_by_name_label("sles-auto.iso")[0]
    library = x.VDI.get_SR(medium)
    assert (x.SR.get_type(library), x.SR.get_content_type(library)) == ("iso", "iso")
    vm = installer_vm(x, medium, "sles1", order="cd")
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, lambda s: s.get("stage") is None)     # halt: powered off after stage 1
    assert x.VM.get_power_state(vm) == "Halted"
    x.VM.start(vm, False, True)                 # order "cd": the installed disk boots first
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "booted" and guest["hostname"] == "sles1" and guest["os"]["ID"] == "sles"


def test_iso_library_rescans_its_directory(pool, x, tmp_path, image_dir):
    (tmp_path / "a.iso").write_bytes(image(image_dir, "Rocky-9.4-x86_64-minimal.iso"))
    sr = isolib.attach(pool.sim, str(tmp_path))
    assert [x.VDI.get_name_label(v) for v in x.SR.get_VDIs(sr)] == ["a.iso"]
    (tmp_path / "b.iso").write_bytes(b"")
    os.unlink(str(tmp_path / "a.iso"))
    assert isolib.attach(pool.sim, str(tmp_path)) == sr
    assert [x.VDI.get_name_label(v) for v in x.SR.get_VDIs(sr)] == ["b.iso"]


def test_export_of_an_iso_library_vdi_is_its_file(pool, session, x, tmp_path, image_dir):
    # an ISO SR's VDI reads as its file (SM attaches the file itself), for GET /export_raw_vdi
    # as for the guest that boots it: vdi_store.contents_path is the one place for both
    contents = image(image_dir, "rhel-9.4-x86_64-boot.iso")
    (tmp_path / "rhel.iso").write_bytes(contents)
    sr = isolib.attach(pool.sim, str(tmp_path))
    (vdi,) = x.SR.get_VDIs(sr)
    url = urllib.parse.urlparse(pool.url)
    for fmt in ("raw", "vhd"):
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        connection.request("GET", "/export_raw_vdi?" + urllib.parse.urlencode(
            {"session_id": session._session, "vdi": x.VDI.get_uuid(vdi), "format": fmt}))
        reply = connection.getresponse()
        body = reply.read()
        connection.close()
        assert reply.status == 200
        if fmt == "raw":
            assert body == contents
        else:   # a dynamic VHD of the file: footer copy first and last, the file's bytes inside
            assert body[:8] == b"conectix" and body[-512:] == body[:512] and contents[32768:34816] in body
    assert pool.sim.vdi_store.path(x.VDI.get_uuid(vdi)) is None     # nothing was copied


def test_make_images_writes_the_samples(tmp_path, xapisim_cmd):
    out = subprocess.run(xapisim_cmd + ["make-images", str(tmp_path)], capture_output=True, text=True,
                         check=True).stdout.split()
    assert sorted(os.path.basename(path) for path in out) == \
        sorted(list(images.DISKS) + list(images.ISOS) + list(images.ANSWER_VOLUMES))
    assert images.iso_label(str(tmp_path / "OEMDRV-kickstart.iso")) == "OEMDRV"
    for name in images.DISKS:
        path = str(tmp_path / name)
        assert os.path.getsize(path) == images.DISK_SIZE and os.stat(path).st_blocks * 512 <= 1024 * 1024
        assert images.describe(path)["kind"] == "disk"
    rhel = images.describe(str(tmp_path / "rhel-9.4-x86_64-boot.iso"))
    assert rhel["label"] == "RHEL-9-4-0-BaseOS-x86_64" and rhel["installer"]["release"] == "rhel-9"
    sles = images.describe(str(tmp_path / "SLE-15-SP6-Full-x86_64-GM-Media1.iso"))
    assert sles["installer"]["family"] == "yast"


def test_serve_iso_dir_and_the_guest_view_shows_the_console(serve, tmp_path, image_dir, xapisim_cmd, login):
    isos = tmp_path / "isos"
    isos.mkdir()
    (isos / "Rocky-9.4-x86_64-minimal.iso").write_bytes(image(image_dir, "Rocky-9.4-x86_64-minimal.iso"))
    state = str(tmp_path / "pool.json")
    served = serve("--state", state, "--iso-dir", str(isos))
    x = login(served.url)
    library = [sr for sr in x.SR.get_all() if x.SR.get_name_label(sr) == isolib.NAME]
    assert len(library) == 1 and x.SR.get_content_type(library[0]) == "iso"
    pbd = x.SR.get_PBDs(library[0])[0]
    assert x.PBD.get_device_config(pbd) == {"location": str(isos), "legacy_mode": "true"}
    medium = x.VDI.get_by_name_label("Rocky-9.4-x86_64-minimal.iso")[0]
    assert x.VDI.get_virtual_size(medium) == str(os.path.getsize(str(isos / "Rocky-9.4-x86_64-minimal.iso")))
    vm = installer_vm(x, medium, "viewed", firmware="bios")
    x.VM.start(vm, False, True)
    view = {}
    for _tick in range(100):        # the installer waits for a kickstart that never comes
        view = json.loads(subprocess.run(xapisim_cmd + ["guest", "--state", state, "--vm", "viewed"],
                                         capture_output=True, text=True, check=True).stdout)
        if view["stage"] == "installer-waiting-for-answer-file":
            break
        time.sleep(0.1)
    assert view["stage"] == "installer-waiting-for-answer-file", view
    assert view["firmware"] == "bios" and view["console"][-1] == "Starting installer, one moment..."
    assert view["installer"]["release"] == "rocky-9"


def test_inst_ks_on_the_boot_entry_names_a_labelled_volume(pool, session, x):
    files = images.installer_files("rocky-9", "anaconda", "Rocky-9-4-x86_64-dvd")
    files["/EFI/BOOT/grub.cfg"] = files["/EFI/BOOT/grub.cfg"].replace(
        b" quiet", b" inst.ks=hd:LABEL=KICKS:/web.ks quiet")
    data = images.build_iso(files, "Rocky-9-4-x86_64-dvd")
    vm = installer_vm(x, new_vdi(x, "rocky-ks.iso", len(data), data, pool, session), "ks1")
    decoy = iso({"ks.cfg": b"poweroff\n"}, "OEMDRV")        # inst.ks= wins over OEMDRV
    attach(x, vm, new_vdi(x, "oemdrv", len(decoy), decoy, pool, session), 1)
    kicks = iso({"web.ks": b"network --hostname=web.ks\nreboot --eject\n"}, "KICKS")
    attach(x, vm, new_vdi(x, "kicks", len(kicks), kicks, pool, session), 2)
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, lambda s: s.get("stage") == "booted")
    assert guest["hostname"] == "web.ks" and guest["os"]["ID"] == "rocky"


def test_a_damaged_iso_does_not_boot(pool, session, x, image_dir):
    data = image(image_dir, "Rocky-9.4-x86_64-minimal.iso")[:40000]
    vm = installer_vm(x, new_vdi(x, "cut.iso", len(data), data, pool, session), "cut", firmware="bios")
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "no-bootable-device" and x.VM.get_power_state(vm) == "Running"
    assert "Boot failed: Could not read from CDROM (code 0004)" in guest["console"]


def test_cloud_init_power_state_powers_the_guest_off(pool, session, x, image_dir):
    template = cloud_template(pool, session, x, image_dir, "SLES15-SP6-Minimal-VM.x86_64-Cloud.raw", "sles")
    seed = cidata(user_data=b"#cloud-config\npower_state: {mode: poweroff}\n")
    vm = instance(pool, session, x, template, "once", seed)
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, lambda s: s.get("stage") is None)
    assert x.VM.get_power_state(vm) == "Halted"
    x.VM.start(vm, False, True)                 # the same instance: no power_state again
    guest = pool.sim.guests.wait(vm, booted)
    assert guest["stage"] == "booted" and x.VM.get_power_state(vm) == "Running"


def test_the_agent_writes_its_keys_into_the_guests_xenstore(pool, session, x, image_dir):
    template = cloud_template(pool, session, x, image_dir, "noble-server-cloudimg-amd64.raw", "noble")
    vm = instance(pool, session, x, template, "xs", cidata(address="2001:db8::5/64"))
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, booted)
    read = pool.sim.guests.xenstore_read
    assert read(vm, "data/os_name") == "Ubuntu 24.04.1 LTS" and read(vm, "data/os_distro") == "ubuntu"
    assert read(vm, "attr/vif/0/ipv6/0") == "2001:db8::5"
    assert read(vm, "control/feature-suspend") == "1"
    metrics = x.VM.get_guest_metrics(vm)
    assert x.VM_guest_metrics.get_networks(metrics) == {"0/ipv6/0": "2001:db8::5"}
    assert x.VM_guest_metrics.get_PV_drivers_version(metrics)["major"] == "8"
    assert x.VM_guest_metrics.get_can_use_hotplug_vif(metrics) == "yes"
    x.VM.suspend(vm)                # feature-suspend: a clean suspend
    assert x.VM.get_power_state(vm) == "Suspended"


def test_autoyast_from_a_url_on_the_boot_entry(pool, session, x, tmp_path):
    from xapisim import trees
    (tmp_path / "sles.xml").write_bytes(
        b'<?xml version="1.0"?>\n<profile xmlns="http://www.suse.com/1.0/yast2ns" '
        b'xmlns:config="http://www.suse.com/1.0/configns"><networking>'
        b'<dns><hostname>web-sles</hostname></dns><interfaces config:type="list"><interface>'
        b'<device>eth0</device><bootproto>static</bootproto><ipaddr>203.0.113.9/24</ipaddr></interface>'
        b'</interfaces></networking></profile>\n')
    with trees.served(str(tmp_path)) as server:
        files = images.installer_files("sles-15", "yast", "SLE-15-SP6-Full-x86_64")
        files["/EFI/BOOT/grub.cfg"] = files["/EFI/BOOT/grub.cfg"].replace(
            b" showopts", b" showopts autoyast=%s/sles.xml" % server.url.encode(), 1)
        data = images.build_iso(files, "SLE-15-SP6-Full-x86_64")
        vm = installer_vm(x, new_vdi(x, "sles.iso", len(data), data, pool, session), "web-sles", order="cd")
        x.VM.start(vm, False, True)
        guest = pool.sim.guests.wait(vm, lambda s: s.get("stage") == "booted")
    assert guest["hostname"] == "web-sles"
    assert guest["network"]["interfaces"][0]["addresses"] == ["203.0.113.9/24"]


def test_an_iso_install_carries_on_after_a_restart(tmp_path, image_dir, login):
    from xapisim.embedded import embedded
    from xapisim.sim import Simulator
    state = str(tmp_path / "pool.json")
    with embedded(state=state, clock_speed=50.0) as first:
        session = XenAPI.Session(first.url)
        session.xenapi.login_with_password("root", "xenroot", "1.0", "test")
        x = session.xenapi
        data = image(image_dir, "rhel-9.4-x86_64-boot.iso")
        vm = installer_vm(x, new_vdi(x, "rhel.iso", len(data), data, first, session), "again", firmware="bios")
        oemdrv = iso({"ks.cfg": b"network --hostname=again\nreboot --eject\n"}, "OEMDRV")
        attach(x, vm, new_vdi(x, "oemdrv", len(oemdrv), oemdrv, first, session), 1)
        x.VM.start(vm, False, True)
        first.sim.guests.wait(vm, lambda s: s.get("stage") == "iso-installing")
        first.sim.db.commit()
    second = Simulator(state=state, clock_speed=FAST)      # the state and the VDI contents survive
    guest = second.guests.wait(vm, lambda s: s.get("stage") == "booted")
    assert guest["hostname"] == "again" and guest["os"]["ID"] == "rhel"
    second.guests.close()


def test_the_sample_oemdrv_volume_installs_rocky_unattended(pool, session, x, image_dir):
    data = image(image_dir, "Rocky-9.4-x86_64-minimal.iso")
    vm = installer_vm(x, new_vdi(x, "rocky.iso", len(data), data, pool, session), "sample", order="cdn")
    answers = image(image_dir, "OEMDRV-kickstart.iso")
    attach(x, vm, new_vdi(x, "answers", len(answers), answers, pool, session), 1)
    x.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, lambda s: s.get("stage") == "booted")
    assert guest["hostname"] == "installed.example.com" and guest["os"]["ID"] == "rocky"
    assert guest["network"]["interfaces"][0]["dhcp4"] is True
