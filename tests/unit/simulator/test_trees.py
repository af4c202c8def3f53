"""Sample network install trees (xapisim.trees): deterministic payloads, the MD5 table, the
``make-tree`` / ``make-trees`` / ``serve-trees`` commands, and agreement with the collection's
checksum table (plugins/module_utils/_profiles.py carries the same MD5s as literals: the
collection runs against real pools and must not import xapisim).
"""
import hashlib
import importlib.util
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from xapisim import trees

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
PROFILES = os.path.join(ROOT, "plugins", "module_utils", "_profiles.py")


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


def test_known_md5_is_the_md5_of_every_payload():
    assert set(trees.KNOWN_MD5) == {trees.tree_name(*tree) for tree in trees.ALL_TREES}
    for distro, version, arch in trees.ALL_TREES:
        sums = trees.KNOWN_MD5[trees.tree_name(distro, version, arch)]
        assert sums == {"kernel": _md5(trees.payload(distro, version, arch, "kernel")),
                        "ramdisk": _md5(trees.payload(distro, version, arch, "ramdisk"))}
        assert trees.identify(kernel_md5=sums["kernel"]) == (distro, version, arch)
        assert trees.identify(ramdisk_md5=sums["ramdisk"]) == (distro, version, arch)
    assert trees.identify("0" * 32, "0" * 32) is None


def test_the_md5_table_of_the_sample_trees(capsys):
    """The table the collection copies (printed with -s)."""
    with capsys.disabled():
        print()
        for name in sorted(trees.KNOWN_MD5):
            print("%-20s kernel %s  ramdisk %s" % (name, trees.KNOWN_MD5[name]["kernel"],
                                                   trees.KNOWN_MD5[name]["ramdisk"]))
    assert {trees.tree_name(*tree) for tree in trees.SAMPLES} == {
        "rhel-5.0-i386", "rhel-5.0-x86_64", "rhel-5.1-i386", "rhel-5.1-x86_64",
        "centos-4.5-i386", "centos-4.5-x86_64", "centos-5.0-i386", "centos-5.0-x86_64",
        "sles-10sp1-i386", "sles-10sp1-x86_64"}
    # a few literal values, so an accidental change of the payloads is noticed
    assert trees.KNOWN_MD5["rhel-5.1-x86_64"] == {"kernel": "68889a6fa4377c55670b4b051a4fb5ff",
                                                  "ramdisk": "6d4176b1f3faf16868ec5a3a3c6effb6"}
    assert trees.KNOWN_MD5["centos-5.0-x86_64"] == {"kernel": "c4a1b73708a7681e14657eff6f72f500",
                                                    "ramdisk": "784ba359a79ab3148f7de27aab64a355"}
    assert trees.KNOWN_MD5["sles-10sp1-x86_64"] == {"kernel": "59fb216e28d6bb11c1395a34fa0b8fb8",
                                                    "ramdisk": "5a7eb651ac474c12a09f1cbef12b5b66"}


@pytest.mark.parametrize("tree, kernel, ramdisk, marker", [
    (("rhel", "5.1", "x86_64"), "images/xen/vmlinuz", "images/xen/initrd.img", ".treeinfo"),
    (("centos", "4.5", "i386"), "images/xen/vmlinuz", "images/xen/initrd.img", ".treeinfo"),
    (("sles", "10sp1", "x86_64"), "boot/x86_64/vmlinuz-xen", "boot/x86_64/initrd-xen", "content"),
    (("sles", "10sp1", "i386"), "boot/i386/vmlinuz-xenpae", "boot/i386/initrd-xenpae", "content"),
])
def test_write_tree_puts_files_where_eliloader_looks(tmp_path, tree, kernel, ramdisk, marker):
    trees.write_tree(str(tmp_path), *tree)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file()) == \
        sorted([kernel, ramdisk, marker])
    assert trees.boot_paths(*tree) == (kernel, ramdisk)
    sums = trees.KNOWN_MD5[trees.tree_name(*tree)]
    assert _md5((tmp_path / kernel).read_bytes()) == sums["kernel"]
    assert _md5((tmp_path / ramdisk).read_bytes()) == sums["ramdisk"]
    text = (tmp_path / marker).read_text()
    assert (tree[2] in text) and ("SUSE" in text if tree[0] == "sles" else "version = %s" % tree[1] in text)


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


def _collection_profiles():
    """plugins/module_utils/_profiles.py, loaded by path (no Ansible import needed)."""
    spec = importlib.util.spec_from_file_location("_xapisim_test_profiles", PROFILES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _collection_table(profiles):
    """{(distro, version, arch, path): md5} whatever shape the collection keeps it in."""
    table = profiles.KNOWN_MD5
    out = {}
    for key, value in table.items():
        if isinstance(key, tuple) and len(key) == 4:
            out[key] = value
        elif isinstance(key, str) and isinstance(value, dict):      # xapisim's own shape
            distro, version, arch = key.split("-", 2)
            kernel, ramdisk = trees.boot_paths(distro, version, arch)
            out[(distro, version, arch, kernel)] = value["kernel"]
            out[(distro, version, arch, ramdisk)] = value["ramdisk"]
    return out


@pytest.mark.skipif(not os.path.exists(PROFILES), reason="the collection has no _profiles.py yet")
def test_the_collection_knows_the_same_checksums():
    profiles = _collection_profiles()
    table = _collection_table(profiles)
    assert table, "no checksums found in _profiles.KNOWN_MD5"
    ours = {}
    for distro, version, arch in trees.ALL_TREES:
        for role, path in zip(("kernel", "ramdisk"), trees.boot_paths(distro, version, arch)):
            ours[(distro, version, arch, path)] = trees.KNOWN_MD5[trees.tree_name(distro, version, arch)][role]
    # every checksum the collection has for a tree xapisim builds is that tree's
    shared = [key for key in table if key in ours]
    assert shared, "the collection knows none of xapisim's trees"
    assert {key: table[key] for key in shared} == {key: ours[key] for key in shared}
    # and every sample tree the collection has a profile for is in its table
    versions = getattr(profiles, "VERSIONS", {})
    for distro, version, arch in trees.SAMPLES:
        if arch in versions.get(distro, {}).get(version, ()):
            for path in trees.boot_paths(distro, version, arch):
                assert table.get((distro, version, arch, path)) == ours[(distro, version, arch, path)]
