"""The ISO route of the install roles, run by ansible-playbook against an embedded pool with an ISO
library of the sample installer ISOs (xapisim make-images): rhel_install 9 and sles_install 15 under
UEFI + Secure Boot (+ vTPM) from nothing to a verified guest, a second run changing nothing; a VM
interrupted in the installer, and one halted before its first boot, taken up and finished."""
import json
import re
import subprocess
import sys
import time

import pytest
import XenAPI

from xapisim import images, isolib
from xapisim.embedded import embedded

from role_render import ENV, PLAYBOOK, ROOT, ROOT_HASH

MARKER = "xenserver.provisioning:install"
PLAY = """
- name: %(role)s
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/xenserver.provisioning.xenserver: {hostname: "%(url)s", username: root, password: xenroot}
  tasks:
    - name: Install
      ansible.builtin.include_role:
        name: xenserver.provisioning.%(role)s
"""
ISOS = {"rhel_install": ("9", "rhel-9.4-x86_64-boot.iso", "rhel"),
        "sles_install": ("15sp6", "SLE-15-SP6-Full-x86_64-GM-Media1.iso", "sles")}


@pytest.fixture(scope="module")
def bed(tmp_path_factory):
    """A pool with an ISO library of the sample media, and an SDK session on it."""
    tmp = tmp_path_factory.mktemp("iso-route")
    media = tmp / "media"
    media.mkdir()
    images.write_samples(str(media))
    with embedded(state=str(tmp / "pool.json"), clock_speed=2000.0) as pool:
        isolib.attach(pool.sim, str(media))
        session = XenAPI.Session(pool.url)
        session.xenapi.login_with_password("root", "xenroot", "2.21", "test_install_iso")
        try:
            yield pool, session.xenapi, tmp
        finally:
            session.xenapi.session.logout()


def run(bed, role, name, **variables):
    pool, _api, tmp = bed
    version, iso, _distro = ISOS[role]
    play = tmp / ("%s.yml" % name)
    play.write_text(PLAY % {"role": role, "url": pool.url})
    inputs = {"%s_name" % role: name, "%s_version" % role: version, "%s_iso" % role: iso,
              "%s_answer_dir" % role: str(tmp / "answers"), "%s_root_password_hash" % role: ROOT_HASH,
              "%s_networks" % role: [{"network": "xenbr0"}], "%s_secure_boot" % role: "true",
              "%s_vtpm" % role: True, "%s_xs_tools" % role: True, "%s_timeout" % role: 120}
    inputs.update(("%s_%s" % (role, key), value) for key, value in variables.items())
    extra = tmp / ("%s.json" % name)
    extra.write_text(json.dumps(inputs))
    result = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                             "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(extra), str(play)],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout + result.stderr


def changed(output):
    return int(re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", output).group(1))


def check_installed(api, name, distro):
    """The VM as the role leaves it: the installed system running under UEFI + Secure Boot with a
    vTPM, the release reported, PV drivers, no install media, the marker installed."""
    (ref,) = api.VM.get_by_name_label(name)
    record = api.VM.get_record(ref)
    assert record["power_state"] == "Running"
    assert record["HVM_boot_params"]["firmware"] == "uefi" and record["HVM_boot_params"]["order"] == "cd"
    assert record["platform"]["secureboot"] == "true" and len(record["VTPMs"]) == 1
    assert record["other_config"][MARKER] == "installed"
    guest = api.VM_guest_metrics.get_record(record["guest_metrics"])
    assert guest["os_version"]["distro"] == distro and guest["PV_drivers_detected"]
    assert guest["os_version"]["uname"] and guest["networks"].get("0/ip")
    for vbd in record["VBDs"]:
        vbd_record = api.VBD.get_record(vbd)
        if vbd_record["type"] == "CD":
            assert vbd_record["empty"], "an ISO was left in the drive"
        else:
            assert "xenserver.provisioning:answer-drive" not in api.VDI.get_other_config(vbd_record["VDI"])
    return record


@pytest.mark.parametrize("role", sorted(ISOS))
def test_from_nothing_to_a_verified_guest_then_no_change(bed, role):
    _pool, api, _tmp = bed
    name = "%s-iso" % role
    rc, output = run(bed, role, name)
    assert rc == 0, output[-6000:]
    check_installed(api, name, ISOS[role][2])
    rc, output = run(bed, role, name)
    assert rc == 0 and changed(output) == 0, output[-6000:]


def _cut_short(bed, role, name, stop):
    """A first run cut short. It is given a volume that is no installer as its ISO, so the VM
    runs and boots nothing, and the role gives up at its wait for the installer (timeout 1 s),
    leaving the VM as the role had it: its marker, the answer drive, CD first, started.
    ``stop`` 'installer': the plug pulled in the installer (hard shutdown).
    'installed': then, as if that run had gone on, the real ISO inserted, the installer run to
    its end (it powers the VM off) and the install marked ended: halted before its first boot."""
    _pool, api, _tmp = bed
    rc, output = run(bed, role, name, timeout=1, xs_tools=False, iso="OEMDRV-kickstart.iso")
    assert rc != 0 and "step 'install' did not finish in 1 s" in output, output[-4000:]
    (ref,) = api.VM.get_by_name_label(name)
    assert api.VM.get_other_config(ref)[MARKER] == "installer"
    api.VM.hard_shutdown(ref)
    if stop == "installed":
        (cd,) = [v for v in api.VM.get_VBDs(ref) if api.VBD.get_type(v) == "CD"]
        api.VBD.eject(cd)
        api.VBD.insert(cd, api.VDI.get_by_name_label(ISOS[role][1])[0])
        api.VM.start(ref, False, False)
        deadline = time.time() + 30
        while api.VM.get_power_state(ref) != "Halted" and time.time() < deadline:
            time.sleep(0.05)
        api.VM.remove_from_other_config(ref, MARKER)
        api.VM.add_to_other_config(ref, MARKER, "installed")
    assert api.VM.get_power_state(ref) == "Halted"
    return ref


@pytest.mark.parametrize("stop", ["installer", "installed"])
def test_interrupted_install_resumes_and_finishes(bed, stop):
    _pool, api, _tmp = bed
    name = "rhel-cut-%s" % stop
    ref = _cut_short(bed, "rhel_install", name, stop)
    rc, output = run(bed, "rhel_install", name)
    assert rc == 0, output[-6000:]
    check_installed(api, name, "rhel")
    assert api.VM.get_by_name_label(name) == [ref]
    # the installer ran once more only for the VM cut short in it
    installs = len(re.findall(r"Start the installer and wait until it powers the VM off\] \**\n(?:changed|ok):", output))
    assert installs == (1 if stop == "installer" else 0), output[-6000:]


def test_a_rebuild_through_the_vendor_input(bed):
    """rhel_install_vendor: rocky takes the pool's "Rocky Linux 9" template and Rocky's ISO."""
    _pool, api, _tmp = bed
    rc, output = run(bed, "rhel_install", "rocky-iso", vendor="rocky", iso="Rocky-9.4-x86_64-minimal.iso", vtpm=False)
    assert rc == 0, output[-6000:]
    (ref,) = api.VM.get_by_name_label("rocky-iso")
    record = api.VM.get_record(ref)
    guest = api.VM_guest_metrics.get_record(record["guest_metrics"])
    assert guest["os_version"]["distro"] == "rocky" and guest["os_version"]["major"] == "9"
    assert record["other_config"][MARKER] == "installed" and record["VTPMs"] == []
    # cloned from the pool's template of that vendor and release (xapi records it at the clone)
    assert record["other_config"]["base_template_name"] == "Rocky Linux 9"


def test_the_installer_iso_uploaded_from_the_controller(bed):
    """rhel_install_iso_file: the ISO is uploaded once into the pool's default SR and installs
    from there; a second run uploads nothing and changes nothing."""
    _pool, api, tmp = bed
    path = tmp / "upload" / "rhel-9.4-x86_64-boot.iso"
    path.parent.mkdir()
    images.write_iso(str(path), *images.ISOS["rhel-9.4-x86_64-boot.iso"])
    rc, output = run(bed, "rhel_install", "rhel-upload", iso="", iso_file=str(path), vtpm=False)
    assert rc == 0, output[-6000:]
    default_sr = api.pool.get_default_SR(api.pool.get_all()[0])

    def uploads():
        return [v for v in api.VDI.get_by_name_label(path.name) if api.VDI.get_SR(v) == default_sr]
    (vdi,) = uploads()
    assert api.VDI.get_other_config(vdi)["xenserver.provisioning:image-sha256"] == images_sha256(path)
    (ref,) = api.VM.get_by_name_label("rhel-upload")
    assert api.VM.get_other_config(ref)[MARKER] == "installed"
    assert api.VM_guest_metrics.get_os_version(api.VM.get_guest_metrics(ref))["distro"] == "rhel"
    rc, output = run(bed, "rhel_install", "rhel-upload", iso="", iso_file=str(path), vtpm=False)
    assert rc == 0 and changed(output) == 0, output[-6000:]
    assert uploads() == [vdi]


def images_sha256(path):
    import hashlib
    return hashlib.sha256(path.read_bytes()).hexdigest()
