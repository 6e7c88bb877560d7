"""Admin APIs as Kafka answers them, with real clients against a real broker (issue 9):
DescribeLogDirs, manual replica assignment, authorized operations (KIP-430), and errors
a client treats as final."""

from __future__ import annotations

import shutil
import time

import pytest
from compat_helpers import RawClient, create_topic, unique_topic
from confluent_kafka import Producer
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey


def kafka_python_admin(bootstrap: str):
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)


def fill(bootstrap: str, topic: str, per_partition: dict[int, int], size: int = 1000) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for part, n in per_partition.items():
        for _ in range(n):
            p.produce(topic, b"x" * size, partition=part)
    assert p.flush(20) == 0


# ---------------------------------------------------------------------------- DescribeLogDirs


def test_describe_log_dirs_kafka_python(broker):
    topic, other = unique_topic("ld"), unique_topic("ld2")
    create_topic(broker.bootstrap, topic, 3)
    create_topic(broker.bootstrap, other, 1)
    fill(broker.bootstrap, topic, {0: 50, 2: 5})
    admin = kafka_python_admin(broker.bootstrap)
    try:
        (resp,) = admin.describe_log_dirs()
        (only,) = admin.describe_log_dirs({topic: [0, 2, 9]})
    finally:
        admin.close()
    assert resp["broker"] == 0
    (d,) = resp["log_dirs"]
    assert d["error_code"] == 0 and d["log_dir"] == str(broker.data_dir.resolve())
    sizes = {(t["name"], p["partition_index"]): p for t in d["topics"] for p in t["partitions"]}
    assert {(topic, 0), (topic, 1), (topic, 2), (other, 0)} <= set(sizes)
    assert sizes[(topic, 0)]["partition_size"] > 50 * 1000 > sizes[(topic, 2)]["partition_size"] > 5 * 1000
    assert sizes[(topic, 1)]["partition_size"] == 0 == sizes[(other, 0)]["partition_size"]
    assert all(p["offset_lag"] == 0 and p["is_future_key"] is False for p in sizes.values())
    # asked for some partitions: those it holds, nothing else
    (d,) = only["log_dirs"]
    assert [(t["name"], sorted(p["partition_index"] for p in t["partitions"])) for t in d["topics"]] == [(topic, [0, 2])]


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
def test_describe_log_dirs_versions_raw(module_broker, version):
    topic = unique_topic("ldv")
    create_topic(module_broker.bootstrap, topic, 1)
    fill(module_broker.bootstrap, topic, {0: 3})
    with RawClient(module_broker.host, module_broker.port) as rc:
        r = rc.request(ApiKey.DESCRIBE_LOG_DIRS, version, {"topics": [{"topic": topic, "partitions": [0]}]})
    (d,) = r["results"]
    assert d["topics"][0]["name"] == topic and d["topics"][0]["partitions"][0]["partition_size"] > 3000
    if version >= 4:
        usage = shutil.disk_usage(module_broker.data_dir)
        assert d["total_bytes"] == usage.total
        assert 0 < d["usable_bytes"] <= usage.total


# ---------------------------------------------------------------------------- manual replica assignment


def test_manual_assignment_confluent(broker):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    good, bad = unique_topic("asg"), unique_topic("asg-bad")
    admin.create_topics([NewTopic(good, 3, replica_assignment=[[0], [0], [0]])])[good].result(15)
    md = admin.list_topics(good, timeout=10).topics[good]
    assert sorted(md.partitions) == [0, 1, 2] and all(p.replicas == [0] for p in md.partitions.values())
    cases = {bad + "-dead": [[0], [1]], bad + "-dup": [[0, 0]], bad + "-ragged": [[0], [0, 1]]}
    futs = admin.create_topics([NewTopic(n, len(a), replica_assignment=a) for n, a in cases.items()])
    for name, fut in futs.items():
        with pytest.raises(Exception) as ei:
            fut.result(15)
        err = ei.value.args[0]
        assert err.code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, (name, err)
        assert err.str(), "the error carries a reason"
    assert "not live" in futs[bad + "-dead"].exception().args[0].str()
    assert bad + "-dead" not in admin.list_topics(timeout=10).topics
    # CreatePartitions with an assignment per new partition
    admin.create_partitions([NewPartitions(good, 5, replica_assignment=[[0], [0]])])[good].result(15)
    assert len(admin.list_topics(good, timeout=10).topics[good].partitions) == 5
    for assignment in ([[3]], [[0]], [[0, 0]]):  # a dead broker; one assignment for two partitions; a duplicate
        fut = admin.create_partitions([NewPartitions(good, 7, replica_assignment=assignment)])[good]
        with pytest.raises(Exception) as ei:
            fut.result(15)
        assert ei.value.args[0].code() == KafkaError.INVALID_REPLICA_ASSIGNMENT, (assignment, ei.value)
    assert len(admin.list_topics(good, timeout=10).topics[good].partitions) == 5


def test_manual_assignment_kafka_python(broker):
    from kafka.admin import NewPartitions, NewTopic
    from kafka.errors import InvalidReplicationAssignmentError

    topic = unique_topic("asg-kp")
    admin = kafka_python_admin(broker.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=-1, replication_factor=-1, replica_assignments={0: [0], 1: [0]})])
        admin.create_partitions({topic: NewPartitions(total_count=3, new_assignments=[[0]])})
        (desc,) = admin.describe_topics([topic])
        assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2]
        with pytest.raises(InvalidReplicationAssignmentError):
            admin.create_topics([NewTopic(topic + "-x", num_partitions=-1, replication_factor=-1,
                                          replica_assignments={0: [0], 1: [5]})])
    finally:
        admin.close()


# ---------------------------------------------------------------------------- authorized operations (KIP-430)

TOPIC_OPS = {"READ", "WRITE", "CREATE", "DELETE", "ALTER", "DESCRIBE", "DESCRIBE_CONFIGS", "ALTER_CONFIGS"}
GROUP_OPS = {"READ", "DESCRIBE", "DELETE"}
CLUSTER_OPS = {"CREATE", "ALTER", "DESCRIBE", "CLUSTER_ACTION", "DESCRIBE_CONFIGS", "ALTER_CONFIGS", "IDEMPOTENT_WRITE"}


def stable_group(bootstrap: str, topic: str) -> str:
    """A group with one member that has committed, then left (Empty)."""
    from confluent_kafka import Consumer, TopicPartition

    group = unique_topic("g")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    c.close()
    return group


def test_authorized_operations_kafka_python(broker):
    from kafka import TopicPartition

    topic = unique_topic("ops")
    create_topic(broker.bootstrap, topic, 2)
    fill(broker.bootstrap, topic, {0: 3})
    group = stable_group(broker.bootstrap, topic)
    admin = kafka_python_admin(broker.bootstrap)
    try:
        assert topic in admin.list_topics()
        (desc,) = admin.describe_topics([topic])
        assert set(desc["authorized_operations"]) == TOPIC_OPS
        cluster = admin.describe_cluster()
        assert set(cluster["authorized_operations"]) == CLUSTER_OPS and cluster["controller_id"] == 0
        groups = admin.describe_groups([group], include_authorized_operations=True)
        assert set(groups[group]["authorized_operations"]) == GROUP_OPS
        assert group in {g["group_id"] for g in admin.list_groups()}
        res = admin.delete_records({TopicPartition(topic, 0): 2})
        assert res[TopicPartition(topic, 0)]["low_watermark"] == 2
    finally:
        admin.close()


def test_authorized_operations_confluent(broker):
    from confluent_kafka import TopicCollection
    from confluent_kafka.admin import AdminClient

    topic = unique_topic("ops-cf")
    create_topic(broker.bootstrap, topic, 1)
    group = stable_group(broker.bootstrap, topic)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    cluster = admin.describe_cluster(include_authorized_operations=True).result(15)
    assert {op.name for op in cluster.authorized_operations} == CLUSTER_OPS
    t = admin.describe_topics(TopicCollection([topic]), include_authorized_operations=True)[topic].result(15)
    assert {op.name for op in t.authorized_operations} == TOPIC_OPS
    g = admin.describe_consumer_groups([group], include_authorized_operations=True)[group].result(15)
    assert {op.name for op in g.authorized_operations} == GROUP_OPS
    # not asked for: Kafka's "omitted" (confluent-kafka shows None)
    assert admin.describe_cluster().result(15).authorized_operations is None


def test_authorized_operations_omitted_unless_asked_raw(module_broker):
    topic = unique_topic("ops-raw")
    create_topic(module_broker.bootstrap, topic, 1)
    with RawClient(module_broker.host, module_broker.port) as rc:
        for ask in (False, True, False):
            r = rc.request(ApiKey.METADATA, 10, {"topics": [{"name": topic}], "allow_auto_topic_creation": False,
                                                 "include_cluster_authorized_operations": ask,
                                                 "include_topic_authorized_operations": ask})
            expected_topic = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11)) if ask else -2147483648
            assert r["topics"][0]["topic_authorized_operations"] == expected_topic
            assert r["cluster_authorized_operations"] == (sum(1 << op for op in (5, 7, 8, 9, 10, 11, 12)) if ask else -2147483648)


# ---------------------------------------------------------------------------- final errors, with a message

TXN_REASON = "transactions are not supported"


def test_transactional_producer_fails_fast_confluent(broker):
    """librdkafka treats TRANSACTIONAL_ID_AUTHORIZATION_FAILED on FindCoordinator as fatal:
    init_transactions() fails at once with the broker's reason (it retried INVALID_REQUEST
    until its timeout)."""
    from confluent_kafka import KafkaException

    p = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": unique_topic("txn")})
    t0 = time.monotonic()
    with pytest.raises(KafkaException) as ei:
        p.init_transactions(30)
    elapsed = time.monotonic() - t0
    err = ei.value.args[0]
    assert elapsed < 10, f"init_transactions took {elapsed:.1f}s: the error was retried"
    assert err.fatal() and TXN_REASON in err.str(), err
    # a plain idempotent producer on the same broker is unaffected
    q = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    q.produce(unique_topic("idem"), b"x")
    assert q.flush(20) == 0


def test_transactional_producer_fails_fast_kafka_python(broker):
    from kafka import KafkaProducer
    from kafka.errors import TransactionalIdAuthorizationFailedError

    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=unique_topic("txn"), max_block_ms=30000)
    try:
        t0 = time.monotonic()
        with pytest.raises(TransactionalIdAuthorizationFailedError):
            p.init_transactions()
        assert time.monotonic() - t0 < 10
    finally:
        p.close(timeout=5)


def test_transactional_producer_fails_fast_aiokafka(broker):
    import asyncio

    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import TransactionalIdAuthorizationFailed

    async def run() -> float:
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=unique_topic("txn"))
        t0 = time.monotonic()
        try:
            with pytest.raises(TransactionalIdAuthorizationFailed):
                await asyncio.wait_for(p.start(), 30)
        finally:
            await p.stop()
        return time.monotonic() - t0

    assert asyncio.run(run()) < 10


@pytest.mark.parametrize("api", ["find_coordinator", "init_producer_id", "produce"])
def test_transactional_requests_refused_raw(module_broker, api):
    """Each request naming a transactional id is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    and, where the response has room for it, the reason."""
    from pystream._core import encode_batch

    txn = unique_topic("txn")
    with RawClient(module_broker.host, module_broker.port) as rc:
        if api == "find_coordinator":
            r = rc.request(ApiKey.FIND_COORDINATOR, 3, {"key": txn, "key_type": 1})
            assert r["error_code"] == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED and TXN_REASON in r["error_message"]
            r = rc.request(ApiKey.FIND_COORDINATOR, 4, {"coordinator_keys": [txn], "key_type": 1})
            c = r["coordinators"][0]
            assert c["error_code"] == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED and TXN_REASON in c["error_message"]
        elif api == "init_producer_id":
            r = rc.request(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": txn, "transaction_timeout_ms": 60000,
                                                        "producer_id": -1, "producer_epoch": -1})
            assert r["error_code"] == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
        else:
            topic = unique_topic("t")
            create_topic(module_broker.bootstrap, topic, 1)
            r = rc.request(ApiKey.PRODUCE, 9, {"transactional_id": txn, "acks": -1, "timeout_ms": 5000, "topic_data": [
                {"name": topic, "partition_data": [{"index": 0, "records": encode_batch([(0, None, b"v", None)])}]}]})
            p = r["responses"][0]["partition_responses"][0]
            assert p["error_code"] == ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED and TXN_REASON in p["error_message"]


def test_delete_topic_disabled_is_topic_deletion_disabled(broker_factory):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AdminClient

    b = broker_factory(**{"delete.topic.enable": "false"})
    topic = unique_topic("keep")
    create_topic(b.bootstrap, topic, 1)
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    fut = admin.delete_topics([topic])[topic]
    with pytest.raises(Exception) as ei:
        fut.result(15)
    assert ei.value.args[0].code() == KafkaError.TOPIC_DELETION_DISABLED
