"""rhel_install run by ansible-playbook against an embedded pool and the sample install trees:
a failing step prints its error once, and rhel_install_restart_if_needed lets a resize that needs
the VM halted reach an installed VM.

A role step's module task does not fail by itself: the step's fail task after it fails the role
with the module's message, naming the step (install_guest/vars/main.yml __install_guest_failure).
So ansible-playbook's output holds the message once, on the one "fatal:" line of the run.
"""
import contextlib
import json
import re
import subprocess
import sys

import XenAPI

from xapisim import trees
from xapisim.embedded import embedded

from role_render import ENV, PLAYBOOK, ROOT

MIB = 2 ** 20
PLAY = """
- name: rhel_install
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/xenserver.provisioning.xenserver: {hostname: "%(url)s", username: root, password: xenroot}
  roles:
    - role: xenserver.provisioning.rhel_install
      vars:
        rhel_install_name: rhel-resize
        rhel_install_version: "5.1"
        rhel_install_repository: "%(trees)s/rhel-5.1-x86_64"
        rhel_install_answer_dir: "%(answers)s"
        rhel_install_answer_base_url: "%(trees)s/answers"
        rhel_install_root_password_hash: $6$rolestest$ZLlweCOh0qBPoiddRb9lmfkkxR1EdisDVS/0hoh.kZ7cjyesCnbTdVhUTVkTSW.xTDqKz6yFaHrUe87XbkjL8/
        rhel_install_networks: [{network: xenbr0}]
        rhel_install_timeout: 120
"""


def run(tmp_path, pool, web, **variables):
    play = tmp_path / "play.yml"
    play.write_text(PLAY % {"url": pool.url, "trees": web.url, "answers": tmp_path / "trees" / "answers"})
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps(variables))
    result = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                             "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(extra), str(play)],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout, result.stderr


def printed_once(message, stdout, stderr):
    """``message`` is on the run's one "fatal:" line and nowhere else, but for ansible-core 2.19's
    own echo of a failed task's message just before its fatal line ("[ERROR]: Task failed: ...";
    2.18 has none)."""
    output = stdout + stderr
    echoes = re.findall(r"(?m)^\[ERROR\]: Task failed: .*\n", output)
    for echo in echoes:
        output = output.replace(echo, "", 1)
    fatal = re.findall(r"(?m)^fatal: .*$", output)
    return len(echoes) <= 1 and len(fatal) == 1 and message in fatal[0] and output.count(message) == 1


@contextlib.contextmanager
def pool_with_trees(tmp_path):
    """(pool, web server of the sample install trees, a logged-in session's xenapi)."""
    trees.write_samples(str(tmp_path / "trees"))
    with embedded(state=str(tmp_path / "pool.json"), clock_speed=2000.0) as pool, \
            trees.served(str(tmp_path / "trees")) as web:
        session = XenAPI.Session(pool.url)
        session.xenapi.login_with_password("root", "xenroot", "2.21", "test_install_guest_runs")
        try:
            yield pool, web, session.xenapi
        finally:
            session.xenapi.session.logout()


def test_resize_needs_restart_if_needed_and_a_failure_prints_once(tmp_path):
    with pool_with_trees(tmp_path) as (pool, web, api):
        rc, output, _err = run(tmp_path, pool, web)
        assert rc == 0, output[-4000:]
        ref = api.VM.get_by_name_label("rhel-resize")[0]
        before = api.VM.get_record(ref)
        assert before["power_state"] == "Running" and before["memory_static_max"] == str(1024 * MIB)

        # Memory above the static maximum needs a halt: without restart_if_needed the create
        # step fails, once, naming the fields and the input that allows it; nothing changes.
        rc, output, errors = run(tmp_path, pool, web, rhel_install_memory_mb=2048)
        assert rc != 0, output[-4000:]
        message = ("rhel_install: step 'create' failed for VM 'rhel-resize': VM 'rhel-resize' is running "
                   "and these changes need it halted: memory_max_mb 1024 -> 2048")
        assert printed_once(message, output, errors), output[-4000:] + errors[-2000:]
        assert printed_once("set rhel_install_restart_if_needed to let the role shut the VM down", output, errors)
        assert re.search(r"(?m)^localhost\s+: .*failed=1 .*rescued=0", output), output[-2000:]
        unchanged = api.VM.get_record(ref)
        assert unchanged["memory_static_max"] == str(1024 * MIB)
        assert unchanged["power_state"] == "Running" and unchanged["domid"] == before["domid"]

        # With it: shut down, resized, started again; the role ends with the guest reporting.
        rc, output, _err = run(tmp_path, pool, web, rhel_install_memory_mb=2048, rhel_install_restart_if_needed=True)
        assert rc == 0, output[-4000:]
        after = api.VM.get_record(ref)
        assert after["memory_static_max"] == str(2048 * MIB) and after["memory_dynamic_max"] == str(2048 * MIB)
        assert after["power_state"] == "Running" and after["domid"] != before["domid"]
        metrics = api.VM_guest_metrics.get_record(after["guest_metrics"])
        assert metrics["PV_drivers_detected"]

        # A wait that runs out: the install step's message, once.
        rc, output, errors = run(tmp_path, pool, web, rhel_install_name="rhel-hang", rhel_install_timeout=4,
                                 rhel_install_answer_base_url=web.url + "/nowhere")
        assert rc != 0, output[-4000:]
        assert printed_once("rhel_install: step 'install' did not finish in 4 s for VM 'rhel-hang': ", output, errors), \
            output[-4000:] + errors[-2000:]
        assert printed_once("to be halted", output, errors), output[-4000:] + errors[-2000:]


def test_an_install_cut_short_is_taken_up_by_its_error_code(tmp_path):
    """A VM halted in its installer (eliloader had switched it to pygrub; the disk has no system):
    the next run boots the disk, pygrub fails (error_code BOOTLOADER_FAILED, whatever it printed),
    and the role installs again instead of failing."""
    with pool_with_trees(tmp_path) as (pool, web, api):
        # The installer waits for a kickstart that is not there; the role gives up.
        rc, output, _err = run(tmp_path, pool, web, rhel_install_name="rhel-cut", rhel_install_timeout=4,
                               rhel_install_answer_base_url=web.url + "/nowhere")
        assert rc != 0, output[-4000:]
        ref = api.VM.get_by_name_label("rhel-cut")[0]
        api.VM.hard_shutdown(ref)
        assert api.VM.get_PV_bootloader(ref) == "pygrub"

        rc, output, errors = run(tmp_path, pool, web, rhel_install_name="rhel-cut")
        assert rc == 0, output[-4000:] + errors[-2000:]
        assert "has no system pygrub can boot on its disk" in output, output[-4000:]
        assert "fatal:" not in output
        record = api.VM.get_record(ref)
        assert record["power_state"] == "Running"
        assert record["other_config"]["xenserver.provisioning:install"] == "installed"
