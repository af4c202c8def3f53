"""``xapisim serve``: run the simulator until SIGTERM/SIGINT, then save and exit 0.

``xapisim make-tree`` / ``make-trees`` / ``serve-trees``: sample network install trees
(xapisim.trees) and a local HTTP server for them (prints ``xapisim trees on <url>``).

``xapisim make-images``: sample cloud images and installer ISOs for HVM guests (xapisim.images);
``serve --iso-dir DIR`` offers DIR's *.iso files as an ISO library SR (xapisim.isolib).

``xapisim guest`` / ``xenstore-read``: test hooks that read a ``--state`` file and print what
a simulated guest sees from the inside (xapisim.guestview); XenAPI has no equivalent.

``xapisim start`` / ``stop``: ``serve`` (and ``serve-trees``) in the background for test
harnesses, with a supervisor that stops them when forgotten (xapisim.background).
"""
import argparse
import json
import os
import signal
import sys
import tempfile
import threading

from . import faults as faults_mod
from . import background, guestview, images, isolib, trees
from .server import CallLog, Server
from .sim import Simulator

ROLES = ("pool-admin", "pool-operator", "vm-power-admin", "vm-admin", "vm-operator", "read-only")


def _user(text):
    parts = text.split(":")
    if len(parts) != 3 or parts[2] not in ROLES:
        raise argparse.ArgumentTypeError(
            "expected NAME:PASSWORD:ROLE with ROLE one of %s, got %r" % (", ".join(ROLES), text))
    return parts


def parser():
    top = argparse.ArgumentParser(prog="xapisim", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve a simulated pool")
    serve.add_argument("--host", default="127.0.0.1", help="address of the pool master")
    serve.add_argument("--port", type=int, default=0, help="0 picks a free port")
    serve.add_argument("--state", help="JSON file the pool is loaded from and saved to")
    serve.add_argument("--password", default="xenroot", help="root's password")
    serve.add_argument("--user", type=_user, action="append", default=[],
                       metavar="NAME:PASSWORD:ROLE", help="an extra RBAC user (repeatable)")
    serve.add_argument("--latency-ms", type=float, default=0, help="added to every call")
    serve.add_argument("--call-log", help="append one JSON line per call to this file")
    serve.add_argument("--tls", action="store_true", help="serve https with a self-signed certificate")
    serve.add_argument("--cert-dir", help="where --tls writes its certificate (default: a temp dir)")
    serve.add_argument("--members", type=int, default=0,
                       help="pool members on 127.0.0.2... (same port) answering HOST_IS_SLAVE")
    serve.add_argument("--template-set", choices=("legacy", "modern", "all"), default="all",
                       help="the pool's templates: legacy (XenServer 4.1-era PV installs), modern "
                            "(XenServer 8 / XCP-ng 8.3 HVM, guest-templates-json) or all (default)")
    serve.add_argument("--no-uefi-certificates", dest="uefi_certificates", action="store_false",
                       help="a pool without Secure Boot certificates (a fresh XCP-ng 8.3 before "
                            "secureboot-certs install): Secure Boot VMs stay in setup mode")
    serve.add_argument("--filler-vms", type=int, default=0, help="extra halted VMs for scale tests")
    serve.add_argument("--faults", default="", help="fault injection spec (see docs/simulator.md)")
    serve.add_argument("--fault-log", help="append one JSON line per injected fault to this file")
    serve.add_argument("--clock-speed", type=float, default=100.0,
                       help="simulated seconds per real second for boots, installs, shutdowns")
    serve.add_argument("--iso-dir", help="an ISO library SR holding this directory's *.iso files")
    serve.add_argument("--session-ttl", type=float, default=0,
                       help="idle seconds before a session expires (0: never)")
    trees_help = "sample network install trees (xapisim.trees)"
    make_tree = commands.add_parser("make-tree", help="write one sample install tree into DIR")
    make_tree.add_argument("--distro", required=True, choices=trees.DISTROS)
    make_tree.add_argument("--version", required=True, choices=trees.VERSIONS,
                           help="release: 5.1, 4.5, 5.0, 10sp1, ...")
    make_tree.add_argument("--arch", required=True, choices=trees.ARCHES)
    make_tree.add_argument("directory", metavar="DIR")
    make_trees = commands.add_parser("make-trees", help="write the sample set of " + trees_help)
    make_trees.add_argument("--all", action="store_true", help="every known release, not just the samples")
    make_trees.add_argument("directory", metavar="DIR")
    make_images = commands.add_parser(
        "make-images", help="write sample cloud images (raw) and installer ISOs for HVM guests into DIR")
    make_images.add_argument("directory", metavar="DIR")
    serve_trees = commands.add_parser("serve-trees", help="serve DIR over HTTP until SIGTERM/SIGINT")
    serve_trees.add_argument("directory", metavar="DIR")
    serve_trees.add_argument("--host", default="127.0.0.1")
    serve_trees.add_argument("--port", type=int, default=0, help="0 picks a free port")
    hook = "test hook, reads the --state file of a running or stopped simulator"
    guest = commands.add_parser("guest", help="print a guest's own view as JSON (%s)" % hook)
    guest.add_argument("--state", required=True, help="the state file of xapisim serve --state")
    guest.add_argument("--vm", required=True, help="the VM's name or uuid")
    xs_read = commands.add_parser("xenstore-read",
                                  help="xenstore-read PATH inside a guest (%s)" % hook)
    xs_read.add_argument("--state", required=True, help="the state file of xapisim serve --state")
    xs_read.add_argument("--vm", required=True, help="the VM's name or uuid")
    xs_read.add_argument("path", metavar="PATH",
                         help="relative to the guest's /local/domain/<domid> (vm-data/foo), or absolute under it")
    start = commands.add_parser("start", help="serve in the background, print DIR/env.json (url, pid, ...)")
    start.add_argument("--dir", required=True, help="state, logs and env.json; a running one is restarted")
    start.add_argument("--trees", action="store_true",
                       help="also make-trees DIR/trees (answer files: DIR/trees/answers-roles) and serve-trees it")
    start.add_argument("--ttl", type=float, default=1800, help="stop the servers and remove DIR S seconds after they are up")
    start.add_argument("--watch-ansible", action="store_true",
                       help="... or once the ansible-playbook run this command belongs to is gone")
    start.add_argument("--timeout", type=float, default=30, help="seconds to wait for the servers' banners")
    start.add_argument("serve_args", nargs=argparse.REMAINDER, metavar="-- SERVE-OPTION",
                       help="passed to xapisim serve, e.g. -- --clock-speed 2000")
    stop = commands.add_parser("stop", help="stop what xapisim start started in DIR and remove DIR")
    stop.add_argument("--dir", required=True)
    stop.add_argument("--timeout", type=float, default=15, help="seconds from SIGTERM to SIGKILL")
    stop.add_argument("--keep", action="store_true", help="keep DIR (the saved pool.json, the logs)")
    return top


def background_command(args):
    if args.command == "stop":
        return background.stop(args.dir, timeout=args.timeout, remove=not args.keep)
    # argparse keeps the "--" that separates start's options from serve's
    serve_args = args.serve_args[1:] if args.serve_args[:1] == ["--"] else args.serve_args
    return background.start(args.dir, trees=args.trees, ttl=args.ttl, timeout=args.timeout,
                            watch_ansible=args.watch_ansible, serve_args=serve_args)


def guest_command(args):
    """0 and the answer on stdout; 1 and xenstore-read's complaint on stderr (missing key, a
    domain that does not run, another domain's path); 2 for a bad state file or VM name."""
    data = guestview.load(args.state)
    if args.command == "guest":
        print(json.dumps(guestview.view(data, args.vm), indent=2, sort_keys=True))
        return 0
    guestview.find_vm(data, args.vm)        # no such VM: exit 2, from main
    try:
        print(guestview.xenstore_read(data, args.vm, args.path))
    except guestview.GuestViewError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


def tree_command(args):
    if args.command == "make-tree":
        for path in trees.write_tree(args.directory, args.distro, args.version, args.arch):
            print(path)
        return 0
    if args.command == "make-trees":
        for name in trees.write_samples(args.directory, everything=args.all):
            print(os.path.join(args.directory, name))
        return 0
    if args.command == "make-images":
        for name in images.write_samples(args.directory):
            print(os.path.join(args.directory, name))
        return 0
    if not os.path.isdir(args.directory):
        raise ValueError("no such directory: %s" % args.directory)
    server = trees.TreeServer(args.directory, args.host, args.port).start()
    print("xapisim trees on %s" % server.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    server.stop()
    return 0


def serve(args):
    users = {"root": (args.password, "pool-admin")}
    users.update({name: (password, role) for name, password, role in args.user})
    sim = Simulator(state=args.state, users=users, template_set=args.template_set,
                    members=args.members, filler_vms=args.filler_vms,
                    master_address=args.host, clock_speed=args.clock_speed,
                    session_ttl=args.session_ttl, uefi_certificates=args.uefi_certificates)
    if args.iso_dir:
        isolib.attach(sim, args.iso_dir)
    context = None
    scheme = "http"
    addresses = [args.host] + ["127.0.0.%d" % (i + 2) for i in range(args.members)]
    if args.tls:
        from .tls import make_certificate, server_context
        directory = args.cert_dir or (os.path.dirname(os.path.abspath(args.state)) if args.state
                                      else tempfile.mkdtemp(prefix="xapisim-"))
        cert, key = make_certificate(directory, addresses)
        context = server_context(cert, key)
        scheme = "https"
        print("xapisim certificate %s" % cert, file=sys.stderr, flush=True)
    log = CallLog(args.call_log)
    faults = faults_mod.Faults(args.faults, log=args.fault_log) if args.faults else None
    common = dict(latency_ms=args.latency_ms, call_log=log, faults=faults, ssl_context=context)
    master = Server(sim, (args.host, args.port), **common)
    port = master.server_address[1]
    servers = [master] + [Server(sim, (address, port), member=True, **common)
                          for address in addresses[1:]]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("xapisim listening on %s://%s:%d" % (scheme, args.host, port), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass
    for server in servers:
        server.shutdown()
        server.server_close()
    sim.guests.close()
    sim.db.commit()
    if faults is not None:
        print("xapisim faults injected %s" % json.dumps(faults.summary(), sort_keys=True),
              file=sys.stderr, flush=True)
    return 0


def main(argv=None):
    args = parser().parse_args(argv)
    if args.command in ("make-tree", "make-trees", "make-images", "serve-trees"):
        try:
            return tree_command(args)
        except (OSError, ValueError) as err:
            print("xapisim: %s" % err, file=sys.stderr)
            return 2
    if args.command in ("guest", "xenstore-read"):
        try:
            return guest_command(args)
        except (OSError, ValueError, KeyError, guestview.GuestViewError) as err:
            print("xapisim: %s" % err, file=sys.stderr)
            return 2
    if args.command in ("start", "stop"):
        try:
            print(json.dumps(background_command(args), sort_keys=True))
        except (OSError, ValueError, background.StartError) as err:
            print("xapisim: %s" % err, file=sys.stderr)
            return 1
        return 0
    if args.command == "serve":
        try:
            return serve(args)
        except (OSError, ValueError) as err:
            print("xapisim: %s" % err, file=sys.stderr)
            return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
