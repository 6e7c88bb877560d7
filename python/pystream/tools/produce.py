"""`pystream produce TOPIC`: lines from stdin to a topic, batched into RecordBatches.

Partitioning follows Kafka's default partitioner: an explicit partition wins;
a keyed record goes to murmur2(key) % partitions; unkeyed records stick to one
randomly chosen partition until its batch is sent, then move on (KIP-480's
sticky partitioner).

Lines are read as kafka-console-producer's LineMessageReader reads them
(`LineFormat`, set with ``--property``): with ``parse.headers=true`` a line starts
with ``h1:v1,h2:v2`` and ``headers.delimiter`` (a tab); with ``parse.key=true`` the
key comes next, up to ``key.separator`` (a tab); the rest is the value. A field
equal to ``null.marker`` is null.

Idempotence (the default with acks=all, as in Kafka's producer): the tool asks
InitProducerId for a producer id and epoch and numbers each partition's records
from 0 (base sequence of every batch), so a batch resent after a lost response is
written once.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pystream.protocol.client import KafkaClient, KafkaError, check
from pystream.protocol.murmur2 import partition_for_key
from pystream.tools import ToolError, parse_key_value_list

__all__ = ["ACKS", "COMPRESSION_TYPES", "LineFormat", "parse_header_options", "produce_lines", "stamp_producer"]

ACKS = {"all": -1, "-1": -1, "0": 0, "1": 1}
COMPRESSION_TYPES = ("none", "gzip", "snappy", "lz4", "zstd")
_RECORD_OVERHEAD = 24  # rough per-record framing bytes, for the batch size budget

# RecordBatch v2 layout: the CRC (at 17) covers everything from the attributes (at 21) on;
# producer id, epoch and base sequence sit at 43.
_CRC_AT, _CRC_FROM, _PRODUCER_AT = 17, 21, 43
_PRODUCER = struct.Struct(">qhi")

Headers = list[tuple[str, bytes | None]]


def _bool(key: str, value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ToolError(f"--property {key}={value}: expected true or false")
    return value.lower() == "true"


@dataclass
class LineFormat:
    """How a line becomes a record: kafka-console-producer's reader properties."""

    parse_key: bool = False
    key_separator: bytes = b"\t"
    parse_headers: bool = False
    headers_delimiter: bytes = b"\t"
    headers_separator: bytes = b","
    headers_key_separator: bytes = b":"
    null_marker: bytes | None = None
    ignore_error: bool = False  # a line without the key separator gets a null key instead of failing
    headers: Headers = field(default_factory=list)  # added to every record (--header)

    KNOWN = ("parse.key", "key.separator", "parse.headers", "headers.delimiter", "headers.separator",
             "headers.key.separator", "null.marker", "ignore.error")

    @classmethod
    def from_properties(cls, props: Mapping[str, str], headers: Headers | None = None) -> LineFormat:
        unknown = sorted(set(props) - set(cls.KNOWN))
        if unknown:
            raise ToolError(f"unknown --property {unknown[0]} (known: {', '.join(cls.KNOWN)})")
        f = cls(headers=list(headers or []))
        for key, value in props.items():
            if key in ("parse.key", "parse.headers", "ignore.error"):
                setattr(f, key.replace(".", "_"), _bool(key, value))
            else:
                if not value and key != "null.marker":
                    raise ToolError(f"--property {key} must not be empty")
                setattr(f, key.replace(".", "_"), value.encode())
        if f.parse_headers and (f.headers_separator == f.headers_key_separator
                                or f.headers_delimiter in (f.headers_separator, f.headers_key_separator)):
            raise ToolError("headers.delimiter, headers.separator and headers.key.separator must differ")
        return f

    def _null(self, b: bytes) -> bytes | None:
        return None if self.null_marker is not None and b == self.null_marker else b

    def parse(self, line: bytes, number: int) -> tuple[bytes | None, bytes | None, Headers]:
        """(key, value, headers) of one line (without its newline); ToolError names the line."""
        headers = list(self.headers)
        rest = line
        if self.parse_headers:
            head, sep, rest = line.partition(self.headers_delimiter)
            if not sep:
                if not self.ignore_error:
                    raise ToolError(f"no headers delimiter {self.headers_delimiter.decode()!r} on line {number}: "
                                    f"{line.decode(errors='replace')}")
                head, rest = b"", line
            for h in head.split(self.headers_separator) if head else ():
                k, sep, v = h.partition(self.headers_key_separator)
                if not sep:
                    raise ToolError(f"header {h.decode(errors='replace')!r} on line {number} has no "
                                    f"{self.headers_key_separator.decode()!r} between key and value")
                if self.null_marker is not None and k == self.null_marker:
                    raise ToolError(f"header key on line {number} cannot be the null marker")
                headers.append((k.decode(errors="replace"), self._null(v)))
        key: bytes | None = None
        if self.parse_key:
            k, sep, v = rest.partition(self.key_separator)
            if sep:
                key, rest = self._null(k), v
            elif not self.ignore_error:
                raise ToolError(f"no key separator {self.key_separator.decode()!r} on line {number}: "
                                f"{line.decode(errors='replace')}")
        return key, self._null(rest), headers


def stamp_producer(batch: bytes, producer_id: int, producer_epoch: int, base_sequence: int) -> bytes:
    """`batch` (one RecordBatch v2) with the producer fields set and its CRC recomputed."""
    from pystream._core import crc32c

    b = bytearray(batch)
    _PRODUCER.pack_into(b, _PRODUCER_AT, producer_id, producer_epoch, base_sequence)
    struct.pack_into(">I", b, _CRC_AT, crc32c(memoryview(b)[_CRC_FROM:]))
    return bytes(b)


class _Pending:
    __slots__ = ("records", "size")

    def __init__(self) -> None:
        self.records: list[tuple[int, bytes | None, bytes | None, Headers | None]] = []
        self.size = 0


def _partition_count(client: KafkaClient, topic: str, auto_create: bool) -> int:
    """The topic's partition count, creating it on first use when the broker allows (Metadata
    with allow_auto_topic_creation, as a Kafka producer does); KafkaError with the broker's
    answer (INVALID_TOPIC_EXCEPTION for an illegal name, ...)."""
    if auto_create:
        resp = client.metadata([topic], allow_auto_topic_creation=True)
        for t in resp["topics"]:
            # LEADER_NOT_AVAILABLE: being created; anything else is the answer
            if t["name"] == topic and t["error_code"] not in (0, 5):
                check(t["error_code"], None, f"topic {topic!r}")
    return len(client.partitions(topic))


def produce_lines(client: KafkaClient, topic: str, lines: Iterable[bytes], *, line_format: LineFormat | None = None,
                  partition: int | None = None, acks: int = -1, compression: str = "none",
                  batch_records: int = 1000, batch_bytes: int = 1_000_000, flush_each_line: bool = False,
                  auto_create: bool = True, idempotent: bool = True) -> dict[str, Any]:
    """Send each line (trailing newline stripped) as one record; returns {records, batches,
    partitions: {p: n}, producer_id}. Idempotent needs acks=all (-1)."""
    from pystream._core import encode_batch

    fmt = line_format or LineFormat()
    if compression not in COMPRESSION_TYPES:
        raise ToolError(f"unknown compression {compression!r}; choose from {', '.join(COMPRESSION_TYPES)}")
    if idempotent and acks != -1:
        raise ToolError("an idempotent producer needs acks=all (or use --no-idempotence)")
    n_parts = _partition_count(client, topic, auto_create)
    if n_parts == 0:
        raise KafkaError(5, f"topic {topic!r} has no partitions yet")
    if partition is not None and not 0 <= partition < n_parts:
        raise ToolError(f"topic {topic!r} has {n_parts} partition(s); --partition {partition} is out of range")
    producer_id, epoch = client.init_producer_id() if idempotent else (-1, -1)
    sequences: dict[int, int] = {}

    pending: dict[int, _Pending] = {}
    stats: dict[str, Any] = {"records": 0, "batches": 0, "partitions": {}, "producer_id": producer_id}
    sticky = random.randrange(n_parts)

    def flush(p: int) -> None:
        nonlocal sticky
        batch = pending.pop(p, None)
        if batch is None or not batch.records:
            return
        data = encode_batch(batch.records, compression_type=compression)
        if producer_id >= 0:
            seq = sequences.get(p, 0)
            data = stamp_producer(data, producer_id, epoch, seq)
            sequences[p] = (seq + len(batch.records)) & 0x7FFFFFFF  # sequences wrap at int32 max, as Kafka's
        client.produce(topic, p, data, acks=acks)
        stats["records"] += len(batch.records)
        stats["batches"] += 1
        stats["partitions"][p] = stats["partitions"].get(p, 0) + len(batch.records)
        if p == sticky and n_parts > 1:
            sticky = (sticky + random.randrange(1, n_parts)) % n_parts

    def flush_all() -> None:
        for p in list(pending):
            flush(p)

    try:
        for number, line in enumerate(lines, 1):
            if line.endswith(b"\n"):
                line = line[:-1]
                if line.endswith(b"\r"):
                    line = line[:-1]
            key, value, headers = fmt.parse(line, number)
            if partition is not None:
                p = partition
            elif key is not None:
                p = partition_for_key(key, n_parts)
            else:
                p = sticky
            batch = pending.get(p)
            if batch is None:
                batch = pending[p] = _Pending()
            size = (len(value) if value is not None else 0) + (len(key) if key is not None else 0) + _RECORD_OVERHEAD
            size += sum(len(k) + len(v or b"") for k, v in headers)
            if batch.records and batch.size + size > batch_bytes:
                flush(p)
                batch = pending[p] = _Pending()
            batch.records.append((time.time_ns() // 1_000_000, key, value, headers or None))
            batch.size += size
            if flush_each_line or len(batch.records) >= batch_records or batch.size >= batch_bytes:
                flush(p)
    except ToolError:  # a bad line: what came before it is still sent
        flush_all()
        raise
    flush_all()
    return stats


def parse_header_options(items: Iterable[str]) -> Headers:
    """--header k=v (repeatable; a key may repeat) -> [(k, b"v")]."""
    return [(k, v.encode()) for k, v in parse_key_value_list(items, "--header")]
