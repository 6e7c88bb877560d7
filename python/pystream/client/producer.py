"""`Producer`: appends records to the topics of a data directory, partitioned as Kafka's clients do.

Partitioning (Kafka's default partitioner, KIP-480/KIP-794):

- an explicit ``partition`` is used as given;
- a non-null key goes to ``toPositive(murmur2(key)) % partitions``, as in the
  Java client and librdkafka's ``murmur2_random``, so keyed records land where
  Kafka would put them;
- null keys use the sticky partitioner (Kafka's ``BuiltInPartitioner``): all
  go to one randomly chosen partition until ``batch_size`` bytes of records
  have been sent to it, then another random partition is chosen.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from pystream.client.types import RecordMetadata, TopicPartition
from pystream.errors import ClientClosedError, InvalidRecordError, RecordTooLargeError, UnknownPartitionError, UnknownTopicError
from pystream.storage.manager import LogManager
from pystream.protocol.murmur2 import partition_for_key

__all__ = ["Producer", "record_size"]

Serializer = Callable[[Any], "bytes | None"]
_BYTES_LIKE = (bytes, bytearray, memoryview)
BATCH_OVERHEAD = 61  # a record batch's header (docs/storage.md)


def _varint_len(n: int) -> int:
    """Bytes of a zig-zag varint."""
    z = (n << 1) ^ (n >> 63)
    size = 1
    while z >= 0x80:
        z >>= 7
        size += 1
    return size


def record_size(key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes | None]] | None) -> int:
    """Bytes of a record in a batch (Kafka's ``DefaultRecord.sizeInBytes``, with zero deltas)."""
    body = 1 + 1 + 1  # attributes, timestampDelta, offsetDelta
    body += _varint_len(-1) if key is None else _varint_len(len(key)) + len(key)
    body += _varint_len(-1) if value is None else _varint_len(len(value)) + len(value)
    hs = headers or ()
    body += _varint_len(len(hs))
    for hk, hv in hs:
        kb = len(hk.encode("utf-8"))
        body += _varint_len(kb) + kb + (_varint_len(-1) if hv is None else _varint_len(len(hv)) + len(hv))
    return _varint_len(body) + body


class _Sticky:
    """Sticky-partition state of one topic."""

    __slots__ = ("partition", "produced_bytes")

    def __init__(self) -> None:
        self.partition = -1  # -1: none chosen yet
        self.produced_bytes = 0


class Producer:
    """Sends records to the topics of a `Store`; records are readable as soon as `send` returns.

    Config (kafka-python's names): ``batch_size`` (sticky partition switch, bytes,
    default 16384), ``key_serializer`` / ``value_serializer`` (callables to bytes),
    ``partitioner`` (``f(key_bytes, all_partitions, available_partitions) -> int``,
    replacing the default for keyed records), ``random_seed`` (for the sticky choice).
    """

    def __init__(
        self,
        store: LogManager,
        *,
        batch_size: int = 16384,
        key_serializer: Serializer | None = None,
        value_serializer: Serializer | None = None,
        partitioner: Callable[[bytes, list[int], list[int]], int] | None = None,
        random_seed: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._store = store
        self.batch_size = batch_size
        self._key_serializer = key_serializer
        self._value_serializer = value_serializer
        self._partitioner = partitioner
        self._random = random.Random(random_seed)
        self._lock = threading.Lock()  # guards _sticky and _touched
        self._sticky: dict[str, _Sticky] = {}
        self._touched: set[TopicPartition] = set()  # partitions appended to since the last flush
        self._closed = False

    @staticmethod
    def _check_bytes(what: str, v: object) -> bytes | bytearray | memoryview | None:
        if v is None or isinstance(v, _BYTES_LIKE):
            return v
        raise TypeError(f"{what} must be bytes-like or None, not {type(v).__name__} (set a {what}_serializer to send other types)")

    def send(
        self,
        topic: str,
        value: Any = None,
        key: Any = None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes | None]] | None = None,
        timestamp_ms: int | None = None,
    ) -> RecordMetadata:
        """Appends one record and returns where it went. Raises before appending anything on bad input."""
        if self._closed:
            raise ClientClosedError("producer is closed")
        kb = self._check_bytes("key", self._key_serializer(key) if self._key_serializer and key is not None else key)
        vb = self._check_bytes("value", self._value_serializer(value) if self._value_serializer and value is not None else value)
        hdrs = list(headers) if headers is not None else None
        for h in hdrs or ():
            if not (isinstance(h, tuple) and len(h) == 2 and isinstance(h[0], str)):
                raise TypeError(f"each header must be a (str, bytes | None) pair, got {h!r}")
            self._check_bytes("header value", h[1])
        if timestamp_ms is None:
            timestamp_ms = time.time_ns() // 1_000_000
        elif not isinstance(timestamp_ms, int) or timestamp_ms < 0:
            raise ValueError(f"timestamp_ms must be an int >= 0, got {timestamp_ms!r}")
        size = record_size(None if kb is None else bytes(kb), None if vb is None else bytes(vb), hdrs)
        n = self._store.partition_count(topic, create=True)
        limit = self._store.max_message_bytes(topic)
        if size + BATCH_OVERHEAD > limit:
            raise RecordTooLargeError(f"record of {size + BATCH_OVERHEAD} bytes (as a batch) exceeds max.message.bytes={limit} of topic {topic!r}")
        if kb is None and self._store.is_compacted(topic):
            raise InvalidRecordError(f"topic {topic!r} is compacted (cleanup.policy=compact): every record needs a key")
        sticky = False
        if partition is not None:
            if not isinstance(partition, int) or not 0 <= partition < n:
                raise UnknownPartitionError(f"topic {topic!r} has no partition {partition!r} (it has {n})")
        elif kb is not None:
            if self._partitioner is not None:
                parts = list(range(n))
                partition = self._partitioner(bytes(kb), parts, parts)
            else:
                partition = partition_for_key(kb, n)
        else:
            partition = self._sticky_partition(topic, n)
            sticky = True
        log = self._store.partition_log(topic, partition)
        offset = log.append(vb, key=kb, headers=hdrs, timestamp_ms=timestamp_ms)
        with self._lock:
            self._touched.add(TopicPartition(topic, partition))
            if sticky:
                self._update_sticky(topic, partition, size)
        self._store.notify_change()
        return RecordMetadata(topic, partition, offset, timestamp_ms)

    def _sticky_partition(self, topic: str, n: int) -> int:
        with self._lock:
            st = self._sticky.setdefault(topic, _Sticky())
            if st.partition < 0 or st.partition >= n:
                st.partition = self._random.randrange(n)
                st.produced_bytes = 0
            return st.partition

    def _update_sticky(self, topic: str, partition: int, size: int) -> None:
        """Counts bytes sent to the sticky partition; past batch_size, the next null-key record picks anew."""
        st = self._sticky[topic]
        if st.partition != partition:  # another thread switched meanwhile
            return
        st.produced_bytes += size
        if st.produced_bytes >= self.batch_size:
            st.partition = -1  # as Kafka: the next partition is random and may repeat the last one

    def partitions_for(self, topic: str) -> set[int]:
        """The partition numbers of `topic` (auto-created when allowed)."""
        return set(range(self._store.partition_count(topic, create=True)))

    def flush(self, timeout: float | None = None) -> None:
        """fsyncs every partition this producer appended to since the last flush."""
        with self._lock:
            touched, self._touched = self._touched, set()
        for tp in touched:
            try:
                self._store.partition_log(tp.topic, tp.partition).flush()
            except UnknownTopicError:  # topic deleted meanwhile: nothing left to sync
                continue

    def close(self, timeout: float | None = None) -> None:
        """Flushes and closes the producer. Idempotent."""
        if self._closed:
            return
        if not self._store.closed:
            self.flush()
        self._closed = True

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
