"""The `pystream topics|produce|consume|groups` commands against a real broker process."""

from __future__ import annotations

import pytest
from cli_helpers import cli, unique

from pystream.protocol.client import KafkaClient
from pystream.protocol.murmur2 import partition_for_key
from pystream.tools.consume import Formatter
from pystream.tools.topics import parse_configs


def _lines(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_topics_create_list_describe_delete(bootstrap: str) -> None:
    name = unique("topic")
    r = cli(bootstrap, "topics", "create", name, "--partitions", "3", "--replication-factor", "1",
            "--config", "retention.ms=60000", "-c", "segment.bytes=1048576")
    assert r.exit_code == 0, r.output
    assert f"Created topic {name}" in r.stdout

    r = cli(bootstrap, "topics", "list")
    row = next(line for line in _lines(r) if line.split()[:1] == [name])
    assert row.split()[1:] == ["3", "1"]
    assert "__consumer_offsets" not in r.stdout
    assert "__consumer_offsets" in cli(bootstrap, "topics", "list", "--all").stdout
    assert name in _lines(cli(bootstrap, "topics", "list", "-q"))

    out = cli(bootstrap, "topics", "describe", name)
    text = "\n".join(_lines(out))
    assert f"Topic: {name}" in text and "PartitionCount: 3" in text and "ReplicationFactor: 1" in text
    parts = [line.split() for line in text.splitlines() if line.split()[:1] in (["0"], ["1"], ["2"])]
    assert [p[:4] for p in parts] == [["0", "0", "0", "0"], ["1", "0", "0", "0"], ["2", "0", "0", "0"]]
    configs = {line.split()[0]: line.split()[1:] for line in text.splitlines() if "." in line.split()[0]}
    assert configs["retention.ms"] == ["60000", "topic"]
    assert configs["segment.bytes"] == ["1048576", "topic"]
    assert configs["cleanup.policy"] == ["delete", "default"]

    r = cli(bootstrap, "topics", "delete", name)
    assert r.exit_code == 0 and f"Deleted topic {name}" in r.stdout
    assert name not in _lines(cli(bootstrap, "topics", "list", "-q"))
    r = cli(bootstrap, "topics", "delete", name)
    assert r.exit_code == 1
    assert "UNKNOWN_TOPIC_OR_PARTITION (3)" in r.stderr


def test_topics_create_bad_config_argument(bootstrap: str) -> None:
    r = cli(bootstrap, "topics", "create", unique("t"), "--config", "retention.ms")
    assert r.exit_code == 1 and "KEY=VALUE" in r.stderr
    with pytest.raises(Exception, match="KEY=VALUE"):
        parse_configs(["=x"])
    assert parse_configs(["a=b=c", " k = v "]) == {"a": "b=c", "k": "v"}


def test_topics_create_existing_prints_kafka_error(bootstrap: str) -> None:
    name = unique("dup")
    assert cli(bootstrap, "topics", "create", name, "-p", "1").exit_code == 0
    r = cli(bootstrap, "topics", "create", name, "-p", "1")
    assert r.exit_code == 1
    assert "TOPIC_ALREADY_EXISTS (36)" in r.stderr


def test_topics_describe_unknown_prints_kafka_error(bootstrap: str) -> None:
    r = cli(bootstrap, "topics", "describe", unique("missing"))
    assert r.exit_code == 1
    assert "UNKNOWN_TOPIC_OR_PARTITION (3)" in r.stderr


def test_no_broker_is_a_clear_error() -> None:
    r = cli("127.0.0.1:1", "topics", "list")
    assert r.exit_code == 1
    assert "cannot connect to 127.0.0.1:1" in r.stderr


def test_produce_keyed_lines_then_consume_with_format(bootstrap: str) -> None:
    topic = unique("kv")
    assert cli(bootstrap, "topics", "create", topic, "-p", "1").exit_code == 0
    r = cli(bootstrap, "produce", topic, "--key-separator", ":", input="a:1\nb:2:x\nno key\n\n")
    assert r.exit_code == 0, r.output
    assert "Produced 4 record(s)" in r.stderr

    out = _lines(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "1000", "-f", "%p|%o|%k|%v|%K|%S"))
    assert out == ["0|0|a|1|1|1", "0|1|b|2:x|1|3", "0|2||no key|-1|6", "0|3|||-1|0"]

    out = _lines(cli(bootstrap, "consume", topic, "--from-beginning", "--max-messages", "2",
                     "-f", "{topic} {offset} {key}\\t{value}"))
    assert out == [f"{topic} 0 a\t1", f"{topic} 1 b\t2:x"]

    # Default format: the value; from the end (no --from-beginning) there is nothing new.
    assert _lines(cli(bootstrap, "consume", topic, "--from-beginning", "-n", "1")) == ["1"]
    assert _lines(cli(bootstrap, "consume", topic, "--timeout-ms", "300")) == []


def test_keyed_lines_land_on_the_murmur2_partition(bootstrap: str) -> None:
    topic = unique("murmur")
    assert cli(bootstrap, "topics", "create", topic, "-p", "5").exit_code == 0
    keys = [f"key-{i}" for i in range(40)]
    r = cli(bootstrap, "produce", topic, "-K", "\t", input="".join(f"{k}\tv{i}\n" for i, k in enumerate(keys)))
    assert r.exit_code == 0, r.output
    out = _lines(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "1000", "-f", "%p %k %v"))
    assert len(out) == len(keys)
    seen = {}
    for line in out:
        p, k, _ = line.split()
        seen[k] = int(p)
    assert seen == {k: partition_for_key(k.encode(), 5) for k in keys}
    assert len(set(seen.values())) > 1


def test_produce_to_explicit_partition_with_compression(bootstrap: str) -> None:
    topic = unique("comp")
    assert cli(bootstrap, "topics", "create", topic, "-p", "3").exit_code == 0
    lines = [f"line {i} " + "x" * 50 for i in range(2500)]
    r = cli(bootstrap, "produce", topic, "--partition", "2", "--compression", "gzip", "--batch-size", "1000",
            input="\n".join(lines) + "\n")
    assert r.exit_code == 0, r.output
    assert "in 3 batch(es)" in r.stderr
    out = _lines(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "1000", "-p", "2", "-f", "%o %v"))
    assert out == [f"{i} {line}" for i, line in enumerate(lines)]
    assert _lines(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "200", "-p", "0")) == []
    r = cli(bootstrap, "produce", topic, "--partition", "7", input="x\n")
    assert r.exit_code == 1 and "out of range" in r.stderr


def test_unkeyed_lines_are_sticky_per_batch(bootstrap: str) -> None:
    topic = unique("sticky")
    assert cli(bootstrap, "topics", "create", topic, "-p", "4").exit_code == 0
    r = cli(bootstrap, "produce", topic, "--batch-size", "10", input="".join(f"v{i}\n" for i in range(100)))
    assert r.exit_code == 0, r.output
    out = _lines(cli(bootstrap, "consume", topic, "--from-beginning", "--timeout-ms", "1000", "-f", "%p %o %v"))
    assert sorted(int(line.split()[2][1:]) for line in out) == list(range(100))
    by_value = {int(line.split()[2][1:]): int(line.split()[0]) for line in out}
    for start in range(0, 100, 10):  # each batch of 10 consecutive lines went to one partition
        assert len({by_value[i] for i in range(start, start + 10)}) == 1
    assert len(set(by_value.values())) > 1


def test_consume_with_group_commits_and_resumes(bootstrap: str, client: KafkaClient) -> None:
    topic, group = unique("grp"), unique("g")
    assert cli(bootstrap, "topics", "create", topic, "-p", "2").exit_code == 0
    assert cli(bootstrap, "produce", topic, "-p", "0", input="a\nb\nc\n").exit_code == 0
    assert cli(bootstrap, "produce", topic, "-p", "1", input="d\ne\n").exit_code == 0

    first = _lines(cli(bootstrap, "consume", topic, "--group", group, "--from-beginning", "-n", "3", "-f", "%p:%o:%v"))
    assert first == ["0:0:a", "0:1:b", "0:2:c"]
    assert client.offset_fetch(group, [(topic, 0), (topic, 1)]) == {(topic, 0): 3}

    second = _lines(cli(bootstrap, "consume", topic, "-g", group, "--from-beginning", "--timeout-ms", "500", "-f", "%p:%o:%v"))
    assert second == ["1:0:d", "1:1:e"]
    assert client.offset_fetch(group) == {(topic, 0): 3, (topic, 1): 2}

    assert cli(bootstrap, "produce", topic, "-p", "1", input="f\n").exit_code == 0
    third = _lines(cli(bootstrap, "consume", topic, "-g", group, "--timeout-ms", "500", "-f", "%p:%o:%v"))
    assert third == ["1:2:f"]


def test_groups_list_and_describe_show_lag(bootstrap: str) -> None:
    topic, group = unique("lag"), unique("lagging")
    assert cli(bootstrap, "topics", "create", topic, "-p", "2").exit_code == 0
    assert cli(bootstrap, "produce", topic, "-p", "0", input="".join(f"{i}\n" for i in range(10))).exit_code == 0
    assert cli(bootstrap, "produce", topic, "-p", "1", input="".join(f"{i}\n" for i in range(4))).exit_code == 0
    assert len(_lines(cli(bootstrap, "consume", topic, "-g", group, "--from-beginning", "-n", "6", "-p", "0"))) == 6
    assert len(_lines(cli(bootstrap, "consume", topic, "-g", group, "--from-beginning", "-n", "4", "-p", "1"))) == 4

    rows = [line.split() for line in _lines(cli(bootstrap, "groups", "list"))]
    assert [group, "Empty", "-"] in rows

    text = "\n".join(_lines(cli(bootstrap, "groups", "describe", group)))
    assert f"Group: {group}" in text and "State: Empty" in text and "Members: 0" in text
    offsets = [line.split() for line in text.splitlines() if line.split()[:1] == [topic]]
    assert offsets == [[topic, "0", "6", "10", "4", "-"], [topic, "1", "4", "4", "0", "-"]]

    r = cli(bootstrap, "groups", "describe", unique("nobody"))
    assert r.exit_code == 1 and "does not exist" in r.stderr


def test_formatter_styles() -> None:
    from pystream._core import Record

    rec = Record(5, 1700000000000, b"k", b"v\xff", [("h1", b"x"), ("h2", None)])
    assert Formatter("%t/%p/%o %k=%v %T [%h] 100%%")("t", 1, rec) == "t/1/5 k=v\ufffd 1700000000000 [h1=x,h2=] 100%\n"
    assert Formatter("{partition}\\t{key}\\n")("t", 1, rec) == "1\tk\n"
    assert Formatter("{value!r}")("t", 0, Record(0, 0, None, None)) == "''\n"
    with pytest.raises(Exception, match="unknown format token"):
        Formatter("%q")
    with pytest.raises(Exception, match="bad --format"):
        Formatter("{nope}")


def test_groups_describe_shows_members_of_a_live_group(bootstrap: str) -> None:
    kafka = pytest.importorskip("kafka")
    topic, group = unique("live"), unique("live-g")
    assert cli(bootstrap, "topics", "create", topic, "-p", "2").exit_code == 0
    assert cli(bootstrap, "produce", topic, "-p", "0", input="a\nb\nc\n").exit_code == 0
    consumer = kafka.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                   enable_auto_commit=False, consumer_timeout_ms=5000)
    try:
        assert len([m for _, m in zip(range(3), consumer)]) == 3
        consumer.commit()
        text = "\n".join(_lines(cli(bootstrap, "groups", "describe", group)))
        assert "State: Stable" in text and "Protocol: consumer/" in text and "Members: 1" in text
        assert f"{topic}:0,1" in text
        offsets = [line.split() for line in text.splitlines() if line.split()[:1] == [topic]]
        assert [o[:5] for o in offsets] == [[topic, "0", "3", "3", "0"], [topic, "1", "0", "0", "0"]]
        assert offsets[0][5].startswith("kafka-python")
    finally:
        consumer.close()


def test_consume_resets_an_out_of_range_committed_offset(bootstrap: str, client: KafkaClient) -> None:
    topic, group = unique("oor"), unique("oor-g")
    assert cli(bootstrap, "topics", "create", topic, "-p", "1").exit_code == 0
    assert cli(bootstrap, "produce", topic, input="a\nb\n").exit_code == 0
    client.offset_commit(group, {(topic, 0): 50})
    r = cli(bootstrap, "consume", topic, "-g", group, "--from-beginning", "--timeout-ms", "500")
    assert _lines(r) == ["a", "b"]
    assert "offset 50" in r.stderr and "resetting to 0" in r.stderr
    assert client.offset_fetch(group) == {(topic, 0): 2}
