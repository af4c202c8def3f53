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
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import atexit
import socket
import ssl
import time

try:
    from urllib.parse import urlsplit, urlunsplit
    import xmlrpc.client as xmlrpclib
except ImportError:  # pragma: no cover - Python 2 is not supported, keep sanity's import test happy
    from urlparse import urlsplit, urlunsplit  # type: ignore
    import xmlrpclib  # type: ignore

try:
    import XenAPI
    HAS_XENAPI = True
    XENAPI_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - reported by the module as a missing library
    XenAPI = None
    HAS_XENAPI = False
    XENAPI_IMPORT_ERROR = exc

NULL_REF = "OpaqueRef:NULL"
ORIGINATOR = "xenserver.provisioning"
# Errors after which the same call may simply be made again.
TRANSIENT_CODES = frozenset(["OTHER_OPERATION_IN_PROGRESS", "HOST_STILL_BOOTING", "TOO_MANY_PENDING_TASKS"])
# Calls that create something: if their answer is lost they must not be blindly repeated.
NOT_REPEATABLE = ("clone", "copy", "create", "provision", "snapshot", "import")

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
}


class XenServerError(Exception):
    """A failure a person can act on: the XenAPI code, its parameters and a hint."""

    def __init__(self, message, code=None, params=None):
        super(XenServerError, self).__init__(message)
        self.code = code
        self.params = list(params or [])


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
    """A bare host name means https; a URL keeps its scheme and port."""
    if "://" not in hostname:
        return "https://%s" % hostname
    return hostname.rstrip("/")


def _master_url(url, master_address):
    parts = urlsplit(url)
    netloc = master_address
    if parts.port:
        netloc = "%s:%d" % (master_address, parts.port)
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class XenServerClient(object):
    """A logged-in XenAPI session with waits, retries and error translation."""

    def __init__(self, hostname, username, password, validate_certs=True, ca_path=None,
                 timeout=300.0, retries=3, originator=ORIGINATOR):
        if not HAS_XENAPI:
            raise XenServerError("the XenAPI Python SDK is required (pip install XenAPI): %s"
                                 % XENAPI_IMPORT_ERROR)
        self.url = build_url(hostname)
        self.username = username
        self.password = password
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.timeout = timeout
        self.retries = retries
        self.originator = originator
        self.session = None
        self.retried = 0

    # --- connection ------------------------------------------------------------------------
    def _transport(self):
        if not self.url.startswith("https"):
            return None
        if not self.validate_certs:
            context = ssl._create_unverified_context()  # the user asked for it (validate_certs: false)
        else:
            context = ssl.create_default_context(cafile=self.ca_path)
        return xmlrpclib.SafeTransport(context=context)

    def connect(self):
        """Log in; a pool member answers HOST_IS_SLAVE and we go to the master instead."""
        for _hop in range(3):
            session = XenAPI.Session(self.url, transport=self._transport())
            try:
                session.xenapi.login_with_password(self.username, self.password, "2.21", self.originator)
            except XenAPI.Failure as failure:
                if failure.details and failure.details[0] == "HOST_IS_SLAVE":
                    self.url = _master_url(self.url, failure.details[1])
                    continue
                raise translate(failure.details, "login to %s" % self.url)
            except ssl.SSLError as err:
                raise XenServerError(
                    "TLS certificate of %s could not be verified (%s): set ca_path to the pool's "
                    "certificate, or validate_certs: false to skip verification" % (self.url, err))
            except (socket.error, OSError, xmlrpclib.ProtocolError) as err:
                raise XenServerError("cannot reach XenServer at %s: %s" % (self.url, err))
            self.session = session
            atexit.register(self.logout)
            return self
        raise XenServerError("HOST_IS_SLAVE redirects did not end at a pool master (last: %s)" % self.url)

    def logout(self):
        session, self.session = self.session, None
        if session is not None:
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
    def call(self, method, *args):
        """Call ``Class.method`` (dotted) with retries for transient faults only."""
        attempt = 0
        while True:
            target = self.api
            for part in method.split("."):
                target = getattr(target, part)
            try:
                return target(*args)
            except XenAPI.Failure as failure:
                code = failure.details[0] if failure.details else ""
                if code in TRANSIENT_CODES and attempt < self.retries:
                    attempt += 1
                    self.retried += 1
                    time.sleep(min(0.2 * 2 ** attempt, 5.0))
                    continue
                raise translate(failure.details, method)
            except (socket.error, xmlrpclib.ProtocolError, OSError) as err:
                repeatable = method.rsplit(".", 1)[-1] not in NOT_REPEATABLE
                if repeatable and attempt < self.retries:
                    attempt += 1
                    self.retried += 1
                    time.sleep(min(0.2 * 2 ** attempt, 5.0))
                    continue
                raise XenServerError("%s: connection to %s failed: %s" % (method, self.url, err))

    def run_async(self, method, *args, **kwargs):
        """``Async.<method>``, then wait for its task through event.from; returns the result."""
        timeout = kwargs.get("timeout") or self.timeout
        task = self.call("Async." + method, *args)
        try:
            record = self.wait_for("task", task, lambda t: t["status"] != "pending", timeout,
                                   what="%s to finish" % method)
        except XenServerError:
            # Timed out: cancel, so the operation does not go on behind the user's back.
            self._cancel_task(task)
            raise
        finally:
            self._forget_task(task)
        if record["status"] == "success":
            return parse_task_result(record.get("result", ""))
        raise translate(record.get("error_info") or ["TASK_FAILED", record["status"]], method)

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
        """
        deadline = time.time() + timeout
        token = ""
        subscription = ["%s/%s" % (cls.lower(), ref)]
        while True:
            remaining = deadline - time.time()
            if remaining <= 0:
                raise XenServerError("timed out after %gs waiting for %s" % (timeout, what or "%s %s" % (cls, ref)))
            batch = self.call("event_from", subscription, token, min(remaining, 60.0))
            token = batch["token"]
            for event in batch["events"]:
                if event.get("operation") == "del" and event.get("ref") == ref:
                    raise XenServerError("%s %s was removed while waiting for %s" % (cls, ref, what))
                snapshot = event.get("snapshot")
                if event.get("ref") == ref and snapshot is not None and done(snapshot):
                    return snapshot


def parse_task_result(text):
    """A task's result is an XML-RPC <value> fragment (e.g. <value>OpaqueRef:..</value>)."""
    if not text:
        return None
    try:
        return xmlrpclib.loads("<params><param>%s</param></params>" % text)[0][0]
    except Exception:  # not XML-RPC after all: hand back the raw text
        return text
