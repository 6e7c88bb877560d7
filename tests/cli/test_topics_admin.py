"""`pystream topics create --if-not-exists | alter | describe` (all topics, partition filters) against a real broker."""

from __future__ import annotations

from cli_helpers import cli, unique

from pystream.protocol.client import KafkaClient


def _ok(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_create_if_not_exists(bootstrap: str, client: KafkaClient) -> None:
    name = unique("ine")
    assert _ok(cli(bootstrap, "topics", "create", name, "-p", "2", "--if-not-exists")) == [
        f"Created topic {name} with 2 partition(s)."]
    r = cli(bootstrap, "topics", "create", name, "-p", "5", "--if-not-exists")
    assert r.exit_code == 0 and r.stdout == ""  # silent, as kafka-topics
    assert client.partitions(name) == [0, 1]  # untouched
    r = cli(bootstrap, "topics", "create", name, "-p", "5")
    assert r.exit_code == 1 and "TOPIC_ALREADY_EXISTS" in r.stderr
    r = cli(bootstrap, "topics", "create", "bad name", "--if-not-exists")  # other errors still fail
    assert r.exit_code == 1 and "INVALID_TOPIC_EXCEPTION" in r.stderr


def test_alter_partitions_and_configs(bootstrap: str, client: KafkaClient) -> None:
    name = unique("alter")
    assert cli(bootstrap, "topics", "create", name, "-p", "1", "-c", "retention.ms=60000").exit_code == 0
    out = _ok(cli(bootstrap, "topics", "alter", name, "--partitions", "3", "--config", "segment.bytes=1048576",
                  "--delete-config", "retention.ms"))
    assert out == [f"Topic {name} now has 3 partition(s).",
                   f"Updated configs of topic {name}: segment.bytes=1048576, -retention.ms."]
    assert client.partitions(name) == [0, 1, 2]
    configs = client.describe_configs(name)
    assert configs["segment.bytes"]["value"] == "1048576" and not configs["segment.bytes"]["is_default"]
    assert configs["retention.ms"]["is_default"]  # back to the broker default

    r = cli(bootstrap, "topics", "alter", name, "--partitions", "2")
    assert r.exit_code == 1 and "INVALID_PARTITIONS" in r.stderr
    r = cli(bootstrap, "topics", "alter", name, "-c", "retention.ms=abc")
    assert r.exit_code == 1 and "INVALID_CONFIG" in r.stderr
    r = cli(bootstrap, "topics", "alter", name)
    assert r.exit_code == 1 and "nothing to alter" in r.stderr
    r = cli(bootstrap, "topics", "alter", unique("absent"), "-p", "4")
    assert r.exit_code == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in r.stderr
    r = cli(bootstrap, "topics", "alter", name, "-c", "a.b=1", "--delete-config", "a.b")
    assert r.exit_code == 1 and "both set and deleted" in r.stderr


def test_describe_all_and_partition_filters(bootstrap: str) -> None:
    a, b = unique("desc-a"), unique("desc-b")
    assert cli(bootstrap, "topics", "create", a, "-p", "2", "-c", "retention.ms=1000").exit_code == 0
    assert cli(bootstrap, "topics", "create", b, "-p", "1").exit_code == 0
    text = "\n".join(_ok(cli(bootstrap, "topics", "describe")))
    assert f"Topic: {a} " in text and f"Topic: {b} " in text and "__consumer_offsets" not in text
    assert "retention.ms" in text and "cleanup.policy" not in text  # only the topics' own configs
    assert "__consumer_offsets" in "\n".join(_ok(cli(bootstrap, "topics", "describe", "--all")))
    text = "\n".join(_ok(cli(bootstrap, "topics", "describe", a, b)))
    assert text.count("Topic: ") == 2
    # A single broker: every partition has its leader and a full ISR, so the filters show nothing.
    assert _ok(cli(bootstrap, "topics", "describe", "--under-replicated-partitions")) == []
    assert _ok(cli(bootstrap, "topics", "describe", a, "--unavailable-partitions")) == []
    r = cli(bootstrap, "topics", "describe", a, unique("absent"))
    assert r.exit_code == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in r.stderr
