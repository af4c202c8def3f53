# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: this plugin_util is internal to xenserver.provisioning; it is not a public API
# and may change without notice.

"""Marking data read from a pool as unsafe, so that Ansible never evaluates a template in it.

A VM's name, tags, vm-data or other_config are written by whoever may change VMs; a
"{{ lookup('pipe', ...) }}" there must reach playbooks as text. Only strings that contain
a brace can hold a template, so only those are wrapped (``wrap_var``): ansible-core before
2.19 then prints every other value as it is (``ansible-inventory --list`` shows wrapped
strings as {"__ansible_unsafe": ...}). From 2.19 on, data from plugins is untrusted anyway
(data tagging) and wrapping removes any trust a value might carry.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping, Set

from ansible.utils.unsafe_proxy import wrap_var


def _may_hold_template(text):
    braces = (b"{", b"}") if isinstance(text, bytes) else ("{", "}")
    return braces[0] in text or braces[1] in text


def make_unsafe(value):
    """``value`` (dicts, lists, sets, tuples nested) with every string holding a brace unsafe."""
    if isinstance(value, Mapping):
        return dict((make_unsafe(key), make_unsafe(item)) for key, item in value.items())
    if isinstance(value, Set):
        return set(make_unsafe(item) for item in value)
    if isinstance(value, (list, tuple)):
        return type(value)(make_unsafe(item) for item in value)
    if isinstance(value, (str, bytes)) and _may_hold_template(value):
        return wrap_var(value)
    return value
