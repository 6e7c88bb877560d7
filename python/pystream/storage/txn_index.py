"""Transaction markers and the aborted-transaction index of a partition (Kafka's ``.txnindex``).

A transaction ends in every partition it wrote to with a *control batch*
(attributes transactional + control) holding one record: key ``version i16 |
type i16`` (0 = ABORT, 1 = COMMIT), value ``version i16 | coordinator_epoch
i32`` (Kafka's EndTransactionMarker). `encode_marker_batch` builds one;
`marker_type` reads one back.

The aborted-transaction index lets a ``read_committed`` fetch tell its client
which records to drop: for every aborted transaction, the producer id, its
first offset, the offset of its ABORT marker and the last stable offset right
after the marker. Kafka keeps it per segment, in ``<base offset>.txnindex``
beside the segment's ``.log``: 34-byte big-endian entries ``version i16 (0) |
producer_id i64 | first_offset i64 | last_offset i64 | last_stable_offset
i64``, in increasing ``last_offset`` order, in the file of the segment holding
the marker. `TxnIndex` keeps those files and an in-memory copy of them.

Invariants: ``entries`` is sorted by ``last_offset`` (strictly increasing);
every entry is in the file of the segment holding its ``last_offset``, and the
files hold exactly ``entries`` (files of deleted segments are removed by
`retain` and `load`). The files are written on append (page cache) and fsynced
by `flush`; `ProducerState` flushes them before writing its snapshot, so the
entries below a snapshot's offset are durable and those at or above it are
rebuilt from the log's markers when the partition opens.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import os
import struct
from pathlib import Path
from typing import Any, NamedTuple

from pystream.errors import CorruptRecordError
from pystream.storage.records import (
    ATTR_CONTROL,
    ATTR_TRANSACTIONAL,
    BatchHeader,
    Record,
    decode_batch_records,
    encode_batch,
)

__all__ = [
    "ABORT",
    "COMMIT",
    "AbortedTxn",
    "TxnIndex",
    "encode_marker_batch",
    "marker_type",
]

logger = logging.getLogger("pystream.storage")

ABORT, COMMIT = 0, 1  # Kafka's ControlRecordType
CONTROL_KEY = struct.Struct(">hh")  # version, type
MARKER_VALUE = struct.Struct(">hi")  # version, coordinator epoch
ENTRY = struct.Struct(">hqqqq")  # version, producer id, first offset, last offset, last stable offset
ENTRY_VERSION = 0
SUFFIX = ".txnindex"
_MARKER_READ_BYTES = 4096  # a marker batch is ~80 bytes; `read` returns at least the whole first batch


class AbortedTxn(NamedTuple):
    producer_id: int
    first_offset: int
    last_offset: int  # the offset of the ABORT marker
    last_stable_offset: int  # the partition's LSO right after the marker


def encode_marker_batch(producer_id: int, producer_epoch: int, commit: bool, coordinator_epoch: int,
                        timestamp_ms: int, partition_leader_epoch: int = 0) -> bytes:
    """A COMMIT or ABORT control batch at base offset 0 (the log assigns the real offset)."""
    key = CONTROL_KEY.pack(0, COMMIT if commit else ABORT)
    value = MARKER_VALUE.pack(0, coordinator_epoch)
    return encode_batch(0, [Record(0, timestamp_ms, key, value)], producer_id=producer_id, producer_epoch=producer_epoch,
                        base_sequence=-1, partition_leader_epoch=partition_leader_epoch,
                        attributes_extra=ATTR_TRANSACTIONAL | ATTR_CONTROL)


def marker_type(buf: Any, pos: int = 0) -> int:
    """ABORT or COMMIT: the type of the control batch at ``pos`` of ``buf`` (CorruptRecordError otherwise)."""
    h = BatchHeader.parse(buf, pos)
    if not h.is_control:
        raise CorruptRecordError(f"batch at offset {h.base_offset} is not a control batch")
    records = decode_batch_records(buf, pos, h)
    if not records or records[0].key is None or len(records[0].key) < CONTROL_KEY.size:
        raise CorruptRecordError(f"control batch at offset {h.base_offset} has no control record key")
    _version, kind = CONTROL_KEY.unpack_from(records[0].key)
    return kind


def read_marker_type(log: Any, offset: int) -> int:
    """The type of the control batch at `offset` of `log` (a `PartitionLog`)."""
    return marker_type(log.read(offset, _MARKER_READ_BYTES, offset + 1))


class TxnIndex:
    """The aborted transactions of one partition log directory (see the module docstring)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        # (entry, base offset of the segment whose file holds it), by last_offset
        self._entries: list[tuple[AbortedTxn, int]] = []
        self._last: list[int] = []  # last_offset of each entry, for bisect
        self._dirty: set[int] = set()  # segment bases written since the last flush
        self._files: set[int] = set()  # segment bases with an index file (no directory listing per retention pass)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> list[AbortedTxn]:
        return [e for e, _b in self._entries]

    def path(self, base: int) -> Path:
        return self.dir / f"{base:020d}{SUFFIX}"

    # --- reading ---------------------------------------------------------------

    def collect(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """The aborted transactions a fetch of [fetch_offset, upper_bound) must report (Kafka's
        collectAbortedTxns): those ending at or after `fetch_offset` and starting before
        `upper_bound`. The scan stops at the first entry whose LSO reaches `upper_bound`:
        no transaction open after it began below the bound."""
        out = []
        for e, _base in self._entries[bisect.bisect_left(self._last, fetch_offset):]:
            if e.first_offset < upper_bound:
                out.append(e)
            if e.last_stable_offset >= upper_bound:
                break
        return out

    # --- writing ----------------------------------------------------------------

    def append(self, entry: AbortedTxn, segment_bases: list[int]) -> None:
        """Adds an aborted transaction to the file of the segment holding its marker
        (`segment_bases`: the log's segment base offsets, ascending)."""
        if self._last and entry.last_offset <= self._last[-1]:
            raise ValueError(f"aborted transaction ending at {entry.last_offset} appended after one ending at {self._last[-1]}")
        i = bisect.bisect_right(segment_bases, entry.last_offset) - 1
        base = segment_bases[max(i, 0)]
        with open(self.path(base), "ab") as f:
            f.write(ENTRY.pack(ENTRY_VERSION, *entry))
        self._files.add(base)
        self._entries.append((entry, base))
        self._last.append(entry.last_offset)
        self._dirty.add(base)

    def flush(self) -> None:
        """fsyncs the files written since the last flush."""
        for base in sorted(self._dirty):
            try:
                with open(self.path(base), "rb") as f:
                    os.fsync(f.fileno())
            except FileNotFoundError:
                pass  # removed since (truncation, retention)
        self._dirty.clear()

    def retain(self, segment_bases: list[int]) -> None:
        """Forgets the entries of segments that are gone (retention, DeleteRecords, truncation)
        and removes their files."""
        live = set(segment_bases)
        if any(b not in live for _e, b in self._entries):
            self._set([(e, b) for e, b in self._entries if b in live])
        for base in self._files - live:
            self.path(base).unlink(missing_ok=True)
            self._files.discard(base)
            self._dirty.discard(base)

    def load(self, segment_bases: list[int], replay_from: int) -> bool:
        """Reads the index files of the log's segments, keeping only the entries whose marker
        lies below `replay_from` (the caller re-derives the others from the log) and
        rewriting files accordingly. Returns False, with everything cleared and the files
        removed, when a file is damaged: the caller must rebuild the whole index."""
        self._dirty.clear()
        self._files.clear()
        bases = sorted(segment_bases)
        loaded: list[tuple[AbortedTxn, int]] = []
        damaged: list[str] = []
        for p in sorted(self.dir.glob(f"*{SUFFIX}")):
            base = _base_of(p)
            if base is None or base not in bases:
                p.unlink(missing_ok=True)  # the segment is gone
                continue
            i = bases.index(base)
            end = bases[i + 1] if i + 1 < len(bases) else None
            try:
                entries = _parse(p.read_bytes(), base, end)
            except (OSError, ValueError) as e:
                damaged.append(f"{p.name}: {e}")
                continue
            keep = [x for x in entries if x.last_offset < replay_from]
            if len(keep) != len(entries) or not keep:  # an empty file goes
                self._rewrite(base, keep)
            if keep:
                self._files.add(base)
            loaded.extend((x, base) for x in keep)
        loaded.sort(key=lambda eb: eb[0].last_offset)
        if damaged or any(a[0].last_offset >= b[0].last_offset for a, b in itertools.pairwise(loaded)):
            logger.warning("%s: transaction index damaged (%s); rebuilding it from the log", self.dir,
                           "; ".join(damaged) or "entries out of order")
            self.reset()
            return False
        self._set(loaded)
        return True

    def reset(self) -> None:
        """Forgets every entry and removes every index file."""
        for p in self.dir.glob(f"*{SUFFIX}"):
            p.unlink(missing_ok=True)
        self._set([])
        self._dirty.clear()
        self._files.clear()

    def _set(self, entries: list[tuple[AbortedTxn, int]]) -> None:
        self._entries = entries
        self._last = [e.last_offset for e, _b in entries]

    def _rewrite(self, base: int, entries: list[AbortedTxn]) -> None:
        p = self.path(base)
        if not entries:
            p.unlink(missing_ok=True)
            return
        tmp = p.with_suffix(".txnindex.tmp")
        with open(tmp, "wb") as f:
            f.write(b"".join(ENTRY.pack(ENTRY_VERSION, *e) for e in entries))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)


def _base_of(p: Path) -> int | None:
    stem = p.name[: -len(SUFFIX)]
    return int(stem) if len(stem) == 20 and stem.isdigit() else None


def _parse(data: bytes, base: int, end: int | None) -> list[AbortedTxn]:
    """The entries of one index file; ValueError when the file is not a valid index of the
    segment [base, end)."""
    if len(data) % ENTRY.size:
        raise ValueError(f"{len(data)} bytes is not a whole number of {ENTRY.size}-byte entries")
    out: list[AbortedTxn] = []
    for pos in range(0, len(data), ENTRY.size):
        version, *fields = ENTRY.unpack_from(data, pos)
        e = AbortedTxn(*fields)
        if version != ENTRY_VERSION:
            raise ValueError(f"entry {pos // ENTRY.size} has version {version}")
        if not (e.first_offset <= e.last_offset and e.last_offset >= base and (end is None or e.last_offset < end)):
            raise ValueError(f"entry {pos // ENTRY.size} {tuple(e)} does not belong to the segment at {base}")
        if out and e.last_offset <= out[-1].last_offset:
            raise ValueError(f"entry {pos // ENTRY.size} is out of order")
        out.append(e)
    return out
