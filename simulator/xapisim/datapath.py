"""The HTTP disk data path: ``PUT /import_raw_vdi`` and ``GET /export_raw_vdi``, as xapi serves
them on the API's own port (ocaml/xapi/import_raw_vdi.ml, export_raw_vdi.ml, xapi_http.ml).

The order of the checks and each answer follow xapi: credentials (401), RBAC on the HTTP
permission (403, and the caller's task fails), the VDI (an unknown one: 500, the task is left
alone), then the task context (the caller's ``task_id``, or one the handler makes and destroys
when done) and the format (404). Then an import sends "200 OK" (no Content-Length) before it
reads the body, as xapi does, so a client may wait for it before sending; from there a failure
is only in the task: a read-only VDI, one in use read-write by a running VM, or a body larger
than the VDI fails the task before anything is written (VDI_READONLY, VDI_IN_USE,
VDI_IO_ERROR). A body without Content-Length is the VDI's virtual_size bytes (vhd-tool reads
the device's size); fewer before EOF is VDI_IO_ERROR. Bodies stream through the VDI store in
1 MiB chunks; the task succeeds once the contents are fsync'ed and the state saved, and the
connection closes after that, so an acknowledged upload survives ``kill -9``.

Where xapi closes the connection on an error the simulator first reads the rest of the
declared body, so a client that sends it all before reading gets the answer, not a reset.
"""
import base64
import contextlib
import html
import os
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlsplit

from . import vhd
from .errors import XapiError
from .vdi_store import CHUNK, ShortBody, contents_path

# ocaml/idl/datamodel.ml http_actions: both are _R_VM_ADMIN
VM_ADMIN = ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin"]
IMPORT, EXPORT = "put_import_raw_vdi", "get_export_raw_vdi"
MAX_VHD_SIZE = 2040 * 1024 ** 3                 # ocaml/xapi-consts/constants.ml max_vhd_size
FORMATS = {"raw": "application/octet-stream", "vhd": "application/vhd",
           "tar": "application/x-tar", "qcow2": "application/x-qemu-disk"}
THIN_SR_TYPES = ("ext", "nfs", "file", "smb")   # physical_utilisation follows the data
_PAGES = {
    401: "<html><body><h1>HTTP 401 unauthorised</h1>Please check your credentials and retry.</body></html>",
    403: "<html><body><h1>HTTP 403 forbidden</h1>Access to the requested resource is forbidden.</body></html>",
    500: "<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait "
         "a while and try again. If the problem persists, please contact your support "
         "representative.<h1> Additional information </h1>%s</body></html>",
}
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorised", 403: "Forbidden", 404: "Not Found",
            500: "Internal Error"}


class Answer(Exception):
    """End the request with this HTTP status (and the XenAPI error behind it, for the log)."""

    def __init__(self, status, error=None, headers=(), body=""):
        super().__init__(status)
        self.status = status
        self.error = error
        self.headers = list(headers)
        self.body = body


class Request:
    def __init__(self, handler, action):
        self.handler = handler
        self.server = handler.server
        self.sim = handler.server.sim
        self.db = self.sim.db
        self.action = action
        self.query = {}
        for key, value in parse_qsl(urlsplit(handler.path).query, keep_blank_values=True):
            self.query.setdefault(key, value)       # the first one counts (List.assoc)
        self.cookies = {}
        if handler.headers.get("Cookie"):
            self.cookies = {k: m.value for k, m in SimpleCookie(handler.headers["Cookie"]).items()}
        self.bytes_in = 0
        self.bytes_out = 0
        self.task = None
        self.error = None
        self.started = time.monotonic()
        self.logged = False

    def log(self, status):
        if not self.logged:
            self.logged = True
            method = "%s %s" % (self.handler.command, urlsplit(self.handler.path).path)
            self.server.log(method, "Success" if self.error is None else "Failure", self.error,
                            self.bytes_in, self.bytes_out, self.started, http_status=status)

    def param(self, name):
        """Cookie first, then the query (xapi_http.ml lookup_param_of_req)."""
        return self.cookies.get(name, self.query.get(name))

    def content_length(self):
        text = self.handler.headers.get("Content-Length")
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            raise Answer(400, "Content-Length") from None
        if value < 0:
            raise Answer(400, "Content-Length")
        return value

    # --- answering ------------------------------------------------------------------------
    def start(self, status, headers=(), length=None):
        handler = self.handler
        handler.send_response(status, _REASONS.get(status))
        handler.send_header("Connection", "close")
        if status != 200:
            handler.send_header("Cache-Control", "no-cache, no-store")
        for name, value in headers:
            handler.send_header(name, value)
        if length is not None:
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.close_connection = True

    def send(self, data):
        self.handler.wfile.write(data)
        self.bytes_out += len(data)

    def answer(self, status, headers=(), body=""):
        self.log(status)        # before answering: a client that then reads the log finds it
        data = body.encode("utf-8")
        if body:
            headers = [("Content-Type", "text/html")] + list(headers)
        self.start(status, headers, length=len(data))
        self.send(data)

    def drain(self, length):
        """Read and drop what is left of the declared body."""
        self.handler.connection.settimeout(30)
        if "chunked" in (self.handler.headers.get("Transfer-Encoding") or "").lower():
            return self._drain_chunks()
        if not length:
            return
        left = length - self.bytes_in
        while left > 0:
            data = self.handler.rfile.read(min(CHUNK, left))
            if not data:
                return
            self.bytes_in += len(data)
            left -= len(data)

    def _drain_chunks(self):
        rfile = self.handler.rfile
        while True:
            line = rfile.readline(1024)
            self.bytes_in += len(line)
            try:
                size = int(line.split(b";")[0].strip() or b"x", 16)
            except ValueError:
                return
            if size == 0:
                while rfile.readline(1024).strip():     # trailer, up to the blank line
                    pass
                return
            while size > 0:
                data = rfile.read(min(CHUNK, size))
                if not data:
                    return
                self.bytes_in += len(data)
                size -= len(data)
            rfile.readline(1024)

    # --- tasks ----------------------------------------------------------------------------
    def fail_named_task(self, err):
        """TaskHelper.failed on the caller's task_id, if it names a pending task."""
        task = self.param("task_id")
        if task:
            self.fail_task(task, err)

    def fail_task(self, task, err):
        self.error = err.code
        db = self.db
        with db.lock:
            if db.exists("task", task) and db.get("task", task)["status"] == "pending":
                db.update("task", task, status="failure", progress=1.0, error_info=err.description,
                          finished=self.sim.clock.stamp())

    def complete_task(self, task, result=""):
        db = self.db
        with db.lock:
            if db.exists("task", task) and db.get("task", task)["status"] == "pending":
                db.update("task", task, status="success", progress=1.0, result=result,
                          finished=self.sim.clock.stamp())
                db.commit()     # saved before anyone can see it: the upload's acknowledgement

    def progress(self, fraction):
        """Whole percents, as vhd-tool reports them to xapi."""
        value = min(1.0, int(fraction * 100) / 100.0)
        db = self.db
        with db.lock:
            if db.exists("task", self.task) and db.get("task", self.task)["progress"] < value < 1.0:
                db.update("task", self.task, progress=value)

    @contextlib.contextmanager
    def task_context(self, label):
        """xapi_http.ml with_context: the caller's task, or a new one that goes at the end."""
        named = self.param("task_id")
        if named:
            if not self.db.exists("task", named):
                raise Answer(500, "HANDLE_INVALID", body=_PAGES[500] % html.escape("HANDLE_INVALID task " + named))
            self.task = named
        else:
            self.task = self.sim.tasks.create(label)
        try:
            yield self.task
        except Answer as answer:
            if answer.status != 200 and self.error is None:
                self.fail_task(self.task, XapiError("INTERNAL_ERROR", answer.error or ""))
            raise
        except Exception as err:
            self.fail_task(self.task, XapiError("INTERNAL_ERROR", "%s: %s" % (type(err).__name__, err)))
            raise
        finally:
            if not named:
                with self.db.lock:
                    if self.db.exists("task", self.task):
                        self.db.delete("task", self.task)
            self.db.commit()


def handle(handler, method):
    """Serve one GET/PUT; other paths answer 404 as xapi's server does for an unknown URI."""
    path = urlsplit(handler.path).path
    route = {("PUT", "/import_raw_vdi"): (IMPORT, _import),
             ("GET", "/export_raw_vdi"): (EXPORT, _export)}.get((method, path))
    if route is None:
        data = b"<html><body>Not found</body></html>"
        handler.send_response(404)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
        return
    action, serve = route
    req = Request(handler, action)
    status = 200
    try:
        serve(req)      # an import ends (the connection closes) once its own task is gone and saved
    except Answer as answer:
        status = answer.status
        req.error = req.error or answer.error
        with contextlib.suppress(OSError):
            req.drain(_declared(handler))
            req.answer(answer.status, answer.headers, answer.body)
    except (OSError, ShortBody):
        status = None                    # the client went away: nobody to answer
        handler.close_connection = True
    finally:
        req.log(status)                  # a streamed export: its client sees the end after this


def _declared(handler):
    try:
        return int(handler.headers.get("Content-Length") or 0)
    except ValueError:
        return 0


# --- checks shared by both handlers ------------------------------------------------------

def _credentials(req):
    """xapi_http.ml assert_credentials_ok: a session (or Basic auth), then RBAC."""
    session = req.param("session_id")
    realm = [("WWW-Authenticate", 'Basic realm="%s"' % req.action)]
    if session is not None:
        try:
            role = req.sim.sessions.check(session)
        except XapiError as err:
            raise Answer(401, err.code, realm, _PAGES[401]) from None
    else:
        role = _basic_auth(req)
        if role is None:
            raise Answer(401, "SESSION_AUTHENTICATION_FAILED", realm, _PAGES[401])
    if role not in VM_ADMIN:
        permission = "http/" + req.action
        text = "No permission in user session. (Roles with this permission: %s)" % ", ".join(VM_ADMIN)
        req.fail_named_task(XapiError("RBAC_PERMISSION_DENIED", permission, text))
        raise Answer(403, "RBAC_PERMISSION_DENIED", body=_PAGES[403])


def _basic_auth(req):
    header = req.handler.headers.get("Authorization") or ""
    if not header.startswith("Basic "):
        return None
    try:
        name, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
    except ValueError:
        return None
    user = req.sim.sessions.users.get(name)
    return user[1] if user and user[0] == password else None


def _vdi_of_req(req):
    """importexport.ml vdi_of_req: a ref, else a uuid; neither is UUID_INVALID, a 500."""
    value = req.param("vdi")
    if value is None:
        return None
    db = req.db
    with db.lock:
        if db.exists("VDI", value):
            return value
        try:
            return db.by_uuid_of("VDI", value)
        except XapiError as err:
            raise Answer(500, err.code, body=_PAGES[500] % html.escape(" ".join(err.description))) from None


def _sr_of_req(req):
    """importexport.ml sr_of_req: sr_id (a ref), else sr_uuid."""
    if req.param("sr_id") is not None:
        return req.param("sr_id")
    if req.param("sr_uuid") is None:
        return None
    with req.db.lock:
        try:
            return req.db.by_uuid_of("SR", req.param("sr_uuid"))
        except XapiError as err:
            raise Answer(500, err.code, body=_PAGES[500] % html.escape(" ".join(err.description))) from None


def _format(req):
    text = req.param("format") or "raw"
    name = text.lower()
    if name not in FORMATS:
        req.fail_task(req.task, XapiError("INTERNAL_ERROR", "Unknown format " + text))
        raise Answer(404)
    if name in ("tar", "qcow2"):
        req.fail_task(req.task, XapiError("INTERNAL_ERROR", "xapisim: format %s is not modelled" % name))
        raise Answer(404)
    return name


def _write_error(db, vdi):
    """What attaching the VDI read-write to dom0 refuses (xapi_vbd_helpers.ml): a read-only
    VDI, or one a running VM has attached read-write (unless it is sharable)."""
    record = db.get("VDI", vdi)
    if record["read_only"]:
        return XapiError("VDI_READONLY", vdi)
    if record["sharable"]:
        return None
    for vbd in record["VBDs"]:
        plug = db.get("VBD", vbd)
        if plug["currently_attached"] and plug["mode"] == "RW" and \
                db.get("VM", plug["VM"])["power_state"] in ("Running", "Paused"):
            return XapiError("VDI_IN_USE", vdi)
    return None


# --- PUT /import_raw_vdi -------------------------------------------------------------------

def _import(req):
    _credentials(req)
    vdi = _vdi_of_req(req)
    sr = _sr_of_req(req)
    if vdi is None and sr is None:
        req.fail_named_task(XapiError("VDI_MISSING"))
        raise Answer(400, "VDI_MISSING")
    with req.task_context("Importing raw VDI") as task:
        fmt = _format(req)
        encoding = req.handler.headers.get("Transfer-Encoding")
        if fmt != "raw" and req.param("chunked") is not None:
            req.fail_task(task, XapiError("INTERNAL_ERROR", "Cannot handle chunked VHD"))
            raise Answer(404)
        if encoding:
            req.fail_task(task, XapiError("INTERNAL_ERROR", "Cannot handle encoding: " + encoding))
            raise Answer(404)
        if req.param("chunked") is not None:
            req.fail_task(task, XapiError("INTERNAL_ERROR", "xapisim: the chunked protocol is not modelled"))
            raise Answer(404)
        length = req.content_length()
        if vdi is None:
            vdi = _new_vdi(req, task, sr, fmt, length)
        with req.db.lock:
            record = dict(req.db.get("VDI", vdi))
            refused = _write_error(req.db, vdi)
        size = record["virtual_size"]
        if refused is None and fmt == "raw" and (length if length is not None else size) > size:
            refused = XapiError("VDI_IO_ERROR", "Device I/O errors")   # vhd-tool writes past the end
        # xapi answers here, before it reads the body: a client may wait for the 200 before
        # sending it (the SDK's exportimport.py). From now on a failure is only in the task;
        # the end of the upload is the connection closing, after the task has its outcome.
        req.start(200, [("task-id", task), ("Content-Type", "application/octet-stream")])
        if refused is not None:
            req.fail_task(task, refused)
            req.drain(length if length is not None else size)
            return
        store = req.sim.vdi_store
        counted = _Counted(req)
        try:
            if fmt == "raw":
                total = size if length is None else length
                store.write_stream(record["uuid"], counted, total,
                                   progress=lambda done: req.progress(done / max(1, total)))
            else:
                with store.writer(record["uuid"]) as out:
                    vhd.receive(counted, length, size, out,
                                progress=lambda done: req.progress(done / max(1, size)))
                    out.commit()
        except (ShortBody, vhd.VhdError) as err:
            req.fail_task(task, XapiError("VDI_IO_ERROR", "Device I/O errors"))
            if isinstance(err, vhd.VhdError) and length is not None:
                req.drain(length)
            return
        _account(req, vdi, record)
        req.complete_task(task, "<value>%s</value>" % vdi)


def _new_vdi(req, task, sr, fmt, length):
    """No vdi but an sr_id: a raw body of known length becomes a new "Imported VDI"."""
    if fmt == "vhd":
        err = XapiError("INTERNAL_ERROR", "Importing a VHD directly into an SR not yet supported")
    elif length is None:
        err = XapiError("INTERNAL_ERROR", "Not enough info supplied to import")
    else:
        with req.db.lock:
            try:
                req.db.get("SR", sr)
                return req.sim.storage.make_vdi(sr, "Imported VDI", length)
            except XapiError as failure:
                err = failure
        req.fail_task(task, err)
        raise Answer(500, err.code, body=_PAGES[500] % html.escape(" ".join(err.description)))
    req.fail_task(task, err)
    raise Answer(400, err.code)


def _account(req, vdi, record):
    """A thin SR's VDI uses what its data takes; a thick (lvm) one stays fully allocated."""
    db = req.db
    with db.lock:
        if db.exists("VDI", vdi) and db.get("SR", record["SR"])["type"] in THIN_SR_TYPES:
            used = min(record["virtual_size"], req.sim.vdi_store.allocated(record["uuid"]))
            db.update("VDI", vdi, physical_utilisation=used)


class _Counted:
    """The request body, counting what was read."""

    def __init__(self, req):
        self.req = req
        self.rfile = req.handler.rfile

    def readinto(self, view):
        n = self.rfile.readinto(view)
        self.req.bytes_in += n or 0
        return n

    def read(self, count):
        data = self.rfile.read(count)
        self.req.bytes_in += len(data)
        return data


# --- GET /export_raw_vdi -------------------------------------------------------------------

def _export(req):
    _credentials(req)
    if req.param("vdi") is None:
        raise Answer(500, "INTERNAL_ERROR", body=_PAGES[500] % "Failure(&quot;Missing vdi query parameter&quot;)")
    vdi = _vdi_of_req(req)
    with req.task_context("Exporting raw VDI") as task:
        fmt = _format(req)
        with req.db.lock:
            record = dict(req.db.get("VDI", vdi))
            name = contents_path(req.db, req.sim.vdi_store, vdi)    # an ISO library's file too
        size = record["virtual_size"]
        req.start(200, [("task-id", task), ("Content-Type", FORMATS[fmt]),
                        ("Content-Disposition", 'attachment; filename="%s.%s"' % (record["uuid"], fmt))])
        if fmt == "vhd" and size > MAX_VHD_SIZE:
            req.fail_task(task, XapiError("VDI_TOO_LARGE", vdi, MAX_VHD_SIZE))
            return
        handle = os.open(name, os.O_RDONLY) if name else None   # this version, even if replaced
        try:
            if fmt == "raw":
                _send_raw(req, handle, size)
            else:
                vhd.send(handle, size, req.send, progress=req.progress)
        finally:
            if handle is not None:
                os.close(handle)
        req.complete_task(task)


def _send_raw(req, handle, size):
    zeros = bytes(CHUNK)
    pos = 0
    while pos < size:
        count = min(CHUNK, size - pos)
        data = os.pread(handle, count, pos) if handle is not None else b""
        req.send(data + zeros[:count - len(data)])
        pos += count
        req.progress(pos / size)
