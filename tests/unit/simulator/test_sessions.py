"""Sessions, RBAC and pool members (ocaml/xapi/xapi_session.ml, session_check.ml, rbac.ml)."""
import time
import xmlrpc.client

import pytest
import XenAPI

from xapisim.cli import ROLES

TEMPLATE = "CentOS 5 (64-bit)"
USERS = {"root": ("xenroot", "pool-admin")}
USERS.update({role: ("pw-" + role, role) for role in ROLES})


def denied_text(roles):
    return "No permission in user session. (Roles with this permission: %s)" % ", ".join(roles)


# --- login / logout ------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [("root", "xenroot"), ("root", "xenroot", "1.0"),
                                    ("root", "xenroot", "1.0", "ansible")])
def test_login_version_and_originator_are_optional(pool, params):
    proxy = xmlrpc.client.ServerProxy(pool.url, allow_none=True)
    reply = proxy.session.login_with_password(*params)
    assert reply["Status"] == "Success"
    session = reply["Value"]
    record = proxy.session.get_record(session, session)["Value"]
    assert record["auth_user_name"] == "root"
    assert record["is_local_superuser"] is True
    assert record["originator"] == (params[3] if len(params) > 3 else "")
    host = proxy.session.get_this_host(session, session)["Value"]
    assert host == proxy.pool.get_master(session, proxy.pool.get_all(session)["Value"][0])["Value"]


def test_login_arity(pool):
    proxy = xmlrpc.client.ServerProxy(pool.url, allow_none=True)
    assert proxy.session.login_with_password("root")["ErrorDescription"] == \
        ["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "4", "1"]


def test_logout_then_session_invalid(rpc):
    session = rpc.session
    assert rpc.call("session.logout") == {"Status": "Success", "Value": ""}
    assert rpc.error("VM.get_all") == ["SESSION_INVALID", session]
    assert rpc.error("session.logout") == ["SESSION_INVALID", session]


def test_garbage_session_is_invalid(rpc):
    rpc.session = "OpaqueRef:not-a-session"
    assert rpc.error("pool.get_all") == ["SESSION_INVALID", "OpaqueRef:not-a-session"]


def test_authentication_failure_names_the_user(pool, fails):
    session = XenAPI.Session(pool.url)
    with fails("SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"):
        session.xenapi.login_with_password("root", "wrong")
    with fails("SESSION_AUTHENTICATION_FAILED", "nobody", "Authentication failure"):
        session.xenapi.login_with_password("nobody", "xenroot")


def test_sdk_logs_in_again_after_logout(pool):
    # The SDK's own recovery (XenAPI.py xenapi_request): SESSION_INVALID -> log in again.
    session = XenAPI.Session(pool.url)
    session.xenapi.login_with_password("root", "xenroot")
    first = session.handle
    proxy = xmlrpc.client.ServerProxy(pool.url, allow_none=True)
    proxy.session.logout(first)
    assert len(session.xenapi.pool.get_all()) == 1
    assert session.handle != first


def test_sessions_expire_after_ttl(make_pool):
    pool = make_pool(session_ttl=0.3)
    proxy = xmlrpc.client.ServerProxy(pool.url, allow_none=True)
    session = proxy.session.login_with_password("root", "xenroot")["Value"]
    for _use in range(3):                   # use keeps it alive
        time.sleep(0.1)
        assert proxy.pool.get_all(session)["Status"] == "Success"
    time.sleep(0.5)
    assert proxy.pool.get_all(session)["ErrorDescription"] == ["SESSION_INVALID", session]
    assert proxy.pool.get_all(session)["ErrorDescription"] == ["SESSION_INVALID", session]


def test_sessions_are_not_events(api, pool):
    token = api.event_from(["*"], "", 0.0)["token"]
    other = XenAPI.Session(pool.url)
    other.xenapi.login_with_password("root", "xenroot")
    other.xenapi.session.logout()
    assert api.event_from(["*"], token, 0.0)["events"] == []


# --- RBAC ----------------------------------------------------------------------------------------

@pytest.fixture
def rbac_pool(make_pool):
    return make_pool(users=USERS)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_can_log_in_and_read(rbac_pool, role):
    session = XenAPI.Session(rbac_pool.url)
    session.xenapi.login_with_password(role, "pw-" + role, "1.0", "tests")
    x = session.xenapi
    assert x.VM.get_all()
    assert x.VM.get_all_records_where('field "is_a_template"="false"')
    record = x.session.get_record(session.handle)
    assert (record["auth_user_name"], record["is_local_superuser"]) == (role, False)
    x.session.logout()


def test_read_only_cannot_start(rbac_pool, login, fails):
    admin = login(rbac_pool.url)
    vm = admin.VM.clone(admin.VM.get_by_name_label(TEMPLATE)[0], "rbac")
    admin.VM.set_is_a_template(vm, False)
    reader = login(rbac_pool.url, "read-only", "pw-read-only")
    allowed = ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator"]
    with fails("RBAC_PERMISSION_DENIED", "vm.start", denied_text(allowed)):
        reader.VM.start(vm, False, False)
    assert reader.VM.get_power_state(vm) == "Halted"


def test_vm_operator_starts_but_cannot_write_xenstore_data(rbac_pool, login, fails):
    admin = login(rbac_pool.url)
    vm = admin.VM.clone(admin.VM.get_by_name_label("Other install media")[0], "op")
    admin.VM.set_is_a_template(vm, False)
    operator = login(rbac_pool.url, "vm-operator", "pw-vm-operator")
    operator.VM.start(vm, False, False)
    assert operator.VM.get_power_state(vm) == "Running"
    admins = ["pool-admin", "pool-operator", "vm-power-admin", "vm-admin"]
    with fails("RBAC_PERMISSION_DENIED", "vm.set_xenstore_data", denied_text(admins)):
        operator.VM.set_xenstore_data(vm, {"vm-data/x": "1"})
    with fails("RBAC_PERMISSION_DENIED", "vm.add_to_xenstore_data", denied_text(admins)):
        operator.VM.add_to_xenstore_data(vm, "vm-data/x", "1")
    operator.VM.hard_shutdown(vm)


def test_vm_operator_may_set_the_folder_key_only(rbac_pool, login, fails):
    admin = login(rbac_pool.url)
    vm = admin.VM.clone(admin.VM.get_by_name_label(TEMPLATE)[0], "folder")
    operator = login(rbac_pool.url, "vm-operator", "pw-vm-operator")
    operator.VM.add_to_other_config(vm, "folder", "/lab")
    operator.VM.add_to_other_config(vm, "XenCenter.CustomFields.owner", "me")
    operator.VM.remove_from_other_config(vm, "folder")
    assert "folder" not in admin.VM.get_other_config(vm)
    assert admin.VM.get_other_config(vm)["XenCenter.CustomFields.owner"] == "me"
    with fails("RBAC_PERMISSION_DENIED", "vm.add_to_other_config",
               denied_text(["pool-admin", "pool-operator", "vm-power-admin", "vm-admin"])):
        operator.VM.add_to_other_config(vm, "install-repository", "http://x/")


@pytest.mark.parametrize("role,may_clone,may_set_memory", [
    ("pool-admin", True, True), ("pool-operator", True, True), ("vm-power-admin", True, True),
    ("vm-admin", True, False), ("vm-operator", False, False), ("read-only", False, False)])
def test_role_ladder(rbac_pool, login, role, may_clone, may_set_memory):
    admin = login(rbac_pool.url)
    template = admin.VM.get_by_name_label(TEMPLATE)[0]
    vm = admin.VM.clone(template, "ladder")
    x = login(rbac_pool.url, role, "pw-" + role)
    outcomes = {}
    for name, call in (("clone", lambda: x.VM.clone(template, "by-" + role)),
                       ("memory", lambda: x.VM.set_memory_dynamic_max(vm, "1073741824"))):
        try:
            call()
            outcomes[name] = True
        except XenAPI.Failure as failure:
            assert failure.details[0] == "RBAC_PERMISSION_DENIED", failure.details
            outcomes[name] = False
    assert outcomes == {"clone": may_clone, "memory": may_set_memory}


# --- pool members --------------------------------------------------------------------------------

def test_member_answers_host_is_slave(make_pool, fails):
    pool = make_pool(members=1)
    port = pool.url.rsplit(":", 1)[1]
    member = XenAPI.Session("http://127.0.0.2:%s" % port)
    with fails("HOST_IS_SLAVE", "127.0.0.1"):
        member.xenapi.login_with_password("root", "xenroot", "1.0", "tests")
    # xapi refuses a member login before it checks the password (xapi_session.ml)
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.2:%s" % port, allow_none=True)
    assert proxy.session.login_with_password("root", "wrong")["ErrorDescription"] == \
        ["HOST_IS_SLAVE", "127.0.0.1"]
    # the master serves as usual and knows both hosts
    master = XenAPI.Session(pool.url)
    master.xenapi.login_with_password("root", "xenroot")
    addresses = sorted(master.xenapi.host.get_address(h) for h in master.xenapi.host.get_all())
    assert addresses == ["127.0.0.1", "127.0.0.2"]
    master.xenapi.session.logout()
