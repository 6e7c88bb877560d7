"""Transactions in a cluster: markers reach partitions led by other brokers (WriteTxnMarkers), and the
transaction coordinator follows the leadership of its __transaction_state partition (SIGKILL of the
coordinator mid-transaction: the new leader loads the state and the commit completes)."""

from __future__ import annotations

import time

import confluent_kafka
import pytest

from .conftest import Cluster, wait_until

TOPIC = "payments"
PARTITIONS = 3
TXN_OVERRIDES = {"transaction.state.log.num.partitions": "3", "transaction.state.log.replication.factor": "3"}


def _start(cluster: Cluster) -> None:
    for i in (1, 2, 3):
        cluster.add_broker(i, **TXN_OVERRIDES)
    cluster.wait_brokers([1, 2, 3])
    cluster.create_topic(TOPIC, PARTITIONS, 3, {"min.insync.replicas": "2"})
    cluster.wait_isr_full(TOPIC)


def _producer(cluster: Cluster, tid: str) -> confluent_kafka.Producer:
    p = confluent_kafka.Producer({"bootstrap.servers": cluster.bootstrap, "transactional.id": tid, "linger.ms": 5,
                                  "transaction.timeout.ms": 60000, "socket.timeout.ms": 5000,
                                  "topic.metadata.refresh.interval.ms": 1000})
    p.init_transactions(60)
    return p


def _read_committed(cluster: Cluster, expect: int, timeout: float = 45.0) -> list[bytes]:
    c = confluent_kafka.Consumer({"bootstrap.servers": cluster.bootstrap, "group.id": f"reader-{time.monotonic_ns()}",
                                  "isolation.level": "read_committed", "auto.offset.reset": "earliest",
                                  "enable.auto.commit": False, "enable.partition.eof": True})
    c.assign([confluent_kafka.TopicPartition(TOPIC, i, 0) for i in range(PARTITIONS)])
    out: list[bytes] = []
    eof: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not (len(out) >= expect and len(eof) == PARTITIONS):
            m = c.poll(0.3)
            if m is None:
                continue
            if m.error():
                if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    eof.add(m.partition())
                continue
            eof.discard(m.partition())
            out.append(m.value())
    finally:
        c.close()
    return out


def _txn_coordinator(cluster: Cluster, tid: str) -> int:
    from pystream.protocol.client import KafkaClient

    with KafkaClient(cluster.live_bootstrap(), timeout=3.0, retries=0) as c:
        return c.find_coordinator(tid, key_type=1)


def test_commit_and_abort_across_partition_leaders(cluster: Cluster) -> None:
    _start(cluster)
    leaders = {cluster.leader(TOPIC, i) for i in range(PARTITIONS)}
    assert len(leaders) > 1, "the test wants partitions led by different brokers"
    p = _producer(cluster, "tx-spread")
    p.begin_transaction()
    for i in range(30):
        p.produce(TOPIC, b"c%d" % i, partition=i % PARTITIONS)
    p.commit_transaction(60)
    p.begin_transaction()
    for i in range(30):
        p.produce(TOPIC, b"a%d" % i, partition=i % PARTITIONS)
    assert p.flush(30) == 0
    p.abort_transaction(60)
    got = _read_committed(cluster, 30)
    assert sorted(got) == sorted(b"c%d" % i for i in range(30))


@pytest.mark.parametrize("victim", ["coordinator"])
def test_transaction_survives_a_sigkill_of_its_coordinator(cluster: Cluster, victim: str) -> None:
    _start(cluster)
    tid = "tx-failover"
    p = _producer(cluster, tid)
    coordinator = wait_until(lambda: _txn_coordinator(cluster, tid) + 1, what="a transaction coordinator") - 1
    p.begin_transaction()
    for i in range(30):
        p.produce(TOPIC, b"v%d" % i, partition=i % PARTITIONS)
    assert p.flush(30) == 0
    cluster.brokers[coordinator].kill()  # the transaction is open (Ongoing) in its log
    wait_until(lambda: _txn_coordinator(cluster, tid) not in (coordinator, -1), timeout=30,
               what="a new transaction coordinator")
    p.commit_transaction(90)
    got = _read_committed(cluster, 30)
    assert sorted(got) == sorted(b"v%d" % i for i in range(30))
