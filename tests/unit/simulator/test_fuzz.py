"""Never a Python fault: random methods with random (often nearly right) parameters.

Every reply must be a Status envelope -- Success, or Failure whose code the datamodel knows
(datamodel_errors.ml) and which is not INTERNAL_ERROR -- or, for an Async call of a message
that has none, the documented XML-RPC fault "No async mode for this operation".
"""
import contextlib
import json
import os
import socket
import xmlrpc.client

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xapisim
from xapisim.embedded import embedded

with open(os.path.join(os.path.dirname(xapisim.__file__), "datamodel.json"), encoding="utf-8") as _h:
    DATAMODEL = json.load(_h)
# ...plus codes xapi raises that datamodel_errors.ml does not declare (ocaml/xapi-consts/api_errors.ml).
KNOWN_ERRORS = set(DATAMODEL["errors"]) | {"VM_IS_SNAPSHOT", "REVERT_ONLY_ALLOWED_ON_SNAPSHOT"}
FOCUS = ["VM", "VBD", "VDI", "VIF", "SR", "network", "host", "pool", "task", "session",
         "VM_metrics", "host_metrics", "PBD", "PIF", "VM_guest_metrics", "console", "event"]
# event.from/next block until something happens or their timeout (tested in test_events.py).
SKIP = {"event.from", "event.next"}


def _messages(classes):
    out = []
    for cls in classes:
        spec = DATAMODEL["classes"][cls]
        names = list(spec["messages"])
        if "get_all_records" in names:
            names.append("get_all_records_where")
        for name in names:
            if "%s.%s" % (cls, name) not in SKIP:
                params = spec["messages"].get(name, {"params": [["session_id", "session ref"],
                                                                ["expr", "string"]]})["params"]
                out.append((cls, name, params))
    return out


FOCUS_MESSAGES = _messages(FOCUS)
ALL_MESSAGES = _messages(sorted(DATAMODEL["classes"]))


class _Transport(xmlrpc.client.Transport):
    """A client transport with a timeout, so a hung call fails the test instead of the run."""

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = 60
        return conn


@pytest.fixture(scope="module")
def fuzz_target():
    with embedded() as handle:
        proxy = xmlrpc.client.ServerProxy(handle.url, allow_none=True, transport=_Transport())
        session = proxy.session.login_with_password("root", "xenroot")["Value"]
        refs = {}
        for cls in ("VM", "VBD", "VDI", "VIF", "SR", "network", "host", "pool", "PBD", "PIF",
                    "VM_metrics", "host_metrics"):
            refs[cls] = list(proxy.__getattr__(cls + ".get_all_records")(session)["Value"].items())
        yield {"url": handle.url, "proxy": proxy, "session": [session], "records": refs}


# --- values ------------------------------------------------------------------------------------------

# XML 1.0 cannot carry control characters: a request holding one is malformed XML (HTTP 500,
# tested in test_wire.py), so junk text keeps to printable characters.
TEXT = st.characters(blacklist_categories=("Cs", "Cc"))


def text(max_size):
    return st.text(alphabet=TEXT, max_size=max_size)


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-2 ** 31, 2 ** 31 - 1),
    st.floats(allow_nan=False, allow_infinity=False), text(20),
    st.sampled_from(["", "OpaqueRef:NULL", "OpaqueRef:", "true", "-1", "9" * 30, "a\"b",
                     "field \"name__label\"=", "vm-data/x", "<provision/>"]),
    st.lists(text(5), max_size=3),
    st.dictionaries(text(5), text(5), max_size=3),
)


def _enum_values(name):
    for spec in DATAMODEL["classes"].values():
        if name in spec.get("enums", {}):
            return spec["enums"][name]
    return ["x"]


def plausible(ptype, records):
    """A strategy for a value of datamodel type ``ptype`` (text), right-shaped most of the time."""
    ptype = ptype.strip()
    if ptype.endswith(" ref"):
        cls = ptype[:-4]
        known = [ref for ref, _record in records.get(cls, [])]
        return st.sampled_from(known + ["OpaqueRef:NULL"])
    if ptype == "string":
        return st.one_of(text(30), st.sampled_from(
            ["", "xenroot", "root", "0", "3", "autodetect", "vm-data/hostname", "folder",
             "http://192.0.2.1/repo", "true", 'field "is_a_template"="true"', "CentOS 5 (64-bit)"]
            + [rec.get("uuid", "") for recs in records.values() for _ref, rec in recs[:3]]))
    if ptype == "int":
        return st.one_of(st.integers(-5, 2 ** 31 - 1).map(str), st.integers(-5, 70))
    if ptype == "float":
        return st.floats(-10, 10, allow_nan=False)
    if ptype == "bool":
        return st.booleans()
    if ptype == "datetime":
        return st.sampled_from([xmlrpc.client.DateTime("20240101T00:00:00Z"), "20240101T00:00:00Z"])
    if ptype.startswith("enum "):
        return st.sampled_from(_enum_values(ptype[5:]))
    if ptype.endswith(" set"):
        return st.lists(plausible(ptype[:-4], records), max_size=3)
    if ptype.endswith(") map"):
        return st.dictionaries(text(8), text(8), max_size=3)
    if ptype.endswith(" record"):
        cls = ptype[:-7]
        samples = [dict(rec) for _ref, rec in records.get(cls, [])[:5]] or [{}]
        return st.tuples(st.sampled_from(samples), st.lists(text(12), max_size=3),
                         st.dictionaries(text(12), JUNK, max_size=2)).map(
            lambda t: {**{k: v for k, v in t[0].items() if k not in t[1]}, **t[2]})
    return JUNK


@st.composite
def calls(draw, target):
    cls, name, params = draw(st.one_of(st.sampled_from(FOCUS_MESSAGES), st.sampled_from(ALL_MESSAGES)))
    style = draw(st.sampled_from(["sync", "sync", "sync", "async", "alias"]))
    method = {"sync": "%s.%s", "async": "Async.%s.%s", "alias": "%s_%s"}[style] % (cls, name)
    declared = params
    with_session = declared and declared[0][0] == "session_id"
    if with_session:
        declared = declared[1:]
    if draw(st.integers(0, 9)) < 8:                                   # mostly the right arity
        args = [draw(st.one_of(plausible(t, target["records"]), JUNK) if draw(st.integers(0, 9)) == 0
                     else plausible(t, target["records"])) for _param, t in declared]
    else:
        args = draw(st.lists(JUNK, max_size=len(declared) + 2))
    if with_session:
        first = draw(st.sampled_from(["ok"] * 9 + ["junk"]))
        args = [target["session"][0] if first == "ok" else draw(JUNK)] + args
    return method, args


def _relogin(target):
    reply = target["proxy"].session.login_with_password("root", "xenroot")
    target["session"][0] = reply["Value"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(data=st.data())
def test_never_a_python_fault(fuzz_target, data):
    method, args = data.draw(calls(fuzz_target), label="call")
    proxy = fuzz_target["proxy"]
    try:
        reply = getattr(proxy, method)(*args)
    except xmlrpc.client.Fault as fault:
        assert method.startswith("Async."), (method, fault)
        assert fault.faultString == "No async mode for this operation", (method, fault)
        return
    except (socket.timeout, TimeoutError):
        pytest.fail("%s hung" % method)
    assert isinstance(reply, dict) and reply.get("Status") in ("Success", "Failure"), (method, reply)
    if reply["Status"] == "Success":
        assert set(reply) == {"Status", "Value"}, reply
        if method in ("session.logout", "session_logout"):
            _relogin(fuzz_target)
        return
    description = reply["ErrorDescription"]
    assert isinstance(description, list) and description, reply
    assert all(isinstance(part, str) for part in description), reply
    code = description[0]
    assert code != "INTERNAL_ERROR", (method, args, description)
    assert code in KNOWN_ERRORS, (method, args, description)
    if code == "SESSION_INVALID" and description[1:] == [fuzz_target["session"][0]]:
        _relogin(fuzz_target)


def test_the_fuzz_pool_survives(fuzz_target):
    """After the random calls, the pool still answers ordinary questions."""
    with contextlib.suppress(Exception):
        _relogin(fuzz_target)
    proxy = fuzz_target["proxy"]
    reply = proxy.VM.get_all_records(fuzz_target["session"][0])
    assert reply["Status"] == "Success" and reply["Value"]
