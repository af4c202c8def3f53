"""Concurrent runs of one ``vm`` task and of one ``vm_fleet`` entry (issue 16): five runs
creating the same VM at once end with exactly one VM, no disk left unused, no provisional
name, no claim ticket, every run ok and only one of them changed; and a run killed while it
holds the claim holds up the others for at most its lease plus one create.

Smaller counts than benchmarks/concurrency.py (5 runs x 10 trials in each setting)."""
import time

import pytest
from xapisim import images

import concurrent_runs as cr

SETTINGS = {
    "0ms": dict(latency_ms=0, faults=""),
    "20ms+resets": dict(latency_ms=20, faults="reset=0.05,reset_after=0.05,seed=7"),
}
TRIALS = {"0ms": 2, "20ms+resets": 1}


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_five_runs_make_one_vm(setting):
    server = cr.Server(**SETTINGS[setting])
    try:
        for trial in range(TRIALS[setting]):
            for module in ("vm", "vm_fleet"):
                found = cr.trial(server, module, "race-%s-%d" % (module, trial))
                assert found["failures"] == [], found
                assert (found["vms"], found["provisional"], found["orphans"], found["tickets"]) == (1, 0, 0, 0), found
                assert found["ok"] == 5 and found["changed"] == 1, found
    finally:
        server.close()


def test_a_run_killed_holding_the_claim_holds_the_others_up_for_its_lease_at_most():
    """The first run is killed while the pool holds the answer of its VDI.create (its new disk
    exists, no VBD uses it yet, the provisional VM is there); four more runs then start: one
    takes the claim over after the dead run's lease, removes its half-made VM and its unused
    disk, creates the VM; the others converge it."""
    lease = 2.0
    server = cr.Server(faults="delay@VDI.create=1500")
    disks = [{"size_gb": 4}, {"size_gb": 1, "name": "data"}]
    # A clone of a halted VM with one disk more: that disk is made by VDI.create (a template's
    # disks are made by VM.provision).
    task = cr.vm_task("killed", template="base", disks=disks + [{"size_gb": 1, "name": "extra"}])
    try:
        api = server.api()
        base = cr.Run("vm", cr.module_args(server, "vm", cr.vm_task("base", disks=disks))).result()
        assert base["changed"] and not base.get("failed"), base
        # "One provision", for the bound: four runs creating a VM of the same shape without a
        # dead holder (one creates, three converge).
        started = time.monotonic()
        alone = cr.concurrent(server, "vm", dict(task, name="alone"), runs=4)
        one_create = time.monotonic() - started
        assert all(not r.get("failed") for r, _s in alone), alone
        before = cr.unused_disks(api)

        victim = cr.Run("vm", cr.module_args(server, "vm", task), env={"XENSERVER_CLAIM_LEASE": str(lease)})
        deadline = time.monotonic() + 20
        while not any(cr.HOLDER_KEY in v["other_config"] for v in cr.unused_disks(api).values()):
            assert time.monotonic() < deadline, "the run never made its new disk"
            time.sleep(0.05)
        victim.kill()
        assert victim.result().get("killed")
        killed = time.monotonic()
        left = cr.pool_findings(api, "killed", before)
        assert (left["vms"], left["provisional"], left["orphans"], left["tickets"]) == (0, 1, 1, 1), left

        outcomes = cr.concurrent(server, "vm", task, runs=4)
        took = time.monotonic() - killed
        assert all(not r.get("failed") for r, _s in outcomes), outcomes
        assert sum(1 for r, _s in outcomes if r["changed"]) == 1
        creator = [r for r, _s in outcomes if r["changed"]][0]
        assert any("left by a run that died" in a for a in creator["changes"]["actions"]), creator["changes"]
        found = cr.pool_findings(api, "killed", before)
        assert (found["vms"], found["provisional"], found["orphans"], found["tickets"]) == (1, 0, 0, 0), found
        # The lease plus one provision, and a second for a loaded machine.
        assert took < lease + one_create + 1.0, (took, one_create)
    finally:
        server.close()


def test_five_runs_take_one_snapshot():
    server = cr.Server(latency_ms=20)
    try:
        api = server.api()
        made = cr.Run("vm", cr.module_args(server, "vm", cr.vm_task("snapped"))).result()
        assert made["changed"] and not made.get("failed"), made
        args = dict(cr.module_args(server, "vm", {}), name="snapped", snapshot="before-upgrade")
        runs = [cr.Run("vm_snapshot", args) for _run in range(5)]
        results = [run.result() for run in runs]
        assert all(not r.get("failed") for r in results) and sum(r["changed"] for r in results) == 1, results
        vm = api.VM.get_by_name_label("snapped")[0]
        names = [api.VM.get_name_label(s) for s in api.VM.get_snapshots(vm)]
        assert names == ["before-upgrade"]
        assert all(len(r["snapshots"]) == 1 for r in results)
    finally:
        server.close()


def test_three_runs_make_one_template(tmp_path):
    """Three vm_template runs of one template and image at once: one template, its one disk, no
    provisional name, no claim ticket; every run ok, one changed, the others see no change."""
    images.write_samples(str(tmp_path))
    image = str(tmp_path / "Rocky-9-GenericCloud.x86_64.raw")
    server = cr.Server(latency_ms=20)
    try:
        api = server.api()
        before = cr.unused_disks(api)
        args = dict(cr.module_args(server, "vm_template", {}), name="rocky9-race", image=image,
                    base_template="Rocky Linux 9")
        runs = [cr.Run("vm_template", args) for _run in range(3)]
        results = [run.result() for run in runs]
        assert all(not r.get("failed") for r in results), results
        assert sum(1 for r in results if r["changed"]) == 1, results
        assert all(r["upload"] == {} for r in results if not r["changed"]), results
        templates = [v for v in api.VM.get_all_records().values() if v["is_a_template"]]
        assert [v["name_label"] for v in templates].count("rocky9-race") == 1
        assert not [v for v in templates if cr.PROVISIONAL_TAG in v["name_label"]]
        disks = [v for v in api.VDI.get_all_records().values() if v["name_label"].startswith("rocky9-race")]
        assert [v["name_label"] for v in disks] == ["rocky9-race"] and len(disks[0]["VBDs"]) == 1, disks
        assert cr.HOLDER_KEY in disks[0]["other_config"]     # marked from its VDI.create
        assert set(cr.unused_disks(api)) == set(before)
        assert not [k for k in api.pool.get_gui_config(api.pool.get_all()[0]) if k.startswith(cr.CLAIM_PREFIX)]
        assert len(set(r["template"]["uuid"] for r in results)) == 1, results
    finally:
        server.close()


def test_a_vm_template_run_killed_holding_the_claim_leaves_nothing_after_the_next_run(tmp_path):
    """A vm_template run killed while the pool holds the answer of its VDI.create (its disk is
    made and marked, no VBD uses it, the provisional template is there): the next run takes the
    claim over after the lease, removes both, and makes the one template."""
    images.write_samples(str(tmp_path))
    lease = 2.0
    server = cr.Server(faults="delay@VDI.create=1500")
    try:
        api = server.api()
        before = cr.unused_disks(api)
        args = dict(cr.module_args(server, "vm_template", {}), name="rocky9-killed",
                    image=str(tmp_path / "Rocky-9-GenericCloud.x86_64.raw"), base_template="Rocky Linux 9")
        victim = cr.Run("vm_template", args, env={"XENSERVER_CLAIM_LEASE": str(lease)})
        deadline = time.monotonic() + 20
        while not any(cr.HOLDER_KEY in v["other_config"] for v in cr.unused_disks(api).values()):
            assert time.monotonic() < deadline, "the run never made its disk"
            time.sleep(0.05)
        victim.kill()
        assert victim.result().get("killed")
        templates = [v["name_label"] for v in api.VM.get_all_records().values() if v["is_a_template"]]
        assert templates.count("rocky9-killed " + cr.PROVISIONAL_TAG) == 1, templates
        assert len(set(cr.unused_disks(api)) - set(before)) == 1

        result = cr.Run("vm_template", args).result()
        assert result["changed"] and not result.get("failed"), result
        assert any("left by a run that died" in a for a in result["changes"]["actions"]), result["changes"]
        templates = [v["name_label"] for v in api.VM.get_all_records().values() if v["is_a_template"]]
        assert templates.count("rocky9-killed") == 1 and not [t for t in templates if cr.PROVISIONAL_TAG in t]
        assert set(cr.unused_disks(api)) == set(before)
        assert not [k for k in api.pool.get_gui_config(api.pool.get_all()[0]) if k.startswith(cr.CLAIM_PREFIX)]
    finally:
        server.close()
