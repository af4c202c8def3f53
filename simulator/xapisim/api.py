"""Method dispatch: names, sessions, RBAC, arity and types from the datamodel; then a handler.

Handlers for behaviour (clone, start, event.from, ...) register with ``@handler``; every
other message the datamodel marks implicit (get_/set_/add_to_/remove_from_/get_by_*/
get_record/get_all*/create/destroy) is served generically from the record store.
"""
import re
import threading
import time
import xmlrpc.client

from . import model, wire
from .db import new_ref, new_uuid
from .errors import XapiError
from .query import compile_filter

HANDLERS = {}
LOGIN_MESSAGES = {"login_with_password", "slave_local_login_with_password"}
# Classes whose messages have no Async form (xapi: getters, setters, session, task, event).
NO_ASYNC_CLASSES = {"session", "task", "event"}
ASYNC_IMPLICIT = {"create", "destroy"}
# other_config keys a vm-operator may write (xapi ocaml/idl/datamodel_roles.ml exceptions).
OPERATOR_KEYS = ("folder", "XenCenter.CustomFields.")


def handler(cls, name):
    def register(func):
        HANDLERS[(cls, name)] = func
        return func
    return register


class Call:
    """What a handler sees: the simulator, the caller's session and the task, if Async."""

    def __init__(self, sim, session, role, task=None):
        self.sim = sim
        self.db = sim.db
        self.session = session
        self.role = role
        self.task = task

    @property
    def op_ref(self):
        """The ref xapi shows in current_operations: the task, or one made for a sync call."""
        if self.task is None:
            self.task = new_ref()
        return self.task


def split_method(name):
    """'VM.start' / 'VM_start' / 'Async.VM.start' -> (cls, message, is_async)."""
    is_async = name.startswith("Async.")
    if is_async:
        name = name[len("Async."):]
    if "." in name:
        cls, _, msg = name.partition(".")
        if cls in model.classes():
            return cls, msg, is_async
        return None, None, is_async
    if is_async:
        return None, None, is_async
    for cls in sorted(model.classes(), key=len, reverse=True):
        if name.startswith(cls + "_"):
            return cls, name[len(cls) + 1:], False
    return None, None, False


def permission_denied(cls, msg, roles):
    # all of it lowercase, VM.set_NVRAM -> vm.set_nvram (ocaml/xapi/rbac.ml permission_of_action)
    permission = ("%s.%s" % (cls, msg)).lower()
    text = "No permission in user session. (Roles with this permission: %s)" % ", ".join(roles)
    return XapiError("RBAC_PERMISSION_DENIED", permission, text)


def dispatch(sim, method, params, member=False):
    """Run one call; returns the Python result (already wire-typed) or raises XapiError."""
    cls, msg, is_async = split_method(method)
    spec = model.message(cls, msg) if cls else None
    if spec is None:
        raise XapiError("MESSAGE_METHOD_UNKNOWN", method)
    # Of the generated messages only the constructor and destructor have an Async form
    # (ocaml/idl/datamodel_utils.ml: create/destroy msg_async=true, field accessors false).
    if is_async and (cls in NO_ASYNC_CLASSES or (spec.get("implicit") and msg not in ASYNC_IMPLICIT)):
        raise xmlrpc.client.Fault(-1, "No async mode for this operation")
    declared = spec["params"]
    is_login = cls == "session" and msg in LOGIN_MESSAGES
    if is_login:
        args = list(params)
        role = None
        session = None
    else:
        if not params:
            raise XapiError("MESSAGE_PARAMETER_COUNT_MISMATCH", method, len(declared) - 1, 0)
        session, args = params[0], list(params[1:])
        declared = declared[1:]
        role = sim.sessions.check(session)
    # Trailing parameters with a param_default may be left out; xapi's generated server
    # fills them in (ocaml/idl/ocaml_backend/gen_server.ml, default_args).
    defaults = model.param_defaults(cls, msg)
    minimum = len(declared) - len(defaults)
    if not minimum <= len(args) <= len(declared):
        raise XapiError("MESSAGE_PARAMETER_COUNT_MISMATCH", method, len(declared), len(args))
    if spec.get("state") == "Removed_s":
        # xapi's generated server answers a removed message after the session and arity
        # checks, without RBAC (ocaml/idl/ocaml_backend/gen_server.ml).
        raise XapiError("MESSAGE_REMOVED")
    values = [wire.from_wire(a, model.parse_type(t), n) for a, (n, t) in zip(args, declared)]
    values += [defaults[name] for name, _type in declared[len(values):]]
    if not is_login:
        check_role(cls, msg, spec, role, values)
    if member and is_login:
        raise XapiError("HOST_IS_SLAVE", sim.master_address)
    result_type = model.parse_type(spec["result"])
    run = HANDLERS.get((cls, msg))
    if run is None:
        if not spec.get("implicit") and not _generic_ok(cls, msg, spec):
            raise XapiError("NOT_IMPLEMENTED", "%s.%s" % (cls, msg))
        run = lambda call, *a: implicit(call, cls, msg, *a)  # noqa: E731
    if is_async:
        return sim.tasks.spawn(method, session, role, run, values, result_type)
    call = Call(sim, session, role)
    return run(call, *values), result_type


def check_role(cls, msg, spec, role, values):
    roles = list(spec.get("roles") or model.ALL_ROLES)
    if msg in ("add_to_other_config", "remove_from_other_config") and values and len(values) > 1:
        if str(values[1]).startswith(OPERATOR_KEYS):
            roles += ["vm-operator"]
    if role not in roles:
        raise permission_denied(cls, msg, roles)


def _generic_ok(cls, msg, spec):
    """A custom get_/set_ message that is a plain field accessor: (self) or (self, value).

    Custom messages that only share a field's name, e.g. pool.set_vswitch_controller
    (address), are not accessors: they answer NOT_IMPLEMENTED like any unmodelled message.
    """
    fields = model.fields(cls)
    params = spec["params"][1:]
    if not params or params[0][1] != "%s ref" % cls:
        return False
    for prefix, arity in (("get_", 1), ("set_", 2)):
        if msg.startswith(prefix) and msg[len(prefix):] in fields and len(params) == arity:
            return True
    return False


# --- the generic (implicit) messages -------------------------------------------------------

def implicit(call, cls, msg, *args):
    db = call.db
    with db.lock:
        if msg == "get_all":
            return list(db.all(cls))
        if msg == "get_all_records":
            return dict(db.all(cls))
        if msg == "get_all_records_where":
            match = compile_filter(args[0])
            return {ref: rec for ref, rec in db.all(cls).items() if match(rec)}
        if msg == "get_by_uuid":
            return db.by_uuid_of(cls, args[0])
        if msg == "get_by_name_label":
            return [ref for ref, rec in db.all(cls).items() if rec.get("name_label") == args[0]]
        if msg == "get_record":
            return db.get(cls, args[0])
        if msg == "create":
            record = dict(args[0])
            record["uuid"] = new_uuid()
            return db.create(cls, **record)
        if msg == "destroy":
            db.delete(cls, args[0])
            return None
        fields = model.fields(cls)
        for prefix, action in (("add_to_", _map_add), ("remove_from_", _map_remove),
                               ("get_", _get), ("set_", _set), ("add_", _set_add), ("remove_", _set_remove)):
            field = msg[len(prefix):]
            if msg.startswith(prefix) and field in fields:
                return action(db, cls, field, *args)
    raise XapiError("NOT_IMPLEMENTED", "%s.%s" % (cls, msg))


def _get(db, cls, field, ref):
    return db.get(cls, ref)[field]


def _set(db, cls, field, ref, value):
    db.update(cls, ref, **{field: value})


def _map_add(db, cls, field, ref, key, value):
    record = db.get(cls, ref)
    if key in record[field]:
        raise XapiError("MAP_DUPLICATE_KEY", cls, field, ref, key)
    record[field][key] = value
    db.touch(cls, ref)


def _map_remove(db, cls, field, ref, key):
    record = db.get(cls, ref)
    if record[field].pop(key, None) is not None:
        db.touch(cls, ref)


def _set_add(db, cls, field, ref, value):
    record = db.get(cls, ref)
    if value not in record[field]:
        record[field].append(value)
        db.touch(cls, ref)


def _set_remove(db, cls, field, ref, value):
    record = db.get(cls, ref)
    if value in record[field]:
        record[field].remove(value)
        db.touch(cls, ref)


# --- sessions ------------------------------------------------------------------------------

class Sessions:
    """Logins, session validity and idle expiry; roles are kept beside the session record."""

    def __init__(self, sim, users, ttl):
        self.sim = sim
        self.users = users          # name -> (password, role)
        self.ttl = ttl
        self.seen = {}              # session ref -> last use (monotonic); not persisted

    def login(self, uname, pwd, originator=""):
        user = self.users.get(uname)
        if user is None or user[0] != pwd:
            raise XapiError("SESSION_AUTHENTICATION_FAILED", uname,
                            "Authentication failure")
        db = self.sim.db
        with db.lock:
            ref = db.create("session", uuid=new_uuid(), this_host=self.sim.master_host,
                            pool=False, is_local_superuser=uname == "root",
                            auth_user_name=uname, originator=originator,
                            last_active=model.EPOCH)
            db.hidden.setdefault("session_roles", {})[ref] = user[1]
        self.seen[ref] = time.monotonic()
        return ref

    def check(self, ref):
        db = self.sim.db
        roles = db.hidden.get("session_roles", {})
        if not isinstance(ref, str) or ref not in roles or not db.exists("session", ref):
            raise XapiError("SESSION_INVALID", ref)
        now = time.monotonic()
        last = self.seen.setdefault(ref, now)
        if self.ttl and now - last > self.ttl:
            self.expire(ref)
            raise XapiError("SESSION_INVALID", ref)
        self.seen[ref] = now
        return roles[ref]

    def expire(self, ref):
        db = self.sim.db
        with db.lock:
            db.hidden.get("session_roles", {}).pop(ref, None)
            if db.exists("session", ref):
                db.delete("session", ref)
        self.seen.pop(ref, None)


@handler("session", "login_with_password")
def _login(call, uname, pwd, version="1.1", originator=""):
    return call.sim.sessions.login(uname, pwd, originator)


@handler("session", "logout")
def _logout(call):
    call.sim.sessions.expire(call.session)


@handler("session", "get_all_subject_identifiers")
def _subjects(call):
    return []


# --- tasks ---------------------------------------------------------------------------------

class Tasks:
    def __init__(self, sim):
        self.sim = sim

    def create(self, label, description=""):
        db = self.sim.db
        with db.lock:
            return db.create("task", uuid=new_uuid(), name_label=label, name_description=description,
                             status="pending", progress=0.0, created=self.sim.clock.stamp(),
                             resident_on=self.sim.master_host, type="<none/>")

    def spawn(self, method, session, role, run, values, result_type):
        db = self.sim.db
        with db.lock:
            ref = db.create("task", uuid=new_uuid(), name_label=method, status="pending",
                            progress=0.0, created=self.sim.clock.stamp(),
                            resident_on=self.sim.master_host, type="<none/>")
        call = Call(self.sim, session, role, task=ref)

        def work():
            try:
                result = run(call, *values)
                with db.lock:
                    if db.exists("task", ref):
                        db.update("task", ref, status="success", progress=1.0,
                                  finished=self.sim.clock.stamp(),
                                  result=_result_fragment(result, result_type))
            except XapiError as err:
                self.fail(ref, err)
            except Exception as err:  # a simulator bug must still end the task
                self.fail(ref, XapiError("INTERNAL_ERROR", repr(err)))
            db.commit()

        threading.Thread(target=work, daemon=True, name="task-" + ref[-8:]).start()
        return ref, ("ref", "task")

    def fail(self, ref, err):
        db = self.sim.db
        with db.lock:
            if db.exists("task", ref):
                status = "cancelled" if err.code == "TASK_CANCELLED" else "failure"
                db.update("task", ref, status=status, progress=1.0,
                          finished=self.sim.clock.stamp(), error_info=err.description)


def _result_fragment(result, result_type):
    if result_type[0] == "void":
        return ""
    value = wire.to_wire(result, result_type)
    body = xmlrpc.client.dumps((value,), allow_none=True)
    # dumps gives <params><param><value>..</value></param></params>; xapi stores the <value>.
    fragment = body.split("<param>\n", 1)[1].rsplit("</param>", 1)[0].strip()
    # xapi writes strings as bare <value>text</value>, without a <string> element
    # (ocaml/libs/http-lib/xMLRPC.ml To.string), so a ref result is <value>OpaqueRef:..</value>.
    return _STRING_VALUE.sub(r"<value>\1</value>", fragment)


_STRING_VALUE = re.compile(r"<value><string>(.*?)</string></value>", re.S)


@handler("task", "create")
def _task_create(call, label, description):
    # xapi_task.ml create: a pending task the caller drives (e.g. the task_id of an HTTP
    # import/export, which the handler completes); TaskHelper.make types it <none/>.
    return call.sim.tasks.create(label, description)


@handler("task", "cancel")
def _task_cancel(call, task):
    record = call.db.get("task", task)
    if record["status"] == "pending":
        call.db.update("task", task, status="cancelling")


@handler("task", "destroy")
def _task_destroy(call, task):
    call.db.delete("task", task)
