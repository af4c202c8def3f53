"""VHD streams for the data path: read a fixed or dynamic VHD into raw contents, write
raw contents as a dynamic VHD (what xapi's vhd-tool sends for ``format=vhd``).

The layout is Microsoft's Virtual Hard Disk Image Format Specification (v1.0): a 512-byte
footer ("conectix"), for dynamic disks a copy of it at the start, a 1024-byte dynamic header
("cxsparse"), the block allocation table (BAT) and blocks of a sector bitmap plus data.
Differencing disks (a parent chain) are not modelled.
"""
import os
import struct
import time
import uuid as uuidlib

SECTOR = 512
BLOCK_SIZE = 2 * 1024 * 1024
FIXED, DYNAMIC, DIFFERENCING = 2, 3, 4
NO_OFFSET = 0xFFFFFFFFFFFFFFFF
UNUSED = 0xFFFFFFFF
_FOOTER = struct.Struct(">8sIIQI4sI4sQQIII16sB427s")
_HEADER = struct.Struct(">8sQQIIII16sI4s512s192s256s")
_EPOCH_2000 = 946684800
_CHUNK = 1024 * 1024


class VhdError(ValueError):
    """Not a VHD this reader takes, or one that does not fit."""


def _checksum(data, field_at):
    total = sum(data[:field_at]) + sum(data[field_at + 4:])
    return ~total & 0xFFFFFFFF


def parse_footer(data):
    """The footer's fields as a dict, or None if ``data`` is not a valid footer."""
    if len(data) != SECTOR or data[:8] != b"conectix":
        return None
    fields = _FOOTER.unpack(data)
    if fields[12] != _checksum(data, 64):
        return None
    return {"data_offset": fields[3], "current_size": fields[9], "disk_type": fields[11]}


def footer(size, disk_type, data_offset):
    fields = [b"conectix", 2, 0x00010000, data_offset, int(time.time()) - _EPOCH_2000, b"xsim",
              0x00010000, b"Wi2k", size, size, _geometry(size), disk_type, 0,
              uuidlib.uuid4().bytes, 0, bytes(427)]
    data = bytearray(_FOOTER.pack(*fields))
    data[64:68] = struct.pack(">I", _checksum(data, 64))
    return bytes(data)


def _geometry(size):
    """Cylinders/heads/sectors-per-track as the specification's appendix computes them."""
    total = min(size // SECTOR, 65535 * 16 * 255)
    if total >= 65535 * 16 * 63:
        spt, heads = 255, 16
        cth = total // spt
    else:
        spt = 17
        cth = total // spt
        heads = max(4, (cth + 1023) // 1024)
        if cth >= heads * 1024 or heads > 16:
            spt, heads = 31, 16
            cth = total // spt
        if cth >= heads * 1024:
            spt, heads = 63, 16
            cth = total // spt
    return (cth // heads) << 16 | heads << 8 | spt


class _Stream:
    """Sequential reads from the request body, with the position and the declared length."""

    def __init__(self, reader, length):
        self.reader = reader
        self.length = length
        self.pos = 0

    def read(self, count):
        if self.length is not None and self.pos + count > self.length:
            raise VhdError("the VHD is cut short at byte %d" % self.length)
        data = self.reader.read(count)
        if len(data) != count:
            raise VhdError("the VHD is cut short at byte %d" % (self.pos + len(data)))
        self.pos += count
        return data

    def skip_to(self, offset):
        if offset < self.pos:
            raise VhdError("VHD structures out of order at byte %d" % offset)
        while self.pos < offset:
            self.read(min(_CHUNK, offset - self.pos))


def receive(reader, length, virtual_size, out, progress=None):
    """Read a VHD body (``length`` bytes, or None if unknown) and write the disk it encodes
    through ``out`` (a vdi_store writer). Raises VhdError before anything is committed."""
    stream = _Stream(reader, length)
    first = stream.read(SECTOR)
    found = parse_footer(first)
    if found and found["disk_type"] == DYNAMIC:
        _receive_dynamic(stream, found, virtual_size, out, progress)
    elif found and found["disk_type"] == DIFFERENCING:
        raise VhdError("differencing VHDs (a parent chain) are not modelled")
    else:
        _receive_fixed(stream, first, virtual_size, out, progress)


def _receive_fixed(stream, first, virtual_size, out, progress):
    """A fixed VHD is the raw disk followed by its footer."""
    if stream.length is None:
        raise VhdError("a fixed VHD needs a Content-Length")
    size = stream.length - SECTOR
    if size % SECTOR:
        raise VhdError("not a VHD: %d bytes is not a whole number of sectors" % stream.length)
    if size > virtual_size:
        raise VhdError("the VHD's disk (%d bytes) is larger than the VDI (%d)" % (size, virtual_size))
    if size == 0:
        last = first
    else:
        out.write(0, first)
        while stream.pos < size:
            data = stream.read(min(_CHUNK, size - stream.pos))
            out.write(stream.pos - len(data), data)
            if progress:
                progress(stream.pos)
        last = stream.read(SECTOR)
    found = parse_footer(last)
    if not found or found["disk_type"] != FIXED or found["current_size"] != size:
        raise VhdError("not a VHD: no valid fixed-disk footer for %d bytes at the end" % size)
    out.cover(0, size)


def _receive_dynamic(stream, found, virtual_size, out, progress):
    size = found["current_size"]
    if size > virtual_size:
        raise VhdError("the VHD's disk (%d bytes) is larger than the VDI (%d)" % (size, virtual_size))
    stream.skip_to(found["data_offset"])
    raw = stream.read(1024)
    fields = _HEADER.unpack(raw)
    if fields[0] != b"cxsparse" or fields[6] != _checksum(raw, 36):
        raise VhdError("not a VHD: bad dynamic disk header")
    table_offset, entries, block_size = fields[2], fields[4], fields[5]
    if block_size == 0 or block_size % SECTOR or entries * block_size < size:
        raise VhdError("not a VHD: bad block size or table")
    stream.skip_to(table_offset)
    table = stream.read(-(-entries * 4 // SECTOR) * SECTOR)
    bat = struct.unpack(">%dI" % entries, table[:entries * 4])
    bitmap_size = -(-(block_size // SECTOR // 8) // SECTOR) * SECTOR
    present = sorted((sector, index) for index, sector in enumerate(bat) if sector != UNUSED)
    for done, (sector, index) in enumerate(present):
        stream.skip_to(sector * SECTOR)
        bitmap = stream.read(bitmap_size)
        base = index * block_size
        if base >= size:
            raise VhdError("VHD block %d lies beyond the disk's end" % index)
        for offset in range(0, block_size, _CHUNK):
            data = stream.read(min(_CHUNK, block_size - offset))
            data = _apply_bitmap(bitmap, offset // SECTOR, data)
            keep = min(len(data), size - base - offset)
            if keep > 0:
                out.write(base + offset, data[:keep])
        if progress:
            progress((done + 1) * block_size)
    if stream.length is not None:
        stream.skip_to(stream.length - SECTOR)
    if not parse_footer(stream.read(SECTOR)):
        raise VhdError("not a VHD: no footer at the end")
    out.cover(0, size)          # blocks the table leaves out read as zeros


def _apply_bitmap(bitmap, first_sector, data):
    """Sectors whose bitmap bit is clear read as zeros."""
    sectors = len(data) // SECTOR
    bits = bitmap[first_sector // 8:(first_sector + sectors + 7) // 8]
    if bits == b"\xff" * len(bits):
        return data
    data = bytearray(data)
    for i in range(sectors):
        bit = first_sector + i
        if not bitmap[bit // 8] & (0x80 >> (bit % 8)):
            data[i * SECTOR:(i + 1) * SECTOR] = bytes(SECTOR)
    return bytes(data)


def _blocks_with_data(fd, size):
    """Indexes of the 2 MiB blocks that hold any allocated data (holes need no block)."""
    if fd is None:
        return []
    blocks = set()
    pos = 0
    end = min(size, os.fstat(fd).st_size)
    while pos < end:
        try:
            pos = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            break
        if pos >= end:
            break
        hole = min(os.lseek(fd, pos, os.SEEK_HOLE), end)
        blocks.update(range(pos // BLOCK_SIZE, (hole - 1) // BLOCK_SIZE + 1))
        pos = hole
    return sorted(blocks)


def send(fd, size, write, progress=None):
    """Write ``size`` bytes of raw contents (``fd``, None = all zeros) as a dynamic VHD."""
    entries = -(-size // BLOCK_SIZE)
    table_bytes = -(-entries * 4 // SECTOR) * SECTOR
    first_block = SECTOR + 1024 + table_bytes
    present = _blocks_with_data(fd, size)
    bat = [UNUSED] * (table_bytes // 4)
    step = SECTOR + BLOCK_SIZE          # bitmap (one sector for 2 MiB blocks) + data
    for n, index in enumerate(present):
        bat[index] = (first_block + n * step) // SECTOR
    tail = footer(size, DYNAMIC, SECTOR)
    header = bytearray(_HEADER.pack(b"cxsparse", NO_OFFSET, SECTOR + 1024, 0x00010000, entries,
                                    BLOCK_SIZE, 0, bytes(16), 0, bytes(4), bytes(512),
                                    bytes(192), bytes(256)))
    header[36:40] = struct.pack(">I", _checksum(header, 36))
    write(tail)
    write(bytes(header))
    write(struct.pack(">%dI" % len(bat), *bat))
    for n, index in enumerate(present):
        write(b"\xff" * SECTOR)
        for offset in range(0, BLOCK_SIZE, _CHUNK):
            at = index * BLOCK_SIZE + offset
            data = os.pread(fd, min(_CHUNK, max(0, size - at)), at) if at < size else b""
            write(data + bytes(_CHUNK - len(data)))
        if progress:
            progress((n + 1) / max(1, len(present)))
    write(tail)
