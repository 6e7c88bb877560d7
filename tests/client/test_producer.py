"""Producer: Kafka's default partitioner (murmur2 for keys, sticky for null keys), bad input."""

from __future__ import annotations

import json
import random

import pytest
from kafka.partitioner.default import murmur2 as kafka_murmur2

from pystream.client import RecordTooLargeError, Store, UnknownPartitionError
from pystream.client.producer import record_size


def kafka_python_partition(key: bytes, n: int) -> int:
    """kafka-python's DefaultPartitioner rule for a non-null key (the Java client's)."""
    return (kafka_murmur2(key) & 0x7FFFFFFF) % n


def test_keyed_records_land_where_kafka_puts_them(store: Store) -> None:
    rng = random.Random(7)
    keys = [b"", b"a", b"user-1", b"\x00\xff\x80", "ключ".encode()] + [rng.randbytes(rng.randrange(1, 40)) for _ in range(200)]
    for n in (1, 2, 3, 7, 12):
        store.create_topic(f"t{n}", partitions=n)
        p = store.producer()
        for key in keys:
            md = p.send(f"t{n}", b"v", key=key)
            assert md.partition == kafka_python_partition(key, n), (key, n)
            assert md.topic == f"t{n}"


# Kafka's UtilsTest.testMurmur2 vectors: Java's signed Utils.murmur2(key.getBytes()).
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("n", [1, 3, 10, 50])
def test_known_java_partitions(store: Store, n: int) -> None:
    store.create_topic("t", partitions=n)
    p = store.producer()
    for key, h in JAVA_MURMUR2.items():
        assert p.send("t", b"v", key=key).partition == (h & 0x7FFFFFFF) % n


def test_same_key_same_partition(store: Store) -> None:
    store.create_topic("t", partitions=8)
    p = store.producer()
    parts = {p.send("t", str(i).encode(), key=b"stable-key").partition for i in range(50)}
    assert len(parts) == 1
    offsets = [p.send("t", b"x", key=b"stable-key").offset for _ in range(3)]
    assert offsets == sorted(offsets) and len(set(offsets)) == 3


def test_sticky_null_keys(store: Store) -> None:
    store.create_topic("t", partitions=4)
    batch_size = 1000
    p = store.producer(batch_size=batch_size, random_seed=1)
    value = b"z" * 90
    size = record_size(None, value, None)
    per_stint = -(-batch_size // size)  # records sent to one partition before the switch
    parts = [p.send("t", value).partition for _ in range(per_stint * 30)]
    stints = [parts[i : i + per_stint] for i in range(0, len(parts), per_stint)]
    for s in stints:
        assert len(set(s)) == 1, "a partition is kept until batch_size bytes went to it"
    # A new random partition is chosen for every stint: with 30 stints all four show up,
    # and consecutive stints differ often (not always: Kafka may pick the same one again).
    assert {s[0] for s in stints} == {0, 1, 2, 3}
    assert sum(a[0] != b[0] for a, b in zip(stints, stints[1:])) >= 10
    # Keyed and explicit-partition records do not disturb the sticky state.
    before = p.send("t", value).partition
    p.send("t", b"k", key=b"some-key")
    p.send("t", b"k", partition=(before + 1) % 4)
    assert p.send("t", value).partition == before


def test_explicit_partition_and_headers(store: Store) -> None:
    store.create_topic("t", partitions=2)
    p = store.producer()
    md = p.send("t", b"v", key=b"k", partition=1, headers=[("trace", b"1"), ("empty", None)], timestamp_ms=1234)
    assert (md.partition, md.offset, md.timestamp) == (1, 0, 1234)
    rec = store.partition_log("t", 1).records(0)[0]
    assert (rec.key, rec.value, rec.timestamp, rec.headers) == (b"k", b"v", 1234, (("trace", b"1"), ("empty", None)))
    with pytest.raises(UnknownPartitionError):
        p.send("t", b"v", partition=2)


def _ends(store: Store, topic: str) -> list[int]:
    return [store.partition_log(topic, i).end_offset for i in range(store.list_topics()[topic])]


def test_bad_input_raises_and_appends_nothing(store: Store) -> None:
    store.create_topic("t", partitions=2)
    p = store.producer()
    p.send("t", b"good", partition=0)
    for kwargs in (
        {"value": "a str"},
        {"value": 12},
        {"value": b"v", "key": "str key"},
        {"value": b"v", "headers": [("h", "str value")]},
        {"value": b"v", "headers": [(b"bytes-name", b"x")]},
        {"value": b"v", "timestamp_ms": -5},
    ):
        with pytest.raises((TypeError, ValueError)):
            p.send("t", **kwargs)
    with pytest.raises(ValueError):
        p.send("bad topic", b"v")
    assert _ends(store, "t") == [1, 0]
    assert "bad topic" not in store.list_topics()
    assert [r.value for r in store.partition_log("t", 0).records(0)] == [b"good"]


def test_max_message_bytes(store: Store) -> None:
    store.create_topic("t", config={"max.message.bytes": 500})
    p = store.producer()
    p.send("t", b"x" * 300)
    with pytest.raises(RecordTooLargeError, match="max.message.bytes=500"):
        p.send("t", b"x" * 600)
    assert _ends(store, "t") == [1]


def test_serializers(store: Store) -> None:
    p = store.producer(key_serializer=str.encode, value_serializer=lambda v: json.dumps(v).encode())
    md = p.send("json", {"a": 1}, key="k1")
    rec = store.partition_log("json", md.partition).records(md.offset)[0]
    assert (rec.key, json.loads(rec.value)) == (b"k1", {"a": 1})


def test_tombstone_and_flush(store: Store) -> None:
    store.create_topic("t")
    p = store.producer()
    p.send("t", None, key=b"gone")
    p.flush()
    log = store.partition_log("t", 0)
    assert log.recovery_point == log.end_offset == 1
    assert log.records(0)[0].value is None
    p.close()
    with pytest.raises(Exception, match="closed"):
        p.send("t", b"v")


def test_custom_partitioner(store: Store) -> None:
    store.create_topic("t", partitions=3)
    p = store.producer(partitioner=lambda key, all_parts, avail: all_parts[-1])
    assert p.send("t", b"v", key=b"anything").partition == 2
