"""(d) Committed offsets survive a SIGKILL of the group coordinator (the offsets-partition leader)."""

from __future__ import annotations

import time

import confluent_kafka
import pytest

from .conftest import Cluster, wait_until
from .e2e_helpers import make_value, parse_value

TOPIC = "events"
GROUP = "billing"
PARTITIONS = 3
TOTAL = 300
FIRST = 150


def _consumer(cluster: Cluster) -> confluent_kafka.Consumer:
    return confluent_kafka.Consumer({
        "bootstrap.servers": cluster.bootstrap, "group.id": GROUP, "enable.auto.commit": False,
        "auto.offset.reset": "earliest", "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
        "socket.timeout.ms": 5000, "topic.metadata.refresh.interval.ms": 1000})


def _consume(c: confluent_kafka.Consumer, n: int, timeout: float) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        assert time.monotonic() < deadline, f"consumed {len(out)} of {n} within {timeout} s"
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().retriable() or msg.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                continue
            raise AssertionError(f"consumer error: {msg.error()}")
        out.append((msg.partition(), msg.offset(), parse_value(msg.value())))
    return out


def _coordinator(cluster: Cluster) -> int:
    from pystream.protocol.client import KafkaClient

    with KafkaClient(cluster.live_bootstrap(), timeout=3.0, retries=0) as c:
        return c.find_coordinator(GROUP)


@pytest.mark.parametrize("settle", [
    pytest.param(0.0, id="kill-right-after-commit"),  # Kafka: a commit is acknowledged once on the ISR
    pytest.param(2.0, id="kill-2s-after-commit"),
])
def test_committed_offsets_survive_coordinator_kill(cluster: Cluster, settle: float) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, PARTITIONS, 3, {"min.insync.replicas": "2"})
    p = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True})
    for seq in range(TOTAL):
        p.produce(TOPIC, make_value(seq), partition=seq % PARTITIONS)
    assert p.flush(30) == 0

    coordinator = wait_until(lambda: _coordinator(cluster), 10, what="a group coordinator")  # creates the offsets topic
    cluster.wait_isr_full("__consumer_offsets", 20)
    assert _coordinator(cluster) == coordinator
    c1 = _consumer(cluster)
    c1.subscribe([TOPIC])
    first = _consume(c1, FIRST, 60)
    done = c1.commit(asynchronous=False)
    # Kafka acknowledges a commit once it is on the ISR, so the coordinator may die right away;
    # `settle` also covers the case where followers had time to fetch it.
    time.sleep(settle)
    cluster.brokers[coordinator].kill()
    committed = {i: -1001 for i in range(PARTITIONS)}
    committed.update({tp.partition: tp.offset for tp in done if tp.topic == TOPIC})
    seen: dict[int, int] = {}
    for part, off, _ in first:
        seen[part] = max(seen.get(part, -1), off)
    for part, last in seen.items():
        assert committed[part] == last + 1, (committed, seen)
    new = wait_until(lambda: (lambda c: c if c != coordinator else None)(_coordinator(cluster)), 30,
                     what=f"a new coordinator after killing broker {coordinator}")
    print(f"coordinator {coordinator} killed; new coordinator {new}")
    c1.close()  # its coordinator is gone: librdkafka gives up on the LeaveGroup

    c2 = _consumer(cluster)
    c2.subscribe([TOPIC])
    try:
        rest = _consume(c2, TOTAL - FIRST, 60)
        while (extra := c2.poll(2.0)) is not None:  # anything beyond the expected count is a duplicate
            if not extra.error():
                rest.append((extra.partition(), extra.offset(), parse_value(extra.value())))
            assert len(rest) < 2 * TOTAL
        # The new member resumed exactly at the committed offsets.
        firsts: dict[int, int] = {}
        for part, off, _ in rest:
            firsts.setdefault(part, off)
        expected = {part: (committed[part] if committed[part] >= 0 else 0) for part in range(PARTITIONS)
                    if committed[part] < TOTAL // PARTITIONS}
        assert firsts == expected, f"resumed at {firsts}, committed {committed} (first consumer read up to {seen})"
    finally:
        c2.close()
    all_seqs = sorted(s for _, _, s in first + rest)
    assert all_seqs == list(range(TOTAL)), "lost or duplicated records across the coordinator change"
