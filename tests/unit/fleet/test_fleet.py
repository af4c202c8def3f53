"""playbooks/fleet.yml end to end: converge, converge again, check mode, drift, pruning.

One VM per distro from the demo inventory, against an embedded simulator and a real local web
server for the sample install trees. The stages share one pool, so they are one test.
"""
import os
import re
import subprocess
import sys

import XenAPI

from xapisim import trees
from xapisim.embedded import embedded

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HOSTS = "demo-rhel-web,demo-centos-app,demo-sles-erp"


def _playbook(env, *extra):
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
         "-i", os.path.join(ROOT, "playbooks", "demo_inventory"),
         os.path.join(ROOT, "playbooks", "fleet.yml"), "--limit", HOSTS + ",localhost"] + list(extra),
        cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    recap = dict((m.group(1), int(m.group(2))) for m in
                 re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M))
    assert set(HOSTS.split(",")) <= set(recap), output[-3000:]
    return recap, output


def test_fleet_converges_stays_converged_and_repairs_drift(tmp_path):
    tree_dir = tmp_path / "trees"
    trees.write_samples(str(tree_dir))
    answers = tree_dir / "answers"
    with embedded(state=str(tmp_path / "pool.json"), clock_speed=2000.0) as pool, \
            trees.served(str(tree_dir)) as web:
        env = dict(os.environ, XENSERVER_HOST=pool.url, XENSERVER_USER="root",
                   XENSERVER_PASSWORD="xenroot", DEMO_TREES_URL=web.url,
                   DEMO_ANSWER_DIR=str(answers), DEMO_ANSWER_BASE_URL=web.url + "/answers",
                   ANSIBLE_FORKS="3", ANSIBLE_PIPELINING="True",
                   ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".venv", "collections"))
        session = XenAPI.Session(pool.url)
        session.xenapi.login_with_password("root", "xenroot", "2.21", "test_fleet")
        api = session.xenapi

        first = _playbook(env)[0]
        assert all(first[h] > 0 for h in HOSTS.split(","))
        for name in HOSTS.split(","):
            vm = api.VM.get_record(api.VM.get_by_name_label(name)[0])
            assert vm["power_state"] == "Running" and vm["PV_bootloader"] == "pygrub", name
            assert vm["other_config"]["xenserver.provisioning.fleet"] == "demo"

        second = _playbook(env)[0]
        assert sum(second.values()) == 0, second

        checked = _playbook(env, "--check")[0]
        assert sum(checked.values()) == 0, checked

        # Drift by hand: memory, boot args and a vm-data key.
        web_vm = api.VM.get_by_name_label("demo-rhel-web")[0]
        api.VM.set_memory_dynamic_range(web_vm, str(1536 * 2 ** 20), str(1536 * 2 ** 20))
        api.VM.set_PV_args(web_vm, "console=xvc0 single")
        data = api.VM.get_xenstore_data(web_vm)
        del data["vm-data/role"]
        api.VM.set_xenstore_data(web_vm, data)
        sles_vm = api.VM.get_by_name_label("demo-sles-erp")[0]
        api.VM.set_PV_bootloader_args(sles_vm, "--kernel /boot/vmlinuz-old --ramdisk /boot/initrd-old")

        repaired, output = _playbook(env, "--diff")
        assert repaired["demo-rhel-web"] > 0 and repaired["demo-sles-erp"] > 0, repaired
        assert repaired["demo-centos-app"] == 0, repaired
        assert '-    "memory_mb": 1536' in output and '+    "memory_mb": 2048' in output
        assert '+        "vm-data/role": "web"' in output
        record = api.VM.get_record(web_vm)
        assert record["memory_dynamic_max"] == str(2048 * 2 ** 20)
        assert record["xenstore_data"]["vm-data/role"] == "web"
        assert "single" not in record["PV_args"]
        assert api.VM.get_PV_bootloader_args(sles_vm) == "--kernel /boot/vmlinuz-xen --ramdisk /boot/initrd-xen"

        # A tagged VM that is not in the inventory: left alone, unless pruning is asked for.
        template = api.VM.get_by_name_label("CentOS 5 (64-bit)")[0]
        stray = api.VM.clone(template, "demo-stray")
        api.VM.set_is_a_template(stray, False)
        api.VM.add_to_other_config(stray, "xenserver.provisioning.fleet", "demo")
        assert sum(_playbook(env)[0].values()) == 0     # the repaired fleet is converged again
        assert api.VM.get_by_name_label("demo-stray") == [stray]
        _playbook(env, "-e", "fleet_prune=true")
        assert api.VM.get_by_name_label("demo-stray") == []
        assert len(api.VM.get_by_name_label("demo-rhel-web")) == 1
        session.xenapi.session.logout()
