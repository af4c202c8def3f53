"""The XenAPI client: login, master redirect, TLS, waits, retries and error translation."""
import threading
import time

import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils import _client
from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    XenServerClient,
    XenServerError,
    build_url,
    translate,
)
from xapisim.embedded import embedded


def test_bare_host_means_https_and_urls_keep_scheme_and_port():
    assert build_url("pool.example.com") == "https://pool.example.com"
    assert build_url("http://127.0.0.1:41234/") == "http://127.0.0.1:41234"


def test_translate_gives_code_params_and_hint():
    err = translate(["RBAC_PERMISSION_DENIED", "vm.start",
                     "No permission in user session. (Roles with this permission: pool-admin, vm-operator)"],
                    "VM.start")
    assert err.code == "RBAC_PERMISSION_DENIED" and err.params[0] == "vm.start"
    assert "VM.start failed" in str(err) and "vm-operator" in str(err) and "Ask a pool administrator" in str(err)
    err = translate(["VM_BAD_POWER_STATE", "OpaqueRef:x", "halted", "running"])
    assert str(err) == "VM_BAD_POWER_STATE: the VM is running; this operation needs it halted"
    # an unknown code still shows code and parameters
    assert "SOMETHING_NEW ['a']" in str(translate(["SOMETHING_NEW", "a"]))


def test_member_redirects_to_master():
    with embedded(members=2) as pool:
        port = pool.servers[0].server_address[1]
        client = XenServerClient("http://127.0.0.3:%d" % port, "root", "xenroot").connect()
        assert client.url == "http://127.0.0.1:%d" % port
        assert client.call("pool.get_all")
        client.logout()


def test_wrong_password_is_translated():
    with embedded() as pool:
        with pytest.raises(XenServerError) as info:
            XenServerClient(pool.url, "root", "bad").connect()
    assert info.value.code == "SESSION_AUTHENTICATION_FAILED"
    assert "check username and password" in str(info.value)


def test_unreachable_host_is_a_clear_error():
    with pytest.raises(XenServerError) as info:
        XenServerClient("http://127.0.0.1:9", "root", "x", reconnect_timeout=1).connect()
    assert "cannot reach XenServer at http://127.0.0.1:9" in str(info.value)
    assert "reconnect_timeout is 1 s" in str(info.value)


def test_run_async_waits_through_event_from_and_returns_the_result():
    with embedded(clock_speed=20.0) as pool:
        client = XenServerClient(pool.url, "root", "xenroot").connect()
        template = client.call("VM.get_by_name_label", "CentOS 5 (64-bit)")[0]
        clone = client.run_async("VM.clone", template, "async-clone")
        assert clone.startswith("OpaqueRef:")
        assert client.call("VM.get_name_label", clone) == "async-clone"
        with pytest.raises(XenServerError) as info:
            client.run_async("VM.hard_shutdown", clone)
        assert info.value.code == "VM_BAD_POWER_STATE"  # power state is checked before the template rule
        client.logout()


def test_wait_for_wakes_on_the_event_and_times_out_cleanly():
    with embedded() as pool:
        client = XenServerClient(pool.url, "root", "xenroot").connect()
        template = client.call("VM.get_by_name_label", "CentOS 5 (64-bit)")[0]
        timer = threading.Timer(0.3, lambda: pool.sim.db.update(
            "VM", template, name_description="changed"))
        timer.start()
        started = time.time()
        record = client.wait_for("VM", template, lambda r: r["name_description"] == "changed", 10)
        assert record["name_description"] == "changed" and time.time() - started < 5
        with pytest.raises(XenServerError) as info:
            client.wait_for("VM", template, lambda r: False, 0.5, what="nothing")
        assert str(info.value) == "timed out after 0.5s waiting for nothing"
        client.logout()


def test_transient_failures_are_retried_and_counted(monkeypatch):
    with embedded(faults=None) as pool:
        client = XenServerClient(pool.url, "root", "xenroot").connect()
        monkeypatch.setattr(_client.time, "sleep", lambda s: None)
        answers = [["OTHER_OPERATION_IN_PROGRESS", "VM", "r", "start", "t"]]
        real = client.api.pool.get_all

        class Flaky:
            def get_all(self):
                if answers:
                    raise _client.XenAPI.Failure(answers.pop())
                return real()

        monkeypatch.setattr(type(client), "api", property(lambda self: type("A", (), {"pool": Flaky()})()))
        assert client.call("pool.get_all")
        assert client.retried == 1


def test_logout_is_idempotent():
    with embedded() as pool:
        client = XenServerClient(pool.url, "root", "xenroot").connect()
        client.logout()
        client.logout()
        assert client.session is None


def test_tls_is_verified_by_default(tls_pool):
    url, cert = tls_pool
    with pytest.raises(XenServerError) as info:
        XenServerClient(url, "root", "xenroot").connect()
    assert "could not be verified" in str(info.value) and "ca_path" in str(info.value)


def test_tls_trusts_ca_path(tls_pool):
    url, cert = tls_pool
    client = XenServerClient(url, "root", "xenroot", ca_path=cert).connect()
    assert client.call("pool.get_all")
    client.logout()


def test_tls_without_verification_when_asked(tls_pool):
    url, cert = tls_pool
    client = XenServerClient(url, "root", "xenroot", validate_certs=False).connect()
    assert client.call("pool.get_all")
    client.logout()
