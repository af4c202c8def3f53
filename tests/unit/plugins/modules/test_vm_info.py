"""vm_info against the simulator, through the real SDK."""


def _make_vm(pool, name, **xenstore):
    api = pool.api
    vm = pool.provisioned_vm(name, other_config={"install-repository": "http://127.0.0.1/centos5"})
    api.VIF.create({"device": "0", "network": api.network.get_all()[0], "VM": vm, "MAC": "",
                    "MTU": "1500", "qos_algorithm_type": "", "qos_algorithm_params": {},
                    "other_config": {}})
    api.VM.set_xenstore_data(vm, dict(("vm-data/%s" % k, v) for k, v in xenstore.items()))
    return vm


def test_facts_of_one_vm(pool, run_module):
    _make_vm(pool, "web01", role="web")
    result = run_module("vm_info", name="web01")
    assert result["changed"] is False and result["exists"] is True
    vm = result["vm"]
    assert vm["name"] == "web01" and vm["power_state"] == "halted"
    assert vm["memory_mb"] == 1024 and vm["vcpus"] == 1
    assert [d["userdevice"] for d in vm["disks"]] == ["0"] and vm["disks"][0]["size"] == 8 * 1024 ** 3
    assert vm["networks"][0]["device"] == "0" and vm["networks"][0]["mac"].startswith("00:16:3e")
    assert vm["xenstore_data"] == {"vm-data/role": "web"}
    assert vm["boot"]["PV_bootloader"] == "eliloader"


def test_missing_vm_is_reported_not_failed(pool, run_module):
    result = run_module("vm_info", name="nope")
    assert result == {"changed": False, "exists": False, "vm": {}, "invocation": result["invocation"]}


def test_by_uuid_and_filters(pool, run_module):
    vm = _make_vm(pool, "web02")
    _make_vm(pool, "db01")
    uuid = pool.api.VM.get_uuid(vm)
    assert run_module("vm_info", uuid=uuid)["vm"]["name"] == "web02"
    pool.boot_directly(vm)
    pool.api.VM.start(vm, False, True)
    names = [v["name"] for v in run_module("vm_info", filters={"power_state": "running"})["vms"]]
    assert names == ["web02"]
    names = [v["name"] for v in run_module("vm_info", filters={"name_prefix": "web"})["vms"]]
    assert names == ["web02"]


def test_bad_filter_names_the_value(pool, run_module):
    result = run_module("vm_info", filters={"power_state": "sleeping"})
    assert result["failed"] and "sleeping" in result["msg"]
    result = run_module("vm_info", filters={"colour": "blue"})
    assert result["failed"] and "colour" in result["msg"]


def test_duplicate_names_fail_clearly(pool, run_module):
    _make_vm(pool, "twin")
    _make_vm(pool, "twin")
    result = run_module("vm_info", name="twin")
    assert result["failed"] and "2 VMs are named 'twin'" in result["msg"]


def test_lookup_cost_does_not_grow_with_the_pool(pool, run_module):
    _make_vm(pool, "web03")
    pool.mark()
    run_module("vm_info", name="web03")
    calls = pool.calls()
    assert "VM.get_all_records" not in calls
    # login, where-lookup, VBDs, VDI, VIFs, networks, logout
    assert len(calls) <= 8, calls


def test_wrong_password_fails_with_a_hint(pool, run_module):
    result = run_module("vm_info", name="x", password="wrong")
    assert result["failed"]
    assert "SESSION_AUTHENTICATION_FAILED" in result["msg"] and "password" in result["msg"]
    assert "wrong" not in result["msg"]
