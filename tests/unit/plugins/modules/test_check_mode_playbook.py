"""Check mode across modules: a playbook that creates a VM with vm and configures it with the
later modules runs with --check on an empty pool. Each later task reports what it would do to the
VM that does not exist yet (changed, with the note), none fails, and the pool is left as it was:
no call but reads, by the simulator's call log.

The playbook runs through ansible-runner (as AWX runs one), whose events carry each task's result.
"""
import os
import re
import sys

import ansible_runner

from conftest import ROOT

NOTE = "the VM does not exist yet (check mode): VM 'web01' would be created by an earlier task, and then this task would "
PLAY = """
- name: One VM, made and configured
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/xenserver.provisioning.xenserver: {hostname: "%(url)s", username: root, password: xenroot}
  tasks:
    - name: vm
      xenserver.provisioning.vm:
        name: web01
        template: CentOS 5 (64-bit)
        memory_mb: 1024
        vcpus: 2
        disks: [{size_gb: 8}]
        networks: [{network: xenbr0}]
    - name: vm_boot
      xenserver.provisioning.vm_boot:
        name: web01
        pv_bootloader: eliloader
        install_repository: http://192.0.2.1/centos/5/os/x86_64
        pv_args: console=xvc0
    - name: vm_xenstore_data
      xenserver.provisioning.vm_xenstore_data:
        name: web01
        data: {role: web, hostname: web01.example.com}
    - name: vm_cdrom
      xenserver.provisioning.vm_cdrom:
        name: web01
        iso: xs-tools.iso
    - name: vm_cloud_init
      xenserver.provisioning.vm_cloud_init:
        name: web01
        user_data: {hostname: web01, packages: [nginx]}
    - name: vm_snapshot
      xenserver.provisioning.vm_snapshot:
        name: web01
        snapshot: installed
    - name: vm_power
      xenserver.provisioning.vm_power:
        name: web01
        state: running
        wait_for: ip
        wait_timeout: 600
"""
# What each later task would do, after the note.
WOULD = {
    "vm_boot": "set PV_args, PV_bootloader, other_config:install-repository",
    "vm_xenstore_data": "set vm-data/hostname, vm-data/role",
    "vm_cdrom": "add a CD drive with xs-tools.iso in it",
    "vm_cloud_init": "attach a cloud-init drive",
    "vm_snapshot": "take snapshot 'installed'",
    "vm_power": "start and wait for ip",
}
# Reads only: a check run asks, it never makes, changes or waits.
READ = re.compile(r"^(session\.(login_with_password|logout)|[A-Za-z_]+\.get_[A-Za-z_]+)$")


def run_check(tmp_path, url, *extra):
    """ansible-playbook --check of PLAY through ansible-runner: {task name: result}, the runner."""
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "play.yml").write_text(PLAY % {"url": url})
    bin_dir = os.path.dirname(sys.executable)
    runner = ansible_runner.run(
        private_data_dir=str(tmp_path), playbook="play.yml", inventory="localhost ansible_connection=local "
        "ansible_python_interpreter=%s" % sys.executable, cmdline=" ".join(("--check",) + extra), quiet=True,
        envvars={"PATH": bin_dir + os.pathsep + os.environ["PATH"], "ANSIBLE_PIPELINING": "True",
                 "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".venv", "collections")})
    results = {}
    for event in runner.events:
        if event["event"] in ("runner_on_ok", "runner_on_failed"):
            data = event["event_data"]
            results[data["task"]] = dict(data["res"], failed=event["event"] == "runner_on_failed")
    return results, runner


def test_check_mode_playbook_on_an_empty_pool_reports_each_task_and_leaves_it_empty(pool, tmp_path):
    before = pool.state()
    pool.mark()
    results, runner = run_check(tmp_path, pool.url)
    assert runner.rc == 0 and runner.status == "successful", runner.stdout.read()[-3000:]
    assert list(results) == ["vm"] + list(WOULD)
    assert results["vm"]["changed"] is True and results["vm"]["vm"] == {}
    assert "clone 'CentOS 5 (64-bit)' as VM 'web01'" in results["vm"]["changes"]["actions"]
    for task, would in WOULD.items():
        result = results[task]
        assert not result["failed"] and result["changed"] is True, (task, result)
        assert result["msg"] == NOTE + would, (task, result["msg"])
    assert results["vm_power"]["changes"]["actions"] == ["start"] and results["vm_power"]["uuid"] == ""
    assert results["vm_cdrom"]["cdrom"]["iso"] == "xs-tools.iso"
    assert results["vm_cloud_init"]["changes"]["fields"] == ["meta-data", "state", "user-data"]
    assert results["vm_snapshot"]["snapshots"] == [{"name": "installed", "uuid": "", "time": ""}]
    calls = pool.calls()
    assert calls and [c for c in calls if not READ.match(c)] == []
    assert "event.from" not in calls
    assert pool.state() == before
    assert not pool.api.VM.get_by_name_label("web01")
