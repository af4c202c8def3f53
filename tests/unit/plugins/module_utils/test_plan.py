"""The one plan/apply shape (_plan.Plan): planning records, apply runs in order, check mode
runs nothing, a failure leaves only the actions that were done."""
import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils._plan import Plan


def test_fields_and_actions_run_in_order_once():
    ran = []
    plan = Plan()
    assert plan.field("memory_mb", 1024, 2048, lambda: ran.append("memory"))
    assert not plan.field("vcpus", 2, 2, lambda: ran.append("vcpus"))
    assert not plan.field("name", "a", None, lambda: ran.append("name"))
    plan.action("start", lambda: ran.append("start"))
    assert plan.changed and "memory_mb" in plan
    plan.apply()
    assert ran == ["memory", "start"]
    plan.apply()
    assert ran == ["memory", "start"]
    assert plan.changes.summary() == {"fields": ["memory_mb"], "actions": ["start"], "needs_halt": []}


def test_check_mode_runs_nothing_and_reports_the_same():
    ran = []
    plan = Plan()
    plan.field("firmware", "bios", "uefi", lambda: ran.append(1), needs_halt=True)
    plan.action("start", lambda: ran.append(2))
    plan.apply(check_mode=True)
    assert ran == [] and plan.needs_halt == ["firmware"]
    assert plan.changes.summary()["actions"] == ["start"]


def test_a_failed_step_leaves_only_what_was_done():
    def fail():
        raise RuntimeError("refused")
    plan = Plan()
    plan.action("clean_shutdown", lambda: ["hard_shutdown"])
    plan.action("start", fail)
    plan.action("wait", lambda: None)
    with pytest.raises(RuntimeError):
        plan.apply()
    assert plan.changes.actions == ["hard_shutdown"]


def test_nothing_to_do_is_not_changed():
    plan = Plan()
    plan.field("description", "x", "x", lambda: None)
    assert not plan.changed and plan.needs_halt == []


def test_a_removal_shows_none_after_and_runs_its_step():
    ran = []
    plan = Plan()
    assert not plan.removal("other_config:install-arch", None, lambda: ran.append("absent already"))
    assert plan.removal("other_config:install-repository", "http://x/", lambda: ran.append("removed"))
    assert plan.changed and "other_config:install-repository" in plan
    plan.apply()
    assert ran == ["removed"]
    assert plan.changes.diff() == {"before": {"other_config:install-repository": "http://x/"},
                                   "after": {"other_config:install-repository": None}}


def test_one_step_for_several_actions_stands_or_falls_with_them():
    def fail():
        raise RuntimeError("refused")
    plan = Plan()
    plan.actions(["destroy snapshot", "destroy disk a"], lambda: None)
    plan.actions(["destroy template", "destroy disk b"], fail)
    assert plan.changes.actions == ["destroy snapshot", "destroy disk a", "destroy template", "destroy disk b"]
    with pytest.raises(RuntimeError):
        plan.apply()
    assert plan.changes.actions == ["destroy snapshot", "destroy disk a"]


def test_a_step_of_several_actions_says_which_it_did():
    plan = Plan()
    plan.action("create")
    plan.actions(["destroy template", "destroy disk a", "destroy disk b"], lambda: ["destroy template", "destroy disk b"])
    plan.action("rename")
    plan.apply()
    assert plan.changes.actions == ["create", "destroy template", "destroy disk b", "rename"]


def test_a_first_part_applied_before_the_rest_is_planned_runs_once():
    ran = []
    plan = Plan()
    plan.action("destroy a left-over", lambda: ran.append("left-over"))
    plan.apply()
    plan.action("create", lambda: ran.append("create"))
    plan.apply()
    assert ran == ["left-over", "create"]
    assert plan.changes.actions == ["destroy a left-over", "create"]
