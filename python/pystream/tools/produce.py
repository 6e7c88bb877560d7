"""`pystream produce TOPIC`: lines from stdin to a topic, batched into RecordBatches.

Partitioning follows Kafka's default partitioner: an explicit partition wins;
a keyed record goes to murmur2(key) % partitions; unkeyed records stick to one
randomly chosen partition until its batch is sent, then move on (KIP-480's
sticky partitioner).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from typing import Any

from pystream.protocol.client import KafkaClient, KafkaError
from pystream.protocol.murmur2 import partition_for_key
from pystream.tools import ToolError

__all__ = ["ACKS", "COMPRESSION_TYPES", "produce_lines"]

ACKS = {"all": -1, "-1": -1, "0": 0, "1": 1}
COMPRESSION_TYPES = ("none", "gzip", "snappy", "lz4", "zstd")
_RECORD_OVERHEAD = 24  # rough per-record framing bytes, for the batch size budget


class _Pending:
    __slots__ = ("records", "size")

    def __init__(self) -> None:
        self.records: list[tuple[int, bytes | None, bytes, None]] = []
        self.size = 0


def produce_lines(client: KafkaClient, topic: str, lines: Iterable[bytes], *, key_separator: bytes | None = None,
                  partition: int | None = None, acks: int = -1, compression: str = "none",
                  batch_records: int = 1000, batch_bytes: int = 1_000_000, flush_each_line: bool = False,
                  auto_create: bool = True) -> dict[str, Any]:
    """Send each line (trailing newline stripped) as one record; returns {records, batches, partitions: {p: n}}."""
    from pystream._core import encode_batch

    if compression not in COMPRESSION_TYPES:
        raise ToolError(f"unknown compression {compression!r}; choose from {', '.join(COMPRESSION_TYPES)}")
    if auto_create:
        client.metadata([topic], allow_auto_topic_creation=True)
    n_parts = len(client.partitions(topic))
    if n_parts == 0:
        raise KafkaError(5, f"topic {topic!r} has no partitions yet")
    if partition is not None and not 0 <= partition < n_parts:
        raise ToolError(f"topic {topic!r} has {n_parts} partition(s); --partition {partition} is out of range")

    pending: dict[int, _Pending] = {}
    stats: dict[str, Any] = {"records": 0, "batches": 0, "partitions": {}}
    sticky = random.randrange(n_parts)

    def flush(p: int) -> None:
        nonlocal sticky
        batch = pending.pop(p, None)
        if batch is None or not batch.records:
            return
        data = encode_batch(batch.records, compression_type=compression)
        client.produce(topic, p, data, acks=acks)
        stats["records"] += len(batch.records)
        stats["batches"] += 1
        stats["partitions"][p] = stats["partitions"].get(p, 0) + len(batch.records)
        if p == sticky and n_parts > 1:
            sticky = (sticky + random.randrange(1, n_parts)) % n_parts

    for line in lines:
        if line.endswith(b"\n"):
            line = line[:-1]
            if line.endswith(b"\r"):
                line = line[:-1]
        key: bytes | None = None
        value = line
        if key_separator:
            k, sep, v = line.partition(key_separator)
            if sep:
                key, value = k, v
        if partition is not None:
            p = partition
        elif key is not None:
            p = partition_for_key(key, n_parts)
        else:
            p = sticky
        batch = pending.get(p)
        if batch is None:
            batch = pending[p] = _Pending()
        size = len(value) + (len(key) if key is not None else 0) + _RECORD_OVERHEAD
        if batch.records and batch.size + size > batch_bytes:
            flush(p)
            batch = pending[p] = _Pending()
        batch.records.append((time.time_ns() // 1_000_000, key, value, None))
        batch.size += size
        if flush_each_line or len(batch.records) >= batch_records or batch.size >= batch_bytes:
            flush(p)
    for p in list(pending):
        flush(p)
    return stats
