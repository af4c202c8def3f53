"""README's RBAC table, derived: each module path runs against the simulator with a call log;
every XenAPI method it called is looked up in the datamodel (simulator/xapisim/datamodel.json,
from xapi's ocaml/idl: each message's allowed roles); the least-privileged role allowed all of
them is what the path needs. The table in README.md ("Least privilege (RBAC)") must say exactly
that, so it cannot drift from what the modules call. A spot check runs the vm memory path as
the derived role (it succeeds) and as the role below it (RBAC_PERMISSION_DENIED)."""
import os
import re

import pytest

from xapisim import api as xapi_api
from xapisim import datapath, images, model

from test_vm_power import make_vm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MODULES = os.path.join(ROOT, "plugins", "modules")
TEMPLATE = "CentOS 5 (64-bit)"
HVM_TEMPLATE = "Other install media"      # starts without an install tree
NETWORK = "Pool-wide network associated with eth0"
# Most privileged first (xapi ocaml/idl/datamodel_roles.ml).
ROLES = ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator", "read-only"]
ROW = re.compile(r"^\s*\| `(?P<module>\w+)` \| (?P<path>[^|]+?) \| `(?P<role>[\w-]+)` \|\s*$")


def roles_of(method):
    """The roles allowed to make a call-log method (``Async.VM.start``, ``event_from``, ...);
    the HTTP data path (``PUT /import_raw_vdi``) by xapi's http_actions roles."""
    if method.startswith(("GET /", "PUT /", "POST /")):
        return set(datapath.VM_ADMIN)
    cls, msg, _is_async = xapi_api.split_method(method)
    spec = model.message(cls, msg) if cls else None
    assert spec is not None, "%s is not in the datamodel" % method
    return set(spec.get("roles") or model.ALL_ROLES)


def least_role(methods):
    for role in reversed(ROLES):
        if all(role in roles_of(m) for m in methods):
            return role
    return "pool-admin"


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("images")
    images.write_samples(str(directory))
    return directory


def _created(pool, run_module):
    assert not run_module("vm", name="web", template=TEMPLATE, memory_mb=512, vcpus=1, disks=[{"size_gb": 4}],
                          networks=[{"network": NETWORK}]).get("failed")


def _running(pool, run_module):
    vm = make_vm(pool, "web")
    pool.api.VM.start(vm, False, True)


def _template(pool, run_module, image_dir):
    assert not run_module("vm_template", name="rocky9", image=str(image_dir / "Rocky-9-GenericCloud.x86_64.raw"),
                          base_template="Rocky Linux 9").get("failed")


def _cloud_vm(pool, run_module, image_dir):
    _template(pool, run_module, image_dir)
    assert not run_module("vm", name="web", template="rocky9", networks=[{"network": NETWORK}]).get("failed")


def _halted(pool, run_module):
    make_vm(pool, "web")


def _snapshot(pool, run_module):
    pool.api.VM.snapshot(make_vm(pool, "web"), "before")


# (module, path as the README names it, setup, options, check_mode)
PATHS = [
    ("vm_info", "read a VM", _halted, dict(name="web"), False),
    ("vm", "check mode", None, dict(name="web", template=TEMPLATE, memory_mb=512), True),
    ("vm", "create without `memory_mb`", None,
     dict(name="web", template=TEMPLATE, vcpus=2, disks=[{"size_gb": 4}], networks=[{"network": NETWORK}]), False),
    ("vm", "create or change with `memory_mb`", None,
     dict(name="web", template=TEMPLATE, memory_mb=768, vcpus=1, disks=[{"size_gb": 4}]), False),
    ("vm", "change `vcpus`, disks, networks", _created,
     dict(name="web", vcpus=2, disks=[{"size_gb": 4}, {"size_gb": 1}], networks=[{"network": NETWORK}] * 2), False),
    ("vm", "`state: absent`", _created, dict(name="web", state="absent"), False),
    ("vm_fleet", "with `memory_mb`", None,
     dict(vms=[dict(name="web", template=HVM_TEMPLATE, memory_mb=512, disks=[{"size_gb": 4}],
                    xenstore_data={"role": "web"}, power_state="running")]), False),
    ("vm_fleet", "without `memory_mb`", None,
     dict(vms=[dict(name="web", template=HVM_TEMPLATE, disks=[{"size_gb": 4}], xenstore_data={"role": "web"},
                    power_state="running")]), False),
    ("vm_power", "start, shut down, reboot", _halted, dict(name="web", state="running"), False),
    ("vm_boot", "boot settings", _halted, dict(name="web", pv_bootloader="pygrub", pv_args="console=hvc0"), False),
    ("vm_xenstore_data", "halted or running VM", _running, dict(name="web", data={"role": "web"}), False),
    ("vm_cdrom", "insert, eject", _halted, dict(name="web", iso="xs-tools.iso"), False),
    ("vm_snapshot", "take", _halted, dict(name="web", snapshot="before"), False),
    ("vm_snapshot", "`state: absent`", _snapshot, dict(name="web", snapshot="before", state="absent"), False),
    ("install_phase", "where an install stands", _halted, dict(name="web", route="eliloader"), False),
    ("install_profile", "a profile", None, dict(distro="rhel", version="5.1"), False),
]
IMAGE_PATHS = [
    ("vm_template", "from an image", None,
     dict(name="rocky9", image="Rocky-9-GenericCloud.x86_64.raw", base_template="Rocky Linux 9"), False),
    ("vm_template", "`state: absent`", _template, dict(name="rocky9", state="absent"), False),
    ("vm_cloud_init", "a config drive", _cloud_vm, dict(name="web", user_data={"users": [{"name": "ops"}]}), False),
    ("vm_answer_drive", "an answer drive", _halted, dict(name="web", files={"ks.cfg": "text\npoweroff\n"}), False),
    ("vm_cdrom", "upload `iso_file`", _halted, dict(name="web", iso_file="rhel-9.4-x86_64-boot.iso"), False),
]


def _derive(pool, run_module, image_dir, module, setup, options, check_mode):
    if setup is not None:
        if setup in (_template, _cloud_vm):
            setup(pool, run_module, image_dir)
        else:
            setup(pool, run_module)
    if module == "vm_template" and "image" in options:
        options = dict(options, image=str(image_dir / options["image"]))
    if "iso_file" in options:
        options = dict(options, iso_file=str(image_dir / options["iso_file"]))
    pool.mark()
    result = run_module(module, check_mode=check_mode, **options)
    assert not result.get("failed"), result
    return pool.calls()


def readme_table():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text[text.index("Least privilege (RBAC)"):]
    section = section[:section.index("\n- ", 1)]
    return dict(((m.group("module"), m.group("path").strip()), m.group("role"))
                for m in map(ROW.match, section.splitlines()) if m)


def all_paths():
    present = set(name[:-3] for name in os.listdir(MODULES) if name.endswith(".py"))
    return [p for p in PATHS + IMAGE_PATHS if p[0] in present]


@pytest.mark.parametrize("module, path, setup, options, check_mode", all_paths(),
                         ids=["%s: %s" % (p[0], p[1]) for p in all_paths()])
def test_each_path_needs_the_role_the_readme_names(pool, run_module, image_dir, module, path, setup, options,
                                                   check_mode):
    calls = _derive(pool, run_module, image_dir, module, setup, options, check_mode)
    derived = least_role(calls)
    below = ROLES[ROLES.index(derived) + 1:]
    because = sorted(set(m for m in calls if below and below[0] not in roles_of(m)))
    print("RBAC %s | %s | %s | %s" % (module, path, derived, ", ".join(because)))
    table = readme_table()
    assert (module, path) in table, \
        "README's RBAC table has no row for %s: %s (it needs `%s`)" % (module, path, derived)
    assert table[(module, path)] == derived, (
        "README says %s: %s needs `%s`; its calls need `%s` (because of %s)"
        % (module, path, table[(module, path)], derived, ", ".join(because)))


def test_the_table_has_no_row_without_a_path():
    rows = set(readme_table())
    derived = set((p[0], p[1]) for p in all_paths())
    assert rows and rows <= derived, sorted(rows - derived)
    # every module of the collection has a row
    present = set(name[:-3] for name in os.listdir(MODULES) if name.endswith(".py") and not name.startswith("_"))
    listed = set(row[0] for row in rows)
    assert present <= listed, sorted(present - listed)


USERS = {"root": ("xenroot", "pool-admin"), "vmadmin": ("vmadmin-pw", "vm-admin"),
         "poweradmin": ("poweradmin-pw", "vm-power-admin")}


@pytest.mark.parametrize("pool_options", [dict(users=USERS)])
def test_vm_with_memory_needs_vm_power_admin(pool, run_module):
    """The red team's finding, as a user meets it: vm-admin is refused at VM.set_memory_limits."""
    options = dict(name="web", template=TEMPLATE, memory_mb=512, connection=False, hostname=pool.url)
    denied = run_module("vm", username="vmadmin", password="vmadmin-pw", **options)
    assert denied["failed"] and denied["error_code"] == "RBAC_PERMISSION_DENIED", denied
    assert "vm.set_memory_limits" in denied["msg"].lower(), denied["msg"]
    done = run_module("vm", username="poweradmin", password="poweradmin-pw", **options)
    assert not done.get("failed"), done
