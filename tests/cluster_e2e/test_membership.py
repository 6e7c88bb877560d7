"""Issue 10, defects 1 and 2: who may be in an ISR.

1. A broker killed while its partitions are idle leaves their ISR when its ZooKeeper session
   ends and is not put back by the leader (its last fetch before dying proves nothing).
2. A reassignment's last phase leaves the removed replicas out of the ISR (ZooKeeper's state
   included), the removed broker deletes its replica, and acks=all never waits on it.
"""

from __future__ import annotations

import time

from pystream._core import encode_batch
from pystream.protocol.client import KafkaClient, KafkaError

from .conftest import Cluster, wait_until
from .test_reassign import _cli

TOPIC = "idle"


def _produce_all(cluster: Cluster, leader: int, topic: str, value: bytes, timeout_ms: int = 10000) -> tuple[str, float]:
    """One acks=all produce straight to `leader`: ("ok" or the error name, seconds it took)."""
    t0 = time.monotonic()
    with KafkaClient(cluster.brokers[leader].address, timeout=timeout_ms / 1000 + 10, retries=0) as c:
        try:
            c.produce(topic, 0, encode_batch([(0, None, value, None)]), acks=-1, timeout_ms=timeout_ms)
            outcome = "ok"
        except KafkaError as e:
            outcome = e.name
    return outcome, time.monotonic() - t0


def test_killed_follower_of_idle_partition_leaves_isr_and_stays_out(cluster: Cluster) -> None:
    # A follower's last fetch stays "recent" for replica.lag.time.max.ms (30 s, the default), longer than
    # the ZooKeeper session (4 s): the window in which the leader used to re-add the dead broker.
    for i in (1, 2, 3):
        cluster.add_broker(i, replica_lag_time_max_ms="30000")
    cluster.wait_brokers([1, 2, 3])
    cluster.create_topic(TOPIC, 1, 3, {"min.insync.replicas": "2"})
    state = cluster.partitions(TOPIC)[0]
    leader = state["leader"]
    victim = next(r for r in state["replicas"] if r != leader)
    log_before = len(cluster.brokers[leader].log_path.read_text())
    cluster.brokers[victim].kill()
    wait_until(lambda: victim not in cluster.zk_state(TOPIC, 0)["isr"], 15,
               what=f"killed broker {victim} leaves the ISR when its session ends")
    # ... and stays out: the leader must not put it back.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        isr = cluster.zk_state(TOPIC, 0)["isr"]
        assert victim not in isr, f"dead broker {victim} back in the ISR {isr}"
        time.sleep(0.3)
    assert victim not in cluster.partitions(TOPIC)[0]["isr"]
    outcome, took = _produce_all(cluster, leader, TOPIC, b"after-kill")
    assert outcome == "ok", outcome
    assert took < 5, f"acks=all took {took:.1f} s: it waited on the dead broker"
    readded = [line for line in cluster.brokers[leader].log_path.read_text()[log_before:].splitlines()
               if "ISR" in line and line.rstrip().endswith(str(sorted(state["replicas"])))]
    assert not readded, readded
    # Restarted, it fetches again and rejoins.
    cluster.brokers[victim].start()
    cluster.wait_isr_full(TOPIC, 30, what=f"restarted broker {victim} rejoins the ISR")


def test_reassignment_drops_removed_replica_from_isr_and_deletes_its_data(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic("orders", 1, 3, {"min.insync.replicas": "2"})
    assert sorted(cluster.partitions("orders")[0]["replicas"]) == [1, 2, 3]
    with cluster.client() as c:
        for i in range(20):
            c.produce("orders", 0, encode_batch([(0, None, b"v%d" % i, None)]), acks=-1)
    cluster.add_broker(4)
    cluster.wait_brokers([4])
    r = _cli(cluster, "--topic", "orders", "--all-partitions", "--replicas", "2,3,4", "--wait", "--timeout", "60")
    assert r.returncode == 0, r.stdout + r.stderr
    # ZooKeeper's ISR is within the new replicas, and stays so.
    wait_until(lambda: sorted(cluster.zk_state("orders", 0)["isr"]) == [2, 3, 4], 20,
               what="ISR == the new replicas [2, 3, 4] in ZooKeeper")
    time.sleep(2)
    assert sorted(cluster.zk_state("orders", 0)["isr"]) == [2, 3, 4], cluster.zk_state("orders", 0)
    # Broker 1 stopped its replica and deleted it (StopReplica with delete).
    wait_until(lambda: not (cluster.brokers[1].data_dir / "orders-0").exists(), 15,
               what="broker 1 deletes its old replica's directory")
    # With brokers 3 and 4 dead, acks=all is refused at once instead of waiting on broker 1.
    leader = cluster.zk_state("orders", 0)["leader"]
    for b in (2, 3, 4):
        if b != leader:
            cluster.brokers[b].kill()
    wait_until(lambda: cluster.zk_state("orders", 0)["isr"] == [leader], 20, what=f"ISR shrinks to [{leader}]")
    outcome, took = _produce_all(cluster, leader, "orders", b"no-quorum")
    assert outcome == "NOT_ENOUGH_REPLICAS", outcome
    assert took < 5, f"acks=all took {took:.1f} s"
