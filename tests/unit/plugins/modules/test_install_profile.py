"""install_profile against the simulator (templates) and a local HTTP server (install trees)."""
import contextlib
import functools
import hashlib
import http.server
import os
import threading

import pytest

from xapisim.pool import TEMPLATES
from xapisim.tls import make_certificate, server_context
from xapisim.trees import tree_files, write_tree

FIND = "VM.get_all_records_where"
LOGIN = "session.login_with_password"
LOGOUT = "session.logout"


def _only(pool, template_set):
    """Make the pool look like a seed-era ("legacy") or today's ("modern") one: retire the rest."""
    for name, tset, _kind, _distro, _arch, _extra in TEMPLATES:
        if tset not in (template_set, "all"):
            _retire(pool, name)
    pool.mark()


def _retire(pool, name):
    for ref in pool.api.VM.get_by_name_label(name):
        pool.api.VM.set_name_label(ref, "retired " + name)


@contextlib.contextmanager
def _serve(root, tls=None):
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls:
        server.socket = server_context(*tls).wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield "%s://127.0.0.1:%d" % (scheme, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _write_tree(root, name, distro, release, arch):
    """The simulator's sample tree of that release under root/name."""
    write_tree(os.path.join(str(root), name), distro, release, arch)


@pytest.fixture
def trees(tmp_path):
    """An HTTP server with sample trees at /centos51, /rhel51, /centos50, /sles10sp1."""
    root = tmp_path / "www"
    _write_tree(root, "centos51", "centos", "5.1", "x86_64")
    _write_tree(root, "rhel51", "rhel", "5.1", "x86_64")
    _write_tree(root, "centos50", "centos", "5.0", "x86_64")
    _write_tree(root, "sles10sp1", "sles", "10sp1", "x86_64")
    with _serve(root) as url:
        yield url


def test_modern_pool_centos5_profile_in_three_calls(pool, run_module):
    _only(pool, "modern")
    template = pool.api.VM.get_by_name_label("CentOS 5 (64-bit)")[0]
    pool.mark()
    before = pool.state()
    result = run_module("install_profile", check_mode=True, distro="centos", version="5", arch="x86_64",
                        answer_file="http://192.0.2.1/ks/c5.cfg", repository="http://192.0.2.1/centos/5")
    assert pool.calls() == [LOGIN, FIND, LOGOUT]
    assert pool.state() == before
    assert result["changed"] is False and result["verified"] is False
    assert result["template"] == {"name": "CentOS 5 (64-bit)", "uuid": pool.api.VM.get_uuid(template),
                                  "install_distro": "rhlike", "install_arch": "x86_64", "default": True}
    assert result["install_distro"] == "rhlike" and result["install_arch"] == "x86_64"
    assert result["bootloader_install"] == "eliloader" and result["bootloader_final"] == "pygrub"
    assert result["pv_args"] == "console=xvc0 ks=http://192.0.2.1/ks/c5.cfg"
    assert result["rounds"] == 1 and result["round2_bootloader_args"] == ""
    assert (result["kernel_path"], result["ramdisk_path"]) == ("images/xen/vmlinuz", "images/xen/initrd.img")
    assert result["kernel_md5"] is None  # "5" is several releases until a repository says which
    assert result["install_repository"] == "http://192.0.2.1/centos/5"
    assert result["candidates"][0] == "CentOS 5 (64-bit)"
    again = run_module("install_profile", distro="centos", version="5", arch="x86_64",
                       answer_file="http://192.0.2.1/ks/c5.cfg", repository="http://192.0.2.1/centos/5")
    assert again == dict(result, invocation=again["invocation"])


@pytest.mark.parametrize("distro, version, arch, name", [
    ("centos", "5.0", "x86_64", "CentOS 5.0 x64"),
    ("centos", "5.0", "i386", "CentOS 5.0"),
    ("centos", "4.5", "i386", "CentOS 4.5"),
    ("centos", "5", "x86_64", "CentOS 5.1 x64"),
    ("rhel", "5.1", "x86_64", "Red Hat Enterprise Linux 5.1 x64"),
    ("rhel", "5", "i386", "Red Hat Enterprise Linux 5.1"),
    ("sles", "10sp1", "x86_64", "SUSE Linux Enterprise Server 10 SP1 x64"),
    ("sles", "10 SP1", "i386", "SUSE Linux Enterprise Server 10 SP1"),
])
def test_seed_era_pool_templates(pool, run_module, distro, version, arch, name):
    _only(pool, "legacy")
    result = run_module("install_profile", distro=distro, version=version, arch=arch)
    assert result["template"]["name"] == name, result
    assert pool.calls() == [LOGIN, FIND, LOGOUT]


def test_xenserver_41_sles_template_serves_x86_64_with_install_arch(pool, run_module):
    """4.1 had one SLES 10 SP1 template; the profile says which install-arch to set."""
    _only(pool, "legacy")
    _retire(pool, "SUSE Linux Enterprise Server 10 SP1 x64")
    result = run_module("install_profile", distro="sles", version="10sp1", arch="x86_64",
                        autoyast="http://192.0.2.1/ay/sles10.xml")
    assert result["template"]["name"] == "SUSE Linux Enterprise Server 10 SP1"
    assert result["template"]["install_arch"] == "i386" and result["install_arch"] == "x86_64"
    assert result["install_distro"] == "sleslike" and result["rounds"] == 2
    assert result["pv_args"] == "console=ttyS0 xencons=ttyS autoyast=http://192.0.2.1/ay/sles10.xml"
    assert result["round2_bootloader_args"] == "--kernel /boot/vmlinuz-xen --ramdisk /boot/initrd-xen"
    assert (result["kernel_path"], result["ramdisk_path"]) == ("boot/x86_64/vmlinuz-xen", "boot/x86_64/initrd-xen")
    assert result["kernel_md5"] is None and result["route"] == "eliloader"  # nothing fetched


def test_today_sles_11_sp4_and_console_override(pool, run_module):
    result = run_module("install_profile", distro="sles", version="11sp4", console="console=hvc0", extra_args="textmode=1")
    assert result["template"]["name"] == "SUSE Linux Enterprise Server 11 SP4 (64-bit)"
    assert result["pv_args"] == "console=hvc0 textmode=1"


def test_exact_release_wins_over_generic_on_a_mixed_pool(pool, run_module):
    assert run_module("install_profile", distro="rhel", version="5.1")["template"]["name"] == \
        "Red Hat Enterprise Linux 5.1 x64"
    assert run_module("install_profile", distro="rhel", version="5")["template"]["name"] == \
        "Red Hat Enterprise Linux 5 (64-bit)"


def test_a_user_template_of_a_candidate_name_is_used_when_no_builtin_exists(pool, run_module):
    _only(pool, "modern")
    copy = pool.api.VM.clone(pool.api.VM.get_by_name_label("retired CentOS 4.5")[0], "CentOS 4.5")
    result = run_module("install_profile", distro="centos", version="4.5", arch="i386")
    assert result["template"]["uuid"] == pool.api.VM.get_uuid(copy) and result["template"]["default"] is False


def test_no_template_fails_naming_the_candidates(pool, run_module):
    before = pool.state()
    result = run_module("install_profile", distro="sles", version="11sp4", arch="i386")
    assert result["failed"]
    assert result["msg"] == ("the pool has no PV install template for SLES 11 SP4 (i386); tried: "
                             "'SUSE Linux Enterprise Server 11 SP4 (32-bit)', 'SUSE Linux Enterprise Server 11 SP4'")
    assert pool.state() == before


@pytest.mark.parametrize("options, words", [
    ({"distro": "centos", "version": "9"}, ["CentOS version '9'", "known: 4, 4.5", "7 to 8 (HVM)"]),
    ({"distro": "rocky", "version": "9", "arch": "i386"}, ["Rocky Linux 9 has no 'i386'"]),
    ({"distro": "rhel", "version": "5", "repository": "http://192.0.2.1/r", "checksums": {"images/xen/vmlinuz": "md5:xyz"}},
     ["checksums", "'md5:xyz' for images/xen/vmlinuz"]),
    ({"distro": "rhel", "version": "5", "repository": "http://192.0.2.1/r", "checksums": {"/etc/passwd": "md5:" + "0" * 32}},
     ["path '/etc/passwd'"]),
    ({"distro": "rhel", "version": "5", "checksums": {"images/xen/vmlinuz": "sha256:" + "0" * 64}}, ["repository"]),
    ({"distro": "centos", "version": "4.5", "arch": "x86_64"}, ["CentOS 4.5 has no 'x86_64'"]),
    ({"distro": "rhel", "version": "5", "repository": "smb://srv/rhel"}, ["'smb://srv/rhel'"]),
    ({"distro": "rhel", "version": "5", "repository": "nfs:srv:/rhel", "verify_repository": True},
     ["'nfs:srv:/rhel' is not an http:// or https:// URL"]),
    ({"distro": "rhel", "version": "5", "verify_repository": True}, ["repository"]),
    ({"distro": "rhel", "version": "5", "answer_file": "http://x/a b"}, ["'http://x/a b'"]),
    ({"distro": "fedora", "version": "8"}, ["fedora"]),
])
def test_bad_input_fails_naming_it_before_any_call(pool, run_module, options, words):
    pool.mark()
    result = run_module("install_profile", **options)
    assert result["failed"]
    for word in words:
        assert word in result["msg"]
    assert pool.calls() == []


def _md5_of(distro, release, arch, path):
    return hashlib.md5(tree_files(distro, release, arch)[path]).hexdigest()


def test_verify_repository_matches_and_reports_the_release(pool, run_module, trees):
    pool.mark()
    result = run_module("install_profile", distro="centos", version="5", repository=trees + "/centos51/",
                        verify_repository=True)
    assert result["verified"] is True and result["tree_version"] == "5.1"
    assert result["tree"] == {"distro": "centos", "family": "CentOS", "version": "5.1", "arch": "x86_64",
                              "metadata": ".treeinfo", "name": "CentOS 5.1 x86_64"}
    assert result["kernel_md5"] == _md5_of("centos", "5.1", "x86_64", "images/xen/vmlinuz")
    assert result["ramdisk_md5"] == _md5_of("centos", "5.1", "x86_64", "images/xen/initrd.img")
    assert pool.calls() == [LOGIN, FIND, LOGOUT]  # fetching costs no pool calls
    result = run_module("install_profile", distro="sles", version="10sp1", repository=trees + "/sles10sp1",
                        verify_repository=True)
    assert result["verified"] is True and result["tree_version"] == "10sp1"
    assert result["tree"]["metadata"] == "content" and result["tree"]["name"] == "SLES 10 SP1 x86_64"


def test_verify_repository_tells_rhel_from_centos(pool, run_module, trees):
    before = pool.state()
    result = run_module("install_profile", distro="centos", version="5", repository=trees + "/rhel51",
                        verify_repository=True)
    assert result["failed"] and result["verified"] is False
    assert result["msg"] == ("the repository at %s/rhel51 holds a RHEL 5.1 x86_64 tree (.treeinfo: family 'Red Hat "
                             "Enterprise Linux Server', version '5.1', arch 'x86_64'), not CentOS 5 (x86_64)" % trees)
    result = run_module("install_profile", distro="centos", version="5.1", repository=trees + "/centos50",
                        verify_repository=True)
    assert result["failed"] and "holds a CentOS 5.0 x86_64 tree" in result["msg"]
    result = run_module("install_profile", distro="centos", version="5.0", arch="i386", repository=trees + "/centos50",
                        verify_repository=True)
    assert result["failed"] and "holds a CentOS 5.0 x86_64 tree" in result["msg"] and "not CentOS 5.0 (i386)" in result["msg"]
    assert result["error_code"] == "REPOSITORY_MISMATCH"
    assert pool.state() == before


def test_verify_repository_missing_files(pool, run_module, tmp_path):
    root = tmp_path / "www"
    _write_tree(root, "centos50", "centos", "5.0", "x86_64")
    os.remove(str(root / "centos50" / "images" / "xen" / "initrd.img"))
    (root / "empty").mkdir()
    with _serve(root) as url:
        result = run_module("install_profile", distro="centos", version="5.0", repository=url + "/centos50",
                            verify_repository=True)
        assert result["failed"]
        assert "cannot fetch %s/centos50/images/xen/initrd.img" % url in result["msg"] and "404" in result["msg"]
        assert result["error_code"] == "REPOSITORY_UNREADABLE"
        result = run_module("install_profile", distro="centos", version="5.0", repository=url + "/empty",
                            verify_repository=True)
        assert result["failed"] and result["msg"] == (
            "the repository at %s/empty has no .treeinfo, .discinfo, content: it is not an install tree (give the "
            "directory that holds them, e.g. .../centos/5.0/os/x86_64)" % url)


def test_checksums_pin_files_exactly(pool, run_module, trees):
    files = tree_files("centos", "5.1", "x86_64")
    kernel = "sha256:" + hashlib.sha256(files["images/xen/vmlinuz"]).hexdigest()
    treeinfo = "md5:" + hashlib.md5(files[".treeinfo"]).hexdigest()
    result = run_module("install_profile", distro="centos", version="5.1", repository=trees + "/centos51",
                        checksums={"images/xen/vmlinuz": kernel, ".treeinfo": treeinfo.upper()})
    assert result["verified"] is True
    assert result["checksums"] == {"images/xen/vmlinuz": kernel, ".treeinfo": treeinfo}
    wrong = "sha256:" + "0" * 64
    result = run_module("install_profile", distro="centos", version="5.1", repository=trees + "/centos51",
                        checksums={"images/xen/vmlinuz": wrong})
    assert result["failed"] and result["msg"] == (
        "the repository at %s/centos51 does not hold the files checksums pins: images/xen/vmlinuz has sha256 %s, "
        "not %s" % (trees, kernel.split(":")[1], "0" * 64))


def _real_layout_centos50(root):
    """A tree laid out and labelled as CentOS 5.0 x86_64 mirrors are (vault.centos.org 5.0/os/x86_64):
    its own .treeinfo and .discinfo, fresh installer bytes no table has ever seen."""
    tree = root / "centos" / "5.0" / "os" / "x86_64"
    for path, data in {
        ".treeinfo": b"[general]\nfamily = CentOS\ntimestamp = 1176421227.12\ntotaldiscs = 1\nversion = 5.0\n"
                     b"discnum = 1\npackagedir = CentOS\narch = x86_64\n\n[images-x86_64]\n"
                     b"kernel = images/pxeboot/vmlinuz\ninitrd = images/pxeboot/initrd.img\nboot.iso = images/boot.iso\n"
                     b"\n[images-xen]\nkernel = images/xen/vmlinuz\ninitrd = images/xen/initrd.img\n\n"
                     b"[stage2]\nmainimage = images/stage2.img\n",
        ".discinfo": b"1176421227.124591\nCentOS 5.0\nx86_64\n1\nCentOS/base\nCentOS/RPMS\nCentOS/pixmaps\n",
        "images/xen/vmlinuz": os.urandom(4096),
        "images/xen/initrd.img": os.urandom(8192),
        "images/pxeboot/vmlinuz": os.urandom(4096),
        "images/pxeboot/initrd.img": os.urandom(8192),
        "repodata/repomd.xml": b"<?xml version='1.0' encoding='UTF-8'?>\n<repomd xmlns='http://linux.duke.edu/metadata/repo'/>\n",
    }.items():
        target = tree.joinpath(*path.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    (tree / "CentOS").mkdir()
    return "/centos/5.0/os/x86_64"


def test_a_real_layout_centos_mirror_is_told_by_its_metadata(pool, run_module, tmp_path):
    """Done when: a CentOS 5.0 x86_64 mirror with bytes the collection has never seen passes as
    CentOS 5.0 and fails as RHEL, naming what it is, before anything is created."""
    path = _real_layout_centos50(tmp_path / "www")
    with _serve(tmp_path / "www") as url:
        result = run_module("install_profile", distro="centos", version="5.0", arch="x86_64", repository=url + path,
                            verify_repository=True)
        assert result["verified"] is True and result["tree"]["name"] == "CentOS 5.0 x86_64"
        assert result["template"]["name"] == "CentOS 5.0 x64"
        before = pool.state()
        result = run_module("install_profile", distro="rhel", version="5.0", arch="x86_64", repository=url + path,
                            verify_repository=True)
        assert result["failed"] and "holds a CentOS 5.0 x86_64 tree" in result["msg"]
        assert "not RHEL 5.0 (x86_64)" in result["msg"]
        assert pool.state() == before


def test_hvm_releases_say_which_route_applies(pool, run_module):
    result = run_module("install_profile", distro="rhel", version="9.4")
    assert result["route"] == "iso" and result["routes"] == ["iso", "cloud_image"]
    assert result["template"]["name"] == "Red Hat Enterprise Linux 9" and result["candidates"] == ["Red Hat Enterprise Linux 9"]
    assert (result["firmware"], result["answer_format"], result["answer_volume"], result["answer_volume_file"]) == \
        ("uefi", "kickstart", "OEMDRV", "ks.cfg")
    assert "pv_args" not in result and "kernel_path" not in result
    sles = run_module("install_profile", distro="sles", version="15 SP6")
    assert sles["route"] == "iso" and sles["template"]["name"] == "SUSE Linux Enterprise 15 (64-bit)"
    assert sles["answer_volume_file"] == "autoinst.xml"
    stream = run_module("install_profile", distro="centos_stream", version="9")
    assert stream["template"]["name"] == "CentOS Stream 9"
    if not pool.api.VM.get_by_name_label("Rocky Linux 9"):     # an HVM template of that name, built in or a copy
        pool.api.VM.clone(pool.api.VM.get_by_name_label("Red Hat Enterprise Linux 9")[0], "Rocky Linux 9")
    rocky = run_module("install_profile", distro="rocky", version="9")
    assert rocky["template"]["name"] == "Rocky Linux 9" and rocky["firmware"] == "uefi"
    for template in pool.api.VM.get_by_name_label("Rocky Linux 9"):
        pool.api.VM.set_name_label(template, "Rocky Linux 9 (renamed)")      # a pool without it
    rocky = run_module("install_profile", distro="rocky", version="9")
    assert rocky["failed"] and rocky["msg"] == "the pool has no HVM install template for Rocky Linux 9 (x86_64); tried: 'Rocky Linux 9'"


def test_el6_is_a_pv_release_with_its_own_paths(pool, run_module):
    result = run_module("install_profile", distro="centos", version="6", answer_file="http://192.0.2.1/ks/c6.cfg")
    assert result["route"] == "eliloader" and result["template"]["name"] == "CentOS 6 (64-bit)"
    assert (result["kernel_path"], result["ramdisk_path"]) == ("isolinux/vmlinuz", "isolinux/initrd.img")
    assert result["pv_args"] == "console=hvc0 ks=http://192.0.2.1/ks/c6.cfg"


def test_verify_repository_honours_validate_certs(pool, run_module, tmp_path):
    root = tmp_path / "www"
    _write_tree(root, "centos50", "centos", "5.0", "i386")
    tls = make_certificate(str(tmp_path / "tls"), ["127.0.0.1"])
    with _serve(root, tls=tls) as url:
        options = dict(distro="centos", version="5.0", arch="i386", repository=url + "/centos50",
                       verify_repository=True)
        result = run_module("install_profile", **options)
        assert result["failed"] and "certificate" in result["msg"] and "validate_certs" in result["msg"]
        assert result["error_code"] == "TLS_CERT_UNVERIFIED"   # told by the exception, not by its text
        result = run_module("install_profile", validate_certs=False, **options)
        assert result["verified"] is True and result["tree_version"] == "5.0"


def test_static_network_on_the_installer_line(pool, run_module):
    result = run_module("install_profile", distro="rhel", version="5.1", answer_file="http://192.0.2.1/ks/w.cfg",
                        network={"address": "192.0.2.10", "netmask": "255.255.255.0", "gateway": "192.0.2.1",
                                 "nameservers": ["192.0.2.2"], "hostname": "web01"})
    assert result["pv_args"] == ("console=xvc0 ks=http://192.0.2.1/ks/w.cfg ksdevice=eth0 ip=192.0.2.10 "
                                 "netmask=255.255.255.0 gateway=192.0.2.1 dns=192.0.2.2")
    assert result["final_pv_args"] == "console=xvc0"
    assert result["network"] == {"address": "192.0.2.10", "prefix": 24, "netmask": "255.255.255.0",
                                 "gateway": "192.0.2.1", "nameservers": ["192.0.2.2"], "hostname": "web01"}
    dhcp = run_module("install_profile", distro="sles", version="10sp1", network={})
    assert dhcp["network"] is None and dhcp["pv_args"] == dhcp["final_pv_args"] == "console=ttyS0 xencons=ttyS"


def test_bad_network_fails_before_connecting(pool, run_module):
    pool.mark()
    result = run_module("install_profile", distro="sles", version="10sp1",
                        network={"address": "192.0.2.10/24", "gateway": "198.51.100.1"})
    assert result["failed"] is True
    assert result["msg"] == "network: gateway '198.51.100.1' is not another address on the network of 192.0.2.10/24"
    assert pool.calls() == []
