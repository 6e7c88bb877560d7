"""The records of ``__transaction_state``, in Kafka's own format (TransactionLogKey / TransactionLogValue).

- key, version 0: ``version i16 | transactional_id string`` (string = i16 length + UTF-8);
- value, version 0: ``version i16 | producer_id i64 | producer_epoch i16 |
  transaction_timeout_ms i32 | transaction_status i8 | partitions (nullable
  array: i32 count, then per topic: topic string, i32 count of i32 partition
  ids) | last_update_timestamp_ms i64 | start_timestamp_ms i64``;
- value, version 1 (Kafka 4, flexible): the same fields with compact strings
  and arrays (unsigned varint length + 1) and tagged fields (0:
  PreviousProducerId, 1: NextProducerId, 2: ClientTransactionVersion), which
  are read and ignored;
- a null value (tombstone) removes the transactional id (it expired).

This module writes version 0 (every Kafka version reads it) and reads both.
A transactional id's record lives in partition ``abs(javaHash(id)) %
transaction.state.log.num.partitions``, as for groups.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

from pystream.coordinator.offsets import partition_for_group
from pystream.errors import CorruptRecordError

__all__ = [
    "TXN_STATE_TOPIC",
    "TxnLogValue",
    "TxnStatus",
    "decode_txn_key",
    "decode_txn_value",
    "encode_txn_key",
    "encode_txn_value",
    "partition_for_txn",
]

TXN_STATE_TOPIC = "__transaction_state"
KEY_VERSION = 0
VALUE_VERSION = 0


class TxnStatus(IntEnum):
    """Kafka's TransactionState ids, as stored in TransactionStatus."""

    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def display(self) -> str:
        """The name DescribeTransactions / ListTransactions report ("Ongoing", "PrepareCommit", ...)."""
        return "".join(w.capitalize() for w in self.name.split("_"))


@dataclass
class TxnLogValue:
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    status: TxnStatus
    partitions: dict[str, list[int]] = field(default_factory=dict)
    last_update_ms: int = -1
    start_ms: int = -1


def txn_state_topic_config(segment_bytes: int) -> dict[str, int | str | None]:
    """The config of ``__transaction_state``: compacted, as in Kafka (the latest state of each
    id is all that matters; an expired id's tombstone goes with its last record)."""
    return {"segment.bytes": segment_bytes, "cleanup.policy": "compact"}


def partition_for_txn(transactional_id: str, num_partitions: int) -> int:
    """Kafka's ``Utils.abs(transactionalId.hashCode) % transaction.state.log.num.partitions``."""
    return partition_for_group(transactional_id, num_partitions)


def _string(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 0x7FFF:
        raise ValueError(f"string of {len(b)} bytes is too long for an int16-length field")
    return struct.pack(">h", len(b)) + b


def encode_txn_key(transactional_id: str) -> bytes:
    return struct.pack(">h", KEY_VERSION) + _string(transactional_id)


def encode_txn_value(v: TxnLogValue) -> bytes:
    parts = [struct.pack(">hqhib", VALUE_VERSION, v.producer_id, v.producer_epoch, v.timeout_ms, int(v.status)),
             struct.pack(">i", len(v.partitions))]
    for topic, ids in sorted(v.partitions.items()):
        parts.append(_string(topic))
        parts.append(struct.pack(f">i{len(ids)}i", len(ids), *sorted(ids)))
    parts.append(struct.pack(">qq", v.last_update_ms, v.start_ms))
    return b"".join(parts)


class _Reader:
    def __init__(self, buf: bytes, flexible: bool) -> None:
        self.buf, self.pos, self.flexible = buf, 0, flexible

    def take(self, fmt: str) -> int:
        (x,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return x

    def uvarint(self) -> int:
        n, shift = 0, 0
        while True:
            b = self.buf[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def length(self) -> int:
        """An array or string length; -1 for null."""
        return self.uvarint() - 1 if self.flexible else self.take(">i")

    def string(self) -> str:
        n = self.uvarint() - 1 if self.flexible else self.take(">h")
        if n < 0:
            return ""
        s = self.buf[self.pos : self.pos + n]
        if len(s) != n:
            raise IndexError("string runs past the end")
        self.pos += n
        return s.decode("utf-8")

    def skip_tags(self) -> None:
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()  # tag
                self.pos += self.uvarint()  # size, then the bytes


def decode_txn_key(key: bytes) -> str | None:
    """The transactional id of a TransactionLogKey, None for another key version."""
    try:
        (version,) = struct.unpack_from(">h", key, 0)
        if version != KEY_VERSION:
            return None
        r = _Reader(key, flexible=False)
        r.pos = 2
        return r.string()
    except (struct.error, UnicodeDecodeError, IndexError) as e:
        raise CorruptRecordError(f"bad transaction log key {key.hex()}: {e}") from None


def decode_txn_value(value: bytes) -> TxnLogValue:
    """Decodes TransactionLogValue version 0 or 1."""
    try:
        (version,) = struct.unpack_from(">h", value, 0)
        if version not in (0, 1):
            raise CorruptRecordError(f"unknown transaction log value version {version}")
        r = _Reader(value, flexible=version >= 1)
        r.pos = 2
        pid, epoch, timeout, status = r.take(">q"), r.take(">h"), r.take(">i"), r.take(">b")
        partitions: dict[str, list[int]] = {}
        for _ in range(max(0, r.length())):
            topic = r.string()
            partitions[topic] = [r.take(">i") for _ in range(max(0, r.length()))]
            r.skip_tags()
        last_update, start = r.take(">q"), r.take(">q")
        r.skip_tags()
        return TxnLogValue(pid, epoch, timeout, TxnStatus(status), partitions, last_update, start)
    except (struct.error, UnicodeDecodeError, IndexError, ValueError) as e:
        raise CorruptRecordError(f"bad transaction log value {value.hex()}: {e}") from None
