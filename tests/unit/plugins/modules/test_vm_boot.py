"""vm_boot against the simulator, through the real SDK."""
import functools
import http.server
import threading

import pytest
import XenAPI

from xapisim.trees import write_tree


@pytest.fixture(autouse=True)
def _no_warnings_left_behind():
    """A real module run is its own process; runs in this process share ansible's warning list."""
    yield
    from ansible.module_utils.common import warnings
    for name in ("_global_warnings", "_global_deprecations"):
        getattr(warnings, name, {}).clear()


FIND = "VM.get_all_records_where"
LOGIN = "session.login_with_password"
LOGOUT = "session.logout"


def _make_vm(pool, name, template="CentOS 5 (64-bit)", repository=None):
    vm = pool.provisioned_vm(name, template, {"install-repository": repository} if repository else None)
    pool.mark()
    return vm


def test_pv_check_apply_idempotent_with_call_counts(pool, run_module):
    vm = _make_vm(pool, "pv01")
    other_before = pool.api.VM.get_other_config(vm)
    pool.mark()
    options = dict(name="pv01", pv_args="console=xvc0 ks=http://192.0.2.1/ks.cfg",
                   install_repository="http://192.0.2.1/centos/5", install_arch="i386")
    before = pool.state()
    result = run_module("vm_boot", check_mode=True, **options)
    assert result["changed"] is True and pool.state() == before
    assert result["boot"]["install_repository"] == "http://192.0.2.1/centos/5"
    assert result["boot"]["PV_args"] == options["pv_args"]
    assert pool.calls() == [LOGIN, FIND, LOGOUT]

    result = run_module("vm_boot", **options)
    assert result["changed"] is True and result["reboot_required"] is False
    assert result["changes"]["fields"] == ["PV_args", "other_config:install-arch", "other_config:install-repository"]
    # one key at a time: the template's install-arch is replaced, the repository added
    assert pool.calls() == [LOGIN, FIND, "VM.set_PV_args", "VM.remove_from_other_config",
                            "VM.add_to_other_config", "VM.add_to_other_config", LOGOUT]
    record = pool.api.VM.get_record(vm)
    assert record["PV_args"] == options["pv_args"]
    expected = dict(other_before, **{"install-repository": "http://192.0.2.1/centos/5", "install-arch": "i386"})
    assert record["other_config"] == expected

    pool.mark()
    result = run_module("vm_boot", **options)
    assert result["changed"] is False and result["reboot_required"] is False
    assert pool.calls() == [LOGIN, FIND, LOGOUT]

    # undo: an empty string removes the key, and only that key
    result = run_module("vm_boot", name="pv01", install_repository="", diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": {"other_config:install-repository": "http://192.0.2.1/centos/5"},
                              "after": {"other_config:install-repository": None}}
    assert pool.api.VM.get_other_config(vm) == dict(other_before, **{"install-arch": "i386"})
    assert run_module("vm_boot", name="pv01", install_repository="")["changed"] is False


def test_the_repository_set_makes_the_vm_bootable(pool, run_module, tmp_path):
    vm = _make_vm(pool, "pv02")
    with pytest.raises(XenAPI.Failure, match="BOOTLOADER_FAILED"):
        pool.api.VM.start(vm, False, True)
    write_tree(str(tmp_path), "centos", "5.1", "x86_64")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        repository = "http://127.0.0.1:%d/" % server.server_address[1]
        result = run_module("vm_boot", name="pv02", install_repository=repository, install_distro="rhlike")
        assert result["changed"] is True
        pool.api.VM.start(vm, False, True)
        assert pool.api.VM.get_power_state(vm) == "Running"
    finally:
        if pool.api.VM.get_power_state(vm) == "Running":
            pool.api.VM.hard_shutdown(vm)  # before the repository goes away
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _direct_boot(pool, vm):
    """Boot a kernel from dom0: a running PV domain without an installer."""
    pool.api.VM.set_PV_bootloader(vm, "")
    pool.api.VM.set_PV_kernel(vm, "/boot/guest/vmlinuz")


def test_running_vm_changes_take_effect_at_next_boot(pool, run_module):
    vm = _make_vm(pool, "pv03")
    _direct_boot(pool, vm)
    pool.api.VM.start(vm, False, True)
    result = run_module("vm_boot", name="pv03", pv_args="console=xvc0 text")
    assert result["changed"] is True and result["reboot_required"] is True and result["power_state"] == "running"
    assert pool.api.VM.get_power_state(vm) == "Running"
    result = run_module("vm_boot", name="pv03", pv_args="console=xvc0 text")
    assert result["changed"] is False and result["reboot_required"] is False


def test_sles_round_two_pygrub_with_bootloader_args(pool, run_module):
    vm = _make_vm(pool, "sles01", template="SUSE Linux Enterprise Server 10 SP1 (64-bit)")
    args = "--kernel /boot/vmlinuz-xen --ramdisk /boot/initrd-xen"
    result = run_module("vm_boot", name="sles01", PV_bootloader="pygrub", PV_bootloader_args=args)
    assert result["changed"] is True
    assert result["changes"]["fields"] == ["PV_bootloader", "PV_bootloader_args"]
    record = pool.api.VM.get_record(vm)
    assert (record["PV_bootloader"], record["PV_bootloader_args"]) == ("pygrub", args)
    assert run_module("vm_boot", name="sles01", pv_bootloader="pygrub", pv_bootloader_args=args)["changed"] is False


def test_direct_boot_needs_a_kernel(pool, run_module):
    vm = _make_vm(pool, "pv04")
    before = pool.state()
    result = run_module("vm_boot", name="pv04", pv_bootloader="none")
    assert result["failed"] and "no PV_kernel" in result["msg"] and pool.state() == before
    result = run_module("vm_boot", name="pv04", pv_bootloader="none", pv_kernel="/boot/guest/vmlinuz",
                        pv_ramdisk="/boot/guest/initrd.img")
    assert result["changed"] is True and result["boot"]["PV_bootloader"] == ""
    pool.api.VM.start(vm, False, True)
    state = pool.sim.guests.state(vm)
    assert (state["stage"], state["kernel"]) == ("direct", "/boot/guest/vmlinuz")
    assert run_module("vm_boot", name="pv04", pv_bootloader="", pv_kernel="/boot/guest/vmlinuz")["changed"] is False


def test_eliloader_without_repository_warns(pool, run_module):
    _make_vm(pool, "pv05")
    result = run_module("vm_boot", name="pv05", pv_bootloader="eliloader", pv_args="x")
    assert result["changed"] is True
    # ansible-core 2.19 returns warnings as structured summaries; older ones as strings
    assert "has no install_repository" in str(result.get("warnings"))


def test_hvm_boot_order_and_firmware_one_key_at_a_time(pool, run_module):
    vm = _make_vm(pool, "hvm01", template="Red Hat Enterprise Linux 9")
    pool.api.VM.add_to_HVM_boot_params(vm, "custom", "keep")
    pool.mark()
    before = pool.state()
    result = run_module("vm_boot", check_mode=True, name="hvm01", hvm_boot_order="dcn", hvm_firmware="bios")
    assert result["changed"] is True and pool.state() == before
    result = run_module("vm_boot", name="hvm01", boot_order="dcn", hvm_firmware="bios")
    assert result["changed"] is True
    calls = pool.calls()
    assert "VM.set_HVM_boot_params" not in calls
    assert calls.count("VM.remove_from_HVM_boot_params") == 2 and calls.count("VM.add_to_HVM_boot_params") == 2
    assert pool.api.VM.get_HVM_boot_params(vm) == {"order": "dcn", "firmware": "bios", "custom": "keep"}
    pool.mark()
    result = run_module("vm_boot", name="hvm01", hvm_boot_order="dcn", hvm_firmware="bios")
    assert result["changed"] is False and pool.calls() == [LOGIN, FIND, LOGOUT]
    assert result["boot"]["hvm"] is True and result["boot"]["HVM_boot_params"]["order"] == "dcn"


def test_options_of_the_other_boot_kind_fail_before_changing_anything(pool, run_module):
    _make_vm(pool, "hvm02", template="Red Hat Enterprise Linux 9")
    _make_vm(pool, "pv06")
    before = pool.state()
    result = run_module("vm_boot", name="hvm02", hvm_boot_order="cd", pv_args="console=hvc0",
                        install_repository="http://x/y")
    assert result["failed"] and "VM 'hvm02' boots HVM" in result["msg"]
    assert "pv_args, install_repository" in result["msg"]
    result = run_module("vm_boot", name="pv06", pv_args="console=xvc0", hvm_firmware="uefi")
    assert result["failed"] and "VM 'pv06' is a PV VM" in result["msg"] and "hvm_firmware" in result["msg"]
    assert pool.state() == before
    assert "VM.set_PV_args" not in pool.calls()


@pytest.mark.parametrize("options, words", [
    ({"install_repository": "smb://server/share"}, ["'smb://server/share'", "nfs:server:/path"]),
    ({"install_repository": "nfs:/export"}, ["'nfs:/export'"]),
    ({"install_repository": "/srv/centos"}, ["'/srv/centos'"]),
    ({"hvm_boot_order": "cdx"}, ["'cdx'"]),
    ({"hvm_boot_order": "cdc"}, ["'cdc'", "at most once"]),
    ({"pv_bootloader": "grub"}, ["grub"]),
    ({"install_distro": "ubuntulike"}, ["ubuntulike"]),
    ({"install_arch": "amd64"}, ["amd64"]),
    ({"hvm_firmware": "coreboot"}, ["coreboot"]),
])
def test_bad_values_fail_naming_them_without_a_call(pool, run_module, options, words):
    _make_vm(pool, "pv07")
    before = pool.state()
    result = run_module("vm_boot", name="pv07", **options)
    assert result["failed"] is True
    for word in words:
        assert word in result["msg"]
    assert pool.state() == before and pool.calls() == []


def test_templates(pool, run_module):
    builtin = pool.api.VM.get_by_name_label("CentOS 5 (64-bit)")[0]
    custom = pool.api.VM.clone(builtin, "my centos")
    pool.mark()
    before = pool.state()
    result = run_module("vm_boot", name="CentOS 5 (64-bit)", template=True, pv_args="x")
    assert result["failed"] and "built-in template" in result["msg"] and pool.state() == before
    result = run_module("vm_boot", name="CentOS 5 (64-bit)", pv_args="x")
    assert result["failed"] and "no VM named 'CentOS 5 (64-bit)'" in result["msg"]
    result = run_module("vm_boot", name="my centos", template=True, pv_args="console=xvc0 text")
    assert result["changed"] is True and pool.api.VM.get_PV_args(custom) == "console=xvc0 text"
    assert pool.api.VM.get_PV_args(builtin) == "graphical utf8"


def test_by_uuid_and_missing(pool, run_module):
    vm = _make_vm(pool, "pv08")
    result = run_module("vm_boot", uuid=pool.api.VM.get_uuid(vm), pv_args="a")
    assert result["changed"] is True
    result = run_module("vm_boot", uuid="00000000-0000-0000-0000-000000000000", pv_args="a")
    assert result["failed"] and "no VM with uuid '00000000-0000-0000-0000-000000000000'" in result["msg"]


def test_check_mode_on_a_vm_not_created_yet(pool, run_module):
    """An earlier task in check mode would create the VM: every option given is a change, and
    nothing is asked but the lookup. Outside check mode, or by uuid, it fails as before."""
    before = pool.state()
    pool.mark()
    result = run_module("vm_boot", check_mode=True, diff=True, name="new01", pv_bootloader="eliloader",
                        install_repository="http://192.0.2.1/centos/5/os/x86_64", pv_args="console=xvc0")
    assert not result.get("failed") and result["changed"] is True
    assert result["msg"].startswith("the VM does not exist yet (check mode): VM 'new01' would be created")
    assert result["changes"]["fields"] == ["PV_args", "PV_bootloader", "other_config:install-repository"]
    assert result["diff"]["after"]["PV_bootloader"] == "eliloader" and result["boot"] == {}
    assert [c for c in pool.calls() if not c.startswith("session.")] == ["VM.get_all_records_where"]
    assert pool.state() == before
    result = run_module("vm_boot", check_mode=True, name="new01", pv_args="console=xvc0", hvm_boot_order="zz")
    assert result["failed"] and "zz" in result["msg"]       # bad input still fails
    result = run_module("vm_boot", name="new01", pv_args="console=xvc0")
    assert result["failed"] and result["error_code"] == "NOT_FOUND" and "no VM named 'new01'" in result["msg"]
    result = run_module("vm_boot", check_mode=True, uuid="00000000-0000-0000-0000-000000000000", pv_args="a")
    assert result["failed"] and result["error_code"] == "NOT_FOUND"
    result = run_module("vm_boot", check_mode=True, name="no such template", template=True, pv_args="a")
    assert result["failed"] and "no template named 'no such template'" in result["msg"]
