# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this module_util is internal to xenserver.provisioning; it is not a public API
# and may change without notice.

"""The one XenAPI client of the collection; it knows nothing of Ansible.

It logs in (following HOST_IS_SLAVE to the pool master), verifies TLS by default, waits
through Async tasks and event.from (never a sleep-and-poll loop), retries what is safe to
retry, translates XenAPI failures into messages a person can act on, and logs out at exit.
Modules and the inventory plugin use it the same way.

Retries (see docs/reliability.md):

- A transient XenAPI error (TRANSIENT_CODES) is retried up to ``retries`` times with
  exponential backoff and jitter; every other error fails at once, translated.
- SESSION_INVALID: the SDK logs in again by itself (three tries); when it gives up, the
  client logs in afresh and repeats the call (twice at most).
- A dropped or refused connection is retried with backoff for up to ``reconnect_timeout``
  seconds (a pool master restarting), counted from the first failure: each login and each
  retried call has its own budget, so a drop after a long event.from wait is retried as
  fully as one at once. A refused connection never reached the pool, so any call may be
  sent again. Otherwise the call may have been carried out with only its answer lost:
  a call that creates something (NOT_REPEATABLE) is then never sent again blindly. Its caller
  passes ``recover``, a lookup that finds what the first attempt made (or says NOT_DONE), or
  the call fails with ANSWER_LOST. Calls whose repeat fails in a telling way once the first
  attempt was done (a destroy that finds the object gone, a map key that is already there
  with our value) count as done.
- xmlrpc.client's own silent resend of a request whose connection dropped is switched off
  (it would repeat a VM.clone whose answer was lost).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import contextlib
import os
import random
import re
import socket
import ssl
import time

try:
    from urllib.parse import urlsplit, urlunsplit
    import http.client as httplib
    import xmlrpc.client as xmlrpclib
except ImportError:  # pragma: no cover - Python 2 is not supported, keep sanity's import test happy
    from urlparse import urlsplit, urlunsplit  # type: ignore
    import httplib  # type: ignore
    import xmlrpclib  # type: ignore

try:
    import XenAPI
    HAS_XENAPI = True
    XENAPI_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module as a missing library
    XenAPI = None
    HAS_XENAPI = False
    XENAPI_IMPORT_ERROR = exc

from ansible_collections.xenserver.provisioning.plugins.module_utils._session import SessionCache

NULL_REF = "OpaqueRef:NULL"
ORIGINATOR = "xenserver.provisioning"
# Errors after which the same call may simply be made again.
TRANSIENT_CODES = frozenset(["OTHER_OPERATION_IN_PROGRESS", "HOST_STILL_BOOTING", "TOO_MANY_PENDING_TASKS"])
# The API version a login announces (xapi ignores it: xapi_session.ml).
API_VERSION = "2.21"
# Calls that create something: if their answer is lost they must not be blindly repeated.
NOT_REPEATABLE = ("clone", "copy", "create", "provision", "snapshot", "import")
# When the answer to one of these was lost, its repeat fails with this code if the first
# attempt was carried out: the call is done.
DONE_ALREADY = {"destroy": "HANDLE_INVALID", "plug": "DEVICE_ALREADY_ATTACHED",
                "unplug": "DEVICE_ALREADY_DETACHED", "eject": "VBD_IS_EMPTY"}
# Failures of the connection itself (RemoteDisconnected is both an OSError and an HTTPException).
CONNECTION_ERRORS = (socket.error, OSError, xmlrpclib.ProtocolError, httplib.HTTPException)
# What a ``recover`` lookup returns when the call whose answer was lost was not carried out.
NOT_DONE = object()
# Characters XML 1.0 cannot carry (XML-RPC is XML): xapi would answer HTTP 500.
XML_UNSAFE = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Seconds a login or a call keeps trying to reach the pool (a master restart takes a minute or two).
RECONNECT_TIMEOUT = 120.0
MAX_RECONNECT_TIMEOUT = 86400
# HTTP statuses of a proxy or a master in trouble: the request may be sent again (as a dropped connection).
HTTP_RETRY = (502, 503, 504)
# wait_for's lower-case event classes -> API class names (for a direct read).
API_CLASSES = {"vm": "VM", "vm_guest_metrics": "VM_guest_metrics", "vbd": "VBD", "vif": "VIF",
               "vdi": "VDI", "sr": "SR", "task": "task", "host": "host"}

# What to do about a failure, by error code; {0}, {1}... are the error's parameters.
HINTS = {
    "SESSION_AUTHENTICATION_FAILED": "check username and password (or XENSERVER_USER / XENSERVER_PASSWORD)",
    "RBAC_PERMISSION_DENIED": "the user may not call {0}; {1} Ask a pool administrator for one of those roles",
    "HOST_IS_SLAVE": "this host is a pool member; connect to the pool master at {0}",
    "HANDLE_INVALID": "the {0} no longer exists; it was probably removed while this task ran",
    "UUID_INVALID": "there is no {0} with uuid '{1}'",
    "VM_BAD_POWER_STATE": "the VM is {2}; this operation needs it {1}",
    "VM_IS_TEMPLATE": "this is a template; the operation '{1}' is not allowed on templates",
    "VM_CANNOT_DELETE_DEFAULT_TEMPLATE": "built-in templates cannot be deleted",
    "OTHER_OPERATION_IN_PROGRESS": "another operation ({2}) is running on this {0}; try again when it ends",
    "HOST_NOT_ENOUGH_FREE_MEMORY": "the VM needs {0} bytes but the host has {1} free; lower the VM's memory or free memory on the host",
    "BOOTLOADER_FAILED": "the bootloader could not boot the VM: {1}. Check install_repository, PV_bootloader and the VM's disks",
    "UNKNOWN_BOOTLOADER": "'{1}' is not a bootloader XenServer knows; use pygrub, eliloader or none",
    "VM_LACKS_FEATURE": "the guest cannot shut down cleanly (no PV drivers); use a hard shutdown",
    "PROVISION_ONLY_ALLOWED_ON_TEMPLATE": "the source must be a template to provision disks",
    "SR_FULL": "the storage repository is full: {0} bytes requested, {1} available",
    "MEMORY_CONSTRAINT_VIOLATION_ORDER": "memory must satisfy static_min <= dynamic_min <= dynamic_max <= static_max",
    "MAP_DUPLICATE_KEY": "key '{3}' already exists in {1}",
    "OPERATION_NOT_ALLOWED": "{0}",
    "DEVICE_ALREADY_EXISTS": "device {0} is already in use on this VM",
    "VDI_IN_USE": "the disk is in use ({1})",
    "INVALID_VALUE": "'{1}' is not a valid value for {0}",
    "FIELD_TYPE_ERROR": "the value given for {0} has the wrong type",
    "SESSION_INVALID": "the session expired; run the task again",
    "EVENTS_LOST": "the pool lost track of events (it may have restarted); run the task again",
    "VM_TOO_MANY_VCPUS": "the VM would have more vCPUs than XenServer allows for it; lower vcpus / vcpus_max",
}


class XenServerError(Exception):
    """A failure a person can act on: a stable ``code``, its parameters and a message with a hint.

    ``code`` is what callers (modules, roles through the result's ``error_code``) decide on,
    never the message: a failure XenAPI reported keeps XenAPI's error code
    (xenapi-datamodel.json ``errors``); one of ours has its class's ``CODE`` (or a more
    precise one given as ``code``). The message is for people and may change.
    """

    CODE = "XENAPI_ERROR"

    def __init__(self, message, code=None, params=None):
        super(XenServerError, self).__init__(message)
        self.code = code or self.CODE
        self.params = list(params or [])


class InvalidInput(XenServerError):
    """A value the user gave is wrong; found before anything changes."""
    CODE = "INVALID_INPUT"


class NotFound(XenServerError):
    """Something the user named does not exist."""
    CODE = "NOT_FOUND"


class WaitTimeout(XenServerError):
    """A wait (for a task, a power state, the guest) ran out of time."""
    CODE = "WAIT_TIMEOUT"


class Gone(XenServerError):
    """An object went away while the module waited on it (a guest's metrics on reboot)."""
    CODE = "GONE"


class AnswerLost(XenServerError):
    """The connection dropped before XenServer answered, and whether the call took effect
    could not be found out."""
    CODE = "ANSWER_LOST"


def translate(details, action=None):
    """Turn XenAPI.Failure details ([code, params...]) into a XenServerError."""
    code, params = (details[0], list(details[1:])) if details else ("UNKNOWN", [])
    hint = HINTS.get(code)
    text = "%s %s" % (code, params)
    if hint:
        try:
            text = "%s: %s" % (code, hint.format(*params))
        except IndexError:
            text = "%s %s: %s" % (code, params, hint)
    if action:
        text = "%s failed: %s" % (action, text)
    return XenServerError(text, code=code, params=params)


def build_url(hostname):
    """A bare host name means https; a URL keeps its scheme and port.

    Anything that is not a host name or an http(s) URL with a host fails here, naming it.
    """
    url = hostname if "://" in hostname else "https://%s" % hostname
    url = url.rstrip("/")
    problem = None
    if url_credentials(hostname) is not None:
        # They would show wherever the URL does (messages, logs, the task's invocation).
        raise InvalidInput("hostname '%s' holds credentials (user:password@ before the host): give them as "
                           "the username and password options (or XENSERVER_USER / XENSERVER_PASSWORD) "
                           "instead" % shown_url(hostname), code="INVALID_HOSTNAME")
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            problem = "the scheme must be http or https"
        elif not parts.hostname or any(c.isspace() or c in "\"<>'`{}|^" for c in parts.netloc):
            problem = "it names no valid host"
        else:
            parts.port  # raises ValueError for a port that is not a number in range
            parts.hostname.encode("idna")
    except (ValueError, UnicodeError) as err:
        problem = str(err)
    if problem:
        shown = shown_url(hostname)
        shown = shown if shown.isprintable() else shown.encode("unicode_escape").decode("ascii")
        raise InvalidInput("hostname '%s' is not a host name or an http(s) URL of a pool master (%s); "
                           "for example pool-master.example.com or http://127.0.0.1:41234"
                           % (shown, problem), code="INVALID_HOSTNAME")
    return url


def _netloc(url):
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0] or [len(rest)])
    return scheme, sep, rest[:end], rest[end:]


def url_credentials(url):
    """The user information of ``url`` (``user:pw`` of ``http://user:pw@host``), or None."""
    netloc = _netloc(url)[2]
    return netloc.rpartition("@")[0] if "@" in netloc else None


def shown_url(url):
    """``url`` as messages may show it: credentials in it (``http://user:pw@host``) replaced by ***."""
    scheme, sep, netloc, rest = _netloc(url)
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return "%s%s%s%s" % (scheme, sep, netloc, rest)


def check_ca_path(path):
    """Fail naming ``ca_path`` unless it is a file of PEM certificates ssl can load."""
    problem = None
    if not os.path.exists(path):
        problem = "does not exist"
    elif os.path.isdir(path):
        problem = "is a directory; give the PEM file of the CA or the pool's certificate"
    elif os.path.getsize(path) == 0:
        problem = "is empty"
    else:
        try:
            ssl.create_default_context(cafile=path)
        except ssl.SSLError as err:
            problem = "holds no PEM certificate ssl can load (%s)" % (err.reason or err)
        except (OSError, ValueError) as err:
            problem = "cannot be read (%s)" % err
    if problem:
        raise InvalidInput("ca_path '%s' %s" % (path, problem), code="INVALID_CA_PATH")


def _with_scheme(url, scheme):
    """``url`` with ``scheme``, the same host and port (the port the other scheme implied, made explicit)."""
    parts = urlsplit(url)
    netloc = "%s:%d" % (_host_literal(parts.hostname), parts.port or (443 if parts.scheme == "https" else 80))
    return urlunsplit((scheme, netloc, parts.path, "", ""))


def _host_literal(host):
    return "[%s]" % host if ":" in host else host


def _endpoint(url):
    parts = urlsplit(url)
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def answers_plain_http(url, timeout=5.0):
    """Whether the endpoint of ``url`` answers an unencrypted HTTP request with an HTTP reply."""
    host, port = _endpoint(url)
    try:
        with contextlib.closing(socket.create_connection((host, port), timeout)) as sock:
            sock.sendall(b"HEAD / HTTP/1.0\r\nHost: " + _host_literal(host).encode("idna") + b"\r\n\r\n")
            return sock.recv(5) == b"HTTP/"
    except (OSError, UnicodeError):
        return False


def completes_tls_handshake(url, timeout=5.0):
    """Whether the endpoint of ``url`` completes a TLS handshake (its certificate is not judged here)."""
    host, port = _endpoint(url)
    context = ssl._create_unverified_context()  # only asks "does it speak TLS?"; nothing is sent over it
    try:
        with contextlib.closing(socket.create_connection((host, port), timeout)) as sock:
            with contextlib.closing(context.wrap_socket(sock)):
                return True
    except (OSError, UnicodeError):  # ssl.SSLError is an OSError
        return False


def _master_url(url, master_address):
    parts = urlsplit(url)
    netloc = master_address
    if parts.port:
        netloc = "%s:%d" % (master_address, parts.port)
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class _OneTry(object):
    """xmlrpc.client sends a request once more when the connection drops before the answer;
    after a call that was carried out, that repeats it. Here every request is sent once and
    XenServerClient.call decides what may be sent again."""

    def request(self, host, handler, request_body, verbose=False):
        return self.single_request(host, handler, request_body, verbose)


class OneTryTransport(_OneTry, xmlrpclib.Transport):
    pass


class OneTrySafeTransport(_OneTry, xmlrpclib.SafeTransport):
    pass


class _Session(XenAPI.Session if HAS_XENAPI else object):
    """XenAPI.Session that keeps the error code of the last failed answer.

    The SDK answers SESSION_INVALID by logging in again, and after three tries raises an
    xmlrpc Fault that names the case only in its text; ``last_error_code`` is the XenAPI code
    the client decides on instead. A call's success clears it; the SDK's own re-login between
    its tries does not (its Fault follows the last re-login)."""

    last_error_code = None

    def __getattr__(self, name):
        target = super(_Session, self).__getattr__(name)
        # The SDK sends its calls by their dotted names ("VM.get_record"); they answer a
        # {"Status": ...} dict. Anything else (xenapi, handle, session.logout's "session") passes through.
        if "." not in name:
            return target
        login = name.startswith(("session.login", "session.slave_local"))

        def noted(*params):
            answer = target(*params)
            failed = isinstance(answer, dict) and answer.get("Status") != "Success"
            if failed:
                self.last_error_code = (answer.get("ErrorDescription") or [None])[0]
            elif not login:
                self.last_error_code = None
            return answer
        return noted


class XenServerClient(object):
    """A logged-in XenAPI session with waits, retries and error translation."""

    def __init__(self, hostname, username, password, validate_certs=True, ca_path=None,
                 timeout=300.0, retries=3, originator=ORIGINATOR, reconnect_timeout=RECONNECT_TIMEOUT,
                 backoff=0.25, backoff_max=4.0, reuse_session=False):
        if not HAS_XENAPI:
            raise XenServerError("the XenAPI Python SDK is required (pip install XenAPI): %s"
                                 % XENAPI_IMPORT_ERROR, code="MISSING_LIBRARY")
        self.url = build_url(hostname)
        if ca_path is not None:
            check_ca_path(ca_path)
        self.scheme_given = "://" in hostname
        self.username = username
        self.password = password
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.retries = retries
        self.reconnect_timeout = reconnect_timeout
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.originator = originator
        self.session = None
        self._atexit = False
        # reuse_session: the session is shared with the controller's other tasks (_session).
        self.reuse_session = reuse_session
        self._cache = None
        self._cached = None     # the session ref the cache held when this client took it
        # What the client had to do (for a module's result or a report): calls sent again,
        # lost answers resolved by a lookup or a telling error, fresh logins, dropped connections.
        self.retried = 0
        self.recovered = 0
        self.relogins = 0
        self.reconnects = 0

    # --- connection ------------------------------------------------------------------------
    def _transport(self):
        if not self.url.startswith("https"):
            return OneTryTransport()
        if not self.validate_certs:
            context = ssl._create_unverified_context()  # the user asked for it (validate_certs: false)
        else:
            context = ssl.create_default_context(cafile=self.ca_path)
        return OneTrySafeTransport(context=context)

    def _pause(self, attempt):
        """Exponential backoff with jitter: base * 2**attempt, capped, times 0.5..1."""
        delay = min(self.backoff_max, self.backoff * 2 ** attempt)
        time.sleep(delay * (0.5 + random.random() / 2))

    def connect(self):
        """A session: the cached one with ``reuse_session`` (see _session), else a login."""
        if unsafe_text(self.username) is not None:
            raise InvalidInput("username %s holds characters XenAPI cannot carry (control characters and the "
                               "like)" % unsafe_text(self.username))
        if unsafe_text(self.password) is not None:
            raise InvalidInput("the password holds characters XenAPI cannot carry (control characters and "
                               "the like)")
        if self.reuse_session:
            try:
                return self._cached_session()
            except (IOError, OSError):
                # No usable cache directory (a read-only home): a session of this task's own,
                # logged out at its end (the one just made, if the cache failed after the login).
                self.reuse_session = False
                if self.session is not None:
                    return self
        return self._login()

    def _cached_session(self):
        if self._cache is None:
            self._cache = SessionCache(self.url, self.username, self.password)
        with self._cache.locked():
            entry = self._cache.load()
            if entry is None:
                self._login()
                self._cached = self.session._session
                self._cache.store(self._cached, self.url)
                return self
            self._cached, self.url = entry
            session = _Session(self.url, transport=self._transport())
            # The SDK's own attributes: with them it logs in again by itself on SESSION_INVALID.
            session._session = self._cached
            session.last_login_method = "login_with_password"
            session.last_login_params = (self.username, self.password, API_VERSION, self.originator)
            self.session = session
            return self

    def _keep(self, session):
        """Leave the session open for the next task: written back if the SDK had to replace
        the cached one, unless another process wrote a newer one meanwhile (then this one is
        logged out, so one session at most stays open)."""
        current = session._session
        if current == self._cached:
            return
        with self._cache.locked():
            entry = self._cache.load()
            if entry is None or entry[0] == self._cached:
                self._cache.store(current, self.url)
                return
        try:
            session.xenapi.session.logout()
        except Exception:  # gone already: nothing to clean up then
            pass

    def _login(self):
        """Log in; a pool member answers HOST_IS_SLAVE and we go to the master instead.

        A refused or dropped connection (a master that is restarting) and HTTP 502/503/504 are
        tried again until ``reconnect_timeout`` seconds have passed since the first of them; a
        name that does not resolve, a TLS or login failure fail at once.
        """
        hops = refused = 0
        first_failure = None
        while True:
            session = _Session(self.url, transport=self._transport())
            try:
                session.xenapi.login_with_password(self.username, self.password, API_VERSION, self.originator)
            except XenAPI.Failure as failure:
                if failure.details and failure.details[0] == "HOST_IS_SLAVE" and hops < 3:
                    hops += 1
                    self.url = _master_url(self.url, failure.details[1])
                    continue
                if failure.details and failure.details[0] == "HOST_IS_SLAVE":
                    raise XenServerError("HOST_IS_SLAVE redirects did not end at a pool master (last: %s)" % self.where,
                                         code="HOST_IS_SLAVE", params=list(failure.details[1:]))
                raise translate(failure.details, "login to %s" % self.where)
            except ssl.SSLCertVerificationError as err:
                raise XenServerError(
                    "TLS certificate of %s could not be verified (%s): set ca_path to the pool's "
                    "certificate, or validate_certs: false to skip verification" % (self.where, err),
                    code="TLS_CERT_UNVERIFIED")
            except ssl.SSLError as err:
                # Not the certificate: the TLS handshake itself failed. Most often the server
                # does not speak TLS at all (an http endpoint named as https, or a bare host name).
                raise self._wrong_scheme() or XenServerError(
                    "TLS handshake with %s failed (%s)" % (self.where, err.reason or err), code="TLS_FAILED")
            except xmlrpclib.Fault as fault:
                raise XenServerError("login to %s failed: %s" % (self.where, fault.faultString),
                                     code=session.last_error_code or "XMLRPC_FAULT")
            except (socket.gaierror, UnicodeError, ValueError) as err:
                # The name does not resolve (or is no name at all): no retry helps.
                raise XenServerError("cannot reach XenServer at %s: %s" % (self.where, err), code="CONNECTION_FAILED")
            except xmlrpclib.ProtocolError as err:
                first_failure = first_failure or time.time()
                if err.errcode not in HTTP_RETRY or self._spent(first_failure):
                    # 400 Bad Request is what a TLS-only server answers a plain HTTP request with.
                    gave_up = self._gave_up(refused, first_failure)
                    raise (err.errcode == 400 and self._wrong_scheme()) or XenServerError(
                        "login to %s: it answered HTTP %s %s%s" % (self.where, err.errcode, err.errmsg, gave_up),
                        code="HTTP_%s" % err.errcode)
                self._pause(refused)
                refused += 1
                self.reconnects += 1
            # CONNECTION_ERRORS is a tuple of exception classes; pylint cannot see through its imports.
            except CONNECTION_ERRORS as err:  # pylint: disable=catching-non-exception
                # Reset or dropped (not refused, not timed out): maybe the other protocol is spoken
                # there; asked once, at the first failure.
                probe = first_failure is None and not isinstance(err, (ConnectionRefusedError, socket.timeout))
                wrong = probe and self._wrong_scheme()
                if wrong:
                    raise wrong
                first_failure = first_failure or time.time()
                if not self._spent(first_failure):
                    self._pause(refused)
                    refused += 1
                    self.reconnects += 1
                    continue
                raise XenServerError("cannot reach XenServer at %s: %s%s"
                                     % (self.where, err, self._gave_up(refused, first_failure)),
                                     code="CONNECTION_FAILED")
            self.session = session
            if not self._atexit:
                atexit.register(self.logout)
                self._atexit = True
            return self

    def _spent(self, since):
        """Whether the reconnect budget, counted from ``since``, is used up."""
        return time.time() - since >= self.reconnect_timeout

    def _gave_up(self, tries, since):
        return " (gave up after %d tries in %.1f s: reconnect_timeout is %g s)" % (
            tries + 1, time.time() - since, self.reconnect_timeout)

    @property
    def where(self):
        """The pool's URL as messages show it (never with credentials)."""
        return shown_url(self.url)

    def _wrong_scheme(self):
        """The typed error for a login that failed because the endpoint speaks the other protocol
        (https named, plain HTTP spoken, or the converse), found by asking it; else None."""
        if self.url.startswith("https"):
            if not answers_plain_http(self.url):
                return None
            assumed = "" if self.scheme_given else " (a host name without a scheme means https)"
            return XenServerError(
                "%s does not speak TLS%s: it answers plain HTTP, so validate_certs and ca_path do not "
                "help. Use %s, or the port where the pool serves https"
                % (self.where, assumed, _with_scheme(self.url, "http")), code="TLS_NOT_SPOKEN")
        if not completes_tls_handshake(self.url):
            return None
        return XenServerError("%s speaks only TLS, not plain HTTP: use %s" % (self.where, _with_scheme(self.url, "https")),
                              code="TLS_REQUIRED")

    def _relogin(self):
        """A fresh session after the SDK gave up on SESSION_INVALID (the old one is gone)."""
        self.session = None
        self.relogins += 1
        if self.reuse_session:
            with self._cache.locked():
                entry = self._cache.load()
                if entry is not None and entry[0] == self._cached:
                    self._cache.drop()
        self.connect()

    def logout(self):
        """End the session (with ``reuse_session``: leave it to the next task)."""
        session, self.session = self.session, None
        if session is not None and self.reuse_session:
            self._keep(session)
        elif session is not None:
            try:
                session.xenapi.session.logout()
            except Exception:  # the session may be gone already; nothing to clean up then
                pass

    @property
    def api(self):
        if self.session is None:
            self.connect()
        return self.session.xenapi

    # --- calls -------------------------------------------------------------------------------
    def _invoke(self, method, args):
        bad = unsafe_text(args)
        if bad is not None:
            raise InvalidInput("%s: the value %s holds characters XenAPI cannot carry (control characters "
                               "and the like are not allowed in XML)" % (method, bad))
        target = self.api
        for part in method.split("."):
            target = getattr(target, part)
        return target(*args)

    def call(self, method, *args, **kwargs):
        """Call ``Class.method`` (dotted) with the retries described in the module's docstring.

        ``recover``: for a NOT_REPEATABLE call, a function run when the answer was lost that
        returns what the lost call made (then the result of this call), or NOT_DONE if it made
        nothing (then the call is sent again).
        """
        recover = kwargs.get("recover")
        name = method.rsplit(".", 1)[-1]
        repeatable = name not in NOT_REPEATABLE
        transient = dropped = relogins = 0
        lost = False    # an earlier attempt may have been carried out, its answer lost
        first_drop = []     # when the connection first failed: the reconnect budget starts then
        while True:
            try:
                return self._invoke(method, args)
            except XenAPI.Failure as failure:
                details = failure.details or ["UNKNOWN"]
                if lost and self._was_done(method, name, args, details[0]):
                    self.recovered += 1
                    return ""
                if details[0] in TRANSIENT_CODES and transient < self.retries:
                    self._pause(transient)
                    transient += 1
                    self.retried += 1
                    continue
                raise translate(details, method)
            except xmlrpclib.Fault as fault:
                # The SDK re-logs in on SESSION_INVALID three times, then raises a Fault: the code
                # of the answer behind it tells that case from any other.
                code = self.session.last_error_code if self.session is not None else None
                if code == "SESSION_INVALID" and relogins < 2:
                    relogins += 1
                    self.retried += 1
                    self._relogin()
                    continue
                raise XenServerError("%s failed: %s" % (method, fault.faultString), code=code or "XMLRPC_FAULT")
            except ssl.SSLError as err:
                raise XenServerError("%s: TLS failure talking to %s: %s" % (method, self.where, err), code="TLS_FAILED")
            except xmlrpclib.ProtocolError as err:
                if err.errcode not in HTTP_RETRY:
                    # The master answered, with an HTTP error: sending the same again will not help.
                    raise XenServerError("%s: %s answered HTTP %s %s" % (method, self.where, err.errcode, err.errmsg),
                                         code="HTTP_%s" % err.errcode)
                self._dropped(method, err, first_drop, dropped)
                dropped += 1
                if not repeatable:
                    found = self._lost(method, err, recover)
                    if found is not NOT_DONE:
                        return found
                lost = True
                self.retried += 1
            # CONNECTION_ERRORS is a tuple of exception classes; pylint cannot see through its imports.
            except CONNECTION_ERRORS as err:  # pylint: disable=catching-non-exception
                # Refused: the request never left; anything else: it may have been carried out.
                sent = not isinstance(err, ConnectionRefusedError)
                self._dropped(method, err, first_drop, dropped)
                dropped += 1
                if sent and not repeatable:
                    found = self._lost(method, err, recover)
                    if found is not NOT_DONE:
                        return found
                lost = lost or sent
                self.retried += 1

    def _dropped(self, method, err, first_drop, dropped):
        """Give up once the reconnect budget (from this call's first drop) is spent, else pause
        before the next try. A call that waited long before its connection dropped (event.from)
        still gets the whole budget."""
        if not first_drop:
            first_drop.append(time.time())
        if self._spent(first_drop[0]):
            raise XenServerError("%s: connection to %s failed%s: %s"
                                 % (method, self.where, self._gave_up(dropped, first_drop[0]), err),
                                 code="CONNECTION_FAILED")
        self._pause(dropped)
        self.reconnects += 1

    def _lost(self, method, err, recover):
        """What a NOT_REPEATABLE call whose answer was lost made (``recover``), or NOT_DONE."""
        if recover is None:
            raise AnswerLost(
                "%s: the connection to %s dropped before the answer came (%s); the call may have "
                "been carried out, so it is not sent again blindly. Check the pool and run the "
                "task again" % (method, self.where, err))
        found = recover()
        if found is not NOT_DONE:
            self.recovered += 1
        return found

    def _was_done(self, method, name, args, code):
        """Whether a repeat failing with ``code`` shows that the lost first attempt was done."""
        if DONE_ALREADY.get(name) == code:
            return True
        cls = method.rsplit(".", 1)[0]
        try:
            if name.startswith("add_to_") and code == "MAP_DUPLICATE_KEY" and len(args) == 3:
                current = self.call("%s.get_%s" % (cls, name[len("add_to_"):]), args[0])
                return isinstance(current, dict) and current.get(args[1]) == args[2]
            if method == "VBD.insert" and code == "VBD_NOT_EMPTY" and len(args) == 2:
                return self.call("VBD.get_VDI", args[0]) == args[1]
        except XenServerError:
            return False
        return False

    def run_async(self, method, *args, **kwargs):
        """``Async.<method>``, then wait for its task through event.from; returns the result.

        ``recover`` (for NOT_REPEATABLE methods): as for ``call``, but it returns the result
        the task would have had (for example the new VM's ref).
        """
        timeout = kwargs.get("timeout") or self.timeout
        recover = kwargs.get("recover")
        recovered = []

        def recover_result():
            found = recover()
            if found is NOT_DONE:
                return NOT_DONE
            recovered.append(found)
            return None

        for attempt in range(self.retries + 1):
            task = self.call("Async." + method, *args, recover=recover_result if recover else None)
            if recovered:
                return recovered[0]
            try:
                record = self.wait_for("task", task, lambda t: t["status"] != "pending", timeout,
                                       what="%s to finish" % method)
            except XenServerError as err:
                if err.code != "TASK_LOST":
                    # Timed out: cancel, so the operation does not go on behind the user's back.
                    self._cancel_task(task)
                raise
            finally:
                self._forget_task(task)
            if record["status"] == "success":
                return parse_task_result(record.get("result", ""))
            details = record.get("error_info") or ["TASK_FAILED", record["status"]]
            if details[0] not in TRANSIENT_CODES or attempt == self.retries:
                raise translate(details, method)
            # The task was refused before it acted (another operation ran): a new one may go.
            self._pause(attempt)
            self.retried += 1

    def _cancel_task(self, task):
        try:
            self.api.task.cancel(task)
        except Exception:  # it may have finished meanwhile; destroying it follows anyway
            pass

    def _forget_task(self, task):
        try:
            self.api.task.destroy(task)
        except Exception:  # the pool garbage-collects finished tasks anyway
            pass

    def wait_for(self, cls, ref, done, timeout, what=None):
        """Block on event.from until ``done(record)`` holds; returns the record.

        The first call (empty token) returns the object's current state, so a condition that
        already holds costs one call; after that each call returns only when the object changes.
        After a dropped connection (the master may have restarted: tasks do not survive that)
        or EVENTS_LOST the object is read directly; if it is gone the wait fails at once,
        with the code TASK_LOST for a task.
        """
        deadline = time.time() + timeout
        token = ""
        subscription = ["%s/%s" % (cls.lower(), ref)]
        seen = self.reconnects
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise WaitTimeout("timed out after %gs waiting for %s" % (timeout, what or "%s %s" % (cls, ref)))
            lost_events = False
            try:
                batch = self.call("event_from", subscription, token, min(remaining, 60.0))
            except XenServerError as err:
                if err.code != "EVENTS_LOST":
                    raise
                batch, lost_events = {"token": "", "events": []}, True
            if lost_events or self.reconnects != seen:
                seen = self.reconnects
                record = self._reread(cls, ref, what)
                if done(record):
                    return record
            token = batch["token"]
            for event in batch["events"]:
                if event.get("operation") == "del" and event.get("ref") == ref:
                    raise self._gone(cls, ref, what)
                snapshot = event.get("snapshot")
                if event.get("ref") == ref and snapshot is not None and done(snapshot):
                    return snapshot

    def _reread(self, cls, ref, what):
        try:
            return self.call("%s.get_record" % API_CLASSES.get(cls.lower(), cls), ref)
        except XenServerError as err:
            if err.code == "HANDLE_INVALID":
                raise self._gone(cls, ref, what)
            raise

    @staticmethod
    def _gone(kind, ref, what):
        if kind.lower() == "task":
            return Gone("the task for %s is gone (the pool master may have restarted); "
                        "whether it finished is not known" % what, code="TASK_LOST")
        return Gone("%s %s was removed while waiting for %s" % (kind, ref, what))


def unsafe_text(value):
    """The first string in ``value`` (nested) XML cannot carry, shown escaped; else None."""
    if isinstance(value, str):
        if XML_UNSAFE.search(value):
            shown = value if len(value) <= 80 else value[:80] + "..."
            return "'%s'" % shown.encode("unicode_escape").decode("ascii")
        return None
    items = value.items() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        found = unsafe_text(item)
        if found is not None:
            return found
    return None


def find_created(client, cls, expr, keep=None, what=None):
    """A ``recover`` lookup for ``cls``.create whose answer was lost: the one record matching
    the where-expression ``expr`` (and ``keep(record)``), or NOT_DONE if there is none."""
    def find():
        found = [ref for ref, record in client.call("%s.get_all_records_where" % cls, expr).items()
                 if keep is None or keep(record)]
        if len(found) > 1:
            raise AnswerLost("the answer to %s.create was lost and %d %ss now match (%s); check them and "
                             "run again" % (cls, len(found), cls, what or expr))
        return found[0] if found else NOT_DONE
    return find


def parse_task_result(text):
    """A task's result is an XML-RPC <value> fragment (e.g. <value>OpaqueRef:..</value>)."""
    if not text:
        return None
    try:
        return xmlrpclib.loads("<params><param>%s</param></params>" % text)[0][0]
    except Exception:  # not XML-RPC after all: hand back the raw text
        return text
