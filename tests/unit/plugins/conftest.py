"""Fixtures for module tests: a simulator per test, and a way to run a module against it.

Modules run in-process through AnsibleModule with the real XenAPI SDK talking to an
embedded xapisim over a socket; the simulator's call log gives exact call counts.
"""
import contextlib
import importlib
import io
import json
import os
import sys

import pytest
import XenAPI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _collections_path(tmp_root):
    """Make ``ansible_collections.xenserver.provisioning`` importable (link the checkout)."""
    link = os.path.join(tmp_root, "ansible_collections", "xenserver", "provisioning")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        try:
            os.symlink(ROOT, link)
        except FileExistsError:
            pass
    return tmp_root


_COLLECTIONS = _collections_path(os.path.join(ROOT, ".venv", "collections")
                                 if os.path.isdir(os.path.join(ROOT, ".venv"))
                                 else os.path.join(ROOT, "tests", "output", "collections"))
if _COLLECTIONS not in sys.path:
    sys.path.insert(0, _COLLECTIONS)

from xapisim.embedded import embedded  # noqa: E402


@contextlib.contextmanager
def _module_args(args):
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core < 2.19
        from unittest import mock
        from ansible.module_utils import basic
        payload = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
        with mock.patch.object(basic, "_ANSIBLE_ARGS", payload):
            yield
        return
    with patch_module_args(args):
        yield


@contextlib.contextmanager
def _as_a_module():
    """Run as a module, not as controller code. Importing controller code (the inventory
    plugin's tests do) sets ansible-core 2.19's process-wide ``is_controller``; a module's
    warnings then went to the controller's display instead of its result."""
    try:
        from ansible.module_utils import _internal
    except ImportError:  # ansible-core < 2.19
        yield
        return
    saved = getattr(_internal, "is_controller", False)
    _internal.is_controller = False
    try:
        yield
    finally:
        _internal.is_controller = saved


def _forget_warnings():
    """AnsibleModule keeps warnings in module globals; one in-process run must not see another's."""
    from ansible.module_utils.common import warnings
    for name in ("_global_warnings", "_global_deprecations"):
        store = getattr(warnings, name, None)
        if hasattr(store, "clear"):
            store.clear()


class Pool:
    """One simulated pool: its URL, the Simulator, an SDK session and the call log."""

    def __init__(self, handle, call_log):
        self.url = handle.url
        self.sim = handle.sim
        self.servers = handle.servers     # server.faults = xapisim.faults.Scripted(...) injects faults
        self.call_log = call_log
        self.session = XenAPI.Session(self.url)
        self.session.xenapi.login_with_password("root", "xenroot", "1.0", "tests")
        self.api = self.session.xenapi
        self._log_mark = 0

    def connection(self):
        return {"hostname": self.url, "username": "root", "password": "xenroot"}

    def calls(self):
        """Methods called since the last ``calls()``/``mark()``, from the call log."""
        with open(self.call_log) as handle:
            lines = [json.loads(line) for line in handle]
        new, self._log_mark = lines[self._log_mark:], len(lines)
        return [entry["method"] for entry in new]

    def mark(self):
        self.calls()

    def provisioned_vm(self, name, template="CentOS 5 (64-bit)", other_config=None):
        """A halted VM from ``template`` as the SDK guide makes one: clone, the template's disks
        put on Local storage, ``other_config`` keys added (e.g. install-repository), provision."""
        api = self.api
        vm = api.VM.clone(api.VM.get_by_name_label(template)[0], name)
        sr_uuid = api.SR.get_uuid(api.SR.get_by_name_label("Local storage")[0])
        disks = api.VM.get_other_config(vm)["disks"].replace('sr=""', 'sr="%s"' % sr_uuid)
        api.VM.remove_from_other_config(vm, "disks")
        api.VM.add_to_other_config(vm, "disks", disks)
        for key, value in (other_config or {}).items():
            api.VM.add_to_other_config(vm, key, value)
        api.VM.provision(vm)
        return vm

    def boot_directly(self, vm):
        """Boot ``vm`` from a dom0 kernel (PV_bootloader ""), so it starts without an install tree."""
        self.api.VM.set_PV_bootloader(vm, "")
        self.api.VM.set_PV_kernel(vm, "/boot/guest/vmlinuz-xen")

    def vm(self, name):
        refs = list(self.api.VM.get_by_name_label(name))
        assert len(refs) == 1, "expected one VM named %r, found %d" % (name, len(refs))
        return refs[0], self.api.VM.get_record(refs[0])

    def state(self):
        """The whole pool (without sessions and tasks), to prove nothing changed."""
        snap = self.sim.db.snapshot()
        tables = {k: v for k, v in snap["tables"].items() if k not in ("session", "task")}
        for vm in tables.get("VM", {}).values():
            vm.pop("allowed_operations", None)
        return json.dumps(tables, sort_keys=True)


@pytest.fixture
def tls_pool(serve, tmp_path):
    """``xapisim serve --tls`` in a subprocess: (its https URL, the certificate it made)."""
    served = serve("--tls", "--cert-dir", str(tmp_path))
    assert served.url.startswith("https://"), served.url
    yield served.url, str(tmp_path / "xapisim-cert.pem")
    served.proc.terminate()
    assert served.proc.wait(10) == 0


@pytest.fixture
def pool_options():
    """Extra embedded() options for ``pool``; override it in a test module (users=..., faults=...)."""
    return {}


@pytest.fixture
def pool(tmp_path, pool_options):
    log = str(tmp_path / "calls.jsonl")
    with embedded(call_log=log, clock_speed=1000.0, **pool_options) as handle:
        p = Pool(handle, log)
        yield p
        p.session.xenapi.session.logout()


@pytest.fixture
def run_module(pool):
    """run_module(module, check_mode=False, diff=False, **options) -> result dict.

    The pool's connection options are added; ``failed`` results are returned, not raised.
    """
    def run(_module, check_mode=False, diff=False, connection=True, **options):
        args = dict(pool.connection()) if connection else {}
        args.update(options)
        args["_ansible_check_mode"] = check_mode
        args["_ansible_diff"] = diff
        module = importlib.import_module("ansible_collections.xenserver.provisioning.plugins.modules." + _module)
        out = io.StringIO()
        _forget_warnings()
        with _module_args(args), _as_a_module(), contextlib.redirect_stdout(out):
            with pytest.raises(SystemExit):
                module.main()
        result = json.loads(out.getvalue())
        assert "Traceback" not in result.get("msg", ""), result
        return result
    return run
