"""scripts/test-pool.sh (make test-pool): skipped without a pool; given one, the integration
harness uses it instead of a simulator of its own and removes every VM named with the run's
prefix, also after Ctrl-C. The "real pool" here is a ``xapisim serve`` the script is pointed at
as if it were one (it cannot tell): the call log shows what the run did to it."""
import json
import os
import secrets
import signal
import subprocess
import time

import XenAPI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SCRIPT = os.path.join(ROOT, "scripts", "test-pool.sh")


def environment(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XENSERVER_", "ANSIBLE_", "MOLECULE_"))}
    env.update(extra)
    return env


def pool_env(url, prefix, **extra):
    return environment(XENSERVER_HOST=url, XENSERVER_USER="root", XENSERVER_PASSWORD="xenroot",
                       XENSERVER_TEST_PREFIX=prefix, XENSERVER_TEST_TARGETS="vm_snapshot",
                       XENSERVER_TEST_SCENARIOS="none", **extra)


def vm_names(url):
    session = XenAPI.Session(url)
    session.xenapi.login_with_password("root", "xenroot", "1.0", "tests")
    try:
        return sorted(r["name_label"] for r in session.xenapi.VM.get_all_records().values()
                      if not r["is_a_template"] and not r["is_control_domain"])
    finally:
        session.xenapi.session.logout()


def make_vms(url, *names):
    session = XenAPI.Session(url)
    session.xenapi.login_with_password("root", "xenroot", "1.0", "tests")
    api = session.xenapi
    try:
        template = api.VM.get_by_name_label("Other install media")[0]
        for name in names:
            api.VM.set_is_a_template(api.VM.clone(template, name), False)
    finally:
        api.session.logout()


def calls(log):
    with open(log) as handle:
        return [json.loads(line) for line in handle]


def test_without_a_pool_it_is_skipped():
    out = subprocess.run([SCRIPT], env=environment(XENSERVER_USER="root"), capture_output=True, text=True,
                         timeout=60, check=False)
    assert out.returncode == 0, out
    assert "skipped" in out.stdout and "XENSERVER_HOST" in out.stdout and "XENSERVER_PASSWORD" in out.stdout


def test_a_given_pool_is_used_and_its_test_vms_removed(serve, tmp_path):
    log = str(tmp_path / "calls.jsonl")
    url = serve("--call-log", log).url
    prefix = "xsprov-test-%s-" % secrets.token_hex(3)
    make_vms(url, prefix + "left-by-a-crash", "bystander")          # a run that never cleaned up; not ours
    out = subprocess.run([SCRIPT], env=pool_env(url, prefix), capture_output=True, text=True, timeout=240,
                         check=False)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "a REAL pool at %s" % url in out.stdout
    # The target worked on this pool (no simulator of its own: the call log has its calls), on a
    # VM named with the prefix (the call log has no parameters; the target's output names it).
    methods = [c["method"] for c in calls(log)]
    assert methods.count("VM.clone") == 3 and "Async.VM.snapshot" in methods and "Async.VM.revert" in methods
    assert "VM '%ssnapshot-vm' has no snapshot named 'no-such-snapshot'" % prefix in out.stdout
    assert "xenroot" not in out.stdout + out.stderr
    assert vm_names(url) == ["bystander"]


def test_ctrl_c_still_removes_the_test_vms(serve, tmp_path):
    log = str(tmp_path / "calls.jsonl")
    url = serve("--call-log", log).url
    prefix = "xsprov-test-%s-" % secrets.token_hex(3)
    make_vms(url, prefix + "left-by-a-crash", "bystander")
    proc = subprocess.Popen([SCRIPT], env=pool_env(url, prefix), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while [c["method"] for c in calls(log)].count("VM.clone") < 3:   # the target is at work
            assert proc.poll() is None and time.monotonic() < deadline, proc.poll()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)                               # Ctrl-C reaches the whole group
        output = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, output[-3000:]
    assert "removing every VM whose name starts with %s" % prefix in output
    assert vm_names(url) == ["bystander"]
