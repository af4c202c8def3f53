"""Clones and copies of one VM side by side, as xapi allows them.

Source (xapi-project/xen-api): ocaml/xapi/xapi_vm_lifecycle.ml is_allowed_concurrently: the
"long_copies" set (clone, copy, export) may run together; any other operation still meets
OTHER_OPERATION_IN_PROGRESS. A fleet provisioned in parallel (forks > 1) clones one template
many times at once.
"""
import time

TEMPLATE = "Other install media"


def _busy(x, vm, count, deadline):
    while len(x.VM.get_current_operations(vm)) < count:
        assert time.monotonic() < deadline
        time.sleep(0.005)


def _finished(x, tasks, deadline):
    while any(x.task.get_status(t) == "pending" for t in tasks):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    return [x.task.get_status(t) for t in tasks]


def test_a_template_is_cloned_and_copied_by_several_clients_at_once(make_pool, login):
    pool = make_pool(clock_speed=4)          # a copy takes 1 s of real time
    x = login(pool.url)
    template = x.VM.get_by_name_label(TEMPLATE)[0]
    deadline = time.monotonic() + 10
    first = x.Async.VM.copy(template, "copy 1", "OpaqueRef:NULL")
    _busy(x, template, 1, deadline)
    assert sorted(x.VM.get_allowed_operations(template)) == ["clone", "copy", "export"]
    second = x.Async.VM.copy(template, "copy 2", "OpaqueRef:NULL")
    clone = x.VM.clone(template, "clone during copies")     # sync, while both copies run
    assert x.VM.get_name_label(clone) == "clone during copies"
    assert _finished(x, [first, second], deadline) == ["success", "success"]
    assert sorted(x.VM.get_name_label(r) for r in x.VM.get_by_name_label("copy 1")
                  + x.VM.get_by_name_label("copy 2")) == ["copy 1", "copy 2"]
    assert x.VM.get_current_operations(template) == {}
    assert "clone" in x.VM.get_allowed_operations(template)


def test_other_operations_still_wait_for_a_copy(make_pool, login, fails):
    pool = make_pool(clock_speed=4)
    x = login(pool.url)
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "halted vm")
    x.VM.set_is_a_template(vm, False)
    deadline = time.monotonic() + 10
    task = x.Async.VM.copy(vm, "its copy", "OpaqueRef:NULL")
    _busy(x, vm, 1, deadline)
    assert sorted(x.VM.get_allowed_operations(vm)) == ["clone", "copy", "export"]
    with fails("OTHER_OPERATION_IN_PROGRESS", "VM", vm, "copy", task):
        x.VM.start(vm, False, False)
    with fails("OTHER_OPERATION_IN_PROGRESS", "VM", vm, "copy", task):
        x.VM.destroy(vm)
    assert _finished(x, [task], deadline) == ["success"]
    x.VM.start(vm, False, False)
    assert x.VM.get_power_state(vm) == "Running"
