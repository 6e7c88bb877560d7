"""Committed offsets and group administration through real clients (issue 9, "Groups and offsets"):
commits to partitions that do not exist, the protocol type of an Empty group, OffsetDelete."""

from __future__ import annotations

import time

from compat_helpers import create_topic, unique_topic
from rdkafka_ctypes import delete_consumer_group_offsets
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from kafka import KafkaAdminClient
from kafka import TopicPartition as KTP
from kafka.structs import OffsetAndMetadata


def _consumer(bootstrap: str, group: str, **conf) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, **conf})


def _produce(bootstrap: str, topic: str, n: int, partitions: int = 1) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "message.timeout.ms": 20000})
    for i in range(n):
        p.produce(topic, value=b"v%d" % i, partition=i % partitions)
    assert p.flush(20) == 0


def _consume(c: Consumer, n: int, timeout: float = 30.0) -> list:
    out: list = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error() is not None:
            raise KafkaException(m.error())
        out.append(m)
    assert len(out) == n, f"consumed {len(out)} of {n} within {timeout}s"
    return out


def _kadmin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)


# ---------------------------------------------------------------- commits to unknown partitions


def test_commit_to_unknown_topic_or_partition_is_refused_per_partition(broker):
    topic = unique_topic("known")
    create_topic(broker.bootstrap, topic, 2)
    group = unique_topic("g")
    c = _consumer(broker.bootstrap, group)
    try:
        res = c.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 7, 5),
                                TopicPartition("no-such-topic", 0, 5)], asynchronous=False)
    except KafkaException as e:  # librdkafka raises when any partition failed
        res = e.args[0]
    finally:
        c.close()
    errs = {(tp.topic, tp.partition): (tp.error.code() if tp.error else 0) for tp in res} \
        if isinstance(res, list) else None
    if errs is None:
        # The exception carries the first error only; fetch what was stored instead.
        assert res.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, res
    else:
        assert errs == {(topic, 0): 0, (topic, 7): KafkaError.UNKNOWN_TOPIC_OR_PART,
                        ("no-such-topic", 0): KafkaError.UNKNOWN_TOPIC_OR_PART}
    admin = _kadmin(broker.bootstrap)
    try:
        stored = admin.list_group_offsets({group: None})[group]
    finally:
        admin.close()
    # Only the partition that exists was committed; nothing was stored for the others.
    assert {(tp.topic, tp.partition): om.offset for tp, om in stored.items()} == {(topic, 0): 5}


def test_alter_consumer_group_offsets_unknown_partitions(broker):
    """AlterConsumerGroupOffsets is an OffsetCommit with no member: same per-partition answer."""
    topic = unique_topic("alter")
    create_topic(broker.bootstrap, topic, 1)
    group = unique_topic("g")
    from confluent_kafka import ConsumerGroupTopicPartitions

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    fut = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 3)])], request_timeout=15)[group]
    res = fut.result(timeout=20)
    errs = {(tp.topic, tp.partition): (tp.error.code() if tp.error else 0) for tp in res.topic_partitions}
    assert errs == {(topic, 0): 0, (topic, 1): KafkaError.UNKNOWN_TOPIC_OR_PART}

    # kafka-python's admin client returns the per-partition error classes.
    kadmin = _kadmin(broker.bootstrap)
    try:
        res = kadmin.alter_group_offsets(group, {KTP(topic, 0): OffsetAndMetadata(9, "", -1),
                                                 KTP("ghost", 0): OffsetAndMetadata(4, "", -1)})
        stored = kadmin.list_group_offsets({group: None})[group]
    finally:
        kadmin.close()
    assert {(tp.topic, tp.partition): err.__name__ for tp, err in res.items()} == {
        (topic, 0): "NoError", ("ghost", 0): "UnknownTopicOrPartitionError"}
    assert {(tp.topic, tp.partition): om.offset for tp, om in stored.items()} == {(topic, 0): 9}


# ---------------------------------------------------------------- an Empty group is still a consumer group


def _listing(bootstrap: str, group: str):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    res = admin.list_consumer_groups(request_timeout=15).result(timeout=20)
    found = [g for g in res.valid if g.group_id == group]
    assert len(found) == 1, (group, [g.group_id for g in res.valid], res.errors)
    desc = admin.describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)
    return found[0], desc


def test_empty_group_keeps_protocol_type_consumer_across_restart(broker):
    """After its members leave, a group is Empty but still a consumer group (Kafka keeps the protocol
    type); the broker persists it (GroupMetadata record), so a restart does not turn it into a
    "simple" group. A group that only has offsets committed without group management is simple."""
    from confluent_kafka import ConsumerGroupState

    topic = unique_topic("empty")
    create_topic(broker.bootstrap, topic, 2)
    _produce(broker.bootstrap, topic, 10, partitions=2)
    group = unique_topic("g")
    c = _consumer(broker.bootstrap, group)
    c.subscribe([topic])
    _consume(c, 10)
    c.commit(asynchronous=False)
    c.close()
    simple = unique_topic("simple")
    s = _consumer(broker.bootstrap, simple)
    s.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    s.close()

    for round_ in ("live", "restarted"):
        listing, desc = _listing(broker.bootstrap, group)
        assert (listing.is_simple_consumer_group, listing.state) == (False, ConsumerGroupState.EMPTY), round_
        assert (desc.is_simple_consumer_group, desc.state, desc.members) == (False, ConsumerGroupState.EMPTY, []), round_
        listing, desc = _listing(broker.bootstrap, simple)
        assert (listing.is_simple_consumer_group, listing.state) == (True, ConsumerGroupState.EMPTY), round_
        kadmin = _kadmin(broker.bootstrap)
        try:
            by_id = {g["group_id"]: g for g in kadmin.list_groups()}
            assert by_id[group]["protocol_type"] == "consumer" and by_id[simple]["protocol_type"] == "", (round_, by_id)
            kdesc = kadmin.describe_groups([group])[group]
            assert (kdesc["group_state"], kdesc["protocol_type"]) == ("Empty", "consumer"), (round_, kdesc)
        finally:
            kadmin.close()
        if round_ == "live":
            broker.restart()

    # The committed offsets survived too, and a new member resumes from them.
    c = _consumer(broker.bootstrap, group)
    try:
        committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
        assert [tp.offset for tp in committed] == [5, 5]
    finally:
        c.close()


# ---------------------------------------------------------------- OffsetDelete (API 47)


def _delete_offsets(bootstrap: str, group: str, tps: list) -> dict:
    """librdkafka's DeleteConsumerGroupOffsets (the confluent-kafka binding does not wrap it: ctypes)."""
    return delete_consumer_group_offsets(bootstrap, group, [(tp.topic, tp.partition) for tp in tps])


def _committed(bootstrap: str, group: str) -> dict:
    kadmin = _kadmin(bootstrap)
    try:
        stored = kadmin.list_group_offsets({group: None})[group]
    finally:
        kadmin.close()
    return {(tp.topic, tp.partition): om.offset for tp, om in stored.items()}


def test_offset_delete(broker):
    a, b = unique_topic("od-a"), unique_topic("od-b")
    create_topic(broker.bootstrap, a, 2)
    create_topic(broker.bootstrap, b, 1)
    group = unique_topic("g")
    c = _consumer(broker.bootstrap, group)
    c.commit(offsets=[TopicPartition(a, 0, 3), TopicPartition(a, 1, 4), TopicPartition(b, 0, 5)], asynchronous=False)

    # An empty group: the offsets go, durably; a partition without an offset is fine too.
    assert _delete_offsets(broker.bootstrap, group, [TopicPartition(a, 0)]) == {(a, 0): 0}
    assert _committed(broker.bootstrap, group) == {(a, 1): 4, (b, 0): 5}
    broker.restart()
    assert _committed(broker.bootstrap, group) == {(a, 1): 4, (b, 0): 5}

    # An active consumer group subscribed to topic a: a's offsets stay, b's may go.
    _produce(broker.bootstrap, a, 4, partitions=2)
    c = _consumer(broker.bootstrap, group)
    try:
        c.subscribe([a])
        _consume(c, 2)  # from the committed offsets 0 and 4: partition 0 has 2 records left, partition 1 none
        res = _delete_offsets(broker.bootstrap, group, [TopicPartition(a, 1), TopicPartition(b, 0)])
        assert res == {(a, 1): KafkaError.GROUP_SUBSCRIBED_TO_TOPIC, (b, 0): 0}, res
    finally:
        c.close()
    assert _committed(broker.bootstrap, group) == {(a, 1): 4}

    # No such group.
    assert _delete_offsets(broker.bootstrap, unique_topic("nobody"), [TopicPartition(a, 0)]) == {
        None: KafkaError.GROUP_ID_NOT_FOUND}

    # kafka-python's admin client: the member left, so a's offsets may go now.
    kadmin = _kadmin(broker.bootstrap)
    try:
        res = kadmin.delete_group_offsets(group, [KTP(a, 1), KTP("ghost", 0)])
    finally:
        kadmin.close()
    assert {(tp.topic, tp.partition): err.__name__ for tp, err in res.items()} == {
        (a, 1): "NoError", ("ghost", 0): "UnknownTopicOrPartitionError"}, res
    assert _committed(broker.bootstrap, group) == {}
