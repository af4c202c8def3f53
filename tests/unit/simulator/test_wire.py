"""The wire protocol: envelopes, type mapping, method names, arity, Async, JSON-RPC.

Facts from xapi-project/xen-api: doc/content/xen-api/wire-protocol.md, ocaml/libs/http-lib/
xMLRPC.ml, ocaml/xapi/server_helpers.ml and ocaml/idl/ocaml_backend/gen_server.ml.
"""
import http.client
import json
import time
import urllib.parse
import urllib.request
import xmlrpc.client

import pytest
import XenAPI

TEMPLATE = "CentOS 5 (64-bit)"


def template(x, name=TEMPLATE):
    return x.VM.get_by_name_label(name)[0]


def wait_task(x, task, timeout=10.0):
    deadline = time.monotonic() + timeout
    while x.task.get_status(task) == "pending":
        assert time.monotonic() < deadline, "task %s never finished" % task
        time.sleep(0.01)
    return x.task.get_record(task)


# --- envelopes and types -----------------------------------------------------------------------

def test_success_envelope_is_status_and_value(rpc):
    reply = rpc.call("VM.get_all")
    assert set(reply) == {"Status", "Value"}
    assert reply["Status"] == "Success"
    assert all(ref.startswith("OpaqueRef:") for ref in reply["Value"])


def test_failure_envelope_is_status_and_error_description(rpc):
    reply = rpc.call("VM.get_record", "OpaqueRef:NULL")
    assert reply == {"Status": "Failure",
                     "ErrorDescription": ["HANDLE_INVALID", "VM", "OpaqueRef:NULL"]}


def test_64_bit_ints_arrive_as_decimal_strings(shared_api):
    x = shared_api
    vm = template(x)
    assert x.VM.get_memory_static_max(vm) == str(1024 ** 3)
    record = x.VM.get_record(vm)
    for field in ("memory_static_min", "memory_dynamic_max", "VCPUs_max", "domid", "user_version"):
        assert isinstance(record[field], str), field
        int(record[field])
    assert record["domid"] == "-1"
    host = x.host.get_all()[0]
    metrics = x.host_metrics.get_record(x.host.get_metrics(host))
    assert metrics["memory_total"] == str(64 * 1024 ** 3)   # > 2**31: would overflow an XML-RPC int
    # floats and bools keep their own XML-RPC types
    assert record["HVM_shadow_multiplier"] == 1.0
    assert record["is_a_template"] is True


def test_void_result_is_an_empty_string(rpc):
    vm = rpc.value("VM.get_by_name_label", TEMPLATE)[0]
    clone = rpc.value("VM.clone", vm, "void-check")
    assert rpc.call("VM.set_name_description", clone, "x") == {"Status": "Success", "Value": ""}


def test_datetime_fields_are_iso8601(shared_api):
    x = shared_api
    metrics = x.VM_metrics.get_record(x.VM.get_metrics(template(x)))
    assert isinstance(metrics["install_time"], xmlrpc.client.DateTime)
    assert metrics["install_time"].value == "19700101T00:00:00Z"


# --- method names --------------------------------------------------------------------------------

def test_class_underscore_method_alias(rpc):
    dotted = rpc.value("VM.get_all")
    assert rpc.value("VM_get_all") == dotted
    assert rpc.value("VM_metrics_get_all") == rpc.value("VM_metrics.get_all")
    token = rpc.value("event_from", ["pool"], "", 0.0)["token"]
    assert len(token) == 41


def test_alias_has_no_async_form(rpc):
    vm = rpc.value("VM.get_by_name_label", TEMPLATE)[0]
    assert rpc.error("Async.VM_clone", vm, "x") == ["MESSAGE_METHOD_UNKNOWN", "Async.VM_clone"]


def test_rpc2_path_serves_xmlrpc_too(pool):
    proxy = xmlrpc.client.ServerProxy(pool.url + "/RPC2", allow_none=True)
    session = proxy.session.login_with_password("root", "xenroot")["Value"]
    assert proxy.pool.get_all(session)["Status"] == "Success"
    # and the SDK is happy with it
    session = XenAPI.Session(pool.url + "/RPC2")
    session.xenapi.login_with_password("root", "xenroot")
    assert len(session.xenapi.pool.get_all()) == 1
    session.xenapi.session.logout()


def test_unknown_path_is_404(pool):
    parsed = urllib.parse.urlsplit(pool.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
    conn.request("POST", "/nowhere", body=xmlrpc.client.dumps((), "pool.get_all"))
    assert conn.getresponse().status == 404
    conn.close()


def test_unknown_method(rpc):
    assert rpc.error("VM.no_such_call") == ["MESSAGE_METHOD_UNKNOWN", "VM.no_such_call"]
    assert rpc.error("Nope.get_all") == ["MESSAGE_METHOD_UNKNOWN", "Nope.get_all"]
    assert rpc.error("nodots") == ["MESSAGE_METHOD_UNKNOWN", "nodots"]


def test_unknown_method_through_the_sdk(api, fails):
    with fails("MESSAGE_METHOD_UNKNOWN", "VM.frobnicate"):
        api.VM.frobnicate()


# --- arity and types -------------------------------------------------------------------------------

def test_parameter_count_mismatch_excludes_the_session(rpc):
    vm = rpc.value("VM.get_by_name_label", TEMPLATE)[0]
    assert rpc.error("VM.clone", vm) == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.clone", "2", "1"]
    assert rpc.error("VM.start", vm, False, False, "extra") == \
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.start", "3", "4"]
    assert rpc.error("VM.get_all", "extra") == \
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_all", "0", "1"]


def test_parameter_count_mismatch_through_the_sdk(api, fails):
    vm = template(api)
    with fails("MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.start", "3", "1"):
        api.VM.start(vm)


def test_field_type_error_names_the_parameter(api, fails):
    clone = api.VM.clone(template(api), "typed")
    with fails("FIELD_TYPE_ERROR", "value"):
        api.VM.set_VCPUs_max(clone, "abc")
    with fails("FIELD_TYPE_ERROR", "start_paused"):
        api.VM.start(clone, "maybe", False)
    with fails("FIELD_TYPE_ERROR", "value"):
        api.VM.set_other_config(clone, ["not", "a", "map"])
    with fails("FIELD_TYPE_ERROR", "value"):
        api.VM.set_actions_after_crash(clone, "explode")


def test_ints_are_accepted_as_strings_or_xmlrpc_ints(api):
    clone = api.VM.clone(template(api), "ints")
    api.VM.set_VCPUs_max(clone, "4")
    api.VM.set_VCPUs_at_startup(clone, 2)
    assert (api.VM.get_VCPUs_max(clone), api.VM.get_VCPUs_at_startup(clone)) == ("4", "2")


def test_enum_params_match_case_insensitively(api):
    clone = api.VM.clone(template(api), "enums")
    api.VM.set_actions_after_crash(clone, "PRESERVE")
    assert api.VM.get_actions_after_crash(clone) == "preserve"


def test_malformed_xml_is_http_500(pool):
    parsed = urllib.parse.urlsplit(pool.url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=5)
    conn.request("POST", "/", body=b"<methodCall><methodName>VM.get_all</methodName><params>",
                 headers={"Content-Type": "text/xml"})
    response = conn.getresponse()
    assert response.status == 500
    assert response.getheader("Content-Type") == "text/html"
    response.read()
    conn.close()


# --- Async ---------------------------------------------------------------------------------------

def test_async_returns_a_task_that_ends_with_a_value_fragment(api):
    task = api.Async.VM.clone(template(api), "async-clone")
    assert task.startswith("OpaqueRef:")
    record = wait_task(api, task)
    assert record["status"] == "success"
    assert record["name_label"] == "Async.VM.clone"
    assert record["progress"] == 1.0
    assert record["result"].startswith("<value>OpaqueRef:") and record["result"].endswith("</value>")
    # clients (nova) parse the fragment as an XML-RPC value
    (clone,), _method = xmlrpc.client.loads("<params><param>%s</param></params>" % record["result"])
    assert api.VM.get_name_label(clone) == "async-clone"
    assert record["error_info"] == []
    api.task.destroy(task)
    assert task not in api.task.get_all()


def test_async_void_result_is_empty(api):
    clone = api.VM.clone(template(api), "async-void")
    record = wait_task(api, api.Async.VM.destroy(clone))
    assert (record["status"], record["result"]) == ("success", "")


def test_async_failure_lands_in_error_info(api):
    vm = template(api)
    record = wait_task(api, api.Async.VM.start(vm, False, False))
    assert record["status"] == "failure"
    assert record["error_info"] == ["VM_IS_TEMPLATE", vm, "start"]


def test_async_on_a_getter_or_session_call_is_an_xmlrpc_fault(rpc):
    vm = rpc.value("VM.get_by_name_label", TEMPLATE)[0]
    for method, params in (("Async.VM.get_record", (vm,)), ("Async.VM.get_all", ()),
                           ("Async.VM.set_name_label", (vm, "x")), ("Async.session.logout", ()),
                           ("Async.task.cancel", ("OpaqueRef:NULL",))):
        with pytest.raises(xmlrpc.client.Fault) as caught:
            rpc.call(method, *params)
        assert "No async mode for this operation" in caught.value.faultString, method


# --- JSON-RPC ------------------------------------------------------------------------------------

def jsonrpc(url, method, params, version=None, ident=1):
    body = {"method": method, "params": params, "id": ident}
    if version:
        body["jsonrpc"] = version
    request = urllib.request.Request(url + "/jsonrpc", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        return json.loads(response.read())


def test_jsonrpc_v1(pool):
    login = jsonrpc(pool.url, "session.login_with_password", ["root", "xenroot"], ident=7)
    assert login["error"] is None and login["id"] == 7
    session = login["result"]
    assert session.startswith("OpaqueRef:")
    vms = jsonrpc(pool.url, "VM.get_all_records", [session])["result"]
    record = next(r for r in vms.values() if r["name_label"] == TEMPLATE)
    assert record["memory_static_max"] == 1024 ** 3          # JSON carries ints as numbers
    failure = jsonrpc(pool.url, "VM.get_record", [session, "OpaqueRef:NULL"], ident="x")
    assert failure == {"result": None, "error": ["HANDLE_INVALID", "VM", "OpaqueRef:NULL"], "id": "x"}


def test_jsonrpc_v2(pool):
    login = jsonrpc(pool.url, "session.login_with_password", ["root", "xenroot"], version="2.0")
    assert login["jsonrpc"] == "2.0" and "error" not in login
    session = login["result"]
    failure = jsonrpc(pool.url, "VM.no_such", [session], version="2.0", ident=3)
    assert failure == {"jsonrpc": "2.0", "id": 3,
                       "error": {"code": 1, "message": "MESSAGE_METHOD_UNKNOWN", "data": ["VM.no_such"]}}
    bad = jsonrpc(pool.url, "session.login_with_password", ["root", "wrong"], version="2.0")
    assert bad["error"]["message"] == "SESSION_AUTHENTICATION_FAILED"
    assert bad["error"]["data"] == ["root", "Authentication failure"]


def test_a_session_works_across_protocols(pool):
    session = jsonrpc(pool.url, "session.login_with_password", ["root", "xenroot"])["result"]
    proxy = xmlrpc.client.ServerProxy(pool.url, allow_none=True)
    assert proxy.pool.get_all(session)["Status"] == "Success"
    xml_session = proxy.session.login_with_password("root", "xenroot")["Value"]
    assert jsonrpc(pool.url, "pool.get_all", [xml_session], version="2.0")["result"]


def test_jsonrpc_event_from_with_datetimes(pool):
    # snapshots hold datetime fields (VM_metrics.install_time): they must serialise as text
    session = jsonrpc(pool.url, "session.login_with_password", ["root", "xenroot"])["result"]
    result = jsonrpc(pool.url, "event.from", [session, ["vm_metrics"], "", 0.0], version="2.0")["result"]
    assert result["events"]
    snapshot = result["events"][0]["snapshot"]
    assert snapshot["install_time"] == "19700101T00:00:00Z"
    assert jsonrpc(pool.url, "event.from", [session, ["pool"], "  5,x", 0.0])["error"] is None
