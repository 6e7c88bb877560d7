"""Issue 10, defect 3: CreatePartitions through the controller, topic configs in ZooKeeper.

Both with confluent-kafka's AdminClient (a real Kafka client) against three brokers.
"""

from __future__ import annotations

import confluent_kafka
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions

from pystream.protocol.client import KafkaClient

from .conftest import Cluster, wait_until
from .e2e_helpers import make_value, read_partitions

TOPIC = "grow"


def _produce(bootstrap: str, topic: str, partition: int, values: list[bytes], **conf: object) -> list[str]:
    """acks=all produce of `values`; the delivery errors (empty: all acknowledged)."""
    errors: list[str] = []
    p = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 20000,
                                 "topic.metadata.refresh.interval.ms": 1000, **conf})
    for v in values:
        p.produce(topic, v, partition=partition,
                  on_delivery=lambda err, msg: errors.append(err.name()) if err is not None else None)
    assert p.flush(30) == 0
    return errors


def test_create_partitions_through_the_controller(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, 1, 3, {"min.insync.replicas": "2"})
    assert not _produce(cluster.bootstrap, TOPIC, 0, [make_value(i) for i in range(50)])
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_partitions([NewPartitions(TOPIC, 3)])[TOPIC].result(30)
    parts = cluster.wait_isr_full(TOPIC, 30, what="the new partitions have leaders and full ISRs")
    assert sorted(parts) == [0, 1, 2]
    for p in (1, 2):
        assert len(parts[p]["replicas"]) == 3, parts[p]
    # Leaders go round robin over the brokers.
    assert len({parts[p]["leader"] for p in parts}) == 3, parts
    # Existing data untouched; the new partitions take records.
    for p in (1, 2):
        assert not _produce(cluster.bootstrap, TOPIC, p, [make_value(1000 * p + i) for i in range(10)])
    read = read_partitions(cluster.bootstrap, TOPIC, 3)
    assert [s for _, s in read[0]] == list(range(50))
    assert [s for _, s in read[1]] == [1000 + i for i in range(10)]
    # Not more than now: refused with Kafka's error.
    futures = admin.create_partitions([NewPartitions(TOPIC, 2)])
    try:
        futures[TOPIC].result(30)
        raise AssertionError("shrinking a topic was accepted")
    except confluent_kafka.KafkaException as e:
        assert e.args[0].name() == "INVALID_PARTITIONS", e
    # Every broker created the partitions' logs it replicates.
    for b in cluster.brokers.values():
        for p in (1, 2):
            assert (b.data_dir / f"{TOPIC}-{p}").is_dir() == (b.id in parts[p]["replicas"])


def _described(cluster: Cluster, broker_id: int, key: str) -> str | None:
    with KafkaClient(cluster.brokers[broker_id].address, timeout=5, retries=0) as c:
        return c.describe_configs(TOPIC, keys=[key])[key]["value"]


def test_topic_configs_live_in_zookeeper_and_every_broker_applies_them(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, 1, 3, {"min.insync.replicas": "2"})
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    res = ConfigResource(ConfigResource.Type.TOPIC, TOPIC, incremental_configs=[
        ConfigEntry("max.message.bytes", "2000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET)])
    for fut in admin.incremental_alter_configs([res]).values():
        fut.result(30)
    assert cluster.zk_get(f"/config/topics/{TOPIC}")["config"] == {
        "max.message.bytes": "2000", "min.insync.replicas": "2", "retention.ms": "3600000"}
    for b in (1, 2, 3):  # every broker, not only the one that took the request
        wait_until(lambda b=b: _described(cluster, b, "max.message.bytes") == "2000", 10,
                   what=f"broker {b} applies max.message.bytes=2000")
    big = b"x" * 5000

    def refused_everywhere() -> None:
        errors = _produce(cluster.live_bootstrap(), TOPIC, 0, [big], **{"message.max.bytes": 100000})
        assert errors == ["MSG_SIZE_TOO_LARGE"], errors

    refused_everywhere()
    # The leader changes: the new leader enforces the same config.
    old = cluster.leader(TOPIC, 0)
    cluster.brokers[old].kill()
    wait_until(lambda: cluster.leader(TOPIC, 0) not in (-1, old), 20, what="a new leader")
    refused_everywhere()
    # A restarted broker has it too, and a removal reaches every broker.
    cluster.brokers[old].start()
    cluster.wait_brokers([old])
    assert _described(cluster, old, "max.message.bytes") == "2000"
    res = ConfigResource(ConfigResource.Type.TOPIC, TOPIC, incremental_configs=[
        ConfigEntry("max.message.bytes", None, incremental_operation=AlterConfigOpType.DELETE)])
    for fut in admin.incremental_alter_configs([res]).values():
        fut.result(30)
    for b in (1, 2, 3):
        wait_until(lambda b=b: _described(cluster, b, "max.message.bytes") != "2000", 10,
                   what=f"broker {b} drops max.message.bytes")
        assert _described(cluster, b, "retention.ms") == "3600000"
    cluster.wait_isr_full(TOPIC, 30)
    assert not _produce(cluster.bootstrap, TOPIC, 0, [big], **{"message.max.bytes": 100000})
