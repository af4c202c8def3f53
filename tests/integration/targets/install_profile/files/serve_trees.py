# Copyright: Contributors to the xenserver.provisioning collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Serve sample install trees over HTTP on 127.0.0.1 for the install_profile target.

    python serve_trees.py --xapisim BIN --root DIR --ready FILE [--ttl SECONDS]
        TREE=DISTRO:RELEASE:ARCH...

Writes each sample tree under DIR/TREE with the simulator's ``BIN make-tree`` (xapisim.trees:
kernel, ramdisk and the .treeinfo / .discinfo / content files real trees carry; the collection
itself builds no trees), serves DIR on a free port, writes {"url": ..., "pid": ...} to FILE once
listening, and exits on SIGTERM or after --ttl seconds, so a target that fails before its
cleanup leaves no server behind.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import signal
import subprocess
import threading


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--xapisim', required=True, help="the simulator's console script")
    parser.add_argument('--root', required=True)
    parser.add_argument('--ready', required=True)
    parser.add_argument('--ttl', type=float, default=600)
    parser.add_argument('trees', nargs='+')
    args = parser.parse_args(argv)

    for tree in args.trees:
        name, spec = tree.split('=', 1)
        distro, release, arch = spec.split(':')
        subprocess.run([args.xapisim, 'make-tree', '--distro', distro, '--version', release, '--arch', arch,
                        os.path.join(args.root, name)], check=True, stdout=subprocess.DEVNULL)

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=args.root))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_ignored: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = args.ready + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump({'url': 'http://127.0.0.1:%d' % server.server_address[1], 'pid': os.getpid()}, handle)
    os.replace(tmp, args.ready)
    stop.wait(args.ttl)
    server.shutdown()
    server.server_close()


if __name__ == '__main__':
    main()
