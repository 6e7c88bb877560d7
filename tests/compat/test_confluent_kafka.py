"""confluent-kafka (librdkafka) against a real `pystream serve` process."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from compat_helpers import create_topic, unique_topic
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


COMPRESSIONS = ["gzip", "snappy", "lz4", "zstd"]


def producer(bootstrap: str, **conf) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 20000, "linger.ms": 5, **conf})


def consumer(bootstrap: str, group: str, **conf) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
                     **conf})


def consume_n(c: Consumer, n: int, timeout: float = 30.0) -> list:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for m in c.consume(min(500, n - len(out)), 0.5):
            if m.error() is not None:
                raise KafkaException(m.error())
            out.append(m)
    assert len(out) == n, f"consumed {len(out)} of {n} records within {timeout}s"
    return out


def produce_all(p: Producer, topic: str, records, partition: int | None = None, timeout: float = 30.0) -> list:
    """Produce (key, value, headers) records; return the delivery reports (error, partition, offset)."""
    reports = []

    def cb(err, msg):
        reports.append((err, msg.partition(), msg.offset()))

    for key, value, headers in records:
        kw = {} if partition is None else {"partition": partition}
        p.produce(topic, key=key, value=value, headers=headers, on_delivery=cb, **kw)
        p.poll(0)
    assert p.flush(timeout) == 0, "records still in flight after flush timeout"
    assert all(err is None for err, _, _ in reports), [r for r in reports if r[0] is not None][:3]
    return reports


def test_round_trip_keys_headers(module_broker):
    topic = unique_topic("cf-rt")
    records = [(b"key-%d" % i if i % 3 else None, b"value-%d" % i * (i % 7 + 1),
                [("h1", b"x%d" % i), ("h2", b"")] if i % 2 else None) for i in range(200)]
    records.append((b"k-empty", b"", [("only", None)]))
    reports = produce_all(producer(module_broker.bootstrap), topic, records)
    assert sorted(off for _, _, off in reports) == list(range(len(records)))
    c = consumer(module_broker.bootstrap, unique_topic("g"))
    try:
        c.subscribe([topic])
        got = consume_n(c, len(records))
    finally:
        c.close()
    assert [m.offset() for m in got] == list(range(len(records)))
    for (key, value, headers), m in zip(records, got):
        assert m.key() == key
        assert m.value() == value
        assert (m.headers() or None) == (headers or None)


@pytest.mark.parametrize("codec", COMPRESSIONS)
def test_compression(module_broker, codec):
    topic = unique_topic(f"cf-{codec}")
    records = [(b"k%d" % i, (b"payload %d " % i) * 20, [("codec", codec.encode())]) for i in range(500)]
    produce_all(producer(module_broker.bootstrap, **{"compression.type": codec, "linger.ms": 20}), topic, records)
    c = consumer(module_broker.bootstrap, unique_topic("g"))
    try:
        c.subscribe([topic])
        got = consume_n(c, len(records))
    finally:
        c.close()
    assert [(m.key(), m.value(), m.headers()) for m in got] == [(k, v, h) for k, v, h in records]


def test_consumer_group_join_leave_exactly_once(broker):
    topic = unique_topic("cf-group")
    create_topic(broker.bootstrap, topic, 6)
    group = unique_topic("grp")
    total = 3000
    p = producer(broker.bootstrap)
    produce_all(p, topic, [(b"%d" % i, b"%d" % i, None) for i in range(total)])

    seen: Counter = Counter()
    lock = threading.Lock()
    stop = {i: threading.Event() for i in range(3)}
    assignments: dict[int, list] = {i: [] for i in range(3)}
    errors: list = []
    # Members consume slowly at first so that each join happens while records remain.
    throttle = threading.Event()

    def member(idx: int) -> None:
        def on_assign(c, parts):
            assignments[idx].append(sorted(tp.partition for tp in parts))

        c = consumer(broker.bootstrap, group, **{"partition.assignment.strategy": "range"})
        try:
            c.subscribe([topic], on_assign=on_assign)
            while not stop[idx].is_set():
                msgs = c.consume(20 if not throttle.is_set() else 500, 0.2)
                batch = []
                for m in msgs:
                    if m.error() is not None:
                        errors.append(m.error())
                        continue
                    batch.append(int(m.value()))
                if batch:
                    # Commit synchronously before counting: what is counted is committed.
                    c.commit(asynchronous=False)
                    with lock:
                        seen.update(batch)
                    if not throttle.is_set():
                        time.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
        finally:
            c.close()  # leaves the group

    threads = {}
    threads[0] = threading.Thread(target=member, args=(0,), daemon=True)
    threads[0].start()
    deadline = time.monotonic() + 60
    def wait_for(cond, what):
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; errors={errors[:3]}"
            time.sleep(0.05)

    wait_for(lambda: assignments[0] and len(seen) > 0, "member 0 to consume")
    for idx in (1, 2):
        threads[idx] = threading.Thread(target=member, args=(idx,), daemon=True)
        threads[idx].start()
        wait_for(lambda idx=idx: assignments[idx] and assignments[idx][-1], f"member {idx} assignment")
    # With three members, each holds two of the six partitions (range assignment).
    wait_for(lambda: all(assignments[i] and len(assignments[i][-1]) == 2 for i in range(3)), "3-way balance")
    stop[2].set()
    threads[2].join(20)
    wait_for(lambda: all(assignments[i] and len(assignments[i][-1]) == 3 for i in (0, 1)), "rebalance after leave")
    throttle.set()
    wait_for(lambda: sum(seen.values()) >= total, "all records consumed")
    time.sleep(0.5)  # any duplicate delivery would show up here
    for i in (0, 1):
        stop[i].set()
        threads[i].join(20)
    assert not errors, errors[:5]
    assert set(seen) == set(range(total))
    dups = {k: v for k, v in seen.items() if v != 1}
    assert not dups, f"{len(dups)} records consumed more than once, e.g. {list(dups.items())[:5]}"
    # Committed offsets cover every record.
    c = consumer(broker.bootstrap, group)
    try:
        committed = c.committed([TopicPartition(topic, i) for i in range(6)], timeout=10)
        lo, hi = zip(*(c.get_watermark_offsets(TopicPartition(topic, i), timeout=10) for i in range(6)))
    finally:
        c.close()
    assert [tp.offset for tp in committed] == list(hi)


def test_commit_resume_across_restart(broker):
    topic = unique_topic("cf-resume")
    group = unique_topic("grp")
    n = 100
    produce_all(producer(broker.bootstrap), topic, [(None, b"%d" % i, None) for i in range(n)])
    c = consumer(broker.bootstrap, group)
    try:
        c.subscribe([topic])
        got = consume_n(c, 40)
        c.commit(message=got[-1], asynchronous=False)
    finally:
        c.close()
    assert [int(m.value()) for m in got] == list(range(40))
    broker.restart()
    c = consumer(broker.bootstrap, group)
    try:
        committed = c.committed([TopicPartition(topic, 0)], timeout=10)
        assert committed[0].offset == 40
        c.subscribe([topic])
        rest = consume_n(c, n - 40)
    finally:
        c.close()
    assert [int(m.value()) for m in rest] == list(range(40, n))


def test_idempotent_producer(broker):
    topic = unique_topic("cf-idem")
    create_topic(broker.bootstrap, topic, 3)
    n = 3000
    p = producer(broker.bootstrap, **{"enable.idempotence": True, "acks": "all", "linger.ms": 2,
                                      "max.in.flight.requests.per.connection": 5, "batch.num.messages": 50})
    records = [(b"%d" % (i % 3), b"%d" % i, None) for i in range(n)]
    reports = produce_all(p, topic, [(k, v, h) for k, v, h in records])
    assert len(reports) == n
    c = consumer(broker.bootstrap, unique_topic("g"))
    try:
        c.subscribe([topic])
        got = consume_n(c, n)
        time.sleep(0.5)
        extra = c.consume(100, 0.5)
    finally:
        c.close()
    assert not extra, "more records than produced"
    per_part: dict[int, list[int]] = {}
    for m in got:
        per_part.setdefault(m.partition(), []).append(int(m.value()))
    assert sorted(v for vs in per_part.values() for v in vs) == list(range(n))
    for part, vs in per_part.items():
        assert vs == sorted(vs), f"partition {part} out of order"
