# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark helper: append one JSON line per task and host (seconds, status) to $BENCH_TIMER_FILE.

Used by benchmarks/run.py with both collections' ansible-playbook (same ansible-core), so the
time a module took is known apart from the playbook's own start-up.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
name: bench_timer
type: aggregate
short_description: per-task, per-host durations for benchmarks/run.py
description: Appends one JSON line per task and host to the file named by BENCH_TIMER_FILE.
requirements: [enabled in ANSIBLE_CALLBACKS_ENABLED]
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super(CallbackModule, self).__init__()
        self._path = os.environ.get("BENCH_TIMER_FILE")
        # The simulator's call log: its length when a task starts and when it ends gives the
        # task's calls (exact for one host, whose tasks run one after the other), whatever
        # session they use.
        self._call_log = os.environ.get("BENCH_CALL_LOG")
        self._started = {}
        self._calls_before = {}

    def _calls(self):
        if not self._call_log:
            return None
        with open(self._call_log, "rb") as handle:
            return handle.read().count(b"\n")

    def v2_playbook_on_task_start(self, task, is_conditional):
        # In this process before any worker runs the task (v2_runner_on_start comes from the
        # worker, possibly after its module's first calls).
        self._calls_before[task._uuid] = self._calls()

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.time()

    def _record(self, result, status):
        if not self._path:
            return
        key = (result._host.get_name(), result._task._uuid)
        started = self._started.pop(key, None)
        entry = dict(host=key[0], task=result._task.get_name(), action=result._task.action, status=status,
                     seconds=round(time.time() - started, 4) if started else None,
                     changed=bool(result._result.get("changed")))
        if self._call_log:
            entry.update(calls_from=self._calls_before.get(key[1]), calls_to=self._calls())
        with open(self._path, "a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
