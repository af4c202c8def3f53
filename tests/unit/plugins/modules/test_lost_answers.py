"""Modules when the connection drops: before the pool acted (the call is simply made again)
and after (the answer is lost). A call that creates something is then never repeated blindly:
what it made is looked up first, so nothing is ever made twice and nothing is left behind."""
import json
import time

import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils import _client
from xapisim.faults import Scripted

from test_vm_power import make_vm

TEMPLATE = "CentOS 5 (64-bit)"
NET0 = "Pool-wide network associated with eth0"
PROVISIONAL = "%s [xenserver.provisioning: being created]"


class _Clock(object):
    """The client's backoff takes little real time (at most 50 ms a pause): the rest of each
    pause moves this clock on, so the reconnect budget runs out as fast."""

    def __init__(self):
        self.offset = 0.0

    def sleep(self, seconds):
        real = min(seconds, 0.05)
        time.sleep(real)
        self.offset += seconds - real

    def time(self):
        return time.time() + self.offset


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(_client, "time", clock)
    return clock


def inject(pool, **plan):
    faults = Scripted(**plan)
    for server in pool.servers:
        server.faults = faults
    return faults


def log(pool):
    """(method, status) of every call so far."""
    with open(pool.call_log) as handle:
        return [(e["method"], e["status"]) for e in map(json.loads, handle)]


def vms_named(pool, name):
    return [v for v in pool.sim.db.all("VM").values() if v["name_label"] == name]


def orphan_vdis(pool):
    db = pool.sim.db
    iso_srs = {r for r, v in db.all("SR").items() if v["content_type"] == "iso"}
    return [v["name_label"] for v in db.all("VDI").values()
            if not v["VBDs"] and v["SR"] not in iso_srs and not v.get("is_tools_iso")]


def create(run_module, name="web01", **options):
    args = dict(name=name, template=TEMPLATE, memory_mb=1024, vcpus=2, networks=[{"network": NET0}])
    args.update(options)
    result = run_module("vm", **args)
    assert result["changed"] and not result.get("failed"), result
    return result


def assert_one_complete_vm(pool, name="web01"):
    assert len(vms_named(pool, name)) == 1
    assert vms_named(pool, PROVISIONAL % name) == []
    vm = vms_named(pool, name)[0]
    assert vm["is_a_template"] is False and len(vm["VIFs"]) == 1 and len(vm["VBDs"]) == 1
    assert orphan_vdis(pool) == []


def test_a_lost_clone_answer_finds_the_clone_instead_of_cloning_again(pool, run_module):
    faults = inject(pool, reset_after={"VM.clone": 1})
    result = create(run_module)
    assert faults.summary() == {"reset_after": 1}
    assert [s for m, s in log(pool) if m == "VM.clone"] == ["Lost"]     # sent once, never again
    assert_one_complete_vm(pool)
    assert result["vm"]["name"] == "web01"
    assert run_module("vm", name="web01", template=TEMPLATE, memory_mb=1024, vcpus=2,
                      networks=[{"network": NET0}])["changed"] is False


def test_a_clone_dropped_before_the_pool_acted_is_made_once(pool, run_module):
    inject(pool, reset={"VM.clone": 1})
    create(run_module)
    assert [s for m, s in log(pool) if m == "VM.clone"] == ["Reset", "Success"]
    assert_one_complete_vm(pool)


def test_lost_answers_all_along_the_create(pool, run_module):
    faults = inject(pool, reset_after={"VM.clone": 1, "VM.provision": 1, "VIF.create": 1,
                                       "VM.set_other_config": 1, "VM.set_name_label": 1,
                                       "VM.set_VCPUs_max": 1})
    create(run_module)
    assert faults.summary() == {"reset_after": 6}
    calls = [m for m, _s in log(pool)]
    for method in ("VM.clone", "VM.provision", "VIF.create"):
        assert calls.count(method) == 1, method
    assert_one_complete_vm(pool)


def test_a_lost_copy_answer_finds_the_copy(pool, run_module):
    create(run_module, name="golden")
    inject(pool, reset_after={"Async.VM.copy": 1})
    result = run_module("vm", name="copy01", template="golden", full_copy=True)
    assert result["changed"] and not result.get("failed"), result
    assert [m for m, _s in log(pool)].count("Async.VM.copy") == 1
    assert len(vms_named(pool, "copy01")) == 1 and vms_named(pool, PROVISIONAL % "copy01") == []
    assert orphan_vdis(pool) == []


def test_lost_answers_when_adding_a_disk(pool, run_module):
    create(run_module)
    inject(pool, reset_after={"VDI.create": 1, "VBD.create": 1})
    result = run_module("vm", name="web01", disks=[{"size_gb": 8}, {"size_gb": 1, "name": "data"}])
    assert result["changed"] and not result.get("failed"), result
    calls = [m for m, _s in log(pool)]
    assert calls.count("VDI.create") == 1 and calls.count("VBD.create") == 1
    vm = vms_named(pool, "web01")[0]
    assert len(vm["VBDs"]) == 2 and orphan_vdis(pool) == []
    data = [v for v in pool.sim.db.all("VDI").values() if v["name_label"] == "data"]
    assert len(data) == 1 and data[0]["other_config"]["xenserver.provisioning.request"]


def test_a_lost_cd_drive_answer(pool, run_module):
    make_vm(pool, "web01")
    inject(pool, reset_after={"VBD.create": 1})
    result = run_module("vm_cdrom", name="web01", iso="xs-tools.iso")
    assert result["changed"] and not result.get("failed"), result
    vm = vms_named(pool, "web01")[0]
    cds = [pool.sim.db.get("VBD", v) for v in vm["VBDs"] if pool.sim.db.get("VBD", v)["type"] == "CD"]
    assert len(cds) == 1 and result["cdrom"]["iso"] == "xs-tools.iso"


def test_a_lost_start_answer_is_not_an_error(pool, run_module):
    make_vm(pool, "web01")
    inject(pool, reset_after={"Async.VM.start": 1})
    result = run_module("vm_power", name="web01", state="running")
    assert result["changed"] and not result.get("failed"), result
    assert vms_named(pool, "web01")[0]["power_state"] == "Running"


def test_lost_destroy_answers_in_absent(pool, run_module):
    create(run_module)
    inject(pool, reset_after={"VM.destroy": 1, "VDI.destroy": 1})
    result = run_module("vm", name="web01", state="absent")
    assert result["changed"] and not result.get("failed"), result
    assert vms_named(pool, "web01") == [] and orphan_vdis(pool) == []


def test_a_half_made_vm_of_an_earlier_run_is_removed_first(pool, run_module):
    # What a run that died after its clone leaves: a template under the provisional name.
    template = pool.api.VM.get_by_name_label(TEMPLATE)[0]
    left = pool.api.VM.clone(template, PROVISIONAL % "web01")
    before = pool.state()
    check = run_module("vm", check_mode=True, name="web01", template=TEMPLATE)
    assert check["changed"] and pool.state() == before
    assert any("an earlier run left half-made" in a for a in check["changes"]["actions"])
    result = create(run_module)
    assert any("half-made" in a for a in result["changes"]["actions"])
    assert not pool.sim.db.exists("VM", left)
    assert_one_complete_vm(pool)


def test_absent_also_removes_a_half_made_vm(pool, run_module):
    make_vm(pool, PROVISIONAL % "web01")          # provisioned: it owns a disk
    result = run_module("vm", name="web01", state="absent")
    assert result["changed"] and len(result["removed_disks"]) == 1
    assert vms_named(pool, PROVISIONAL % "web01") == [] and orphan_vdis(pool) == []
    assert run_module("vm", name="web01", state="absent")["changed"] is False


def test_a_creating_call_without_recovery_fails_safely_and_the_rerun_converges(pool, run_module):
    """The clone's answer is lost and so is the answer of every lookup for it: the run fails
    (nothing is cloned twice); the next run removes the half-made VM and creates it again."""
    inject(pool, reset_after={"VM.clone": 1}, reset={"VM.get_by_name_label": 50})
    result = run_module("vm", name="web01", template=TEMPLATE, memory_mb=1024, vcpus=2,
                        networks=[{"network": NET0}])
    assert result.get("failed") and "VM.get_by_name_label" in result["msg"], result
    assert len(vms_named(pool, PROVISIONAL % "web01")) == 1 and vms_named(pool, "web01") == []
    inject(pool)
    create(run_module)
    assert_one_complete_vm(pool)
