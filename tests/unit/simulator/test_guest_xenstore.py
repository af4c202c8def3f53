"""VM.xenstore_data: the record, what reaches the guest at start, live pushes.

Sources (xapi-project/xen-api): ocaml/xenopsd/xc/domain.ml (allowed_xsdata_prefixes
"vm-data/" and "FIST/", set_xsdata), ocaml/xapi/message_forwarding.ml (set_xenstore_data on
a running VM), ocaml/idl/ocaml_backend/gen_empty_custom.ml (add_to_/remove_from_ are DB-only).
The guest's side is read with ``sim.guests.xenstore_read`` (a simulator-only view).
"""
import pytest

TEMPLATE = "CentOS 5 (64-bit)"


def new_vm(x, name="xs"):
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], name)
    x.VM.set_PV_bootloader(vm, "")                  # direct boot: no installer, no network
    x.VM.set_PV_kernel(vm, "/boot/guest/vmlinuz")
    x.VM.set_is_a_template(vm, False)
    return vm


def guest_keys(sim, vm, keys):
    """{key: value or None} as the guest sees them."""
    seen = {}
    for key in keys:
        try:
            seen[key] = sim.guests.xenstore_read(vm, key)
        except KeyError:
            seen[key] = None
    return seen


def test_xenstore_data_is_kept_in_the_record(api):
    vm = new_vm(api)
    assert api.VM.get_xenstore_data(vm) == {}
    api.VM.set_xenstore_data(vm, {"vm-data/hostname": "web01", "other/key": "x"})
    api.VM.add_to_xenstore_data(vm, "vm-data/ip", "192.0.2.10")
    assert api.VM.get_record(vm)["xenstore_data"] == {
        "vm-data/hostname": "web01", "other/key": "x", "vm-data/ip": "192.0.2.10"}
    api.VM.remove_from_xenstore_data(vm, "other/key")
    assert api.VM.get_xenstore_data(vm) == {"vm-data/hostname": "web01", "vm-data/ip": "192.0.2.10"}


def test_only_vm_data_and_fist_keys_reach_the_guest(pool, api):
    vm = new_vm(api)
    data = {"vm-data/foo": "bar", "vm-data/net/0/ip": "192.0.2.5", "FIST/flag": "1",
            "vm-data": "bare", "other/foo": "x", "/vm-data/abs": "y", "data/foo": "z"}
    api.VM.set_xenstore_data(vm, data)
    api.VM.start(vm, False, False)
    relative = [k.lstrip("/") for k in data]     # "/vm-data/abs" would be /vm-data/abs
    assert guest_keys(pool.sim, vm, relative) == {
        "vm-data/foo": "bar", "vm-data/net/0/ip": "192.0.2.5", "FIST/flag": "1",
        "vm-data": None, "other/foo": None, "vm-data/abs": None, "data/foo": None}
    # the guest sees them under its own /local/domain/<domid>
    domid = int(api.VM.get_domid(vm))
    assert pool.sim.guests.xenstore_read(vm, "/local/domain/%d/vm-data/foo" % domid) == "bar"
    with pytest.raises(PermissionError):
        pool.sim.guests.xenstore_read(vm, "/local/domain/0/vm-data/foo")
    # the record still holds every key
    assert api.VM.get_xenstore_data(vm) == data


def test_set_xenstore_data_on_a_running_vm_pushes_live(pool, api):
    vm = new_vm(api)
    api.VM.set_xenstore_data(vm, {"vm-data/old": "1", "vm-data/keep": "k"})
    api.VM.start(vm, False, False)
    api.VM.set_xenstore_data(vm, {"vm-data/keep": "k2", "vm-data/new": "2", "not/pushed": "3"})
    assert guest_keys(pool.sim, vm, ["vm-data/old", "vm-data/keep", "vm-data/new", "not/pushed"]) == {
        "vm-data/old": None, "vm-data/keep": "k2", "vm-data/new": "2", "not/pushed": None}


def test_add_to_xenstore_data_is_db_only(pool, api):
    vm = new_vm(api)
    api.VM.start(vm, False, False)
    api.VM.add_to_xenstore_data(vm, "vm-data/late", "1")
    assert api.VM.get_xenstore_data(vm)["vm-data/late"] == "1"
    assert guest_keys(pool.sim, vm, ["vm-data/late"]) == {"vm-data/late": None}
    api.VM.hard_reboot(vm)                          # a new domain gets it
    assert guest_keys(pool.sim, vm, ["vm-data/late"]) == {"vm-data/late": "1"}
    api.VM.remove_from_xenstore_data(vm, "vm-data/late")
    assert guest_keys(pool.sim, vm, ["vm-data/late"]) == {"vm-data/late": "1"}


def test_a_halted_vm_has_no_xenstore(pool, api):
    vm = new_vm(api)
    api.VM.set_xenstore_data(vm, {"vm-data/foo": "bar"})
    api.VM.start(vm, False, False)
    api.VM.hard_shutdown(vm)
    with pytest.raises(KeyError):
        pool.sim.guests.xenstore_read(vm, "vm-data/foo")
    api.VM.start(vm, False, False)
    assert pool.sim.guests.xenstore_read(vm, "vm-data/foo") == "bar"
