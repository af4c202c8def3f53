"""The pool's templates: vm_info lists them, and vm names the nearest ones for a wrong name;
against the simulator, through the real SDK."""
import pytest

TEMPLATE = "CentOS 5 (64-bit)"


def _expected(record):
    """What vm_info must say of a template, from the record the SDK reads."""
    other = record["other_config"]
    return {
        "name": record["name_label"], "uuid": record["uuid"], "description": record["name_description"],
        "hvm": record["HVM_boot_policy"] != "", "firmware": record["HVM_boot_params"].get("firmware", ""),
        "install_distro": other.get("install-distro"),
        "install_methods": other["install-methods"].split(",") if other.get("install-methods") else [],
        "default": record.get("is_default_template") is True or other.get("default_template") == "true",
        "memory_mb": int(record["memory_static_max"]) // 2 ** 20, "vcpus": int(record["VCPUs_at_startup"]),
    }


def test_templates_lists_every_template_in_one_call(pool, run_module):
    api = pool.api
    custom = api.VM.clone(api.VM.get_by_name_label(TEMPLATE)[0], "my golden template")
    api.VM.remove_from_other_config(custom, "default_template")
    vm = pool.provisioned_vm("web01")
    api.VM.snapshot(vm, "web01 before")
    pool.mark()
    result = run_module("vm_info", templates=True)
    assert pool.calls() == ["session.login_with_password", "VM.get_all_records_where", "session.logout"]
    assert result["changed"] is False and "vms" not in result and "vm" not in result
    listed = result["templates"]
    records = [r for r in api.VM.get_all_records().values() if r["is_a_template"] and not r["is_a_snapshot"]]
    assert listed == sorted((_expected(r) for r in records), key=lambda t: (t["name"], t["uuid"]))
    names = [t["name"] for t in listed]
    assert "web01 before" not in names and "web01" not in names
    mine = next(t for t in listed if t["name"] == "my golden template")
    assert mine["default"] is False
    shipped = next(t for t in listed if t["name"] == TEMPLATE)
    assert shipped["default"] is True and shipped["hvm"] is False and shipped["install_distro"]
    # both boot modes and a firmware appear among the templates the simulator ships
    assert {t["hvm"] for t in listed} == {True, False}
    assert any(t["hvm"] and t["firmware"] for t in listed)


@pytest.mark.parametrize("options, needle", [
    (dict(templates=True, name="web01"), "cannot be combined with name"),
    (dict(templates=True, filters={"power_state": "running"}), "cannot be combined with filters"),
    (dict(templates=False), "give one of name, uuid, filters, or templates=true"),
    (dict(), "give one of name, uuid, filters, or templates=true"),
])
def test_templates_option_checked_before_connecting(pool, run_module, options, needle):
    pool.mark()
    result = run_module("vm_info", **options)
    assert result["failed"] and needle in result["msg"], result
    assert pool.calls() == []


@pytest.mark.parametrize("check_mode, wrong", [(False, "CentOS 5 (64 bit)"), (True, "CentOS 5 (64 bit)"),
                                               (False, "centos 5 (64-BIT)")])
def test_wrong_template_name_lists_the_nearest(pool, run_module, check_mode, wrong):
    before = pool.state()
    result = run_module("vm", check_mode=check_mode, name="web01", template=wrong)
    assert result["failed"] and result["error_code"] == "TEMPLATE_NOT_FOUND"
    assert "no template or VM named '%s' (template)" % wrong in result["msg"]
    nearest = result["msg"].split("did you mean ", 1)[1]
    assert nearest.startswith("'%s'" % TEMPLATE), result["msg"]
    # only names the pool has, and only templates
    templates = set(r["name_label"] for r in pool.api.VM.get_all_records().values()
                    if r["is_a_template"] and not r["is_a_snapshot"])
    assert set(n.strip("' ?") for n in nearest.split("', '")) <= templates
    assert pool.state() == before


def test_template_name_like_none_points_to_the_listing(pool, run_module):
    result = run_module("vm", name="web01", template="zz")
    assert result["failed"] and result["error_code"] == "TEMPLATE_NOT_FOUND"
    assert "did you mean" not in result["msg"] and "templates=true" in result["msg"]
    result = run_module("vm", name="web01", template_uuid="0e0c3a4e-0000-4000-8000-000000000000")
    assert result["failed"] and result["error_code"] == "TEMPLATE_NOT_FOUND"
    assert "uuid '0e0c3a4e-0000-4000-8000-000000000000' (template_uuid)" in result["msg"]
