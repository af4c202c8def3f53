"""The install roles' README examples (roles/*/README.md and README.md's Roles section) hold up in
the project's own environment: each YAML block parses, every ``<role>_*`` variable it sets or
reads is one the role documents (meta/argument_specs.yml, or the ``<role>_vm`` fact it sets),
every Jinja filter it uses exists here (a filter needing a library the collection does not ship,
such as password_hash's passlib, is not used), and a whole play passes ansible-playbook's
syntax check with the collection installed.
"""
import os
import re
import subprocess
import textwrap

import jinja2.defaults
import pytest
import yaml
from ansible.plugins.loader import filter_loader

from role_render import ENV, PLAYBOOK, ROLES, ROOT

PUBLIC = ("rhel_install", "centos_install", "sles_install", "cloud_instance")
# Facts the roles set for their caller (documented in the argument specs' descriptions).
OUTPUTS = {role: {role + "_vm"} for role in PUBLIC}
VARIABLE = re.compile(r"\b(%s)_[a-z0-9_]+" % "|".join(PUBLIC))
FILTER = re.compile(r"\|\s*([A-Za-z_][\w.]*)")


def yaml_blocks(path, section=None):
    text = open(path).read()
    if section:
        text = re.search(r"(?ms)^## %s\n(.*?)(?=^## )" % re.escape(section), text).group(1)
    return [textwrap.dedent(block) for block in re.findall(r"(?ms)^```yaml\n(.*?)^```", text)]


EXAMPLES = ([(os.path.join("roles", role, "README.md"), block) for role in PUBLIC
             for block in yaml_blocks(os.path.join(ROLES, role, "README.md"))]
            + [("README.md", block) for block in yaml_blocks(os.path.join(ROOT, "README.md"), "Roles")])


def filter_exists(name):
    if name in jinja2.defaults.DEFAULT_FILTERS:
        return True
    try:
        return filter_loader.get(name) is not None
    except KeyError:    # no such plugin (ansible-core 2.19 raises rather than answer None)
        return False


def options(role):
    with open(os.path.join(ROLES, role, "meta", "argument_specs.yml")) as handle:
        return set(yaml.safe_load(handle)["argument_specs"]["main"]["options"])


def strings_and_keys(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from strings_and_keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_and_keys(value)
    elif isinstance(node, str):
        yield node


def test_every_public_role_has_an_example():
    assert {role for role in PUBLIC if any(role in source for source, _block in EXAMPLES)} == set(PUBLIC)


@pytest.mark.parametrize("source,block", EXAMPLES, ids=lambda v: v if v.endswith(".md") else "")
def test_example_uses_only_documented_inputs_and_existing_filters(source, block):
    document = yaml.safe_load(block)
    assert document, "%s: an empty YAML block" % source
    for text in strings_and_keys(document):
        for match in VARIABLE.finditer(text):
            role, name = match.group(1), match.group(0)
            assert name in options(role) | OUTPUTS[role], "%s: %s is not an input of %s" % (source, name, role)
        for expression in re.findall(r"\{\{(.*?)\}\}", text):
            for name in FILTER.findall(expression):
                assert filter_exists(name), \
                    "%s: filter %s does not exist here" % (source, name)


@pytest.mark.parametrize("source,block", [e for e in EXAMPLES if e[1].startswith("- hosts:")],
                         ids=lambda v: v if v.endswith(".md") else "")
def test_example_play_passes_the_syntax_check(tmp_path, source, block):
    play = tmp_path / "play.yml"
    play.write_text(block)
    result = subprocess.run([PLAYBOOK, "--syntax-check", "-i", "localhost,", str(play)], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, "%s:\n%s" % (source, (result.stdout + result.stderr)[-3000:])


def test_the_filter_check_is_real():
    """A filter that does not exist is told apart from one that does."""
    assert filter_exists("to_json") and filter_exists("ansible.builtin.password_hash") and filter_exists("join")
    assert not filter_exists("no_such_filter_xyz")
    assert VARIABLE.search("{{ rhel_install_nonsense }}").group(0) not in options("rhel_install")


def test_no_example_computes_the_hash_with_password_hash():
    """password_hash exists as a filter but needs passlib at run time (or Python's crypt module,
    gone in Python 3.13), which the collection does not require: the examples give a ready hash."""
    assert not any(re.search(r"\|\s*(ansible\.builtin\.)?password_hash", block) for _source, block in EXAMPLES)
