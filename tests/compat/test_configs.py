"""Configuration against a real `pystream serve` process and real admin clients (confluent-kafka,
kafka-python, aiokafka): Kafka's server.properties, log.dirs, topic configs, dynamic broker configs,
DescribeConfigs sources and synonyms, AlterConfigs and IncrementalAlterConfigs, LogAppendTime."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from compat_helpers import BrokerProcess, confluent_roundtrip_check, create_topic, unique_topic
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic

from pystream.protocol.client import KafkaClient
from pystream.protocol.schema_data import ApiKey

DATA = Path(__file__).parent.parent / "data"
BROKER, TOPIC = 4, 2
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
# confluent's ConfigSource numbers are Kafka's.
TOPIC_CONFIG, DYNAMIC_BROKER, DYNAMIC_DEFAULT, STATIC_BROKER, DEFAULT = 1, 2, 3, 4, 5


class FileBroker(BrokerProcess):
    """A broker started from a server.properties file; no --data-dir unless given (log.dirs decides)."""

    def __init__(self, base: Path, config: Path, *extra: str) -> None:
        super().__init__(base)
        self.config, self.extra = config, list(extra)

    def command(self) -> list[str]:
        return super().command()[:8] + ["--config", str(self.config), *self.extra] + [
            a for k, v in self.overrides.items() for a in ("--override", f"{k}={v}")]


def admin(b: BrokerProcess) -> AdminClient:
    return AdminClient({"bootstrap.servers": b.bootstrap})


def describe(b: BrokerProcess, rtype: str, name: str) -> dict:
    r, a = ConfigResource(rtype, name), admin(b)  # the client must outlive its futures
    return a.describe_configs([r], request_timeout=15)[r].result(timeout=20)


def raw(b: BrokerProcess, api: int, body: dict) -> dict:
    with KafkaClient(b.bootstrap, timeout=15) as c:
        return c.request(api, body)


def incremental(b: BrokerProcess, rtype: int, name: str, ops: list[tuple[str, int, str | None]], validate_only: bool = False) -> dict:
    resp = raw(b, ApiKey.INCREMENTAL_ALTER_CONFIGS, {"resources": [{"resource_type": rtype, "resource_name": name, "configs": [
        {"name": k, "config_operation": op, "value": v} for k, op, v in ops]}], "validate_only": validate_only})
    return resp["responses"][0]


def produce(bootstrap: str, topic: str, values: list[bytes], timestamp: int = 0) -> list:
    """Produce each value (its own request: acks=all, no batching); the delivery errors (None: delivered)."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "message.timeout.ms": 15000, "retries": 0})
    reports: list = []
    for v in values:
        p.produce(topic, v, timestamp=timestamp, on_delivery=lambda err, msg: reports.append((err, msg)))
        p.flush(15)
    assert len(reports) == len(values)
    return reports


def consume(bootstrap: str, topic: str, n: int, timeout: float = 30.0) -> list:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique_topic("g"), "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        out: list = []
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            for m in c.consume(n - len(out), 0.5):
                if m.error() is not None:
                    raise KafkaException(m.error())
                out.append(m)
        assert len(out) == n, f"consumed {len(out)} of {n}"
        return out
    finally:
        c.close()


def warnings_in(log: str) -> list[str]:
    return [line.split(" WARNING ", 1)[1] for line in log.splitlines() if " WARNING " in line]


def test_kafka_server_properties_starts_with_only_warnings(tmp_path: Path) -> None:
    """Kafka's own config/server.properties, unchanged: one WARNING per key pystream does not act on, no error."""
    kafka_default = Path("/tmp/kafka-logs")  # the file's log.dirs, which --data-dir overrides
    existed = kafka_default.exists()
    b = FileBroker(tmp_path, DATA / "server.properties", "--data-dir", str(tmp_path / "data"), "--override", "zookeeper.connect=")
    b.start()
    try:
        confluent_roundtrip_check(b.bootstrap)
    finally:
        assert b.stop() == 0
    log = b.log_path.read_text()
    assert "Traceback" not in log and " ERROR " not in log
    warned = [w.split(": config ", 1)[1].split("=")[0] for w in warnings_in(log)]
    assert sorted(warned) == sorted({"num.network.threads", "num.io.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
                                     "num.recovery.threads.per.data.dir", "transaction.state.log.replication.factor",
                                     "transaction.state.log.min.isr", "zookeeper.connection.timeout.ms"})
    assert kafka_default.exists() == existed and (b.data_dir / "topics.json").exists()


def test_unknown_key_warns_and_nearest_key_is_named(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    props.write_text("num.partitons: 3\nbackground.threads 5\n")
    b = FileBroker(tmp_path, props, "--data-dir", str(tmp_path / "data"))
    b.start()
    assert b.stop() == 0
    assert warnings_in(b.log_path.read_text()) == [
        "pystream.server: unknown config 'num.partitons' ignored: Kafka defines no such broker config (did you mean num.partitions?)",
        "pystream.server: config background.threads=5 has no effect: pystream does not act on it (accepted and ignored)",
    ]


def test_log_dirs_spread_partitions_and_survive_restart(tmp_path: Path) -> None:
    dirs = [tmp_path / f"disk{i}" for i in range(3)]
    props = tmp_path / "server.properties"
    props.write_text(f"log.dirs={dirs[0]},{dirs[1]}, \\\n    {dirs[2]}\nnum.partitions=6\n"
                     "offsets.topic.num.partitions=5\ngroup.initial.rebalance.delay.ms=0\n")
    b = FileBroker(tmp_path, props)
    b.start()
    try:
        topic = unique_topic("spread")
        create_topic(b.bootstrap, topic, 6)
        p = Producer({"bootstrap.servers": b.bootstrap})
        for i in range(60):
            p.produce(topic, b"v%d" % i, partition=i % 6)
        assert p.flush(20) == 0
        consume(b.bootstrap, topic, 60)  # creates __consumer_offsets (5 partitions) too
        held = {d: sorted(x.name for x in d.iterdir() if x.is_dir()) for d in dirs}
        counts = [len(v) for v in held.values()]
        assert sum(counts) == 11 and max(counts) - min(counts) <= 1, held  # Kafka's rule: the dir with the fewest
        assert [len([n for n in v if n.startswith(topic)]) for v in held.values()] == [2, 2, 2]
        assert (dirs[0] / "topics.json").exists() and not (dirs[1] / "topics.json").exists()
        assert all((d / ".lock").exists() for d in dirs)
        entry = describe(b, "broker", "0")["log.dirs"]
        assert entry.value == f"{dirs[0]},{dirs[1]}, {dirs[2]}" and entry.source == STATIC_BROKER
        b.restart()
        got = consume(b.bootstrap, topic, 60)
        assert sorted(m.value() for m in got) == sorted(b"v%d" % i for i in range(60))
    finally:
        b.stop()


def test_dynamic_broker_configs_apply_at_once_and_survive_restart(broker: BrokerProcess) -> None:
    topic = unique_topic("dyn")
    create_topic(broker.bootstrap, topic)
    # The cluster-wide default (resource ""), which confluent and kafka-python cannot name: raw request.
    assert incremental(broker, BROKER, "", [("message.max.bytes", SET, "2000")])["error_code"] == 0
    big, small = produce(broker.bootstrap, topic, [b"x" * 5000, b"y" * 10])
    assert big[0] is not None and big[0].code() == KafkaError.MSG_SIZE_TOO_LARGE and small[0] is None
    # This broker's own dynamic config, through confluent-kafka; it reaches the open partition at once.
    a = admin(broker)
    r = ConfigResource("broker", "0", incremental_configs=[
        ConfigEntry("log.segment.bytes", "1000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("log.retention.ms", "86400000", incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([r])[r].result(timeout=20)
    assert all(e is None for e, _m in produce(broker.bootstrap, topic, [b"z" * 300] * 12))
    assert len(list((broker.data_dir / f"{topic}-0").glob("*.log"))) >= 3  # rolled at the new segment size
    topic_cfg = describe(broker, "topic", topic)
    assert (topic_cfg["retention.ms"].value, topic_cfg["retention.ms"].source) == ("86400000", DYNAMIC_BROKER)
    assert (topic_cfg["max.message.bytes"].value, topic_cfg["max.message.bytes"].source) == ("2000", DYNAMIC_DEFAULT)

    broker.restart()
    cfg = describe(broker, "broker", "0")
    assert (cfg["message.max.bytes"].value, cfg["message.max.bytes"].source) == ("2000", DYNAMIC_DEFAULT)
    assert (cfg["log.retention.ms"].value, cfg["log.retention.ms"].source) == ("86400000", DYNAMIC_BROKER)
    assert not cfg["message.max.bytes"].is_read_only and cfg["num.partitions"].is_read_only
    default = raw(broker, ApiKey.DESCRIBE_CONFIGS, {"resources": [{"resource_type": BROKER, "resource_name": "", "configuration_keys": None}],
                                                   "include_synonyms": True})["results"][0]["configs"]
    assert [(c["name"], c["value"], c["config_source"]) for c in default] == [("message.max.bytes", "2000", DYNAMIC_DEFAULT)]
    assert produce(broker.bootstrap, topic, [b"x" * 5000])[0][0].code() == KafkaError.MSG_SIZE_TOO_LARGE
    assert incremental(broker, BROKER, "", [("message.max.bytes", DELETE, None)])["error_code"] == 0
    assert produce(broker.bootstrap, topic, [b"x" * 5000])[0][0] is None


def test_dynamic_broker_config_refusals(broker: BrokerProcess) -> None:
    ro = incremental(broker, BROKER, "0", [("num.partitions", SET, "3")])
    assert ro["error_code"] == 40 and "Cannot update these configs dynamically: num.partitions" in ro["error_message"]
    pb = incremental(broker, BROKER, "", [("listeners", SET, "PLAINTEXT://:1")])
    assert pb["error_code"] == 40 and "broker id must be specified" in pb["error_message"]
    bad = incremental(broker, BROKER, "0", [("log.retention.ms", SET, "soon")])
    assert bad["error_code"] == 40 and "Invalid value soon for configuration log.retention.ms" in bad["error_message"]
    neg = incremental(broker, BROKER, "0", [("log.retention.ms", SET, "-5")])
    assert neg["error_code"] == 40 and "Value must be at least -1 (it is the default of topic config retention.ms)" in neg["error_message"]
    other = incremental(broker, BROKER, "7", [("log.retention.ms", SET, "1")])
    assert other["error_code"] == 42 and "expected 0 or empty string" in other["error_message"]
    assert incremental(broker, BROKER, "0", [("log.retention.ms", SET, "1")], validate_only=True)["error_code"] == 0
    dup = incremental(broker, BROKER, "0", [("log.retention.ms", SET, "1"), ("log.retention.ms", DELETE, None)])
    assert dup["error_code"] == 42
    assert describe(broker, "broker", "0")["log.retention.ms"].source == DEFAULT  # nothing was stored
    assert not (broker.data_dir / "dynamic-broker-configs.json").exists()


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")
def test_legacy_alter_configs_replaces_the_whole_set(broker: BrokerProcess) -> None:
    topic = unique_topic("replace")
    a = admin(broker)
    a.create_topics([NewTopic(topic, 1, 1, config={"retention.ms": "1000", "segment.bytes": "100000"})])[topic].result(20)
    r = ConfigResource("topic", topic, set_config={"max.message.bytes": "5000"})
    a.alter_configs([r])[r].result(timeout=20)  # AlterConfigs (API 33)
    cfg = describe(broker, "topic", topic)
    assert (cfg["max.message.bytes"].value, cfg["max.message.bytes"].source) == ("5000", TOPIC_CONFIG)
    assert (cfg["retention.ms"].value, cfg["retention.ms"].source) == ("604800000", DEFAULT)
    assert (cfg["segment.bytes"].value, cfg["segment.bytes"].source) == ("1073741824", DEFAULT)
    # aiokafka has only AlterConfigs: the same replace semantics.
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource as AioResource
    from aiokafka.admin.config_resource import ConfigResourceType

    async def aio() -> list:
        client = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await client.start()
        try:
            return await client.alter_configs([AioResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": "compact,delete"})])
        finally:
            await client.close()

    (resp,) = asyncio.run(aio())
    assert [r[0] for r in resp.resources] == [0]  # error code
    cfg = describe(broker, "topic", topic)
    assert (cfg["cleanup.policy"].value, cfg["cleanup.policy"].source) == ("compact,delete", TOPIC_CONFIG)
    assert cfg["max.message.bytes"].source == DEFAULT
    # The broker's dynamic set is replaced too.
    for configs in ({"log.retention.ms": "5000"}, {"log.cleaner.threads": "2"}):
        rb = ConfigResource("broker", "0", set_config=configs)
        a.alter_configs([rb])[rb].result(timeout=20)
    cfg = describe(broker, "broker", "0")
    assert cfg["log.retention.ms"].source == DEFAULT and (cfg["log.cleaner.threads"].value, cfg["log.cleaner.threads"].source) == ("2", DYNAMIC_BROKER)
    bad = ConfigResource("topic", topic, set_config={"segment.bytes": "1"})
    with pytest.raises(KafkaException, match="Invalid value 1 for configuration segment.bytes: Value must be at least 14"):
        a.alter_configs([bad])[bad].result(timeout=20)


def test_describe_configs_sources_synonyms_and_docs(broker_factory) -> None:
    b = broker_factory(**{"log.retention.ms": "7200000"})
    topic = unique_topic("desc")
    a = admin(b)
    a.create_topics([NewTopic(topic, 1, 1, config={"segment.bytes": "100000"})])[topic].result(20)
    assert incremental(b, BROKER, "", [("min.insync.replicas", SET, "1")])["error_code"] == 0
    # kafka-python
    from kafka.admin import ConfigResource as KResource
    from kafka.admin import ConfigResourceType as KType
    from kafka.admin import KafkaAdminClient

    k = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        got = k.describe_configs([KResource(KType.TOPIC, topic)], include_synonyms=True, config_filter="all")["topic"][topic]
        brk = k.describe_configs([KResource(KType.BROKER, "0")], config_filter="all")["broker"]["0"]
    finally:
        k.close()
    assert got["segment.bytes"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"  # Java's name of source 1
    assert [(s["name"], s["value"], s["source"]) for s in got["segment.bytes"]["synonyms"]] == [
        ("segment.bytes", "100000", "DYNAMIC_TOPIC_CONFIG"), ("log.segment.bytes", "1073741824", "DEFAULT_CONFIG")]
    assert (got["retention.ms"]["value"], got["retention.ms"]["config_source"]) == ("7200000", "STATIC_BROKER_CONFIG")
    assert [(s["name"], s["source"]) for s in got["retention.ms"]["synonyms"]] == [
        ("log.retention.ms", "STATIC_BROKER_CONFIG"), ("log.retention.hours", "DEFAULT_CONFIG")]
    assert got["min.insync.replicas"]["config_source"] == "DYNAMIC_DEFAULT_BROKER_CONFIG"
    assert (got["preallocate"]["config_source"], got["preallocate"]["config_type"]) == ("DEFAULT_CONFIG", "BOOLEAN")
    assert got["cleanup.policy"]["config_type"] == "LIST" and not got["cleanup.policy"]["read_only"]
    assert brk["num.partitions"]["read_only"] and not brk["log.retention.ms"]["read_only"]
    assert brk["ssl.keystore.password"]["is_sensitive"] and brk["ssl.keystore.password"]["value"] is None
    # confluent-kafka
    cfg = describe(b, "topic", topic)
    assert len(cfg) == 36
    assert {n: e.source for n, e in cfg.items() if n in ("segment.bytes", "retention.ms", "min.insync.replicas", "flush.ms")} == {
        "segment.bytes": TOPIC_CONFIG, "retention.ms": STATIC_BROKER, "min.insync.replicas": DYNAMIC_DEFAULT, "flush.ms": DEFAULT}
    assert cfg["flush.ms"].is_default and not cfg["segment.bytes"].is_default
    # documentation (DescribeConfigs v3+): Kafka's meaning, and what pystream does differently
    res = raw(b, ApiKey.DESCRIBE_CONFIGS, {"resources": [{"resource_type": TOPIC, "resource_name": topic,
                                                          "configuration_keys": ["preallocate", "retention.ms"]}],
                                           "include_documentation": True})["results"][0]["configs"]
    docs = {c["name"]: c["documentation"] for c in res}
    assert docs["preallocate"].startswith("Preallocate") and "[pystream: " in docs["preallocate"]
    assert "pystream" not in docs["retention.ms"]
    missing = raw(b, ApiKey.DESCRIBE_CONFIGS, {"resources": [{"resource_type": TOPIC, "resource_name": "nope", "configuration_keys": None}]})
    assert missing["results"][0]["error_code"] == 3


def test_create_topics_accepts_every_kafka_topic_config(module_broker: BrokerProcess) -> None:
    from kafka.admin import KafkaAdminClient
    from kafka.admin import NewTopic as KNewTopic

    configs = {
        "cleanup.policy": "compact,delete", "compression.gzip.level": "5", "compression.type": "lz4",
        "delete.retention.ms": "1000", "file.delete.delay.ms": "1", "flush.messages": "100", "flush.ms": "1000",
        "follower.replication.throttled.replicas": "*", "index.interval.bytes": "100", "local.retention.ms": "-2",
        "max.compaction.lag.ms": "100000", "max.message.bytes": "100000", "message.downconversion.enable": "false",
        "message.timestamp.type": "LogAppendTime", "message.timestamp.difference.max.ms": "1000",
        "min.cleanable.dirty.ratio": "0.1", "min.compaction.lag.ms": "10", "preallocate": "true",
        "segment.jitter.ms": "10", "unclean.leader.election.enable": "true", "remote.storage.enable": "false",
    }
    topic = unique_topic("all")
    k = KafkaAdminClient(bootstrap_servers=module_broker.bootstrap)
    try:
        k.create_topics([KNewTopic(topic, 1, 1, topic_configs=configs)])
    finally:
        k.close()
    cfg = describe(module_broker, "topic", topic)
    assert {n: cfg[n].value for n in configs} == configs
    assert all(cfg[n].source == TOPIC_CONFIG for n in configs)
    a = admin(module_broker)
    for bad, reason in [({"min.cleanable.dirty.ratio": "2"}, "Value must be no more than 1"),
                        ({"cleanup.policy": "shred"}, "cleanup.policy"),
                        ({"retention.msec": "1"}, "did you mean retention.ms")]:
        t = unique_topic("bad")
        fut = a.create_topics([NewTopic(t, 1, 1, config=bad)])[t]
        with pytest.raises(KafkaException) as e:
            fut.result(20)
        assert e.value.args[0].code() == KafkaError.INVALID_CONFIG and reason in e.value.args[0].str()


def test_incremental_append_subtract_delete_validate_only(module_broker: BrokerProcess) -> None:
    topic = unique_topic("incr")
    create_topic(module_broker.bootstrap, topic)
    ops = [("cleanup.policy", APPEND, "compact"), ("retention.ms", SET, "1000")]
    assert incremental(module_broker, TOPIC, topic, ops)["error_code"] == 0
    cfg = describe(module_broker, "topic", topic)
    assert (cfg["cleanup.policy"].value, cfg["retention.ms"].value) == ("delete,compact", "1000")
    assert incremental(module_broker, TOPIC, topic, [("cleanup.policy", SUBTRACT, "delete")])["error_code"] == 0
    assert describe(module_broker, "topic", topic)["cleanup.policy"].value == "compact"
    bad = incremental(module_broker, TOPIC, topic, [("retention.ms", APPEND, "5")])
    assert bad["error_code"] == 40 and "append is not allowed for config key: retention.ms" in bad["error_message"]
    assert incremental(module_broker, TOPIC, topic, [("retention.ms", SET, "77")], validate_only=True)["error_code"] == 0
    assert describe(module_broker, "topic", topic)["retention.ms"].value == "1000"
    assert incremental(module_broker, TOPIC, topic, [("retention.ms", DELETE, None)])["error_code"] == 0
    cfg = describe(module_broker, "topic", topic)
    assert (cfg["retention.ms"].value, cfg["retention.ms"].source) == ("604800000", DEFAULT)
    gone = incremental(module_broker, TOPIC, unique_topic("none"), [("retention.ms", SET, "1")])
    assert gone["error_code"] == 3


def test_log_append_time_seen_by_consumers(module_broker: BrokerProcess) -> None:
    topic = unique_topic("lat")
    a = admin(module_broker)
    a.create_topics([NewTopic(topic, 1, 1, config={"message.timestamp.type": "LogAppendTime"})])[topic].result(20)
    before = int(time.time() * 1000)
    (err, msg), = produce(module_broker.bootstrap, topic, [b"stamped"], timestamp=1000)
    after = int(time.time() * 1000)
    assert err is None
    kind, ts = msg.timestamp()  # the produce response's log_append_time_ms
    assert kind == TIMESTAMP_LOG_APPEND_TIME and before <= ts <= after
    (m,) = consume(module_broker.bootstrap, topic, 1)
    assert m.timestamp() == (TIMESTAMP_LOG_APPEND_TIME, ts)
    from kafka import KafkaConsumer

    kc = KafkaConsumer(bootstrap_servers=module_broker.bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=10000)
    try:
        kc.assign([__import__("kafka").TopicPartition(topic, 0)])
        rec = next(iter(kc))
    finally:
        kc.close()
    assert (rec.timestamp_type, rec.timestamp, rec.value) == (1, ts, b"stamped")


def test_timestamp_bounds_refuse_with_invalid_timestamp(module_broker: BrokerProcess) -> None:
    topic, legacy = unique_topic("bounds"), unique_topic("diff")
    a = admin(module_broker)
    for f in a.create_topics([NewTopic(topic, 1, 1, config={"message.timestamp.before.max.ms": "3600000",
                                                             "message.timestamp.after.max.ms": "60000"}),
                              NewTopic(legacy, 1, 1, config={"message.timestamp.difference.max.ms": "60000"})]).values():
        f.result(20)
    now = int(time.time() * 1000)
    old, future, fine = (produce(module_broker.bootstrap, topic, [b"v"], timestamp=ts)[0][0]
                         for ts in (now - 2 * 3600_000, now + 600_000, now - 600_000))
    assert old.code() == future.code() == KafkaError.INVALID_TIMESTAMP and fine is None
    assert produce(module_broker.bootstrap, legacy, [b"v"], timestamp=now - 600_000)[0][0].code() == KafkaError.INVALID_TIMESTAMP
    c = Consumer({"bootstrap.servers": module_broker.bootstrap, "group.id": unique_topic("g")})
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 1)  # only the good record
    finally:
        c.close()


def test_index_interval_bytes_reaches_the_log(broker: BrokerProcess) -> None:
    dense, sparse = unique_topic("dense"), unique_topic("sparse")
    a = admin(broker)
    for f in a.create_topics([NewTopic(dense, 1, 1, config={"index.interval.bytes": "0"}), NewTopic(sparse, 1, 1)]).values():
        f.result(20)
    for t in (dense, sparse):
        assert all(e is None for e, _m in produce(broker.bootstrap, t, [b"r%d" % i for i in range(10)]))
    assert broker.stop() == 0  # close trims the indexes to their entries
    sizes = {t: sum(f.stat().st_size for f in (broker.data_dir / f"{t}-0").glob("*.index")) for t in (dense, sparse)}
    assert sizes == {dense: 10 * 8 - 8, sparse: 0}  # an entry per batch after the first (Kafka's LogSegment.append)
