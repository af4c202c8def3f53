#!/usr/bin/env python3
"""benchmarks/fleet.png from benchmarks/results.json: fleet time (and calls) against fleet size.

Runs in benchmarks/.venv-cg, which has matplotlib (benchmarks/requirements.txt).
Usage: chart.py results.json fleet.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

# The fleets of run.py: one task per host on each side, and vm_fleet (one task for all).
LABEL = {"ours_one": "xenserver.provisioning, one vm task per host", "cg_one": "community.general, one task per host",
         "ours_fleet": "xenserver.provisioning, vm_fleet"}
COLOR = {"ours_one": "#1f77b4", "cg_one": "#d62728", "ours_fleet": "#2ca02c"}
STYLE = {0: ":", 5: "--", 20: "-"}


def main(source, target):
    with open(source) as handle:
        results = json.load(handle)
    fleet = results["fleet"]
    figure, (times, calls) = plt.subplots(1, 2, figsize=(11, 4.5))
    for ms in sorted(fleet, key=int):
        sizes = sorted(fleet[ms], key=int)
        for coll in LABEL:
            x = [int(n) for n in sizes]
            style = dict(color=COLOR[coll], linestyle=STYLE.get(int(ms), "-"), marker="o")
            label = "%s, %s ms" % (LABEL[coll], ms)
            if coll not in fleet[ms][sizes[0]]:
                continue
            times.plot(x, [fleet[ms][n][coll]["wall_s"] for n in sizes], label=label, **style)
            calls.plot(x, [fleet[ms][n][coll]["calls"] for n in sizes], label=label, **style)
    forks = results["settings"]["forks"]
    times.set(title="Fleet provision time (forks %d)" % forks, xlabel="VMs (one per host)",
              ylabel="wall time of ansible-playbook (s)")
    calls.set(title="XenAPI calls for the fleet", xlabel="VMs (one per host)", ylabel="calls")
    for axes in (times, calls):
        axes.set_ylim(bottom=0)
        axes.set_xlim(left=0)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=7, handlelength=4)  # long enough to show the dashes
    v = results["versions"]
    figure.suptitle("One VM per host: create from template, 3 vm-data keys, start "
                    "(xapisim, %s cores, ansible-core %s, community.general %s)"
                    % (v["cpus"], v["ours_ansible_core"], v["community_general"]), fontsize=9)
    figure.tight_layout()
    figure.savefig(target, dpi=100)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
