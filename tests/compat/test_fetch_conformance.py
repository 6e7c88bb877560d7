"""Fetch as Kafka answers it, checked with real clients against a real broker (issue 9):
errors come with empty records (never null), the request-wide max_bytes holds, and
incremental fetch sessions (KIP-227)."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from compat_helpers import LogCollector, RawClient, create_topic, unique_topic
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey


def collecting_logger(name: str) -> tuple[logging.Logger, LogCollector]:
    log = logging.getLogger(f"rdkafka.{name}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    coll = LogCollector()
    log.handlers = [coll]
    return log, coll


def fill(bootstrap: str, topic: str, n: int, partition: int = 0, size: int = 10) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": 20000})
    for i in range(n):
        p.produce(topic, value=b"%d" % i + b"x" * max(0, size - 8), partition=partition)
        if i % 1000 == 0:
            p.poll(0)
    assert p.flush(30) == 0


def close_within(c: Consumer, seconds: float) -> bool:
    """Closes the consumer in a thread; False when close() is still blocked after `seconds`."""
    t = threading.Thread(target=c.close, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive()


@pytest.mark.parametrize("reset", ["earliest", "latest"])
def test_offset_out_of_range_resets(broker, reset):
    """The committed offset falls below the log start (DeleteRecords): the consumer gets
    OFFSET_OUT_OF_RANGE and auto.offset.reset takes effect."""
    topic, group = unique_topic("oor"), unique_topic("g")
    create_topic(broker.bootstrap, topic, 1)
    fill(broker.bootstrap, topic, 100)
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, 0, 10)], asynchronous=False)
    c.close()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    res = admin.delete_records([TopicPartition(topic, 0, 50)])
    assert list(res.values())[0].result(timeout=15).low_watermark == 50
    log, coll = collecting_logger(f"oor-{reset}")
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": reset, "logger": log, "fetch.wait.max.ms": 100})
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    try:
        c.subscribe([topic])
        got, next_produce = None, time.monotonic() + 2
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if reset == "latest" and time.monotonic() > next_produce:
                p.produce(topic, b"new", partition=0)  # a reset to the end sees only these
                p.flush(10)
                next_produce = time.monotonic() + 1
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got = m.offset()
                break
        if reset == "earliest":
            assert got == 50, f"first record at {got}, expected the log start 50; log: {coll.lines[-5:]}"
        else:
            assert got is not None and got >= 100, f"first record at {got}, expected >= 100; log: {coll.lines[-5:]}"
        assert not coll.parse_failures(), coll.parse_failures()[:3]
    finally:
        assert close_within(c, 20), "consumer close() hung"


def test_close_after_topic_deleted_does_not_hang(broker):
    topic = unique_topic("gone")
    create_topic(broker.bootstrap, topic, 2)
    fill(broker.bootstrap, topic, 10)
    log, coll = collecting_logger("gone")
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique_topic("g"), "auto.offset.reset": "earliest",
                  "logger": log, "fetch.wait.max.ms": 100, "topic.metadata.refresh.interval.ms": 1000})
    try:
        c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
        n, deadline = 0, time.monotonic() + 20
        while n < 10 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                n += 1
        assert n == 10
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.delete_topics([topic])[topic].result(timeout=15)
        end = time.monotonic() + 3
        while time.monotonic() < end:  # fetches of the deleted topic's partitions run meanwhile
            c.poll(0.2)
        assert not coll.parse_failures(), coll.parse_failures()[:3]
    finally:
        assert close_within(c, 20), "consumer close() hung after its topic was deleted"


@pytest.mark.parametrize("version", [4, 7, 11, 12])
def test_errors_carry_empty_records_raw(broker, version):
    """Every Fetch version: a partition in error has empty records (length 0), not null."""
    topic = unique_topic("raw")
    create_topic(broker.bootstrap, topic, 1)
    fill(broker.bootstrap, topic, 5)
    body = {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1 << 20, "isolation_level": 0,
            "topics": [{"topic": topic, "partitions": [
                {"partition": 0, "fetch_offset": 1000, "partition_max_bytes": 1 << 20},   # out of range
                {"partition": 7, "fetch_offset": 0, "partition_max_bytes": 1 << 20}]},     # no such partition
                       {"topic": unique_topic("none"), "partitions": [
                {"partition": 0, "fetch_offset": 0, "partition_max_bytes": 1 << 20}]}]}
    with RawClient(broker.host, broker.port) as rc:
        resp = rc.request(ApiKey.FETCH, version, body)
    parts = [p for t in resp["responses"] for p in t["partitions"]]
    assert [p["error_code"] for p in parts] == [ErrorCode.OFFSET_OUT_OF_RANGE, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    for p in parts:
        assert p["records"] is not None and len(p["records"]) == 0, p
        assert p["high_watermark"] == -1


def batch_sizes(records) -> list[int]:
    """The sizes of the whole RecordBatches in a Fetch response's records (a trailing partial one is left out)."""
    mv, out, pos = memoryview(records).cast("B"), [], 0
    while pos + 12 <= len(mv):
        size = 12 + int.from_bytes(mv[pos + 8:pos + 12], "big")
        if pos + size > len(mv):
            break
        out.append(size)
        pos += size
    return out


def fill_big_batches(bootstrap: str, topic: str, partitions: int, per_partition: int, value_size: int = 1000) -> None:
    """Each partition gets `per_partition` records in as few (large) batches as librdkafka makes."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 300, "batch.size": 1000000,
                  "batch.num.messages": 100000, "message.timeout.ms": 30000})
    for part in range(partitions):
        for i in range(per_partition):
            p.produce(topic, value=b"%d" % i + b"v" * value_size, partition=part)
    assert p.flush(30) == 0


def test_request_max_bytes_raw(broker):
    """KIP-74: the response stays within max_bytes, except that the first non-empty partition
    returns at least one whole batch; once the budget is spent later partitions get nothing."""
    topic = unique_topic("maxb")
    create_topic(broker.bootstrap, topic, 4)
    fill_big_batches(broker.bootstrap, topic, 4, 600)   # ~600 KB per partition
    parts = [{"partition": i, "fetch_offset": 0, "partition_max_bytes": 1 << 20} for i in range(4)]
    with RawClient(broker.host, broker.port) as rc:
        for max_bytes in (1_000_000, 1_500_000, 100_000, 1):
            resp = rc.request(ApiKey.FETCH, 11, {"replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": max_bytes,
                                                 "isolation_level": 0, "topics": [{"topic": topic, "partitions": parts}]})
            sizes = [len(p["records"]) for p in resp["responses"][0]["partitions"]]
            assert all(p["error_code"] == 0 for p in resp["responses"][0]["partitions"])
            assert sizes[0] > 0, sizes
            if sum(sizes) > max_bytes:
                # the one exception: a single batch of the first partition, and nothing else
                first = resp["responses"][0]["partitions"][0]["records"]
                assert len(batch_sizes(first)) == 1 and sizes[1:] == [0, 0, 0], (max_bytes, sizes)
            if max_bytes >= 1_500_000:
                assert sizes[1] > 0, f"budget left, yet the second partition got nothing: {sizes}"


def test_consumer_fetch_max_bytes(broker):
    """librdkafka with fetch.max.bytes=1000000 and receive.message.max.bytes at its minimum
    (fetch.max.bytes + 512) consumes partitions full of ~600 KB batches: no response is too large."""
    topic = unique_topic("maxb-cf")
    create_topic(broker.bootstrap, topic, 4)
    n = 600
    fill_big_batches(broker.bootstrap, topic, 4, n)
    log, coll = collecting_logger("maxb")
    errors: list = []
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique_topic("g"), "auto.offset.reset": "earliest",
                  "fetch.max.bytes": 1000000, "receive.message.max.bytes": 1000512, "logger": log,
                  "error_cb": errors.append})
    try:
        c.assign([TopicPartition(topic, i, 0) for i in range(4)])
        got, deadline = 0, time.monotonic() + 40
        while got < 4 * n and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error() is None:
                    got += 1
                else:
                    errors.append(m.error())
        assert got == 4 * n, f"consumed {got} of {4 * n}; errors {errors[:3]}; log {coll.lines[-3:]}"
        bad = [x for x in coll.lines if "Invalid response size" in x] + coll.parse_failures()
        assert not bad, bad[:3]
        assert not errors, errors[:3]
    finally:
        assert close_within(c, 20)
