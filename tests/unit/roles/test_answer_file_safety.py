"""Answer files are safe (issue 16): no value adds a kickstart command, and one VM has one file.

Injection: a kickstart is read line by line and split like a shell's, so a line break in the VM
name, root's hash, a package or the time zone started a new command or section. Each case is shown
three ways: the template as it was before the fix (BEFORE, read from git) lets pykickstart see the
injected ``%pre`` / ``%post`` script or plaintext root password; install_profile's check
(_answers.py) refuses the value naming it (the hash by its form only); and today's template, given
the value past the check, refuses to render it. A role run through the simulator fails once, at the
profile step, before anything exists on the pool or the answer directory.

Collisions: ``web 01`` and ``web_01`` (and ``dbé1`` / ``dbè1``) made one file name; installed in
one run, each VM now gets its own file with its own address and hash, and records it on the VM.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import warnings

import pytest
import XenAPI
from pykickstart.constants import KS_SCRIPT_POST, KS_SCRIPT_PRE
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion

from xapisim import trees
from xapisim.embedded import embedded

from role_render import BASE_VARS, ENV, PLAYBOOK, ROOT, ROOT_HASH, answers, profile, render_answers
from test_install_guest_runs import printed_once

# The last commit whose kickstart template wrote the values as they came (before _answers.py).
BEFORE = "e71add6"
PWNED = "touch /tmp/pwned"
HOSTILE = {
    "name": ({"install_guest_name": "web01\n%pre\n" + PWNED + "\n%end\n#"}, "VM name", "pre"),
    "hash": ({"install_guest_root_password_hash": "$6$x$y\nrootpw --plaintext hunter2"}, "root password hash", "rootpw"),
    "package": ({"install_guest_packages": ["vim\n%end\n%post\n" + PWNED]}, "package", "post"),
    "timezone": ({"install_guest_timezone": "UTC\n%pre\n" + PWNED + "\n%end"}, "time zone", "pre"),
}


def hostile_case(key, template=None):
    variables, _what, _effect = HOSTILE[key]
    prof = profile("rhel", "6.10", "x86_64")          # a good profile: the bad value goes past it
    prof["answer"]["hostname"] = "web01"
    case = {"id": key, "distro": "rhel", "version": "6.10", "arch": "x86_64", "profile": prof, "vars": variables}
    if template:
        case["template"] = template
    return case


def lenient_parse(text):
    """What anaconda (RHEL 6's pykickstart) reads from ``text``, errors and warnings aside."""
    parser = KickstartParser(makeVersion("RHEL6"), errorsAreFatal=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parser.readKickstartFromString(text)
    return parser.handler


def injected(handler, effect):
    if effect == "rootpw":
        return not handler.rootpw.isCrypted and handler.rootpw.password == "hunter2"
    kind = KS_SCRIPT_PRE if effect == "pre" else KS_SCRIPT_POST
    return any(script.type == kind and PWNED in script.script for script in handler.scripts)


@pytest.fixture(scope="module")
def before_template(tmp_path_factory):
    try:
        text = subprocess.run(["git", "show", BEFORE + ":roles/install_guest/templates/kickstart.cfg.j2"],
                              cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("no git history with commit %s here" % BEFORE)
    path = tmp_path_factory.mktemp("before") / "kickstart.cfg.j2"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def renderings(tmp_path_factory, before_template):
    refused = {}
    cases = [dict(hostile_case("hash"), id="good", vars={})]
    cases += [hostile_case(key, before_template) for key in HOSTILE]
    cases += [dict(hostile_case(key), id="now-" + key) for key in HOSTILE]
    rendered = render_answers(tmp_path_factory.mktemp("hostile"), cases, refused=refused)
    return rendered, refused


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_the_template_before_the_fix_let_the_value_add_a_command(renderings, key):
    rendered, _refused = renderings
    assert injected(lenient_parse(rendered[key]), HOSTILE[key][2])
    assert not injected(lenient_parse(rendered["good"]), HOSTILE[key][2])


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_install_profile_refuses_the_value_naming_it(key):
    variables, what, _effect = HOSTILE[key]
    given = dict(BASE_VARS, **variables)
    with pytest.raises(answers.AnswerError, match=re.escape(what)) as err:
        answers.answer_values(given["install_guest_name"], given["install_guest_root_password_hash"],
                              given["install_guest_packages"], given["install_guest_timezone"])
    assert "hunter2" not in str(err.value)      # the hash is a secret: named by its form only


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_the_template_refuses_a_value_that_got_past_the_check(renderings, key):
    rendered, refused = renderings
    assert "now-" + key not in rendered
    assert re.search(r"kickstart: the %s (holds|is empty)" % re.escape(HOSTILE[key][1]), refused["now-" + key]), \
        refused["now-" + key]
    assert "hunter2" not in refused["now-" + key]


@pytest.mark.parametrize("value", [
    "$6$salt$hash", "$6$x$y rootpw", "$6$" + "a" * 8 + "$" + "b" * 85, "$5$salt$" + "c" * 44, "$1$toolongsalt$" + "d" * 22,
    "$2b$12$" + "e" * 52, "$y$j9T$salt$" + "f" * 42, "plaintext", "", "$6$salt$" + "g" * 86 + "\n",
    "$6$salt$" + "g" * 86 + "$6$salt$" + "g" * 86, "$6$sa:lt$" + "g" * 86,
])
def test_the_root_hash_is_exactly_one_crypt_hash(value):
    with pytest.raises(answers.AnswerError, match="root password hash"):
        answers.answer_values("vm", value)


@pytest.mark.parametrize("value", [
    ROOT_HASH, "$1$rolestst$UYd8QobLSfa5gWOqWcYRm/", "$5$rounds=5000$salt$" + "c" * 43,
    "$2b$12$" + "e" * 53, "$y$j9T$saltsalt$" + "f" * 43, "$6$rounds=656000$s$" + "g" * 86,
])
def test_crypt_hashes_of_each_kind_pass(value):
    assert answers.answer_values("vm", value)["hostname"] == "vm"


@pytest.mark.parametrize("kwargs, what", [
    ({"packages": ["vim enhanced"]}, "package"), ({"packages": ["@ X Window"]}, "package"), ({"packages": [""]}, "package"),
    ({"packages": ["--nobase"]}, "package"), ({"timezone": "UTC --nontp"}, "time zone"), ({"timezone": "-x"}, "time zone"),
    ({"timezone": "../../etc/passwd"}, "time zone"), ({"hostname": "web_01"}, "host name"),
    ({"hostname": "-web"}, "host name"), ({"hostname": "a" * 64 + ".example.com"}, "host name"),
    ({"hostname": "web..example"}, "host name"), ({"name": "web\u202e01"}, "VM name"), ({"name": "x\u2028y"}, "VM name"),
    ({"name": "   "}, "VM name"), ({"name": "___"}, "makes no host name"), ({"hostname": "web\n"}, "host name"),
    ({"timezone": "UTC\n"}, "time zone"), ({"packages": ["vim\n"]}, "package"),
])
def test_other_values_are_checked(kwargs, what):
    given = dict(dict(name="vm", root_password_hash=ROOT_HASH), **kwargs)
    with pytest.raises(answers.AnswerError, match=what):
        answers.answer_values(**given)


def test_good_values_and_the_digest():
    said = answers.answer_values("web 01", ROOT_HASH, ["@^minimal-environment", "-sendmail", "kernel*"],
                                 "America/Argentina/Buenos_Aires")
    assert said["hostname"] == "web-01" and "root_password_hash" not in said
    assert said["digest"].startswith("sha256:") and len(said["digest"]) == 7 + 64
    # the digest tells the answer files of two VMs, or of other inputs, apart
    assert answers.answer_values("web_01", ROOT_HASH)["digest"] != answers.answer_values("web 01", ROOT_HASH)["digest"]
    assert answers.answer_values("vm", ROOT_HASH)["digest"] != \
        answers.answer_values("vm", "$1$rolestst$UYd8QobLSfa5gWOqWcYRm/")["digest"]
    assert answers.answer_values("vm", ROOT_HASH)["digest"] == answers.answer_values("vm", ROOT_HASH)["digest"]


# --- through rhel_install on the simulator ---------------------------------------------------

PLAY = """
- name: rhel_install
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/xenserver.provisioning.xenserver: {hostname: "%(url)s", username: root, password: xenroot}
  tasks:
%(roles)s
"""
ROLE_RUN = """
    - name: Install {name}
      ansible.builtin.include_role:
        name: xenserver.provisioning.rhel_install
      vars:
        rhel_install_name: {name}
        rhel_install_version: "5.1"
        rhel_install_repository: "%(trees)s/rhel-5.1-x86_64"
        rhel_install_answer_dir: "%(answers)s"
        rhel_install_answer_base_url: "%(trees)s/answers"
        rhel_install_root_password_hash: {hash}
        rhel_install_networks: [{{network: xenbr0}}]
        rhel_install_network: {network}
        rhel_install_xs_tools: false
        rhel_install_timeout: 300
"""


def run(tmp_path, pool, web, vms):
    roles = "".join(ROLE_RUN.format(name=json.dumps(name), hash=json.dumps(root_hash), network=json.dumps(network))
                    for name, root_hash, network in vms)
    answers_dir = tmp_path / "trees" / "answers"
    play = tmp_path / "play.yml"
    play.write_text(PLAY % {"url": pool.url, "roles": roles % {"trees": web.url, "answers": answers_dir}})
    result = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                             "ansible_python_interpreter=" + sys.executable, str(play)],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout, result.stderr


@pytest.fixture()
def pool_and_trees(tmp_path):
    trees.write_samples(str(tmp_path / "trees"))
    with embedded(state=str(tmp_path / "pool.json"), clock_speed=2000.0) as pool, \
            trees.served(str(tmp_path / "trees")) as web:
        session = XenAPI.Session(pool.url)
        session.xenapi.login_with_password("root", "xenroot", "2.21", "test_answer_file_safety")
        try:
            yield pool, web, session.xenapi
        finally:
            session.xenapi.session.logout()


def test_an_injected_hash_fails_the_profile_step_once_before_anything_is_made(tmp_path, pool_and_trees):
    pool, web, api = pool_and_trees
    before = set(os.listdir(tmp_path / "trees" / "answers"))
    rc, output, errors = run(tmp_path, pool, web, [("rhel-inject", "$6$x$y\nrootpw --plaintext hunter2", {})])
    assert rc != 0, output[-4000:]
    assert printed_once("rhel_install: step 'profile' failed: answer file: root password hash holds a blank or "
                        "line break", output, errors), output[-4000:] + errors[-2000:]
    assert "hunter2" not in output + errors
    assert api.VM.get_by_name_label("rhel-inject") == []
    assert set(os.listdir(tmp_path / "trees" / "answers")) == before


def test_two_vms_whose_names_made_one_file_name_get_their_own(tmp_path, pool_and_trees):
    pool, web, api = pool_and_trees
    md5_hash = "$1$rolestst$UYd8QobLSfa5gWOqWcYRm/"
    vms = [("web 01", ROOT_HASH, {"address": "10.20.30.41/24", "gateway": "10.20.30.1"}),
           ("web_01", md5_hash, {"address": "10.20.30.42/24", "gateway": "10.20.30.1"})]
    rc, output, errors = run(tmp_path, pool, web, vms)
    assert rc == 0, output[-6000:] + errors[-2000:]
    answers_dir = tmp_path / "trees" / "answers"
    for name, root_hash, network in vms:
        address = network["address"].partition("/")[0]
        (ref,) = api.VM.get_by_name_label(name)
        digest, url = api.VM.get_other_config(ref)["xenserver.provisioning.answer-file"].split(" ")
        file_name = url.rsplit("/", 1)[1]
        assert file_name == "web_01-%s.ks" % hashlib.sha256(name.encode()).hexdigest()[:16]
        text = (answers_dir / file_name).read_text()
        assert re.search(r"(?m)^rootpw --iscrypted %s$" % re.escape(root_hash), text)
        assert re.search(r"(?m)^network .*--ip %s " % re.escape(address), text)
        assert digest.startswith("sha256:")
        # what the simulated installer fetched and wrote: this VM's own file and address
        guest = pool.sim.guests.inspect(ref)
        files = pool.sim.guests.disk_files(ref)
        assert "IPADDR=%s\n" % address in files["/etc/sysconfig/network-scripts/ifcfg-eth0"]
        assert api.VM.get_power_state(ref) == "Running", guest
    marks = {api.VM.get_other_config(api.VM.get_by_name_label(name)[0])["xenserver.provisioning.answer-file"]
             for name, _h, _n in vms}
    assert len(marks) == 2

    # The second run is verified against each VM's own file: a changed input (here web_01's hash)
    # fails verify naming both answer files, and changes nothing.
    rc, output, errors = run(tmp_path, pool, web, [("web_01", ROOT_HASH, vms[1][2])])
    assert rc != 0
    assert printed_once("rhel_install: step 'verify' failed for VM 'web_01': it was installed from the answer file",
                        output, errors), output[-4000:] + errors[-2000:]
