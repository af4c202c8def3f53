"""``xapisim serve`` as a process: banner, persistence across kill -9 and SIGTERM, call log,
latency, users, TLS, members; and fault injection on an embedded pool."""
import json
import os
import signal
import ssl
import subprocess
import time
import xmlrpc.client

import pytest
import XenAPI

from xapisim.faults import Faults

TEMPLATE = "CentOS 5 (64-bit)"


def session(url, user="root", password="xenroot"):
    s = XenAPI.Session(url)
    s.xenapi.login_with_password(user, password, "1.0", "cli-tests")
    return s


def test_banner_is_one_flushed_line_and_sigterm_exits_0(serve, tmp_path):
    state = tmp_path / "pool.json"
    served = serve("--state", str(state))
    assert served.url.startswith("http://127.0.0.1:")
    s = session(served.url)
    vm = s.xenapi.VM.clone(s.xenapi.VM.get_by_name_label(TEMPLATE)[0], "saved on sigterm")
    s.xenapi.session.logout()
    os.kill(served.proc.pid, signal.SIGTERM)
    assert served.proc.wait(timeout=10) == 0
    assert served.proc.stdout.read() == b""                      # nothing after the banner
    again = serve("--state", str(state))
    s = session(again.url)
    assert s.xenapi.VM.get_name_label(vm) == "saved on sigterm"
    s.xenapi.session.logout()


def test_state_survives_kill_9(serve, tmp_path):
    state = tmp_path / "pool.json"
    served = serve("--state", str(state))
    s = session(served.url)
    x = s.xenapi
    clone = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "durable")
    x.VM.add_to_other_config(clone, "install-repository", "http://mirror.example/centos/5")
    x.VM.set_xenstore_data(clone, {"vm-data/hostname": "durable"})
    x.VM.set_VCPUs_max(clone, "2")
    network = x.network.get_all()[0]
    vif = x.VIF.create({"device": "0", "network": network, "VM": clone, "MAC": "", "MTU": "1500",
                        "qos_algorithm_type": "", "qos_algorithm_params": {}, "other_config": {}})
    before = x.VM.get_record(clone)
    mac = x.VIF.get_MAC(vif)
    os.kill(served.proc.pid, signal.SIGKILL)                     # no chance to save on exit
    assert served.proc.wait(timeout=10) == -signal.SIGKILL
    again = serve("--state", str(state))
    x = session(again.url).xenapi
    after = x.VM.get_record(clone)
    for field in ("name_label", "other_config", "xenstore_data", "VCPUs_max", "VIFs", "uuid"):
        assert after[field] == before[field], field
    assert x.VIF.get_MAC(vif) == mac and vif in x.network.get_VIFs(network)
    assert x.VM.get_by_uuid(before["uuid"]) == clone


def test_bad_arguments_exit_2(xapisim_cmd):
    done = subprocess.run(xapisim_cmd + ["serve", "--user", "bob:pw:god"],
                          capture_output=True, timeout=30, check=False)
    assert done.returncode == 2
    assert b"NAME:PASSWORD:ROLE" in done.stderr and done.stdout == b""


def test_serve_help_lists_the_options_of_todays_pools(xapisim_cmd):
    text = subprocess.run(xapisim_cmd + ["serve", "--help"], capture_output=True, text=True, timeout=30,
                          check=True).stdout
    for option in ("--tls", "--template-set", "--no-uefi-certificates", "--iso-dir", "--session-ttl"):
        assert option in text
    assert "XCP-ng 8.3" in text and "ISO library" in text
    text = subprocess.run(xapisim_cmd + ["--help"], capture_output=True, text=True, timeout=30, check=True).stdout
    assert "make-images" in text and "guest" in text


def test_call_log_lines_and_no_password(serve, tmp_path):
    log = tmp_path / "calls.jsonl"
    served = serve("--call-log", str(log), "--password", "s3cret-root-pw")
    proxy = xmlrpc.client.ServerProxy(served.url, allow_none=True)
    assert proxy.session.login_with_password("root", "wrong-pw-1234")["Status"] == "Failure"
    s = session(served.url, password="s3cret-root-pw")
    s.xenapi.VM.get_all()
    try:
        s.xenapi.VM.get_record("OpaqueRef:NULL")
    except XenAPI.Failure:
        pass
    s.xenapi.session.logout()
    os.kill(served.proc.pid, signal.SIGTERM)
    served.proc.wait(timeout=10)
    text = log.read_text()
    assert "s3cret-root-pw" not in text and "wrong-pw-1234" not in text
    entries = [json.loads(line) for line in text.splitlines()]
    for entry in entries:
        assert {"method", "status", "error", "bytes_in", "bytes_out", "duration_ms"} <= set(entry)
        assert entry["bytes_in"] > 0 and entry["bytes_out"] > 0 and entry["duration_ms"] >= 0
    summary = [(e["method"], e["status"], e["error"]) for e in entries]
    assert summary == [
        ("session.login_with_password", "Failure", "SESSION_AUTHENTICATION_FAILED"),
        ("session.login_with_password", "Success", None),
        ("VM.get_all", "Success", None),
        ("VM.get_record", "Failure", "HANDLE_INVALID"),
        ("session.logout", "Success", None)]


def test_latency_is_added_to_every_call(serve):
    fast = serve()
    slow = serve("--latency-ms", "150")

    def timed(url):
        proxy = xmlrpc.client.ServerProxy(url, allow_none=True)
        ref = proxy.session.login_with_password("root", "xenroot")["Value"]
        started = time.monotonic()
        for _call in range(3):
            proxy.pool.get_all(ref)
        return (time.monotonic() - started) / 3

    assert timed(slow.url) >= 0.15
    assert timed(fast.url) < 0.1


def test_extra_users_and_members(serve):
    served = serve("--user", "ops:opspw:vm-operator", "--members", "1")
    x = session(served.url, "ops", "opspw").xenapi
    with pytest.raises(XenAPI.Failure) as caught:
        x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "no")
    assert caught.value.details[:2] == ["RBAC_PERMISSION_DENIED", "vm.clone"]
    port = served.url.rsplit(":", 1)[1]
    with pytest.raises(XenAPI.Failure) as caught:
        session("http://127.0.0.2:%s" % port)
    assert caught.value.details == ["HOST_IS_SLAVE", "127.0.0.1"]


def test_tls_with_the_printed_certificate(serve, tmp_path):
    served = serve("--tls", "--cert-dir", str(tmp_path))
    assert served.url.startswith("https://127.0.0.1:")
    cert = tmp_path / "xapisim-cert.pem"
    assert cert.exists()
    context = ssl.create_default_context(cafile=str(cert))
    proxy = xmlrpc.client.ServerProxy(served.url, allow_none=True, context=context)
    assert proxy.session.login_with_password("root", "xenroot")["Status"] == "Success"
    with pytest.raises(ssl.SSLError):
        xmlrpc.client.ServerProxy(served.url, context=ssl.create_default_context()).pool.get_all("x")
    os.kill(served.proc.pid, signal.SIGTERM)
    served.proc.wait(timeout=10)
    assert ("xapisim certificate %s" % cert).encode() in served.proc.stderr.read()


# --- fault injection (embedded) ------------------------------------------------------------------

def test_fault_busy_and_nomem(make_pool, login):
    pool = make_pool(faults=Faults("busy=1.0"))
    x = login(pool.url)
    vm = x.VM.get_by_name_label(TEMPLATE)[0]
    with pytest.raises(XenAPI.Failure) as caught:
        x.VM.clone(vm, "busy")
    assert caught.value.details == ["OTHER_OPERATION_IN_PROGRESS", "VM", vm, "start", "OpaqueRef:injected"]
    pool = make_pool(faults=Faults("nomem=1.0"))
    x = login(pool.url)
    with pytest.raises(XenAPI.Failure) as caught:
        x.VM.start(vm, False, False)
    assert caught.value.details == ["HOST_NOT_ENOUGH_FREE_MEMORY", "1073741824", "0"]


def test_fault_reset_drops_the_connection_but_not_logins(make_pool):
    pool = make_pool(faults=Faults("reset=1.0"))
    proxy = xmlrpc.client.ServerProxy(pool.url, allow_none=True)
    ref = proxy.session.login_with_password("root", "xenroot")["Value"]
    with pytest.raises((ConnectionError, xmlrpc.client.ProtocolError, OSError)):
        xmlrpc.client.ServerProxy(pool.url, allow_none=True).pool.get_all(ref)


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError):
        Faults("meteor=1")
