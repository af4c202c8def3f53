"""playbooks/fleet.yml through ansible-runner, as AWX / Automation Platform run it (a job runs
ansible-runner in the execution environment and keeps its event stream): VMs of the demo
inventory, against an embedded simulator and the sample install trees. Two VMs (RHEL, and SLES
with its two install rounds) in parallel keep it short: about 50 s of CPU for both runs.

The event stream is what AWX shows and keeps: every host ends ok, the first run changes each VM
and a second run nothing, and no event carries a warning, a deprecation, an error or a traceback.
"""
import os
import re
import shutil
import sys

import ansible_runner

from xapisim import trees
from xapisim.embedded import embedded

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HOSTS = ["demo-rhel-web", "demo-sles-erp"]
STRAY = re.compile(r"\[WARNING\]|\[DEPRECATION WARNING\]|\[ERROR\]|Traceback|deprecat", re.I)


def run_fleet(data_dir, env):
    """ansible-runner over playbooks/fleet.yml and the demo inventory: (runner, its events)."""
    data_dir.mkdir()
    runner = ansible_runner.run(
        private_data_dir=str(data_dir), project_dir=os.path.join(ROOT, "playbooks"), playbook="fleet.yml",
        inventory=os.path.join(ROOT, "playbooks", "demo_inventory"), limit=",".join(HOSTS + ["localhost"]),
        envvars=env, quiet=True)
    return runner, list(runner.events)


# A Python warning that a library raises inside ansible-core's own imports (cryptography 51's DSA
# deprecation, from ansible's ssh-agent code): the installed libraries', not the run's output.
LIBRARY_WARNING = re.compile(r"/site-packages/(?!ansible_collections/)\S+\.py:\d+: \w*Warning: ")


def stray_output(events):
    """The stdout lines and task results of ``events`` that hold a warning, deprecation, error or traceback."""
    found = []
    for event in events:
        found += [line for line in event.get("stdout", "").splitlines()
                  if STRAY.search(line) and not LIBRARY_WARNING.search(line)]
        result = event.get("event_data", {}).get("res") or {}
        found += ["%s: %s" % (event["event"], w) for w in result.get("warnings", []) + result.get("deprecations", [])]
        if event["event"] in ("runner_on_failed", "runner_on_unreachable", "warning", "deprecated"):
            found.append("%s: %s" % (event["event"], event.get("stdout", "")))
    return found


def stats(events):
    """The playbook_on_stats event's counts: {kind: {host: count}}."""
    return next(e["event_data"] for e in events if e["event"] == "playbook_on_stats")


def test_fleet_through_ansible_runner_converges_then_changes_nothing(tmp_path):
    tree_dir = tmp_path / "trees"
    trees.write_samples(str(tree_dir))
    with embedded(state=str(tmp_path / "pool.json"), clock_speed=2000.0) as pool, \
            trees.served(str(tree_dir)) as web:
        env = {"XENSERVER_HOST": pool.url, "XENSERVER_USER": "root", "XENSERVER_PASSWORD": "xenroot",
               "DEMO_TREES_URL": web.url, "DEMO_ANSWER_DIR": str(tree_dir / "answers"),
               "DEMO_ANSWER_BASE_URL": web.url + "/answers", "ANSIBLE_FORKS": "2", "ANSIBLE_PIPELINING": "True",
               "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".venv", "collections"),
               "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
        for run, data_dir in enumerate((tmp_path / "first", tmp_path / "second")):
            runner, events = run_fleet(data_dir, env)
            output = "".join(e.get("stdout", "") + "\n" for e in events)
            assert runner.rc == 0 and runner.status == "successful", output[-4000:]
            counts = stats(events)
            assert sorted(h for h in counts["ok"] if h != "localhost") == sorted(HOSTS), counts
            for kind in ("failures", "dark"):
                assert not counts[kind], (kind, counts)
            changed = dict((h, counts["changed"].get(h, 0)) for h in HOSTS)
            if run == 0:
                assert all(changed[h] > 0 for h in HOSTS), changed
            else:
                assert sum(changed.values()) == 0 and not counts["changed"], counts
            assert stray_output(events) == [], stray_output(events)
            ok_hosts = set(e["event_data"]["host"] for e in events if e["event"] == "runner_on_ok")
            assert set(HOSTS) <= ok_hosts
            shutil.rmtree(str(data_dir / "artifacts"), ignore_errors=True)


def test_stray_output_is_found():
    """The check on the event stream is real: a warning in stdout, a deprecation in a result and
    a failed task are each found; a plain ok event is not."""
    events = [{"event": "runner_on_ok", "stdout": "ok: [demo-rhel-web]", "event_data": {"res": {"changed": False}}},
              {"event": "verbose", "stdout": "[WARNING]: Found variable using reserved name: name"},
              {"event": "runner_on_ok", "stdout": "ok: [x]", "event_data": {"res": {"deprecations": [{"msg": "old"}]}}},
              {"event": "runner_on_failed", "stdout": "fatal: [x]: FAILED!"}]
    found = stray_output(events)
    assert len(found) == 3 and "[WARNING]" in found[0] and "old" in found[1] and "FAILED" in found[2]
    assert stray_output(events[:1]) == []
