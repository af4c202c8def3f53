"""Concurrent runs of one module task against ``xapisim serve``: the harness of
test_concurrent_runs.py and benchmarks/concurrency.py.

Each run is a forked child of this process that runs the module's ``main()`` as ansible would
(its arguments patched in, its JSON result read from stdout), so five runs start within a few
milliseconds of each other without paying for five interpreters. The simulator is a separate
``xapisim serve`` process: this one has no threads when it forks. The pool is then read
through the SDK: VMs by name, provisional names, disks no VBD uses.
"""
import contextlib
import http.client
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import xmlrpc.client

import XenAPI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, ".venv", "collections")
TEMPLATE = "CentOS 5 (64-bit)"
NETWORK = "Pool-wide network associated with eth0"
PROVISIONAL_TAG = "[xenserver.provisioning: being created]"
HOLDER_KEY = "xenserver.provisioning.holder"
CLAIM_PREFIX = "xenserver.provisioning.claim:"


def _collections():
    link = os.path.join(COLLECTIONS, "ansible_collections", "xenserver", "provisioning")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(ROOT, link)
        except FileExistsError:
            pass
    if COLLECTIONS not in sys.path:
        sys.path.insert(0, COLLECTIONS)


def vm_task(name, **extra):
    """The options of one ``vm`` task (a fleet entry takes the same)."""
    task = dict(name=name, template=TEMPLATE, memory_mb=1024, vcpus=1, disks=[{"size_gb": 4}],
                networks=[{"network": NETWORK}])
    task.update(extra)
    return task


class Server(object):
    """``xapisim serve`` with a latency and a fault spec."""

    def __init__(self, latency_ms=0, faults=""):
        bin_dir = os.path.dirname(sys.executable)
        args = [os.path.join(bin_dir, "xapisim"), "serve", "--port", "0", "--clock-speed", "1000",
                "--latency-ms", str(latency_ms)]
        self.fault_log = None
        if faults:
            self.fault_log = "/tmp/xapisim-faults-%d-%d.jsonl" % (os.getpid(), id(self))
            args += ["--faults", faults, "--fault-log", self.fault_log]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("xapisim listening on "), (line, self.proc.poll())
        self.url = line.split()[-1]
        self.session = None

    def api(self):
        """The SDK, for reading the pool; a read the server's faults drop is sent again."""
        if self.session is None:
            self.session = XenAPI.Session(self.url)
            self.session.xenapi.login_with_password("root", "xenroot", "1.0", "concurrency")
        return _Reads(self.session.xenapi)

    def faults(self):
        """[(fault, method)] injected so far, from the fault log."""
        if not self.fault_log or not os.path.exists(self.fault_log):
            return []
        with open(self.fault_log) as handle:
            return [(entry["fault"], entry["method"]) for entry in map(json.loads, handle)]

    def close(self):
        if self.session is not None:
            try:
                self.session.xenapi.session.logout()
            except Exception:
                pass
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()
        if self.fault_log and os.path.exists(self.fault_log):
            os.unlink(self.fault_log)


class _Reads(object):
    """session.xenapi whose calls (reads only) are sent again when a fault drops them."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        return _Reads(getattr(self._target, name))

    def __call__(self, *args):
        for _attempt in range(50):
            try:
                return self._target(*args)
            except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError):
                time.sleep(0.02)
        return self._target(*args)


class Run(object):
    """One forked module run: ``result()`` waits for it and returns its JSON result."""

    def __init__(self, module, args, env=None):
        _collections()
        mod = importlib.import_module("ansible_collections.xenserver.provisioning.plugins.modules." + module)
        read_end, write_end = os.pipe()
        self.started = time.monotonic()
        self.pid = os.fork()
        if self.pid == 0:   # the child: run the module, write its stdout into the pipe
            code = 0
            try:
                os.close(read_end)
                os.environ.update(env or {})
                out = io.StringIO()
                with _module_args(args), contextlib.redirect_stdout(out):
                    try:
                        mod.main()
                    except SystemExit:
                        pass
                data = out.getvalue().encode()
                while data:
                    data = data[os.write(write_end, data):]
            except BaseException:
                code = 70
            finally:
                os._exit(code)
        os.close(write_end)
        self.read_end = read_end
        self.ended = None

    def result(self):
        chunks = []
        while True:
            chunk = os.read(self.read_end, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(self.read_end)
        _pid, status = os.waitpid(self.pid, 0)
        self.ended = time.monotonic()
        text = b"".join(chunks).decode()
        if os.WIFSIGNALED(status):
            return {"failed": True, "killed": os.WTERMSIG(status), "msg": text}
        try:
            return json.loads(text)
        except ValueError:
            return {"failed": True, "msg": "no JSON result (exit %s): %r" % (os.WEXITSTATUS(status), text[-2000:])}

    def kill(self):
        os.kill(self.pid, signal.SIGKILL)


@contextlib.contextmanager
def _module_args(args):
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19
        from unittest import mock
        from ansible.module_utils import basic
        with mock.patch.object(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()):
            yield
        return
    with patch_module_args(args):
        yield


def module_args(server, module, task):
    args = {"hostname": server.url, "username": "root", "password": "xenroot"}
    if module == "vm_fleet":
        args["vms"] = [task]
    else:
        args.update(task)
    return args


def concurrent(server, module, task, runs=5, env=None):
    """``runs`` runs of one task at once: [(result, seconds)]."""
    started = [Run(module, module_args(server, module, task), env) for _run in range(runs)]
    results = [run.result() for run in started]
    return [(result, run.ended - run.started) for run, result in zip(started, results)]


def unused_disks(api):
    """{uuid: record} of the VDIs outside ISO libraries that no VBD uses."""
    srs = api.SR.get_all_records()
    return dict((v["uuid"], v) for v in api.VDI.get_all_records().values()
                if not v["VBDs"] and srs[v["SR"]]["content_type"] != "iso" and not v["is_a_snapshot"])


def pool_findings(api, name, disks_before):
    """What the pool holds for ``name``: VMs of that name, provisional ones, new unused disks,
    claim tickets left."""
    vms = [v for v in api.VM.get_all_records().values()
           if not v["is_a_template"] and not v["is_a_snapshot"] and not v["is_control_domain"]]
    pool = api.pool.get_all()[0]
    return dict(
        vms=sum(1 for v in vms if v["name_label"] == name),
        provisional=sum(1 for v in vms if PROVISIONAL_TAG in v["name_label"]),
        orphans=len(set(unused_disks(api)) - set(disks_before)),
        tickets=sum(1 for k in api.pool.get_gui_config(pool) if k.startswith(CLAIM_PREFIX)))


def trial(server, module, name, runs=5, env=None):
    """One trial: ``runs`` runs creating VM ``name`` at once; the figures of the trial."""
    api = server.api()
    before = unused_disks(api)
    outcomes = concurrent(server, module, vm_task(name), runs, env)
    findings = pool_findings(api, name, before)
    findings.update(
        runs=len(outcomes),
        ok=sum(1 for result, _s in outcomes if not result.get("failed")),
        changed=sum(1 for result, _s in outcomes if result.get("changed")),
        seconds=max(s for _r, s in outcomes),
        failures=[result.get("msg") for result, _s in outcomes if result.get("failed")])
    return findings
