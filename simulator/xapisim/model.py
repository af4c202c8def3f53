"""XenAPI's datamodel as data: classes, fields, messages, enums, error parameters.

Everything the wire layer checks (method names, arity, parameter types, RBAC roles,
record shapes and defaults) is read from ``datamodel.json``, a copy of
xapi-project/xen-api ``doc/data/xenapi.json`` + ``ocaml/idl/datamodel_errors.ml``.
"""
import json
import os
from functools import lru_cache

NULL_REF = "OpaqueRef:NULL"
EPOCH = "19700101T00:00:00Z"
ALL_ROLES = ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator", "read-only"]

_HERE = os.path.dirname(os.path.abspath(__file__))


@lru_cache(maxsize=1)
def datamodel():
    with open(os.path.join(_HERE, "datamodel.json"), encoding="utf-8") as handle:
        return json.load(handle)


def classes():
    return datamodel()["classes"]


def error_params(code):
    return datamodel()["errors"].get(code)


# --- types -------------------------------------------------------------------------------
# A parsed type is a tuple: ("string",), ("int",), ("float",), ("bool",), ("datetime",),
# ("void",), ("ref", cls), ("enum", name), ("set", inner), ("map", key, value),
# ("record", cls) or ("opaque", text) for the few result types the table names in prose.

@lru_cache(maxsize=None)
def parse_type(text):
    text = text.strip()
    if text in ("string", "int", "float", "bool", "datetime", "void"):
        return (text,)
    if text.endswith(" map") and text.startswith("("):
        inner = text[1:-len(") map")]
        depth = 0
        for i, char in enumerate(inner):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and inner.startswith(" -> ", i):
                return ("map", parse_type(inner[:i]), parse_type(inner[i + 4:]))
        raise ValueError(text)
    if text.endswith(" set"):
        return ("set", parse_type(text[:-4]))
    if text.startswith("enum "):
        return ("enum", text[5:])
    if text.endswith(" ref"):
        return ("ref", text[:-4])
    if text.endswith(" record"):
        return ("record", text[:-7])
    return ("opaque", text)


def enum_values(name):
    for cls in classes().values():
        if name in cls.get("enums", {}):
            return cls["enums"][name]
    return None


def zero_value(ptype):
    kind = ptype[0]
    return {
        "string": "", "int": 0, "float": 0.0, "bool": False, "datetime": EPOCH,
        "ref": NULL_REF, "set": [], "map": {},
    }.get(kind, "" if kind != "enum" else (enum_values(ptype[1]) or [""])[0])


def parse_default(raw, ptype):
    """Turn the datamodel's OCaml-ish default text into a Python value."""
    kind = ptype[0]
    if kind == "set":
        return []
    if kind == "map":
        return {}
    if kind == "ref":
        return NULL_REF
    raw = raw.strip()
    if raw.startswith('"') and raw.endswith('"'):
        raw = raw[1:-1]
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return raw == "true"
    return raw


def fields(cls):
    return classes()[cls]["fields"]


@lru_cache(maxsize=None)
def field_type(cls, field):
    return parse_type(fields(cls)[field]["type"])


def new_record(cls):
    """A record of ``cls`` with every field at its datamodel default.

    Fields whose lifecycle says Removed stay in records, as in xapi: its record types are
    generated from every field (host_metrics.memory_free is still maintained by
    ocaml/xapi/monitor_mem.ml); only the removed *messages* answer MESSAGE_REMOVED.
    """
    record = {}
    for name, spec in fields(cls).items():
        ptype = field_type(cls, name)
        if "default" in spec:
            record[name] = parse_default(spec["default"], ptype)
        else:
            record[name] = zero_value(ptype)
    return record


# --- messages ----------------------------------------------------------------------------

READ_ROLES = ALL_ROLES + ["client-cert"]


@lru_cache(maxsize=None)
def message(cls, name):
    """The message spec, including get_all_records_where which the table omits."""
    spec = classes()[cls]["messages"].get(name)
    if spec is None and name == "get_all_records_where" and "get_all_records" in classes()[cls]["messages"]:
        spec = {
            "params": [["session_id", "session ref"], ["expr", "string"]],
            "result": "(%s ref -> %s record) map" % (cls, cls),
            "roles": READ_ROLES, "errors": [], "implicit": True,
        }
    return spec


@lru_cache(maxsize=1)
def _param_defaults():
    with open(os.path.join(_HERE, "param_defaults.json"), encoding="utf-8") as handle:
        return json.load(handle)["defaults"]


def param_defaults(cls, name):
    """{param: default} of a message's trailing parameters that a caller may leave out."""
    return _param_defaults().get(cls, {}).get(name, {})


def class_names():
    return list(classes().keys())
