"""vm_fleet's examples (README's Modules section and the module's EXAMPLES) need nothing outside
the collection and ansible-core: every task's module, filter and lookup is the collection's or
ansible.builtin's; README's vm_fleet task runs as written against the simulator, and again
without a change."""
import importlib
import os
import re
import subprocess
import sys
import textwrap

import jinja2.defaults
import yaml
from ansible.plugins.loader import filter_loader, lookup_loader

from conftest import ROOT

OURS = ("xenserver.provisioning.", "ansible.builtin.")
FILTER = re.compile(r"\|\s*([A-Za-z_][\w.]*)")
MAPPED = re.compile(r"\bmap\('([\w.]+)'")       # a filter named in map(...)
LOOKUP = re.compile(r"\b(?:lookup|query|q)\('([\w.]+)'")
TASK_KEYS = {"name", "register", "delegate_to", "run_once", "when", "loop", "vars", "tags"}


def readme_module_blocks():
    text = open(os.path.join(ROOT, "README.md")).read()
    section = re.search(r"(?ms)^## Modules\n(.*?)(?=^## )", text).group(1)
    return [textwrap.dedent(b) for b in re.findall(r"(?ms)^```yaml\n(.*?)^```", section)]


def fleet_examples():
    module = importlib.import_module("ansible_collections.xenserver.provisioning.plugins.modules.vm_fleet")
    return module.EXAMPLES


def tasks_of(text):
    for item in yaml.safe_load(text):
        yield from (item.get("tasks", [item]) if isinstance(item, dict) else [])


def plugin_exists(loader, name):
    if loader is filter_loader and name in jinja2.defaults.DEFAULT_FILTERS:
        return True
    try:
        return loader.get(name) is not None
    except KeyError:    # no such plugin (ansible-core 2.19 raises rather than answer None)
        return False


def outside(text):
    """What ``text`` (playbook YAML) uses from outside the collection and ansible-core."""
    found = []
    for task in tasks_of(text):
        found += ["module %s" % k for k in task if k not in TASK_KEYS and not k.startswith(OURS)]
    for name in FILTER.findall(text) + MAPPED.findall(text):
        if (name.count(".") and not name.startswith(OURS)) or not plugin_exists(filter_loader, name):
            found.append("filter %s" % name)
    for name in LOOKUP.findall(text):
        if (name.count(".") and not name.startswith(OURS)) or not plugin_exists(lookup_loader, name):
            found.append("lookup %s" % name)
    return found


def test_the_examples_need_nothing_outside_the_collection():
    blocks = readme_module_blocks()
    assert any("xenserver.provisioning.vm_fleet" in b for b in blocks)
    for text in blocks + [fleet_examples()]:
        assert outside(text) == [], text
    # the check is real: what the old example used is found
    assert outside("- x: \"{{ q('sequence', 'start=1 end=2') | map('community.general.dict_kv', 'name') }}\"") \
        == ["module x", "filter community.general.dict_kv"]


def test_the_readme_fleet_task_runs_as_written(pool, tmp_path):
    task = next(t for b in readme_module_blocks() for t in tasks_of(b) if "xenserver.provisioning.vm_fleet" in t)
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [task],
             "module_defaults": {"group/xenserver.provisioning.xenserver": pool.connection()}}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".venv", "collections"), ANSIBLE_NOCOLOR="1")
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=" + sys.executable, str(tmp_path / "play.yml")]
    for expected in (1, 0):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0 and "[WARNING]" not in done.stdout + done.stderr, done.stdout[-3000:]
        assert re.search(r"localhost\s+: ok=1\s+changed=%d\s" % expected, done.stdout), done.stdout[-2000:]
    for entry in task["xenserver.provisioning.vm_fleet"]["vms"]:
        _ref, record = pool.vm(entry["name"])
        assert record["xenstore_data"]["vm-data/role"] == entry["xenstore_data"]["role"]
        assert int(record["memory_static_max"]) == entry["memory_mb"] * 2 ** 20
