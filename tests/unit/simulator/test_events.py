"""event.from, the legacy event.register/next, and tasks seen through events.

Sources (xapi-project/xen-api): ocaml/xapi/xapi_event.ml, ocaml/xapi-types/event_types.ml,
ocaml/idl/datamodel.ml (event.from, Task). From Python, event.from is ``event_from``
(``from`` is a keyword; xenserver-samples python/watch-all-events.py does the same).
"""
import re
import threading
import time
import xmlrpc.client

import XenAPI

TEMPLATE = "CentOS 5 (64-bit)"
TOKEN = re.compile(r"^\d{20},\d{20}$")


def test_empty_token_returns_every_object_as_add(api):
    x = api
    result = x.event_from(["VM"], "", 0.0)
    assert set(result) == {"events", "valid_ref_counts", "token"}
    assert TOKEN.match(result["token"])
    vms = x.VM.get_all_records()
    events = result["events"]
    assert sorted(e["ref"] for e in events) == sorted(vms)
    for event in events:
        assert event["class"] == "vm" and event["operation"] == "add"
        assert set(event) == {"id", "timestamp", "class", "operation", "ref", "snapshot"}
        assert event["snapshot"] == vms[event["ref"]]
    assert int(result["valid_ref_counts"]["vm"]) == len(vms)


def test_star_subscribes_to_everything_but_sessions(api):
    result = api.event_from(["*"], "", 0.0)
    classes = {e["class"] for e in result["events"]}
    assert {"vm", "host", "sr", "vdi", "network", "pool", "vm_metrics", "host_metrics"} <= classes
    assert "session" not in classes


def test_token_advances_and_mod_add_del(api):
    x = api
    token = x.event_from(["vm"], "", 0.0)["token"]
    quiet = x.event_from(["vm"], token, 0.0)
    assert quiet["events"] == [] and quiet["token"] == token
    template = x.VM.get_by_name_label(TEMPLATE)[0]
    clone = x.VM.clone(template, "evented")
    result = x.event_from(["vm"], token, 0.0)
    assert result["token"] > token                         # tokens compare as strings
    # the template changed too (current_operations during the clone), as in xapi
    assert sorted((e["operation"], e["ref"]) for e in result["events"]) == \
        sorted([("add", clone), ("mod", template)])
    token = result["token"]
    x.VM.set_name_label(clone, "renamed once")
    x.VM.set_name_label(clone, "renamed twice")
    result = x.event_from(["vm"], token, 0.0)
    (event,) = result["events"]                            # one event per object, its latest state
    assert (event["operation"], event["ref"]) == ("mod", clone)
    assert event["snapshot"]["name_label"] == "renamed twice"
    token = result["token"]
    x.VM.destroy(clone)
    result = x.event_from(["vm"], token, 0.0)
    (event,) = [e for e in result["events"] if e["ref"] == clone]
    assert event["operation"] == "del" and "snapshot" not in event


def test_class_subscription_filters_other_classes(api):
    x = api
    token = x.event_from(["network"], "", 0.0)["token"]
    x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "not a network")
    assert x.event_from(["network"], token, 0.0)["events"] == []
    network = x.network.get_all()[0]
    x.network.set_name_description(network, "changed")
    (event,) = x.event_from(["network"], token, 0.0)["events"]
    assert (event["class"], event["operation"], event["ref"]) == ("network", "mod", network)


def test_object_subscription(api):
    x = api
    template = x.VM.get_by_name_label(TEMPLATE)[0]
    first = x.VM.clone(template, "first")
    second = x.VM.clone(template, "second")
    result = x.event_from(["vm/%s" % first], "", 0.0)
    assert [e["ref"] for e in result["events"]] == [first]
    token = result["token"]
    x.VM.set_name_description(second, "ignored")
    x.VM.set_name_description(first, "seen")
    result = x.event_from(["VM/%s" % first], token, 0.0)
    assert [(e["operation"], e["ref"]) for e in result["events"]] == [("mod", first)]


def test_timeout_returns_empty_without_spinning(api):
    token = api.event_from(["vm"], "", 0.0)["token"]
    timeout = 1.0
    cpu, wall = time.process_time(), time.monotonic()
    result = api.event_from(["vm"], token, timeout)
    elapsed, used = time.monotonic() - wall, time.process_time() - cpu
    assert result["events"] == [] and result["token"] == token
    assert timeout * 0.8 <= elapsed < timeout + 5.0
    assert used < 0.25 * timeout, "event.from spun the CPU: %.3f s in %.3f s" % (used, elapsed)


def test_a_change_wakes_a_waiting_call(pool, api):
    x = api
    token = x.event_from(["vm"], "", 0.0)["token"]
    vm = x.VM.get_by_name_label(TEMPLATE)[0]
    other = XenAPI.Session(pool.url)
    other.xenapi.login_with_password("root", "xenroot")
    timer = threading.Timer(0.2, other.xenapi.VM.set_name_description, (vm, "poke"))
    timer.start()
    try:
        started = time.monotonic()
        result = x.event_from(["vm"], token, 10.0)
        assert time.monotonic() - started < 5.0
    finally:
        timer.join()
        other.xenapi.session.logout()
    assert [(e["operation"], e["ref"]) for e in result["events"]] == [("mod", vm)]


def test_parse_failures(api, fails):
    with fails("EVENT_FROM_TOKEN_PARSE_FAILURE", "garbage"):
        api.event_from(["vm"], "garbage", 0.0)
    with fails("EVENT_SUBSCRIPTION_PARSE_FAILURE", "nosuchclass"):
        api.event_from(["nosuchclass"], "", 0.0)
    with fails("EVENT_SUBSCRIPTION_PARSE_FAILURE", "nosuchclass/OpaqueRef:x"):
        api.event_from(["vm", "nosuchclass/OpaqueRef:x"], "", 0.0)
    with fails("FIELD_TYPE_ERROR", "timeout"):
        api.event_from(["vm"], "", "soon")


def test_event_from_through_the_dotted_name(rpc):
    # getattr(x.event, "from") sends the dotted name; both spellings are served
    reply = rpc.call("event.from", ["pool"], "", 0.0)
    assert reply["Status"] == "Success"
    assert [e["class"] for e in reply["Value"]["events"]] == ["pool"]


def test_async_task_seen_through_events(api):
    x = api
    token = x.event_from(["task"], "", 0.0)["token"]
    task = x.Async.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "via task")
    deadline = time.monotonic() + 10
    status = "pending"
    while status == "pending":
        assert time.monotonic() < deadline
        result = x.event_from(["task/%s" % task], token, 5.0)
        token = result["token"]
        for event in result["events"]:
            assert event["ref"] == task
            status = event["snapshot"]["status"]
    assert status == "success"
    record = x.task.get_record(task)
    assert record["progress"] == 1.0 and record["finished"].value >= record["created"].value
    (clone,), _method = xmlrpc.client.loads("<params><param>%s</param></params>" % record["result"])
    assert x.VM.get_name_label(clone) == "via task"


def test_legacy_register_and_next(rpc):
    session = rpc.session
    assert rpc.error("event.next") == ["SESSION_NOT_REGISTERED", session]
    rpc.value("event.register", ["vm"])
    template = rpc.value("VM.get_by_name_label", TEMPLATE)[0]
    clone = rpc.value("VM.clone", template, "legacy")
    events = rpc.value("event.next")
    assert ("vm", "add", clone) in [(e["class"], e["operation"], e["ref"]) for e in events]
    assert {e["ref"] for e in events} == {clone, template}
    assert all(set(e) >= {"id", "timestamp", "class", "operation", "ref"} for e in events)
    rpc.value("event.unregister", ["vm"])
