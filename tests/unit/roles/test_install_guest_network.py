"""install_guest's static network (rhel_install_network, sles_install_network, ...) in the role:
the answer files it renders from install_profile's normalised ``network`` result, and bad input
refused through rhel_install itself.

The checks and the installer's kernel line are install_profile's (plugins/module_utils/
_profiles.py; tests/unit/plugins/module_utils/test_profiles.py). Here the role's templates are
rendered by ansible-playbook for every case at once, with the profile _profiles.profile() gives,
and read back the way the simulated installer reads them. Bad input is also run through
rhel_install against an embedded pool: it fails before the pool or the answer directory see anything.
"""
import json
import re
import subprocess
import sys
import xml.dom.minidom

import pytest
import XenAPI

from xapisim import guests
from xapisim.embedded import embedded

from role_render import ENV, PLAYBOOK, ROOT, profile, render_answers

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


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    cases = []
    for name, (distro, network) in GOOD.items():
        version = "10sp1" if distro == "sles" else "5.1"
        cases.append(dict(id=name, distro=distro, version=version, arch="x86_64",
                          profile=profile(distro, version, "x86_64", network)))
    return render_answers(tmp_path_factory.mktemp("network"), cases).__getitem__


def test_dhcp_by_default(rendered):
    rhel, sles = rendered("rhel-dhcp"), rendered("sles-dhcp")
    assert re.search(r"(?m)^network --device eth0 --bootproto dhcp --hostname web-01$", rhel)
    assert "<bootproto>dhcp</bootproto>" in sles and "<routing>" not in sles
    assert "<hostname>web-01</hostname>" in sles
    assert guests._answer_network("ks", rhel) is None
    assert guests._answer_network("autoyast", sles) is None


def test_kickstart_network_line(rendered):
    rhel = rendered("rhel-static")
    assert re.search(r"(?m)^network --device eth0 --bootproto static --ip 10\.20\.30\.40 --netmask 255\.255\.255\.0 "
                     r"--gateway 10\.20\.30\.1 --nameserver 10\.20\.30\.2,10\.20\.30\.3 "
                     r"--hostname web01\.example\.com$", rhel)
    assert guests._answer_network("ks", rhel) == {
        "ip": "10.20.30.40", "netmask": "255.255.255.0", "gateway": "10.20.30.1"}
    bare = rendered("centos-bare")
    assert re.search(r"(?m)^network --device eth0 --bootproto static --ip 10\.0\.0\.5 --netmask 255\.0\.0\.0 "
                     r"--hostname web-01$", bare)


def test_autoyast_interface_routing_and_dns(rendered):
    doc = xml.dom.minidom.parseString(rendered("sles-static"))

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
    assert guests._answer_network("autoyast", rendered("sles-static")) == {
        "ip": "10.4.5.6", "netmask": "255.255.0.0", "gateway": "10.4.0.1"}


def test_rhel_install_refuses_bad_input_before_it_changes_anything(tmp_path):
    """Through the role: the argument spec refuses an unknown key, the profile step (install_profile)
    a bad gateway, each naming the value; no VM and no answer file come of it."""
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
        rhel_install_root_password_hash: $6$rolestest$ZLlweCOh0qBPoiddRb9lmfkkxR1EdisDVS/0hoh.kZ7cjyesCnbTdVhUTVkTSW.xTDqKz6yFaHrUe87XbkjL8/
""" % {"url": "{{ lookup('ansible.builtin.env', 'POOL_URL') }}", "answers": answers})
    with embedded(state=str(tmp_path / "pool.json"), clock_speed=2000.0) as pool:
        result = subprocess.run([PLAYBOOK, "-i", str(tmp_path / "hosts.json"), str(tmp_path / "play.yml")],
                                cwd=ROOT, env=dict(ENV, POOL_URL=pool.url), capture_output=True, text=True,
                                check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0, output[-4000:]
        assert re.search(r"fatal: \[net-bad-gateway\].*rhel_install: step 'profile' failed: network: gateway "
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
