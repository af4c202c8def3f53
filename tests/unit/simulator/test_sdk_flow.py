"""The SDK sample install flow end to end (xenserver-samples python/install.py; reference
section 5 "Full client flow"), through the real XenAPI SDK.

eliloader reads the installer kernel from the repository, so a small HTTP server serves a
network-install tree of the RHEL shape (images/xen/vmlinuz + initrd.img).
"""
import functools
import http.server
import threading

import pytest

TEMPLATE = "CentOS 5 (64-bit)"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def repository(tmp_path):
    images = tmp_path / "images" / "xen"
    images.mkdir(parents=True)
    (images / "vmlinuz").write_bytes(b"\x7fELF sample installer kernel\n" * 64)
    (images / "initrd.img").write_bytes(b"sample installer ramdisk\n" * 64)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_sdk_sample_install_flow(api, repository):
    x = api
    # 1. clone the template
    template = x.VM.get_by_name_label(TEMPLATE)[0]
    vm = x.VM.clone(template, "sdk-sample")
    # 2. rewrite the provisioning XML's sr
    sr = x.pool.get_default_SR(x.pool.get_all()[0])
    other = x.VM.get_other_config(vm)
    x.VM.remove_from_other_config(vm, "disks")
    x.VM.add_to_other_config(vm, "disks", other["disks"].replace('sr=""', 'sr="%s"' % x.SR.get_uuid(sr)))
    # 3. the install repository
    x.VM.add_to_other_config(vm, "install-repository", repository)
    # 4. kernel arguments
    x.VM.set_PV_args(vm, "ks=http://192.0.2.1/ks.cfg ksdevice=eth0")
    # 5. a NIC on the first network
    network = x.network.get_all()[0]
    vif = x.VIF.create({"device": "0", "network": network, "VM": vm, "MAC": "", "MTU": "1500",
                        "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})
    # 6. provision: disks from the XML, no longer a template
    x.VM.provision(vm)
    record = x.VM.get_record(vm)
    assert record["is_a_template"] is False and "disks" not in record["other_config"]
    (vbd,) = record["VBDs"]
    assert x.VDI.get_SR(x.VBD.get_VDI(vbd)) == sr
    # 7. start(vm, start_paused=False, force=True)
    x.VM.start(vm, False, True)
    record = x.VM.get_record(vm)
    assert record["power_state"] == "Running"
    assert int(record["domid"]) > 0
    assert x.VIF.get_currently_attached(vif) is True
    assert x.VBD.get_currently_attached(vbd) is True
    assert record["other_config"]["install-repository"] == repository
    assert record["PV_args"] == "ks=http://192.0.2.1/ks.cfg ksdevice=eth0"
    # eliloader's first round (rhlike, one round) hands over to pygrub for the next boot
    assert record["PV_bootloader"] in ("eliloader", "pygrub")
    x.VM.hard_shutdown(x.VM.get_by_name_label("sdk-sample")[0])
