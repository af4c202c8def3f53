# Copyright: Contributors to the xenserver.provisioning collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start and stop a background ``xapisim serve`` for integration targets.

    python xapisim_ctl.py start --bin xapisim --dir DIR [--ttl SECONDS] [-- EXTRA SERVE ARGS]
        starts ``xapisim serve --port 0 --state DIR/pool.json EXTRA...`` detached, waits for the
        first stdout line ``xapisim listening on <url>`` and prints one JSON object:
        {"url": ..., "pid": ..., "dir": ..., "state": ..., "stdout": ..., "stderr": ...}
    python xapisim_ctl.py stop --dir DIR
        SIGTERM (the simulator saves its state and exits 0), SIGKILL after --timeout seconds.

The simulator runs under a small supervisor (this file, ``_supervise``) that stops it when the
ansible-playbook process that started it is gone or after --ttl seconds, whichever comes first,
and then removes DIR, so a target that fails before its cleanup leaves nothing behind.
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

URL_LINE = re.compile(r'^xapisim listening on (\S+)\s*$')


def paths(directory):
    return dict(
        state=os.path.join(directory, 'pool.json'),
        stdout=os.path.join(directory, 'xapisim.out'),
        stderr=os.path.join(directory, 'xapisim.err'),
        pidfile=os.path.join(directory, 'xapisim.pid'),
    )


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().replace(b'\0', b' ').decode('utf-8', 'replace')
    except OSError:
        return ''


def parent_of(pid):
    try:
        with open('/proc/%d/stat' % pid, 'rb') as handle:
            # pid (comm) state ppid ...; comm may hold spaces or parentheses
            return int(handle.read().rsplit(b')', 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def playbook_pid():
    """The outermost ancestor running ansible-playbook (forked workers share its command line)."""
    found = 0
    pid = os.getppid()
    while pid > 1:
        if 'ansible-playbook' in read_cmdline(pid):
            found = pid
        pid = parent_of(pid)
    return found


def strip_dashes(argv):
    """argparse.REMAINDER keeps the '--' that separates our options from the command's."""
    return argv[1:] if argv[:1] == ['--'] else argv


def fail(message, **extra):
    print(json.dumps(dict(failed=True, msg=message, **extra)))
    sys.exit(1)


def tail(path, limit=4000):
    try:
        with open(path, encoding='utf-8', errors='replace') as handle:
            return handle.read()[-limit:]
    except OSError:
        return ''


def cmd_start(args):
    binary = shutil.which(args.bin) or (args.bin if os.access(args.bin, os.X_OK) else None)
    if not binary:
        fail('xapisim executable %r not found (set XAPISIM_BIN or the xapisim_bin variable)' % args.bin)
    directory = os.path.abspath(args.dir)
    os.makedirs(directory, exist_ok=True)
    files = paths(directory)
    for name in ('stdout', 'stderr', 'pidfile'):
        if os.path.exists(files[name]):
            os.remove(files[name])

    extra = strip_dashes(args.extra)
    serve = [binary, 'serve', '--port', '0', '--state', files['state']] + extra
    supervisor = [sys.executable, os.path.abspath(__file__), '_supervise', '--dir', directory,
                  '--ttl', str(args.ttl), '--watch', str(playbook_pid()), '--'] + serve
    with open(os.devnull, 'r+b') as devnull:
        proc = subprocess.Popen(supervisor, stdin=devnull, stdout=devnull, stderr=devnull,
                                start_new_session=True, close_fds=True)

    deadline = time.monotonic() + args.timeout
    url = None
    while url is None:
        first = tail(files['stdout']).splitlines()[:1]
        match = URL_LINE.match(first[0]) if first else None
        if match:
            url = match.group(1)
        elif proc.poll() is not None:
            fail('xapisim exited (%s) before it listened' % proc.returncode, stderr=tail(files['stderr']))
        elif time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            fail('xapisim printed no URL within %s s' % args.timeout, stderr=tail(files['stderr']))
        else:
            time.sleep(0.02)

    pids = tail(files['pidfile']).split()
    print(json.dumps(dict(
        url=url, pid=int(pids[0]) if pids else None, supervisor=proc.pid, dir=directory,
        state=files['state'], stdout=files['stdout'], stderr=files['stderr'], command=serve,
    )))


def cmd_supervise(args):
    files = paths(args.dir)
    command = strip_dashes(args.command)
    with open(files['stdout'], 'wb') as out, open(files['stderr'], 'wb') as err, \
            open(os.devnull, 'rb') as devnull:
        child = subprocess.Popen(command, stdin=devnull, stdout=out, stderr=err)
    tmp = files['pidfile'] + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        handle.write('%d %d\n' % (child.pid, os.getpid()))
    os.replace(tmp, files['pidfile'])

    def forward(signum, _frame):
        if child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    deadline = time.monotonic() + args.ttl
    while True:
        try:
            return child.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline or (args.watch and not alive(args.watch)):
            break
    # Nobody will stop us or read the state: stop the simulator and remove its directory.
    child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    shutil.rmtree(args.dir, ignore_errors=True)
    return 0


def cmd_stop(args):
    files = paths(os.path.abspath(args.dir))
    pids = [int(p) for p in tail(files['pidfile']).split()]
    if not pids:
        print(json.dumps(dict(changed=False, msg='no simulator recorded in %s' % args.dir)))
        return
    server, supervisor = pids[0], pids[-1]
    if alive(server):
        os.kill(server, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    while (alive(server) or alive(supervisor)) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = False
    for pid in (server, supervisor):
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            killed = True
    os.remove(files['pidfile'])
    print(json.dumps(dict(changed=True, pid=server, killed=killed)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='action', required=True)
    start = commands.add_parser('start')
    start.add_argument('--bin', default=os.environ.get('XAPISIM_BIN') or 'xapisim')
    start.add_argument('--dir', required=True)
    start.add_argument('--timeout', type=float, default=30)
    start.add_argument('--ttl', type=float, default=1800)
    start.add_argument('extra', nargs=argparse.REMAINDER)
    stop = commands.add_parser('stop')
    stop.add_argument('--dir', required=True)
    stop.add_argument('--timeout', type=float, default=15)
    supervise = commands.add_parser('_supervise')
    supervise.add_argument('--dir', required=True)
    supervise.add_argument('--ttl', type=float, required=True)
    supervise.add_argument('--watch', type=int, default=0)
    supervise.add_argument('command', nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.action == 'start':
        cmd_start(args)
    elif args.action == 'stop':
        cmd_stop(args)
    else:
        sys.exit(cmd_supervise(args))


if __name__ == '__main__':
    main()
