"""`make demo`: provision a demo fleet on an embedded simulator, run it again, show the fleet.

1. Starts xapisim (pool kept in .demo/pool.json, so a second `make demo` continues from the
   same pool; today's templates and the pool's UEFI certificates included) and a web server for
   the sample install trees and the rendered answer files; writes the simulator's sample cloud
   images (xapisim make-images) into a temporary directory.
2. Runs playbooks/fleet.yml over playbooks/demo_inventory (six VMs installed over the network:
   RHEL, CentOS, SLES; two from cloud images with cloud-init, UEFI, Secure Boot and a vTPM:
   Rocky Linux 9 with a static address, Ubuntu 24.04 by DHCP).
3. Runs it again: it must report changed=0.
4. Prints the fleet as a table and as the inventory plugin groups it, then stops what it started.
The ports are remembered in .demo/ports.json so the URLs stored in VMs stay the same.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import XenAPI

from xapisim import guestview, images, trees
from xapisim.embedded import embedded

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO = os.path.join(ROOT, ".demo")
CLOCK_SPEED = 1000.0   # simulated seconds per real second: an install takes well under a second


def free_port(wanted):
    """``wanted`` if it can be bound, else any free port."""
    for port in (wanted, 0):
        with socket.socket() as probe:
            # as the servers do: a port in TIME_WAIT from the last run is still ours to take
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port")


def remembered_ports():
    path = os.path.join(DEMO, "ports.json")
    try:
        with open(path) as handle:
            ports = json.load(handle)
    except (OSError, ValueError):
        ports = {"pool": 0, "trees": 0}
    ports = {name: free_port(port) for name, port in ports.items()}
    with open(path, "w") as handle:
        json.dump(ports, handle)
    return ports


def run_fleet(env, label):
    """ansible-playbook fleet.yml with its output streamed; returns the recap's changed counts."""
    print("\n=== %s: ansible-playbook playbooks/fleet.yml" % label, flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
         "-i", os.path.join(ROOT, "playbooks", "demo_inventory"),
         os.path.join(ROOT, "playbooks", "fleet.yml")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    changed, failed = {}, False
    for line in proc.stdout:
        sys.stdout.write(line)
        match = re.match(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", line)
        if match:
            changed[match.group(1)] = int(match.group(2))
            failed = failed or int(match.group(3)) > 0 or int(match.group(4)) > 0
    if proc.wait() != 0 or failed:
        raise SystemExit("make demo: %s failed (exit %d)" % (label, proc.returncode))
    print("=== %s took %.1f s; changed per host: %s" % (
        label, time.monotonic() - started, ", ".join("%s=%d" % kv for kv in sorted(changed.items()))),
        flush=True)
    return changed


def firmware_facts(api, vm):
    """(firmware, Secure Boot, vTPM) as the table shows them: PV guests have no firmware."""
    if not vm["HVM_boot_policy"]:
        return "PV", "-", "-"
    firmware = vm["HVM_boot_params"].get("firmware", "bios")
    secure_boot = vm["platform"].get("secureboot", "false") if firmware == "uefi" else "-"
    return firmware, secure_boot, "yes" if vm["VTPMs"] else "-"


def guest_hostname(state, name):
    """The hostname the guest set (cloud-init's), from the simulator's guest view (a test hook:
    xapi reports no hostname for Linux guests)."""
    try:
        return guestview.view(guestview.load(state), name).get("hostname") or "-"
    except (OSError, ValueError, guestview.GuestViewError):
        return "-"


def fleet_table(url, state):
    session = XenAPI.Session(url)
    session.xenapi.login_with_password("root", "xenroot", "2.21", "make-demo")
    api = session.xenapi
    rows = []
    try:
        expr = 'field "is_a_template"="false" and field "is_control_domain"="false"'
        for ref, vm in sorted(api.VM.get_all_records_where(expr).items(), key=lambda kv: kv[1]["name_label"]):
            if vm["other_config"].get("xenserver.provisioning.fleet") != "demo":
                continue
            guest = {}
            if vm["guest_metrics"] != "OpaqueRef:NULL":
                guest = api.VM_guest_metrics.get_record(vm["guest_metrics"])
            os_version = guest.get("os_version", {})
            loader = vm["PV_bootloader"] + (" " + vm["PV_bootloader_args"] if vm["PV_bootloader_args"] else "")
            keys = sorted(k[len("vm-data/"):] for k in vm["xenstore_data"] if k.startswith("vm-data/"))
            rows.append((vm["name_label"], "%s %s" % (os_version.get("distro", "?"), os_version.get("major", "")),
                         vm["power_state"].lower(), guest.get("networks", {}).get("0/ip", "-"),
                         guest_hostname(state, vm["name_label"])) + firmware_facts(api, vm)
                        + (os_version.get("uname", "-"), loader or "-", ",".join(keys)))
    finally:
        session.xenapi.session.logout()
    header = ("VM", "distro", "power", "IP", "hostname", "firmware", "Secure Boot", "vTPM", "booted kernel",
              "bootloader and args", "vm-data keys")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    line = "  ".join("%-*s" % (w, h) for w, h in zip(widths, header))
    print("\n" + line + "\n" + "-" * len(line))
    for row in rows:
        print("  ".join("%-*s" % (w, c) for w, c in zip(widths, row)))
    return rows


def show_inventory(env):
    """The same fleet as the inventory plugin sees it (playbooks/demo.xenserver.yml)."""
    print("\n=== ansible-inventory -i playbooks/demo.xenserver.yml --graph", flush=True)
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"),
                    "-i", os.path.join(ROOT, "playbooks", "demo.xenserver.yml"), "--graph"],
                   cwd=ROOT, env=env, check=True)


def main():
    os.makedirs(DEMO, exist_ok=True)
    trees_dir = os.path.join(DEMO, "trees")
    answer_dir = os.path.join(trees_dir, "answers")
    if not os.path.isdir(trees_dir):
        trees.write_samples(trees_dir)
    os.makedirs(answer_dir, exist_ok=True)
    ports = remembered_ports()
    started = time.monotonic()
    state = os.path.join(DEMO, "pool.json")
    images_dir = tempfile.TemporaryDirectory(prefix="make-demo-images-")
    images.write_samples(images_dir.name)
    with images_dir, embedded(port=ports["pool"], state=state, clock_speed=CLOCK_SPEED,
                              template_set="all") as pool:
        tree_server = trees.TreeServer(trees_dir, port=ports["trees"])
        tree_server.start()
        try:
            print("make demo: XenAPI simulator at %s (state in .demo/pool.json), install trees at %s"
                  % (pool.url, tree_server.url), flush=True)
            env = dict(os.environ, XENSERVER_HOST=pool.url, XENSERVER_USER="root",
                       XENSERVER_PASSWORD="xenroot", DEMO_TREES_URL=tree_server.url,
                       DEMO_ANSWER_DIR=answer_dir, DEMO_ANSWER_BASE_URL=tree_server.url + "/answers",
                       DEMO_IMAGES_DIR=images_dir.name, ANSIBLE_FORKS="8", ANSIBLE_PIPELINING="True")
            run_fleet(env, "run 1")
            second = run_fleet(env, "run 2 (the same playbook again)")
            rows = fleet_table(pool.url, state)
            show_inventory(env)
        finally:
            tree_server.stop()
    total = sum(second.values())
    print("\nmake demo: %d VMs; second run changed=%d; %.0f s in all" % (len(rows), total, time.monotonic() - started))
    if total:
        raise SystemExit("make demo: the second run changed something: %s" % second)


if __name__ == "__main__":
    main()
