"""vm_xenstore_data against the simulator, through the real SDK."""
import pytest

FIND = "VM.get_all_records_where"
LOGIN = "session.login_with_password"
LOGOUT = "session.logout"


def _make_vm(pool, name, running=False, **xenstore):
    api = pool.api
    vm = pool.provisioned_vm(name)
    # Boot a kernel from dom0 directly: these tests need a running domain, not an installer.
    api.VM.set_PV_bootloader(vm, "")
    api.VM.set_PV_kernel(vm, "/boot/guest/vmlinuz")
    if xenstore:
        api.VM.set_xenstore_data(vm, xenstore)
    if running:
        api.VM.start(vm, False, True)
    pool.mark()
    return vm


def _guest(pool, vm, key):
    """What xenstore-read in the guest answers (None: no such node)."""
    try:
        return pool.sim.guests.xenstore_read(vm, key)
    except KeyError:
        return None


def test_check_apply_idempotent_and_call_counts(pool, run_module):
    vm = _make_vm(pool, "xs01")
    before = pool.state()
    result = run_module("vm_xenstore_data", check_mode=True, name="xs01", data={"hostname": "xs01.example.com"})
    assert result["changed"] is True and result["keys_set"] == ["vm-data/hostname"]
    assert result["xenstore_data"] == {"vm-data/hostname": "xs01.example.com"}
    assert pool.state() == before
    assert pool.calls() == [LOGIN, FIND, LOGOUT]

    result = run_module("vm_xenstore_data", name="xs01", data={"hostname": "xs01.example.com"})
    assert result["changed"] is True and result["live"] is False and result["power_state"] == "halted"
    # One call per changed key (add_to_: atomic in xapi's database, so a concurrent writer of
    # another key keeps it); the VM is halted, so no live push.
    assert pool.calls() == [LOGIN, FIND, "VM.add_to_xenstore_data", LOGOUT]
    assert pool.api.VM.get_xenstore_data(vm) == {"vm-data/hostname": "xs01.example.com"}

    pool.mark()
    result = run_module("vm_xenstore_data", name="xs01", data={"vm-data/hostname": "xs01.example.com"})
    assert result["changed"] is False and result["keys_set"] == [] and result["live"] is False
    assert pool.calls() == [LOGIN, FIND, LOGOUT]


def test_running_guest_sees_the_change_live_and_other_keys_survive(pool, run_module):
    vm = _make_vm(pool, "xs02", running=True, **{"vm-data/keep": "k", "FIST/fault": "f", "custom": "c"})
    assert _guest(pool, vm, "vm-data/keep") == "k" and _guest(pool, vm, "custom") is None

    result = run_module("vm_xenstore_data", name="xs02", data={"foo": "bar", "vm-data/networks/0/ip": "192.0.2.10"})
    assert result["changed"] is True and result["live"] is True and result["power_state"] == "running"
    # Key by key into the database, then the map read afresh (every writer's keys) and pushed
    # whole (set_xenstore_data alone rewrites the guest's vm-data), read again to check ours.
    assert pool.calls() == [LOGIN, FIND, "VM.add_to_xenstore_data", "VM.add_to_xenstore_data",
                            "VM.get_xenstore_data", "VM.set_xenstore_data", "VM.get_xenstore_data", LOGOUT]
    assert _guest(pool, vm, "vm-data/foo") == "bar"
    assert _guest(pool, vm, "vm-data/networks/0/ip") == "192.0.2.10"
    assert _guest(pool, vm, "/local/domain/%s/vm-data/foo" % pool.api.VM.get_domid(vm)) == "bar"
    assert _guest(pool, vm, "vm-data/keep") == "k" and _guest(pool, vm, "FIST/fault") == "f"
    assert pool.api.VM.get_xenstore_data(vm) == {
        "vm-data/keep": "k", "FIST/fault": "f", "custom": "c", "vm-data/foo": "bar",
        "vm-data/networks/0/ip": "192.0.2.10"}

    result = run_module("vm_xenstore_data", name="xs02", state="absent", keys=["foo"])
    assert result["changed"] is True and result["keys_removed"] == ["vm-data/foo"] and result["live"] is True
    assert _guest(pool, vm, "vm-data/foo") is None and _guest(pool, vm, "vm-data/keep") == "k"
    result = run_module("vm_xenstore_data", name="xs02", state="absent", keys=["foo"])
    assert result["changed"] is False and result["live"] is False


def test_a_paused_guest_is_not_live(pool, run_module):
    """xapi pushes vm-data only to a Running VM (message_forwarding.ml set_xenstore_data): the
    record changes, the paused guest's xenstore does not, and the module says so."""
    vm = _make_vm(pool, "xs03", running=True)
    pool.api.VM.pause(vm)
    pool.mark()
    result = run_module("vm_xenstore_data", name="xs03", data={"role": "db"})
    assert result["changed"] is True and result["live"] is False and result["power_state"] == "paused"
    assert pool.calls() == [LOGIN, FIND, "VM.add_to_xenstore_data", LOGOUT]
    pool.api.VM.unpause(vm)
    assert pool.api.VM.get_xenstore_data(vm)["vm-data/role"] == "db" and _guest(pool, vm, "vm-data/role") is None


def test_halted_vm_gets_the_keys_when_it_starts(pool, run_module):
    vm = _make_vm(pool, "xs04")
    run_module("vm_xenstore_data", name="xs04", data={"role": "web"})
    pool.api.VM.start(vm, False, True)
    assert _guest(pool, vm, "vm-data/role") == "web"


def test_exclusive_removes_unlisted_vm_data_keys_only(pool, run_module):
    vm = _make_vm(pool, "xs05", **{"vm-data/a": "1", "vm-data/b": "2", "FIST/x": "f", "other": "o"})
    result = run_module("vm_xenstore_data", name="xs05", exclusive=True, diff=True, data={"a": "1", "c": "3"})
    assert result["changed"] is True
    assert result["keys_set"] == ["vm-data/c"] and result["keys_removed"] == ["vm-data/b"]
    assert result["diff"] == {"before": {"xenstore_data": {"vm-data/a": "1", "vm-data/b": "2"}},
                              "after": {"xenstore_data": {"vm-data/a": "1", "vm-data/c": "3"}}}
    assert pool.api.VM.get_xenstore_data(vm) == {"vm-data/a": "1", "vm-data/c": "3", "FIST/x": "f", "other": "o"}
    assert run_module("vm_xenstore_data", name="xs05", exclusive=True, data={"a": "1", "c": "3"})["changed"] is False
    # exclusive with no data clears vm-data, still nothing else
    assert run_module("vm_xenstore_data", name="xs05", exclusive=True, data={})["changed"] is True
    assert pool.api.VM.get_xenstore_data(vm) == {"FIST/x": "f", "other": "o"}


def test_absent_by_data_and_values_without_exclusive(pool, run_module):
    vm = _make_vm(pool, "xs06", **{"vm-data/a": "1", "vm-data/b": "2"})
    result = run_module("vm_xenstore_data", name="xs06", state="absent", data={"a": "ignored"}, keys=["vm-data/zzz"])
    assert result["changed"] is True and result["keys_removed"] == ["vm-data/a"]
    assert pool.api.VM.get_xenstore_data(vm) == {"vm-data/b": "2"}
    pool.mark()
    result = run_module("vm_xenstore_data", name="xs06", data={"b": "changed"})
    # A new value: add_to_ of a key that is there fails MAP_DUPLICATE_KEY, so remove_from_ first.
    assert pool.calls() == [LOGIN, FIND, "VM.remove_from_xenstore_data", "VM.add_to_xenstore_data", LOGOUT]
    assert result["keys_set"] == ["vm-data/b"] and pool.api.VM.get_xenstore_data(vm) == {"vm-data/b": "changed"}


def test_by_uuid_and_numbers_become_text(pool, run_module):
    vm = _make_vm(pool, "xs07")
    result = run_module("vm_xenstore_data", uuid=pool.api.VM.get_uuid(vm), data={"port": 8080})
    assert result["changed"] is True and pool.api.VM.get_xenstore_data(vm) == {"vm-data/port": "8080"}


@pytest.mark.parametrize("options, words", [
    ({"data": {"FIST/x": "1"}}, ["'FIST/x'", "outside vm-data", "silently"]),
    ({"data": {"attr/foo": "1"}}, ["'attr/foo'", "outside vm-data"]),
    ({"data": {"/local/domain/1/x": "1"}}, ["'/local/domain/1/x'", "silently"]),
    ({"data": {"vm-data": "1"}}, ["'vm-data'", "directory itself"]),
    ({"data": {"vm-data/a//b": "1"}}, ["'vm-data/a//b'", "empty path component"]),
    ({"data": {"bad key": "1"}}, ["'bad key'"]),
    ({"data": {"k" * 1000: "1"}}, ["1008 bytes; at most 1004"]),
    ({"data": {"big": "v" * 2049}}, ["'vm-data/big'", "2049 bytes"]),
    ({"data": {"nl": "a\nb"}}, ["'vm-data/nl'", "control character"]),
    ({"data": {"flag": True}}, ["'vm-data/flag'", "must be a string"]),
    ({"data": {"ok": "1", "vm-data/ok": "2"}}, ["given twice"]),
    ({"state": "absent", "keys": ["FIST/x"]}, ["'FIST/x'"]),
    ({"state": "absent", "keys": ["a"], "exclusive": True}, ["exclusive applies to state=present"]),
    ({"keys": ["a"], "data": {"a": "1"}}, ["keys is for state=absent"]),
])
def test_bad_input_fails_naming_it_before_touching_the_pool(pool, run_module, options, words):
    _make_vm(pool, "xs08", running=True, **{"vm-data/a": "1"})
    before = pool.state()
    result = run_module("vm_xenstore_data", name="xs08", **options)
    assert result["failed"] is True, result
    for word in words:
        assert word in result["msg"]
    assert pool.state() == before
    assert pool.calls() == []  # refused before even logging in


def test_missing_vm_and_missing_data(pool, run_module):
    result = run_module("vm_xenstore_data", name="nope", data={"a": "1"})
    assert result["failed"] and "no VM named 'nope'" in result["msg"]
    result = run_module("vm_xenstore_data", name="nope")
    assert result["failed"] and "data" in result["msg"]
    result = run_module("vm_xenstore_data", name="nope", state="absent")
    assert result["failed"] and "keys" in result["msg"]


def test_check_mode_on_a_vm_not_created_yet(pool, run_module):
    """An earlier task in check mode would create the VM: every key is set on a VM that has none."""
    before = pool.state()
    result = run_module("vm_xenstore_data", check_mode=True, diff=True, name="new01",
                        data={"role": "web", "hostname": "web01"})
    assert not result.get("failed") and result["changed"] is True
    assert result["msg"] == ("the VM does not exist yet (check mode): VM 'new01' would be created by an earlier "
                             "task, and then this task would set vm-data/hostname, vm-data/role")
    assert result["keys_set"] == ["vm-data/hostname", "vm-data/role"] and result["power_state"] == "halted"
    assert result["diff"] == {"before": {"xenstore_data": {}},
                              "after": {"xenstore_data": {"vm-data/hostname": "web01", "vm-data/role": "web"}}}
    result = run_module("vm_xenstore_data", check_mode=True, name="new01", state="absent", keys=["role"])
    assert not result.get("failed") and result["changed"] is False and result["msg"].endswith("change nothing")
    result = run_module("vm_xenstore_data", check_mode=True, name="new01", data={"../escape": "x"})
    assert result["failed"] and "../escape" in result["msg"]
    result = run_module("vm_xenstore_data", check_mode=True, uuid="00000000-0000-0000-0000-000000000000", data={"a": "1"})
    assert result["failed"] and result["error_code"] == "NOT_FOUND"
    assert pool.state() == before
