# Copyright: Contributors to the xenserver.provisioning collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``xapisim start`` / ``xapisim stop``: ``xapisim serve`` (and ``serve-trees``) in the background.

Test harnesses start the servers in one command and stop them in a later one (molecule's
create and destroy playbooks, an integration target's setup and cleanup), so the servers run
in their own sessions and outlive the command that started them. ``DIR/env.json`` records
where they listen and their pids. A detached supervisor (``python -m xapisim.background``)
stops them and removes DIR after ``ttl`` seconds, or once the ansible-playbook run that
started them is gone (``watch_ansible``), so a run that never reaches its cleanup leaves
nothing behind. Processes are found through /proc (Linux).
"""
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from . import trees as trees_mod

# The same interpreter, so the servers are this xapisim whatever PATH holds.
XAPISIM = [sys.executable, "-m", "xapisim"]
SERVE_BANNER = re.compile(r"xapisim listening on (\S+)\n")
TREES_BANNER = re.compile(r"xapisim trees on (\S+)\n")


class StartError(Exception):
    """A server exited or printed no banner in time."""


def running(pid, marker):
    """Whether pid runs with ``marker`` in its command line: a zombie (exited, not yet reaped)
    has an empty one, and a recycled pid belongs to another command."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as handle:
            return os.fsencode(marker) in handle.read()
    except OSError:
        return False


def ansible_playbook_pid():
    """The outermost ancestor running ansible-playbook (its forked workers share its command line)."""
    found, pid = 0, os.getppid()
    while pid > 1:
        if running(pid, "ansible-playbook"):
            found = pid
        try:
            with open("/proc/%d/stat" % pid, "rb") as handle:
                # pid (comm) state ppid ...: comm may hold spaces and parentheses
                pid = int(handle.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found


def _signal(pids, directory, signum):
    """Send signum to those of pids that still run with DIR in their command line; returns them."""
    hit = [pid for pid in pids if running(pid, directory)]
    for pid in hit:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
    return hit


def terminate(pids, directory, timeout):
    """SIGTERM (the simulator saves its state and exits 0), SIGKILL after timeout; returns the
    pids that needed SIGKILL."""
    _signal(pids, directory, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(running(pid, directory) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return _signal(pids, directory, signal.SIGKILL)


def supervise(directory, ttl, watch, pids, timeout):
    """Until the servers exit (xapisim stop): stop them and remove DIR, as nobody is left to stop
    them or read it, ttl seconds after start wrote env.json, at once if it did not within timeout
    seconds (start failed or was killed), or once ansible-playbook ``watch`` is gone."""
    deadline, ready = time.monotonic() + timeout, False
    while any(running(pid, directory) for pid in pids):
        if not ready and os.path.exists(os.path.join(directory, "env.json")):
            # the TTL counts from there: a slow start does not eat into it
            deadline, ready = time.monotonic() + ttl, True
        if time.monotonic() > deadline or (watch and not running(watch, "ansible-playbook")):
            terminate(pids, directory, timeout=10)
            shutil.rmtree(directory, ignore_errors=True)
            return
        time.sleep(1)


def _spawn(argv, directory, name):
    """A server in its own session (a signal to the caller's process group does not reach it),
    output to DIR/NAME.out and DIR/NAME.err."""
    with open(os.devnull, "rb") as devnull, open(os.path.join(directory, name + ".out"), "wb") as out, \
            open(os.path.join(directory, name + ".err"), "wb") as err:
        return subprocess.Popen(argv, stdin=devnull, stdout=out, stderr=err, start_new_session=True)


def _banner(proc, directory, name, pattern, deadline):
    """The URL of the server's first stdout line, once the line is complete."""
    while True:
        with open(os.path.join(directory, name + ".out"), encoding="utf-8", errors="replace") as handle:
            match = pattern.fullmatch(handle.readline())
        if match:
            return match.group(1)
        if proc.poll() is not None or time.monotonic() > deadline:
            with open(os.path.join(directory, name + ".err"), encoding="utf-8", errors="replace") as handle:
                stderr = handle.read()[-2000:]
            state = "exited %s" % proc.returncode if proc.returncode is not None else "printed no URL in time"
            raise StartError("%s %s: %s" % (" ".join(proc.args[2:4]), state, stderr.strip()))
        time.sleep(0.05)


def start(directory, trees=False, ttl=1800.0, timeout=30.0, watch_ansible=False, serve_args=()):
    """Start the servers, wait for their banners, write and return DIR/env.json's contents."""
    directory = os.path.abspath(directory)
    env_file = os.path.join(directory, "env.json")
    watch = ansible_playbook_pid() if watch_ansible else 0
    if watch_ansible and not watch:
        raise StartError("--watch-ansible: no ansible-playbook process among the ancestors")
    if os.path.exists(env_file):
        stop(directory, remove=False)       # a restart keeps the pool
    os.makedirs(directory, exist_ok=True)
    env = dict(dir=directory, state=os.path.join(directory, "pool.json"))
    if trees:
        env.update(trees_dir=os.path.join(directory, "trees"))
        trees_mod.write_samples(env["trees_dir"])
        # the install roles render their answer files here, served next to the trees
        env.update(answer_dir=os.path.join(env["trees_dir"], "answers-roles"))
        os.makedirs(env["answer_dir"], exist_ok=True)
    procs = {"xapisim": _spawn(XAPISIM + ["serve", "--port", "0", "--state", env["state"]] + list(serve_args),
                               directory, "xapisim")}
    if trees:
        procs["trees"] = _spawn(XAPISIM + ["serve-trees", env["trees_dir"], "--port", "0"], directory, "trees")
        env.update(trees_pid=procs["trees"].pid)
    pids = [proc.pid for proc in procs.values()]
    # Supervised from the start, so a server is not left behind if this command is killed
    # (the supervisor's timeout leaves time to write env.json after the banners).
    with open(os.devnull, "r+b") as devnull:
        supervisor = subprocess.Popen([sys.executable, "-m", "xapisim.background", directory, str(ttl), str(watch),
                                       str(timeout + 10)] + [str(pid) for pid in pids],
                                      stdin=devnull, stdout=devnull, stderr=devnull, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        env.update(url=_banner(procs["xapisim"], directory, "xapisim", SERVE_BANNER, deadline))
        if trees:
            env.update(trees_url=_banner(procs["trees"], directory, "trees", TREES_BANNER, deadline))
            env.update(answer_base_url=env["trees_url"] + "/answers-roles")
    except BaseException:       # no banner, or this command interrupted: leave nothing running
        terminate(pids + [supervisor.pid], directory, timeout=5)
        raise
    env.update(pid=procs["xapisim"].pid, supervisor_pid=supervisor.pid, watch_pid=watch)
    with open(env_file + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(env, handle, indent=2, sort_keys=True)
    os.replace(env_file + ".tmp", env_file)
    return dict(env, changed=True)


def stop(directory, timeout=15.0, remove=True):
    """Stop what DIR/env.json records, then remove DIR (or only env.json)."""
    directory = os.path.abspath(directory)
    env_file = os.path.join(directory, "env.json")
    try:
        with open(env_file, encoding="utf-8") as handle:
            env = json.load(handle)
    except FileNotFoundError:
        return dict(changed=False, stopped=[], killed=[])
    servers = [pid for pid in (env["pid"], env.get("trees_pid")) if pid and running(pid, directory)]
    killed = terminate(servers, directory, timeout)
    # The supervisor would notice within a second and exit; do not leave that to chance.
    _signal([env["supervisor_pid"]], directory, signal.SIGKILL)
    if remove:
        shutil.rmtree(directory, ignore_errors=True)
    else:
        os.remove(env_file)
    return dict(changed=True, stopped=servers, killed=killed)


if __name__ == "__main__":
    supervise(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), [int(pid) for pid in sys.argv[5:]],
              timeout=float(sys.argv[4]))
