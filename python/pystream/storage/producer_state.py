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
import os
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from pystream._core import PartitionLog
from pystream.storage.records import ATTR_CONTROL, ATTR_TRANSACTIONAL
from pystream.storage.txn_index import ABORT, AbortedTxn, TxnIndex, read_marker_type

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
        """Rebuilds the state: the snapshot when it is usable, then every batch after it."""
        self.producers.clear()
        self.ongoing.clear()
        self.verified.clear()
        start = log.start_offset
        try:
            snap = json.loads(self.path.read_text())
            if start <= snap["offset"] <= log.end_offset:
                for pid, (epoch, batches) in snap["producers"].items():
                    entry = self.producers[int(pid)] = ProducerEntry(epoch)
                    entry.batches.extend(BatchMetadata(*b) for b in batches)
                self.ongoing = {int(pid): int(first) for pid, first in snap.get("ongoing", {}).items()}
                start = snap["offset"]
        except (OSError, ValueError, KeyError, TypeError):
            self.producers.clear()
            self.ongoing.clear()
        if not self.txn_index.load(_segment_bases(log), start):
            # A damaged transaction index: rebuild it (and everything else) from the whole log.
            self.producers.clear()
            self.ongoing.clear()
            start = log.start_offset
        if start < log.end_offset:
            for base, last, pid, epoch, first_seq, count, _max_ts, attrs in log.scan_batches(start):
                if base >= start:
                    self.update(pid, epoch, first_seq, count, base, last)
                    if attrs & ATTR_CONTROL:
                        self.end_txn(log, pid, epoch, base, read_marker_type(log, base) == ABORT)
                    elif attrs & ATTR_TRANSACTIONAL:
                        self.begin_txn(pid, base)

    def save(self, end_offset: int) -> None:
        """Writes a snapshot valid at `end_offset` (atomically: temp file, fsync, rename)."""
        self.txn_index.flush()  # the index entries below the snapshot's offset must be durable
        data = {
            "offset": end_offset,
            "producers": {
                str(pid): [e.epoch, [[b.first_seq, b.last_seq, b.first_offset, b.last_offset] for b in e.batches]]
                for pid, e in self.producers.items()
            },
            "ongoing": {str(pid): first for pid, first in self.ongoing.items()},
        }
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

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


def _segment_bases(log: PartitionLog) -> list[int]:
    return [base for base, _size in log.segments()]
