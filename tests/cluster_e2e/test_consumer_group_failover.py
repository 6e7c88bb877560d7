"""A KIP-848 consumer group (group.protocol=consumer) survives a SIGKILL of its coordinator: the new
leader of the group's __consumer_offsets partition rebuilds the group from the replicated records,
and the members carry on with the same epochs and partitions (no rebalance), losing nothing
committed."""

from __future__ import annotations

import time

import confluent_kafka
import pytest

from .conftest import Cluster, wait_until
from .e2e_helpers import make_value, parse_value

TOPIC = "events"
GROUP = "k848"
PARTITIONS = 4
OVERRIDES = {"group_consumer_heartbeat_interval_ms": "300", "group_consumer_session_timeout_ms": "15000"}

pytestmark = pytest.mark.skipif(
    tuple(int(x) for x in confluent_kafka.libversion()[0].split(".")[:2]) < (2, 10),
    reason="librdkafka >= 2.10 has the consumer group protocol (group.protocol=consumer)")


def _describe(cluster: Cluster, coordinator: int) -> dict:
    """ConsumerGroupDescribe asked of the coordinator: (group epoch, {member: (epoch, partitions)})."""
    from pystream.protocol.client import KafkaClient

    with KafkaClient(cluster.brokers[coordinator].address, timeout=3.0, retries=0) as c:
        g = c.request(69, {"group_ids": [GROUP], "include_authorized_operations": False}, version=0)["groups"][0]
    assert g["error_code"] == 0, g
    return {"epoch": g["group_epoch"], "members": {
        m["member_id"]: (m["member_epoch"], sorted(p for tp in m["assignment"]["topic_partitions"] for p in tp["partitions"]))
        for m in g["members"]}}


def _coordinator(cluster: Cluster) -> int:
    from pystream.protocol.client import KafkaClient

    with KafkaClient(cluster.live_bootstrap(), timeout=3.0, retries=0) as c:
        return c.find_coordinator(GROUP)


def test_consumer_group_survives_coordinator_kill(cluster: Cluster) -> None:
    for i in (1, 2, 3):
        cluster.add_broker(i, **OVERRIDES)
    cluster.wait_brokers([1, 2, 3])
    cluster.create_topic(TOPIC, PARTITIONS, 3, {})
    p = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all"})

    def produce(start: int, n: int) -> None:
        for seq in range(start, start + n):
            p.produce(TOPIC, make_value(seq), partition=seq % PARTITIONS)
        assert p.flush(30) == 0

    produce(0, 200)
    coordinator = wait_until(lambda: _coordinator(cluster), 10, what="a group coordinator")
    cluster.wait_isr_full("__consumer_offsets", 20)
    consumers = [confluent_kafka.Consumer({
        "bootstrap.servers": cluster.bootstrap, "group.id": GROUP, "group.protocol": "consumer",
        "enable.auto.commit": False, "auto.offset.reset": "earliest", "socket.timeout.ms": 5000,
        "topic.metadata.refresh.interval.ms": 1000}) for _ in range(2)]
    seen: list[int] = []
    committed: dict[int, int] = {}

    def poll_all(until, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, f"not within {timeout} s: {what} (read {len(seen)})"
            for c in consumers:
                m = c.poll(0.1)
                if m is None or m.error():
                    continue  # errors while the coordinator moves are retriable
                assert m.offset() >= committed.get(m.partition(), 0), "a committed record came again"
                seen.append(parse_value(m.value()))
                try:
                    c.commit(message=m, asynchronous=False)
                except confluent_kafka.KafkaException:
                    continue  # not committed (the coordinator is moving, or a stale epoch): may come again
                committed[m.partition()] = max(committed.get(m.partition(), 0), m.offset() + 1)

    try:
        for c in consumers:
            c.subscribe([TOPIC])
        poll_all(lambda: len(set(seen)) == 200 and [len(c.assignment()) for c in consumers] == [2, 2], 60,
                 "the first 200 records, two partitions each")
        before = _describe(cluster, coordinator)
        assignments = [sorted(tp.partition for tp in c.assignment()) for c in consumers]
        cluster.brokers[coordinator].kill()
        new = wait_until(lambda: (lambda c: c if c != coordinator else None)(_coordinator(cluster)), 30,
                         what=f"a new coordinator after killing broker {coordinator}")
        produce(200, 200)
        poll_all(lambda: len(set(seen)) == 400, 60, "the records produced after the kill")
        after = _describe(cluster, new)
        # The new coordinator rebuilt the group from the replicated records: same members, epochs
        # and partitions, no rebalance.
        assert after == before, (before, after)
        assert [sorted(tp.partition for tp in c.assignment()) for c in consumers] == assignments
        assert sorted(set(seen)) == list(range(400))
    finally:
        for c in consumers:
            c.close()
