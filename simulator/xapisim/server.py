"""HTTP front end: XML-RPC on / and /RPC2, JSON-RPC on /jsonrpc, as xapi serves them, and
the disk data path (PUT /import_raw_vdi, GET /export_raw_vdi: xapisim.datapath) on the same port.

Every XML-RPC reply is a struct {Status: Success, Value} or {Status: Failure,
ErrorDescription: [code, params...]}; transport problems are XML-RPC faults; malformed XML
gets an HTTP 500 page. Each call is appended to the call log (never its parameters, so
passwords stay out of it).
"""
import html
import http.server
import json
import socket
import socketserver
import threading
import time
import xmlrpc.client

from . import datapath, wire
from .errors import XapiError


class CallLog:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.handle = open(path, "a", encoding="utf-8") if path else None

    def write(self, **entry):
        if not self.handle:
            return
        with self.lock:
            self.handle.write(json.dumps(entry, sort_keys=True) + "\n")
            self.handle.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xapisim"

    def log_message(self, *args):  # keep stderr quiet; the call log is the record
        pass

    def setup(self):
        super().setup()
        # One write per reply and no Nagle: otherwise delayed ACKs add ~40 ms to every call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self):
        server = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        started = time.monotonic()
        if server.latency:
            time.sleep(server.latency)
        path = self.path.split("?")[0]
        if path in ("/", "/RPC2"):
            self._xmlrpc(body, started)
        elif path == "/jsonrpc":
            self._jsonrpc(body, started)
        else:
            self._send(404, b"<html><body>Not found</body></html>", "text/html")

    def do_PUT(self):
        datapath.handle(self, "PUT")

    def do_GET(self):
        datapath.handle(self, "GET")

    def _xmlrpc(self, body, started):
        try:
            params, method = xmlrpc.client.loads(body)
        except Exception:
            self._send(500, b"<html><body><h1>HTTP 500 internal server error</h1></body></html>",
                       "text/html")
            return
        method = method or ""
        outcome = self.server.run_call(method, list(params), json_rpc=False)
        if outcome is None or outcome[0] == "Lost":   # fault injection: connection reset
            return self._reset(method, len(body), started, outcome)
        status, value = outcome
        if status == "Fault":
            payload = xmlrpc.client.dumps(value, methodresponse=True, allow_none=True)
            code = None
        elif status == "Success":
            payload = xmlrpc.client.dumps(({"Status": "Success", "Value": value},),
                                          methodresponse=True, allow_none=True)
            code = None
        else:
            payload = xmlrpc.client.dumps(({"Status": "Failure", "ErrorDescription": value},),
                                          methodresponse=True, allow_none=True)
            code = value[0]
        data = payload.encode("utf-8")
        # Log before answering: a client that reads the call log right after its reply must
        # find the call there (tests count calls exactly).
        self.server.log(method, status, code, len(body), len(data), started)
        self._send(200, data, "text/xml")

    def _jsonrpc(self, body, started):
        try:
            version2, method, params, ident = _jsonrpc_request(body)
        except MalformedRequest as err:
            # xapi's Http_svr answers an exception escaping the handler with its 500 page and
            # closes the connection (ocaml/libs/http-lib/http_svr.ml response_internal_error)
            self.close_connection = True
            data = (MALFORMED_PAGE % html.escape(str(err), quote=True).replace("&#x27;", "&apos;")).encode()
            self.send_response(500, "Internal Error")
            for name, value in (("Content-Type", "text/html"), ("Connection", "close"),
                                ("Cache-Control", "no-cache, no-store"), ("Content-Length", str(len(data)))):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            return
        outcome = self.server.run_call(method, list(params), json_rpc=True)
        if outcome is None or outcome[0] == "Lost":
            return self._reset(method, len(body), started, outcome)
        status, value = outcome
        if status == "Success":
            reply = {"result": value, "id": ident}
            reply.update({"jsonrpc": "2.0"} if version2 else {"error": None})
        else:
            description = value if status == "Failure" else ["INTERNAL_ERROR", value.faultString]
            if version2:
                reply = {"jsonrpc": "2.0", "id": ident, "error": {
                    "code": 1, "message": description[0], "data": description[1:]}}
            else:
                reply = {"result": None, "error": description, "id": ident}
        data = json.dumps(reply, default=_json_value).encode("utf-8")
        self.server.log(method, status, description[0] if status != "Success" else None,
                        len(body), len(data), started)  # before answering, as above
        self._send(200, data, "application/json")

    def _reset(self, method, size_in, started, lost=None):
        """Drop the connection without an answer. ``lost`` is the outcome of a call that was
        carried out (logged as status "Lost" with its error code), None if it was not ("Reset")."""
        if lost is None:
            self.server.log(method, "Reset", None, size_in, 0, started)
        else:
            inner = lost[1]
            code = None if inner[0] == "Success" else (inner[1][0] if inner[0] == "Failure" else "Fault")
            self.server.log(method, "Lost", code, size_in, 0, started)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send(self, code, data, content_type):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


MALFORMED_PAGE = ("<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; "
                  "please wait a while and try again. If the problem persists, please contact your "
                  "support representative.<h1> Additional information </h1>%s</body></html>")


class MalformedRequest(Exception):
    """A JSON-RPC body xapi's parser refuses; str() is the exception as OCaml prints it."""

    def __init__(self, text, exception="Jsonrpc.Malformed_method_request"):
        super().__init__('%s("%s")' % (exception, text))


def _jsonrpc_request(body):
    """(version2, method, params, id) as rpclib's Jsonrpc.version_id_and_call_of_string reads
    them (mirage/ocaml-rpc src/lib/jsonrpc.ml): v1 needs "params" (an array), v2 may leave it
    out; "id" must be a string or an integer in both (xapi takes no notifications,
    doc/content/xen-api/wire-protocol.md)."""
    try:
        request = json.loads(body)
    except ValueError as err:    # not JSON at all: Yojson's own exception escapes
        raise MalformedRequest(str(err), "Yojson.Json_error") from None
    if not isinstance(request, dict):
        raise MalformedRequest("Invalid request body")
    if "method" not in request:
        raise MalformedRequest("Required field method is missing")
    if not isinstance(request["method"], str):
        raise MalformedRequest("Invalid field 'method' in request body")
    if "jsonrpc" in request and request["jsonrpc"] != "2.0":
        raise MalformedRequest("Invalid field 'jsonrpc' in request body")
    version2 = "jsonrpc" in request
    params = request.get("params")
    if not version2 and "params" not in request:
        raise MalformedRequest("Required field params is missing")
    if version2 and isinstance(params, dict):
        params = [params]
    elif version2 and params is None:
        params = []
    elif not isinstance(params, list):
        raise MalformedRequest("Invalid field 'params' in request body")
    ident = request.get("id")
    if isinstance(ident, bool) or not isinstance(ident, (str, int)):
        raise MalformedRequest("Invalid field 'id' in request body")
    return version2, request["method"], params, ident


def _json_value(value):
    """JSON for what a handler built XML-RPC-typed (event.from snapshots carry DateTime
    objects): a datetime goes as its ISO 8601 text, as xapi's JSON-RPC sends it. Without this
    an event.from over JSON-RPC raised in json.dumps and dropped the connection."""
    if isinstance(value, xmlrpc.client.DateTime):
        return value.value
    raise TypeError("not JSON serializable: %r" % type(value).__name__)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sim, address, member=False, latency_ms=0, call_log=None, faults=None,
                 ssl_context=None):
        super().__init__(address, Handler)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True)
        self.sim = sim
        self.member = member
        self.latency = latency_ms / 1000.0
        self.call_log = call_log or CallLog(None)
        self.faults = faults

    def run_call(self, method, params, json_rpc):
        """(status, value) for one call; None if a fault drops the connection before the call
        is carried out, ("Lost", outcome) if it drops the answer after (``reset_after``)."""
        if self.faults:
            injected = self.faults.before(self.sim, method, params)
            if injected == "reset":
                return None
            if isinstance(injected, XapiError):
                return "Failure", injected.description
        outcome = self._dispatch(method, params, json_rpc)
        if self.faults:
            held = self.faults.delay(method)
            if held:
                time.sleep(held)
        if self.faults and self.faults.after(method):
            return "Lost", outcome
        return outcome

    def _dispatch(self, method, params, json_rpc):
        try:
            value, result_type = self.sim.call(method, params, member=self.member)
            return "Success", wire.to_wire(value, result_type, json_rpc=json_rpc)
        except XapiError as err:
            return "Failure", err.description
        except xmlrpc.client.Fault as fault:
            return "Fault", fault
        except Exception as err:  # never a Python traceback on the wire
            return "Failure", ["INTERNAL_ERROR", "%s: %s" % (type(err).__name__, err)]

    def log(self, method, status, code, size_in, size_out, started, **extra):
        self.call_log.write(method=method, status=status, error=code, bytes_in=size_in,
                            bytes_out=size_out, duration_ms=round((time.monotonic() - started) * 1000, 3),
                            host=self.server_address[0], **extra)
