"""VDI contents: one sparse raw file per VDI uuid, beside the state file (``<state>.vdis/``).

A write goes to a temporary file that replaces the old one with a rename once it is complete
and fsync'ed, so a write that fails or is cut short by ``kill -9`` leaves the old contents
whole, and a write that was answered survives. Regions a write does not cover keep the old
contents; zero blocks are never written (holes), so an empty 256 MiB disk costs nothing.

Deleting is deferred to ``purge()`` (after the database commit that removed the VDI), and at
start the files of VDIs the database no longer has are removed: a crash between the two never
loses the contents of a VDI that still exists.
"""
import os
import re
import shutil
import tempfile
import threading
import weakref

from . import isolib

CHUNK = 1024 * 1024             # read/write unit
BLOCK = 64 * 1024               # zero-detection granularity: all-zero blocks become holes
_ZERO_BLOCK = bytes(BLOCK)
_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
_SUFFIX = ".raw"
_PARTIAL = ".part"


def contents_path(db, store, vdi):
    """Where the VDI ``vdi`` (a ref) is read from, the one place for it: a VDI of an ISO library
    SR is its file there (isolib), any other its file in ``store``; None when nothing was ever
    written (it reads as zeros)."""
    record = db.get("VDI", vdi)
    if db.get("SR", record["SR"])["type"] == "iso":
        name = isolib.file_of(db, record)
        if name:
            return name
    return store.path(record["uuid"]) if store is not None else None


class ShortBody(IOError):
    """The reader ended before ``length`` bytes."""


class VdiStore:
    def __init__(self, directory=None):
        if directory is None:
            directory = tempfile.mkdtemp(prefix="xapisim-vdis-")
            weakref.finalize(self, shutil.rmtree, directory, ignore_errors=True)
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.doomed = set()
        self.lock = threading.Lock()

    @classmethod
    def beside(cls, state):
        """The store for a state file (``<state>.vdis``), or a temporary one without it."""
        return cls(os.path.abspath(state) + ".vdis" if state else None)

    # --- reading --------------------------------------------------------------------------
    def _file(self, vdi_uuid):
        if not isinstance(vdi_uuid, str) or not _NAME.match(vdi_uuid):
            raise ValueError("not a VDI uuid: %r" % (vdi_uuid,))
        return os.path.join(self.directory, vdi_uuid + _SUFFIX)

    def path(self, vdi_uuid):
        """Filesystem path of the raw contents, or None if never written (reads as zeros)."""
        name = self._file(vdi_uuid)
        if vdi_uuid in self.doomed or not os.path.exists(name):
            return None
        return name

    def open(self, vdi_uuid, mode="rb"):
        name = self.path(vdi_uuid)
        if name is None:
            raise KeyError(vdi_uuid)
        return open(name, mode)

    def size(self, vdi_uuid):
        name = self.path(vdi_uuid)
        return os.path.getsize(name) if name else 0

    def allocated(self, vdi_uuid):
        """Bytes the contents really take on disk (holes are free)."""
        name = self.path(vdi_uuid)
        return os.stat(name).st_blocks * 512 if name else 0

    # --- writing --------------------------------------------------------------------------
    def writer(self, vdi_uuid):
        """A _Writer: ``write(offset, data)`` as often as needed, then ``commit()`` (or
        ``abort()``). Use it as a context manager: leaving by an exception aborts."""
        return _Writer(self, vdi_uuid)

    def write_stream(self, vdi_uuid, reader, length, offset=0, progress=None, limit=None):
        """Write ``length`` bytes read from ``reader`` at ``offset``, in chunks; durable when
        it returns. ``progress(done)`` is told the bytes so far. Raises ShortBody (nothing
        changed) if the reader ends early."""
        with self.writer(vdi_uuid) as out:
            done = 0
            buf = bytearray(CHUNK)
            view = memoryview(buf)
            while done < length:
                want = min(CHUNK, length - done)
                got = _read_into(reader, view[:want])
                if got < want:
                    raise ShortBody("body ended after %d of %d bytes" % (done + got, length))
                out.write(offset + done, view[:want])
                done += want
                if progress:
                    progress(done)
            out.commit()
        return done

    def put_bytes(self, vdi_uuid, data, offset=0):
        """Write ``data`` at ``offset`` (tests, image seeding)."""
        import io
        return self.write_stream(vdi_uuid, io.BytesIO(data), len(data), offset=offset)

    def copy(self, src_uuid, dst_uuid):
        """``dst`` gets ``src``'s contents (sparse); none if ``src`` has none."""
        name = self.path(src_uuid)
        if name is None:
            self.delete(dst_uuid)
            return
        with open(name, "rb") as src, self.writer(dst_uuid) as out:
            out.replace = True
            _sparse_copy(src.fileno(), out.fd, 0, os.fstat(src.fileno()).st_size)
            out.commit(size=os.fstat(src.fileno()).st_size)

    def delete(self, vdi_uuid):
        """Forget the contents; the file goes at the next ``purge()``."""
        self._file(vdi_uuid)
        with self.lock:
            self.doomed.add(vdi_uuid)

    def purge(self):
        with self.lock:
            doomed, self.doomed = self.doomed, set()
        for vdi_uuid in doomed:
            try:
                os.unlink(self._file(vdi_uuid))
            except FileNotFoundError:
                pass

    def collect(self, live_uuids):
        """At start: drop partial writes and the files of VDIs that no longer exist."""
        live = set(live_uuids)
        for name in os.listdir(self.directory):
            uuid, _, suffix = name.partition(".")
            if ("." + suffix) == _SUFFIX and uuid in live:
                continue
            if ("." + suffix) == _SUFFIX or _PARTIAL in name:
                os.unlink(os.path.join(self.directory, name))

    def _replace(self, temp, vdi_uuid):
        os.replace(temp, self._file(vdi_uuid))
        with self.lock:
            self.doomed.discard(vdi_uuid)
        _fsync_dir(self.directory)


class _Writer:
    def __init__(self, store, vdi_uuid):
        self.store = store
        self.vdi_uuid = vdi_uuid
        self.target = store._file(vdi_uuid)
        handle, self.temp = tempfile.mkstemp(prefix=vdi_uuid + ".", suffix=_PARTIAL,
                                             dir=store.directory)
        self.fd = handle
        self.covered = []           # [start, end) ranges written, merged when adjacent
        self.end = 0
        self.replace = False        # True: old contents are not kept outside ``covered``
        self.done = False

    def write(self, offset, data):
        """Write ``data`` at ``offset``; all-zero 64 KiB blocks are left as holes (unless this
        writer already wrote there: then the zeros are written)."""
        view = memoryview(data)
        length = len(view)
        rewrite = offset < self.end and any(start < offset + length and offset < end
                                            for start, end in self.covered)
        pos = 0
        while pos < length:
            block = view[pos:pos + BLOCK].tobytes()     # bytes compare at memcmp speed
            if rewrite or block != _ZERO_BLOCK[:len(block)]:
                os.pwrite(self.fd, block, offset + pos)
            pos += len(block)
        self.cover(offset, offset + length)

    def cover(self, start, end):
        if self.covered and self.covered[-1][1] == start:
            self.covered[-1][1] = end
        else:
            self.covered.append([start, end])
        self.end = max(self.end, end)

    def commit(self, size=None):
        """Keep the old contents outside what was written, make it durable, swap it in."""
        old = None if self.replace else self.store.path(self.vdi_uuid)
        length = max(self.end, size or 0)
        if old:
            with open(old, "rb") as src:
                old_size = os.fstat(src.fileno()).st_size
                length = max(length, old_size)
                start = 0
                for begin, finish in sorted(self.covered):
                    if begin > start:
                        _sparse_copy(src.fileno(), self.fd, start, min(begin, old_size))
                    start = max(start, finish)
                if start < old_size:
                    _sparse_copy(src.fileno(), self.fd, start, old_size)
        os.ftruncate(self.fd, length)
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        self.store._replace(self.temp, self.vdi_uuid)
        self.done = True

    def abort(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if not self.done:
            try:
                os.unlink(self.temp)
            except FileNotFoundError:
                pass
            self.done = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.abort()
        return False


def _read_into(reader, view):
    """Fill ``view`` from ``reader`` (readinto, or read); fewer bytes only at end of stream."""
    got = 0
    while got < len(view):
        if hasattr(reader, "readinto"):
            n = reader.readinto(view[got:])
        else:
            data = reader.read(len(view) - got)
            n = len(data)
            view[got:got + n] = data
        if not n:
            break
        got += n
    return got


def _sparse_copy(src_fd, dst_fd, start, end):
    """Copy [start, end) of src into dst at the same offsets, skipping holes and zero blocks."""
    pos = start
    while pos < end:
        try:
            pos = os.lseek(src_fd, pos, os.SEEK_DATA)
        except OSError:             # ENXIO: only a hole is left
            return
        if pos >= end:
            return
        hole = min(os.lseek(src_fd, pos, os.SEEK_HOLE), end)
        while pos < hole:
            data = os.pread(src_fd, min(CHUNK, hole - pos), pos)
            if not data:
                return
            for at in range(0, len(data), BLOCK):
                block = data[at:at + BLOCK]
                if block != _ZERO_BLOCK[:len(block)]:
                    os.pwrite(dst_fd, block, pos + at)
            pos += len(data)


def _fsync_dir(directory):
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
