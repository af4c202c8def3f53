"""install_guest's static network (rhel_install_network, sles_install_network, ...): what it
puts on the installer's kernel line and into the answer files, and the bad input it refuses.

The role's own vars and templates are rendered by ansible-playbook for every case at once;
the answer files are then read back the way the simulated installer reads them. Bad input is
also run through rhel_install itself, against an embedded pool: it fails before the pool or the
answer directory see anything.
"""
import json
import os
import re
import subprocess
import sys
import xml.dom.minidom

import pytest
import XenAPI

from xapisim import guests
from xapisim.embedded import embedded

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLE = os.path.join(ROOT, "roles", "install_guest")
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".venv", "collections"),
           ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="True")

STATIC = {"address": "10.20.30.40/24", "gateway": "10.20.30.1",
          "nameservers": ["10.20.30.2", "10.20.30.3"], "hostname": "web01.example.com"}
GOOD = {
    "rhel-dhcp": ("rhel", {}),
    "rhel-static": ("rhel", STATIC),
    "centos-bare": ("centos", {"address": "10.0.0.5", "netmask": "255.0.0.0"}),
    "sles-dhcp": ("sles", {}),
    "sles-static": ("sles", {"address": "10.4.5.6", "netmask": "255.255.0.0", "gateway": "10.4.0.1",
                             "nameservers": ["10.4.0.2", "10.4.0.3"], "hostname": "erp01.example.com"}),
}
BAD = {
    "no-address": ({"gateway": "10.0.0.1"}, "no address"),
    "octet": ({"address": "10.0.0.256/24"}, "address '10.0.0.256/24' is not an IPv4 address"),
    "prefix": ({"address": "10.0.0.5/33"}, "address '10.0.0.5/33' is not an IPv4 address"),
    "no-mask": ({"address": "10.0.0.5"}, "address '10.0.0.5' has no /prefix"),
    "mask": ({"address": "10.0.0.5", "netmask": "255.0.255.0"}, "netmask '255.0.255.0' is not an IPv4 netmask"),
    "two-masks": ({"address": "10.0.0.5/24", "netmask": "255.255.0.0"},
                  "netmask '255.255.0.0' is not that of address '10.0.0.5/24'"),
    "gateway": ({"address": "10.0.0.5/24", "gateway": "router"}, "gateway 'router' is not an IPv4 address"),
    "off-net": ({"address": "10.0.0.5/24", "gateway": "10.0.1.1"},
                "gateway '10.0.1.1' is not another address on the network of 10.0.0.5/24"),
    "self": ({"address": "10.0.0.5/24", "gateway": "10.0.0.5"}, "gateway '10.0.0.5' is not another address"),
    "dns": ({"address": "10.0.0.5/24", "nameservers": ["ns.example.com"]},
            "nameserver 'ns.example.com' is not an IPv4 address"),
    "hostname": ({"address": "10.0.0.5/24", "hostname": "web_01"}, "hostname 'web_01' is not a host name"),
}

RENDER = """
- name: Render install_guest's network parts
  hosts: localhost
  gather_facts: false
  vars_files: [{role}/vars/main.yml]
  vars:
    install_guest_caller: test
    install_guest_name: web 01
    install_guest_version: "5.1"
    install_guest_arch: x86_64
    install_guest_repository: http://192.0.2.1/tree
    install_guest_root_password_hash: $6$salt$hash
    install_guest_timezone: UTC
    install_guest_packages: []
    cases: "{{{{ lookup('file', '{out}/cases.json') | from_json }}}}"
  tasks:
    - name: Problems and installer arguments
      vars:
        install_guest_distro: "{{{{ item.distro }}}}"
        install_guest_network: "{{{{ item.network }}}}"
      ansible.builtin.copy:
        content: "{{{{ {{'problems': __install_guest_network_problems | trim,
                       'args': __install_guest_network_args | trim}} | to_json }}}}"
        dest: "{out}/{{{{ item.id }}}}.json"
        mode: "0644"
      loop: "{{{{ cases }}}}"

    - name: Answer files
      vars:
        install_guest_distro: "{{{{ item.distro }}}}"
        install_guest_network: "{{{{ item.network }}}}"
      ansible.builtin.template:
        src: "{role}/templates/{{{{ 'autoyast.xml.j2' if item.distro == 'sles' else 'kickstart.cfg.j2' }}}}"
        dest: "{out}/{{{{ item.id }}}}.answer"
        mode: "0644"
      loop: "{{{{ cases | selectattr('good') | list }}}}"
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("network")
    cases = [dict(id=name, distro=distro, network=network, good=True) for name, (distro, network) in GOOD.items()]
    cases += [dict(id=name, distro="rhel", network=network, good=False)
              for name, (network, _message) in BAD.items()]
    (out / "cases.json").write_text(json.dumps(cases))
    (out / "render.yml").write_text(RENDER.format(role=ROLE, out=out))
    result = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                             "ansible_python_interpreter=" + sys.executable, str(out / "render.yml")],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    def read(name):
        data = json.loads((out / (name + ".json")).read_text())
        answer = out / (name + ".answer")
        data["answer"] = answer.read_text() if answer.exists() else None
        return data
    return read


def test_dhcp_by_default(rendered):
    rhel, sles = rendered("rhel-dhcp"), rendered("sles-dhcp")
    assert rhel["problems"] == "" and rhel["args"] == "" and sles["args"] == ""
    assert re.search(r"(?m)^network --device eth0 --bootproto dhcp --hostname web-01$", rhel["answer"])
    assert "<bootproto>dhcp</bootproto>" in sles["answer"] and "<routing>" not in sles["answer"]
    assert "<hostname>web-01</hostname>" in sles["answer"]
    assert guests._answer_network("ks", rhel["answer"]) is None
    assert guests._answer_network("autoyast", sles["answer"]) is None


def test_kickstart_and_anaconda_arguments(rendered):
    rhel = rendered("rhel-static")
    assert rhel["problems"] == ""
    assert rhel["args"] == ("ksdevice=eth0 ip=10.20.30.40 netmask=255.255.255.0 gateway=10.20.30.1 "
                            "dns=10.20.30.2,10.20.30.3")
    assert re.search(r"(?m)^network --device eth0 --bootproto static --ip 10\.20\.30\.40 --netmask 255\.255\.255\.0 "
                     r"--gateway 10\.20\.30\.1 --nameserver 10\.20\.30\.2,10\.20\.30\.3 "
                     r"--hostname web01\.example\.com$", rhel["answer"])
    assert guests._answer_network("ks", rhel["answer"]) == {
        "ip": "10.20.30.40", "netmask": "255.255.255.0", "gateway": "10.20.30.1"}
    bare = rendered("centos-bare")
    assert bare["args"] == "ksdevice=eth0 ip=10.0.0.5 netmask=255.0.0.0"
    assert re.search(r"(?m)^network --device eth0 --bootproto static --ip 10\.0\.0\.5 --netmask 255\.0\.0\.0 "
                     r"--hostname web-01$", bare["answer"])


def test_autoyast_and_linuxrc_arguments(rendered):
    sles = rendered("sles-static")
    assert sles["problems"] == ""
    # linuxrc takes a single name server
    assert sles["args"] == "netdevice=eth0 hostip=10.4.5.6 netmask=255.255.0.0 gateway=10.4.0.1 nameserver=10.4.0.2"
    doc = xml.dom.minidom.parseString(sles["answer"])

    def text(node, tag):
        return [n.firstChild.data for n in node.getElementsByTagName(tag)]
    interface = doc.getElementsByTagName("interface")[0]
    assert text(interface, "bootproto") == ["static"] and text(interface, "device") == ["eth0"]
    assert text(interface, "ipaddr") == ["10.4.5.6"] and text(interface, "netmask") == ["255.255.0.0"]
    dns = doc.getElementsByTagName("dns")[0]
    assert text(dns, "hostname") == ["erp01"] and text(dns, "domain") == ["example.com"]
    assert text(dns, "nameserver") == ["10.4.0.2", "10.4.0.3"]
    route = doc.getElementsByTagName("routing")[0].getElementsByTagName("route")[0]
    assert text(route, "destination") == ["default"] and text(route, "gateway") == ["10.4.0.1"]
    assert guests._answer_network("autoyast", sles["answer"]) == {
        "ip": "10.4.5.6", "netmask": "255.255.0.0", "gateway": "10.4.0.1"}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_named(rendered, name):
    assert BAD[name][1] in rendered(name)["problems"]


def test_rhel_install_refuses_bad_input_before_it_changes_anything(tmp_path):
    """Through the role: the argument spec refuses an unknown key, the prepare step a bad
    gateway, each naming the value; no VM and no answer file come of it."""
    answers = tmp_path / "answers"
    inventory = {"all": {"hosts": {
        "net-bad-gateway": {"rhel_install_network": {"address": "192.0.2.10/24", "gateway": "198.51.100.1"}},
        "net-bad-key": {"rhel_install_network": {"address": "192.0.2.10/24", "gatway": "192.0.2.1"}},
    }, "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}
    (tmp_path / "hosts.json").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text("""
- name: rhel_install with bad network input
  hosts: all
  gather_facts: false
  module_defaults:
    group/xenserver.provisioning.xenserver: {hostname: "%(url)s", username: root, password: xenroot}
  roles:
    - role: xenserver.provisioning.rhel_install
      vars:
        rhel_install_name: "{{ inventory_hostname }}"
        rhel_install_repository: http://192.0.2.1/rhel-5.1-x86_64
        rhel_install_answer_dir: "%(answers)s"
        rhel_install_answer_base_url: http://192.0.2.1/answers
        rhel_install_root_password_hash: $6$salt$hash
""" % {"url": "{{ lookup('ansible.builtin.env', 'POOL_URL') }}", "answers": answers})
    with embedded(state=str(tmp_path / "pool.json"), clock_speed=2000.0) as pool:
        result = subprocess.run([PLAYBOOK, "-i", str(tmp_path / "hosts.json"), str(tmp_path / "play.yml")],
                                cwd=ROOT, env=dict(ENV, POOL_URL=pool.url), capture_output=True, text=True,
                                check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output[-4000:]
        assert re.search(r"fatal: \[net-bad-gateway\].*rhel_install: bad input: network: gateway "
                         r"'198\.51\.100\.1' is not another address on the network of 192\.0\.2\.10/24", output), \
            output[-4000:]
        assert re.search(r"fatal: \[net-bad-key\].*gatway", output), output[-4000:]
        session = XenAPI.Session(pool.url)
        session.xenapi.login_with_password("root", "xenroot", "2.21", "test_network")
        try:
            assert session.xenapi.VM.get_by_name_label("net-bad-gateway") == []
            assert session.xenapi.VM.get_by_name_label("net-bad-key") == []
        finally:
            session.xenapi.session.logout()
    assert not answers.exists()
