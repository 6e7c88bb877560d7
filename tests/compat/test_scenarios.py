"""One scenario per real client against a real `pystream serve` process: the admin calls
(topics, cluster, configs, log dirs, groups), produce, consume, consumer groups and
committed offsets, each step asserting its result: no unexpected error anywhere.

These are the calls the README's compatibility section says each client was tested with.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

from compat_helpers import kcat_path, unique_topic

N = 30  # records produced per scenario


def wait_until(cond, what: str, timeout: float = 20.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def test_confluent_kafka_scenario(broker):
    from confluent_kafka import (
        Consumer,
        ConsumerGroupTopicPartitions,
        IsolationLevel,
        Producer,
        TopicCollection,
        TopicPartition,
    )
    from confluent_kafka.admin import (
        AdminClient,
        AlterConfigOpType,
        ConfigEntry,
        ConfigResource,
        NewPartitions,
        NewTopic,
        OffsetSpec,
    )

    bs = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bs})
    topic, group = unique_topic("sc-cf"), unique_topic("g")
    # admin: topics, cluster, configs
    admin.create_topics([NewTopic(topic, 2, 1, config={"retention.ms": "3600000"})])[topic].result(15)
    desc = admin.describe_topics(TopicCollection([topic]))[topic].result(15)
    assert desc.name == topic and len(desc.partitions) == 2
    cluster = admin.describe_cluster().result(15)
    assert [n.id for n in cluster.nodes] == [0] and cluster.controller.id == 0
    assert topic in admin.list_topics(timeout=10).topics
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([res])[res].result(15)
    assert configs["retention.ms"].value == "3600000"
    admin.incremental_alter_configs([ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET)])])[res].result(15)
    assert admin.describe_configs([res])[res].result(15)["retention.ms"].value == "7200000"
    broker_res = ConfigResource(ConfigResource.Type.BROKER, "0")
    assert "num.partitions" in admin.describe_configs([broker_res])[broker_res].result(15)
    admin.create_partitions([NewPartitions(topic, 3)])[topic].result(15)
    wait_until(lambda: len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 3, "3 partitions")
    # produce (idempotent), consume in a group, commit
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "linger.ms": 5})
    for i in range(N):
        p.produce(topic, value=b"%d" % i, key=b"k%d" % (i % 5))
    assert p.flush(20) == 0
    c = Consumer({"bootstrap.servers": bs, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        got: list = []
        deadline = time.monotonic() + 30
        while len(got) < N and time.monotonic() < deadline:
            for m in c.consume(100, 0.5):
                assert m.error() is None, m.error()
                got.append(m)
        assert sorted(int(m.value()) for m in got) == list(range(N))
        c.commit(asynchronous=False)
        committed = c.committed([TopicPartition(topic, i) for i in range(3)], timeout=10)
        assert sum(tp.offset for tp in committed if tp.offset > 0) == N
        # groups seen by the admin while the member is in
        listed = admin.list_consumer_groups().result(15)
        assert group in {g.group_id for g in listed.valid}
        g = admin.describe_consumer_groups([group])[group].result(15)
        assert g.group_id == group and len(g.members) == 1 and not g.is_simple_consumer_group
        assert g.partition_assignor and g.coordinator.id == 0
    finally:
        c.close()
    # offsets: list, alter, list again; watermarks; delete records
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(15)
    assert sum(tp.offset for tp in offsets.topic_partitions if tp.offset > 0) == N
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, 0)])])[group].result(15)
    offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])])[group].result(15)
    assert offsets.topic_partitions[0].offset == 0
    ends = admin.list_offsets({TopicPartition(topic, i): OffsetSpec.latest() for i in range(3)},
                              isolation_level=IsolationLevel.READ_COMMITTED)
    assert sum(f.result(15).offset for f in ends.values()) == N
    busiest = max(range(3), key=lambda i: ends[TopicPartition(topic, i)].result(15).offset)
    (dr,) = admin.delete_records([TopicPartition(topic, busiest, 1)]).values()
    assert dr.result(15).low_watermark == 1
    # delete the (now empty) group, then the topic
    admin.delete_consumer_groups([group])[group].result(15)
    assert group not in {g.group_id for g in admin.list_consumer_groups().result(15).valid}
    admin.delete_topics([topic])[topic].result(15)
    wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, "topic deleted")


def test_kafka_python_scenario(broker):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic

    bs = broker.bootstrap
    topic, group = unique_topic("sc-kp"), unique_topic("g")
    admin = KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})])
        assert topic in admin.list_topics()
        (desc,) = admin.describe_topics([topic])
        assert desc["error_code"] == 0 and len(desc["partitions"]) == 2
        cluster = admin.describe_cluster()
        assert [b["broker_id"] for b in cluster["brokers"]] == [0]
        cfg = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic),
                                      ConfigResource(ConfigResourceType.BROKER, "0")], config_filter="all")
        assert cfg["topic"][topic]["retention.ms"]["value"] == "3600000"
        assert cfg["broker"]["0"]["num.partitions"]["value"] == "1"
        admin.create_partitions({topic: NewPartitions(total_count=3)})
        (logdirs,) = admin.describe_log_dirs()
        assert logdirs["log_dirs"][0]["error_code"] == 0
        producer = KafkaProducer(bootstrap_servers=bs, enable_idempotence=True, linger_ms=5)
        for i in range(N):
            producer.send(topic, value=b"%d" % i, key=b"k%d" % (i % 5))
        producer.flush(20)
        producer.close()
        c = KafkaConsumer(topic, bootstrap_servers=bs, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, fetch_max_wait_ms=100)
        try:
            got: list = []
            deadline = time.monotonic() + 30
            while len(got) < N and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=300).values():
                    got.extend(recs)
            assert sorted(int(r.value) for r in got) == list(range(N))
            c.commit()
            committed = {i: c.committed(TopicPartition(topic, i)) for i in range(3)}
            assert sum(v for v in committed.values() if v) == N
            assert group in {g["group_id"] for g in admin.list_groups()}
            described = admin.describe_groups([group])[group]
            assert described["group_state"] == "Stable" and len(described["members"]) == 1
        finally:
            c.close()
        offsets = admin.list_group_offsets({group: None})[group]
        assert sum(o.offset for o in offsets.values()) == N
        res = admin.delete_records({TopicPartition(topic, 0): 0})
        assert res[TopicPartition(topic, 0)]["error_code"] == 0
        admin.delete_groups([group])
        assert group not in {g["group_id"] for g in admin.list_groups()}
        admin.delete_topics([topic])
        wait_until(lambda: topic not in admin.list_topics(), "topic deleted")
    finally:
        admin.close()


def test_aiokafka_scenario(broker):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.admin.records_to_delete import RecordsToDelete

    bs = broker.bootstrap
    topic, group = unique_topic("sc-aio"), unique_topic("g")

    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=15000)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})])
            assert topic in await admin.list_topics()
            (desc,) = await admin.describe_topics([topic])
            assert desc["error_code"] == 0 and len(desc["partitions"]) == 2
            cluster = await admin.describe_cluster()
            assert cluster["controller_id"] == 0 and len(cluster["brokers"]) == 1
            responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic),
                                                      ConfigResource(ConfigResourceType.BROKER, "0")])
            entries = {(r[2], r[3]): {e[0]: e[1] for e in r[4]} for cfg in responses for r in cfg.resources}
            assert all(r[0] == 0 for cfg in responses for r in cfg.resources)
            assert entries[(ConfigResourceType.TOPIC, topic)]["retention.ms"] == "3600000"
            assert entries[(ConfigResourceType.BROKER, "0")]["num.partitions"] == "1"
            await admin.create_partitions({topic: NewPartitions(total_count=3)})
            producer = AIOKafkaProducer(bootstrap_servers=bs, enable_idempotence=True, linger_ms=5)
            await producer.start()
            try:
                for i in range(N):
                    await producer.send(topic, value=b"%d" % i, key=b"k%d" % (i % 5))
                await producer.flush()
            finally:
                await producer.stop()
            c = AIOKafkaConsumer(topic, bootstrap_servers=bs, group_id=group, auto_offset_reset="earliest",
                                 enable_auto_commit=False, fetch_max_wait_ms=100)
            await c.start()
            try:
                got: list = []
                deadline = time.monotonic() + 30
                while len(got) < N and time.monotonic() < deadline:
                    for recs in (await c.getmany(timeout_ms=300)).values():
                        got.extend(recs)
                assert sorted(int(r.value) for r in got) == list(range(N))
                await c.commit()
                listed = await admin.list_consumer_groups()
                assert group in {g[0] for g in listed}
                (described,) = await admin.describe_consumer_groups([group])
                assert described.groups[0][0] == 0  # error code
            finally:
                await c.stop()
            offsets = await admin.list_consumer_group_offsets(group)
            assert sum(o.offset for o in offsets.values()) == N
            res = await admin.delete_records({TopicPartition(topic, 0): RecordsToDelete(before_offset=0)})
            assert res == {TopicPartition(topic, 0): 0}
            await admin.delete_topics([topic])
            deadline = time.monotonic() + 20
            while topic in await admin.list_topics():
                assert time.monotonic() < deadline, "topic not deleted"
                await asyncio.sleep(0.1)
        finally:
            await admin.close()

    asyncio.run(run())


def test_kcat_scenario(broker):
    kcat = kcat_path()
    bs = broker.bootstrap
    topic, group = unique_topic("sc-kcat"), unique_topic("g")

    def run(*args: str, stdin: bytes | None = None, timeout: float = 30) -> str:
        out = subprocess.run([kcat, "-b", bs, *args], input=stdin, capture_output=True, timeout=timeout)
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout.decode()

    lines = b"".join(b"k%d:%d\n" % (i % 5, i) for i in range(N))
    run("-t", topic, "-P", "-K:", "-X", "enable.idempotence=true", stdin=lines)   # auto-creates the topic
    meta = json.loads(run("-L", "-J", "-t", topic))
    assert meta["brokers"][0]["id"] == 0 and meta["topics"][0]["topic"] == topic
    assert meta["topics"][0]["partitions"][0]["leader"] == 0
    values = run("-t", topic, "-C", "-e", "-f", "%s\n").split()
    assert sorted(map(int, values)) == list(range(N))
    # offsets query (ListOffsets): the end of partition 0
    assert f"{topic} [0]" in run("-Q", "-t", f"{topic}:0:-1")
    # balanced consumer in a group: consumes, commits, exits at the end
    values = run("-G", group, "-o", "beginning", "-e", "-f", "%s\n", topic, timeout=60).split()
    assert sorted(map(int, values)) == list(range(N))
