# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""The thin layer between AnsibleModule and the client: connect, run, report.

A module declares its own options, builds a ``ChangeSet`` by comparing what is with what was
asked, and applies it unless in check mode. ``changed``, ``diff`` and ``changes`` in the
result all come from that one ChangeSet.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    from ansible.module_utils.errors import NoLogError
except ImportError:  # pragma: no cover - very old ansible-core
    NoLogError = ()

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    HAS_XENAPI,
    MAX_RECONNECT_TIMEOUT,
    InvalidInput,
    XENAPI_IMPORT_ERROR,
    XenServerClient,
    XenServerError,
    unsafe_text,
    url_credentials,
)
from ansible_collections.xenserver.provisioning.plugins.module_utils._spec import (
    connection_argument_spec,
    vm_identity_argument_spec,
)


# error_code of a failure that is no XenServerError: options refused, a library missing, a bug of ours.
INVALID_INPUT = InvalidInput.CODE
MISSING_LIBRARY = "MISSING_LIBRARY"
UNEXPECTED_ERROR = "UNEXPECTED_ERROR"


def new_client(p):
    """A client (not connected yet) for the connection options in ``p``."""
    return XenServerClient(p["hostname"], p["username"], p["password"] or "", validate_certs=p["validate_certs"],
                           ca_path=p["ca_path"], reconnect_timeout=p["reconnect_timeout"],
                           reuse_session=p["reuse_session"])


class ChangeSet(object):
    """Fields that differ: before/after for the diff, plus what needs the VM halted."""

    def __init__(self):
        self.before = {}
        self.after = {}
        self.needs_halt = []
        self.actions = []

    def compare(self, name, current, wanted, needs_halt=False):
        """Record a change of ``name`` if ``wanted`` (not None) differs from ``current``."""
        if wanted is None or current == wanted:
            return False
        self.before[name] = current
        self.after[name] = wanted
        if needs_halt:
            self.needs_halt.append(name)
        return True

    def action(self, text):
        """A change that is not a field (create, destroy, power change)."""
        self.actions.append(text)

    def __contains__(self, name):
        return name in self.after

    @property
    def changed(self):
        return bool(self.after or self.actions)

    def diff(self):
        return {"before": dict(self.before), "after": dict(self.after)}

    def summary(self):
        return {"fields": sorted(self.after), "actions": list(self.actions),
                "needs_halt": sorted(self.needs_halt)}


class _AnsibleModule(AnsibleModule):
    """AnsibleModule that keeps no_log values (the password) out of every result.

    ansible-core (2.18, 2.19) collects no_log values in one pass over the options; when a
    list-of-dicts option gets an element that is not a dict (``networks: xenbr0``) that pass
    raises, the whole set is lost, and the failure's ``invocation`` showed the password in
    clear text. Here every no_log option's value is censored before any result goes out, and
    such a failure names the option instead of only saying "dictionary requested".

    Ansible's own checks of the options (types, choices, required), made while the module is
    built, fail with ``error_code`` INVALID_INPUT like the modules' checks.
    """

    _checking_options = False

    def __init__(self, *args, **kwargs):
        self._checking_options = True
        super(_AnsibleModule, self).__init__(*args, **kwargs)
        self._checking_options = False

    def _censor(self):
        for name, option in self.argument_spec.items():
            value = self.params.get(name) if option.get("no_log") else None
            if isinstance(value, str) and value:
                self.no_log_values.add(value)

    def fail_json(self, msg, **kwargs):
        if self._checking_options:
            kwargs.setdefault("error_code", INVALID_INPUT)
        self._censor()
        result = getattr(self, "validation_result", None)
        if result is not None and NoLogError and result.error_messages and isinstance(result.errors.errors[0], NoLogError):
            messages = [m for m in result.error_messages if m]
            msg = "; ".join(sorted(set(messages), key=messages.index))
        super(_AnsibleModule, self).fail_json(msg=msg, **kwargs)

    def exit_json(self, **kwargs):
        self._censor()
        super(_AnsibleModule, self).exit_json(**kwargs)


def xml_unsafe_option(spec, params, prefix=""):
    """A message naming the first option whose value holds characters XML-RPC cannot carry
    (control characters and the like), or None. A no_log option's value is not shown."""
    for name, value in sorted((params or {}).items()):
        option = spec.get(name) or {}
        label = prefix + name
        sub = option.get("options")
        found = None
        if sub and isinstance(value, dict):
            found = xml_unsafe_option(sub, value, label + ".")
        elif sub and isinstance(value, list):
            for index, item in enumerate(value):
                found = xml_unsafe_option(sub, item, "%s[%d]." % (label, index)) if isinstance(item, dict) else None
                if found:
                    break
        else:
            where = _unsafe_path(value, label)
            if where is not None:
                found = "%s: %s holds characters XenAPI cannot carry (control characters and the like are not " \
                        "allowed)" % (where[0], "the value" if option.get("no_log") else "the value %s" % where[1])
        if found:
            return found
    return None


def _unsafe_path(value, label):
    """(path, shown value) of the first string XML cannot carry in ``value``, or None."""
    if isinstance(value, dict):
        for key, item in sorted(value.items(), key=lambda kv: str(kv[0])):
            if unsafe_text(key) is not None:
                return "%s (a key)" % label, unsafe_text(key)
            found = _unsafe_path(item, "%s.%s" % (label, key))
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _unsafe_path(item, "%s[%d]" % (label, index))
            if found:
                return found
        return None
    shown = unsafe_text(value)
    return (label, shown) if shown is not None else None


class XenServerModule(object):
    """An AnsibleModule with the connection options and a lazily connected client."""

    def __init__(self, argument_spec, identifies_vm=False, **kwargs):
        """``identifies_vm``: the module acts on one existing VM named by ``name`` or ``uuid``."""
        spec = connection_argument_spec()
        if identifies_vm:
            spec.update(vm_identity_argument_spec())
            kwargs["mutually_exclusive"] = [("name", "uuid")] + list(kwargs.get("mutually_exclusive", []))
            kwargs["required_one_of"] = [("name", "uuid")] + list(kwargs.get("required_one_of", []))
        spec.update(argument_spec)
        kwargs.setdefault("supports_check_mode", True)
        self.module = _AnsibleModule(argument_spec=spec, **kwargs)
        self.params = self.module.params
        self.check_mode = self.module.check_mode
        self._client = None
        if not HAS_XENAPI:
            self.module.fail_json(msg=missing_required_lib("XenAPI"), exception=str(XENAPI_IMPORT_ERROR),
                                  error_code=MISSING_LIBRARY)
        if not self.params["hostname"]:
            self.fail("hostname is required: set it or the XENSERVER_HOST environment variable",
                      error_code=INVALID_INPUT)
        userinfo = url_credentials(self.params["hostname"])
        if userinfo:
            # The client refuses such a hostname; its secret must not show in the invocation either.
            self.module.no_log_values.update(v for v in (userinfo, userinfo.partition(":")[2]) if v)
        timeout = self.params["reconnect_timeout"]
        if not 0 < timeout <= MAX_RECONNECT_TIMEOUT:
            self.fail("reconnect_timeout must be a number of seconds above 0 and at most %d, got %s"
                      % (MAX_RECONNECT_TIMEOUT, timeout), error_code=INVALID_INPUT)
        unsafe = xml_unsafe_option(self.module.argument_spec, self.params)
        if unsafe:
            self.fail(unsafe, error_code=INVALID_INPUT)
        if not self.params["validate_certs"] and not self.params["hostname"].startswith("http://"):   # a bare name is https
            self.module.warn("validate_certs is false: the pool's TLS certificate is not verified")

    @property
    def client(self):
        if self._client is None:
            self._client = new_client(self.params)
            self._client.connect()
        return self._client

    def fail(self, msg, error_code=None, **extra):
        """Fail with ``msg``; the result always has an ``error_code`` (roles decide on it).

        Without ``error_code``: the code of the XenServerError being handled, if any (a caller
        that reports ``str(err)``), else INVALID_INPUT (the module refused its options)."""
        if error_code is None:
            handled = sys.exc_info()[1]
            if isinstance(handled, XenServerError):
                error_code = handled.code
                extra.setdefault("error_params", handled.params)
            else:
                error_code = INVALID_INPUT
        self.close()
        self.module.fail_json(msg=msg, error_code=error_code, **extra)

    def close(self):
        if self._client is not None:
            self._client.logout()
            self._client = None

    def run(self, body):
        """Run ``body(self)`` -> result dict; XenAPI failures become a clear ``failed``."""
        try:
            result = body(self)
        except XenServerError as err:
            self.fail(str(err), error_code=err.code, error_params=err.params)
        except Exception as err:  # a bug of ours: still no bare traceback for the user
            self.fail("unexpected error: %s" % err, error_code=UNEXPECTED_ERROR, exception=traceback.format_exc())
        self.close()
        self.module.exit_json(**result)

    def result(self, changes, **values):
        """The standard result: changed, diff (when asked), changes, plus module values."""
        result = dict(changed=changes.changed, changes=changes.summary())
        if self.module._diff:
            result["diff"] = changes.diff()
        result.update(values)
        return result
