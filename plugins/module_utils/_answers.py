# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""The values an answer file (kickstart, AutoYaST) is rendered from: the one place they are checked.

A kickstart is read line by line and each line split like a shell's (pykickstart, anaconda), so a
line break in any value starts a new command or section (``%pre``: a script run as root), and a
blank starts a new option; AutoYaST is XML (escaped by its template). So every value is checked
here for what it is: the VM's name (printable, it is only in a comment), root's password as exactly
one crypt(3) hash, package and group names, a tz database zone name, an RFC 1123 host name. A bad
value raises AnswerError naming it, before anything changes on the pool.

Also the answer file's digest: a SHA-256 of what it says (the values, the static network and the
repository, never the template's text), recorded on the VM when its installer starts and compared
by the role's verify step, so a VM installed from another VM's answer file, or from other inputs
than the current ones, is told apart on a real pool, where the installed system is not readable.

Nothing here imports Ansible, so tests can load it as is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re
import unicodedata

# crypt(3) hashes as glibc and libxcrypt write them: MD5 ($1$, salt up to 8), SHA-256 ($5$) and
# SHA-512 ($6$) with an optional rounds= (salt up to 16), bcrypt ($2a$/$2b$/$2y$, cost, 22 + 31),
# yescrypt ($y$ params $ salt $ 43). The alphabet is crypt's base64: ./0-9A-Za-z.
_B64 = "[./0-9A-Za-z]"
CRYPT_HASH = re.compile(
    r"^(?:\$1\$%(b)s{1,8}\$%(b)s{22}"
    r"|\$5\$(?:rounds=[0-9]{1,9}\$)?%(b)s{1,16}\$%(b)s{43}"
    r"|\$6\$(?:rounds=[0-9]{1,9}\$)?%(b)s{1,16}\$%(b)s{86}"
    r"|\$2[aby]\$[0-9]{2}\$%(b)s{53}"
    r"|\$y\$%(b)s+\$%(b)s{1,86}\$%(b)s{43})$" % {"b": _B64})
CRYPT_FORMS = "$1$salt$hash (MD5), $5$ (SHA-256), $6$ (SHA-512), $2b$ (bcrypt) or $y$ (yescrypt), as `openssl passwd -6` writes"
# A package, or with @ a group (@^ an environment), with - one to leave out: RPM's name alphabet
# (and a shell-style * as kickstart's %packages takes it), no blanks.
_PACKAGE = re.compile(r"^(?:-|@\^?)?[A-Za-z0-9_+*][A-Za-z0-9._+*-]{0,199}$")
# A tz database name: Area/Location components of letters, digits, '.', '_', '+', '-' (not first).
_ZONE_PART = r"[A-Za-z0-9_][A-Za-z0-9._+-]{0,63}"
_TIMEZONE = re.compile(r"^%s(?:/%s){0,3}$" % (_ZONE_PART, _ZONE_PART))
# (Each is used with fullmatch: "$" alone would let a trailing line break through.)
# RFC 1123: labels of letters, digits and '-' (not first or last), 1-63 long, 253 in all.
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
NAME_MAX = 255


class AnswerError(ValueError):
    """A value that cannot go into an answer file as it is."""


def _shown(value):
    """A value as a message shows it: JSON-quoted, so a line break reads as \\n."""
    return json.dumps(value, ensure_ascii=False)


def hostname_problem(name):
    """Why ``name`` is not an RFC 1123 host name, or None."""
    if not isinstance(name, str) or not name or len(name) > 253:
        return "is not a host name (1 to 253 characters)"
    bad = [label for label in name.split(".") if not _LABEL.fullmatch(label)]
    if bad:
        return ("is not an RFC 1123 host name: label %s is not 1-63 letters, digits and '-' "
                "(not first or last)" % _shown(bad[0]))
    return None


def hostname_of(vm_name):
    """The guest's host name made from its VM name: characters a host name cannot have become
    '-', labels are cut to 63; None if nothing usable is left."""
    labels = []
    for label in re.sub(r"[^A-Za-z0-9.-]", "-", vm_name).split("."):
        label = label.strip("-")[:63].rstrip("-")
        if label:
            labels.append(label)
    name = ".".join(labels)[:253].strip(".-")
    return name if name and hostname_problem(name) is None else None


def _control_characters(text):
    """The characters of ``text`` that are not printable on one line (C0/C1 controls, line and
    paragraph separators, format characters such as bidi overrides)."""
    return sorted(set(c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")))


def answer_values(name, root_password_hash, packages=None, timezone="UTC", hostname=None,
                  network=None, repository=None):
    """Check what an answer file says; returns {name, hostname, packages, timezone, digest}.

    ``hostname`` is the network input's (checked by _profiles.network), else one is made from the
    VM's name. ``network`` (_profiles.network's result) and ``repository`` only count for the
    digest. The hash itself is not returned. Raises AnswerError naming every bad value (the hash
    by its form only: it is a secret).
    """
    problems = []
    if not isinstance(name, str) or not name.strip():
        problems.append("VM name %s is empty" % _shown(name))
    elif len(name) > NAME_MAX:
        problems.append("VM name is %d characters long (at most %d)" % (len(name), NAME_MAX))
    elif _control_characters(name):
        problems.append("VM name %s holds a line break or control character (%s)"
                        % (_shown(name), ", ".join("U+%04X" % ord(c) for c in _control_characters(name))))
    if not isinstance(root_password_hash, str) or not CRYPT_HASH.fullmatch(root_password_hash):
        shape = "holds a blank or line break" if isinstance(root_password_hash, str) and re.search(
            r"\s", root_password_hash) else "is not one"
        problems.append("root password hash %s crypt(3) hash: give exactly one, %s" % (shape, CRYPT_FORMS))
    packages = list(packages or [])
    for package in packages:
        if not isinstance(package, str) or not _PACKAGE.fullmatch(package):
            problems.append("package %s is not a package name (-name to leave one out, @group, @^environment; "
                            "letters, digits and ._+-*, no blanks)" % _shown(package))
    if not isinstance(timezone, str) or not _TIMEZONE.fullmatch(timezone):
        problems.append("time zone %s is not a tz database name (UTC, Europe/Berlin, America/New_York)"
                        % _shown(timezone))
    if hostname is None and not problems:
        hostname = hostname_of(name)
        if hostname is None:
            problems.append("VM name %s makes no host name: give network.hostname" % _shown(name))
    elif hostname is not None and hostname_problem(hostname):
        problems.append("host name %s %s" % (_shown(hostname), hostname_problem(hostname)))
    if problems:
        raise AnswerError("answer file: " + "; ".join(problems))
    said = {"name": name, "hostname": hostname, "packages": packages, "timezone": timezone,
            "root_password_hash": root_password_hash, "network": network, "repository": repository}
    digest = hashlib.sha256(json.dumps(said, sort_keys=True, ensure_ascii=True).encode("ascii")).hexdigest()
    return {"name": name, "hostname": hostname, "packages": packages, "timezone": timezone,
            "digest": "sha256:" + digest}
