#!/usr/bin/env python
# Copyright: Contributors to the xenserver.provisioning collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Offline stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test bootstraps pip into every virtual environment it creates (sanity venvs,
``--venv``) with a get-pip.py that it downloads from ci-files.testing.ansible.com, a host
these machines cannot reach.  scripts/ansible-test.py copies this file to
``~/.ansible/test/cache/get_pip_<version>.py`` before ansible-test runs, so the download
is skipped.

Contract (ansible_test/_util/target/setup/requirements.py ``bootstrap`` and
quiet_pip.py): the venv's python runs quiet_pip.py with ``GET_PIP=<this file>`` in the
environment; quiet_pip.py runs this file as ``__main__`` and leaves its own arguments in
``sys.argv[1:]``, e.g. ``--disable-pip-version-check pip==24.2 --no-setuptools --no-wheel``.
Like get-pip.py we take ``--no-setuptools``/``--no-wheel`` for ourselves and hand the
rest to ``pip install``.

pip itself comes from ``ensurepip`` (bundled with CPython, no network); the requested
pins (``pip==24.2``) are then installed from the configured package index (PyPI, or
whatever PIP_INDEX_URL / pip.conf name), which these machines can reach.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

MARKER = 'xenserver.provisioning offline get-pip stand-in'

OWN_OPTIONS = ('--no-setuptools', '--no-wheel')


def run(*args: str) -> None:
    """Run the current interpreter with the given arguments; show its output only when it fails."""
    cmd = [sys.executable, *args]
    result = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        sys.stderr.write(result.stdout)
        sys.stderr.write('get-pip stand-in: command failed (%d): %s\n' % (result.returncode, ' '.join(cmd)))
        sys.exit(result.returncode)


def main() -> None:
    argv = sys.argv[1:]
    pip_args = [arg for arg in argv if arg not in OWN_OPTIONS]

    had_setuptools = importlib.util.find_spec('setuptools') is not None

    run('-m', 'ensurepip', '--default-pip')
    run('-m', 'pip', 'install', '--disable-pip-version-check', *[arg for arg in pip_args if arg != '--disable-pip-version-check'])

    # CPython 3.11's ensurepip also installs setuptools; get-pip.py --no-setuptools would not have.
    if '--no-setuptools' in argv and not had_setuptools:
        run('-m', 'pip', 'uninstall', '--disable-pip-version-check', '-q', '-y', 'setuptools')


if __name__ == '__main__':
    main()
