"""cloud_instance run by ansible-playbook against an embedded pool: bad cloud-init input (a
gateway outside the address's prefix) fails the role naming the value before anything is made,
since vm_cloud_init checks the input first, in check mode, before the template and VM tasks and
before the pool is contacted: no template, no VM, no upload, not even a login."""
import json
import subprocess
import sys

from xapisim.embedded import embedded

from role_render import ENV, PLAYBOOK, ROOT

PLAY = """
- name: cloud_instance
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/xenserver.provisioning.xenserver: {hostname: "%(url)s", username: root, password: xenroot}
  roles:
    - role: xenserver.provisioning.cloud_instance
      vars:
        cloud_instance_name: web-bad-gateway
        cloud_instance_template: Rocky Linux 9
        cloud_instance_firmware: bios
        cloud_instance_networks: [{network: xenbr0}]
        cloud_instance_timeout: 30
"""


def snapshot(sim):
    """The pool's tables but sessions and tasks, to prove nothing changed."""
    tables = {k: v for k, v in sim.db.snapshot()["tables"].items() if k not in ("session", "task")}
    return json.dumps(tables, sort_keys=True)


def test_a_gateway_outside_the_prefix_fails_before_anything_is_made(tmp_path):
    log = tmp_path / "calls.jsonl"
    with embedded(call_log=str(log), clock_speed=1000.0) as pool:
        before = snapshot(pool.sim)
        play = tmp_path / "play.yml"
        play.write_text(PLAY % {"url": pool.url})
        extra = tmp_path / "extra.json"
        extra.write_text(json.dumps({"cloud_instance_network": {
            "addresses": ["192.0.2.10/24"], "gateway4": "198.51.100.1"}}))
        result = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                                 "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(extra), str(play)],
                                cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output[-4000:]
        assert "Check the cloud-init input" in output and "198.51.100.1 is outside 192.0.2.0/24" in output, \
            output[-4000:]
        for later in ("Make the template from the image", "Create the VM from the template"):
            assert "TASK [xenserver.provisioning.cloud_instance : %s" % later not in output, output[-4000:]
        assert snapshot(pool.sim) == before
        calls = [json.loads(line)["method"] for line in log.read_text().splitlines()] if log.exists() else []
        assert calls == [], calls
        assert not pool.sim.db.snapshot()["tables"].get("session"), "the role logged in"
