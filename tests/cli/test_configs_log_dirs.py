"""`pystream configs describe|alter` (kafka-configs) and `pystream log-dirs` (kafka-log-dirs) against a real broker."""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import Broker, cli, unique

from pystream.protocol.client import KafkaClient
from pystream.tools.configs import parse_add_config


def _ok(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def _rows(lines: list[str]) -> dict[str, list[str]]:
    return {line.split()[0]: line.split()[1:] for line in lines if line.split() and "." in line.split()[0]}


def test_configs_topics(bootstrap: str, client: KafkaClient) -> None:
    topic = unique("cfg")
    assert cli(bootstrap, "topics", "create", topic, "-p", "1", "-c", "retention.ms=60000").exit_code == 0
    args = ("configs", "describe", "--entity-type", "topics", "--entity-name", topic)
    out = _ok(cli(bootstrap, *args))
    assert out[0] == f"Dynamic configs for topic {topic} are:"
    assert _rows(out) == {"retention.ms": ["60000", "DYNAMIC_TOPIC_CONFIG"]}  # only what the topic sets

    r = cli(bootstrap, "configs", "alter", "--entity-type", "topics", "--entity-name", topic,
            "--add-config", "segment.bytes=1048576,max.message.bytes=2000000", "--delete-config", "retention.ms")
    assert _ok(r) == [f"Completed updating config for topic {topic}."]
    assert _rows(_ok(cli(bootstrap, *args))) == {"max.message.bytes": ["2000000", "DYNAMIC_TOPIC_CONFIG"],
                                                 "segment.bytes": ["1048576", "DYNAMIC_TOPIC_CONFIG"]}
    everything = _rows(_ok(cli(bootstrap, *args, "--all")))
    assert everything["retention.ms"][1] == "DEFAULT_CONFIG" and everything["segment.bytes"][1] == "DYNAMIC_TOPIC_CONFIG"
    assert client.describe_configs(topic)["max.message.bytes"]["value"] == "2000000"

    # without a name: every topic
    assert f"Dynamic configs for topic {topic} are:" in _ok(cli(bootstrap, "configs", "describe", "--entity-type", "topics"))

    r = cli(bootstrap, "configs", "alter", "--entity-type", "topics", "--entity-name", topic, "--add-config", "retention.ms=x")
    assert r.exit_code == 1 and "INVALID_CONFIG" in r.stderr
    r = cli(bootstrap, "configs", "alter", "--entity-type", "topics", "--add-config", "retention.ms=1")
    assert r.exit_code == 1 and "needs --entity-name TOPIC" in r.stderr
    r = cli(bootstrap, "configs", "alter", "--entity-type", "topics", "--entity-name", topic)
    assert r.exit_code == 1 and "nothing to alter" in r.stderr
    r = cli(bootstrap, "configs", "describe", "--entity-type", "topics", "--entity-name", unique("absent"))
    assert r.exit_code == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in r.stderr


def test_configs_brokers_describe(bootstrap: str) -> None:
    out = _ok(cli(bootstrap, "configs", "describe", "--entity-type", "brokers", "--entity-name", "0", "--all"))
    assert out[0] == "All configs for broker 0 are:"
    rows = _rows(out)
    assert rows["num.partitions"][0] == "1" and rows["group.initial.rebalance.delay.ms"][0] == "0"
    # no name: every broker (one here)
    out = _ok(cli(bootstrap, "configs", "describe", "--entity-type", "brokers", "--all"))
    assert out[0] == "All configs for broker 0 are:"
    out = _ok(cli(bootstrap, "configs", "describe", "--entity-type", "brokers", "--entity-default"))
    assert out[0] == "Dynamic configs for the default of every broker are:"
    r = cli(bootstrap, "configs", "describe", "--entity-type", "brokers", "--entity-name", "zero")
    assert r.exit_code == 1 and "named by its id" in r.stderr


def test_parse_add_config() -> None:
    assert parse_add_config(["a=1,b.c=[x,y]", "d=e,f"]) == {"a": "1", "b.c": "x,y", "d": "e,f"}


def test_log_dirs(tmp_path: Path) -> None:
    broker = Broker(tmp_path)  # its own data dir, so the sizes are known
    broker.start()
    try:
        bootstrap = broker.bootstrap
        topic = unique("dirs")
        assert cli(bootstrap, "topics", "create", topic, "-p", "2").exit_code == 0
        assert cli(bootstrap, "produce", topic, "-p", "1", input="x" * 1000 + "\n").exit_code == 0
        doc = json.loads(_ok(cli(bootstrap, "log-dirs", "--json", "--topic-list", topic))[0])
        assert doc["version"] == 1 and [b["broker"] for b in doc["brokers"]] == [0]
        (log_dir,) = doc["brokers"][0]["logDirs"]
        assert Path(log_dir["logDir"]).resolve() == broker.data_dir.resolve() and log_dir["error"] is None
        sizes = {p["partition"]: p["size"] for p in log_dir["partitions"]}
        on_disk = (broker.data_dir / f"{topic}-1" / "00000000000000000000.log").stat().st_size
        assert sizes == {f"{topic}-0": 0, f"{topic}-1": on_disk} and on_disk > 1000
        assert all(p["offsetLag"] == 0 and p["isFuture"] is False for p in log_dir["partitions"])

        text = "\n".join(_ok(cli(bootstrap, "log-dirs", "--topic-list", topic)))
        assert f"Broker: 0  LogDir: {log_dir['logDir']}  Partitions: 2  Size: {on_disk}  Volume:" in text
        rows = [line.split() for line in text.splitlines() if line.split()[:1] == [topic]]
        assert [r[:3] for r in rows] == [[topic, "0", "0"], [topic, "1", str(on_disk)]]
        assert topic in "\n".join(_ok(cli(bootstrap, "log-dirs")))  # every topic

        r = cli(bootstrap, "log-dirs", "--broker-list", "7")
        assert r.exit_code == 1 and "broker 7 is not in the cluster" in r.stderr
        r = cli(bootstrap, "log-dirs", "--topic-list", unique("absent"))
        assert r.exit_code == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in r.stderr
    finally:
        broker.stop()


def test_configs_brokers_alter(tmp_path: Path) -> None:
    """Dynamic broker configs: a broker's own and the cluster default, shown with their source."""
    broker = Broker(tmp_path)  # its own broker: the changes stay in this test
    broker.start()
    try:
        b = broker.bootstrap
        r = cli(b, "configs", "alter", "--entity-type", "brokers", "--entity-default", "--add-config", "log.retention.ms=7200000")
        assert _ok(r) == ["Completed updating config for the default of every broker."]
        r = cli(b, "configs", "alter", "--entity-type", "brokers", "--entity-name", "0", "--add-config", "log.retention.ms=3600000")
        assert _ok(r) == ["Completed updating config for broker 0."]
        assert _rows(_ok(cli(b, "configs", "describe", "--entity-type", "brokers", "--entity-default"))) == {
            "log.retention.ms": ["7200000", "DYNAMIC_DEFAULT_BROKER_CONFIG"]}
        assert _rows(_ok(cli(b, "configs", "describe", "--entity-type", "brokers", "--entity-name", "0")))[
            "log.retention.ms"] == ["3600000", "DYNAMIC_BROKER_CONFIG"]
        # the broker's own value removed: the cluster default shows through
        assert cli(b, "configs", "alter", "--entity-type", "brokers", "--entity-name", "0",
                   "--delete-config", "log.retention.ms").exit_code == 0
        rows = _rows(_ok(cli(b, "configs", "describe", "--entity-type", "brokers", "--entity-name", "0", "--all")))
        assert rows["log.retention.ms"][:2] == ["7200000", "DYNAMIC_DEFAULT_BROKER_CONFIG"]
        r = cli(b, "configs", "alter", "--entity-type", "brokers", "--add-config", "broker.id=5")
        assert r.exit_code == 1 and "broker.id" in r.stderr  # not a dynamic config: the broker's answer
    finally:
        broker.stop()
