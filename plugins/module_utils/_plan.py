# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""One plan/apply shape for every module.

A module first *plans*: it reads the pool, compares what is with what was asked and records
each difference in a ``Plan``, together with the step (a function of no arguments) that makes
it. Planning never writes. Then it *applies* the plan, unless in check mode. So check mode
reports exactly what a real run does, and ``changed``, ``diff`` and ``changes`` of the result
all come from the one ``ChangeSet`` the plan holds (``plan.changes``).

    plan = Plan()
    plan.field("memory_mb", 1024, 2048, lambda: client.call(...), needs_halt=False)
    plan.action("start", lambda: ...)
    if plan.needs_halt and running: ...     # the module decides: fail, or halt around apply()
    plan.apply(check_mode)

A step may return the list of action texts it actually did (a clean shutdown that fell back
to a hard one says so); otherwise the planned text stands. When a step fails, the actions of
the steps that did not run are taken out of ``changes`` again: a failure's result says what
was done, not what was planned.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.xenserver.provisioning.plugins.module_utils._module import ChangeSet


class Plan(object):
    """The changes a module would make, and the steps that make them, in order."""

    def __init__(self, changes=None):
        self.changes = changes if changes is not None else ChangeSet()
        self._steps = []        # (function, [action texts it stands for])

    # --- planning ------------------------------------------------------------------------
    def field(self, name, current, wanted, apply=None, needs_halt=False):
        """Record ``name`` going from ``current`` to ``wanted`` (None: not asked), and the
        step that sets it; True when it differs."""
        if not self.changes.compare(name, current, wanted, needs_halt=needs_halt):
            return False
        if apply is not None:
            self._steps.append((apply, []))
        return True

    def removal(self, name, current, apply=None, needs_halt=False):
        """Record ``name`` (a map key, say) going away: None after; True when it was there."""
        if current is None:
            return False
        self.changes.before[name] = current
        self.changes.after[name] = None
        if needs_halt:
            self.changes.needs_halt.append(name)
        if apply is not None:
            self._steps.append((apply, []))
        return True

    def action(self, text, apply=None):
        """Record a change that is not a field (create, destroy, start), and its step."""
        self.actions([text], apply)

    def actions(self, texts, apply=None):
        """Several actions one step makes (a VM and its disks); if it fails, none stands."""
        for text in texts:
            self.changes.action(text)
        if apply is not None:
            self._steps.append((apply, list(texts)))

    def step(self, apply):
        """A step for changes already recorded (one call that sets several fields)."""
        self._steps.append((apply, []))

    def extend(self, other):
        """Append another plan's steps (its changes must be this plan's ``changes``)."""
        self._steps.extend(other._steps)

    # --- reading ----------------------------------------------------------------------------
    @property
    def changed(self):
        return self.changes.changed

    @property
    def needs_halt(self):
        """The fields that can only change while the VM is halted."""
        return sorted(self.changes.needs_halt)

    def __contains__(self, name):
        return name in self.changes

    # --- applying ---------------------------------------------------------------------------
    def apply(self, check_mode=False):
        """Run the steps recorded since the last apply, in order (none in check mode): a module
        may apply a first part (an earlier run's left-overs) before it plans the rest."""
        if check_mode:
            return
        steps, self._steps = self._steps, []
        for index, (function, texts) in enumerate(steps):
            try:
                done = function()
            except Exception:
                self._unplan(steps[index:])
                raise
            if isinstance(done, list) and texts:
                self._replace(texts, done)

    def _unplan(self, not_done):
        for _function, texts in not_done:
            for text in texts:
                if text in self.changes.actions:
                    self.changes.actions.remove(text)

    def _replace(self, planned, done):
        actions = self.changes.actions
        at = actions.index(planned[0]) if planned[0] in actions else len(actions)
        for text in planned:
            if text in actions:
                actions.remove(text)
        actions[at:at] = list(done)
