# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The session cache's directory when the first tasks of a new controller start together."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import threading

from ansible_collections.xenserver.provisioning.plugins.module_utils import _session


def test_many_first_tasks_create_the_directory_at_once(tmp_path, monkeypatch):
    # make bench found it: 10 forks (or vm_fleet's threads) on a controller without the
    # directory, and some failed with EEXIST from the makedirs of another.
    path = tmp_path / "sessions"
    monkeypatch.setenv(_session.CACHE_ENV, str(path))
    start = threading.Barrier(16)
    answers, errors = [], []

    def first_task():
        start.wait()
        try:
            answers.append(_session.cache_dir())
        except OSError as err:
            errors.append(err)

    threads = [threading.Thread(target=first_task) for _index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert answers == [str(path)] * 16
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o700


def test_an_existing_directory_is_used_as_it_is(tmp_path, monkeypatch):
    path = tmp_path / "sessions"
    path.mkdir(mode=0o700)
    (path / "entry").write_text(u"{}")
    monkeypatch.setenv(_session.CACHE_ENV, str(path))
    assert _session.cache_dir() == str(path)
    assert (path / "entry").read_text() == u"{}"
