"""Issue 10, item 5: a follower whose log ends below the leader's log start starts over at the
leader's log start (Kafka's truncateFullyAndStartAt) instead of backing off for ever; every
broker checkpoints its replicas' high watermarks (replication-offset-checkpoint)."""

from __future__ import annotations

import confluent_kafka
from confluent_kafka.admin import AdminClient

from .conftest import Cluster, wait_until
from .e2e_helpers import make_value

TOPIC = "trimmed"


def _produce(cluster: Cluster, start: int, n: int) -> None:
    p = confluent_kafka.Producer({"bootstrap.servers": cluster.live_bootstrap(), "acks": "all",
                                 "enable.idempotence": True, "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(TOPIC, make_value(i), partition=0)
    assert p.flush(30) == 0


def test_follower_below_leader_log_start_rejoins(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, 1, 3, {"min.insync.replicas": "2"})
    _produce(cluster, 0, 20)
    leader = cluster.leader(TOPIC, 0)
    victim = next(r for r in cluster.partitions(TOPIC)[0]["replicas"] if r != leader)
    cluster.brokers[victim].kill()
    wait_until(lambda: victim not in cluster.zk_state(TOPIC, 0)["isr"], 15, what=f"broker {victim} leaves the ISR")
    wait_until(lambda: victim not in cluster.metadata()["brokers"], 15, what=f"broker {victim}'s session ends")
    _produce(cluster, 20, 200)
    admin = AdminClient({"bootstrap.servers": cluster.live_bootstrap()})
    done = admin.delete_records([confluent_kafka.TopicPartition(TOPIC, 0, 150)])
    for fut in done.values():
        assert fut.result(30).low_watermark == 150
    cluster.brokers[victim].start()
    cluster.wait_isr_full(TOPIC, 30, what=f"broker {victim} (log end 20 < leader's log start 150) rejoins")
    _produce(cluster, 220, 10)
    # Every broker checkpoints its replicas' high watermarks; the restarted one starts at 150.
    from pystream.replication.hw_checkpoint import read_hw_checkpoint

    wait_until(lambda: all(read_hw_checkpoint(b.data_dir).get((TOPIC, 0)) == 230 for b in cluster.brokers.values()),
               20, what="every broker checkpoints high watermark 230")
    cluster.shutdown()
    from pystream.storage.log import Log

    with Log.open(cluster.brokers[victim].data_dir / f"{TOPIC}-0") as log:
        assert (log.start_offset, log.end_offset) == (150, 230)
