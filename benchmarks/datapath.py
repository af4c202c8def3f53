#!/usr/bin/env python3
"""The disk data path: import and export throughput of a 256 MiB VDI, and the simulator's peak memory.

Starts `xapisim serve --state` of this checkout in a subprocess, logs in with the XenAPI SDK,
makes a 256 MiB VDI and times, over plain HTTP on loopback:
  - PUT /import_raw_vdi (raw), until the server closes the connection (the 200 comes before
    the body, as xapi sends it; the contents are fsync'ed and the task done by the close);
  - GET /export_raw_vdi (raw), reading the body to the end;
  - the same as a dynamic VHD (format=vhd), export then import into a second VDI.
The disk is half random MiBs and half zero MiBs (sent as zeros; stored as holes). The
server's peak resident memory is its VmHWM from /proc/<pid>/status after all of it.

    .venv/bin/python benchmarks/datapath.py              # print the figures
    .venv/bin/python benchmarks/datapath.py --update     # and write them into results.md

run.py runs it too (section 6 of results.md).
"""
import argparse
import http.client
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlencode, urlsplit

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
SIMULATOR = os.path.join(ROOT, "simulator")
MiB = 1024 ** 2
SIZE = 256 * MiB
HEADING = "## 6. Disk data path: 256 MiB through /import_raw_vdi and /export_raw_vdi"


def _status(pid, key):
    with open("/proc/%d/status" % pid, encoding="ascii") as handle:
        for line in handle:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _banner(proc, timeout=30):
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 1)[0]:
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                break
            line += chunk
    text = line.decode()
    if not text.startswith("xapisim listening on "):
        raise RuntimeError("xapisim did not start: %r" % text)
    return text.split()[-1]


def _disk(seed=1):
    """256 MiB in 1 MiB chunks: even MiBs random (from a 16 MiB pool), odd MiBs zero."""
    rnd = random.Random(seed)
    pool = [rnd.randbytes(MiB) for _ in range(16)]
    zero = bytes(MiB)
    for index in range(SIZE // MiB):
        yield pool[index // 2 % 16] if index % 2 == 0 else zero


def _put(url, query, body, length):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    conn.request("PUT", "/import_raw_vdi?" + urlencode(query), body=body,
                 headers={"Content-Length": str(length)})
    reply = conn.getresponse()
    reply.read()
    conn.close()
    if reply.status != 200:
        raise RuntimeError("import answered %d" % reply.status)


def _get(url, query, sink=None):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    conn.request("GET", "/export_raw_vdi?" + urlencode(query))
    reply = conn.getresponse()
    total = 0
    while True:
        chunk = reply.read(MiB)
        if not chunk:
            break
        total += len(chunk)
        if sink:
            sink.write(chunk)
    conn.close()
    return total


def measure():
    import XenAPI
    work = tempfile.mkdtemp(prefix="xapisim-datapath-")
    # This checkout's simulator, whichever venv runs it (a git worktree has no .venv of its own).
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (SIMULATOR, os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, "-m", "xapisim", "serve", "--port", "0", "--state",
                             os.path.join(work, "pool.json")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        url = _banner(proc)
        session = XenAPI.Session(url)
        session.xenapi.login_with_password("root", "xenroot", "1.0", "benchmarks/datapath.py")
        x = session.xenapi
        sr = x.SR.get_by_name_label("Local storage")[0]

        def vdi(name):
            return x.VDI.create({"name_label": name, "name_description": "", "SR": sr,
                                 "virtual_size": str(SIZE), "type": "user", "sharable": False,
                                 "read_only": False, "other_config": {}, "xenstore_data": {},
                                 "sm_config": {}, "tags": []})
        first, second = vdi("bench"), vdi("bench-vhd")
        idle = _status(proc.pid, "VmHWM")
        query = {"session_id": session._session}
        times = {}
        started = time.monotonic()
        _put(url, dict(query, vdi=first), _disk(), SIZE)
        times["import raw"] = time.monotonic() - started
        started = time.monotonic()
        assert _get(url, dict(query, vdi=first)) == SIZE
        times["export raw"] = time.monotonic() - started
        image = os.path.join(work, "disk.vhd")
        started = time.monotonic()
        with open(image, "wb") as sink:
            vhd_size = _get(url, dict(query, vdi=first, format="vhd"), sink)
        times["export vhd"] = time.monotonic() - started
        started = time.monotonic()
        with open(image, "rb") as body:
            _put(url, dict(query, vdi=second, format="vhd"), body, vhd_size)
        times["import vhd"] = time.monotonic() - started
        stored = os.path.join(work, "pool.json.vdis", x.VDI.get_uuid(first) + ".raw")
        result = {
            "size": SIZE, "vhd_size": vhd_size, "seconds": times,
            "peak_rss": _status(proc.pid, "VmHWM"), "idle_rss": idle,
            "stored_bytes": os.stat(stored).st_blocks * 512,
            "loadavg": "%.2f" % os.getloadavg()[0],
        }
        session.xenapi.session.logout()
        return result
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)


def markdown(result):
    rows = ["| transfer | body | time | throughput |", "|---|---|---|---|"]
    for name, seconds in result["seconds"].items():
        body = result["vhd_size"] if "vhd" in name else result["size"]
        rows.append("| %s | %d MiB | %.2f s | %.0f MiB/s |" % (name, body // MiB, seconds, body / MiB / seconds))
    return "\n".join([
        HEADING, "",
        "`benchmarks/datapath.py`: one `xapisim serve --state` process, plain HTTP on loopback, the "
        "unmodified SDK's session; a 256 MiB VDI, half random MiBs and half zero MiBs. Import times run "
        "until the server closes the connection (its 200 comes before the body, as xapi's), which it does "
        "once the contents are fsync'ed and the task is done; the VHD rows are a dynamic VHD "
        "exported from that VDI and imported into a second one.", "",
    ] + rows + [
        "",
        "Simulator peak resident memory (VmHWM) after all four: **%d MiB** for the 256 MiB disk (%d MiB "
        "before the first transfer); the bodies stream in 1 MiB chunks. Stored: %d MiB on disk for the "
        "256 MiB VDI (the zero MiBs are holes). One run, 1-minute load average %s."
        % (result["peak_rss"] // MiB, result["idle_rss"] // MiB, result["stored_bytes"] // MiB,
           result["loadavg"]),
        "",
    ])


def update_results(result, path=os.path.join(BENCH, "results.md")):
    """Put the section into results.md, replacing an earlier one."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    section = markdown(result)
    if HEADING in text:
        before, _, rest = text.partition(HEADING)
        following = rest.find("\n## ")
        text = before + section + (rest[following + 1:] if following >= 0 else "")
    else:
        marker = text.find("\n## Notes")
        text = text[:marker + 1] + section + "\n" + text[marker + 1:] if marker >= 0 else text + "\n" + section
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--update", action="store_true", help="write the figures into benchmarks/results.md")
    args = parser.parse_args()
    result = measure()
    print(markdown(result))
    if args.update:
        update_results(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
