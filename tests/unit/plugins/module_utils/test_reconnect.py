"""Reconnects: a pool master that goes away for seconds (a restart) and comes back on the same
port, from its saved state (``xapisim serve --state``), as a restarted xapi does.

- a module logging in while the master is down waits for it (it once gave up after about
  1.2 s of refused connections) and succeeds;
- a connection that drops after a long ``event.from`` wait is retried with the whole budget
  (the budget once counted from the start of the call, so it was spent by the wait);
- with a small ``reconnect_timeout`` the module fails with CONNECTION_FAILED, naming it.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import XenServerClient, XenServerError

XAPISIM = os.path.join(os.path.dirname(sys.executable), "xapisim")
COLLECTIONS = next(p for p in sys.path if p.endswith("collections") and os.path.isdir(os.path.join(p, "ansible_collections")))


class Master(object):
    """``xapisim serve --state`` that can be stopped and started again on the same port."""

    def __init__(self, tmp_path):
        self.state = str(tmp_path / "pool.json")
        self.proc = None
        self.port = "0"
        self.url = None

    def start(self, *extra):
        self.proc = subprocess.Popen([XAPISIM, "serve", "--port", self.port, "--state", self.state] + list(extra),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().split()[-1]
        self.port = self.url.rsplit(":", 1)[1]
        return self

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)      # saves its state, as a clean xapi stop
        self.proc.wait(20)
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc = None

    def restart_after(self, seconds):
        thread = threading.Thread(target=lambda: (time.sleep(seconds), self.start()))
        thread.start()
        return thread

    def close(self):
        if self.proc is not None:
            self.stop()


@pytest.fixture
def master(tmp_path):
    m = Master(tmp_path)
    yield m
    m.close()


def _module(master, tmp_path, module, **options):
    """Run a module as ansible runs it (its own process); its result."""
    args = dict(hostname="http://127.0.0.1:%s" % master.port, username="root", password="xenroot", **options)
    path = tmp_path / ("args-%s.json" % module)
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    proc = subprocess.run([sys.executable, "-m", "ansible_collections.xenserver.provisioning.plugins.modules." + module,
                           str(path)], capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, PYTHONPATH=COLLECTIONS), cwd=str(tmp_path))
    return json.loads(proc.stdout)


def _prepared(master, tmp_path):
    """A pool with one VM in its saved state; the master is then down."""
    master.start()
    client = XenServerClient(master.url, "root", "xenroot").connect()
    template = client.call("VM.get_by_name_label", "CentOS 5 (64-bit)")[0]
    vm = client.call("VM.clone", template, "rc01")
    client.call("VM.set_is_a_template", vm, False)
    client.call("VM.set_PV_bootloader", vm, "")
    client.call("VM.set_PV_kernel", vm, "/boot/guest/vmlinuz")
    client.logout()
    master.stop()


def test_a_login_waits_for_a_restarting_master(master, tmp_path):
    _prepared(master, tmp_path)
    thread = master.restart_after(4)
    started = time.time()
    result = _module(master, tmp_path, "vm_info", name="rc01")
    thread.join()
    assert result.get("failed") is not True, result
    assert result["vm"]["name"] == "rc01" and time.time() - started >= 4, result["vm"]


def test_a_small_reconnect_timeout_fails_naming_it(master, tmp_path):
    _prepared(master, tmp_path)
    thread = master.restart_after(5)
    try:
        result = _module(master, tmp_path, "vm_info", name="rc01", reconnect_timeout=1.5)
    finally:
        thread.join()
    assert result["failed"] is True and result["error_code"] == "CONNECTION_FAILED", result
    assert "reconnect_timeout is 1.5 s" in result["msg"] and "xenroot" not in json.dumps(result)
    result = _module(master, tmp_path, "vm_info", name="rc01", reconnect_timeout=0)
    assert result["failed"] is True and "reconnect_timeout must be" in result["msg"]


def test_a_drop_after_a_long_event_wait_is_retried(master, tmp_path):
    """event.from waits 5 s (longer than the 4 s budget) before the master goes away for 2 s;
    the wait goes on after the restart and sees the VM start."""
    _prepared(master, tmp_path)
    master.start()
    client = XenServerClient(master.url, "root", "xenroot", reconnect_timeout=4, backoff=0.1).connect()
    vm = client.call("VM.get_by_name_label", "rc01")[0]

    def outage_then_start():
        time.sleep(5)
        master.stop()
        time.sleep(2)
        master.start()
        other = XenServerClient(master.url, "root", "xenroot").connect()
        other.call("VM.start", vm, False, True)
        other.logout()

    thread = threading.Thread(target=outage_then_start)
    thread.start()
    try:
        record = client.wait_for("vm", vm, lambda r: r["power_state"] == "Running", 60, what="rc01 to run")
    finally:
        thread.join()
    assert record["power_state"] == "Running"
    assert client.reconnects >= 1
    client.logout()


def test_the_drop_fails_once_the_budget_from_the_drop_is_spent(master, tmp_path):
    _prepared(master, tmp_path)
    master.start()
    client = XenServerClient(master.url, "root", "xenroot", reconnect_timeout=1.5, backoff=0.1).connect()
    vm = client.call("VM.get_by_name_label", "rc01")[0]
    timer = threading.Timer(2, master.stop)
    timer.start()
    started = time.time()
    with pytest.raises(XenServerError) as info:
        client.wait_for("vm", vm, lambda r: r["power_state"] == "Running", 60, what="rc01 to run")
    timer.join()
    assert info.value.code == "CONNECTION_FAILED" and "reconnect_timeout is 1.5 s" in str(info.value)
    assert 3 <= time.time() - started < 15
