"""The consumer group protocol of KIP-848 (``group.protocol=consumer``) with librdkafka's consumer
(confluent-kafka) against a real broker: server-side assignment, incremental rebalances, leaving,
fencing by session timeout, new partitions, static members, restarts, and the two kinds of groups
side by side."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from typing import Callable

import pytest
from compat_helpers import create_topic, unique_topic
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions

# Heartbeats every 300 ms keep the tests quick; sessions of 4 s make fencing observable.
OVERRIDES = {"group.consumer.heartbeat.interval.ms": "300", "group.consumer.session.timeout.ms": "4000"}

pytestmark = pytest.mark.skipif(
    tuple(int(x) for x in __import__("confluent_kafka").libversion()[0].split(".")[:2]) < (2, 10),
    reason="librdkafka >= 2.10 has the consumer group protocol (group.protocol=consumer)")


@pytest.fixture
def kbroker(broker_factory):
    return broker_factory(**OVERRIDES)


def new_consumer(bootstrap: str, group: str, **conf) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})


def produce(bootstrap: str, topic: str, n: int, partitions: int, start: int = 0) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(topic, value=b"%d" % i, partition=i % partitions)
    assert p.flush(20) == 0


def assigned(c: Consumer) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def wait_for(consumers: list[Consumer], done: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Polls every consumer (their callbacks run in poll) until done() or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in consumers:
            m = c.poll(0.05)
            assert m is None, f"unexpected record while waiting for {what}: {m.value() if m.error() is None else m.error()}"
        if done():
            return
    raise AssertionError(f"not within {timeout}s: {what}; assignments {[sorted(assigned(c)) for c in consumers]}")


class Reader:
    """Consumes with several consumers, committing after every record (synchronously): what was
    read and committed is never read again by the group."""

    def __init__(self, consumers: list[Consumer]) -> None:
        self.consumers = list(consumers)
        self.seen: list[tuple[int, int, bytes]] = []  # (consumer index, partition, value)

    def read(self, n: int, timeout: float = 40.0) -> None:
        deadline = time.monotonic() + timeout
        target = len(self.seen) + n
        while len(self.seen) < target and time.monotonic() < deadline:
            for i, c in enumerate(self.consumers):
                if c is None:
                    continue
                m = c.poll(0.05)
                if m is None:
                    continue
                if m.error() is not None:
                    raise KafkaException(m.error())
                self.seen.append((i, m.partition(), m.value()))
                c.commit(message=m, asynchronous=False)
        assert len(self.seen) >= target, f"read {len(self.seen)} of {target} within {timeout}s"

    def values(self) -> Counter:
        return Counter(v for _, _, v in self.seen)


def test_single_consumer_gets_every_partition_and_admin_sees_a_consumer_group(kbroker):
    from confluent_kafka import ConsumerGroupState, ConsumerGroupType

    topic = unique_topic("k848-one")
    create_topic(kbroker.bootstrap, topic, 4)
    produce(kbroker.bootstrap, topic, 40, 4)
    group = unique_topic("g")
    c = new_consumer(kbroker.bootstrap, group)
    try:
        c.subscribe([topic])
        r = Reader([c])
        r.read(40)
        assert assigned(c) == {0, 1, 2, 3}
        assert sorted(r.values()) == sorted(b"%d" % i for i in range(40)) and max(r.values().values()) == 1
        admin = AdminClient({"bootstrap.servers": kbroker.bootstrap})
        listing = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
        mine = [g for g in listing.valid if g.group_id == group]
        assert len(mine) == 1 and mine[0].type == ConsumerGroupType.CONSUMER, mine
        assert mine[0].state == ConsumerGroupState.STABLE and not mine[0].is_simple_consumer_group
        desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
        assert desc.type == ConsumerGroupType.CONSUMER and desc.state == ConsumerGroupState.STABLE, desc
        assert len(desc.members) == 1
        parts = {(tp.topic, tp.partition) for tp in desc.members[0].assignment.topic_partitions}
        assert parts == {(topic, p) for p in range(4)}
    finally:
        c.close()
    # The committed offsets are the group's, as for any group.
    admin = AdminClient({"bootstrap.servers": kbroker.bootstrap})
    from confluent_kafka import ConsumerGroupTopicPartitions

    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)[group].result(timeout=15)
    assert {(tp.partition, tp.offset) for tp in res.topic_partitions} == {(p, 10) for p in range(4)}
