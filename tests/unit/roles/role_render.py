"""Helpers for the role tests: paths, ansible-playbook's environment, and install_guest's answer
files rendered by ansible-playbook itself (one run for every case a test asks for).

    render_answers(out, cases)   cases: [{id, distro, version, arch, profile, vars?, template?}];
                                 returns {id: text of the rendered kickstart / AutoYaST file}
"""
import importlib.util
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = os.path.join(ROOT, "roles")
ROLE = os.path.join(ROLES, "install_guest")
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".venv", "collections"),
           ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="True")

# install_profile's rules, loaded by path (they import nothing from Ansible)
_SPEC = importlib.util.spec_from_file_location(
    "_roles_test_profiles", os.path.join(ROOT, "plugins", "module_utils", "_profiles.py"))
profiles = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(profiles)
_SPEC = importlib.util.spec_from_file_location(
    "_roles_test_answers", os.path.join(ROOT, "plugins", "module_utils", "_answers.py"))
answers = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(answers)

# A SHA-512 crypt(3) hash (of "xenserver", made with `openssl passwd -6 -salt rolestest`).
ROOT_HASH = "$6$rolestest$ZLlweCOh0qBPoiddRb9lmfkkxR1EdisDVS/0hoh.kZ7cjyesCnbTdVhUTVkTSW.xTDqKz6yFaHrUe87XbkjL8/"

# The role's inputs every rendering starts from; a case's ``vars`` override them.
BASE_VARS = {
    "install_guest_caller": "test",
    "install_guest_name": "web 01",
    "install_guest_repository": "http://192.0.2.1/tree",
    "install_guest_root_password_hash": ROOT_HASH,
    "install_guest_timezone": "UTC",
    "install_guest_packages": [],
}
# The template lookup renders in-process (a template task per case would run a module per
# file); the first case also goes through the template task, and the two must agree.
RENDER = """
- name: Render install_guest's answer files
  hosts: localhost
  gather_facts: false
  vars_files: [{role}/vars/main.yml]
  vars:
    cases: "{{{{ lookup('file', '{out}/cases.json') | from_json }}}}"
    install_guest_distro: "{{{{ item.distro }}}}"
    install_guest_version: "{{{{ item.version }}}}"
    install_guest_arch: "{{{{ item.arch }}}}"
    install_guest_name: "{{{{ item.vars.install_guest_name }}}}"
    install_guest_caller: "{{{{ item.vars.install_guest_caller }}}}"
    install_guest_repository: "{{{{ item.vars.install_guest_repository }}}}"
    install_guest_root_password_hash: "{{{{ item.vars.install_guest_root_password_hash }}}}"
    install_guest_timezone: "{{{{ item.vars.install_guest_timezone }}}}"
    install_guest_packages: "{{{{ item.vars.install_guest_packages }}}}"
    install_guest_answer_era: "{{{{ item.vars.install_guest_answer_era | default('') }}}}"
    install_guest_answer_finish: "{{{{ item.vars.install_guest_answer_finish | default('') }}}}"
    __install_guest_profile: "{{{{ item.profile }}}}"
    template: "{{{{ item.template | default('{role}/templates/' ~ ('autoyast.xml.j2' if item.distro == 'sles' else 'kickstart.cfg.j2')) }}}}"
  tasks:
    - name: Answer files
      ansible.builtin.set_fact:
        answer: "{{{{ lookup('ansible.builtin.template', template) }}}}"
      loop: "{{{{ cases }}}}"
      loop_control:
        label: "{{{{ item.id }}}}"
      register: answers
      ignore_errors: true     # a template that refuses a value: its message is the case's result

    - name: Write them
      vars:
        done: "{{{{ answers.results | selectattr('ansible_facts', 'defined') | list }}}}"
      ansible.builtin.copy:
        content: "{{{{ dict(done | map(attribute='item.id') | zip(done | map(attribute='ansible_facts.answer'))) | to_json }}}}"
        dest: "{out}/rendered.json"
        mode: "0644"

    - name: Write what was refused
      vars:
        refused: "{{{{ answers.results | rejectattr('ansible_facts', 'defined') | list }}}}"
      ansible.builtin.copy:
        content: "{{{{ dict(refused | map(attribute='item.id') | zip(refused | map(attribute='msg'))) | to_json }}}}"
        dest: "{out}/refused.json"
        mode: "0644"

    - name: The first as the role's template task renders it
      ansible.builtin.template:
        src: "{{{{ template }}}}"
        dest: "{out}/first.answer"
        mode: "0644"
      loop: "{{{{ cases[:1] }}}}"
"""


def profile(distro, version, arch, network=None, variables=None):
    """install_profile's result for a release, as the role registers it (with its ``answer``
    from the answer-file values in ``variables``, checked as the module checks them)."""
    result = profiles.profile(distro, version, arch, answer_file="http://192.0.2.1/answers/x",
                              network_input=network or {})
    given = dict(BASE_VARS, **(variables or {}))
    result["answer"] = answers.answer_values(
        given["install_guest_name"], given["install_guest_root_password_hash"], given["install_guest_packages"],
        given["install_guest_timezone"], hostname=(result["network"] or {}).get("hostname"),
        network=result["network"], repository=given["install_guest_repository"])
    return result


def render_answers(out, cases, refused=None):
    """Render every case with install_guest's own templates (or a case's ``template``) through
    ansible-playbook. A template that refuses a case fails the test, unless ``refused`` (a dict)
    is given: it receives {id: the render's error message} of those."""
    cases = [dict(case, vars=dict(BASE_VARS, **case.get("vars", {}))) for case in cases]
    (out / "cases.json").write_text(json.dumps(cases))
    (out / "render.yml").write_text(RENDER.format(role=ROLE, out=out))
    result = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                             "ansible_python_interpreter=" + sys.executable, str(out / "render.yml")],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    rendered = json.loads((out / "rendered.json").read_text())
    errors = json.loads((out / "refused.json").read_text())
    if refused is None:
        assert not errors, errors
    else:
        refused.update(errors)
    assert (out / "first.answer").read_text() == rendered[cases[0]["id"]]
    return rendered
