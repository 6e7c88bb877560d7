"""Lead's note on issue 10: deleting a topic deletes its committed offsets by tombstones written
by each offsets partition's leader only; the followers copy them, so every replica of
__consumer_offsets stays byte-for-byte the same."""

from __future__ import annotations

import time

import confluent_kafka
from confluent_kafka.admin import AdminClient

from pystream.coordinator.offsets import OFFSETS_TOPIC, decode_offset_key, partition_for_group

from .conftest import Cluster, wait_until
from .e2e_helpers import replica_records

TOPIC = "doomed"
GROUPS = [f"g{i}" for i in range(6)]


def test_deleted_topic_offsets_are_tombstoned_once_by_the_leader(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, 2, 3, {"min.insync.replicas": "2"})
    cluster.create_topic("kept", 1, 3)
    for g in GROUPS:
        c = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": g,
                                      "enable.auto.commit": False})
        try:
            c.commit(offsets=[confluent_kafka.TopicPartition(TOPIC, 0, 5), confluent_kafka.TopicPartition(TOPIC, 1, 7),
                              confluent_kafka.TopicPartition("kept", 0, 3)], asynchronous=False)
        finally:
            c.close()
    n = len(cluster.partitions(OFFSETS_TOPIC))
    assert {partition_for_group(g, n) for g in GROUPS} == set(range(n))  # every offsets partition used
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.delete_topics([TOPIC])[TOPIC].result(30)
    wait_until(lambda: all(not (b.data_dir / f"{TOPIC}-0").exists() for b in cluster.brokers.values()), 20,
               what="every broker deleted its replicas")

    def offsets_gone() -> bool:
        c = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": GROUPS[0]})
        try:
            got = c.committed([confluent_kafka.TopicPartition(TOPIC, 0), confluent_kafka.TopicPartition("kept", 0)],
                              timeout=10)
        finally:
            c.close()
        return got[0].offset < 0 and got[1].offset == 3

    wait_until(offsets_gone, 20, what="the deleted topic's committed offsets are gone, the others kept")
    cluster.wait_isr_full(OFFSETS_TOPIC, 20)
    time.sleep(1.5)  # the followers' next fetches carry the tombstones over
    cluster.shutdown()
    for p in range(n):
        replicas = {b.id: replica_records(b.data_dir, OFFSETS_TOPIC, p) for b in cluster.brokers.values()}
        first = next(iter(replicas.values()))
        for bid, got in replicas.items():
            assert got[1] == first[1], f"{OFFSETS_TOPIC}-{p}: broker {bid}'s replica differs"
        tombstones = [decode_offset_key(r.key) for r in first[2] if r.value is None]
        expected = sorted((g, TOPIC, q) for g in GROUPS if partition_for_group(g, n) == p for q in (0, 1))
        assert sorted(tombstones) == expected, (p, tombstones)
