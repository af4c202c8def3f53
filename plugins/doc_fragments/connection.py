# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options shared by every module of the collection.
    DOCUMENTATION = r"""
options:
  hostname:
    description:
      - The pool master (or any pool member; the module follows C(HOST_IS_SLAVE) to the master).
      - A bare host name means C(https://<hostname>); a URL keeps its scheme and port,
        for example C(http://127.0.0.1:41234) for a test server on this machine.
      - A URL with credentials (C(http://user:password@host)) is refused; give them as O(username) and
        O(password). They are kept out of the task's result.
      - If not set, the environment variable E(XENSERVER_HOST) is used; one of the two is required.
    type: str
    aliases: [host, pool]
  username:
    description:
      - The user to log in as.
      - If not set, the environment variable E(XENSERVER_USER) is used.
    type: str
    default: root
    aliases: [user, admin]
  password:
    description:
      - The user's password.
      - If not set, the environment variable E(XENSERVER_PASSWORD) is used.
    type: str
    aliases: [pass, pwd]
  validate_certs:
    description:
      - Verify the pool's TLS certificate.
      - Set to V(false) only for a pool with a self-signed certificate you cannot get hold of;
        prefer O(ca_path).
      - If not set, the environment variable E(XENSERVER_VALIDATE_CERTS) is used.
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file with the CA (or the pool's own self-signed certificate) to trust.
      - A path that is missing, a directory, empty or holds no PEM certificate fails the task, naming it.
      - If not set, the environment variable E(XENSERVER_CA_PATH) is used.
    type: path
  reconnect_timeout:
    description:
      - How long, in seconds, a login or a call keeps trying to reach the pool when connections are
        refused or dropped (a pool master restarting), counted from the first failure; each login and
        each call has its own budget. Then the task fails with C(CONNECTION_FAILED), naming it.
      - At most 86400.
      - If not set, the environment variable E(XENSERVER_RECONNECT_TIMEOUT) is used.
    type: float
    default: 120
  reuse_session:
    description:
      - Share one XenAPI session among the tasks run on this machine (forks included) instead of
        a login and a logout per task. The first task logs in and leaves its session in a file
        only its user can read (mode 0600, under E(XDG_RUNTIME_DIR) when set, else
        C(~/.ansible/xenserver.provisioning/sessions); E(XENSERVER_SESSION_CACHE) names another
        directory), keyed by a hash of the pool's URL, the user name and the password. Tasks
        after it use that session; one the pool no longer knows (it restarted, or the session was
        logged out) is replaced by a new login. Logins are made under a file lock, so at most one
        session per pool, user and password stays open, and stays open after the play. A
        directory another user owns, or others can read, is not used (the task then logs in and
        out on its own).
      - V(false) logs in and out in every task, as a stateless client does (two calls more per task).
      - If not set, the environment variable E(XENSERVER_REUSE_SESSION) is used.
    type: bool
    default: true
requirements:
  - XenAPI (the official XenServer SDK, C(pip install XenAPI))
notes:
  - All modules of this collection are in the action group C(xenserver.provisioning.xenserver),
    so connection options can be set once with C(module_defaults).
"""

    # The same connection options for plugins (the inventory plugin): plugins read their options
    # from their configuration file, falling back to the environment through env: entries.
    PLUGINS = r"""
options:
  hostname:
    description:
      - The pool master (or any pool member; the plugin follows C(HOST_IS_SLAVE) to the master).
      - A bare host name means C(https://<hostname>); a URL keeps its scheme and port,
        for example C(http://127.0.0.1:41234) for a test server on this machine.
      - Required, from the configuration file or the environment.
    type: str
    aliases: [host, pool]
    env:
      - name: XENSERVER_HOST
  username:
    description:
      - The user to log in as. A C(read-only) role is enough.
    type: str
    default: root
    aliases: [user, admin]
    env:
      - name: XENSERVER_USER
  password:
    description:
      - The user's password.
      - Prefer the environment variable (or a vaulted value) to a password in clear text
        in the configuration file.
    type: str
    secret: true
    aliases: [pass, pwd]
    env:
      - name: XENSERVER_PASSWORD
  validate_certs:
    description:
      - Verify the pool's TLS certificate.
      - Set to V(false) only for a pool with a self-signed certificate you cannot get hold of;
        prefer O(ca_path). V(false) warns.
      - A boolean (V(true), V(false), V(yes), V(no), V(1), V(0), ...); anything else fails, naming it,
        so that a typo never turns verification off.
    type: raw
    default: true
    env:
      - name: XENSERVER_VALIDATE_CERTS
  ca_path:
    description:
      - A PEM file with the CA (or the pool's own self-signed certificate) to trust.
    type: path
    env:
      - name: XENSERVER_CA_PATH
  reconnect_timeout:
    description:
      - How long, in seconds, a login or a call keeps trying to reach the pool when connections are
        refused or dropped (a pool master restarting), counted from the first failure.
      - At most 86400.
    type: float
    default: 120
    env:
      - name: XENSERVER_RECONNECT_TIMEOUT
requirements:
  - XenAPI (the official XenServer SDK, C(pip install XenAPI))
"""
