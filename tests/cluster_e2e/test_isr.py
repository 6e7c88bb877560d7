"""(b) SIGSTOP followers: the ISR shrinks, acks=all honours min.insync.replicas, paused brokers rejoin."""

from __future__ import annotations

import threading

import confluent_kafka

from .conftest import Cluster, wait_until
from .e2e_helpers import ProducerRun, check_exactly_once, make_value, parse_value, read_partitions

TOPIC = "isr"


def _isr(cluster: Cluster) -> list[int]:
    return sorted(cluster.partitions(TOPIC)[0]["isr"])


def test_paused_followers_shrink_isr_and_min_insync_replicas_holds(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, 1, 3, {"min.insync.replicas": "2"})
    state = cluster.partitions(TOPIC)[0]
    leader = state["leader"]
    followers = [r for r in state["replicas"] if r != leader]
    assert len(followers) == 2, state

    # --- one follower paused: ISR shrinks to 2, acks=all goes on --------------------------
    f = followers[0]
    cluster.brokers[f].pause()
    wait_until(lambda: f not in _isr(cluster) and len(_isr(cluster)) == 2, 20,
               what=f"ISR shrinks without paused broker {f}")
    # Until its ZooKeeper session expires the paused broker is still in Metadata, and a new
    # producer may send it InitProducerId and hang there (as with Kafka): wait until it is gone.
    wait_until(lambda: f not in cluster.metadata()["brokers"], 20, what=f"paused broker {f} leaves Metadata")
    run = ProducerRun(cluster.live_bootstrap(), TOPIC, 1, limit=400, rate=400).start()
    try:
        run.wait_acked(300, timeout=30)
    finally:
        assert run.stop(30) == 0
    assert not run.failed, list(run.failed.items())[:5]

    # --- resumed: rejoins the ISR ---------------------------------------------------------
    cluster.brokers[f].resume()
    cluster.wait_isr_full(TOPIC, 30, what=f"broker {f} rejoins the ISR after SIGCONT")

    # --- two of three paused: acks=all is refused (or times out), nothing is acknowledged --
    for b in followers:
        cluster.brokers[b].pause()
    wait_until(lambda: _isr(cluster) == [leader], 20, what=f"ISR shrinks to the leader {leader} alone")
    # Metadata shows the ISR once it is in ZooKeeper, which can be before the leader applies it in
    # memory (the controller shrinks it when the paused brokers' sessions expire): probe the leader
    # until it refuses acks=all. (A probe in flight across that switch is the race of
    # test_in_flight_ack_all_when_isr_shrinks_below_min below.)
    probes = iter(range(500_000, 500_100))

    def leader_refuses() -> bool:
        from pystream._core import encode_batch
        from pystream.protocol.client import KafkaClient, KafkaError

        with KafkaClient(cluster.brokers[leader].address, timeout=10, retries=0) as c:
            try:
                c.produce(TOPIC, 0, encode_batch([(0, None, make_value(next(probes)), None)]), acks=-1,
                          timeout_ms=1000)
            except KafkaError as e:
                return e.name == "NOT_ENOUGH_REPLICAS"
        return False

    wait_until(leader_refuses, 20, interval=0.2, what=f"leader {leader} refuses acks=all with ISR [{leader}]")
    errors: list[str] = []
    acked_while_short: list[int] = []

    def on_delivery(err: confluent_kafka.KafkaError | None, msg: confluent_kafka.Message) -> None:
        if err is None:
            acked_while_short.append(msg.offset())
        else:
            errors.append(err.name())

    p = confluent_kafka.Producer({"bootstrap.servers": cluster.live_bootstrap(), "acks": "all",
                                 "message.timeout.ms": 5000, "retry.backoff.ms": 200})
    for i in range(20):
        p.produce(TOPIC, make_value(1_000_000 + i), partition=0, on_delivery=on_delivery)
    assert p.flush(20) == 0
    assert not acked_while_short, f"acks=all acknowledged with ISR=[{leader}] < min.insync.replicas=2"
    assert len(errors) == 20
    assert set(errors) <= {"NOT_ENOUGH_REPLICAS", "_MSG_TIMED_OUT", "REQUEST_TIMED_OUT",
                           "NOT_ENOUGH_REPLICAS_AFTER_APPEND"}, set(errors)

    # --- both resumed: full ISR, every acknowledged record still there --------------------
    for b in followers:
        cluster.brokers[b].resume()
    cluster.wait_isr_full(TOPIC, 30, what="both paused brokers rejoin the ISR")
    read = read_partitions(cluster.bootstrap, TOPIC, 1)
    stats = check_exactly_once(run, read)
    refused = [s for _, s in read[0] if s >= 1_000_000]
    print(f"{stats}; refused-but-present {len(refused)}; errors {sorted(set(errors))}")
    # A record refused with NOT_ENOUGH_REPLICAS was never appended.
    if set(errors) == {"NOT_ENOUGH_REPLICAS"}:
        assert not refused, refused
    assert all(parse_value(make_value(s)) == s for s in refused)


def test_in_flight_ack_all_when_isr_shrinks_below_min(cluster: Cluster) -> None:
    """An acks=all produce released by an ISR shrink below min.insync.replicas is not an ack
    (Kafka: NOT_ENOUGH_REPLICAS_AFTER_APPEND, Partition.checkEnoughReplicasReachOffset)."""
    from pystream._core import encode_batch
    from pystream.protocol.client import KafkaClient, KafkaError

    cluster.start(3)
    cluster.create_topic(TOPIC, 1, 3, {"min.insync.replicas": "2"})
    state = cluster.partitions(TOPIC)[0]
    leader = state["leader"]
    followers = [r for r in state["replicas"] if r != leader]
    outcome: dict[str, object] = {}

    def produce() -> None:
        with KafkaClient(cluster.brokers[leader].address, timeout=30, retries=0) as c:
            try:
                outcome["ok"] = c.produce(TOPIC, 0, encode_batch([(0, None, b"in-flight", None)]), acks=-1,
                                          timeout_ms=20000)
            except KafkaError as e:
                outcome["error"] = e.name

    for b in followers:
        cluster.brokers[b].pause()
    t = threading.Thread(target=produce)
    t.start()  # admitted with ISR = all three, waits for the paused followers
    wait_until(lambda: _isr(cluster) == [leader], 20, what="ISR shrinks to the leader alone")
    t.join(25)
    assert not t.is_alive()
    # Released by the shrink, but only one replica has the record: not an acknowledgement.
    assert outcome.get("error") == "NOT_ENOUGH_REPLICAS_AFTER_APPEND", outcome
