"""Incremental fetch sessions (KIP-227) against a real `pystream serve` process: the
protocol spoken raw, the cache bound, and real consumers over many partitions."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from compat_helpers import LogCollector, RawClient, create_topic, unique_topic
from confluent_kafka import Consumer, Producer, TopicPartition
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey

FETCH_V = 12


def produce(bootstrap: str, topic: str, per_partition: dict[int, int], tag: bytes = b"") -> None:
    """Values are b"<partition>-<i><tag>"."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for part, n in per_partition.items():
        for i in range(n):
            p.produce(topic, value=b"%d-%d%s" % (part, i, tag), partition=part)
    assert p.flush(20) == 0


def part(i: int, offset: int = 0) -> dict:
    return {"partition": i, "fetch_offset": offset, "partition_max_bytes": 1 << 20, "current_leader_epoch": -1}


def fetch(rc: RawClient, session_id: int, epoch: int, topics: list, forgotten: list | None = None,
          max_wait_ms: int = 0) -> dict:
    return rc.request(ApiKey.FETCH, FETCH_V, {
        "replica_id": -1, "max_wait_ms": max_wait_ms, "min_bytes": 1, "max_bytes": 50 << 20, "isolation_level": 0,
        "session_id": session_id, "session_epoch": epoch, "topics": topics, "forgotten_topics_data": forgotten or []})


def answered(resp: dict) -> dict[tuple[str, int], dict]:
    return {(t["topic"], p["partition_index"]): p for t in resp["responses"] for p in t["partitions"]}


def test_session_lifecycle_raw(broker):
    topic = unique_topic("sess")
    create_topic(broker.bootstrap, topic, 4)
    produce(broker.bootstrap, topic, {0: 3, 1: 3})
    with RawClient(broker.host, broker.port) as rc:
        # epoch 0: a full fetch that creates a session; every partition is answered
        r = fetch(rc, 0, 0, [{"topic": topic, "partitions": [part(i) for i in range(4)]}])
        sid = r["session_id"]
        assert r["error_code"] == 0 and sid > 0
        got = answered(r)
        assert sorted(got) == [(topic, i) for i in range(4)]
        assert [got[(topic, i)]["high_watermark"] for i in range(4)] == [3, 3, 0, 0]
        # epoch 1: the client moved partitions 0 and 1 past their records; nothing is new
        r = fetch(rc, sid, 1, [{"topic": topic, "partitions": [part(0, 3), part(1, 3)]}], max_wait_ms=100)
        assert r["error_code"] == 0 and r["session_id"] == sid and answered(r) == {}
        # new records on partition 2: only it is answered (its request position is remembered)
        produce(broker.bootstrap, topic, {2: 2})
        r = fetch(rc, sid, 2, [])
        got = answered(r)
        assert list(got) == [(topic, 2)] and got[(topic, 2)]["high_watermark"] == 2 and len(got[(topic, 2)]["records"]) > 0
        # forget partition 3, then records arrive on it: not answered
        r = fetch(rc, sid, 3, [{"topic": topic, "partitions": [part(2, 2)]}], forgotten=[{"topic": topic, "partitions": [3]}],
                  max_wait_ms=50)
        assert answered(r) == {}
        produce(broker.bootstrap, topic, {3: 1})
        r = fetch(rc, sid, 4, [], max_wait_ms=100)
        assert answered(r) == {}
        # DeleteRecords moves partition 0's log start: news without records
        rc.request(ApiKey.DELETE_RECORDS, 1, {"topics": [{"name": topic, "partitions": [{"partition_index": 0, "offset": 2}]}],
                                               "timeout_ms": 5000})
        got = answered(fetch(rc, sid, 5, []))
        assert list(got) == [(topic, 0)] and got[(topic, 0)]["log_start_offset"] == 2
        # wrong epoch, unknown session
        r = fetch(rc, sid, 9, [])
        assert r["error_code"] == ErrorCode.INVALID_FETCH_SESSION_EPOCH and r["responses"] == []
        r = fetch(rc, sid + 1 if sid < 0x7FFFFFFF else 1, 1, [])
        assert r["error_code"] == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
        # the session still works at its expected epoch; a full fetch naming it closes it
        assert fetch(rc, sid, 6, [])["error_code"] == 0
        r = fetch(rc, sid, -1, [{"topic": topic, "partitions": [part(0, 2)]}])
        assert r["error_code"] == 0 and r["session_id"] == 0 and list(answered(r)) == [(topic, 0)]
        assert fetch(rc, sid, 7, [])["error_code"] == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
        # an unknown partition in a session is answered with its error every time
        r = fetch(rc, 0, 0, [{"topic": topic, "partitions": [part(0, 3), part(9)]}])
        sid = r["session_id"]
        assert answered(r)[(topic, 9)]["error_code"] == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        got = answered(fetch(rc, sid, 1, []))
        assert list(got) == [(topic, 9)] and len(got[(topic, 9)]["records"]) == 0


def test_session_partition_with_records_moves_to_the_end(broker):
    """With a max_bytes that lets one batch through per fetch, a partition that returned
    records goes to the end of the session's order: each partition gets its turn
    (without the rotation partition 0 would be served until it ran dry)."""
    topic = unique_topic("order")
    create_topic(broker.bootstrap, topic, 3)
    for _ in range(3):  # three batches per partition
        produce(broker.bootstrap, topic, {0: 1, 1: 1, 2: 1})
    with RawClient(broker.host, broker.port) as rc:
        sid, epoch, offsets, served = 0, 0, {0: 0, 1: 0, 2: 0}, []
        for _ in range(6):
            r = rc.request(ApiKey.FETCH, FETCH_V, {
                "replica_id": -1, "max_wait_ms": 0, "min_bytes": 1, "max_bytes": 1, "isolation_level": 0,
                "session_id": sid, "session_epoch": epoch,
                "topics": [{"topic": topic, "partitions": [part(i, offsets[i]) for i in offsets]}]})
            sid, epoch = r["session_id"], epoch + 1
            assert sid > 0
            with_records = [p["partition_index"] for t in r["responses"] for p in t["partitions"] if len(p["records"])]
            assert len(with_records) == 1, r
            served += with_records
            offsets[with_records[0]] += 1
        # the first (full) fetch creates the session in request order, as Kafka's: no rotation yet
        assert served == [0, 0, 1, 2, 0, 1], served


def test_session_cache_bounded(broker_factory):
    slots = 3
    b = broker_factory(**{"max.incremental.fetch.session.cache.slots": slots})
    topic = unique_topic("slots")
    create_topic(b.bootstrap, topic, 8)
    with RawClient(b.host, b.port) as rc:
        def new_session(n: int) -> int:
            return fetch(rc, 0, 0, [{"topic": topic, "partitions": [part(i) for i in range(n)]}])["session_id"]

        first = [new_session(1) for _ in range(slots)]
        assert all(first) and len(set(first)) == slots
        # full, and no one is less valuable than a new 1-partition session: sessionless
        assert [new_session(1) for _ in range(5)] == [0] * 5
        # a 2-partition session evicts one of the 1-partition ones
        bigger = new_session(2)
        assert bigger != 0
        alive = [sid for sid in first if fetch(rc, sid, 1, [])["error_code"] == 0]
        assert len(alive) == slots - 1
        # many more sessions, each larger than the last: the cache never holds more than its slots
        ids = [new_session(n) for n in range(3, 9)] + [bigger] + alive
        ok = [sid for sid in ids if sid and fetch(rc, sid, 2 if sid in alive else 1, [])["error_code"] == 0]
        assert len(ok) <= slots, ok
        assert ok, "the newest sessions are cached"


MANY = 120


@pytest.fixture
def many_partitions(broker):
    topic = unique_topic("many")
    create_topic(broker.bootstrap, topic, MANY)
    produce(broker.bootstrap, topic, {i: 3 for i in range(MANY)})
    return broker, topic


def test_kafka_python_uses_sessions(many_partitions):
    """kafka-python creates a session and fetches incrementally over many partitions; it
    sees every record, including those produced while it fetches incrementally."""
    from kafka import KafkaConsumer

    broker, topic = many_partitions
    cap = LogCollector()
    log = logging.getLogger("kafka.consumer.fetcher")
    log.addHandler(cap)
    old = log.level
    log.setLevel(logging.DEBUG)
    c = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=unique_topic("g"), auto_offset_reset="earliest",
                      enable_auto_commit=False, fetch_max_wait_ms=100)
    try:
        got: set[bytes] = set()
        deadline = time.monotonic() + 40
        while len(got) < 3 * MANY and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=200).values():
                got.update(r.value for r in recs)
        assert len(got) == 3 * MANY
        produce(broker.bootstrap, topic, {5: 2, 77: 1}, tag=b"new")
        while len(got) < 3 * MANY + 3 and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=200).values():
                got.update(r.value for r in recs)
        assert {b"5-0new", b"5-1new", b"77-0new"} <= got and len(got) == 3 * MANY + 3
    finally:
        c.close()
        log.removeHandler(cap)
        log.setLevel(old)
    text = "\n".join(cap.lines)
    assert "created a new incremental fetch session" in text, text[-2000:]
    assert "sent an incremental fetch response for session" in text
    assert "invalid" not in text.lower() and "unable to process the fetch request" not in text, text[-2000:]


def test_aiokafka_many_partitions(many_partitions):
    from aiokafka import AIOKafkaConsumer

    broker, topic = many_partitions

    async def run() -> int:
        c = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=unique_topic("g"),
                             auto_offset_reset="earliest", enable_auto_commit=False, fetch_max_wait_ms=100)
        await c.start()
        try:
            got: set[bytes] = set()
            deadline = time.monotonic() + 40
            while len(got) < 3 * MANY and time.monotonic() < deadline:
                for recs in (await c.getmany(timeout_ms=200)).values():
                    got.update(r.value for r in recs)
            return len(got)
        finally:
            await c.stop()

    assert asyncio.run(run()) == 3 * MANY


def test_librdkafka_many_partitions(many_partitions):
    """librdkafka fetches sessionless (session 0, epoch -1; it has no KIP-227 support) and gets full answers."""
    broker, topic = many_partitions
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique_topic("g"), "auto.offset.reset": "earliest",
                  "fetch.wait.max.ms": 100})
    try:
        c.assign([TopicPartition(topic, i, 0) for i in range(MANY)])
        got: set[bytes] = set()
        deadline = time.monotonic() + 40
        while len(got) < 3 * MANY and time.monotonic() < deadline:
            for m in c.consume(1000, 0.2):
                assert m.error() is None, m.error()
                got.add(m.value())
        assert len(got) == 3 * MANY
    finally:
        c.close()
