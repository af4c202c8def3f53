"""The install roles' argument specs come from one description (scripts/install-role-specs.py and
scripts/install_role_specs.yml.j2): the files in roles/ are what it writes, and each role's
defaults and its mapping onto install_guest agree with its spec."""
import importlib.util
import os
import re

import pytest
import yaml

from role_render import ROOT

_SPEC = importlib.util.spec_from_file_location("install_role_specs", os.path.join(ROOT, "scripts", "install-role-specs.py"))
generator = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(generator)
ROLES = sorted(generator.ROLES)


def load(role, *path):
    with open(os.path.join(ROOT, "roles", role, *path)) as handle:
        return yaml.safe_load(handle)


@pytest.mark.parametrize("role", ROLES)
def test_spec_is_what_the_generator_writes(role):
    with open(generator.path_of(role)) as handle:
        assert handle.read() == generator.render(role), "run scripts/install-role-specs.py"


def test_check_mode_names_a_stale_file(tmp_path, monkeypatch, capsys):
    assert generator.main(["--check"]) == 0
    stale = tmp_path / "argument_specs.yml"
    stale.write_text(generator.render("sles_install").replace("SLES 12 SP5", "SLES 12 SP4"))
    monkeypatch.setattr(generator, "path_of", lambda role: str(stale) if role == "sles_install" else
                        os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"))
    assert generator.main(["--check"]) == 1
    assert "argument_specs.yml" in capsys.readouterr().err
    assert "SLES 12 SP4" in stale.read_text()          # --check changes nothing


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_mapping_follow_the_spec(role):
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    defaults = load(role, "defaults", "main.yml")
    for name, option in options.items():
        if option.get("required"):
            assert name not in defaults, name
        else:
            assert defaults[name] == option["default"], name
    assert set(defaults) <= set(options)
    with open(os.path.join(ROOT, "roles", role, "tasks", "main.yml")) as handle:
        tasks = handle.read()
    used = set(re.findall(r"\b(%s_[a-z_]+)\b" % role, tasks)) - {role + "_vm"}
    assert used == set(options), (used ^ set(options))
