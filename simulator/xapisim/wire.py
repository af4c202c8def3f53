"""Values between Python and the XML-RPC / JSON-RPC wire, driven by datamodel types.

xapi sends 64-bit ints as decimal strings and datetimes as dateTime.iso8601; it accepts
ints either way. A parameter of the wrong shape gets FIELD_TYPE_ERROR [name].
"""
import xmlrpc.client

from . import model
from .errors import XapiError


def to_wire(value, ptype, json_rpc=False):
    kind = ptype[0]
    if kind == "int":
        return int(value) if json_rpc else str(int(value))
    if kind == "float":
        return float(value)
    if kind == "datetime":
        return value if json_rpc else xmlrpc.client.DateTime(value)
    if kind == "set":
        return [to_wire(v, ptype[1], json_rpc) for v in value]
    if kind == "map":
        return {str(to_wire(k, ptype[1], json_rpc)): to_wire(v, ptype[2], json_rpc) for k, v in value.items()}
    if kind == "record":
        if ptype[1] == "event":
            # event.next's records are built wire-ready, as xapi's Event_types.event
            # (ocaml/xapi-types/event_types.ml); the datamodel's snapshot type "<class>
            # record" names no class, so they cannot go through record_to_wire.
            return value
        return record_to_wire(ptype[1], value, json_rpc)
    if kind == "void":
        return ""
    return value


def record_to_wire(cls, record, json_rpc=False):
    return {name: to_wire(value, model.field_type(cls, name), json_rpc) for name, value in record.items()}


def from_wire(value, ptype, name):
    """Check and convert one parameter; FIELD_TYPE_ERROR names the parameter."""
    kind = ptype[0]
    try:
        if kind in ("string", "ref"):
            if isinstance(value, str):
                return value
        elif kind == "enum":
            allowed = model.enum_values(ptype[1]) or []
            if isinstance(value, str):
                # xapi's unmarshaller matches enum names case-insensitively.
                for option in allowed:
                    if option.lower() == value.lower():
                        return option
        elif kind == "int":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
        elif kind == "float":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str):
                return float(value)
        elif kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
        elif kind == "datetime":
            if isinstance(value, xmlrpc.client.DateTime):
                return value.value
            if isinstance(value, str):
                return value
        elif kind == "set":
            if isinstance(value, (list, tuple)):
                return [from_wire(v, ptype[1], name) for v in value]
        elif kind == "map":
            if isinstance(value, dict):
                return {from_wire(k, ptype[1], name): from_wire(v, ptype[2], name) for k, v in value.items()}
        elif kind == "record":
            if isinstance(value, dict):
                return record_from_wire(ptype[1], value)
        else:
            return value
    except ValueError:
        pass
    raise XapiError("FIELD_TYPE_ERROR", name)


def record_from_wire(cls, value):
    """A record argument (X.create): known fields converted, missing ones defaulted.

    xapi requires fields without a default; a missing one is reported as
    FIELD_TYPE_ERROR [field] (see docs/simulator.md).
    """
    record = model.new_record(cls)
    specs = model.fields(cls)
    for name, spec in specs.items():
        if name not in value:
            if "default" not in spec and spec["qualifier"] in ("RW", "RO/constructor"):
                raise XapiError("FIELD_TYPE_ERROR", name)
            continue
        record[name] = from_wire(value[name], model.field_type(cls, name), name)
    return record
