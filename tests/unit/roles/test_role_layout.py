"""The install roles' task files read top to bottom: no include_tasks reaches the file it is in
(no recursive loop), and the phase is only compared with a name - it is computed by the
install_phase module (facts.yml sets it from the module's return), never in Jinja."""
import os
import re

import pytest
import yaml

from role_render import ROOT

ROLES = ("install_guest", "rhel_install", "centos_install", "sles_install")
PHASE = "__install_guest_phase"
COMPARISON = re.compile(r"^%s (==|!=) '[a-z0-9_]+'$" % PHASE)


def task_files(role):
    tasks = os.path.join(ROOT, "roles", role, "tasks")
    return dict((name, os.path.join(tasks, name)) for name in sorted(os.listdir(tasks)) if name.endswith(".yml"))


def walk(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from walk(task.get(key))


def includes(path):
    with open(path) as handle:
        return [t["ansible.builtin.include_tasks"] for t in walk(yaml.safe_load(handle))
                if "ansible.builtin.include_tasks" in t]


def conditions(path):
    with open(path) as handle:
        for task in walk(yaml.safe_load(handle)):
            when = task.get("when")
            for condition in (when if isinstance(when, list) else [when] if when is not None else []):
                yield task.get("name"), str(condition).strip()


@pytest.mark.parametrize("role", ROLES)
def test_no_include_reaches_its_own_file(role):
    files = task_files(role)
    graph = dict((name, [inc for inc in includes(path) if inc in files]) for name, path in files.items())
    for include in [inc for path in files.values() for inc in includes(path)]:
        assert "{{" not in include, "an include chosen by an expression: %s" % include

    def reachable(start):
        seen, todo = set(), list(graph[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])
        return seen

    for name in files:
        assert name not in reachable(name), "%s includes itself (through %s)" % (name, graph[name])


@pytest.mark.parametrize("role", ROLES)
def test_the_phase_is_only_compared_with_a_name(role):
    for name, path in task_files(role).items():
        for task, condition in conditions(path):
            if PHASE in condition:
                assert COMPARISON.match(condition), "%s, task %r: %r" % (name, task, condition)
        with open(path) as handle:
            text = handle.read()
        # set from install_phase's result only, nowhere computed
        for match in re.finditer(r"%s:\s*(.*)" % PHASE, text):
            assert (name, match.group(1).strip()) == ("facts.yml", '"{{ __install_guest_info.phase }}"'), match.group(0)


def test_a_recursive_include_or_a_phase_expression_would_be_found(tmp_path, monkeypatch):
    tasks = tmp_path / "roles" / "install_guest" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "drive.yml").write_text("- name: Again\n  ansible.builtin.include_tasks: drive.yml\n"
                                     "  when: __install_guest_phase in ['install', 'boot']\n")
    monkeypatch.setattr("test_role_layout.ROOT", str(tmp_path))
    with pytest.raises(AssertionError, match="includes itself"):
        test_no_include_reaches_its_own_file("install_guest")
    with pytest.raises(AssertionError, match="in \\['install'"):
        test_the_phase_is_only_compared_with_a_name("install_guest")
