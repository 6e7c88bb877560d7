"""kafka-python against a real `pystream serve` process."""

from __future__ import annotations

import threading
import time
from collections import Counter

import kafka.codec
import pytest
from compat_helpers import create_topic, unique_topic
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

COMPRESSIONS = ["gzip", "snappy", "lz4", "zstd"]


class _CramjamSnappy:
    """The two calls kafka.codec makes on python-snappy, backed by cramjam (python-snappy >= 0.7 is
    exactly this wrapper). kafka-python 3.0 looks only for the `snappy` module, not for cramjam."""

    @staticmethod
    def compress(data):
        import cramjam

        return bytes(cramjam.snappy.compress_raw(bytes(data)))

    @staticmethod
    def decompress(data):
        import cramjam

        return bytes(cramjam.snappy.decompress_raw(bytes(data)))


@pytest.fixture
def snappy_available(monkeypatch):
    if kafka.codec.has_snappy():
        return
    try:
        import cramjam  # noqa: F401
    except ImportError:
        pytest.skip("kafka-python needs python-snappy (or cramjam for the shim) for snappy")
    monkeypatch.setattr(kafka.codec, "snappy", _CramjamSnappy)


def producer(bootstrap: str, **conf) -> KafkaProducer:
    return KafkaProducer(**{"bootstrap_servers": bootstrap, "linger_ms": 5, "request_timeout_ms": 15000, **conf})


def consumer(bootstrap: str, group: str | None, **conf) -> KafkaConsumer:
    conf = {"auto_offset_reset": "earliest", "enable_auto_commit": False, "consumer_timeout_ms": 30000,
            "session_timeout_ms": 6000, "heartbeat_interval_ms": 500, "request_timeout_ms": 30000, **conf}
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, **conf)


def produce_all(p: KafkaProducer, topic: str, records, timeout: float = 30.0) -> list:
    futs = [p.send(topic, key=k, value=v, headers=h or []) for k, v, h in records]
    p.flush(timeout)
    return [f.get(timeout) for f in futs]


def consume_n(c: KafkaConsumer, n: int, timeout: float = 30.0) -> list:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for msgs in c.poll(timeout_ms=500, max_records=n - len(out)).values():
            out.extend(msgs)
    assert len(out) == n, f"consumed {len(out)} of {n} records within {timeout}s"
    return out


def test_round_trip_keys_headers(module_broker):
    topic = unique_topic("kp-rt")
    records = [(b"key-%d" % i if i % 3 else None, b"value-%d" % i * (i % 7 + 1),
                [("h1", b"x%d" % i), ("h2", b"")] if i % 2 else None) for i in range(200)]
    p = producer(module_broker.bootstrap)
    try:
        metas = produce_all(p, topic, records)
    finally:
        p.close(5)
    assert [m.offset for m in metas] == list(range(len(records)))
    c = consumer(module_broker.bootstrap, unique_topic("g"))
    try:
        c.subscribe([topic])
        got = consume_n(c, len(records))
    finally:
        c.close()
    got.sort(key=lambda m: m.offset)
    assert [m.offset for m in got] == list(range(len(records)))
    for (key, value, headers), m in zip(records, got):
        assert (m.key, m.value, list(m.headers)) == (key, value, headers or [])


@pytest.mark.parametrize("codec", COMPRESSIONS)
def test_compression(module_broker, codec, request):
    if codec == "snappy":
        request.getfixturevalue("snappy_available")
    topic = unique_topic(f"kp-{codec}")
    records = [(b"k%d" % i, (b"payload %d " % i) * 20, [("codec", codec.encode())]) for i in range(500)]
    p = producer(module_broker.bootstrap, compression_type=codec, linger_ms=20)
    try:
        produce_all(p, topic, records)
    finally:
        p.close(5)
    c = consumer(module_broker.bootstrap, unique_topic("g"))
    try:
        c.subscribe([topic])
        got = consume_n(c, len(records))
    finally:
        c.close()
    got.sort(key=lambda m: m.offset)
    assert [(m.key, m.value, list(m.headers)) for m in got] == [(k, v, h) for k, v, h in records]


def test_consumer_group_join_leave_exactly_once(broker):
    topic = unique_topic("kp-group")
    create_topic(broker.bootstrap, topic, 6)
    group = unique_topic("grp")
    total = 3000
    p = producer(broker.bootstrap)
    try:
        produce_all(p, topic, [(b"%d" % i, b"%d" % i, None) for i in range(total)])
    finally:
        p.close(5)

    seen: Counter = Counter()
    lock = threading.Lock()
    stop = {i: threading.Event() for i in range(3)}
    assignments: dict[int, list] = {i: [] for i in range(3)}
    errors: list = []
    throttle = threading.Event()

    class Listener(ConsumerRebalanceListener):
        def __init__(self, idx):
            self.idx = idx

        def on_partitions_revoked(self, revoked):
            pass

        def on_partitions_assigned(self, assigned):
            assignments[self.idx].append(sorted(tp.partition for tp in assigned))

    def member(idx: int) -> None:
        c = consumer(broker.bootstrap, group, max_poll_records=20)
        try:
            c.subscribe([topic], listener=Listener(idx))
            while not stop[idx].is_set():
                recs = c.poll(timeout_ms=200, max_records=20 if not throttle.is_set() else 500)
                batch = [int(m.value) for msgs in recs.values() for m in msgs]
                if batch:
                    c.commit()  # synchronous: what is counted is committed
                    with lock:
                        seen.update(batch)
                    if not throttle.is_set():
                        time.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)
        finally:
            c.close()  # leaves the group

    deadline = time.monotonic() + 90

    def wait_for(cond, what):
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; assignments={assignments} errors={errors[:3]}"
            assert not errors, errors[:3]
            time.sleep(0.05)

    threads = {}
    for idx in range(3):
        threads[idx] = threading.Thread(target=member, args=(idx,), daemon=True)
        threads[idx].start()
        wait_for(lambda idx=idx: assignments[idx] and assignments[idx][-1] and sum(seen.values()) > 0,
                 f"member {idx} assignment")
    wait_for(lambda: all(assignments[i] and len(assignments[i][-1]) == 2 for i in range(3)), "3-way balance")
    stop[2].set()
    threads[2].join(30)
    wait_for(lambda: all(len(assignments[i][-1]) == 3 for i in (0, 1)), "rebalance after leave")
    throttle.set()
    wait_for(lambda: sum(seen.values()) >= total, "all records consumed")
    time.sleep(0.5)
    for i in (0, 1):
        stop[i].set()
        threads[i].join(30)
    assert not errors, errors[:5]
    assert set(seen) == set(range(total))
    dups = {k: v for k, v in seen.items() if v != 1}
    assert not dups, f"{len(dups)} records consumed more than once, e.g. {list(dups.items())[:5]}"
    c = consumer(broker.bootstrap, group)
    try:
        tps = [TopicPartition(topic, i) for i in range(6)]
        committed = [c.committed(tp) for tp in tps]
        ends = c.end_offsets(tps)
    finally:
        c.close()
    assert committed == [ends[tp] for tp in tps]


def test_commit_resume_across_restart(broker):
    topic = unique_topic("kp-resume")
    group = unique_topic("grp")
    n = 100
    p = producer(broker.bootstrap)
    try:
        produce_all(p, topic, [(None, b"%d" % i, None) for i in range(n)])
    finally:
        p.close(5)
    c = consumer(broker.bootstrap, group)
    try:
        c.subscribe([topic])
        got = consume_n(c, 40)
        c.commit({TopicPartition(topic, 0): OffsetAndMetadata(40, "", -1)})
    finally:
        c.close()
    assert [int(m.value) for m in got] == list(range(40))
    broker.restart()
    c = consumer(broker.bootstrap, group)
    try:
        assert c.committed(TopicPartition(topic, 0)) == 40
        c.subscribe([topic])
        rest = consume_n(c, n - 40)
    finally:
        c.close()
    assert [int(m.value) for m in rest] == list(range(40, n))


def test_idempotent_producer(broker):
    topic = unique_topic("kp-idem")
    create_topic(broker.bootstrap, topic, 3)
    n = 3000
    p = producer(broker.bootstrap, enable_idempotence=True, acks="all", batch_size=2000)
    try:
        metas = produce_all(p, topic, [(b"%d" % (i % 3), b"%d" % i, None) for i in range(n)])
    finally:
        p.close(5)
    assert len(metas) == n
    c = consumer(broker.bootstrap, None)
    try:
        tps = [TopicPartition(topic, i) for i in range(3)]
        c.assign(tps)
        c.seek_to_beginning()
        got = consume_n(c, n)
        assert sum(c.end_offsets(tps).values()) == n, "more records in the log than produced"
    finally:
        c.close()
    per_part: dict[int, list[int]] = {}
    for m in got:
        per_part.setdefault(m.partition, []).append(int(m.value))
    assert sorted(v for vs in per_part.values() for v in vs) == list(range(n))
    for part, vs in per_part.items():
        assert vs == sorted(vs), f"partition {part} out of order"
