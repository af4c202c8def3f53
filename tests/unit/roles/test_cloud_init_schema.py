"""Every user-data and network-config the collection renders, checked by cloud-init itself.

The cloud_instance role builds its cloud-config and network-config (roles/cloud_instance/vars/
main.yml, rendered here by ansible-playbook), vm_cloud_init writes them into the seed
(plugins/module_utils/_cloud_init.py: render); each file is then validated by the real cloud-init,
Debian's package unpacked into .venv/cloud-init by the Makefile (`make cloud-init`, a prerequisite
of `make unit`), not installed on the machine:

- ``cloud-init schema --config-file user-data`` must exit 0 (broken cases prove it fails);
- ``cloud-init devel net-convert`` turns the network-config into the files a distro reads
  (sysconfig for the RHEL family, netplan for Ubuntu), which must carry the addresses asked for.
"""
import importlib.util
import json
import os
import subprocess
import sys
import warnings

import pytest
import yaml

from role_render import ENV, PLAYBOOK, ROLES, ROOT

CLOUD_INIT = os.path.join(ROOT, ".venv", "cloud-init")
CLOUD_INIT_PYTHON = os.path.join(CLOUD_INIT, "root", "usr", "lib", "python3", "dist-packages")
ROLE = os.path.join(ROLES, "cloud_instance")

if not os.path.isdir(os.path.join(CLOUD_INIT_PYTHON, "cloudinit")):
    MISSING = ("CLOUD-INIT IS MISSING: %s has no unpacked cloud-init, so NOTHING the collection renders "
               "for cloud-init is validated. Run `make cloud-init` (make unit / make test do)." % CLOUD_INIT)
    warnings.warn(MISSING)
    pytest.skip(MISSING, allow_module_level=True)

_SPEC = importlib.util.spec_from_file_location(
    "_cloud_init_for_schema_tests", os.path.join(ROOT, "plugins", "module_utils", "_cloud_init.py"))
seed = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(seed)

MAC = "00:16:3e:5a:01:02"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHx9cG1aZ1pCzG4b5Sj3a0d8eE2yq7r0f4m3lT0b6Xk1 ops@example.com"
HASH = "$6$rounds=4096$saltsalt$3MEaFyHeWOo0dc0pGmH8qB4O2M6nOM4dBrmo0Hg7mEWx1Xc9gMu5vB6gZ1p2fJ0mR8uH5bN3cZ4dE7fA2kL1."

# The role's inputs per case (cloud_instance_name and the NIC's MAC are added to each).
ROLE_CASES = {
    "rocky-static-v4": {
        "cloud_instance_hostname": "web01.example.com",
        "cloud_instance_users": [{"name": "ops", "ssh_authorized_keys": [KEY], "sudo": "ALL=(ALL) NOPASSWD:ALL",
                                  "groups": ["wheel"], "shell": "/bin/bash", "lock_passwd": True}],
        "cloud_instance_network": {"addresses": ["192.0.2.10/24"], "gateway4": "192.0.2.1",
                                   "nameservers": ["192.0.2.53", "198.51.100.53"], "search": ["example.com"]},
        "cloud_instance_packages": ["nginx", "chrony"],
        "cloud_instance_runcmd": [["systemctl", "enable", "--now", "nginx"], "echo done > /root/done"],
    },
    "ubuntu-dhcp": {
        "cloud_instance_users": [{"name": "ubuntu-ops", "ssh_authorized_keys": [KEY], "sudo": "ALL=(ALL) ALL",
                                  "hashed_passwd": HASH, "lock_passwd": False}],
        "cloud_instance_packages": ["nginx"],
    },
    "dual-stack": {
        "cloud_instance_network": {"addresses": ["192.0.2.20/24", "2001:db8:10::20/64"],
                                   "gateway4": "192.0.2.1", "gateway6": "2001:db8:10::1",
                                   "nameservers": ["2001:db8:10::53"]},
    },
    "v6-only": {
        "cloud_instance_default_user": False,
        "cloud_instance_users": [{"name": "ops", "ssh_authorized_keys": [KEY]}],
        "cloud_instance_network": {"addresses": ["2001:db8:20::5/64"], "gateway6": "2001:db8:20::1"},
    },
    "dhcp-both": {"cloud_instance_network": {"dhcp6": True}},
    "extra-cloud-config": {
        "cloud_instance_cloud_config": {
            "timezone": "Europe/Berlin", "ssh_pwauth": False, "package_update": True,
            "write_files": [{"path": "/etc/motd", "content": "managed by ansible\n", "permissions": "0644"}],
            "chpasswd": {"expire": False, "list": "ops:$6$x$y\n"},
        },
    },
    "minimal": {},
}


def render_role(tmp_path):
    """{case: {user_data, meta_data, network_config, addresses}} from the role's own vars files,
    one play per case (vars_files in order: defaults, the role's vars, the case)."""
    plays = []
    for case, values in ROLE_CASES.items():
        case_file = tmp_path / ("%s.yml" % case)
        case_file.write_text(yaml.safe_dump(dict(values, cloud_instance_name="vm-" + case,
                                                 __cloud_instance_mac=MAC)))
        plays.append({
            "name": case, "hosts": "localhost", "gather_facts": False,
            "vars_files": [os.path.join(ROLE, "defaults", "main.yml"), os.path.join(ROLE, "vars", "main.yml"),
                           str(case_file)],
            "tasks": [{"name": "Write what the role renders", "ansible.builtin.copy": {
                "dest": str(tmp_path / ("%s.json" % case)), "mode": "0644",
                "content": "{{ {'user_data': __cloud_instance_user_data, 'hostname': __cloud_instance_hostname,"
                           " 'network_config': __cloud_instance_network_config,"
                           " 'addresses': __cloud_instance_reported} | to_json }}"}}],
        })
    (tmp_path / "render.yml").write_text(yaml.safe_dump(plays))
    result = subprocess.run([PLAYBOOK, "-i", "localhost,", "-c", "local", "-e",
                             "ansible_python_interpreter=" + sys.executable, str(tmp_path / "render.yml")],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return {case: json.loads((tmp_path / ("%s.json" % case)).read_text()) for case in ROLE_CASES}


@pytest.fixture(scope="module")
def role_cases(tmp_path_factory):
    return render_role(tmp_path_factory.mktemp("cloud_instance_render"))


def cloud_init(*args, cwd):
    env = dict(os.environ, PYTHONPATH=CLOUD_INIT_PYTHON)
    return subprocess.run([sys.executable, "-m", "cloudinit.cmd.main"] + list(args), cwd=str(cwd), env=env,
                          capture_output=True, text=True, check=False, timeout=120)


def assert_valid_user_data(text, tmp_path):
    path = tmp_path / "user-data"
    path.write_text(text)
    result = cloud_init("schema", "--config-file", str(path), cwd=tmp_path)
    assert result.returncode == 0, "cloud-init schema refused:\n%s\n%s%s" % (text, result.stdout, result.stderr)
    assert "Valid cloud-config" in result.stdout


def net_convert(text, tmp_path, kind, distro):
    """{relative path: text} of the files cloud-init writes for ``distro`` from the network-config."""
    source = tmp_path / "network-config"
    source.write_text(text)
    out = tmp_path / ("out-" + kind)
    result = cloud_init("devel", "net-convert", "--network-data", str(source), "--kind", "yaml",
                        "--output-kind", kind, "--distro", distro, "--directory", str(out), cwd=tmp_path)
    assert result.returncode == 0, "cloud-init net-convert refused:\n%s\n%s%s" % (text, result.stdout, result.stderr)
    return {os.path.relpath(os.path.join(d, f), str(out)): open(os.path.join(d, f)).read()
            for d, _dirs, files in os.walk(str(out)) for f in files}


def seed_files(name, user_data, network_config, meta_data=None):
    """The seed's files as vm_cloud_init writes them (its checks first, as the module runs them)."""
    seed.check_network_config(network_config)
    return seed.render(name, "iid-" + name, user_data, meta_data, network_config)


@pytest.mark.parametrize("case", sorted(ROLE_CASES))
def test_role_user_data_is_valid_cloud_config(role_cases, case, tmp_path):
    rendered = role_cases[case]
    files = seed_files("vm-" + case, rendered["user_data"], rendered["network_config"])
    assert files["user-data"].startswith("#cloud-config\n")
    assert_valid_user_data(files["user-data"], tmp_path)
    parsed = yaml.safe_load(files["user-data"])
    assert parsed["hostname"] == rendered["hostname"]
    users = ROLE_CASES[case].get("cloud_instance_users")
    if users:
        default_first = ROLE_CASES[case].get("cloud_instance_default_user", True)
        assert parsed["users"] == (["default"] if default_first else []) + users
    meta = yaml.safe_load(files["meta-data"])
    assert meta == {"instance-id": "iid-vm-" + case, "local-hostname": "vm-" + case}


def test_role_hostname_and_fqdn(role_cases):
    assert role_cases["rocky-static-v4"]["user_data"]["hostname"] == "web01"
    assert role_cases["rocky-static-v4"]["user_data"]["fqdn"] == "web01.example.com"
    assert role_cases["minimal"]["user_data"] == {"hostname": "vm-minimal"}


@pytest.mark.parametrize("case", sorted(ROLE_CASES))
def test_role_network_config_renders_for_rhel_and_ubuntu(role_cases, case, tmp_path):
    rendered = role_cases[case]
    files = seed_files("vm-" + case, rendered["user_data"], rendered["network_config"])
    ethernet = rendered["network_config"]["ethernets"]["eth0"]
    assert ethernet["match"] == {"macaddress": MAC}
    sysconfig = net_convert(files["network-config"], tmp_path, "sysconfig", "rocky")
    ifcfg = sysconfig["etc/sysconfig/network-scripts/ifcfg-eth0"]
    assert "HWADDR=%s" % MAC in ifcfg
    netplan = yaml.safe_load(net_convert(files["network-config"], tmp_path, "netplan", "ubuntu")
                             ["etc/netplan/50-cloud-init.yaml"])["network"]["ethernets"]["eth0"]
    assert netplan["match"] == {"macaddress": MAC}
    network = ROLE_CASES[case].get("cloud_instance_network", {})
    addresses = network.get("addresses", [])
    assert rendered["addresses"] == [a.split("/")[0] for a in addresses]
    if not addresses:
        assert "BOOTPROTO=dhcp" in ifcfg
        assert netplan["dhcp4"] is True
    for address in addresses:
        plain, prefix = address.split("/")
        if ":" in address:
            assert "IPV6ADDR=%s" % address in ifcfg
        else:
            assert "IPADDR=%s" % plain in ifcfg
            assert "NETMASK=255.255.255.0" in ifcfg and prefix == "24"
        assert address in netplan["addresses"]
    if network.get("gateway4"):
        assert "GATEWAY=%s" % network["gateway4"] in ifcfg
        assert {"to": "0.0.0.0/0", "via": network["gateway4"]} in netplan["routes"]
    if network.get("gateway6"):
        assert {"to": "::/0", "via": network["gateway6"]} in netplan["routes"]
    if network.get("dhcp6"):
        assert "DHCPV6C=yes" in ifcfg and netplan["dhcp6"] is True
    for index, server in enumerate(network.get("nameservers", [])):
        assert "DNS%d=%s" % (index + 1, server) in ifcfg
        assert server in netplan["nameservers"]["addresses"]


# vm_cloud_init's own inputs beyond what the role builds: user-data as a string, network-config
# version 1, meta-data of the caller's.
MODULE_USER_DATA = {
    "string-cloud-config": "#cloud-config\nhostname: db01\nusers:\n  - default\n  - name: dba\n"
                           "    ssh_authorized_keys: ['%s']\npackages: [postgresql-server]\n"
                           "runcmd:\n  - [postgresql-setup, --initdb]\n" % KEY,
    "dict-with-power-state": {"hostname": "job01", "runcmd": ["/usr/local/bin/job"],
                              "power_state": {"mode": "poweroff", "delay": "now", "condition": True}},
    "none": None,
}


@pytest.mark.parametrize("case", sorted(MODULE_USER_DATA))
def test_module_user_data_is_valid_cloud_config(case, tmp_path):
    files = seed_files("vm-" + case, MODULE_USER_DATA[case], None, meta_data={"local-hostname": "other"})
    assert "network-config" not in files
    assert yaml.safe_load(files["meta-data"])["local-hostname"] == "other"
    assert_valid_user_data(files["user-data"], tmp_path)


def test_module_network_config_v1_static(tmp_path):
    config = {"version": 1, "config": [
        {"type": "physical", "name": "eth0", "mac_address": MAC,
         "subnets": [{"type": "static", "address": "198.51.100.7/24", "gateway": "198.51.100.1",
                      "dns_nameservers": ["198.51.100.53"]},
                     {"type": "static6", "address": "2001:db8:30::7/64"}]}]}
    files = seed_files("v1", None, config)
    ifcfg = net_convert(files["network-config"], tmp_path, "sysconfig", "rhel")["etc/sysconfig/network-scripts/ifcfg-eth0"]
    assert "IPADDR=198.51.100.7" in ifcfg and "GATEWAY=198.51.100.1" in ifcfg
    assert "IPV6ADDR=2001:db8:30::7/64" in ifcfg
    netplan = net_convert(files["network-config"], tmp_path, "netplan", "ubuntu")["etc/netplan/50-cloud-init.yaml"]
    assert "198.51.100.7/24" in netplan and "2001:db8:30::7/64" in netplan


def test_module_network_config_v2_route_to_default(tmp_path):
    """cloud-init 22.4 refuses a route to "default": the drive has 0.0.0.0/0 and ::/0 instead
    (by the family of the via), which it converts for both distros."""
    config = {"version": 2, "ethernets": {"eth0": {
        "match": {"macaddress": MAC}, "addresses": ["192.0.2.60/24", "2001:db8:40::60/64"],
        "routes": [{"to": "default", "via": "192.0.2.1"}, {"to": "default", "via": "2001:db8:40::1"}]}}}
    files = seed_files("routes", None, config)
    written = yaml.safe_load(files["network-config"])["ethernets"]["eth0"]["routes"]
    assert written == [{"to": "0.0.0.0/0", "via": "192.0.2.1"}, {"to": "::/0", "via": "2001:db8:40::1"}]
    sysconfig = net_convert(files["network-config"], tmp_path, "sysconfig", "rocky")
    assert "GATEWAY=192.0.2.1" in sysconfig["etc/sysconfig/network-scripts/ifcfg-eth0"]
    assert "via 2001:db8:40::1" in sysconfig["etc/sysconfig/network-scripts/route6-eth0"]
    netplan = yaml.safe_load(net_convert(files["network-config"], tmp_path, "netplan", "ubuntu")
                             ["etc/netplan/50-cloud-init.yaml"])["network"]["ethernets"]["eth0"]
    assert {"to": "0.0.0.0/0", "via": "192.0.2.1"} in netplan["routes"]
    assert {"to": "::/0", "via": "2001:db8:40::1"} in netplan["routes"]
    # what the rewrite is for: this cloud-init refuses the route as given
    (tmp_path / "as-given").write_text(yaml.safe_dump(config))
    result = cloud_init("devel", "net-convert", "--network-data", str(tmp_path / "as-given"), "--kind", "yaml",
                        "--output-kind", "sysconfig", "--distro", "rocky", "--directory", str(tmp_path / "given"),
                        cwd=tmp_path)
    if result.returncode == 0:
        pytest.skip("this cloud-init accepts to: default (newer than 22.4); the rewrite is harmless")


# The checks can fail: user-data cloud-init's schema refuses, network-config it cannot convert.
# {case: (user-data, the key cloud-init names)}
BROKEN_USER_DATA = {
    "packages-not-a-list": ({"packages": "nginx"}, "packages"),
    "runcmd-a-number": ({"runcmd": 5}, "runcmd"),
    "sudo-a-number": ({"users": [{"name": "ops", "sudo": 5}]}, "users.0"),
    "write-files-without-path": ({"write_files": [{"content": "x"}]}, "write_files.0"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_USER_DATA))
def test_schema_refuses_broken_user_data(case, tmp_path):
    user_data, key = BROKEN_USER_DATA[case]
    files = seed_files("broken", user_data, None)
    path = tmp_path / "user-data"
    path.write_text(files["user-data"])
    result = cloud_init("schema", "--config-file", str(path), cwd=tmp_path)
    assert result.returncode != 0, result.stdout
    assert "Cloud config schema errors: %s:" % key in result.stderr


def test_net_convert_refuses_a_broken_network_config(tmp_path):
    (tmp_path / "network-config").write_text(yaml.safe_dump(
        {"version": 2, "ethernets": {"eth0": {"addresses": ["192.0.2.300/24"]}}}))
    result = cloud_init("devel", "net-convert", "--network-data", str(tmp_path / "network-config"), "--kind", "yaml",
                        "--output-kind", "sysconfig", "--distro", "rocky", "--directory", str(tmp_path / "out"),
                        cwd=tmp_path)
    assert result.returncode != 0
    assert "192.0.2.300" in result.stderr
