#!/usr/bin/env python3
"""Concurrent runs creating one VM (issue 16): the full counts behind docs/reliability.md.

For each of `vm` (one task) and `vm_fleet` (one entry), at 0 and 20 ms added per call, without
and with 5 % of calls reset (2.5 % before the pool acted, 2.5 % after: the answer lost):
TRIALS trials of RUNS module runs started at once, each trial on a VM name of its own. After
each trial the pool is read through the SDK: VMs of that name, VMs under a provisional name,
disks no VBD uses that were not there before, claim tickets left; and every run's outcome.
Then KILLS trials of a run killed (SIGKILL) while it holds the claim (the pool holds the
answer of its VDI.create), followed by four runs: the time from the kill until the last ends,
against the dead run's lease plus one provision (four runs creating another VM of the same
shape without a dead holder: one creates, three converge).

    .venv/bin/python benchmarks/concurrency.py                 # the full counts, ~5 minutes
    .venv/bin/python benchmarks/concurrency.py --trials 2      # fewer
    .venv/bin/python benchmarks/concurrency.py --without-claim # the same with the claim
                                                               # switched off (the issue's race)

The runs are forked children of this process running the module's main() (harness:
tests/unit/reliability/concurrent_runs.py); the simulator is `xapisim serve` of this checkout.
Writes benchmarks/concurrency.json.
"""
import argparse
import json
import os
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "reliability"))

import concurrent_runs as cr  # noqa: E402

SETTINGS = [
    ("0 ms", 0, ""),
    ("20 ms", 20, ""),
    ("0 ms, 5 % resets", 0, "reset=0.025,reset_after=0.025,seed=%d"),
    ("20 ms, 5 % resets", 20, "reset=0.025,reset_after=0.025,seed=%d"),
]
LEASE = 2.0
CREATING = ("VM.clone", "VM.provision", "VIF.create", "VDI.create", "VBD.create")


def settings_rows(trials, runs):
    rows = []
    for label, latency, faults in SETTINGS:
        for module in ("vm", "vm_fleet"):
            server = cr.Server(latency_ms=latency, faults=faults % (len(rows) + 1) if faults else "")
            try:
                found = [cr.trial(server, module, "race-%d" % t, runs) for t in range(trials)]
                injected = server.faults()
            finally:
                server.close()
            row = dict(setting=label, module=module, trials=trials, runs=runs * trials,
                       ok=sum(f["ok"] for f in found), changed=sum(f["changed"] for f in found),
                       trials_one_vm=sum(1 for f in found if f["vms"] == 1),
                       extra_vms=sum(max(0, f["vms"] - 1) for f in found),
                       missing_vms=sum(1 for f in found if f["vms"] == 0),
                       provisional=sum(f["provisional"] for f in found),
                       orphans=sum(f["orphans"] for f in found), tickets=sum(f["tickets"] for f in found),
                       slowest_s=round(max(f["seconds"] for f in found), 2),
                       mean_s=round(sum(f["seconds"] for f in found) / len(found), 2),
                       failures=[m for f in found for m in f["failures"]][:5],
                       resets_before=sum(1 for f, _m in injected if f == "reset"),
                       resets_after=sum(1 for f, _m in injected if f == "reset_after"),
                       resets_of_claim_calls=sum(1 for _f, m in injected if "gui_config" in m),
                       lost_creates=sum(1 for f, m in injected if f == "reset_after" and m in CREATING))
            rows.append(row)
            print("%-18s %-8s one VM in %2d/%d trials, %3d/%d runs ok, %d changed, extra VMs %d, provisional %d, "
                  "orphan VDIs %d, tickets %d, slowest trial %.2f s; resets %d before / %d after (%d of claim "
                  "calls, %d lost answers of creating calls)" % (
                      label, module, row["trials_one_vm"], trials, row["ok"], row["runs"], row["changed"],
                      row["extra_vms"], row["provisional"], row["orphans"], row["tickets"], row["slowest_s"],
                      row["resets_before"], row["resets_after"], row["resets_of_claim_calls"], row["lost_creates"]),
                  flush=True)
    return rows


def kill_rows(kills):
    rows = []
    disks = [{"size_gb": 4}, {"size_gb": 1, "name": "data"}]
    for k in range(kills):
        server = cr.Server(faults="delay@VDI.create=1500")
        try:
            api = server.api()
            task = cr.vm_task("killed", template="base", disks=disks + [{"size_gb": 1, "name": "extra"}])
            cr.Run("vm", cr.module_args(server, "vm", cr.vm_task("base", disks=disks))).result()
            # "One provision": four runs creating a VM without a dead holder (one creates, three
            # converge), from the first start to the last end.
            started = time.monotonic()
            cr.concurrent(server, "vm", dict(task, name="alone"), runs=4)
            one_create = time.monotonic() - started
            before = cr.unused_disks(api)
            victim = cr.Run("vm", cr.module_args(server, "vm", task), env={"XENSERVER_CLAIM_LEASE": str(LEASE)})
            while not any(cr.HOLDER_KEY in v["other_config"] for v in cr.unused_disks(api).values()):
                time.sleep(0.02)
            victim.kill()
            victim.result()
            killed = time.monotonic()
            outcomes = cr.concurrent(server, "vm", task, runs=4)
            took = time.monotonic() - killed
            found = cr.pool_findings(api, "killed", before)
            row = dict(trial=k + 1, lease_s=LEASE, one_create_s=round(one_create, 2), others_done_s=round(took, 2),
                       within=took <= LEASE + one_create, ok=sum(1 for r, _s in outcomes if not r.get("failed")),
                       vms=found["vms"], provisional=found["provisional"], orphans=found["orphans"],
                       tickets=found["tickets"])
            rows.append(row)
            print("killed holder %d: lease %.1f s + one provision %.2f s; the 4 others done %.2f s after the kill; "
                  "%d/4 ok, %d VM, %d provisional, %d orphan VDIs" % (
                      k + 1, LEASE, one_create, took, row["ok"], row["vms"], row["provisional"], row["orphans"]),
                  flush=True)
        finally:
            server.close()
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--kills-only", action="store_true", help="only the killed-holder trials")
    parser.add_argument("--without-claim", action="store_true",
                        help="switch the claim off in the runs (to see the race it prevents)")
    parser.add_argument("--output", default=os.path.join(BENCH, "concurrency.json"))
    args = parser.parse_args()
    if args.without_claim:
        cr._collections()
        from ansible_collections.xenserver.provisioning.plugins.module_utils import _vm_lifecycle
        _vm_lifecycle._needs_claim = lambda *_args: False
    load = os.getloadavg()
    started = time.monotonic()
    rows = settings_rows(args.trials, args.runs) if not args.kills_only else []
    kills = kill_rows(args.kills) if not args.without_claim else []
    result = dict(claim=not args.without_claim, trials=args.trials, runs=args.runs, settings=rows, kills=kills,
                  seconds=round(time.monotonic() - started, 1), load_before=load, load_after=os.getloadavg())
    if args.kills_only and os.path.exists(args.output):
        with open(args.output) as handle:
            kept = json.load(handle)
        kept.update(kills=kills, kills_load=[load, result["load_after"]])
        result = dict(kept, seconds=result["seconds"])
    if not args.without_claim:
        with open(args.output, "w") as handle:
            json.dump(result, handle, indent=1, sort_keys=True)
            handle.write("\n")
    print("%.0f s, load %.1f -> %.1f" % (result["seconds"], load[0], result["load_after"][0]))
    return result


if __name__ == "__main__":
    main()
