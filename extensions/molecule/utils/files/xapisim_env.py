# Copyright: Contributors to the xenserver.provisioning collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start and stop the test bed of a molecule scenario: a XenAPI simulator and a web server
for the sample install trees (and the answer files the roles render next to them).

    python xapisim_env.py start --dir DIR [--bin XAPISIM] [--clock-speed X] [--ttl S]
        writes the sample trees to DIR/trees (answer files go to DIR/trees/answers-roles),
        starts ``xapisim serve --port 0 --state DIR/pool.json --clock-speed X`` and
        ``xapisim serve-trees DIR/trees --port 0`` in the background, waits for their banners and
        prints one JSON object (also saved as DIR/env.json):
        {"url", "trees_url", "state", "trees_dir", "answer_dir", "answer_base_url", "pids", ...}
    python xapisim_env.py stop --dir DIR
        SIGTERM to both (the simulator saves its state and exits 0), SIGKILL after --timeout
        seconds, then removes DIR.

Both servers run in their own session and outlive the ansible-playbook run that started them
(molecule runs create, converge, verify and destroy as separate playbooks). A watchdog stops
them after --ttl seconds in case destroy never runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

BANNERS = {"sim": re.compile(r"^xapisim listening on (\S+)\s*$"),
           "trees": re.compile(r"^xapisim trees on (\S+)\s*$")}


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:        # a zombie (exited, not yet reaped by its parent) is not alive
        with open("/proc/%d/stat" % pid, "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def first_line(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline()
    except OSError:
        return ""


def tail(path, limit=2000):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()[-limit:]
    except OSError:
        return ""


def fail(message, **extra):
    print(json.dumps(dict(failed=True, msg=message, **extra)))
    sys.exit(1)


def spawn(argv, directory, name):
    out = os.path.join(directory, name + ".out")
    err = os.path.join(directory, name + ".err")
    with open(os.devnull, "rb") as devnull, open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(argv, stdin=devnull, stdout=stdout, stderr=stderr,
                                start_new_session=True, close_fds=True)
    return proc, out, err


def wait_banner(proc, out, err, pattern, timeout):
    deadline = time.monotonic() + timeout
    while True:
        match = pattern.match(first_line(out))
        if match:
            return match.group(1)
        if proc.poll() is not None:
            fail("%s exited (%s) before it listened" % (proc.args[1], proc.returncode), stderr=tail(err))
        if time.monotonic() > deadline:
            proc.kill()
            fail("%s printed no URL within %s s" % (proc.args[1], timeout), stderr=tail(err))
        time.sleep(0.02)


def cmd_start(args):
    binary = shutil.which(args.bin) or (args.bin if os.access(args.bin, os.X_OK) else None)
    if not binary:
        fail("xapisim executable %r not found (set XAPISIM_BIN)" % args.bin)
    directory = os.path.abspath(args.dir)
    if os.path.exists(os.path.join(directory, "env.json")):
        cmd_stop(argparse.Namespace(dir=directory, timeout=10, quiet=True))
    os.makedirs(directory, exist_ok=True)
    trees_dir = os.path.join(directory, "trees")
    subprocess.run([binary, "make-trees", trees_dir], check=True, stdout=subprocess.DEVNULL)
    answer_dir = os.path.join(trees_dir, "answers-roles")
    os.makedirs(answer_dir, exist_ok=True)
    state = os.path.join(directory, "pool.json")
    sim, sim_out, sim_err = spawn([binary, "serve", "--port", "0", "--state", state,
                                   "--clock-speed", str(args.clock_speed)], directory, "xapisim")
    trees, trees_out, trees_err = spawn([binary, "serve-trees", trees_dir, "--port", "0"], directory, "trees")
    url = wait_banner(sim, sim_out, sim_err, BANNERS["sim"], args.timeout)
    trees_url = wait_banner(trees, trees_out, trees_err, BANNERS["trees"], args.timeout)
    watchdog = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "_watchdog", "--ttl", str(args.ttl),
         str(sim.pid), str(trees.pid)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True)
    env = dict(url=url, trees_url=trees_url, state=state, trees_dir=trees_dir, answer_dir=answer_dir,
               answer_base_url=trees_url + "/answers-roles", clock_speed=args.clock_speed,
               bin=binary, dir=directory, pids=dict(sim=sim.pid, trees=trees.pid, watchdog=watchdog.pid))
    with open(os.path.join(directory, "env.json"), "w", encoding="utf-8") as handle:
        json.dump(env, handle, indent=2)
    print(json.dumps(dict(env, changed=True)))


def cmd_stop(args):
    directory = os.path.abspath(args.dir)
    try:
        with open(os.path.join(directory, "env.json"), encoding="utf-8") as handle:
            pids = json.load(handle)["pids"]
    except (OSError, ValueError, KeyError):
        pids = {}
    servers = [pids[name] for name in ("sim", "trees") if name in pids]
    for pid in servers:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while any(alive(pid) for pid in servers) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = []
    for pid in servers + ([pids["watchdog"]] if "watchdog" in pids else []):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    shutil.rmtree(directory, ignore_errors=True)
    if not getattr(args, "quiet", False):
        print(json.dumps(dict(changed=bool(pids), stopped=servers, killed=killed)))


def cmd_watchdog(args):
    """Stop the servers after --ttl seconds unless they are gone before."""
    deadline = time.monotonic() + args.ttl
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in args.pids):
            return 0
        time.sleep(1)
    for pid in args.pids:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="action", required=True)
    start = commands.add_parser("start")
    start.add_argument("--dir", required=True)
    start.add_argument("--bin", default=os.environ.get("XAPISIM_BIN") or "xapisim")
    start.add_argument("--clock-speed", type=float, default=1000.0)
    start.add_argument("--timeout", type=float, default=30)
    start.add_argument("--ttl", type=float, default=900)
    stop = commands.add_parser("stop")
    stop.add_argument("--dir", required=True)
    stop.add_argument("--timeout", type=float, default=15)
    watchdog = commands.add_parser("_watchdog")
    watchdog.add_argument("--ttl", type=float, required=True)
    watchdog.add_argument("pids", type=int, nargs="+")
    args = parser.parse_args(argv)
    if args.action == "start":
        cmd_start(args)
    elif args.action == "stop":
        cmd_stop(args)
    else:
        sys.exit(cmd_watchdog(args))


if __name__ == "__main__":
    main()
