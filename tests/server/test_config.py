"""Broker configuration: the Java properties syntax, the table of Kafka's broker configs, sources and fallbacks."""

from pathlib import Path

import pytest

from pystream.server.config import (
    BROKER_CONFIGS,
    BrokerConfig,
    ConfigError,
    ConfigSource,
    load_properties,
    parse_dynamic,
    parse_properties,
)
from pystream.storage.config_def import LONG_MAX, InvalidConfigError, UpdateMode
from pystream.storage.topic_config import TOPIC_CONFIGS, normalize_topic_config

DATA = Path(__file__).parent.parent / "data"


def test_properties_syntax_in_full() -> None:
    text = "\n".join([
        "# a comment",
        "! another comment",
        "   # indented comment",
        "a=1",
        "b : 2",
        "c   3",
        "d\t=\t4",
        "e=first \\",
        "    second \\",
        "\tthird",
        "f\\=g\\:h=escaped separators in the key",
        "key\\ with\\ blanks = v",
        "i=tab\\there\\nnewline \\u0041\\u00e9",
        "j=",
        "k",
        "l = value with = and : inside",
        "m=not a continuation \\\\",
        "n=2",
        "a=later wins",
        "o=\\#not a comment",
    ])
    props = parse_properties(text)
    assert props == {
        "a": "later wins", "b": "2", "c": "3", "d": "4", "e": "first second third",
        "f=g:h": "escaped separators in the key", "key with blanks": "v", "i": "tab\there\nnewline A\u00e9",
        "j": "", "k": "", "l": "value with = and : inside", "m": "not a continuation \\", "n": "2", "o": "#not a comment",
    }


def test_properties_bad_unicode_escape(tmp_path: Path) -> None:
    f = tmp_path / "server.properties"
    f.write_text("a=\\u00zz\n")
    with pytest.raises(ConfigError, match=r"server.properties:1: malformed \\uxxxx escape"):
        load_properties(f)


def test_kafka_sample_server_properties_is_all_known_keys() -> None:
    """Kafka's own config/server.properties: every key is a Kafka broker config, so only warnings (not acted on)."""
    props = load_properties(DATA / "server.properties")
    assert set(props) >= {"broker.id", "log.dirs", "zookeeper.connect", "num.network.threads", "log.retention.hours"}
    cfg = BrokerConfig.from_sources(properties=props)
    assert not cfg.unknown
    assert cfg.get("log.retention.ms") == 168 * 3600 * 1000
    assert cfg.log_dirs == [Path("/tmp/kafka-logs")]
    warned = {w.split("=")[0].removeprefix("config ") for w in cfg.warnings}
    assert warned == {"num.network.threads", "num.io.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
                      "num.recovery.threads.per.data.dir", "transaction.state.log.min.isr",
                      "zookeeper.connection.timeout.ms"}


def test_unknown_key_warns_with_the_nearest_known_key() -> None:
    cfg = BrokerConfig.from_sources(properties={"num.partitons": "3", "foo.bar.baz": "1", "listener.name.x.ssl.keystore.location": "/k"})
    assert cfg.get("num.partitions") == 1
    assert cfg.warnings == [
        "unknown config 'num.partitons' ignored: Kafka defines no such broker config (did you mean num.partitions?)",
        "unknown config 'foo.bar.baz' ignored: Kafka defines no such broker config",
    ]


def test_key_not_acted_on_warns_once_naming_it() -> None:
    cfg = BrokerConfig.from_sources(properties={"background.threads": "5", "ssl.truststore.password": "secret",
                                                "num.partitions": "2", "ssl.keystore.password": "acted-on"})
    assert cfg.warnings == [
        "config background.threads=5 has no effect: pystream does not act on it (accepted and ignored)",
        "config ssl.truststore.password=[hidden] has no effect: not supported by pystream's security (docs/security.md) "
        "(accepted and ignored)",
    ]
    assert cfg.get("background.threads") == 5


@pytest.mark.parametrize(("line", "reason"), [
    ("num.partitions=three", "Invalid value three for configuration num.partitions: Not a number of type INT"),
    ("num.partitions=0", "Invalid value 0 for configuration num.partitions: Value must be at least 1"),
    ("auto.create.topics.enable=yes", "Invalid value yes for configuration auto.create.topics.enable: Expected value to be either true or false"),
    ("log.message.timestamp.type=AppendTime", "String must be one of: CreateTime, LogAppendTime"),
    ("log.cleanup.policy=delete,shred", "Invalid value 'shred': items must be among \\[compact, delete\\]"),
    ("compression.gzip.level=12", "Value must be no more than 9 \\(or be -1\\)"),
    ("num.network.threads=many", "Invalid value many for configuration num.network.threads"),  # not acted on: still checked
    ("message.max.bytes=99999999999", "Not a number of type INT"),
])
def test_bad_values_are_fatal_naming_key_and_reason(tmp_path: Path, line: str, reason: str) -> None:
    f = tmp_path / "server.properties"
    f.write_text(line + "\n")
    with pytest.raises(ConfigError, match=reason):
        BrokerConfig.from_sources(properties=load_properties(f))


def test_fallbacks_and_precedence() -> None:
    cfg = BrokerConfig.from_sources(properties={"log.retention.hours": "2"})
    assert cfg.get("log.retention.ms") == 2 * 3_600_000
    cfg = BrokerConfig.from_sources(properties={"log.retention.hours": "2", "log.retention.minutes": "3"})
    assert cfg.get("log.retention.ms") == 3 * 60_000
    cfg = BrokerConfig.from_sources(properties={"log.retention.minutes": "3", "log.retention.ms": "5"})
    assert cfg.get("log.retention.ms") == 5
    assert cfg.topic_defaults()["retention.ms"] == 5
    assert BrokerConfig().get("log.flush.interval.ms") == LONG_MAX  # log.flush.scheduler.interval.ms
    assert BrokerConfig.from_sources(properties={"log.roll.jitter.hours": "1"}).topic_defaults()["segment.jitter.ms"] == 3_600_000
    # dynamic per-broker > dynamic default > static > default
    cfg = BrokerConfig.from_sources(properties={"log.retention.ms": "100"})
    cfg.set_dynamic({"log.retention.ms": "200"}, {})
    assert cfg.get("log.retention.ms") == 200
    cfg.set_dynamic({"log.retention.ms": "200"}, {"log.retention.ms": "300"})
    assert cfg.own_value("log.retention.ms") == (300, ConfigSource.DYNAMIC_BROKER_CONFIG)
    assert cfg.synonyms("log.retention.ms") == [
        ("log.retention.ms", 300, ConfigSource.DYNAMIC_BROKER_CONFIG),
        ("log.retention.ms", 200, ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.retention.ms", 100, ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.hours", 168, ConfigSource.DEFAULT_CONFIG),
    ]


def test_log_dirs_from_file_flag_and_defaults() -> None:
    assert BrokerConfig.from_sources().log_dirs == [Path("pystream-data")]
    assert BrokerConfig.from_sources(properties={"log.dir": "/a"}).log_dirs == [Path("/a")]
    cfg = BrokerConfig.from_sources(properties={"log.dir": "/a", "log.dirs": "/b, /c"})
    assert cfg.log_dirs == [Path("/b"), Path("/c")]
    assert BrokerConfig.from_sources(data_dir="/d", properties={"log.dirs": "/b,/c"}).log_dirs == [Path("/d")]
    with pytest.raises(ConfigError, match="log.dirs lists no directory"):
        BrokerConfig.from_sources(properties={"log.dirs": " , "})


def test_dynamic_configs_follow_kafka_update_modes() -> None:
    assert parse_dynamic("log.retention.ms", "1000") == 1000
    assert parse_dynamic("log.cleaner.threads", "2", per_broker=False) == 2
    with pytest.raises(InvalidConfigError, match="Cannot update these configs dynamically: num.partitions"):
        parse_dynamic("num.partitions", "3")
    with pytest.raises(InvalidConfigError, match="broker id must be specified: listeners"):
        parse_dynamic("listeners", "PLAINTEXT://:9093", per_broker=False)
    with pytest.raises(InvalidConfigError, match="Unknown broker config name: log.retention.msec"):
        parse_dynamic("log.retention.msec", "1")
    cfg = BrokerConfig()
    assert cfg.set_dynamic({"num.partitions": "3", "message.max.bytes": "x"}, {"min.insync.replicas": "2"}) == [
        "Cannot update these configs dynamically: num.partitions (read-only: set it in server.properties)",
        "Invalid value x for configuration message.max.bytes: Not a number of type INT",
    ]
    assert cfg.topic_defaults()["min.insync.replicas"] == 2


def test_tables_are_consistent() -> None:
    assert len(BROKER_CONFIGS) > 300 and len(TOPIC_CONFIGS) == 36
    for spec in TOPIC_CONFIGS.values():
        assert spec.doc and (spec.acts or spec.note), spec.name
        assert spec.synonym is None or spec.synonym in BROKER_CONFIGS
        if spec.synonym is not None:  # the broker key's default is the topic key's default
            broker_default = BrokerConfig().get(spec.synonym)
            assert broker_default == spec.default, spec.name
    for spec in BROKER_CONFIGS.values():
        if spec.default is not None:
            assert spec.parse(spec.format(spec.default)) == spec.default, spec.name
    modes = {s.name: s.mode for s in BROKER_CONFIGS.values()}
    assert modes["listeners"] is UpdateMode.PER_BROKER and modes["num.partitions"] is UpdateMode.READ_ONLY
    assert modes["log.cleaner.threads"] is modes["message.max.bytes"] is UpdateMode.CLUSTER_WIDE


@pytest.mark.parametrize(("config", "reason"), [
    ({"cleanup.policy": "compact,delete,forever"}, "cleanup.policy"),
    ({"segment.bytes": "13"}, "Invalid value 13 for configuration segment.bytes: Value must be at least 14"),
    ({"min.cleanable.dirty.ratio": "1.5"}, "Value must be no more than 1"),
    ({"message.timestamp.type": "createtime"}, "String must be one of: CreateTime, LogAppendTime"),
    ({"compression.type": "none"}, "String must be one of: uncompressed"),
    ({"follower.replication.throttled.replicas": "0:a"}, "follower.replication.throttled.replicas"),
    ({"preallocate": "1"}, "Expected value to be either true or false"),
    ({"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, "conflict topic config setting"),
    ({"remote.storage.enable": "true"}, "Tiered Storage functionality is disabled in the broker"),
    ({"retention.msec": "1"}, "Unknown topic config name: retention.msec \\(did you mean retention.ms\\?\\)"),
])
def test_topic_config_refusals(config: dict[str, str], reason: str) -> None:
    with pytest.raises(InvalidConfigError, match=reason):
        normalize_topic_config(config)


def test_every_topic_config_accepts_kafka_values() -> None:
    good = {
        "cleanup.policy": "compact,delete", "compression.gzip.level": "-1", "compression.lz4.level": "17",
        "compression.type": "producer", "compression.zstd.level": "-5", "delete.retention.ms": "0",
        "file.delete.delay.ms": "1", "flush.messages": "1", "flush.ms": "0", "follower.replication.throttled.replicas": "*",
        "index.interval.bytes": "0", "leader.replication.throttled.replicas": "0:1,1:2", "local.retention.bytes": "-2",
        "local.retention.ms": "-2", "max.compaction.lag.ms": "1", "max.message.bytes": "0", "message.format.version": "2.8-IV1",
        "message.timestamp.after.max.ms": "0", "message.timestamp.before.max.ms": "0",
        "message.timestamp.difference.max.ms": "0", "message.timestamp.type": "LogAppendTime",
        "min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "0", "min.insync.replicas": "1", "preallocate": "TRUE",
        "remote.log.copy.disable": "false", "remote.log.delete.on.disable": "false", "remote.storage.enable": "false",
        "retention.bytes": "-17", "retention.ms": "-1", "segment.bytes": "14", "segment.index.bytes": "4",
        "segment.jitter.ms": "0", "segment.ms": "1", "unclean.leader.election.enable": "true",
        "message.downconversion.enable": "false",
    }
    assert set(good) == set(TOPIC_CONFIGS)
    typed = normalize_topic_config(good)
    assert typed["cleanup.policy"] == ["compact", "delete"] and typed["preallocate"] is True
    assert typed["min.cleanable.dirty.ratio"] == 0.01 and typed["retention.bytes"] == -17


def test_operations_doc_lists_every_topic_config_and_every_broker_key_acted_on() -> None:
    doc = (Path(__file__).parent.parent.parent / "docs" / "operations.md").read_text()
    missing = [k for k in TOPIC_CONFIGS if f"| `{k}` |" not in doc]
    missing += [k for k, spec in BROKER_CONFIGS.items() if spec.acts and f"`{k}`" not in doc]
    assert not missing, f"docs/operations.md does not mention {missing}"
