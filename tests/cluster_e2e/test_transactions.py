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


def test_a_partition_leader_asks_a_remote_coordinator_kip890(cluster: Cluster) -> None:
    """A transactional batch to a partition led by another broker than the coordinator is checked
    with the coordinator (AddPartitionsToTxn v4, verify-only): refused until the partition is added."""
    from pystream.protocol.client import KafkaClient
    from pystream.protocol.schema_data import ApiKey
    from pystream.storage.records import ATTR_TRANSACTIONAL, Record, encode_batch

    _start(cluster)
    with KafkaClient(cluster.bootstrap, timeout=5.0) as c:
        tid = next(t for t in (f"tx-{i}" for i in range(100))
                   if c.find_coordinator(t, key_type=1) != cluster.leader(TOPIC, 0))
        coord = c.connection(c.find_coordinator(tid, key_type=1))
        init = coord.request(ApiKey.INIT_PRODUCER_ID, {"transactional_id": tid, "transaction_timeout_ms": 60000,
                                                      "producer_id": -1, "producer_epoch": -1}, 4)
        assert init["error_code"] == 0
        pid, epoch = init["producer_id"], init["producer_epoch"]
        leader = c.connection(cluster.leader(TOPIC, 0))

        def produce(seq: int) -> int:
            batch = encode_batch(0, [Record(0, 1, None, b"v%d" % seq)], producer_id=pid, producer_epoch=epoch,
                                 base_sequence=seq, attributes_extra=ATTR_TRANSACTIONAL)
            r = leader.request(ApiKey.PRODUCE, {"transactional_id": tid, "acks": -1, "timeout_ms": 10000, "topic_data": [
                {"name": TOPIC, "partition_data": [{"index": 0, "records": batch}]}]}, 8)
            return r["responses"][0]["partition_responses"][0]["error_code"]

        assert produce(0) == 48  # INVALID_TXN_STATE: not in the transaction
        add = coord.request(ApiKey.ADD_PARTITIONS_TO_TXN, {
            "v3_and_below_transactional_id": tid, "v3_and_below_producer_id": pid, "v3_and_below_producer_epoch": epoch,
            "v3_and_below_topics": [{"name": TOPIC, "partitions": [0]}]}, 3)
        assert add["results_by_topic_v3_and_below"][0]["results_by_partition"][0]["partition_error_code"] == 0
        assert produce(0) == 0
        end = coord.request(ApiKey.END_TXN, {"transactional_id": tid, "producer_id": pid, "producer_epoch": epoch,
                                            "committed": True}, 3)
        assert end["error_code"] == 0
        assert produce(1) == 48  # the transaction is over: a late write is refused
    assert _read_committed(cluster, 1) == [b"v0"]
