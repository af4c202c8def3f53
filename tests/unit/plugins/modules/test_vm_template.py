"""vm_template against the simulator, through the real SDK and the HTTP data path: a template
from a cloud image, idempotent by sha256, replace, check mode, absent, bad images, a dropped
upload and a lost answer leaving no half template."""
import hashlib
import shutil
import struct

import pytest

from xapisim import datapath, images

from test_lost_answers import inject

PROVISIONAL = "%s [xenserver.provisioning: being created]"
ROCKY = "Rocky-9-GenericCloud.x86_64.raw"
NOBLE = "noble-server-cloudimg-amd64.raw"
SHA_KEY = "xenserver.provisioning:image-sha256"


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("images")
    images.write_samples(str(directory))
    return directory


def templates_named(pool, name):
    return [(r, v) for r, v in pool.sim.db.all("VM").items() if v["name_label"] == name and v["is_a_template"]]


def vdis_named(pool, name):
    return [v for v in pool.sim.db.all("VDI").values() if v["name_label"] == name]


def disk_of(pool, template_ref):
    (vbd,) = [pool.api.VBD.get_record(v) for v in pool.api.VM.get_VBDs(template_ref)
              if pool.api.VBD.get_type(v) == "Disk"]
    return vbd


def sha(path):
    return hashlib.sha256(open(str(path), "rb").read()).hexdigest()


def test_create_check_mode_then_idempotent(pool, run_module, image_dir):
    image = str(image_dir / ROCKY)
    before = pool.state()
    result = run_module("vm_template", check_mode=True, diff=True, name="rocky9", image=image,
                        base_template="Rocky Linux 9")
    assert result["changed"] and not result.get("failed"), result
    assert result["diff"] == {"before": {"state": "absent", "sha256": ""},
                              "after": {"state": "present", "sha256": sha(image)}}
    assert result["template"]["uuid"] == "" and result["template"]["firmware"] == "uefi"
    assert result["upload"] == {}
    assert pool.state() == before

    pool.mark()
    result = run_module("vm_template", name="rocky9", image=image, base_template="Rocky Linux 9")
    assert result["changed"] and not result.get("failed"), result
    calls = pool.calls()
    assert "PUT /import_raw_vdi" in calls and "task.create" in calls
    assert result["upload"]["bytes"] == images.DISK_SIZE and result["upload"]["seconds"] > 0
    (ref, record), = templates_named(pool, "rocky9")
    assert templates_named(pool, PROVISIONAL % "rocky9") == []
    assert record["other_config"][SHA_KEY] == sha(image) and "disks" not in record["other_config"]
    assert record["HVM_boot_params"]["firmware"] == "uefi"          # from the base template
    assert record["platform"]["secureboot"] == pool.api.VM.get_platform(
        pool.api.VM.get_by_name_label("Rocky Linux 9")[0])["secureboot"]
    vbd = disk_of(pool, ref)
    assert vbd["userdevice"] == "0" and vbd["bootable"] and vbd["mode"] == "RW"
    vdi = pool.api.VDI.get_record(vbd["VDI"])
    assert vdi["name_label"] == "rocky9" and vdi["other_config"][SHA_KEY] == sha(image)
    assert result["template"]["disk_uuid"] == vdi["uuid"] and result["template"]["sha256"] == sha(image)
    # the bytes on the pool are the image's
    with pool.sim.vdi_store.open(vdi["uuid"], "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == sha(image)
    assert not [t for t in pool.api.task.get_all_records().values()
                if t["name_label"].startswith("xenserver.provisioning")]

    pool.mark()
    result = run_module("vm_template", name="rocky9", image=image, base_template="Rocky Linux 9")
    assert result["changed"] is False and result["upload"] == {}, result
    calls = pool.calls()
    assert "PUT /import_raw_vdi" not in calls and len(calls) <= 8, calls


def test_a_vm_from_the_template_boots_the_image(pool, run_module, image_dir):
    run_module("vm_template", name="rocky9", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    result = run_module("vm", name="web1", template="rocky9")
    assert result["changed"] and not result.get("failed"), result
    vm, record = pool.vm("web1")
    assert len([v for v in record["VBDs"] if pool.api.VBD.get_type(v) == "Disk"]) == 1
    pool.api.VM.start(vm, False, True)
    guest = pool.sim.guests.wait(vm, lambda s: s.get("stage") in ("booted", "no-bootable-device"))
    assert guest["stage"] == "booted", guest.get("console")


def test_another_image_fails_unless_replace(pool, run_module, image_dir):
    run_module("vm_template", name="cloud", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    (old_ref, _old), = templates_named(pool, "cloud")
    old_disk = disk_of(pool, old_ref)["VDI"]
    old_uuid = pool.api.VDI.get_uuid(old_disk)
    before = pool.state()
    result = run_module("vm_template", name="cloud", image=str(image_dir / NOBLE),
                        base_template="Ubuntu Noble Numbat 24.04")
    assert result["failed"] and result["error_code"] == "IMAGE_DIFFERS", result
    assert sha(image_dir / NOBLE) in result["msg"] and sha(image_dir / ROCKY) in result["msg"]
    assert pool.state() == before

    result = run_module("vm_template", check_mode=True, name="cloud", image=str(image_dir / NOBLE),
                        base_template="Ubuntu Noble Numbat 24.04", replace=True)
    assert result["changed"] and [d["uuid"] for d in result["removed_disks"]] == [old_uuid], result
    assert result["template"]["sha256"] == sha(image_dir / NOBLE) and pool.state() == before
    result = run_module("vm_template", name="cloud", image=str(image_dir / NOBLE),
                        base_template="Ubuntu Noble Numbat 24.04", replace=True)
    assert result["changed"] and not result.get("failed"), result
    (new_ref, new), = templates_named(pool, "cloud")
    assert new_ref != old_ref and new["other_config"][SHA_KEY] == sha(image_dir / NOBLE)
    assert old_disk not in pool.api.VDI.get_all()
    assert [d["uuid"] for d in result["removed_disks"]] == [old_uuid]
    assert any("destroy the old template" in a for a in result["changes"]["actions"])


def test_vhd_image(pool, run_module, image_dir, tmp_path):
    raw = (image_dir / ROCKY).read_bytes()
    vhd = tmp_path / "rocky.vhd"
    vhd.write_bytes(raw + fixed_vhd_footer(len(raw)))
    result = run_module("vm_template", name="from-vhd", image=str(vhd), base_template="Rocky Linux 9")
    assert result["changed"] and not result.get("failed"), result
    assert result["template"]["virtual_size"] == len(raw)
    (ref, _rec), = templates_named(pool, "from-vhd")
    uuid = pool.api.VDI.get_uuid(disk_of(pool, ref)["VDI"])
    with pool.sim.vdi_store.open(uuid, "rb") as handle:
        assert handle.read() == raw


def fixed_vhd_footer(size):
    """A fixed VHD footer as Microsoft's specification lays it out."""
    footer = bytearray(512)
    footer[0:8] = b"conectix"
    struct.pack_into(">IIQI4sI4sQQ", footer, 8, 2, 0x10000, 0xFFFFFFFFFFFFFFFF, 0, b"test", 0x10000, b"Wi2k",
                     size, size)
    struct.pack_into(">HBB", footer, 56, 1024, 16, 63)
    struct.pack_into(">I", footer, 60, 2)
    checksum = (~sum(footer)) & 0xFFFFFFFF
    struct.pack_into(">I", footer, 64, checksum)
    return bytes(footer)


def test_absent_removes_the_template_and_its_disk(pool, run_module, image_dir):
    run_module("vm_template", name="gone", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    (ref, _rec), = templates_named(pool, "gone")
    vdi = disk_of(pool, ref)["VDI"]
    before = pool.state()
    result = run_module("vm_template", check_mode=True, diff=True, name="gone", state="absent")
    assert result["changed"] and result["diff"] == {"before": {"state": "present"}, "after": {"state": "absent"}}
    assert pool.state() == before
    result = run_module("vm_template", name="gone", state="absent")
    assert result["changed"] and len(result["removed_disks"]) == 1
    assert templates_named(pool, "gone") == [] and vdi not in pool.api.VDI.get_all()
    assert run_module("vm_template", name="gone", state="absent")["changed"] is False


def test_absent_keeps_a_disk_a_vm_still_uses(pool, run_module, image_dir):
    """A VM made by a full copy shares nothing; a disk another VM has a VBD to stays."""
    run_module("vm_template", name="shared", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    (ref, _rec), = templates_named(pool, "shared")
    vdi = disk_of(pool, ref)["VDI"]
    other = pool.api.VM.clone(pool.api.VM.get_by_name_label("Rocky Linux 9")[0], "borrower")
    pool.api.VBD.create({"VM": other, "VDI": vdi, "userdevice": "1", "bootable": False, "mode": "RO",
                         "type": "Disk", "empty": False, "other_config": {}, "qos_algorithm_type": "",
                         "qos_algorithm_params": {}})
    result = run_module("vm_template", name="shared", state="absent")
    assert result["changed"] and result["removed_disks"] == []
    assert vdi in pool.api.VDI.get_all()


@pytest.mark.parametrize("content, fmt, needle", [
    (b"QFI\xfb" + b"\0" * 1020, None, "qcow2"),
    (b"\xfd7zXZ\x00" + b"\0" * 1018, "raw", "xz-compressed"),
    (b"\0" * 2048, "vhd", "not a VHD"),
    (b"", None, "is empty"),
])
def test_bad_images_fail_naming_the_file_before_anything_changes(pool, run_module, tmp_path, content, fmt, needle):
    path = tmp_path / "bad.img"
    path.write_bytes(content)
    before = pool.state()
    pool.mark()
    options = dict(name="bad", image=str(path), base_template="Rocky Linux 9")
    if fmt:
        options["image_format"] = fmt
    result = run_module("vm_template", **options)
    assert result["failed"] and needle in result["msg"] and str(path) in result["msg"], result
    assert result["error_code"] == "IMAGE_INVALID"
    assert pool.state() == before and pool.calls() == []


def test_a_raw_image_that_is_a_vhd_and_a_missing_file(pool, run_module, image_dir, tmp_path):
    raw = (image_dir / ROCKY).read_bytes()
    vhd = tmp_path / "disk.raw"
    vhd.write_bytes(raw + fixed_vhd_footer(len(raw)))
    result = run_module("vm_template", name="t", image=str(vhd), image_format="raw", base_template="Rocky Linux 9")
    assert result["failed"] and "is a VHD" in result["msg"] and "image_format: vhd" in result["msg"]
    missing = str(tmp_path / "nope.raw")
    result = run_module("vm_template", name="t", image=missing, base_template="Rocky Linux 9")
    assert result["failed"] and result["error_code"] == "IMAGE_NOT_FOUND" and missing in result["msg"]


def test_unknown_base_template_and_sr_fail_before_anything_is_made(pool, run_module, image_dir):
    before = pool.state()
    result = run_module("vm_template", name="t", image=str(image_dir / ROCKY), base_template="Rocky Linux 99")
    assert result["failed"] and result["error_code"] == "TEMPLATE_NOT_FOUND" and "'Rocky Linux 9'" in result["msg"]
    result = run_module("vm_template", name="t", image=str(image_dir / ROCKY), base_template="Rocky Linux 9",
                        sr="no such sr")
    assert result["failed"] and result["error_code"] == "SR_NOT_FOUND" and "no such sr" in result["msg"]
    result = run_module("vm_template", name="t", image=str(image_dir / ROCKY))
    assert result["failed"] and "base_template" in result["msg"]
    assert pool.state() == before


def test_a_dropped_upload_leaves_no_half_template(pool, run_module, image_dir, monkeypatch):
    """The connection drops half-way through the body: the module removes what it made."""
    real = datapath._Counted.read

    def dropping(self, count):
        if self.req.bytes_in >= images.DISK_SIZE // 2:
            raise ConnectionResetError("dropped by the test")
        return real(self, count)
    monkeypatch.setattr(datapath._Counted, "read", dropping)
    monkeypatch.setattr(datapath._Counted, "readinto", lambda self, view: _read_into(self, view, dropping))
    before = pool.state()
    result = run_module("vm_template", name="rocky9", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    assert result["failed"] and "removed again" in result["msg"], result
    assert templates_named(pool, "rocky9") == [] and templates_named(pool, PROVISIONAL % "rocky9") == []
    assert vdis_named(pool, "rocky9") == [] and vdis_named(pool, PROVISIONAL % "rocky9") == []
    assert pool.state() == before

    monkeypatch.undo()
    result = run_module("vm_template", name="rocky9", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    assert result["changed"] and not result.get("failed"), result


def _read_into(counted, view, read):
    data = read(counted, len(view))
    view[:len(data)] = data
    return len(data)


def test_a_leftover_of_a_crashed_run_is_removed_and_a_lost_clone_answer_is_found(pool, run_module, image_dir):
    api = pool.api
    left = api.VM.clone(api.VM.get_by_name_label("Rocky Linux 9")[0], PROVISIONAL % "rocky9")
    sr = api.pool.get_default_SR(api.pool.get_all()[0])
    loose = api.VDI.create({"name_label": PROVISIONAL % "rocky9", "name_description": "", "SR": sr,
                            "virtual_size": str(images.DISK_SIZE), "type": "user", "sharable": False,
                            "read_only": False, "other_config": {}, "xenstore_data": {}, "sm_config": {},
                            "tags": []})
    faults = inject(pool, reset_after={"VM.clone": 1, "VDI.create": 1})
    result = run_module("vm_template", name="rocky9", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    assert result["changed"] and not result.get("failed"), result
    assert faults.summary() == {"reset_after": 2}
    assert any("left half-made" in a for a in result["changes"]["actions"])
    assert left not in api.VM.get_all() and loose not in api.VDI.get_all()
    assert len(templates_named(pool, "rocky9")) == 1 and templates_named(pool, PROVISIONAL % "rocky9") == []
    assert vdis_named(pool, PROVISIONAL % "rocky9") == [] and len(vdis_named(pool, "rocky9")) == 1


def test_image_on_a_copy_is_the_same_image(pool, run_module, image_dir, tmp_path):
    """Idempotence is by content: the same bytes under another path change nothing."""
    run_module("vm_template", name="rocky9", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    copy = tmp_path / "copy.raw"
    shutil.copy(str(image_dir / ROCKY), str(copy))
    result = run_module("vm_template", name="rocky9", image=str(copy), base_template="Rocky Linux 9")
    assert result["changed"] is False, result
    pool.mark()
    result = run_module("vm_template", diff=True, name="rocky9", image=str(copy), description="Rocky 9 cloud")
    assert result["changed"] and result["changes"]["fields"] == ["description"], result
    assert result["diff"] == {"before": {"description": ROCKY}, "after": {"description": "Rocky 9 cloud"}}
    assert "PUT /import_raw_vdi" not in pool.calls() and result["upload"] == {}
    assert pool.api.VM.get_name_description(templates_named(pool, "rocky9")[0][0]) == "Rocky 9 cloud"


def test_lost_answers_of_the_task_the_disk_and_the_rename_make_one_template(pool, run_module, image_dir):
    faults = inject(pool, reset_after={"task.create": 1, "VBD.create": 1, "VDI.add_to_other_config": 1,
                                       "VM.set_name_label": 1})
    result = run_module("vm_template", name="rocky9", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    assert result["changed"] and not result.get("failed"), result
    assert faults.summary() == {"reset_after": 4}
    (ref, record), = templates_named(pool, "rocky9")
    assert templates_named(pool, PROVISIONAL % "rocky9") == [] and len(vdis_named(pool, "rocky9")) == 1
    assert len([v for v in record["VBDs"] if pool.api.VBD.get_type(v) == "Disk"]) == 1
    assert not [t for t in pool.api.task.get_all_records().values() if "upload" in t["name_label"]]
    assert run_module("vm_template", name="rocky9", image=str(image_dir / ROCKY))["changed"] is False


def test_the_task_failing_after_the_http_answer_fails_the_module(pool, run_module, tmp_path):
    """A dynamic VHD whose footer checks out but whose header is missing: xapi answers 200, then
    vhd-tool fails and only the task says so (VDI_IO_ERROR). Nothing is left behind."""
    footer = bytearray(fixed_vhd_footer(4 * 1024 * 1024))
    struct.pack_into(">Q", footer, 16, 512)          # data offset: a dynamic disk's header
    struct.pack_into(">I", footer, 60, 3)            # dynamic
    struct.pack_into(">I", footer, 64, 0)
    struct.pack_into(">I", footer, 64, (~sum(footer)) & 0xFFFFFFFF)
    path = tmp_path / "broken.vhd"
    path.write_bytes(bytes(footer) + b"\0" * 1024 + bytes(footer))
    before = pool.state()
    pool.mark()
    result = run_module("vm_template", name="broken", image=str(path), base_template="Rocky Linux 9")
    assert result["failed"] and result["error_code"] == "VDI_IO_ERROR" and "removed again" in result["msg"], result
    assert "PUT /import_raw_vdi" in pool.calls()
    assert pool.state() == before


def test_a_rename_that_fails_removes_the_new_template_again(pool, run_module, image_dir, monkeypatch):
    from xapisim.faults import Scripted
    from ansible_collections.xenserver.provisioning.plugins.module_utils import _client
    monkeypatch.setattr(_client.XenServerClient, "_pause", lambda self, attempt: None)
    run_module("vm_template", name="renamed", image=str(image_dir / ROCKY), base_template="Rocky Linux 9")
    faults = Scripted(busy={"VM.set_name_label": 4})       # more than the client's retries
    for server in pool.servers:
        server.faults = faults
    result = run_module("vm_template", name="renamed", image=str(image_dir / NOBLE),
                        base_template="Ubuntu Noble Numbat 24.04", replace=True)
    assert result["failed"] and result["error_code"] == "OTHER_OPERATION_IN_PROGRESS", result
    assert "the new template was removed again" in result["msg"]
    # the old template went first (its name is free only then); nothing half-made is left
    assert templates_named(pool, "renamed") == [] and templates_named(pool, PROVISIONAL % "renamed") == []
    assert vdis_named(pool, PROVISIONAL % "renamed") == [] and vdis_named(pool, "renamed") == []
    result = run_module("vm_template", name="renamed", image=str(image_dir / NOBLE),
                        base_template="Ubuntu Noble Numbat 24.04", replace=True)
    assert result["changed"] and not result.get("failed"), result
    assert len(templates_named(pool, "renamed")) == 1
