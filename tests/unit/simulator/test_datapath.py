"""The HTTP disk data path: PUT /import_raw_vdi, GET /export_raw_vdi, task.create.

Through real HTTP (http.client) with sessions from the unmodified XenAPI SDK. Sources
(xapi-project/xen-api): ocaml/xapi/import_raw_vdi.ml, export_raw_vdi.ml, xapi_http.ml
(assert_credentials_ok, with_context), ocaml/libs/http-lib/http_svr.ml (the 401/403/500
pages), ocaml/idl/datamodel.ml (http_actions: put_import_raw_vdi / get_export_raw_vdi are
_R_VM_ADMIN), ocaml/xapi/xapi_task.ml (create), taskHelper.ml; vhd-tool (ocaml/vhd-tool/src/
impl.ml serve: a raw body of Content-Length bytes, else the VDI's size).
"""
import hashlib
import http.client
import json
import os
import random
import signal
import socket
import ssl
import struct
import time
from unittest import mock
from urllib.parse import urlencode, urlsplit

import pytest
import XenAPI

MiB = 1024 ** 2
TEMPLATE = "CentOS 5 (64-bit)"
READ_ONLY = {"root": ("xenroot", "pool-admin"), "viewer": ("pw", "read-only"),
             "admin": ("pw", "vm-admin"), "operator": ("pw", "vm-operator")}
DENIED = ("No permission in user session. (Roles with this permission: "
          "pool-admin, pool-operator, vm-power-admin, vm-admin)")


# --- helpers ---------------------------------------------------------------------------------

def connect(url, context=None):
    parts = urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=60)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)


def put(url, query, body, length="auto", headers=None, context=None):
    """PUT /import_raw_vdi; ``body`` is bytes or an iterable of chunks. -> (status, headers, text)."""
    conn = connect(url, context)
    sent = dict(headers or {})
    if length == "auto":
        length = len(body) if isinstance(body, bytes) else None
    if length is not None:
        sent["Content-Length"] = str(length)
    conn.request("PUT", "/import_raw_vdi?" + urlencode(query), body=body, headers=sent)
    reply = conn.getresponse()
    text = reply.read()
    conn.close()
    return reply.status, dict(reply.getheaders()), text


def export(url, query, context=None):
    """GET /export_raw_vdi -> (status, headers, sha256 of the body, its length), streamed."""
    conn = connect(url, context)
    conn.request("GET", "/export_raw_vdi?" + urlencode(query))
    reply = conn.getresponse()
    digest, length = hashlib.sha256(), 0
    while True:
        chunk = reply.read(MiB)
        if not chunk:
            break
        digest.update(chunk)
        length += len(chunk)
    conn.close()
    return reply.status, dict(reply.getheaders()), digest.hexdigest(), length


def export_bytes(url, query, context=None):
    conn = connect(url, context)
    conn.request("GET", "/export_raw_vdi?" + urlencode(query))
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply.status, data


def pattern(size, seed=1):
    """A disk of ``size`` bytes in 1 MiB chunks: random data, zero MiBs and half-zero MiBs,
    made on the fly so the test never holds the whole disk."""
    rnd = random.Random(seed)
    for index in range(size // MiB):
        kind = index % 4
        if kind == 1:
            yield bytes(MiB)
        elif kind == 3:
            yield bytes(MiB // 2) + rnd.randbytes(MiB // 2)
        else:
            yield rnd.randbytes(MiB)


def digest_of(chunks):
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def new_vdi(x, size, name="data", **extra):
    record = {"name_label": name, "name_description": "", "SR": x.SR.get_by_name_label("Local storage")[0],
              "virtual_size": str(size), "type": "user", "sharable": False, "read_only": False,
              "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []}
    record.update(extra)
    return x.VDI.create(record)


def session_of(x):
    return x._session if hasattr(x, "_session") else x.session


def login(url, user="root", password="xenroot"):
    session = XenAPI.Session(url, ignore_ssl=True) if url.startswith("https") else XenAPI.Session(url)
    session.xenapi.login_with_password(user, password, "1.0", "test_datapath")
    return session


def calls(log_path, method):
    with open(log_path, encoding="utf-8") as handle:
        return [entry for entry in map(json.loads, handle) if entry["method"] == method]


def fixed_vhd_footer(size):
    """A fixed-disk VHD footer, built here from the specification (not with xapisim.vhd)."""
    fields = [b"conectix", 2, 0x00010000, 0xFFFFFFFFFFFFFFFF, 0, b"test", 0x00010000, b"Wi2k",
              size, size, (size // 512 // 63 // 16) << 16 | 16 << 8 | 63, 2, 0, os.urandom(16), 0, bytes(427)]
    raw = bytearray(struct.pack(">8sIIQI4sI4sQQIII16sB427s", *fields))
    raw[64:68] = struct.pack(">I", ~sum(raw) & 0xFFFFFFFF)
    return bytes(raw)


@pytest.fixture
def data_pool(make_pool, tmp_path):
    log = str(tmp_path / "calls.jsonl")
    pool = make_pool(users=READ_ONLY, call_log=log)
    return pool, login(pool.url), log


def pool_state(sim):
    """Every table but sessions and tasks (compared separately), and every VDI's contents."""
    snap = sim.db.snapshot()
    tables = {k: v for k, v in snap["tables"].items() if k not in ("session", "task")}
    contents = {}
    for record in tables["VDI"].values():
        path = sim.vdi_store.path(record["uuid"])
        if path:
            with open(path, "rb") as handle:
                contents[record["uuid"]] = hashlib.sha256(handle.read()).hexdigest()
    return json.dumps(tables, sort_keys=True), contents


# --- round trip --------------------------------------------------------------------------------

def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid, encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_256_mib_round_trip_byte_for_byte_streamed(serve, tmp_path):
    """Import then export 256 MiB through a ``xapisim serve`` process: the export is the
    import byte for byte, the zero MiBs take no space, and the server's peak memory stays
    far below the disk's size (it streams)."""
    size = 256 * MiB
    served = serve("--state", str(tmp_path / "pool.json"), "--call-log", str(tmp_path / "calls.jsonl"))
    session = login(served.url)
    x = session.xenapi
    vdi = new_vdi(x, size)
    task = x.task.create("upload", "256 MiB")
    status, headers, _body = put(served.url, {"session_id": session._session, "vdi": vdi, "task_id": task},
                                 pattern(size), length=size)
    assert (status, headers["task-id"]) == (200, task)
    record = x.task.get_record(task)
    assert (record["status"], record["progress"], record["result"]) == ("success", 1.0, "<value>%s</value>" % vdi)
    status, headers, digest, length = export(served.url, {"session_id": session._session,
                                                          "vdi": x.VDI.get_uuid(vdi)})
    assert (status, length) == (200, size)
    assert digest == digest_of(pattern(size))
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"] == 'attachment; filename="%s.raw"' % x.VDI.get_uuid(vdi)
    stored = tmp_path / "pool.json.vdis" / (x.VDI.get_uuid(vdi) + ".raw")
    assert stored.stat().st_blocks * 512 < size * 0.7          # a quarter is zeros, an eighth more
    peak = vm_hwm_kib(served.proc.pid) * 1024
    assert peak < size / 4, "server peak RSS %d MiB for a %d MiB disk" % (peak // MiB, size // MiB)
    (upload,) = calls(str(tmp_path / "calls.jsonl"), "PUT /import_raw_vdi")
    (download,) = calls(str(tmp_path / "calls.jsonl"), "GET /export_raw_vdi")
    assert (upload["bytes_in"], upload["status"], upload["http_status"]) == (size, "Success", 200)
    assert (download["bytes_out"], download["status"]) == (size, "Success")


def test_short_import_overwrites_the_start_only(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    vdi = new_vdi(x, 4 * MiB)
    query = {"session_id": session._session, "vdi": vdi}
    assert put(pool.url, query, b"\x11" * (4 * MiB))[0] == 200
    assert put(pool.url, query, b"\x22" * MiB + bytes(MiB))[0] == 200
    status, data = export_bytes(pool.url, query)
    assert data == b"\x22" * MiB + bytes(MiB) + b"\x11" * (2 * MiB)   # zeros written as zeros
    assert x.task.get_all() == []           # the handler's own task went with the request


def test_export_of_a_never_written_vdi_is_zeros(data_pool):
    pool, session, _log = data_pool
    vdi = new_vdi(session.xenapi, 3 * MiB)
    assert export_bytes(pool.url, {"session_id": session._session, "vdi": vdi}) == (200, bytes(3 * MiB))


def test_basic_auth_and_cookie_session(data_pool):
    pool, session, _log = data_pool
    vdi = new_vdi(session.xenapi, MiB)
    import base64
    auth = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
    assert put(pool.url, {"vdi": vdi}, b"\x01" * MiB, headers=auth)[0] == 200
    conn = connect(pool.url)
    conn.request("GET", "/export_raw_vdi?vdi=" + vdi, headers={"Cookie": "session_id=" + session._session})
    assert conn.getresponse().read() == b"\x01" * MiB
    wrong = {"Authorization": "Basic " + base64.b64encode(b"admin:nope").decode()}
    assert put(pool.url, {"vdi": vdi}, b"\x02" * MiB, headers=wrong)[0] == 401


def test_import_without_content_length_reads_the_vdi_size(data_pool):
    # vhd-tool serve without --destination-size reads the device's size
    pool, session, _log = data_pool
    vdi = new_vdi(session.xenapi, 2 * MiB)
    parts = urlsplit(pool.url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(("PUT /import_raw_vdi?session_id=%s&vdi=%s HTTP/1.0\r\n\r\n"
                      % (session._session, vdi)).encode() + b"\x07" * (2 * MiB))
        answer = sock.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert export_bytes(pool.url, {"session_id": session._session, "vdi": vdi})[1] == b"\x07" * (2 * MiB)


# --- VHD ---------------------------------------------------------------------------------------

def test_fixed_vhd_import(data_pool):
    pool, session, _log = data_pool
    vdi = new_vdi(session.xenapi, 4 * MiB)
    disk = os.urandom(MiB) + bytes(MiB) + os.urandom(MiB)
    status, _headers, _body = put(pool.url, {"session_id": session._session, "vdi": vdi, "format": "vhd"},
                                  disk + fixed_vhd_footer(len(disk)))
    assert status == 200
    assert export_bytes(pool.url, {"session_id": session._session, "vdi": vdi})[1] == disk + bytes(MiB)


def test_dynamic_vhd_export_and_import(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    size = 8 * MiB
    vdi = new_vdi(x, size)
    disk = os.urandom(MiB) + bytes(5 * MiB) + os.urandom(2 * MiB)
    assert put(pool.url, {"session_id": session._session, "vdi": vdi}, disk)[0] == 200
    status, image = export_bytes(pool.url, {"session_id": session._session, "vdi": vdi, "format": "vhd"})
    assert status == 200
    # the structure, read here from the specification: footer copy, cxsparse header, BAT
    footer = image[:512]
    assert footer[:8] == b"conectix" and image[-512:] == footer
    assert struct.unpack(">Q", footer[48:56])[0] == size
    assert struct.unpack(">I", footer[60:64])[0] == 3                     # dynamic
    assert struct.unpack(">I", footer[64:68])[0] == ~(sum(footer) - sum(footer[64:68])) & 0xFFFFFFFF
    header = image[512:1536]
    assert header[:8] == b"cxsparse"
    table_offset, entries, block = struct.unpack(">QII", header[16:24] + header[28:36])
    bat = struct.unpack(">%dI" % entries, image[table_offset:table_offset + 4 * entries])
    assert [e != 0xFFFFFFFF for e in bat] == [True, False, False, True]   # the zero blocks are left out
    copy = new_vdi(x, size, name="copy")
    assert put(pool.url, {"session_id": session._session, "vdi": copy, "format": "vhd"}, image)[0] == 200
    assert export_bytes(pool.url, {"session_id": session._session, "vdi": copy})[1] == disk


# --- every bad request leaves the pool unchanged -------------------------------------------

def running_vm_disk(x):
    vm = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "busy")
    x.VM.set_PV_bootloader(vm, "")
    x.VM.set_PV_kernel(vm, "/boot/guest/vmlinuz")
    other = x.VM.get_other_config(vm)
    sr = x.SR.get_by_name_label("Local storage")[0]
    other["disks"] = other["disks"].replace('sr=""', 'sr="%s"' % x.SR.get_uuid(sr))
    x.VM.set_other_config(vm, other)
    x.VM.provision(vm)
    x.VM.start(vm, False, False)
    return x.VBD.get_VDI(x.VM.get_VBDs(vm)[0])


BAD = {
    # name: (query changes, body, headers, HTTP status, what the caller's task says)
    "bad session": ({"session_id": "OpaqueRef:nonsense"}, b"x" * MiB, {}, 401, "pending"),
    "unknown vdi": ({"vdi": "no-such-vdi"}, b"x" * MiB, {}, 500, "pending"),
    "no vdi": ({"vdi": None}, b"x" * MiB, {}, 400, ["VDI_MISSING"]),
    "unknown format": ({"format": "zip"}, b"x" * MiB, {}, 404, ["INTERNAL_ERROR", "Unknown format zip"]),
    "chunked vhd": ({"format": "vhd", "chunked": "true"}, b"x" * MiB, {}, 404,
                    ["INTERNAL_ERROR", "Cannot handle chunked VHD"]),
    "chunked encoding": ({}, iter([b"x" * MiB]), {"Transfer-Encoding": "chunked"}, 404,
                         ["INTERNAL_ERROR", "Cannot handle encoding: chunked"]),
    "body longer than the vdi": ({}, b"x" * (4 * MiB + 1), {}, 200, ["VDI_IO_ERROR", "Device I/O errors"]),
    "not a vhd": ({"format": "vhd"}, b"x" * MiB, {}, 200, ["VDI_IO_ERROR", "Device I/O errors"]),
    "vhd larger than the vdi": ({"format": "vhd"}, bytes(8 * MiB) + fixed_vhd_footer(8 * MiB), {}, 200,
                                ["VDI_IO_ERROR", "Device I/O errors"]),
    "read-only vdi": ({"vdi": "read-only"}, b"x" * MiB, {}, 200, ["VDI_READONLY", "<vdi>"]),
    "vdi in use read-write": ({"vdi": "running"}, b"x" * MiB, {}, 200, ["VDI_IN_USE", "<vdi>"]),
    "read-only user": ({"user": "viewer"}, b"x" * MiB, {}, 403,
                       ["RBAC_PERMISSION_DENIED", "http/put_import_raw_vdi", DENIED]),
    "vm-operator": ({"user": "operator"}, b"x" * MiB, {}, 403,
                    ["RBAC_PERMISSION_DENIED", "http/put_import_raw_vdi", DENIED]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_import_leaves_the_pool_unchanged(data_pool, case):
    pool, session, _log = data_pool
    x = session.xenapi
    changes, body, headers, want_status, want_task = BAD[case]
    vdi = new_vdi(x, 4 * MiB)
    assert put(pool.url, {"session_id": session._session, "vdi": vdi}, b"\x5a" * (4 * MiB))[0] == 200
    if changes.get("vdi") == "read-only":
        vdi = new_vdi(x, 4 * MiB, name="ro", read_only=True)
    elif changes.get("vdi") == "running":
        vdi = running_vm_disk(x)
        pool.sim.vdi_store.put_bytes(x.VDI.get_uuid(vdi), b"\x5a" * MiB)
    caller = login(pool.url, changes.get("user", "root"), READ_ONLY[changes.get("user", "root")][0])
    task = caller.xenapi.task.create("import", "")
    query = {"session_id": caller._session, "vdi": vdi, "task_id": task}
    query.update({k: v for k, v in changes.items() if k not in ("user", "vdi")})
    if "vdi" in changes and changes["vdi"] not in ("read-only", "running"):
        query["vdi"] = changes["vdi"]
    query = {k: v for k, v in query.items() if v is not None}
    tasks_before = set(x.task.get_all())
    before = pool_state(pool.sim)
    status, answer_headers, _body = put(pool.url, query, body, headers=headers)
    assert status == want_status
    assert pool_state(pool.sim) == before
    assert set(x.task.get_all()) == tasks_before            # no task made or left behind
    record = x.task.get_record(task)
    if want_task == "pending":
        assert (record["status"], record["error_info"]) == ("pending", [])
    else:
        assert record["status"] == "failure"
        assert record["error_info"] == [vdi if part == "<vdi>" else part for part in want_task]
    if status == 401:
        assert answer_headers["WWW-Authenticate"] == 'Basic realm="put_import_raw_vdi"'
    if status == 200:
        assert answer_headers["task-id"] == task


def test_expired_and_logged_out_sessions_get_401(make_pool):
    pool = make_pool(session_ttl=0.2)
    session = login(pool.url)
    vdi = new_vdi(session.xenapi, MiB)
    time.sleep(0.4)
    assert put(pool.url, {"session_id": session._session, "vdi": vdi}, b"x" * MiB)[0] == 401
    session = login(pool.url)
    handle = session._session
    session.xenapi.session.logout()
    assert export_bytes(pool.url, {"session_id": handle, "vdi": vdi})[0] == 401
    assert pool.sim.vdi_store.path(pool.sim.db.get("VDI", vdi)["uuid"]) is None


def test_cut_short_upload_changes_nothing(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    vdi = new_vdi(x, 4 * MiB)
    query = {"session_id": session._session, "vdi": vdi}
    assert put(pool.url, query, b"\x33" * (4 * MiB))[0] == 200
    task = x.task.create("import", "")
    parts = urlsplit(pool.url)
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall(("PUT /import_raw_vdi?session_id=%s&vdi=%s&task_id=%s HTTP/1.1\r\nContent-Length: %d\r\n\r\n"
                      % (session._session, vdi, task, 4 * MiB)).encode() + b"\x44" * MiB)
        sock.shutdown(socket.SHUT_WR)               # the client gives up after 1 MiB
        sock.makefile("rb").read()
    assert export_bytes(pool.url, query)[1] == b"\x33" * (4 * MiB)
    assert x.task.get_record(task)["error_info"] == ["VDI_IO_ERROR", "Device I/O errors"]
    assert not [n for n in os.listdir(pool.sim.vdi_store.directory) if ".part" in n]


def test_bad_exports(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    vdi = new_vdi(x, MiB)
    viewer = login(pool.url, "viewer", "pw")
    task = viewer.xenapi.task.create("export", "")
    status, _body = export_bytes(pool.url, {"session_id": viewer._session, "vdi": vdi, "task_id": task})
    assert status == 403
    assert x.task.get_record(task)["error_info"] == ["RBAC_PERMISSION_DENIED", "http/get_export_raw_vdi", DENIED]
    assert export_bytes(pool.url, {"session_id": session._session})[0] == 500          # no vdi
    assert export_bytes(pool.url, {"session_id": session._session, "vdi": "nope"})[0] == 500
    task = x.task.create("export", "")
    assert export_bytes(pool.url, {"session_id": session._session, "vdi": vdi, "format": "zip",
                                   "task_id": task})[0] == 404
    assert x.task.get_record(task)["error_info"] == ["INTERNAL_ERROR", "Unknown format zip"]


def test_vm_admin_may_import(data_pool):
    pool, session, _log = data_pool
    vdi = new_vdi(session.xenapi, MiB)
    admin = login(pool.url, "admin", "pw")
    assert put(pool.url, {"session_id": admin._session, "vdi": vdi}, b"\x09" * MiB)[0] == 200


def test_import_into_an_sr_makes_a_vdi(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    sr = x.SR.get_by_name_label("Local storage")[0]
    task = x.task.create("import", "")
    status, headers, _body = put(pool.url, {"session_id": session._session, "sr_id": sr, "task_id": task},
                                 b"\x03" * (2 * MiB))
    assert status == 200
    vdi = x.task.get_result(task)[len("<value>"):-len("</value>")]
    record = x.VDI.get_record(vdi)
    assert (record["name_label"], record["virtual_size"], record["SR"]) == ("Imported VDI", str(2 * MiB), sr)
    assert export_bytes(pool.url, {"session_id": session._session, "vdi": vdi})[1] == b"\x03" * (2 * MiB)
    status, _headers, _body = put(pool.url, {"session_id": session._session, "sr_uuid": x.SR.get_uuid(sr)}, b"\x04" * MiB)
    assert status == 200 and len(x.VDI.get_by_name_label("Imported VDI")) == 2


def test_physical_utilisation_follows_the_data_on_a_thin_sr(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    thick = new_vdi(x, 8 * MiB)
    assert put(pool.url, {"session_id": session._session, "vdi": thick}, os.urandom(MiB))[0] == 200
    assert x.VDI.get_physical_utilisation(thick) == str(8 * MiB)       # lvm: fully allocated
    sr = x.SR.get_by_name_label("Local storage")[0]
    pool.sim.db.update("SR", sr, type="ext")        # test hook: the same SR as a thin (ext) one
    thin = new_vdi(x, 8 * MiB, name="thin")
    assert put(pool.url, {"session_id": session._session, "vdi": thin}, os.urandom(MiB) + bytes(MiB))[0] == 200
    used = int(x.VDI.get_physical_utilisation(thin))
    assert used == pool.sim.vdi_store.allocated(x.VDI.get_uuid(thin)) and MiB <= used < 2 * MiB


def test_vhd_export_of_a_vdi_over_the_vhd_limit_fails_the_task(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    vdi = new_vdi(x, 2041 * 1024 * MiB)
    task = x.task.create("export", "")
    status, body = export_bytes(pool.url, {"session_id": session._session, "vdi": vdi, "format": "vhd",
                                           "task_id": task})
    assert (status, body) == (200, b"")
    assert x.task.get_record(task)["error_info"] == ["VDI_TOO_LARGE", vdi, str(2040 * 1024 * MiB)]


# --- tasks ---------------------------------------------------------------------------------

def test_task_create_destroy_and_progress(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    task = x.task.create("my upload", "of a disk")
    record = x.task.get_record(task)
    assert (record["name_label"], record["name_description"], record["status"], record["progress"],
            record["type"]) == ("my upload", "of a disk", "pending", 0.0, "<none/>")
    vdi = new_vdi(x, 4 * MiB)
    parts = urlsplit(pool.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(("PUT /import_raw_vdi?session_id=%s&vdi=%s&task_id=%s HTTP/1.1\r\n"
                      "Content-Length: %d\r\n\r\n" % (session._session, vdi, task, 4 * MiB)).encode())
        sock.sendall(os.urandom(2 * MiB))
        deadline = time.monotonic() + 10
        while x.task.get_progress(task) < 0.5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (x.task.get_status(task), x.task.get_progress(task)) == ("pending", 0.5)
        sock.sendall(os.urandom(2 * MiB))
        answer = sock.makefile("rb").read()     # the upload ends with the connection
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\n")
    assert (x.task.get_status(task), x.task.get_progress(task)) == ("success", 1.0)
    x.task.destroy(task)
    assert task not in x.task.get_all()


# --- VDI operations carry the contents -----------------------------------------------------

def test_clone_copy_snapshot_copy_contents_and_destroy_deletes(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    vdi = new_vdi(x, 4 * MiB)
    disk = os.urandom(MiB) + bytes(2 * MiB) + os.urandom(MiB)
    assert put(pool.url, {"session_id": session._session, "vdi": vdi}, disk)[0] == 200
    sr = x.SR.get_by_name_label("Local storage")[0]
    made = [x.VDI.clone(vdi, {}), x.VDI.snapshot(vdi, {}), x.VDI.copy(vdi, sr, "OpaqueRef:NULL", "OpaqueRef:NULL")]
    into = new_vdi(x, 4 * MiB, name="into")
    assert x.VDI.copy(vdi, "OpaqueRef:NULL", "OpaqueRef:NULL", into) == into
    for ref in made + [into]:
        assert export_bytes(pool.url, {"session_id": session._session, "vdi": ref})[1] == disk
    assert x.VDI.get_is_a_snapshot(made[1]) is True
    small = new_vdi(x, MiB, name="small")
    with pytest.raises(XenAPI.Failure) as caught:
        x.VDI.copy(vdi, "OpaqueRef:NULL", "OpaqueRef:NULL", small)
    assert caught.value.details == ["VDI_TOO_SMALL", small, str(4 * MiB)]
    uuid = x.VDI.get_uuid(made[0])
    path = pool.sim.vdi_store.path(uuid)
    x.VDI.destroy(made[0])
    assert pool.sim.vdi_store.path(uuid) is None and not os.path.exists(path)


def test_vm_clone_copies_disk_contents(data_pool):
    pool, session, _log = data_pool
    x = session.xenapi
    source = x.VM.clone(x.VM.get_by_name_label(TEMPLATE)[0], "source")
    other = x.VM.get_other_config(source)
    sr = x.SR.get_by_name_label("Local storage")[0]
    other["disks"] = other["disks"].replace('sr=""', 'sr="%s"' % x.SR.get_uuid(sr))
    x.VM.set_other_config(source, other)
    x.VM.provision(source)
    vdi = x.VBD.get_VDI(x.VM.get_VBDs(source)[0])
    pool.sim.vdi_store.put_bytes(x.VDI.get_uuid(vdi), b"boot sector")
    clone = x.VM.clone(source, "clone")
    cloned = x.VBD.get_VDI(x.VM.get_VBDs(clone)[0])
    assert cloned != vdi
    assert pool.sim.vdi_store.open(x.VDI.get_uuid(cloned)).read(11) == b"boot sector"


# --- https, restarts, kill -9 -------------------------------------------------------------

def test_https_import_and_export(serve, tmp_path):
    served = serve("--tls", "--cert-dir", str(tmp_path))
    context = ssl.create_default_context(cafile=str(tmp_path / "xapisim-cert.pem"))
    session = login(served.url)
    vdi = new_vdi(session.xenapi, 2 * MiB)
    disk = os.urandom(2 * MiB)
    query = {"session_id": session._session, "vdi": vdi}
    assert put(served.url, query, disk, context=context)[0] == 200
    assert export_bytes(served.url, query, context=context) == (200, disk)


def upload_after_the_200(url, session, vdi, task, body, context=None):
    """PUT as XenServer's SDK sample exportimport.py does: HTTP/1.0 headers only, no
    Content-Length, wait for the 200, then the body, then close to say it is done.
    -> the answer's head. Fails (socket timeout), not hangs, if the 200 waits for the body."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname=parts.hostname)
    try:
        sock.sendall(("PUT /import_raw_vdi?session_id=%s&vdi=%s&task_id=%s HTTP/1.0\r\n"
                      "Connection:close\r\n\r\n" % (session, vdi, task)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = sock.recv(1024)
            assert data, "the connection closed before an answer: %r" % head
            head += data
        for offset in range(0, len(body), 65536):
            sock.sendall(body[offset:offset + 65536])
    finally:
        sock.close()
    return head


def wait_task(x, task):
    deadline = time.monotonic() + 20
    while x.task.get_status(task) == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
    return x.task.get_record(task)


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_200_before_the_body_for_a_client_that_waits_for_it(serve, tmp_path, tls):
    # import_raw_vdi.ml sends Http.http_200_ok before vhd-tool reads the body; without a
    # Content-Length vhd-tool reads the VDI's size. The outcome is in the caller's task.
    served = serve("--tls", "--cert-dir", str(tmp_path)) if tls else serve()
    context = ssl.create_default_context(cafile=str(tmp_path / "xapisim-cert.pem")) if tls else None
    session = login(served.url)
    x = session.xenapi
    vdi = new_vdi(x, 3 * MiB)
    disk = os.urandom(3 * MiB)
    task = x.task.create("import", "")
    head = upload_after_the_200(served.url, session._session, vdi, task, disk, context)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\ntask-id: %s\r\n" % task.encode() in head and b"Content-Length" not in head
    record = wait_task(x, task)
    assert (record["status"], record["progress"], record["result"]) == ("success", 1.0, "<value>%s</value>" % vdi)
    assert export_bytes(served.url, {"session_id": session._session, "vdi": vdi}, context) == (200, disk)
    # a body that ends before the VDI's size: the 200 was sent, the task fails, nothing changes
    task = x.task.create("import", "")
    upload_after_the_200(served.url, session._session, vdi, task, os.urandom(MiB), context)
    assert wait_task(x, task)["error_info"] == ["VDI_IO_ERROR", "Device I/O errors"]
    assert export_bytes(served.url, {"session_id": session._session, "vdi": vdi}, context) == (200, disk)
    # refusals before the 200 are still answered before the body: a bad session gets its 401
    head = upload_after_the_200(served.url, "OpaqueRef:nonsense", vdi, task, b"", context)
    assert head.startswith(b"HTTP/1.1 401 ")


def test_contents_survive_a_restart(serve, tmp_path):
    state = str(tmp_path / "pool.json")
    served = serve("--state", state)
    session = login(served.url)
    vdi = new_vdi(session.xenapi, 2 * MiB)
    uuid = session.xenapi.VDI.get_uuid(vdi)
    disk = os.urandom(2 * MiB)
    assert put(served.url, {"session_id": session._session, "vdi": vdi}, disk)[0] == 200
    served.proc.terminate()
    assert served.proc.wait(10) == 0
    again = serve("--state", state)
    session = login(again.url)
    assert export_bytes(again.url, {"session_id": session._session, "vdi": uuid}) == (200, disk)


def test_kill_9_during_an_upload_loses_nothing_acknowledged(serve, tmp_path):
    state = str(tmp_path / "pool.json")
    served = serve("--state", state)
    session = login(served.url)
    x = session.xenapi
    vdi, other = new_vdi(x, 16 * MiB), new_vdi(x, 16 * MiB, name="other")
    first = digest_of(pattern(16 * MiB, seed=7))
    for ref in (vdi, other):
        assert put(served.url, {"session_id": session._session, "vdi": ref}, pattern(16 * MiB, seed=7),
                   length=16 * MiB)[0] == 200
    # a second upload into the same VDI dies half-way with the server
    conn = connect(served.url)
    conn.putrequest("PUT", "/import_raw_vdi?" + urlencode({"session_id": session._session, "vdi": vdi}))
    conn.putheader("Content-Length", str(16 * MiB))
    conn.endheaders()
    for chunk in list(pattern(16 * MiB, seed=8))[:8]:
        conn.send(chunk)
    deadline = time.monotonic() + 10        # the server is writing it: its partial file is there
    while not [n for n in os.listdir(state + ".vdis") if ".part" in n] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [n for n in os.listdir(state + ".vdis") if ".part" in n]
    os.kill(served.proc.pid, signal.SIGKILL)
    served.proc.wait(10)
    conn.close()
    again = serve("--state", state)
    session = login(again.url)
    for ref in (vdi, other):
        status, _headers, digest, length = export(again.url, {"session_id": session._session, "vdi": ref})
        assert (status, length, digest) == (200, 16 * MiB, first)
    assert not [n for n in os.listdir(state + ".vdis") if ".part" in n]


def test_call_log_counts_http_requests(data_pool):
    pool, session, log = data_pool
    vdi = new_vdi(session.xenapi, MiB)
    put(pool.url, {"session_id": session._session, "vdi": vdi}, b"\x01" * MiB)
    put(pool.url, {"session_id": "OpaqueRef:bad", "vdi": vdi}, b"\x01" * MiB)
    entries = calls(log, "PUT /import_raw_vdi")
    assert [(e["status"], e["error"], e["http_status"], e["bytes_in"]) for e in entries] == [
        ("Success", None, 200, MiB), ("Failure", "SESSION_INVALID", 401, MiB)]
    assert entries[0]["duration_ms"] == mock.ANY


def test_a_task_id_that_is_no_task_and_an_unknown_vdi_are_500(data_pool):
    pool, session, _log = data_pool
    vdi = new_vdi(session.xenapi, MiB)
    status, _headers, page = put(pool.url, {"session_id": session._session, "vdi": vdi,
                                            "task_id": "OpaqueRef:no-task"}, b"x" * MiB)
    assert status == 500 and b"HANDLE_INVALID" in page
    status, _headers, page = put(pool.url, {"session_id": session._session, "vdi": "nope"}, b"x" * MiB)
    assert status == 500 and b"UUID_INVALID VDI nope" in page
    assert pool.sim.vdi_store.path(session.xenapi.VDI.get_uuid(vdi)) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vdi_store_writes_match_a_plain_bytearray(seed):
    """vdi_store against a model: writes at any offset (zeros, data, overlapping within one
    writer), copies and deletes give exactly the bytes a plain bytearray would hold."""
    from xapisim.vdi_store import VdiStore
    rnd = random.Random(seed)
    store, model = VdiStore(), bytearray()

    def apply(offset, data):
        model.extend(bytes(max(0, offset + len(data) - len(model))))
        model[offset:offset + len(data)] = data

    for _step in range(80):
        roll = rnd.random()
        if roll < 0.6:
            offset, data = rnd.randrange(600000), rnd.choice([bytes, rnd.randbytes])(rnd.randrange(300000))
            store.put_bytes("v", data, offset=offset)
            apply(offset, data)
        elif roll < 0.8:
            with store.writer("v") as out:
                writes = [(rnd.randrange(500000), rnd.choice([bytes, rnd.randbytes])(rnd.randrange(1, 100000)))
                          for _run in range(rnd.randrange(1, 5))]
                for offset, data in writes:
                    out.write(offset, data)
                out.commit()
            for offset, data in writes:
                apply(offset, data)
        elif roll < 0.85:
            store.delete("v")
            store.purge()
            model = bytearray()
        else:
            store.copy("v", "w")
            assert (store.open("w").read() if store.path("w") else b"") == bytes(model)
        assert (store.open("v").read() if store.path("v") else b"") == bytes(model)
