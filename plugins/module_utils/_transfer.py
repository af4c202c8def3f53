# -*- coding: utf-8 -*-
# Copyright (c) xenserver.provisioning contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# PRIVATE: internal to xenserver.provisioning; not a public API.

"""Disk contents into a VDI over xapi's HTTP data path (vm_template, vm_cloud_init).

``PUT /import_raw_vdi?session_id=&vdi=&task_id=&format=raw|vhd`` on the pool master, on the
API's own URL (scheme, port and TLS settings of the client: verified by default, ``ca_path``).
The body is streamed from the file with a Content-Length (xapi refuses a chunked body). The
caller's task (``task.create``) carries the handler's progress, so ``xe task-list`` shows an
upload under way; xapi answers ``200 OK`` before it reads the body, so a failure after that
(a body that is not the format named, a VDI in use, an I/O error) is only in the task's
status and error_info, which is read before the upload counts as done.

The SDK has no data-path helper and this is not XML-RPC: plain http.client.

Sources: xapi-project/xen-api ocaml/xapi/import_raw_vdi.ml and importexport.ml (query
parameters, the caller's task, 200 before the body, refusals); Microsoft's Virtual Hard Disk
Image Format Specification (the 512-byte footer: cookie, current size at offset 48, disk type at
60, one's-complement checksum at 64).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import ssl
import struct
import time
import uuid

try:
    from urllib.parse import urlencode, urlsplit
    import http.client as httplib
except ImportError:  # pragma: no cover - Python 2 is not supported
    from urllib import urlencode  # type: ignore
    from urlparse import urlsplit  # type: ignore
    import httplib  # type: ignore

from ansible_collections.xenserver.provisioning.plugins.module_utils._client import (
    InvalidInput,
    NotFound,
    XenServerError,
    find_created,
    translate,
)

CHUNK = 1024 * 1024
# other_config key of an uploaded VDI (and vm_template's template): the sha256 of the file it holds.
IMAGE_SHA_KEY = "xenserver.provisioning:image-sha256"
SECTOR = 512
VHD_COOKIE = b"conectix"
VHD_TYPES = {2: "fixed", 3: "dynamic", 4: "differencing"}
# Formats people try to upload that xapi's raw import does not take: the first bytes that
# identify them and what to do instead.
NOT_RAW = (
    (0, b"QFI\xfb", "a qcow2 image; convert it: qemu-img convert -O raw IMAGE IMAGE.raw"),
    (0, b"KDMV", "a VMDK image; convert it: qemu-img convert -O raw IMAGE IMAGE.raw"),
    (64, b"\x7f\x10\xda\xbe", "a VirtualBox VDI image; convert it: qemu-img convert -O raw IMAGE IMAGE.raw"),
    (0, b"\xfd7zXZ\x00", "xz-compressed; decompress it first (xz -d)"),
    (0, b"\x1f\x8b", "gzip-compressed; decompress it first (gunzip)"),
    (0, b"BZh", "bzip2-compressed; decompress it first (bunzip2)"),
    (0, b"\x28\xb5\x2f\xfd", "zstd-compressed; decompress it first (zstd -d)"),
    (0, b"PK\x03\x04", "a zip archive; unpack it first"),
    (257, b"ustar", "a tar archive (an OVA or XVA?); unpack the disk image from it first"),
)


def describe_image(path, image_format=None):
    """{path, format, size (bytes of the file), virtual_size (of the disk), sha256} of a disk
    image, checked by its content: a VHD ends with a footer (cookie ``conectix``); raw is any
    other content but the known formats xapi cannot import as raw. ``image_format`` None takes
    what the content says. Fails naming the file and what is wrong, before anything is made.
    """
    if not os.path.exists(path):
        raise NotFound("image '%s' does not exist (it is read on the host the module runs on)" % path,
                       code="IMAGE_NOT_FOUND")
    if not os.path.isfile(path):
        raise InvalidInput("image '%s' is not a regular file" % path, code="IMAGE_INVALID")
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(SECTOR)
            handle.seek(max(0, size - SECTOR))
            footer = handle.read(SECTOR)
    except (IOError, OSError) as err:
        raise InvalidInput("image '%s' cannot be read: %s" % (path, err), code="IMAGE_INVALID")
    if size == 0:
        raise InvalidInput("image '%s' is empty" % path, code="IMAGE_INVALID")
    vhd = _vhd_footer(footer) if size >= SECTOR else None
    found = "vhd" if vhd else "raw"
    if image_format is None:
        image_format = found
    if image_format == "vhd":
        if not vhd:
            raise InvalidInput("image '%s' is not a VHD (no 'conectix' footer in its last 512 bytes); "
                               "give image_format: raw if it is a raw disk image" % path, code="IMAGE_INVALID")
        if isinstance(vhd, str):
            raise InvalidInput("image '%s' is not a VHD xapi can import: %s" % (path, vhd), code="IMAGE_INVALID")
        virtual_size = vhd
    else:
        if vhd:
            raise InvalidInput("image '%s' is a VHD (it ends with a 'conectix' footer), not a raw image; "
                               "give image_format: vhd" % path, code="IMAGE_INVALID")
        for offset, magic, what in NOT_RAW:
            if head[offset:offset + len(magic)] == magic:
                raise InvalidInput("image '%s' is %s (xapi imports raw and vhd only)" % (path, what),
                                   code="IMAGE_INVALID")
        virtual_size = size
    return {"path": path, "format": image_format, "size": size, "virtual_size": virtual_size,
            "sha256": file_sha256(path)}


def _vhd_footer(footer):
    """The disk size of a VHD footer; a string saying why xapi would refuse it; None if no footer."""
    if len(footer) < SECTOR or footer[:8] != VHD_COOKIE:
        return None
    checksum = struct.unpack(">I", footer[64:68])[0]
    computed = (~sum(bytearray(footer[:64] + b"\0\0\0\0" + footer[68:]))) & 0xffffffff
    if checksum != computed:
        return "its footer checksum is wrong (a damaged or truncated file)"
    kind = struct.unpack(">I", footer[60:64])[0]
    if kind not in (2, 3):
        return "it is a %s VHD; only fixed and dynamic VHDs can be imported" % VHD_TYPES.get(kind, "type %d" % kind)
    return struct.unpack(">Q", footer[48:56])[0]


def named_disk_sr(client, wanted):
    """(ref, record) of the one SR for disks (not an ISO SR) named ``wanted`` or with that uuid."""
    found = client.call("SR.get_all_records_where", 'field "name__label"="%s" or field "uuid"="%s"'
                        % (wanted, wanted)) if '"' not in wanted else {}
    found = [(r, v) for r, v in found.items() if v["content_type"] != "iso"]
    if not found:
        raise NotFound("sr '%s': no storage repository for disks has this name or uuid" % wanted, code="SR_NOT_FOUND")
    if len(found) > 1:
        raise XenServerError("sr '%s': %d SRs are named so; give the uuid" % (wanted, len(found)), code="AMBIGUOUS")
    return found[0]


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def rounded(size, unit=SECTOR):
    """``size`` rounded up to whole ``unit``s (a VDI's virtual size is whole sectors)."""
    return (size + unit - 1) // unit * unit


def _ssl_context(client):
    """The TLS settings of the client's XML-RPC transport (_client.XenServerClient._transport)."""
    if not client.validate_certs:
        return ssl._create_unverified_context()  # the user asked for it (validate_certs: false)
    return ssl.create_default_context(cafile=client.ca_path)


def _connection(client, timeout):
    parts = urlsplit(client.url)
    if parts.scheme == "https":
        return httplib.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                       context=_ssl_context(client))
    return httplib.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)


def upload(client, vdi_ref, source, image_format, what, timeout=3600.0):
    """Stream ``source`` (a path, or bytes) into the VDI ``vdi_ref``; returns the statistics
    {bytes, seconds, throughput_mib_s}. ``what`` names the upload in the task and in failures.

    Fails (XenServerError) when the pool refuses the request, the connection drops, or the
    task ends in failure; the VDI's contents are then not to be trusted.
    """
    label = "xenserver.provisioning upload %s [%s]" % (what, uuid.uuid4())
    task = client.call("task.create", label, "PUT /import_raw_vdi of %s" % what,
                       recover=find_created(client, "task", 'field "name__label"="%s"' % label))
    try:
        started = time.time()
        sent = _put(client, vdi_ref, task, source, image_format, what, timeout)
        record = client.wait_for("task", task, lambda t: t["status"] != "pending", timeout,
                                 what="the upload of %s to finish" % what)
        seconds = max(time.time() - started, 1e-6)
        if record["status"] != "success":
            details = record.get("error_info") or ["TASK_FAILED", record["status"]]
            raise translate(details, "the upload of %s" % what)
    finally:
        try:
            client.call("task.destroy", task)
        except XenServerError:
            pass    # gone already; the pool garbage-collects finished tasks anyway
    return {"bytes": sent, "seconds": round(seconds, 3),
            "throughput_mib_s": round(sent / seconds / CHUNK, 1)}


def _put(client, vdi_ref, task, source, image_format, what, timeout):
    """The PUT itself: headers, the body in chunks, the answer; returns the bytes sent."""
    query = urlencode([("session_id", client.session._session), ("vdi", vdi_ref), ("task_id", task),
                       ("format", image_format)])
    data = source if isinstance(source, bytes) else None
    length = len(data) if data is not None else os.path.getsize(source)
    connection = _connection(client, timeout)
    sent = 0
    try:
        connection.putrequest("PUT", "/import_raw_vdi?" + query, skip_accept_encoding=True)
        connection.putheader("Content-Type", "application/octet-stream")
        connection.putheader("Content-Length", str(length))
        connection.endheaders()
        if data is not None:
            connection.send(data)
            sent = length
        else:
            with open(source, "rb") as handle:
                for block in iter(lambda: handle.read(CHUNK), b""):
                    connection.send(block)
                    sent += len(block)
        answer = connection.getresponse()
        answer.read()
        status, reason = answer.status, answer.reason
    except ssl.SSLError as err:
        raise XenServerError("the upload of %s: TLS failure talking to %s: %s" % (what, client.where, err),
                             code="TLS_FAILED")
    except (OSError, httplib.HTTPException) as err:
        # xapi closes the connection when it gives up on the body (a VDI in use, a body it cannot
        # read): the task then says why, which tells more than the broken pipe.
        _task_failure(client, task, what)
        raise XenServerError("the upload of %s dropped after %d of %d bytes: %s" % (what, sent, length, err or
                             type(err).__name__), code="UPLOAD_FAILED")
    finally:
        connection.close()
    if status != 200:
        # The handler fails the caller's task for most refusals (RBAC, format): its error says most.
        _task_failure(client, task, what)
        raise XenServerError("the upload of %s: %s answered HTTP %d %s" % (what, client.where, status, reason),
                             code="HTTP_%d" % status)
    return sent


def _task_failure(client, task, what):
    """Raise the task's error if the task failed; else return."""
    try:
        record = client.call("task.get_record", task)
    except XenServerError:
        return
    if record["status"] == "failure" and record.get("error_info"):
        raise translate(record["error_info"], "the upload of %s" % what)
