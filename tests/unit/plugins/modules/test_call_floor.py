"""The call floor of issue 13, on the simulator's call log: one `vm` task makes a whole VM
(clone with the template's 8 GiB disk, 1 GiB, 1 vCPU, one NIC, three vm-data keys, started,
waited for until running) in at most 15 XenAPI calls, the login included; a rerun that
changes nothing costs at most 4; vm_fleet at most 15 per VM. These are exact call lists,
so a change that costs a call shows here."""
import collections

import pytest

TEMPLATE = "Other install media"      # HVM: starts without an install tree
NETWORK = "Pool-wide network associated with eth0"


def provision(name):
    return dict(name=name, template=TEMPLATE, memory_mb=1024, vcpus=1, disks=[{"size_gb": 8}],
                networks=[{"network": NETWORK}], xenstore_data={"hostname": name, "role": "web", "env": "test"},
                power_state="running", wait_for="running")


# A create: the lookup, pool + SRs + networks + hosts (one event.from), the claim's ticket, the
# lookup again under it, clone, its other_config (the provisioning XML on the SR), provision,
# memory, the NIC, the vm-data keys, the name, the claim given back, start, and the new VM read
# once from the event token.
CREATE = ["VM.get_all_records_where", "event_from", "pool.add_to_gui_config", "VM.get_all_records_where",
          "VM.clone", "VM.set_other_config", "VM.provision", "VM.set_memory_limits", "VIF.create",
          "VM.set_xenstore_data", "VM.set_name_label", "pool.remove_from_gui_config", "VM.start", "event_from"]
# A rerun: the lookup, VBDs + VIFs, VDIs + networks.
RERUN = ["VM.get_all_records_where", "event_from", "event_from"]
LOGIN = ["session.login_with_password"]


def test_one_vm_task_makes_the_whole_vm_at_the_floor(pool, run_module):
    pool.mark()
    result = run_module("vm", reuse_session=True, **provision("solo"))
    calls = pool.calls()
    assert result["changed"] and not result.get("failed"), result
    assert calls == LOGIN + CREATE and len(calls) <= 15, calls
    ref, record = pool.vm("solo")
    assert record["power_state"] == "Running"
    assert {k: v for k, v in record["xenstore_data"].items() if k.startswith("vm-data/")} == {
        "vm-data/hostname": "solo", "vm-data/role": "web", "vm-data/env": "test"}
    assert record["memory_static_max"] == str(1024 * 2 ** 20) and record["VCPUs_at_startup"] == "1"
    # The facts are read after the start: they show the VM as the task left it.
    vm = result["vm"]
    assert vm["power_state"] == "running" and vm["uuid"] == record["uuid"] and vm["resident_on"]
    assert [d["size"] for d in vm["disks"]] == [8 * 2 ** 30] and vm["disks"][0]["vdi_uuid"]
    assert [n["network"] for n in vm["networks"]] == [NETWORK] and vm["networks"][0]["mac"]
    assert set(result["changes"]["fields"]) >= {"state", "xenstore_data", "power_state"}

    pool.mark()
    again = run_module("vm", reuse_session=True, **provision("solo"))
    assert again["changed"] is False, again
    assert pool.calls() == RERUN, pool.calls()      # the cached session: no login


def test_a_rerun_with_a_fresh_login_costs_four(pool, run_module, session_cache):
    run_module("vm", reuse_session=True, **provision("solo"))
    for entry in session_cache.iterdir():
        entry.unlink()
    pool.mark()
    assert run_module("vm", reuse_session=True, **provision("solo"))["changed"] is False
    assert pool.calls() == LOGIN + RERUN and len(pool.calls()) <= 4


def test_without_session_reuse_a_logout_more(pool, run_module):
    pool.mark()
    run_module("vm", reuse_session=False, **provision("solo"))
    assert pool.calls() == LOGIN + CREATE + ["session.logout"]


@pytest.mark.parametrize("size", [1, 4])
def test_vm_fleet_costs_what_one_vm_task_does_per_vm(pool, run_module, size):
    vms = [provision("fleet%d" % i) for i in range(size)]
    pool.mark()
    result = run_module("vm_fleet", reuse_session=True, vms=vms, parallel=2)
    calls = pool.calls()
    assert result["changed"] and not result["failed_vms"], result
    counts = collections.Counter(calls)
    assert counts["session.login_with_password"] == 1 and counts["session.logout"] == 0, counts
    assert counts == collections.Counter(LOGIN + CREATE * size), counts
    assert (len(calls) - 1) / size <= 15
    assert all(e["power_state"] == "running" and e["uuid"] for e in result["vms"])

    pool.mark()
    again = run_module("vm_fleet", reuse_session=True, vms=vms, parallel=2)
    assert not again["changed"] and collections.Counter(pool.calls()) == collections.Counter(RERUN * size)
