"""`ReferenceLog`: a pure-Python partition log following docs/storage.md.

It exists to cross-check the Rust core (for the same calls, with explicit
timestamps and no compression, both leave byte-identical ``.log``, ``.index``
and ``.timeindex`` files after ``close()``) and as a benchmark baseline. It is
written to be obviously right rather than fast, but without needless waste:
segment writes are buffered, batches are encoded with `struct` and joins.

Differences from the Rust core that do not change file contents: index files
are written append-only (never preallocated), so "trimming" them is a no-op;
segment files are read with ``os.pread`` instead of a memory map.

Invariants (the same as the Rust core's):

- ``_segments`` is never empty and sorted by base offset; the last is active;
- offsets below ``_next_offset`` are assigned: written to a segment or held in
  the pending batch (sealed before any read, flush, truncation or close);
- ``start_offset <= end_offset``, ``recovery_point <= end_offset``, and every
  batch below the recovery point has been fsynced;
- each segment's indexing state (``bytes_since_index``, ``max_timestamp``,
  ``offset_of_max_timestamp``) is what appending its batches in order left.
"""

from __future__ import annotations

import bisect
import fcntl
import logging
import os
import re
import shutil
import struct
import time
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from pystream.errors import (
    CorruptRecordError,
    LogClosedError,
    LogDirectoryError,
    OffsetOutOfRangeError,
)
from pystream.storage.records import (
    HEADER_LEN,
    LOG_OVERHEAD,
    BatchHeader,
    Record,
    build_batch,
    check_batch,
    codec_id,
    decode_batch_records,
    encode_record,
)

if TYPE_CHECKING:
    from pystream.storage.log import Columns

__all__ = ["ReferenceLog"]

logger = logging.getLogger("pystream.storage")

RECOVERY_CHECKPOINT = "recovery-point-offset-checkpoint"
START_CHECKPOINT = "log-start-offset-checkpoint"
CLEAN_SHUTDOWN = ".clean_shutdown"
LOCK_FILE = ".lock"
KNOWN_FILES = frozenset(
    {LOCK_FILE, RECOVERY_CHECKPOINT, START_CHECKPOINT, CLEAN_SHUTDOWN, "leader-epoch-checkpoint", "partition.metadata"}
)
_SEGMENT_NAME = re.compile(r"^(\d{20})\.(log|index|timeindex|log\.truncating)$")

OFFSET_ENTRY = struct.Struct(">II")  # relative offset, file position
TIME_ENTRY = struct.Struct(">qI")  # timestamp, relative offset
_I32_MAX = 2**31 - 1
_WRITE_BUF_BYTES = 256 * 1024
_DAY_MS = 24 * 3600 * 1000


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _file_name(base_offset: int, ext: str) -> str:
    return f"{base_offset:020d}.{ext}"


def _read_checkpoint(path: str) -> int | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    lines = text.splitlines()
    if len(lines) >= 2 and lines[0] == "0":
        try:
            v = int(lines[1].strip())
        except ValueError:
            v = -1
        if v >= 0:
            return v
    raise LogDirectoryError(f"malformed checkpoint file {path}: {text!r}")


def _remove_any(path: str) -> None:
    """Removes whatever sits at ``path`` (a file, or a directory put where a file of ours belongs)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def _untrusted_checkpoint(directory: str, name: str, fallback: str) -> tuple[int, bool]:
    """A checkpoint's value (0 when absent) and whether it was damaged (then removed, with a warning)."""
    path = os.path.join(directory, name)
    try:
        return _read_checkpoint(path) or 0, False
    except (LogDirectoryError, OSError) as e:
        logger.warning("recovery of %s: %s: %s; %s", directory, path, e, fallback)
        _remove_any(path)
        return 0, True


def _write_checkpoint(directory: str, name: str, value: int) -> None:
    """Writes ``0\\n<value>\\n`` atomically: temp file, fsync, rename."""
    tmp = os.path.join(directory, name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(f"0\n{value}\n".encode())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(directory, name))


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Cut(Exception):
    """Recovery found a torn or invalid batch at ``position``."""

    def __init__(self, position: int, reason: str):
        super().__init__(reason)
        self.position = position
        self.reason = reason


class _Segment:
    """One segment: ``<base>.log`` plus its offset and time indexes.

    The log file holds whole batches in ``[base_offset, next_offset)``; bytes
    not yet written sit in ``wbuf`` (``size = file_len + len(wbuf)``). Index
    entries live in memory and are appended to their files as they are made.
    """

    def __init__(self, directory: str, base_offset: int, *, fresh: bool):
        self.dir = directory
        self.base_offset = base_offset
        self.log_path = os.path.join(directory, _file_name(base_offset, "log"))
        self.index_path = os.path.join(directory, _file_name(base_offset, "index"))
        self.timeindex_path = os.path.join(directory, _file_name(base_offset, "timeindex"))
        flags = os.O_RDWR | os.O_CREAT
        if fresh:
            flags |= os.O_TRUNC
            for p in (self.index_path, self.timeindex_path):
                try:
                    os.remove(p)
                except FileNotFoundError:
                    pass
        try:
            self.fd = os.open(self.log_path, flags, 0o644)
        except OSError as e:
            raise LogDirectoryError(f"cannot open segment {self.log_path}: {e}") from e
        self.file_len = os.fstat(self.fd).st_size
        self.wbuf = bytearray()
        self.next_offset = base_offset
        self.offset_entries: list[tuple[int, int]] = []
        self.time_entries: list[tuple[int, int]] = []
        # append handles of the index files; open only while the segment is active
        self._index_f: Any = None
        self._timeindex_f: Any = None
        self.bytes_since_index = 0
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.first_batch_max_timestamp: int | None = None
        self.dirty = fresh

    # ----- state ------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.file_len + len(self.wbuf)

    def is_empty(self) -> bool:
        return self.size == 0

    def _reset_index_state(self) -> None:
        self.offset_entries = []
        self.time_entries = []
        self.bytes_since_index = 0
        self.max_timestamp = -1
        self.offset_of_max_timestamp = -1
        self.first_batch_max_timestamp = None

    # ----- index files -----------------------------------------------------

    def make_active(self) -> None:
        if self._index_f is None:
            self._index_f = open(self.index_path, "ab")
            self._timeindex_f = open(self.timeindex_path, "ab")

    def close_indexes(self) -> None:
        for f in (self._index_f, self._timeindex_f):
            if f is not None:
                f.close()
        self._index_f = self._timeindex_f = None

    def _write_index_files(self) -> None:
        """Rewrites both index files from the in-memory entries."""
        active = self._index_f is not None
        self.close_indexes()
        with open(self.index_path, "wb") as f:
            f.write(b"".join(OFFSET_ENTRY.pack(r, p) for r, p in self.offset_entries))
        with open(self.timeindex_path, "wb") as f:
            f.write(b"".join(TIME_ENTRY.pack(t, r) for t, r in self.time_entries))
        if active:
            self.make_active()

    def _load_index_files(self) -> bool:
        """Loads the entries of the index files; False when they do not fit the log."""
        try:
            with open(self.index_path, "rb") as f:
                raw = f.read()
            with open(self.timeindex_path, "rb") as f:
                traw = f.read()
        except FileNotFoundError:
            return False
        if len(raw) % OFFSET_ENTRY.size or len(traw) % TIME_ENTRY.size:
            return False
        offs = [e for e in OFFSET_ENTRY.iter_unpack(raw)]
        times = [e for e in TIME_ENTRY.iter_unpack(traw)]
        prev_pos = -1
        for _rel, pos in offs:
            if pos <= prev_pos or pos >= self.file_len:
                return False
            prev_pos = pos
        prev_ts = None
        for ts, _rel in times:
            if prev_ts is not None and ts <= prev_ts:
                return False
            prev_ts = ts
        self.offset_entries = offs
        self.time_entries = times
        return True

    def _push_offset_entry(self, rel: int, position: int) -> None:
        self.offset_entries.append((rel, position))
        if self._index_f is not None:
            self._index_f.write(OFFSET_ENTRY.pack(rel, position))

    def maybe_append_time_entry(self) -> None:
        last_ts = self.time_entries[-1][0] if self.time_entries else -1
        if self.max_timestamp > last_ts:
            e = (self.max_timestamp, self.offset_of_max_timestamp - self.base_offset)
            self.time_entries.append(e)
            if self._timeindex_f is not None:
                self._timeindex_f.write(TIME_ENTRY.pack(*e))

    def index_batch(self, position: int, last_offset: int, max_ts: int, size: int, interval: int) -> None:
        """Kafka's `LogSegment.append` indexing rule for a batch at ``position``."""
        if max_ts > self.max_timestamp:
            self.max_timestamp = max_ts
            self.offset_of_max_timestamp = last_offset
        if self.bytes_since_index > interval:
            self._push_offset_entry(last_offset - self.base_offset, position)
            self.maybe_append_time_entry()
            self.bytes_since_index = 0
        self.bytes_since_index += size

    def index_full(self, segment_index_bytes: int) -> bool:
        """Either index holds as many entries as `segment.index.bytes` allows (at least one)."""
        return len(self.offset_entries) >= max(1, segment_index_bytes // OFFSET_ENTRY.size) or len(
            self.time_entries
        ) >= max(1, segment_index_bytes // TIME_ENTRY.size)

    # ----- appends and I/O ------------------------------------------------------

    def append(self, data: bytes, h: BatchHeader, interval: int) -> None:
        """Appends one whole valid batch whose header (final offsets) is ``h``."""
        position = self.size
        self.wbuf += data
        if self.first_batch_max_timestamp is None:
            self.first_batch_max_timestamp = h.max_timestamp
        self.index_batch(position, h.last_offset, h.max_timestamp, len(data), interval)
        self.next_offset = h.last_offset + 1
        self.dirty = True
        if len(self.wbuf) >= _WRITE_BUF_BYTES:
            self.drain()

    def drain(self) -> None:
        """Writes buffered appends to the file (not fsynced)."""
        if self.wbuf:
            data = bytes(self.wbuf)
            done = 0
            while done < len(data):
                done += os.pwrite(self.fd, data[done:], self.file_len + done)
            self.file_len += len(data)
            self.wbuf.clear()

    def pread(self, n: int, pos: int) -> bytes:
        self.drain()
        out = os.pread(self.fd, n, pos)
        while len(out) < n:
            more = os.pread(self.fd, n - len(out), pos + len(out))
            if not more:
                break
            out += more
        return out

    def header_at(self, pos: int) -> BatchHeader | None:
        """Header of the batch at ``pos`` when a whole batch is there."""
        if pos + HEADER_LEN > self.size:
            return None
        h = BatchHeader.parse(self.pread(HEADER_LEN, pos))
        if h.batch_length < HEADER_LEN - LOG_OVERHEAD or pos + h.size > self.size:
            return None
        return h

    def fsync(self) -> None:
        self.drain()
        if self.dirty:
            os.fsync(self.fd)
            for f in (self._index_f, self._timeindex_f):
                if f is not None:
                    f.flush()
                    os.fsync(f.fileno())
            self.dirty = False

    def flush_indexes(self) -> None:
        for f in (self._index_f, self._timeindex_f):
            if f is not None:
                f.flush()

    # ----- lookups ------------------------------------------------------------

    def find_batch(self, offset: int) -> tuple[int, BatchHeader] | None:
        """Position and header of the first batch whose last offset is ``>= offset``."""
        rel = offset - self.base_offset
        i = bisect.bisect_right(self.offset_entries, (rel, 2**32)) - 1
        # an entry names the last offset of the batch at its position
        pos = self.offset_entries[i][1] if i >= 0 else 0
        while (h := self.header_at(pos)) is not None:
            if h.last_offset >= offset:
                return pos, h
            pos += h.size
        return None

    def find_timestamp(self, ts: int) -> int | None:
        """First offset of this segment whose record timestamp is ``>= ts``."""
        if self.max_timestamp < ts:
            return None
        from_offset = self.base_offset
        i = bisect.bisect_right(self.time_entries, (ts, 2**32)) - 1
        if i >= 0:
            t, rel = self.time_entries[i]
            # entries hold the largest timestamp so far: below ts means every
            # record up to that offset is earlier
            if t < ts:
                from_offset = self.base_offset + rel + 1
        found = self.find_batch(min(from_offset, max(self.next_offset, self.base_offset)))
        if found is None:
            return None
        pos, _ = found
        while (h := self.header_at(pos)) is not None:
            if h.max_timestamp >= ts:
                data = self.pread(h.size, pos)
                for r in decode_batch_records(data, 0, h):
                    if r.timestamp >= ts:
                        return r.offset
            pos += h.size
        return None

    def largest_timestamp(self) -> int:
        """Largest record timestamp, for retention; the file's mtime when none."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        try:
            return os.fstat(self.fd).st_mtime_ns // 1_000_000
        except OSError:
            return 0

    # ----- loading, recovery, truncation ------------------------------------

    def load(self, interval: int, *, final_time_entry: bool = False) -> tuple[int, str] | None:
        """Opens after a clean shutdown: trusts the indexes when they fit the
        log; replays batch headers to restore the append state. Falls back to
        `recover` (and returns its cut) when the files do not fit."""
        if not self._load_index_files():
            return self.recover(interval, self.base_offset, final_time_entry=final_time_entry)
        offs, times = self.offset_entries, self.time_entries
        self._reset_index_state()
        pos = 0
        while (h := self.header_at(pos)) is not None:
            if self.first_batch_max_timestamp is None:
                self.first_batch_max_timestamp = h.max_timestamp
            self.index_batch(pos, h.last_offset, h.max_timestamp, h.size, interval)
            self.next_offset = h.last_offset + 1
            pos += h.size
        if pos != self.file_len:
            # trailing garbage after a "clean" shutdown: treat as unclean
            return self.recover(interval, self.base_offset, final_time_entry=final_time_entry)
        # keep the entries found on disk (a rolled segment has its final time entry)
        self.offset_entries, self.time_entries = offs, times
        return None

    def recover(self, interval: int, min_base_offset: int, *, final_time_entry: bool = False) -> tuple[int, str] | None:
        """Re-reads the file batch by batch (length, magic, CRC, increasing
        offsets), rebuilds the indexes, cuts the file at the first torn or
        invalid batch. Returns ``(cut bytes, reason)`` or None."""
        self.drain()
        self._reset_index_state()
        self.next_offset = max(self.base_offset, min_base_offset)
        pos = 0
        cut: str | None = None
        while pos < self.file_len:
            head = self.pread(HEADER_LEN, pos)
            size = HEADER_LEN
            if len(head) >= LOG_OVERHEAD:
                (length,) = struct.unpack_from(">i", head, 8)
                if length >= HEADER_LEN - LOG_OVERHEAD:
                    size = length + LOG_OVERHEAD
            data = self.pread(size, pos) if size > len(head) else head
            try:
                h = check_batch(data, 0, deep=True, position=pos)
            except CorruptRecordError as e:
                cut = str(e)
                break
            if h.base_offset < self.next_offset:
                cut = f"batch base offset {h.base_offset} is below the expected {self.next_offset}"
                break
            if h.last_offset - self.base_offset > _I32_MAX:
                cut = f"offset {h.last_offset} does not fit the segment's relative offsets"
                break
            if self.first_batch_max_timestamp is None:
                self.first_batch_max_timestamp = h.max_timestamp
            self.index_batch(pos, h.last_offset, h.max_timestamp, h.size, interval)
            self.next_offset = h.last_offset + 1
            pos += h.size
        result = None
        if cut is not None:
            result = (self.file_len - pos, cut)
            self.truncate_file(pos)
        if final_time_entry:
            # a segment that is not the last one was rolled: it had its final
            # time-index entry (Kafka's LogSegment.recover appends it too), also
            # when it was cut (the segments after it stay)
            self.maybe_append_time_entry()
        self._write_index_files()
        self.dirty = True
        return result

    def truncate_file(self, length: int) -> None:
        self.drain()
        os.ftruncate(self.fd, length)
        self.file_len = length
        self.dirty = True

    def truncate_to(self, offset: int, interval: int) -> None:
        """Drops every batch whose last offset is ``>= offset``."""
        found = self.find_batch(offset)
        if found is not None:
            self.truncate_file(found[0])
            self.recover(interval, self.base_offset)

    def on_roll(self) -> None:
        """The segment stops being active: final time-index entry, indexes closed."""
        self.maybe_append_time_entry()
        self.drain()
        self.flush_indexes()
        self.close_indexes()

    def close(self) -> None:
        self.drain()
        self.close_indexes()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def delete(self) -> None:
        self.wbuf.clear()
        self.close()
        for p in (self.log_path, self.index_path, self.timeindex_path):
            try:
                os.remove(p)
            except FileNotFoundError:
                pass


class _Pending:
    """Records of the batch being built by `append`: encoded uncompressed,
    offset deltas 0..count-1, timestamp deltas relative to the first record."""

    __slots__ = ("base_offset", "base_timestamp", "max_timestamp", "parts", "size", "count")

    def __init__(self, base_offset: int, base_timestamp: int):
        self.base_offset = base_offset
        self.base_timestamp = base_timestamp
        self.max_timestamp = base_timestamp
        self.parts: list[bytes] = []
        self.size = 0
        self.count = 0

    def add(self, encoded: bytes, timestamp: int) -> None:
        self.parts.append(encoded)
        self.size += len(encoded)
        self.count += 1
        if timestamp > self.max_timestamp:
            self.max_timestamp = timestamp


class ReferenceLog:
    """A Kafka-format partition log in one directory, in pure Python.

    Same rules, files and API as the Rust core's log (docs/storage.md).
    Configuration uses Kafka's names with dots as underscores.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        segment_bytes: int = 1 << 30,
        segment_ms: int = 7 * _DAY_MS,
        index_interval_bytes: int = 4096,
        segment_index_bytes: int = 10 * 1024 * 1024,
        retention_ms: int = 7 * _DAY_MS,
        retention_bytes: int = -1,
        flush_messages: int | None = None,
        flush_ms: int | None = None,
        batch_size: int = 16384,
        compression_type: str | int = "none",
    ):
        if batch_size <= 0 or segment_bytes < 64 or segment_index_bytes < 8:
            raise ValueError("batch_size, segment_bytes (>= 64) and segment_index_bytes (>= 8) must be positive")
        if index_interval_bytes < 0:
            raise ValueError("index_interval_bytes must be >= 0")
        self.segment_bytes = segment_bytes
        self.segment_ms = segment_ms
        self.index_interval_bytes = index_interval_bytes
        self.segment_index_bytes = segment_index_bytes
        self.retention_ms = retention_ms
        self.retention_bytes = retention_bytes
        self.flush_messages = flush_messages
        self.flush_ms = flush_ms
        self.batch_size = batch_size
        self.compression = codec_id(compression_type)
        self.leader_epoch = 0
        self.path = os.fspath(path)
        self._closed = True
        self._lock_fd = -1
        self._pending: _Pending | None = None
        self._segments: list[_Segment] = []
        self._unflushed = 0
        self._last_flush_ms = _now_ms()
        self._open()
        self._closed = False

    @classmethod
    def open(cls, path: str | os.PathLike[str], **config: Any) -> "ReferenceLog":
        return cls(path, **config)

    # ----- opening and recovery ---------------------------------------------------

    def _open(self) -> None:
        d = self.path
        if os.path.exists(d) and not os.path.isdir(d):
            raise LogDirectoryError(f"{d} exists and is not a directory")
        try:
            os.makedirs(d, exist_ok=True)
        except OSError as e:
            raise LogDirectoryError(f"cannot create log directory {d}: {e}") from e
        bases: list[int] = []
        strangers: list[str] = []
        for name in os.listdir(d):
            m = _SEGMENT_NAME.match(name)
            if m:
                if m.group(2) == "log":
                    bases.append(int(m.group(1)))
                elif m.group(2) == "log.truncating":
                    os.remove(os.path.join(d, name))
            elif name not in KNOWN_FILES and not name.endswith(".tmp"):
                strangers.append(name)
        if not bases and strangers:
            raise LogDirectoryError(
                f"{d} is not a partition log directory: it holds {sorted(strangers)} and no segment"
            )
        self._lock_fd = os.open(os.path.join(d, LOCK_FILE), os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise LogDirectoryError(f"{d} is locked: another writer has this log open") from None
        try:
            self._load(sorted(bases))
        except BaseException:
            for s in self._segments:
                s.close()
            os.close(self._lock_fd)
            self._lock_fd = -1
            raise

    def _load(self, bases: list[int]) -> None:
        d = self.path
        marker = os.path.join(d, CLEAN_SHUTDOWN)
        clean = os.path.isfile(marker) and not os.path.islink(marker)
        if os.path.lexists(marker) and not clean:
            logger.warning("recovery of %s: %s is not a regular file: removed it; recovering from the segments", d, marker)
            _remove_any(marker)
        # Damaged checkpoints are untrusted input: set aside, the log recovers from its segments.
        ckpt_recovery, damaged = _untrusted_checkpoint(d, RECOVERY_CHECKPOINT, "recovering every segment")
        ckpt_start, _ = _untrusted_checkpoint(d, START_CHECKPOINT, "the log starts at its first segment")
        clean = clean and not damaged
        interval = self.index_interval_bytes
        segments = self._segments
        recovered = False
        for i, base in enumerate(bases):
            prev_next = max(segments[-1].next_offset, segments[-1].base_offset) if segments else base
            is_last = i + 1 == len(bases)
            # unclean: re-read every segment holding offsets at or above the recovery point
            must_recover = not clean and (is_last or bases[i + 1] > ckpt_recovery)
            seg = _Segment(d, base, fresh=False)
            if must_recover:
                recovered = True
                cut = seg.recover(interval, prev_next, final_time_entry=not is_last)
            else:
                cut = seg.load(interval, final_time_entry=not is_last)
                if cut is None and base < prev_next and not seg.is_empty():
                    # overlaps the segment before it: keep only its offsets past that one's
                    cut = seg.recover(interval, prev_next, final_time_entry=not is_last)
            if cut is not None:
                nbytes, reason = cut
                logger.warning(
                    "recovery of %s: %s: cut %d bytes at position %d (%s); the segment now ends at offset %d",
                    d,
                    seg.log_path,
                    nbytes,
                    seg.file_len,
                    reason,
                    max(seg.next_offset, seg.base_offset),
                )
            # A segment with no batch is only ever the last one, starting where the one
            # before ends (a roll): any other goes, so the end offset is where the data ends.
            # Later intact segments stay after a cut: the gap in offsets is skipped by reads.
            if seg.is_empty() and segments and not (is_last and base == prev_next):
                logger.warning("recovery of %s: %s: deleted this segment, which holds no batch", d, seg.log_path)
                seg.delete()
                continue
            segments.append(seg)
        if not segments:
            segments.append(_Segment(d, ckpt_start, fresh=True))
        last = segments[-1]
        last.make_active()
        self._next_offset = max(last.next_offset, last.base_offset)
        self._start_offset = min(max(ckpt_start, segments[0].base_offset), self._next_offset)
        self._recovery_point = min(ckpt_recovery, self._next_offset)
        if recovered:
            self._closed = False
            self.flush()
        try:
            os.remove(os.path.join(d, CLEAN_SHUTDOWN))
            _fsync_dir(d)
        except FileNotFoundError:
            pass

    # ----- helpers -----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LogClosedError(f"log {self.path} is closed")

    @property
    def _active(self) -> _Segment:
        return self._segments[-1]

    @property
    def start_offset(self) -> int:
        self._check_open()
        return self._start_offset

    @property
    def end_offset(self) -> int:
        self._check_open()
        return self._next_offset

    @property
    def recovery_point(self) -> int:
        self._check_open()
        return self._recovery_point

    @property
    def closed(self) -> bool:
        return self._closed

    def size_bytes(self) -> int:
        self._check_open()
        return sum(s.size for s in self._segments) + (self._pending.size if self._pending else 0)

    def segment_info(self) -> list[tuple[int, int]]:
        """``(base offset, size in bytes)`` of each segment (after sealing)."""
        self._check_open()
        self._seal()
        return [(s.base_offset, s.size) for s in self._segments]

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"[{self._start_offset}, {self._next_offset})"
        return f"ReferenceLog({self.path!r}, {state})"

    def __enter__(self) -> "ReferenceLog":
        self._check_open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----- appends -------------------------------------------------------------------

    def _add_record(self, timestamp: int, key: Any, value: Any, headers: Any) -> int:
        offset = self._next_offset
        p = self._pending
        if p is None:
            p = self._pending = _Pending(offset, timestamp)
        encoded = encode_record(offset - p.base_offset, timestamp - p.base_timestamp, key, value, headers)
        if p.count and p.size + len(encoded) > self.batch_size:
            self._seal()
            p = self._pending = _Pending(offset, timestamp)
            encoded = encode_record(0, 0, key, value, headers)
        p.add(encoded, timestamp)
        self._next_offset += 1
        self._unflushed += 1
        return offset

    def _after_append(self) -> None:
        if self.flush_messages is not None and self._unflushed >= self.flush_messages:
            self.flush()
        elif self.flush_ms is not None and self._unflushed and _now_ms() - self._last_flush_ms >= self.flush_ms:
            self.flush()

    def append(
        self,
        value: Any,
        key: Any = None,
        headers: Sequence[tuple[str, Any]] | None = None,
        timestamp_ms: int | None = None,
    ) -> int:
        """Appends one record to the pending batch; returns its (final) offset."""
        self._check_open()
        ts = _now_ms() if timestamp_ms is None else int(timestamp_ms)
        off = self._add_record(ts, key, value, list(headers) if headers else None)
        self._after_append()
        return off

    def append_batch(self, values: Any, keys: Sequence[Any] | None = None, timestamp_ms: int | None = None) -> int:
        """Appends many records with one timestamp; returns the first offset.

        ``values``: a sequence of bytes-like (None = null) or a 2-D uint8 numpy
        array, each row a value.
        """
        self._check_open()
        if getattr(values, "ndim", None) == 2:
            values = [row.tobytes() for row in values]
        n = len(values)
        if keys is not None and len(keys) != n:
            raise ValueError(f"{len(keys)} keys for {n} values")
        ts = _now_ms() if timestamp_ms is None else int(timestamp_ms)
        first = self._next_offset
        for i in range(n):
            self._add_record(ts, None if keys is None else keys[i], values[i], None)
        self._after_append()
        return first

    def append_raw(self, batches: Any) -> int:
        """Appends wire batches (one or more, concatenated), assigning offsets.

        Every batch is validated first (length, magic, CRC32C, record framing);
        a bad one raises `CorruptRecordError` and nothing changes. Each batch
        then gets the next offsets (baseOffset rewritten in place, which keeps
        the CRC valid) and the log's leader epoch. Returns the first offset.
        """
        self._check_open()
        buf = bytes(memoryview(batches).cast("B"))
        found: list[tuple[int, BatchHeader]] = []
        pos = 0
        while pos < len(buf):
            try:
                h = check_batch(buf, pos, deep=True)
            except CorruptRecordError as e:
                raise CorruptRecordError(f"invalid record batch: {e}") from None
            found.append((pos, h))
            pos += h.size
        if not found:
            raise CorruptRecordError("no record batch in the given bytes")
        self._seal()
        first = self._next_offset
        prefix = struct.Struct(">qii")
        for pos, h in found:
            base = self._next_offset
            data = bytearray(buf[pos : pos + h.size])
            prefix.pack_into(data, 0, base, h.batch_length, self.leader_epoch)
            hh = BatchHeader.parse(data)
            self._append_sealed(bytes(data), hh)
            self._next_offset = hh.next_offset
            self._unflushed += max(h.record_count, 0)
        self._after_append()
        return first

    def _seal(self) -> None:
        """Encodes and writes the pending batch."""
        p = self._pending
        if p is None:
            return
        self._pending = None
        data = build_batch(
            p.base_offset,
            b"".join(p.parts),
            count=p.count,
            base_timestamp=p.base_timestamp,
            max_timestamp=p.max_timestamp,
            compression=self.compression,
            partition_leader_epoch=self.leader_epoch,
        )
        self._append_sealed(data, BatchHeader.parse(data))

    def _append_sealed(self, data: bytes, h: BatchHeader) -> None:
        seg = self._active
        if not seg.is_empty():
            roll = (
                seg.size + len(data) > self.segment_bytes
                or (
                    seg.first_batch_max_timestamp is not None
                    and h.max_timestamp - seg.first_batch_max_timestamp > self.segment_ms
                )
                or seg.index_full(self.segment_index_bytes)
                or h.last_offset - seg.base_offset > _I32_MAX
            )
            if roll:
                self._roll(h.base_offset)
        self._active.append(data, h, self.index_interval_bytes)

    def _roll(self, base_offset: int) -> None:
        self._active.on_roll()
        seg = _Segment(self.path, base_offset, fresh=True)
        seg.make_active()
        self._segments.append(seg)

    # ----- durability ------------------------------------------------------------------

    def flush(self, fsync: bool = True) -> None:
        """Seals, fsyncs every segment written since the last flush, moves the recovery point.
        With ``fsync=False`` the data is only handed to the OS."""
        self._check_open()
        self._seal()
        if not fsync:
            for seg in self._segments:
                seg.drain()
            return
        for seg in self._segments:
            if seg.dirty:
                seg.fsync()
        if self._recovery_point != self._next_offset:
            self._recovery_point = self._next_offset
            _write_checkpoint(self.path, RECOVERY_CHECKPOINT, self._recovery_point)
        self._unflushed = 0
        self._last_flush_ms = _now_ms()

    def close(self) -> None:
        """Seals, flushes, writes checkpoints and ``.clean_shutdown``. Idempotent."""
        if self._closed:
            return
        try:
            self.flush()
            self._active.flush_indexes()
            _write_checkpoint(self.path, START_CHECKPOINT, self._start_offset)
            _write_checkpoint(self.path, RECOVERY_CHECKPOINT, self._recovery_point)
            with open(os.path.join(self.path, CLEAN_SHUTDOWN), "wb"):
                pass
            _fsync_dir(self.path)
        finally:
            self._closed = True
            for seg in self._segments:
                seg.close()
            if self._lock_fd >= 0:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = -1

    def __del__(self) -> None:  # not a clean shutdown, but keep what was appended
        try:
            if not self._closed:
                self._seal()
                for seg in self._segments:
                    seg.close()
                if self._lock_fd >= 0:
                    os.close(self._lock_fd)
                self._closed = True
        except Exception:
            pass

    # ----- reads --------------------------------------------------------------------------

    def _check_offset(self, offset: int) -> None:
        if offset < self._start_offset or offset > self._next_offset:
            raise OffsetOutOfRangeError(
                f"offset {offset} is out of range [{self._start_offset}, {self._next_offset}] of {self.path}"
            )

    def _segment_for(self, offset: int) -> int:
        bases = [s.base_offset for s in self._segments]
        return max(bisect.bisect_right(bases, offset) - 1, 0)

    def _locate(self, offset: int) -> tuple[int, int, BatchHeader] | None:
        for i in range(self._segment_for(offset), len(self._segments)):
            found = self._segments[i].find_batch(offset)
            if found is not None:
                return i, found[0], found[1]
        return None

    def read(self, offset: int, max_bytes: int = 1 << 20) -> bytes:
        """Whole batches of one segment from the batch holding ``offset``: as
        many as fit in ``max_bytes``, at least one; empty at the end offset."""
        self._check_open()
        self._seal()
        self._check_offset(offset)
        if offset >= self._next_offset:
            return b""
        found = self._locate(offset)
        if found is None:
            return b""
        i, pos, first = found
        seg = self._segments[i]
        length = first.size
        while (h := seg.header_at(pos + length)) is not None:
            if length + h.size > max_bytes:
                break
            length += h.size
        return seg.pread(length, pos)

    def records(self, offset: int, max_records: int | None = None) -> list[Record]:
        """Records from ``offset`` on, across segments; control batches skipped."""
        self._check_open()
        self._seal()
        self._check_offset(offset)
        out: list[Record] = []
        if max_records is not None and max_records <= 0:
            return out
        found = self._locate(offset)
        if found is None:
            return out
        first_seg, pos, _ = found
        for seg in self._segments[first_seg:]:
            while (h := seg.header_at(pos)) is not None:
                if not h.is_control:
                    data = seg.pread(h.size, pos)
                    for r in decode_batch_records(data, 0, h):
                        if r.offset >= offset:
                            out.append(r)
                            if max_records is not None and len(out) >= max_records:
                                return out
                pos += h.size
            pos = 0
        return out

    def read_columns(self, offset: int, max_records: int | None = None) -> Columns:
        """The records of ``records()`` as columns (packed copies of keys and values)."""
        import numpy as np

        from pystream.storage.log import Columns

        recs = self.records(offset, max_records)

        def packed(items: list[bytes | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            lengths = np.fromiter((-1 if v is None else len(v) for v in items), np.int32, len(items))
            starts = np.zeros(len(items), np.int64)
            if len(items) > 1:
                np.cumsum(np.maximum(lengths[:-1], 0), out=starts[1:])
            buf = np.frombuffer(b"".join(v for v in items if v is not None), np.uint8)
            return starts, lengths, buf

        ks, kl, kb = packed([r.key for r in recs])
        vs, vl, vb = packed([r.value for r in recs])
        return Columns(np.fromiter((r.offset for r in recs), np.int64, len(recs)),
                       np.fromiter((r.timestamp for r in recs), np.int64, len(recs)), ks, kl, kb, vs, vl, vb)

    def offset_for_timestamp(self, ts_ms: int) -> int | None:
        """The first offset whose record timestamp is ``>= ts_ms``, or None."""
        self._check_open()
        self._seal()
        for seg in self._segments:
            off = seg.find_timestamp(ts_ms)
            if off is not None:
                return max(off, self._start_offset)
        return None

    # ----- truncation and retention ---------------------------------------------------

    def truncate_to(self, offset: int) -> None:
        """Drops every batch whose last offset is ``>= offset`` (Kafka's rule)."""
        self._check_open()
        self._seal()
        if offset >= self._next_offset:
            return
        interval = self.index_interval_bytes
        while self._segments and self._segments[-1].base_offset >= offset:
            self._segments.pop().delete()
        if not self._segments:
            base = max(offset, 0)
            self._segments.append(_Segment(self.path, base, fresh=True))
            self._start_offset = base
            _write_checkpoint(self.path, START_CHECKPOINT, self._start_offset)
        else:
            self._active.truncate_to(offset, interval)
        last = self._active
        last.make_active()
        self._next_offset = max(last.next_offset, last.base_offset)
        self._start_offset = min(self._start_offset, self._next_offset)
        if self._recovery_point > self._next_offset:
            self._recovery_point = self._next_offset
            _write_checkpoint(self.path, RECOVERY_CHECKPOINT, self._recovery_point)
        _fsync_dir(self.path)

    def delete_records_before(self, offset: int) -> int:
        """Log start offset = ``offset`` (at most the end offset); deletes the
        segments wholly below it. Returns the new start offset."""
        self._check_open()
        self._seal()
        offset = min(offset, self._next_offset)
        if offset <= self._start_offset:
            return self._start_offset
        self._start_offset = offset
        if offset == self._next_offset and not self._active.is_empty():
            self._roll(offset)
        while len(self._segments) > 1 and self._segments[1].base_offset <= offset:
            self._segments.pop(0).delete()
        _write_checkpoint(self.path, START_CHECKPOINT, self._start_offset)
        return self._start_offset

    def enforce_retention(self, now_ms: int | None = None) -> int:
        """Deletes old non-active segments by ``retention_ms`` and
        ``retention_bytes``, oldest first; returns how many were deleted."""
        self._check_open()
        self._seal()
        now = _now_ms() if now_ms is None else int(now_ms)
        deleted = 0
        segs = self._segments
        if self.retention_ms >= 0:
            while len(segs) > 1 and now - segs[0].largest_timestamp() > self.retention_ms:
                segs.pop(0).delete()
                deleted += 1
        if self.retention_bytes >= 0:
            total = sum(s.size for s in segs)
            while len(segs) > 1 and total - segs[0].size >= self.retention_bytes:
                total -= segs[0].size
                segs.pop(0).delete()
                deleted += 1
        if deleted and segs[0].base_offset > self._start_offset:
            self._start_offset = segs[0].base_offset
            _write_checkpoint(self.path, START_CHECKPOINT, self._start_offset)
        return deleted

    def iter_batches(self, offset: int | None = None) -> Iterable[tuple[BatchHeader, bytes]]:
        """(header, bytes) of every batch from the one holding ``offset``."""
        self._check_open()
        self._seal()
        offset = self._start_offset if offset is None else offset
        self._check_offset(offset)
        found = self._locate(offset)
        if found is None:
            return
        first_seg, pos, _ = found
        for seg in self._segments[first_seg:]:
            while (h := seg.header_at(pos)) is not None:
                yield h, seg.pread(h.size, pos)
                pos += h.size
            pos = 0
