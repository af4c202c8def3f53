"""cloud-init's NoCloud reader: real seed volumes (ISO 9660 built with pycdlib, VFAT built with
pyfatfs), read back and applied as cloud-init would at first boot."""

import base64
import gzip
import io
import os

import pycdlib
import pytest
from pyfatfs.PyFat import PyFat
from pyfatfs.PyFatFS import PyFatFS

from xapisim.guests import cloudinit

META = b"instance-id: iid-web01\nlocal-hostname: web01\n"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnWkq3Y0pF3dK5vJ5n1pQyR7gTq8uV2wXyZ0aB1cD2e ops@example"


def iso_seed(files, label="cidata", joliet=True, rock_ridge=True):
    """A config-drive ISO as genisoimage -V cidata -J -r builds it (or with fewer name spaces)."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4 if not (joliet or rock_ridge) else 3, vol_ident=label,
            joliet=3 if joliet else None, rock_ridge="1.09" if rock_ridge else None)
    for index, (name, data) in enumerate(sorted(files.items())):
        kwargs = {}
        if rock_ridge:
            kwargs["rr_name"] = name
        if joliet:
            kwargs["joliet_path"] = "/" + name
        iso_name = name.upper() + ".;1" if not (joliet or rock_ridge) else "/F%d.;1" % index
        iso.add_fp(io.BytesIO(data), len(data), iso_name if iso_name.startswith("/")
                   else "/" + iso_name, **kwargs)
    out = io.BytesIO()
    iso.write_fp(out)
    iso.close()
    out.seek(0)
    return out


def vfat_seed(tmp_path, files, label="cidata", fat_type=PyFat.FAT_TYPE_FAT16, size=16 * 2**20):
    """A VFAT seed volume, unpartitioned, as Xen Orchestra writes a cloud-init config drive."""
    path = str(tmp_path / "seed.img")
    with open(path, "wb"):
        pass
    PyFat().mkfs(path, fat_type, size=size, label=label)
    with open(path, "r+b") as volume:  # pyfatfs 1.1's FAT12 mkfs leaves out the boot signature
        volume.seek(510)
        volume.write(b"\x55\xaa")
    fs = PyFatFS(path)
    for name, data in files.items():
        with fs.openbin("/" + name, "w") as out:
            out.write(data)
    fs.close()
    return open(path, "rb")


def seed_of(user_data, network_config=None, meta=META, vendor_data=None):
    files = {"meta-data": meta, "user-data": user_data}
    if network_config is not None:
        files["network-config"] = network_config
    if vendor_data is not None:
        files["vendor-data"] = vendor_data
    seed = cloudinit.read_seed(iso_seed(files))
    assert seed is not None
    return seed


FULL_CONFIG = ("""#cloud-config
hostname: web01
fqdn: web01.example.com
users:
  - default
  - name: ops
    groups: [wheel, adm]
    sudo: ALL=(ALL) NOPASSWD:ALL
    shell: /bin/bash
    ssh_authorized_keys:
      - %s
write_files:
  - path: /etc/motd
    content: welcome
  - path: /etc/app.conf
    encoding: b64
    content: %s
    permissions: '0600'
    owner: app:app
runcmd:
  - systemctl restart sshd
  - [touch, /root/done]
package_update: true
packages:
  - nginx
  - [postgresql, '15']
power_state:
  mode: reboot
  delay: now
  message: rebooting after setup
""" % (KEY, base64.b64encode(b"port=8080\n").decode())).encode()


def test_iso_seed_with_rock_ridge_and_joliet_applies_every_module():
    seed = seed_of(FULL_CONFIG)
    assert (seed.label, seed.filesystem) == ("cidata", "iso9660")
    assert seed.meta_data == {"instance-id": "iid-web01", "local-hostname": "web01"}
    result = cloudinit.apply(seed, None, default_user="rocky")
    assert result["status"] == "done", result["errors"]
    assert result["ran"] is True and result["instance_id"] == "iid-web01"
    assert (result["hostname"], result["fqdn"]) == ("web01", "web01.example.com")
    assert [u["name"] for u in result["users"]] == ["rocky", "ops"]
    ops = result["users"][1]
    assert ops["groups"] == ["wheel", "adm"] and ops["sudo"] == ["ALL=(ALL) NOPASSWD:ALL"]
    assert ops["ssh_authorized_keys"] == [KEY] and ops["shell"] == "/bin/bash"
    assert result["write_files"] == ["/etc/motd", "/etc/app.conf"]
    assert result["files"]["/etc/app.conf"]["content"] == b"port=8080\n"
    assert result["files"]["/etc/app.conf"]["permissions"] == "0600"
    assert result["files"]["/etc/motd"]["permissions"] == "0644"
    assert result["runcmd"] == ["systemctl restart sshd", ["touch", "/root/done"]]
    assert result["packages"] == ["nginx", ["postgresql", "15"]] and result["package_update"]
    assert result["power_state"]["mode"] == "reboot" and result["power_state"]["delay"] == 0
    # no network-config: cloud-init's fallback, DHCPv4 on the first NIC
    assert result["network"]["interfaces"][0]["name"] == "eth0"
    assert result["network"]["interfaces"][0]["dhcp4"] is True


def test_hostname_from_meta_data_and_top_level_keys_for_the_default_user():
    seed = seed_of(b"#cloud-config\nssh_authorized_keys: [\"%s\"]\n" % KEY.encode())
    result = cloudinit.apply(seed, "iid-older", nics=[("enX0", "aa:bb:cc:00:00:01")])
    assert (result["hostname"], result["fqdn"]) == ("web01", "web01")
    assert result["users"][0]["default"] and result["users"][0]["ssh_authorized_keys"] == [KEY]
    assert result["network"]["interfaces"][0]["name"] == "enX0"
    assert result["power_state"] is None and result["runcmd"] == []


def test_same_instance_id_does_not_run_again_a_new_one_does():
    seed = seed_of(FULL_CONFIG)
    again = cloudinit.apply(seed, "iid-web01")
    assert again["ran"] is False and again["runcmd"] == [] and again["hostname"] is None
    assert again["status"] == "done" and again["network"] is None
    assert cloudinit.apply(seed, "iid-web00")["ran"] is True


def test_meta_data_without_instance_id_is_nocloud():
    seed = seed_of(b"", meta=b"local-hostname: db1.example.org\n")
    result = cloudinit.apply(seed, None)
    assert result["instance_id"] == "nocloud"
    assert (result["hostname"], result["fqdn"]) == ("db1", "db1.example.org")
    assert cloudinit.apply(seed, "nocloud")["ran"] is False


@pytest.mark.parametrize("joliet,rock_ridge", [(True, False), (False, False)])
def test_iso_names_without_rock_ridge(joliet, rock_ridge):
    files = {"meta-data": META, "user-data": b"#cloud-config\nhostname: plain\n"}
    seed = cloudinit.read_seed(iso_seed(files, label="CIDATA", joliet=joliet, rock_ridge=rock_ridge))
    assert seed.label == "CIDATA"
    assert cloudinit.apply(seed, None)["hostname"] == "plain"


@pytest.mark.parametrize("fat_type", [PyFat.FAT_TYPE_FAT12, PyFat.FAT_TYPE_FAT16])
def test_vfat_seed(tmp_path, fat_type):
    network = b"version: 2\nethernets:\n  eth0:\n    addresses: [10.1.2.3/24]\n    gateway4: 10.1.2.1\n"
    size = 1440 * 1024 if fat_type == PyFat.FAT_TYPE_FAT12 else 16 * 2**20
    with vfat_seed(tmp_path, {"meta-data": META, "user-data": FULL_CONFIG,
                              "network-config": network}, fat_type=fat_type, size=size) as volume:
        seed = cloudinit.read_seed(volume)
    assert seed.filesystem == "vfat" and seed.label in ("cidata", "CIDATA")
    assert seed.user_data == FULL_CONFIG
    result = cloudinit.apply(seed, None)
    assert result["status"] == "done" and result["hostname"] == "web01"
    assert result["network"]["interfaces"][0]["addresses"] == ["10.1.2.3/24"]


def test_vfat_with_another_label_is_not_a_seed(tmp_path):
    with vfat_seed(tmp_path, {"meta-data": META, "user-data": b""}, label="DATA") as volume:
        assert cloudinit.read_seed(volume) is None


def test_not_a_seed():
    assert cloudinit.read_seed(io.BytesIO(b"\0" * 2**20)) is None
    assert cloudinit.read_seed(io.BytesIO(os.urandom(64 * 1024))) is None
    # an ISO with another label, and a cidata ISO lacking user-data (cloud-init skips both)
    assert cloudinit.read_seed(iso_seed({"meta-data": META, "user-data": b""}, label="DVD")) is None
    assert cloudinit.read_seed(iso_seed({"meta-data": META})) is None


NET_V1 = b"""version: 1
config:
  - type: physical
    name: eth0
    mac_address: "aa:bb:cc:00:00:01"
    subnets:
      - type: static
        address: 192.168.10.20
        netmask: 255.255.255.0
        gateway: 192.168.10.1
        dns_nameservers: [192.168.10.2]
      - type: static6
        address: "2001:db8::20/64"
        gateway: "2001:db8::1"
  - type: physical
    name: eth1
    subnets:
      - type: dhcp
      - type: dhcp6
  - type: nameserver
    address: [9.9.9.9]
    search: [example.com]
"""

NET_V2 = b"""network:
  version: 2
  ethernets:
    lan:
      match:
        macaddress: "AA:BB:CC:00:00:02"
      set-name: lan0
      addresses: [172.16.0.5/16, "fd00::5/64"]
      routes:
        - to: default
          via: 172.16.0.1
        - to: "::/0"
          via: "fd00::1"
      nameservers:
        addresses: [172.16.0.53]
        search: [corp.example]
    other:
      match: {name: "enX*"}
      dhcp4: true
      dhcp6: true
"""


def test_network_config_v1_static_v4_v6_and_dhcp():
    result = cloudinit.apply(seed_of(b"", NET_V1), None)
    assert result["status"] == "done", result["errors"]
    eth0, eth1 = result["network"]["interfaces"]
    assert eth0["mac"] == "aa:bb:cc:00:00:01"
    assert eth0["addresses"] == ["192.168.10.20/24", "2001:db8::20/64"]
    assert (eth0["gateway4"], eth0["gateway6"]) == ("192.168.10.1", "2001:db8::1")
    assert eth0["nameservers"] == ["192.168.10.2", "9.9.9.9"] and eth0["search"] == ["example.com"]
    assert eth1["dhcp4"] and eth1["dhcp6"] and eth1["addresses"] == []


def test_network_config_v2_matched_by_mac_and_name():
    nics = [("enX0", "aa:bb:cc:00:00:01"), ("enX1", "aa:bb:cc:00:00:02")]
    result = cloudinit.apply(seed_of(b"", NET_V2), None, nics=nics)
    assert result["status"] == "done", result["errors"]
    lan, other = result["network"]["interfaces"]
    assert (lan["name"], lan["mac"]) == ("lan0", "aa:bb:cc:00:00:02")
    assert lan["addresses"] == ["172.16.0.5/16", "fd00::5/64"]
    assert (lan["gateway4"], lan["gateway6"]) == ("172.16.0.1", "fd00::1")
    assert lan["nameservers"] == ["172.16.0.53"] and lan["search"] == ["corp.example"]
    assert (other["name"], other["dhcp4"], other["dhcp6"]) == ("enX0", True, True)


def test_malformed_user_data_yaml_is_an_error_the_rest_applies():
    result = cloudinit.apply(seed_of(b"#cloud-config\nusers: [ {name: x\nruncmd: - oops\n", NET_V1), None)
    assert result["status"] == "error"
    assert any("user-data" in error and "YAML" in error for error in result["errors"])
    assert result["hostname"] == "web01"  # from meta-data
    assert result["network"]["interfaces"][0]["addresses"][0] == "192.168.10.20/24"
    assert result["runcmd"] == []


@pytest.mark.parametrize("network", [
    b"version: 3\n",
    b"version: 1\nconfig:\n  - type: physical\n    name: eth0\n    subnets: [{type: static}]\n",
    b"version: 2\nethernets:\n  eth0:\n    addresses: [10.0.0.300/24]\n",
    b"version: 2\nethernets: [eth0\n",
])
def test_bad_network_config_is_an_error_and_falls_back_to_dhcp(network):
    result = cloudinit.apply(seed_of(b"", network), None)
    assert result["status"] == "error"
    assert any(error.startswith("network-config") for error in result["errors"])
    assert result["network"]["interfaces"][0]["dhcp4"] is True


def test_user_data_script_gzip_and_mime_multipart():
    script = b"#!/bin/sh\necho hello > /root/hello\n"
    result = cloudinit.apply(seed_of(script), None)
    assert result["status"] == "done" and result["runcmd"] == [script.decode()]
    zipped = gzip.compress(b"#cloud-config\nhostname: zipped\n")
    assert cloudinit.apply(seed_of(zipped), None)["hostname"] == "zipped"
    mime = (b'Content-Type: multipart/mixed; boundary="XX"\nMIME-Version: 1.0\n\n'
            b'--XX\nContent-Type: text/cloud-config\n\nhostname: mimed\n'
            b'--XX\nContent-Type: text/x-shellscript\n\n#!/bin/sh\ntrue\n--XX--\n')
    result = cloudinit.apply(seed_of(mime), None)
    assert result["hostname"] == "mimed" and result["runcmd"] == ["#!/bin/sh\ntrue"]


def test_unhandled_user_data_type_and_bad_modules_are_errors():
    assert cloudinit.apply(seed_of(b"just some text\n"), None)["status"] == "error"
    result = cloudinit.apply(seed_of(
        b"#cloud-config\npower_state: {mode: sleep}\nwrite_files:\n  - content: x\n"), None)
    assert result["status"] == "error" and len(result["errors"]) == 2
    assert result["power_state"] is None and result["write_files"] == []


def test_vendor_data_under_user_data():
    result = cloudinit.apply(seed_of(b"#cloud-config\nhostname: mine\n",
                                     vendor_data=b"#cloud-config\nhostname: vendor\npackages: [qemu-guest-agent]\n"),
                             None)
    assert result["hostname"] == "mine" and result["packages"] == ["qemu-guest-agent"]


def test_power_state_condition_false_and_delay():
    result = cloudinit.apply(seed_of(b"#cloud-config\npower_state: {mode: poweroff, condition: false}\n"), None)
    assert result["power_state"] is None
    result = cloudinit.apply(seed_of(b"#cloud-config\npower_state: {mode: halt, delay: '+5'}\n"), None)
    assert result["power_state"]["mode"] == "halt" and result["power_state"]["delay"] == 5
