#!/usr/bin/env python3
"""`make bench`: XenAPI call economy and fleet speed, xenserver.provisioning beside community.general.

Every number comes from one run of the real modules, through ansible-playbook, against the
xapisim simulator of this checkout (a fresh simulator per measurement, same build, same
machine). The simulator's call log counts every XenAPI call and its bytes. community.general
is installed by this script into its own virtualenv, benchmarks/.venv-cg (the `ansible`
package, with ansible-core pinned to .venv's version).

Writes benchmarks/results.json (raw numbers), benchmarks/results.md (tables, targets) and
benchmarks/fleet.png (fleet time against fleet size). See benchmarks/README.md.

Options: --quick (fleet of 10 and 25 only, for trying the script), --skip-install,
--report-only (results.md and fleet.png again from results.json).
"""
import argparse
import collections
import contextlib
import datetime
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
# The checkout's .venv (make bench), or else the venv this script runs in (a git worktree has none).
VENV_BIN = (os.path.join(ROOT, ".venv", "bin") if os.path.isdir(os.path.join(ROOT, ".venv"))
            else os.path.dirname(sys.executable))
CG_VENV = os.path.join(BENCH, ".venv-cg")
CG_BIN = os.path.join(CG_VENV, "bin")
WORK = os.path.join(BENCH, ".work")
PLAYBOOKS = os.path.join(BENCH, "playbooks")
# Ours runs from this checkout (not from whatever the venv's collection path links to), and so
# does the simulator (PYTHONPATH for `xapisim serve`, sys.path for the embedded one).
OURS_COLLECTIONS = os.path.join(WORK, "collections")
SIMULATOR = os.path.join(ROOT, "simulator")
sys.path.insert(0, SIMULATOR)


def link_checkout():
    """WORK/collections/ansible_collections/xenserver/provisioning -> this checkout."""
    parent = os.path.join(OURS_COLLECTIONS, "ansible_collections", "xenserver")
    os.makedirs(parent, exist_ok=True)
    link = os.path.join(parent, "provisioning")
    if os.path.islink(link) and os.readlink(link) == ROOT:
        return
    if os.path.lexists(link):
        os.remove(link)
    os.symlink(ROOT, link)


def simulator_env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (SIMULATOR, os.environ.get("PYTHONPATH")) if p))

PASSWORD = "xenroot"
TEMPLATE = "Other install media"    # HVM: boots without an install tree, one 8 GiB disk
NETWORK = "Pool-wide network associated with eth0"
CLOCK_SPEED = 1000                  # simulated seconds per real second (boots, clones)
LATENCIES = (0, 5, 20)              # ms added to every call (--latency-ms)
FLEET_SIZES = (10, 25, 50)
FLEET_LATENCIES = (5, 20)
FORKS = 10
PER_HOST_REPEATS = 2                # more runs of the per-host target's fleet (3 each in all)
POOL_SIZES = (10, 1000, 10000)      # other VMs in the pool (--filler-vms)
# Waiting: the guest agent reports (no IP yet) this long after the wait began, the IP later.
AGENT_AFTER_S = 2.0
IP_AFTER_S = 6.0
WAIT_CLOCK_SPEED = 1                # real time: VM.start takes its 2 simulated seconds

TARGETS = {
    # issue 13: one task per VM at the call floor
    "provision_calls": 15,          # full provision in one `vm` task, logins included
    "rerun_calls": 4,               # the same task again, nothing to change
    "fleet_calls_per_vm": 15,       # vm_fleet
    "cg_call_ratio": 3.5,           # community.general's one task makes at least this many times ours'
    # per-host fleet (one task per host on each side): faster than community.general
    "per_host_fleet": {"size": 50, "latency_ms": 20, "speedup": 1.0},
    # earlier targets, kept: vm_fleet's fleet of 50 against community.general's one task per host
    "fleet_speedup": {5: 2.0, 20: 3.0},
    "pool_bytes_growth": 0.10,
    "wait_calls_per_change": 3,
}


# --- the collections, each way of doing the work ---------------------------------------------------------------------

class Collection:
    def __init__(self, key, label, bin_dir, playbook, wait_playbook, collections_path):
        self.key = key
        self.label = label
        self.bin_dir = bin_dir
        self.python = os.path.join(bin_dir, "python")
        self.playbook = os.path.join(PLAYBOOKS, playbook)
        self.wait_playbook = os.path.join(PLAYBOOKS, wait_playbook)
        self.collections_path = collections_path


# Sections 4 and 5 (pool size, waiting): the single modules, `vm` / `vm_power` of ours.yml and
# ours_wait.yml beside `xenserver_guest` / `xenserver_guest_powerstate` of cg.yml and cg_wait.yml.
OURS = Collection("ours", "xenserver.provisioning", VENV_BIN, "ours.yml", "ours_wait.yml", OURS_COLLECTIONS)
# community.general comes from the venv's site-packages; an empty path keeps ours out of it.
CG = Collection("cg", "community.general", CG_BIN, "cg.yml", "cg_wait.yml",
                os.path.join(WORK, "no-collections"))
BOTH = (OURS, CG)
# Sections 1 to 3: the full provision, each way. The headline is one task per VM on each side:
# ours one `vm` task (ours_one.yml) against community.general's one `xenserver_guest` task
# (cg_one.yml); then vm_fleet (one task for every VM of the play), and the older multi-task
# playbooks for comparison (ours.yml: vm, vm_xenstore_data, vm_power; cg.yml: xenserver_guest,
# xenserver_guest_powerstate).
OURS_ONE = Collection("ours_one", "xenserver.provisioning (one vm task)", VENV_BIN, "ours_one.yml", "ours_wait.yml",
                      OURS_COLLECTIONS)
OURS_FLEET = Collection("ours_fleet", "xenserver.provisioning (vm_fleet)", VENV_BIN, "ours_fleet.yml",
                        "ours_wait.yml", OURS_COLLECTIONS)
CG_ONE = Collection("cg_one", "community.general (one xenserver_guest task)", CG_BIN, "cg_one.yml", "cg_wait.yml",
                    os.path.join(WORK, "no-collections"))
OURS3 = Collection("ours3", "xenserver.provisioning (3 modules)", VENV_BIN, "ours.yml", "ours_wait.yml",
                   OURS_COLLECTIONS)
CG2 = Collection("cg2", "community.general (2 modules)", CG_BIN, "cg.yml", "cg_wait.yml",
                 os.path.join(WORK, "no-collections"))
ONE_VM = (OURS_ONE, OURS_FLEET, CG_ONE, OURS3, CG2)
# Fleets: the one-task playbooks only (the multi-task ones cost minutes and answer nothing new).
FLEETS = (OURS_ONE, OURS_FLEET, CG_ONE)


def log(text):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), text), flush=True)


def ours_core_version():
    from importlib import metadata
    return metadata.version("ansible-core")


def ensure_cg_venv():
    """benchmarks/.venv-cg with requirements.txt and ansible-core == .venv's; rebuilt on change."""
    core = ours_core_version()
    with open(os.path.join(BENCH, "requirements.txt"), "rb") as handle:
        stamp = hashlib.sha256(handle.read() + core.encode()).hexdigest()
    ready = os.path.join(CG_VENV, ".ready")
    if os.path.exists(ready) and open(ready).read().strip() == stamp:
        return
    log("installing community.general (ansible, ansible-core==%s) and matplotlib into %s" % (core, CG_VENV))
    shutil.rmtree(CG_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", CG_VENV], check=True)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip_log = os.path.join(WORK, "pip-install.log")
    with open(pip_log, "w") as output:
        done = subprocess.run([os.path.join(CG_BIN, "pip"), "install", "-q", "-r", os.path.join(BENCH, "requirements.txt"),
                               "ansible-core==%s" % core], env=env, stdout=output, stderr=subprocess.STDOUT)
    if done.returncode:
        sys.exit("pip install into %s failed (rc %d), see %s" % (CG_VENV, done.returncode, pip_log))
    with open(ready, "w") as handle:
        handle.write(stamp + "\n")


def versions():
    def pip_version(python, package):
        out = subprocess.run([python, "-c", "from importlib import metadata; print(metadata.version(%r))" % package],
                             capture_output=True, text=True)
        return out.stdout.strip() or "?"
    cg_manifest = subprocess.run(
        [CG.python, "-c", "import ansible_collections.community.general as m, os, json; "
         "print(json.load(open(os.path.join(list(m.__path__)[0], 'MANIFEST.json')))"
         "['collection_info']['version'])"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {
        "ours_ansible_core": pip_version(OURS.python, "ansible-core"),
        "cg_ansible_core": pip_version(CG.python, "ansible-core"),
        "cg_ansible": pip_version(CG.python, "ansible"),
        "community_general": cg_manifest or "?",
        "xenapi": pip_version(OURS.python, "XenAPI"),
        "commit": commit + ("+changes" if dirty else ""),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "loadavg": "%.2f" % os.getloadavg()[0],
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- the simulator and its call log ---------------------------------------------------------------

@contextlib.contextmanager
def simulator(name, latency_ms=0, filler_vms=0, clock_speed=CLOCK_SPEED):
    """``xapisim serve`` as a process; yields (url, CallLog)."""
    call_log = os.path.join(WORK, "calls-%s.jsonl" % name)
    open(call_log, "w").close()
    session_cache(name, fresh=True)
    command = [os.path.join(VENV_BIN, "xapisim"), "serve", "--port", "0", "--latency-ms", str(latency_ms),
               "--call-log", call_log, "--filler-vms", str(filler_vms), "--clock-speed", str(clock_speed)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, "sim-%s.err" % name), "w"),
                               text=True, env=simulator_env())
    try:
        banner = process.stdout.readline().strip()
        if not banner.startswith("xapisim listening on "):
            raise RuntimeError("xapisim did not start: %r" % banner)
        yield banner.split()[-1], CallLog(call_log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class CallLog:
    """The simulator's call log: ``mark()`` now, ``since(mark)`` the calls after it."""

    def __init__(self, path):
        self.path = path

    def _read(self):
        with open(self.path) as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def mark(self):
        return len(self._read())

    def since(self, mark):
        return self._read()[mark:]


def summary(calls):
    methods = collections.Counter(c["method"] for c in calls)
    return {
        "calls": len(calls),
        # Time the server spent on the calls, the added latency included (client side not counted).
        "call_time_s": round(sum(c["duration_ms"] for c in calls) / 1000.0, 3),
        "bytes_in": sum(c["bytes_in"] for c in calls),
        "bytes_out": sum(c["bytes_out"] for c in calls),
        "bytes": sum(c["bytes_in"] + c["bytes_out"] for c in calls),
        "failed_calls": ["%s %s" % (c["method"], c.get("error") or c["status"]) for c in calls
                         if c["status"] != "Success"],
        "methods": dict(methods.most_common()),
        "sequence": [c["method"] for c in calls],
    }


def by_task(calls, tasks):
    """The calls of each task of a one-host run: the call log's length when the task started and
    ended (benchmarks/callback_plugins/bench_timer.py), so a session kept across tasks does not
    blur which task made which call."""
    modules = []
    for task in tasks:
        if task.get("calls_from") is None or task.get("calls_to") is None:
            continue
        module = summary(calls[task["calls_from"]:task["calls_to"]])
        module.update(task=task["task"], task_s=task["seconds"], changed=task["changed"])
        modules.append(module)
    return modules


# --- ansible-playbook -----------------------------------------------------------------------------

def inventory(name, collection, hosts):
    path = os.path.join(WORK, "inventory-%s.ini" % name)
    with open(path, "w") as handle:
        handle.write("[bench]\n")
        for index in range(hosts):
            handle.write("%s-%03d\n" % (collection.key, index + 1))
        handle.write("\n[bench:vars]\nansible_connection=local\nansible_python_interpreter=%s\n"
                     % collection.python)
    return path


def playbook(collection, name, url, hosts=1, forks=FORKS, tags=None, extra=None, path=None, skip_tags=None,
             call_log=None, env_extra=None):
    """Run a benchmark playbook; returns wall time, per-task times and the outcome."""
    inv = inventory(name, collection, hosts)
    timer = os.path.join(WORK, "tasks-%s.jsonl" % name)
    open(timer, "w").close()
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collection.collections_path,
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(BENCH, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "bench_timer",
        "BENCH_TIMER_FILE": timer,
        "ANSIBLE_PIPELINING": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": os.path.join(WORK, "ansible-tmp"),
        "ANSIBLE_REMOTE_TEMP": os.path.join(WORK, "ansible-tmp"),
        "ANSIBLE_PYTHON_INTERPRETER": collection.python,
    })
    if call_log:
        env["BENCH_CALL_LOG"] = call_log
    env.update(env_extra or {})
    variables = {"xs_url": url, "xs_password": PASSWORD, "xs_template": TEMPLATE, "xs_network": NETWORK}
    variables.update(extra or {})
    command = [os.path.join(collection.bin_dir, "ansible-playbook"), "-i", inv, "-f", str(forks),
               "-e", json.dumps(variables), path or collection.playbook]
    if tags:
        command += ["--tags", ",".join(tags)]
    if skip_tags:
        command += ["--skip-tags", ",".join(skip_tags)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, env=env, capture_output=True, text=True, cwd=WORK)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of ansible-playbook, its forks and the modules they ran (all waited for by then).
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(os.path.join(WORK, "ansible-%s.log" % name), "w") as handle:
        handle.write(result.stdout + result.stderr)
    with open(timer) as handle:
        tasks = [json.loads(line) for line in handle if line.strip()]
    failed = sorted(set(t["host"] for t in tasks if t["status"] != "ok"))
    if result.returncode != 0 and not failed:
        failed = ["(ansible-playbook rc=%d)" % result.returncode]
    if failed:
        log("  %s: %d host(s) FAILED, see %s" % (name, len(failed), os.path.join(WORK, "ansible-%s.log" % name)))
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "loadavg": round(load, 2), "rc": result.returncode,
            "failed_hosts": failed,
            "task_s": round(sum(t["seconds"] or 0 for t in tasks), 3),
            "tasks": [{"task": t["task"], "seconds": t["seconds"], "changed": t["changed"], "status": t["status"],
                       "calls_from": t.get("calls_from"), "calls_to": t.get("calls_to")}
                      for t in tasks if hosts == 1]}


# --- 1 and 2: one VM, full provision and no-change rerun, at each latency ------------------------------

def one_vm(latency):
    out = {}
    for coll in ONE_VM:
        name = "one-%s-%dms" % (coll.key, latency)
        with simulator(name, latency_ms=latency) as (url, calls):
            runs = {}
            for phase in ("provision", "rerun"):
                mark = calls.mark()
                run = playbook(coll, "%s-%s" % (name, phase), url, call_log=calls.path, env_extra=session_cache(name))
                everything = calls.since(0)
                run.update(summary(everything[mark:]))
                run["modules"] = by_task(everything, run["tasks"])
                runs[phase] = run
            if coll in (OURS_ONE, OURS_FLEET):
                # Ours once more on a new controller: an empty session cache, so with its login.
                mark = calls.mark()
                run = playbook(coll, "%s-rerun-new-controller" % name, url, call_log=calls.path,
                               env_extra=session_cache(name, fresh=True))
                everything = calls.since(0)
                run.update(summary(everything[mark:]))
                run["modules"] = by_task(everything, run["tasks"])
                runs["rerun_new_controller"] = run
            # What the runs left: the same VM on every side (read after the measured calls).
            runs["vm"] = vm_state(url, "%s-001" % coll.key)
        out[coll.key] = runs
        log("  one VM, %2d ms, %-46s provision %3d calls %7d bytes %.2f s; rerun %3d calls" % (
            latency, coll.label, runs["provision"]["calls"], runs["provision"]["bytes"],
            runs["provision"]["wall_s"], runs["rerun"]["calls"]))
    return out


VM_DATA = {"vm-data/hostname": None, "vm-data/role": "web", "vm-data/env": "bench"}   # None: the VM's name


def vm_state(url, name):
    """The VM named ``name`` as the pool has it, in the terms the playbooks ask for: power state,
    memory, vCPUs, disks, NICs, the three vm-data keys (and which other xenstore keys it has)."""
    import XenAPI
    session = XenAPI.Session(url)
    session.xenapi.login_with_password("root", PASSWORD, "1.0", "benchmarks/run.py")
    try:
        x = session.xenapi
        refs = [r for r in x.VM.get_by_name_label(name) if not x.VM.get_is_a_template(r)]
        if len(refs) != 1:
            return {"vms_named": len(refs)}
        vm = x.VM.get_record(refs[0])
        disks = []
        for vbd in vm["VBDs"]:
            record = x.VBD.get_record(vbd)
            if record["type"] == "Disk" and record["VDI"] != "OpaqueRef:NULL":
                disks.append(int(x.VDI.get_virtual_size(record["VDI"])) / 1024.0 ** 3)
        networks = sorted(x.network.get_name_label(x.VIF.get_network(vif)) for vif in vm["VIFs"])
        mib = 1024 ** 2
        wanted = dict((k, name if v is None else v) for k, v in VM_DATA.items())
        return {
            "vms_named": 1,
            "power_state": vm["power_state"],
            "memory_mb": [int(vm[k]) // mib for k in ("memory_static_max", "memory_dynamic_max", "memory_dynamic_min")],
            "vcpus": [int(vm["VCPUs_max"]), int(vm["VCPUs_at_startup"])],
            "disks_gib": sorted(disks),
            "networks": networks,
            "vm_data_ok": dict((k, vm["xenstore_data"].get(k) == v) for k, v in wanted.items()),
            "other_xenstore_keys": sorted(k for k in vm["xenstore_data"] if k not in wanted),
            "from_template": vm["other_config"].get("base_template_name") or "",
        }
    finally:
        session.xenapi.session.logout()


def session_cache(name, fresh=False):
    """Environment for ours' modules: a session cache (reuse_session) of the measurement's own,
    emptied when the measurement starts (``fresh``), so that its first task logs in as on a new
    controller and its later tasks reuse that session."""
    path = os.path.join(WORK, "session-cache-%s" % name)
    if fresh:
        shutil.rmtree(path, ignore_errors=True)
    return {"XENSERVER_SESSION_CACHE": path}


# --- 3: fleets -----------------------------------------------------------------------------------------

def fleet(size, latency):
    out = {}
    for coll in FLEETS:
        name = "fleet-%s-%d-%dms" % (coll.key, size, latency)
        with simulator(name, latency_ms=latency) as (url, calls):
            run = playbook(coll, name, url, hosts=size, env_extra=session_cache(name))
            made = calls.since(0)
        info = summary(made)
        run.update({k: info[k] for k in ("calls", "bytes", "call_time_s", "failed_calls")})
        run["logins"] = info["methods"].get("session.login_with_password", 0)
        run["failed_calls"] = collections.Counter(run["failed_calls"]).most_common()
        out[coll.key] = run
        log("  fleet %2d, %2d ms, %-46s %6.1f s %5d calls%s" % (
            size, latency, coll.label, run["wall_s"], run["calls"],
            " (%d hosts failed)" % len(run["failed_hosts"]) if run["failed_hosts"] else ""))
    return out


def per_host_repeats(size, latency, pairs):
    """More runs of the per-host target's fleet, the two sides alternating (community.general
    first this time), so that a shared machine's load weighs on both alike: the target takes
    the median of every run of each side."""
    out = []
    for index in range(pairs):
        pair = {}
        for coll in (CG_ONE, OURS_ONE) if index % 2 == 0 else (OURS_ONE, CG_ONE):
            name = "repeat%d-%s-%d-%dms" % (index + 1, coll.key, size, latency)
            with simulator(name, latency_ms=latency) as (url, calls):
                run = playbook(coll, name, url, hosts=size, env_extra=session_cache(name))
                run["calls"] = len(calls.since(0))
            run.pop("tasks")
            pair[coll.key] = run
            log("  repeat %d, fleet %d, %d ms, %-46s %6.1f s %5d calls%s" % (
                index + 1, size, latency, coll.label, run["wall_s"], run["calls"],
                " (%d hosts failed)" % len(run["failed_hosts"]) if run["failed_hosts"] else ""))
        out.append(pair)
    return out


def ansible_floor(size):
    """One task per host, as ansible.builtin.ping: what Ansible alone costs for a per-host fleet
    of one task per VM (no XenAPI at all)."""
    name = "floor-%d" % size
    run = playbook(OURS_ONE, name, "http://127.0.0.1:9", hosts=size, path=os.path.join(PLAYBOOKS, "floor.yml"),
                   skip_tags=["second", "third"])
    log("  Ansible alone, %d hosts, one ping task each: %.1f s, %.0f CPU-s" % (size, run["wall_s"], run["cpu_s"]))
    return run


# --- 4: pool size ----------------------------------------------------------------------------------------

def pool_size(filler):
    out = {}
    for coll in BOTH:
        name = "pool-%s-%d" % (coll.key, filler)
        with simulator(name, filler_vms=filler) as (url, calls):
            created = playbook(coll, name + "-create", url, tags=["vm"], env_extra=session_cache(name))
            mark = calls.mark()
            run = playbook(coll, name + "-rerun", url, tags=["vm"], env_extra=session_cache(name))
            made = calls.since(mark)
        info = summary(made)
        info.pop("sequence")
        run.update(info)
        run["durations_ms"] = round(sum(c["duration_ms"] for c in made), 2)
        run["create_failed"] = created["failed_hosts"]
        out[coll.key] = run
        log("  pool +%5d VMs, %-22s vm no-change: %2d calls %7d bytes" % (filler, coll.label, run["calls"], run["bytes"]))
    return out


# --- 5: waiting --------------------------------------------------------------------------------------------

def _find_vm(db, name):
    for ref, record in db.all("VM").items():
        if record["name_label"] == name and not record["is_a_template"]:
            return ref
    return None


def _agent(sim, name, calls, mark, events, stop):
    """Plays the guest agent of the running VM ``name``: it reports (no IP yet) AGENT_AFTER_S
    after the module's first call (its login), and an IP IP_AFTER_S after that call."""
    while calls.mark() <= mark:
        if stop.wait(0.02):
            return
    started = time.monotonic()
    with sim.db.lock:
        ref = _find_vm(sim.db, name)
    for delay, networks in ((AGENT_AFTER_S, {}), (IP_AFTER_S, {"0/ip": "192.0.2.10"})):
        if stop.wait(max(0.0, started + delay - time.monotonic())):
            return
        sim.guests.report_agent(ref, networks=networks, os_version={"name": "bench guest", "distro": "rhel"})
        events.append(round(time.monotonic() - started, 2))


def wait_window(coll, sequence):
    """The calls a task made while it waited (its session, lookups and facts left out).

    xenserver.provisioning.vm_power: after its power operation (VM.start, which returns once
    the VM runs, or Async.VM.start) or, without one, after its lookup, up to its logout (none
    with a reused session): event.from calls (and task.destroy, cleanup).
    community.general: VM.start blocks until the VM runs, so waiting for running makes no
    call of its own; waiting for an IP runs from wait_for_vm_ip_address's VM.get_power_state
    through its polls (VM.get_guest_metrics, VM_guest_metrics.get_record every 2 s) up to the
    facts it gathers at the end (SR.get_record).
    """
    def after(method, default=0):
        return max([i + 1 for i, m in enumerate(sequence) if m == method] or [default])
    if coll is OURS:
        start = max(after("Async.VM.start"), after("VM.start")) or after("VM.get_all_records_where")
        end = len(sequence) - 1 if sequence and sequence[-1] == "session.logout" else len(sequence)
        return sequence[start:end]
    if "VM.start" in sequence:
        return []
    polls = [i for i, m in enumerate(sequence) if m == "VM.get_guest_metrics"]
    if not polls:
        return []
    start = max(i for i in range(polls[0]) if sequence[i] == "VM.get_power_state")
    end = next((i for i in range(polls[-1], len(sequence)) if sequence[i] == "SR.get_record"), len(sequence))
    return sequence[start:end]


def waiting():
    from xapisim.embedded import embedded
    out = {}
    for coll in BOTH:
        name = "wait-%s" % coll.key
        call_log = os.path.join(WORK, "calls-%s.jsonl" % name)
        open(call_log, "w").close()
        calls = CallLog(call_log)
        vm = "%s-001" % coll.key
        result = {}
        session_cache(name, fresh=True)
        with embedded(call_log=call_log, clock_speed=WAIT_CLOCK_SPEED) as pool:
            playbook(coll, name + "-create", pool.url, tags=["vm"], env_extra=session_cache(name))
            for condition in ("running", "ip"):
                stop, events = threading.Event(), []
                agent = None
                mark = calls.mark()
                if condition == "ip":
                    agent = threading.Thread(target=_agent, args=(pool.sim, vm, calls, mark, events, stop),
                                             daemon=True)
                    agent.start()
                run = playbook(coll, "%s-%s" % (name, condition), pool.url, path=coll.wait_playbook,
                               extra={"xs_wait": condition}, env_extra=session_cache(name))
                stop.set()
                if agent:
                    agent.join(10)
                made = calls.since(mark)
                window = wait_window(coll, [c["method"] for c in made])
                methods = collections.Counter(window)
                cleanup = methods.pop("task.destroy", 0)
                result[condition] = {
                    "calls": len(made), "wait_calls": sum(methods.values()),
                    "wait_methods": dict(methods), "cleanup_calls": cleanup,
                    "state_changes": 1 if condition == "running" else 2,
                    "wall_s": run["wall_s"], "task_s": run["task_s"], "sequence": [c["method"] for c in made],
                    "agent_events_s": events, "failed_hosts": run["failed_hosts"],
                }
                log("  wait for %-7s %-22s %2d calls (%d of them waiting), %.1f s" % (
                    condition, coll.label, len(made), result[condition]["wait_calls"], run["task_s"]))
        out[coll.key] = result
    return out


# --- main ----------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fleets of 10 and 25 only")
    parser.add_argument("--skip-install", action="store_true", help="use benchmarks/.venv-cg as it is")
    parser.add_argument("--report-only", action="store_true",
                        help="only write results.md and fleet.png again from results.json")
    args = parser.parse_args()
    if args.report_only:
        with open(os.path.join(BENCH, "results.json")) as handle:
            write_outputs(json.load(handle))
        return
    started = time.monotonic()
    os.makedirs(os.path.join(WORK, "no-collections"), exist_ok=True)
    os.makedirs(os.path.join(WORK, "ansible-tmp"), exist_ok=True)
    link_checkout()
    if not args.skip_install:
        ensure_cg_venv()
    results = {"versions": versions(), "settings": {
        "template": TEMPLATE, "network": NETWORK, "clock_speed": CLOCK_SPEED, "forks": FORKS,
        "latencies_ms": LATENCIES, "fleet_sizes": FLEET_SIZES if not args.quick else FLEET_SIZES[:2],
        "fleet_latencies_ms": FLEET_LATENCIES, "pool_sizes": POOL_SIZES, "agent_after_s": AGENT_AFTER_S,
        "ip_after_s": IP_AFTER_S, "wait_clock_speed": WAIT_CLOCK_SPEED, "pipelining": True,
        "per_host_repeats": PER_HOST_REPEATS}}
    log("1+2. one VM, full provision and rerun, at %s ms" % ", ".join(map(str, LATENCIES)))
    results["one_vm"] = dict((str(ms), one_vm(ms)) for ms in LATENCIES)
    log("4. pool size")
    results["pool"] = dict((str(n), pool_size(n)) for n in POOL_SIZES)
    log("5. waiting")
    results["waiting"] = waiting()
    log("6. disk data path")
    results["datapath"] = bench_datapath().measure()
    log("3. fleets (forks %d)" % FORKS)
    results["fleet"] = {}
    for ms in FLEET_LATENCIES:
        results["fleet"][str(ms)] = dict((str(n), fleet(n, ms)) for n in results["settings"]["fleet_sizes"])
    largest = results["settings"]["fleet_sizes"][-1]
    target = TARGETS["per_host_fleet"]
    if target["size"] in results["settings"]["fleet_sizes"]:
        log("3a. per-host fleet of %d at %d ms, %d more runs each" % (
            target["size"], target["latency_ms"], PER_HOST_REPEATS))
        results["per_host_repeats"] = per_host_repeats(target["size"], target["latency_ms"], PER_HOST_REPEATS)
    log("3b. Ansible alone for %d hosts" % largest)
    results["floor"] = {str(largest): ansible_floor(largest)}
    results["versions"]["loadavg_end"] = "%.2f" % os.getloadavg()[0]
    results["elapsed_s"] = round(time.monotonic() - started, 1)
    with open(os.path.join(BENCH, "results.json"), "w") as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
        handle.write("\n")
    write_outputs(results)
    log("done in %.0f s: benchmarks/results.md, benchmarks/fleet.png" % (time.monotonic() - started))


def bench_datapath():
    """benchmarks/datapath.py: import/export throughput of a 256 MiB VDI, the server's peak memory."""
    sys.path.insert(0, BENCH)
    import datapath
    return datapath


def write_outputs(results):
    """results.md (report.py) and fleet.png (chart.py, in .venv-cg for matplotlib)."""
    sys.path.insert(0, BENCH)
    import report
    with open(os.path.join(BENCH, "results.md"), "w") as handle:
        handle.write(report.markdown(results, TARGETS))
    if "datapath" in results:
        bench_datapath().update_results(results["datapath"])
    subprocess.run([CG.python, os.path.join(BENCH, "chart.py"), os.path.join(BENCH, "results.json"),
                    os.path.join(BENCH, "fleet.png")], check=True)


if __name__ == "__main__":
    main()
