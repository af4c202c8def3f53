"""The guest's own view as a test hook (xapisim.guestview, ``xapisim guest`` / ``xenstore-read``)
and xs-tools in a CD drive hot-plugged into a booted guest.

The hook reads the state file of ``xapisim serve --state``: process-level tests (molecule
scenarios) use it to check what the guest sees, which no XenAPI call shows.
"""
import json
import subprocess

import pytest

from xapisim import guestview, trees

FAST = 100000.0
NULL = "OpaqueRef:NULL"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    directory = tmp_path_factory.mktemp("trees")
    trees.write_samples(str(directory))
    with trees.served(str(directory)) as server:
        yield server


@pytest.fixture
def state(tmp_path):
    return str(tmp_path / "pool.json")


@pytest.fixture
def pool(make_pool, state):
    return make_pool(clock_speed=FAST, state=state)


@pytest.fixture
def x(pool, login):
    return login(pool.url)


def installed_vm(pool, x, repo, name="guest"):
    """RHEL 5.1 installed from the sample tree, rebooted into pygrub and booted."""
    vm = x.VM.clone(x.VM.get_by_name_label("Red Hat Enterprise Linux 5.1 x64")[0], name)
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    disks = x.VM.get_other_config(vm)["disks"]
    x.VM.remove_from_other_config(vm, "disks")
    x.VM.add_to_other_config(vm, "disks", disks.replace('sr=""', 'sr="%s"' % x.SR.get_uuid(sr)))
    x.VM.add_to_other_config(vm, "install-repository", repo.url + "/rhel-5.1-x86_64")
    x.VM.set_PV_args(vm, "console=xvc0 ks=%s/answers/rhel-reboot.ks" % repo.url)
    x.VM.set_xenstore_data(vm, {"vm-data/foo": "bar", "other/key": "dropped"})
    x.VM.provision(vm)
    x.VM.start(vm, False, True)
    pool.sim.guests.wait(vm, lambda s: s.get("stage") == "booted")
    return vm


@pytest.fixture
def cli(xapisim_cmd):
    def run(*args):
        return subprocess.run(xapisim_cmd + list(args), capture_output=True, text=True, timeout=30, check=False)
    return run


def test_a_cd_drive_plugged_with_xs_tools_installs_them(pool, x, repo):
    """vm_cdrom on a VM without a drive creates the VBD with the ISO in it and plugs it: the
    guest sees a disc arrive, as with VBD.insert."""
    vm = installed_vm(pool, x, repo)
    cd = x.VBD.create({"VM": vm, "VDI": x.VDI.get_by_name_label("xs-tools.iso")[0], "userdevice": "3",
                       "bootable": False, "mode": "RO", "type": "CD", "unpluggable": True, "empty": False,
                       "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
    x.VBD.plug(cd)
    pool.sim.guests.wait(vm, lambda s: s.get("tools") == "installed")
    metrics = x.VM_guest_metrics.get_record(x.VM.get_guest_metrics(vm))
    assert metrics["PV_drivers_detected"] is True


def test_an_empty_drive_plugged_installs_nothing(pool, x, repo):
    vm = installed_vm(pool, x, repo)
    cd = x.VBD.create({"VM": vm, "VDI": NULL, "userdevice": "3", "bootable": False, "mode": "RO",
                       "type": "CD", "unpluggable": True, "empty": True, "other_config": {},
                       "qos_algorithm_type": "", "qos_algorithm_params": {}})
    x.VBD.plug(cd)
    assert pool.sim.guests.inspect(vm).get("tools") is None


def test_view_and_xenstore_read_from_the_state_file(pool, x, repo, state):
    vm = installed_vm(pool, x, repo)
    data = guestview.load(state)
    seen = guestview.view(data, "guest")
    assert seen["power_state"] == "running" and seen["stage"] == "booted" and seen["loader"] == "pygrub"
    assert seen["uname"] == "2.6.18-53.el5xen" and seen["kernel"] == "/boot/vmlinuz-2.6.18-53.el5xen"
    assert seen["cmdline"].endswith("console=xvc0 ks=%s/answers/rhel-reboot.ks" % repo.url)
    assert seen["xenstore"] == {"vm-data/foo": "bar"}          # only vm-data/ reaches the guest
    assert guestview.xenstore_read(data, "guest", "vm-data/foo") == "bar"
    domid = int(x.VM.get_domid(vm))
    assert guestview.xenstore_read(data, x.VM.get_uuid(vm), "/local/domain/%d/vm-data/foo" % domid) == "bar"
    with pytest.raises(guestview.GuestViewError, match="could not read path other/key"):
        guestview.xenstore_read(data, "guest", "other/key")
    with pytest.raises(guestview.GuestViewError, match="Permission denied"):
        guestview.xenstore_read(data, "guest", "/local/domain/0/vm-data/foo")
    with pytest.raises(guestview.GuestViewError, match="no VM named 'nobody'"):
        guestview.view(data, "nobody")
    # a live change reaches the guest and the state file at once
    x.VM.set_xenstore_data(vm, {"vm-data/foo": "baz"})
    assert guestview.xenstore_read(guestview.load(state), "guest", "vm-data/foo") == "baz"
    # a halted guest has no xenstore
    x.VM.hard_shutdown(vm)
    data = guestview.load(state)
    assert guestview.view(data, "guest")["xenstore"] == {}
    with pytest.raises(guestview.GuestViewError, match="halted"):
        guestview.xenstore_read(data, "guest", "vm-data/foo")


def test_cli_exit_codes(pool, x, repo, state, cli):
    installed_vm(pool, x, repo)
    done = cli("xenstore-read", "--state", state, "--vm", "guest", "vm-data/foo")
    assert (done.returncode, done.stdout, done.stderr) == (0, "bar\n", "")
    done = cli("xenstore-read", "--state", state, "--vm", "guest", "vm-data/missing")
    assert done.returncode == 1 and "could not read path vm-data/missing" in done.stderr and not done.stdout
    done = cli("xenstore-read", "--state", state, "--vm", "nobody", "vm-data/foo")
    assert done.returncode == 2 and "no VM named 'nobody'" in done.stderr
    done = cli("guest", "--state", state + ".missing", "--vm", "guest")
    assert done.returncode == 2
    done = cli("guest", "--state", state, "--vm", "guest")
    assert done.returncode == 0
    seen = json.loads(done.stdout)
    assert seen["uname"] == "2.6.18-53.el5xen" and seen["xenstore"] == {"vm-data/foo": "bar"}
