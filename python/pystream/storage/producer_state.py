"""Idempotent-producer state of one partition: Kafka's ProducerStateManager.

For each producer id the partition remembers its epoch and the metadata of
its last five batches, so a retried batch is recognised (and answered with its
original offset) instead of being appended twice, and a gap in sequence
numbers is refused. The state is rebuilt at open from a snapshot file plus the
batch headers after it (`PartitionLog.scan_batches`), so it survives restarts.

Transactions (KIP-98): the state also knows each producer's open transaction
(the offset of its first transactional batch), which bounds the partition's
last stable offset, and it owns the partition's aborted-transaction index
(`TxnIndex`), fed by the ABORT markers that close transactions.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from pystream._core import PartitionLog
from pystream.errors import CorruptRecordError
from pystream.storage.records import ATTR_CONTROL, ATTR_TRANSACTIONAL
from pystream.storage.txn_index import ABORT, AbortedTxn, TxnIndex, read_marker_type

logger = logging.getLogger("pystream.storage")

SNAPSHOT_FILE = "producer-state.json"
NO_PRODUCER_ID = -1
# Kafka keeps the metadata of this many batches per producer for duplicate checks
# (and clients never have more than 5 requests in flight with idempotence).
BATCHES_REMEMBERED = 5
INT32_MAX = 2**31 - 1


class SequenceCheck(Enum):
    OK = "ok"
    DUPLICATE = "duplicate"
    OUT_OF_ORDER = "out_of_order_sequence_number"
    INVALID_EPOCH = "invalid_producer_epoch"
    UNKNOWN_PRODUCER = "unknown_producer_id"


@dataclass
class BatchMetadata:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int


@dataclass
class ProducerEntry:
    epoch: int
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=BATCHES_REMEMBERED))

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


def _next_seq(seq: int) -> int:
    return 0 if seq == INT32_MAX else seq + 1


def _last_seq(first_seq: int, record_count: int) -> int:
    """Sequence of the batch's last record; sequences wrap at INT32_MAX."""
    last = first_seq + record_count - 1
    return last - INT32_MAX - 1 if last > INT32_MAX else last


class ProducerState:
    """Sequence tracking for one partition. Not thread-safe: the broker calls it from its event loop."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / SNAPSHOT_FILE
        self.producers: dict[int, ProducerEntry] = {}
        # Producer id -> offset of the first batch of its open transaction (Kafka's ongoingTxns).
        self.ongoing: dict[int, int] = {}
        # Producer id -> epoch whose open transaction the coordinator confirmed holds this
        # partition (KIP-890's verification guard): its next batches are not asked again.
        self.verified: dict[int, int] = {}
        self.txn_index = TxnIndex(directory)
        # The JSON of the snapshot known to be in `path` (written or loaded): an unchanged state
        # is not written again (10,000 idle partitions at shutdown: 10,000 fsyncs saved).
        self._on_disk: str | None = None

    def check(self, producer_id: int, epoch: int, first_seq: int, record_count: int) -> tuple[SequenceCheck, int]:
        """Judges a batch before it is appended. Returns (verdict, first offset of the
        original batch when it is a duplicate, else -1)."""
        if producer_id == NO_PRODUCER_ID:
            return SequenceCheck.OK, -1
        entry = self.producers.get(producer_id)
        if entry is None:
            if first_seq != 0:
                return SequenceCheck.UNKNOWN_PRODUCER, -1
            return SequenceCheck.OK, -1
        if epoch < entry.epoch:
            return SequenceCheck.INVALID_EPOCH, -1
        if epoch > entry.epoch:
            # A new epoch starts its sequences again at 0.
            return (SequenceCheck.OK, -1) if first_seq == 0 else (SequenceCheck.OUT_OF_ORDER, -1)
        last_seq = _last_seq(first_seq, record_count)
        for b in entry.batches:
            if b.first_seq == first_seq and b.last_seq == last_seq:
                return SequenceCheck.DUPLICATE, b.first_offset
        if first_seq != _next_seq(entry.last_seq):
            return SequenceCheck.OUT_OF_ORDER, -1
        return SequenceCheck.OK, -1

    def update(self, producer_id: int, epoch: int, first_seq: int, record_count: int, first_offset: int, last_offset: int) -> None:
        """Records a batch that was appended at [first_offset, last_offset]."""
        if producer_id == NO_PRODUCER_ID or first_seq < 0:
            return
        entry = self.producers.get(producer_id)
        if entry is None or epoch != entry.epoch:
            entry = self.producers[producer_id] = ProducerEntry(epoch)
        entry.batches.append(BatchMetadata(first_seq, _last_seq(first_seq, record_count), first_offset, last_offset))

    # --- persistence -------------------------------------------------------------

    def load(self, log: PartitionLog) -> None:
        """Rebuilds the state: the snapshot when it is usable, then every batch after it.

        The snapshot is untrusted input: one that cannot be read, has the wrong
        shape or values out of range is set aside with a warning and the state
        is rebuilt from the log's batch headers instead (as Kafka rebuilds
        producer state from the segments). A damaged batch met on the way ends
        the replay of its segment, with a warning; loading never raises for bad
        files, so no request fails for them later."""
        self.producers.clear()
        self.ongoing.clear()
        self.verified.clear()
        self._on_disk = None
        start = log.start_offset
        snap = self._read_snapshot(log)
        if snap is not None:
            start, self.producers, self.ongoing = snap
        if not self.txn_index.load(_segment_bases(log), start):
            # A damaged transaction index: rebuild it (and everything else) from the whole log.
            self.producers.clear()
            self.ongoing.clear()
            start = log.start_offset
            snap = None
        end = log.end_offset
        if snap is not None and start == end:  # the snapshot holds the whole state: no need to write it again
            self._on_disk = json.dumps(self.snapshot(end))
        while start < end:
            try:
                for base, last, pid, epoch, first_seq, _count, _max_ts, attrs in log.scan_batches(start):
                    if base >= start:
                        # The batch's sequence range spans its offsets (Kafka: lastSequence =
                        # baseSequence + lastOffsetDelta), also when compaction removed records.
                        self.update(pid, epoch, first_seq, last - base + 1, base, last)
                        if attrs & ATTR_CONTROL:
                            self.end_txn(log, pid, epoch, base, read_marker_type(log, base) == ABORT)
                        elif attrs & ATTR_TRANSACTIONAL:
                            self.begin_txn(pid, base)
                break
            except CorruptRecordError as e:
                # Replay what follows the damaged batch's segment (its records are unreadable anyway).
                later = [base for base, _size in log.segments() if base > (e.offset if e.offset is not None else start)]
                logger.warning("producer state of %s: %s; %s", log.path, e,
                               f"replaying from offset {later[0]}" if later else "nothing after it to replay")
                if not later:
                    break
                start = later[0]

    def _read_snapshot(self, log: PartitionLog) -> tuple[int, dict[int, ProducerEntry], dict[int, int]] | None:
        """(offset, producers, open transactions) of a well-formed snapshot valid for `log`, else
        None (with a warning)."""
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            self._set_aside(f"cannot be read ({e})")
            return None
        try:
            snap = json.loads(text)
            offset = snap["offset"]
            _check_int(offset, 0, 2**63 - 1)
            producers: dict[int, ProducerEntry] = {}
            if not isinstance(snap["producers"], dict):
                raise TypeError("producers is not an object")
            for pid, (epoch, batches) in snap["producers"].items():
                entry = producers[_check_int(int(pid), 0, 2**63 - 1)] = ProducerEntry(_check_int(epoch, 0, 2**15 - 1))
                if not isinstance(batches, list) or len(batches) > BATCHES_REMEMBERED:
                    raise TypeError("batches is not a list of at most five")
                for b in batches:
                    first_seq, last_seq, first_offset, last_offset = b
                    for v in (first_seq, last_seq):
                        _check_int(v, 0, INT32_MAX)
                    _check_int(first_offset, 0, offset)
                    _check_int(last_offset, first_offset, offset)
                    entry.batches.append(BatchMetadata(first_seq, last_seq, first_offset, last_offset))
            ongoing = {_check_int(int(pid), 0, 2**63 - 1): _check_int(first, 0, offset)
                       for pid, first in snap.get("ongoing", {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:  # JSONDecodeError is a ValueError
            self._set_aside(f"is not a producer-state snapshot ({type(e).__name__}: {e})")
            return None
        if not log.start_offset <= offset <= log.end_offset:
            return None  # stale (the log was truncated or deleted past it): rebuilt from the log
        return offset, producers, ongoing

    def _set_aside(self, why: str) -> None:
        logger.warning("producer state snapshot %s %s; rebuilding it from the log", self.path, why)
        try:
            if self.path.is_dir() and not self.path.is_symlink():
                shutil.rmtree(self.path)
            else:
                self.path.unlink(missing_ok=True)
        except OSError as e:
            logger.warning("cannot remove %s: %s", self.path, e)

    def save(self, end_offset: int) -> bool:
        """Writes a snapshot valid at `end_offset` (atomically: temp file, fsync,
        rename). Without room for it (a full disk) the previous snapshot stays,
        with a warning, and False is returned: `load` replays the batches after
        it from the log, so nothing is lost."""
        return self.write_snapshot(self.snapshot(end_offset))

    def snapshot(self, end_offset: int) -> dict[str, Any]:
        """The state valid at `end_offset`, as `write_snapshot` writes it: a copy, so the
        writing may happen in another thread while this state goes on changing."""
        return {
            "offset": end_offset,
            "producers": {
                str(pid): [e.epoch, [[b.first_seq, b.last_seq, b.first_offset, b.last_offset] for b in e.batches]]
                for pid, e in self.producers.items()
            },
            "ongoing": {str(pid): first for pid, first in self.ongoing.items()},
        }

    def write_snapshot(self, data: dict[str, Any]) -> bool:
        """Writes a `snapshot` (see `save`); touches nothing of the live state."""
        tmp = self.path.with_suffix(".tmp")
        text = json.dumps(data)
        try:
            self.txn_index.flush()  # the index entries below the snapshot's offset must be durable
            if text == self._on_disk:
                return True
            with open(tmp, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            if self.path.is_dir() and not self.path.is_symlink():
                shutil.rmtree(self.path)  # something put a directory where the snapshot goes
            os.replace(tmp, self.path)
            self._on_disk = text
        except OSError as e:
            logger.warning("cannot write producer state snapshot %s (%s); the log is replayed from the previous one",
                           self.path, e)
            tmp.unlink(missing_ok=True)
            return False
        return True

    # --- transactions ------------------------------------------------------------

    def begin_txn(self, producer_id: int, first_offset: int) -> None:
        """Notes a transactional batch at `first_offset`: it opens the producer's transaction
        unless one is open already."""
        self.ongoing.setdefault(producer_id, first_offset)

    def first_unstable_offset(self) -> int | None:
        """The first offset of the oldest open transaction (None: none open). The last stable
        offset is the smaller of it and the high watermark."""
        return min(self.ongoing.values(), default=None)

    def check_marker(self, producer_id: int, epoch: int) -> bool:
        """May a transaction marker of this producer epoch be written? (Not by an older epoch.)"""
        entry = self.producers.get(producer_id)
        return entry is None or epoch >= entry.epoch

    def end_txn(self, log: PartitionLog, producer_id: int, epoch: int, marker_offset: int, aborted: bool) -> AbortedTxn | None:
        """Applies a COMMIT/ABORT marker appended at `marker_offset`: closes the producer's
        transaction, takes on the marker's epoch (a fencing abort bumps it), and indexes an
        aborted transaction. Returns the index entry written, if any."""
        first = self.ongoing.pop(producer_id, None)
        self.verified.pop(producer_id, None)
        entry = self.producers.get(producer_id)
        if entry is None:
            self.producers[producer_id] = ProducerEntry(epoch)
        elif epoch > entry.epoch:
            entry.epoch = epoch
            entry.batches.clear()  # a new epoch starts its sequences at 0
        if not aborted or first is None:
            return None
        lso = min(self.ongoing.values(), default=marker_offset + 1)
        aborted_txn = AbortedTxn(producer_id, first, marker_offset, lso)
        self.txn_index.append(aborted_txn, _segment_bases(log))
        return aborted_txn


def _check_int(v: object, low: int, high: int) -> int:
    """`v` when it is an int (not a bool) in [low, high]; ValueError/TypeError otherwise."""
    if type(v) is not int:
        raise TypeError(f"{v!r} is not an integer")
    if not low <= v <= high:
        raise ValueError(f"{v} is outside [{low}, {high}]")
    return v


def _segment_bases(log: PartitionLog) -> list[int]:
    return [base for base, _size in log.segments()]
