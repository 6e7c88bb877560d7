"""Acknowledged means durable: acks=all records survive a SIGKILL of the broker mid-stream."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from compat_helpers import BrokerProcess, RawClient, create_topic, unique_topic
from confluent_kafka import Consumer, Producer, TopicPartition

PARTITIONS = 3


def read_all(bootstrap: str, topic: str, timeout: float = 30.0) -> dict[int, list[tuple[int, bytes]]]:
    """Every record of every partition, as (offset, value), read with assign() up to the high watermark."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("g"), "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "enable.partition.eof": True})
    try:
        ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)}
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        out: dict[int, list[tuple[int, bytes]]] = {p: [] for p in range(PARTITIONS)}
        deadline = time.monotonic() + timeout
        while any(len(out[p]) < ends[p] for p in out) and time.monotonic() < deadline:
            for m in c.consume(1000, 0.5):
                if m.error() is None:
                    out[m.partition()].append((m.offset(), m.value()))
        assert all(len(out[p]) == ends[p] for p in out), f"read {[len(v) for v in out.values()]} of {ends}"
        return out
    finally:
        c.close()


def test_acked_records_survive_sigkill(broker):
    topic = unique_topic("durable")
    create_topic(broker.bootstrap, topic, PARTITIONS)
    acked: list[tuple[int, int, bytes]] = []  # (partition, offset, value)
    lock = threading.Lock()
    stop = threading.Event()

    def on_delivery(err, msg):
        if err is None:
            with lock:
                acked.append((msg.partition(), msg.offset(), msg.value()))

    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 1,
                  "message.timeout.ms": 5000, "retries": 0, "enable.idempotence": False,
                  "batch.num.messages": 100})

    def produce_loop():
        i = 0
        while not stop.is_set():
            try:
                p.produce(topic, value=b"%08d" % i, partition=i % PARTITIONS, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            p.poll(0.001 if i % 50 == 0 else 0)

    t = threading.Thread(target=produce_loop, daemon=True)
    t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 5000:
        assert time.monotonic() < deadline, f"only {len(acked)} acks in 30s"
        time.sleep(0.01)
    broker.kill9()  # mid-stream: the producer is still sending
    time.sleep(0.3)
    stop.set()
    t.join(10)
    p.purge()
    p.flush(10)  # delivers the failure reports for whatever was not acknowledged
    with lock:
        acked_snapshot = list(acked)
    assert len(acked_snapshot) >= 5000

    broker.start()
    log = read_all(broker.bootstrap, topic)
    by_offset = {(part, off): val for part, recs in log.items() for off, val in recs}
    missing = [(part, off, val) for part, off, val in acked_snapshot if by_offset.get((part, off)) != val]
    assert not missing, f"{len(missing)} acknowledged records lost or changed after SIGKILL, e.g. {missing[:5]}"
    counts = Counter(val for recs in log.values() for _, val in recs)
    dups = [v for v, n in counts.items() if n > 1]
    assert not dups, f"records stored more than once: {dups[:5]}"
    for part, recs in log.items():
        offs = [off for off, _ in recs]
        assert offs == sorted(offs)
        vals = [int(v) for _, v in recs]
        assert vals == sorted(vals), f"partition {part} out of produce order"
        assert all(v % PARTITIONS == part for v in vals)
    # The broker still takes writes after recovery.
    p2 = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "message.timeout.ms": 10000})
    p2.produce(topic, value=b"after", partition=0)
    assert p2.flush(15) == 0




def test_sigterm_with_waiting_fetches_is_clean(broker):
    """SIGTERM while consumers long-poll: exit 0, data intact, and no internal error in the log."""
    topic = unique_topic("shutdown")
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for i in range(10):
        p.produce(topic, value=b"%d" % i)
    assert p.flush(15) == 0
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": unique_topic("g"), "auto.offset.reset": "earliest",
                  "fetch.wait.max.ms": 5000})
    try:
        c.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 20
        while got < 10 and time.monotonic() < deadline:
            m = c.poll(0.5)
            got += m is not None and m.error() is None
        assert got == 10
        time.sleep(0.5)  # the consumer now waits in a long-poll Fetch
        log_before = broker.log_path.read_text()
        rc = broker.stop()
        tail = broker.log_path.read_text()[len(log_before):]
    finally:
        if not broker.alive():
            broker.start()  # lets the consumer leave its group instead of retrying until close() gives up
        c.close()
    assert rc == 0
    assert "clean shutdown complete" in tail
    assert "Traceback" not in tail and "internal error" not in tail, tail[-3000:]
    assert [m.value() for m in read_partition0(broker.bootstrap, topic, 10)] == [b"%d" % i for i in range(10)]


def test_sigterm_while_clients_send_back_to_back_requests_exits(tmp_path):
    """Clients that never pause (each sends its next ApiVersions as soon as the answer is in):
    SIGTERM still ends the broker promptly. A cancellation that landed as a request completed
    was lost, and the broker then served such a connection forever after closing its listener."""
    for attempt in range(3):
        broker = BrokerProcess(tmp_path / f"b{attempt}")
        broker.start()
        stop = threading.Event()
        answered = [0] * 4

        def hammer(i: int) -> None:
            try:
                with RawClient(broker.host, broker.port) as c:
                    while not stop.is_set():
                        c.request(18, 0, {})
                        answered[i] += 1
            except (OSError, ConnectionError, EOFError):
                pass  # closed by the shutdown

        threads = [threading.Thread(target=hammer, args=(i,), daemon=True) for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        try:
            rc = broker.stop(20)  # raises if SIGTERM is not obeyed within 20 s
        finally:
            stop.set()
            for t in threads:
                t.join(5)
        assert rc == 0, broker.log_tail()
        assert all(answered), answered
        assert "clean shutdown complete" in broker.log_path.read_text()


def read_partition0(bootstrap: str, topic: str, n: int) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("g"), "auto.offset.reset": "earliest"})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        out: list = []
        deadline = time.monotonic() + 20
        while len(out) < n and time.monotonic() < deadline:
            out += [m for m in c.consume(100, 0.5) if m.error() is None]
        return out
    finally:
        c.close()
