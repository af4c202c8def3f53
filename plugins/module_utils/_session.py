# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""One XenAPI session shared by the tasks of a controller (``reuse_session``).

Every Ansible task is a process of its own, so each used to log in and out: two calls per
task, and a login is slow where the pool authenticates against a directory (AD) or fails
a wrong password only after 5 s (xapi_session.ml). With reuse, the first task logs in and
keeps its session in a file; the tasks after it, forks included, use that session and log
out nothing. A session xapi no longer knows (SESSION_INVALID: the pool restarted, or it
was logged out elsewhere) is replaced by a fresh login, written back for the next task.

The file holds a bearer credential: it lives in a directory only its user can read (mode
0700, the file 0600), under $XDG_RUNTIME_DIR (a per-user tmpfs, gone at logout) when there
is one, else ~/.ansible/xenserver.provisioning/sessions; XENSERVER_SESSION_CACHE names
another directory. Its name is a hash of the pool's URL, the user name and the password,
so another password (or user, or pool) never gets this session. Logins happen under an
exclusive lock (flock) on the entry, so ten forks starting at once make one login, not
ten, and at most one session per entry is left open.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import fcntl
import hashlib
import json
import os

CACHE_ENV = "XENSERVER_SESSION_CACHE"


def cache_dir():
    """The directory of the cache (created 0700 when missing)."""
    path = os.environ.get(CACHE_ENV)
    if not path:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime and os.path.isdir(runtime):
            path = os.path.join(runtime, "xenserver.provisioning-sessions")
        else:
            path = os.path.join(os.path.expanduser("~"), ".ansible", "xenserver.provisioning", "sessions")
    if not os.path.isdir(path):
        try:
            os.makedirs(path, mode=0o700)
        except OSError:     # made by another fork at the same time
            if not os.path.isdir(path):
                raise
    status = os.stat(path)
    if status.st_uid != os.getuid() or status.st_mode & 0o077:
        # Another user's, or readable by others: no session is kept there (the caller then
        # uses a session of its own).
        raise OSError("%s is not a directory only this user can use" % path)
    return path


class SessionCache(object):
    """The cached session of one (pool URL, user name, password)."""

    def __init__(self, url, username, password):
        digest = hashlib.sha256("\0".join((url, username, password)).encode("utf-8")).hexdigest()
        self.path = os.path.join(cache_dir(), digest[:32])

    @contextlib.contextmanager
    def locked(self):
        """Held while an entry is read and a login made or written, across processes."""
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self
        finally:
            os.close(fd)    # closing releases the lock

    def load(self):
        """(session ref, master URL) cached, or None."""
        try:
            with open(self.path) as handle:
                entry = json.load(handle)
        except (IOError, OSError, ValueError):
            return None
        if not isinstance(entry, dict) or not entry.get("session") or not entry.get("url"):
            return None
        return entry["session"], entry["url"]

    def store(self, session, url):
        temporary = "%s.%d" % (self.path, os.getpid())
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({"session": session, "url": url}, handle)
        os.rename(temporary, self.path)     # atomic: a reader sees the old entry or the new one

    def drop(self):
        try:
            os.remove(self.path)
        except OSError:
            pass
