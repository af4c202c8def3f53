"""Sample network install trees (xapisim.trees): deterministic payloads, the metadata files real
trees carry (.treeinfo, .discinfo, SUSE content) and identification by them, the
``make-tree`` / ``make-trees`` / ``serve-trees`` commands.
"""
import configparser
import hashlib
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from xapisim import trees


def _md5(data):
    return hashlib.md5(data).hexdigest()


def test_payloads_are_deterministic_and_distinct():
    assert trees.payload("rhel", "5.1", "x86_64", "kernel") == trees.payload("rhel", "5.1", "x86_64", "kernel")
    digests = [_md5(trees.payload(*tree, role)) for tree in trees.ALL_TREES for role in ("kernel", "ramdisk")]
    assert len(set(digests)) == len(digests) == 2 * len(trees.ALL_TREES)
    # RHEL and CentOS of the same release and kernel differ only by their checksums
    assert trees.uname("rhel", "5.0", "i386") == trees.uname("centos", "5.0", "i386")
    assert _md5(trees.payload("rhel", "5.0", "i386", "kernel")) != _md5(trees.payload("centos", "5.0", "i386", "kernel"))
    with pytest.raises(ValueError):
        trees.payload("rhel", "9.9", "x86_64", "kernel")
    with pytest.raises(ValueError):
        trees.payload("rhel", "5.1", "x86_64", "vmlinuz")


def _reader(files):
    return files.get


def test_known_md5_is_the_md5_of_every_payload_and_identify_reads_metadata():
    assert set(trees.KNOWN_MD5) == {trees.tree_name(*tree) for tree in trees.ALL_TREES}
    for distro, version, arch in trees.ALL_TREES:
        sums = trees.KNOWN_MD5[trees.tree_name(distro, version, arch)]
        assert sums == {"kernel": _md5(trees.payload(distro, version, arch, "kernel")),
                        "ramdisk": _md5(trees.payload(distro, version, arch, "ramdisk"))}
        assert trees.identify(_reader(trees.tree_files(distro, version, arch))) == (distro, version, arch)
    assert trees.identify(_reader({})) is None
    assert trees.identify(_reader({".treeinfo": b"[general]\nfamily = Fedora\nversion = 8\narch = i386\n"})) is None
    assert trees.identify(_reader({".treeinfo": b"garbage"})) is None


def test_identify_ignores_the_kernel_bytes():
    """A hand-made CentOS 5.0 tree with a vmlinuz never seen is CentOS 5.0 by its metadata."""
    files = dict(trees.tree_files("centos", "5.0", "x86_64"), **{"images/xen/vmlinuz": os.urandom(64)})
    assert trees.identify(_reader(files)) == ("centos", "5.0", "x86_64")
    # the same bytes labelled RHEL are RHEL
    rhel = dict(files, **{name: text.encode() for name, text in trees.metadata("rhel", "5.0", "x86_64").items()})
    assert trees.identify(_reader(rhel)) == ("rhel", "5.0", "x86_64")


@pytest.mark.parametrize("tree, product", [
    (("rhel", "5.1", "x86_64"), "Red Hat Enterprise Linux Server 5.1"),
    (("centos", "5.0", "i386"), "CentOS 5.0"),
    (("rhel", "4.5", "i386"), "Red Hat Enterprise Linux AS 4.5"),
    (("centos", "4.5", "i386"), "CentOS 4.5"),
])
def test_el_metadata_is_modelled_on_anaconda_and_pungi(tree, product):
    meta = trees.metadata(*tree)
    lines = meta[".discinfo"].splitlines()
    assert float(lines[0]) > 1e9 and lines[1] == product and lines[2] == tree[2] and lines[3] == "1"
    if tree[1].startswith("4."):
        assert ".treeinfo" not in meta      # EL 4 trees have only .discinfo
        return
    info = configparser.ConfigParser()
    info.read_string(meta[".treeinfo"])
    assert info["general"]["family"] == ("CentOS" if tree[0] == "centos" else "Red Hat Enterprise Linux Server")
    assert (info["general"]["version"], info["general"]["arch"]) == (tree[1], tree[2])
    assert dict(info["images-xen"]) == {"kernel": "images/xen/vmlinuz", "initrd": "images/xen/initrd.img"}


def test_sles_content_files_are_modelled_on_suse_media():
    sles10 = trees.metadata("sles", "10sp1", "i386")["content"].splitlines()
    assert "VERSION 10.1-0" in sles10 and "LABEL SUSE Linux Enterprise Server 10 SP1" in sles10
    assert "DEFAULTBASE i586" in sles10
    sles11 = trees.metadata("sles", "11sp4", "x86_64")["content"].splitlines()
    assert sles11[0] == "CONTENTSTYLE 11" and "NAME SUSE_SLES" in sles11 and "VERSION 11.4" in sles11
    assert "BASEARCHS x86_64" in sles11 and "LABEL SUSE Linux Enterprise Server 11 SP4" in sles11


def test_sample_digests_cover_every_file():
    digests = trees.sample_digests()
    for tree in trees.ALL_TREES:
        for data in trees.tree_files(*tree).values():
            assert _md5(data) in digests and hashlib.sha256(data).hexdigest() in digests


@pytest.mark.parametrize("tree, kernel, ramdisk, markers", [
    (("rhel", "5.1", "x86_64"), "images/xen/vmlinuz", "images/xen/initrd.img", [".discinfo", ".treeinfo"]),
    (("centos", "4.5", "i386"), "images/xen/vmlinuz", "images/xen/initrd.img", [".discinfo"]),
    (("sles", "10sp1", "x86_64"), "boot/x86_64/vmlinuz-xen", "boot/x86_64/initrd-xen", ["content"]),
    (("sles", "10sp1", "i386"), "boot/i386/vmlinuz-xenpae", "boot/i386/initrd-xenpae", ["content"]),
])
def test_write_tree_puts_files_where_eliloader_looks(tmp_path, tree, kernel, ramdisk, markers):
    trees.write_tree(str(tmp_path), *tree)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == \
        sorted([kernel, ramdisk] + markers)
    marker = markers[0]
    assert trees.boot_paths(*tree) == (kernel, ramdisk)
    sums = trees.KNOWN_MD5[trees.tree_name(*tree)]
    assert _md5((tmp_path / kernel).read_bytes()) == sums["kernel"]
    assert _md5((tmp_path / ramdisk).read_bytes()) == sums["ramdisk"]
    text = (tmp_path / marker).read_text()
    assert (tree[2] in text or "i586" in text) and ("SUSE" in text if tree[0] == "sles" else tree[1] in text)


def test_make_tree_and_make_trees_commands(tmp_path, xapisim_cmd):
    out = subprocess.run(xapisim_cmd + ["make-tree", "--distro", "centos", "--version", "5.0",
                                        "--arch", "x86_64", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    kernel = tmp_path / "one" / "images" / "xen" / "vmlinuz"
    assert _md5(kernel.read_bytes()) == trees.KNOWN_MD5["centos-5.0-x86_64"]["kernel"]
    bad = subprocess.run(xapisim_cmd + ["make-tree", "--distro", "rhel", "--version", "10sp1",
                                        "--arch", "i386", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "no sample tree for rhel 10sp1" in bad.stderr
    out = subprocess.run(xapisim_cmd + ["make-trees", str(tmp_path / "all")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    names = sorted(os.listdir(tmp_path / "all"))
    assert names == sorted([trees.tree_name(*t) for t in trees.SAMPLES] + ["answers"])
    for distro, version, arch in trees.SAMPLES:
        for role, path in zip(("kernel", "ramdisk"), trees.boot_paths(distro, version, arch)):
            data = (tmp_path / "all" / trees.tree_name(distro, version, arch) / path).read_bytes()
            assert data == trees.payload(distro, version, arch, role)
    assert sorted(os.listdir(tmp_path / "all" / "answers")) == [
        "rhel-poweroff.ks", "rhel-reboot.ks", "sles-halt.xml", "sles-reboot.xml"]


def test_serve_trees_command(tmp_path, xapisim_cmd):
    trees.write_tree(str(tmp_path / "rhel"), "rhel", "5.1", "i386")
    proc = subprocess.Popen(xapisim_cmd + ["serve-trees", str(tmp_path), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = proc.stdout.readline()
        assert banner.startswith("xapisim trees on http://127.0.0.1:"), (banner, proc.stderr.read())
        url = banner.split()[-1]
        with urllib.request.urlopen(url + "/rhel/images/xen/vmlinuz", timeout=10) as reply:
            assert reply.read() == trees.payload("rhel", "5.1", "i386", "kernel")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url + "/rhel/images/xen/missing", timeout=10)
        assert caught.value.code == 404
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()
        proc.stderr.close()


def test_served_in_process_records_requests(tmp_path):
    trees.write_tree(str(tmp_path), "sles", "10sp1", "x86_64")
    with trees.served(str(tmp_path)) as server:
        with urllib.request.urlopen(server.url + "/boot/x86_64/initrd-xen", timeout=10) as reply:
            assert _md5(reply.read()) == trees.KNOWN_MD5["sles-10sp1-x86_64"]["ramdisk"]
        assert server.requests == ["/boot/x86_64/initrd-xen"]
