"""`pystream groups delete | reset-offsets` against a real broker (kafka-consumer-groups' behaviour)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from cli_helpers import cli, unique

from pystream.protocol.client import KafkaClient
from pystream.tools import ToolError
from pystream.tools.groups import parse_duration, parse_topic_partitions


def _plan(result) -> list[list[str]]:  # type: ignore[no-untyped-def]
    """The GROUP TOPIC PARTITION NEW-OFFSET rows of a reset-offsets run."""
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"]
    return [line.split() for line in lines[1:]]


def _fill(bootstrap: str, topic: str, parts: int, per_partition: int) -> None:
    assert cli(bootstrap, "topics", "create", topic, "-p", str(parts)).exit_code == 0
    for p in range(parts):
        r = cli(bootstrap, "produce", topic, "-p", str(p), input="".join(f"{p}.{i}\n" for i in range(per_partition)))
        assert r.exit_code == 0, r.output


def test_groups_delete(bootstrap: str, client: KafkaClient) -> None:
    topic, g1, g2 = unique("del"), unique("del-g"), unique("del-g")
    _fill(bootstrap, topic, 1, 2)
    client.offset_commit(g1, {(topic, 0): 1})
    client.offset_commit(g2, {(topic, 0): 2})
    r = cli(bootstrap, "groups", "delete", g1, g2)
    assert r.exit_code == 0, r.output
    assert f"Deletion of requested consumer groups ('{g1}', '{g2}') was successful." in r.stdout
    assert client.offset_fetch(g1) == {} and client.offset_fetch(g2) == {}
    assert g1 not in cli(bootstrap, "groups", "list").stdout
    r = cli(bootstrap, "groups", "delete", g1)
    assert r.exit_code == 1 and f"group '{g1}' could not be deleted: GROUP_ID_NOT_FOUND" in r.stderr


def test_groups_delete_refuses_a_group_with_members(bootstrap: str) -> None:
    kafka = pytest.importorskip("kafka")
    topic, group = unique("busy"), unique("busy-g")
    _fill(bootstrap, topic, 1, 1)
    consumer = kafka.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest")
    try:
        deadline = time.monotonic() + 20
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=100)
        r = cli(bootstrap, "groups", "delete", group)
        assert r.exit_code == 1 and "NON_EMPTY_GROUP" in r.stderr and "stop them first" in r.stderr
        # reset-offsets refuses too, as kafka-consumer-groups does, and commits nothing
        r = cli(bootstrap, "groups", "reset-offsets", "-g", group, "--topic", topic, "--to-earliest", "--execute")
        assert r.exit_code == 1 and "can only be reset if the group" in r.stderr and "Stable" in r.stderr
    finally:
        consumer.close()


def test_reset_offsets_plans_and_executes(bootstrap: str, client: KafkaClient) -> None:
    topic, group = unique("reset"), unique("reset-g")
    _fill(bootstrap, topic, 2, 10)
    client.offset_commit(group, {(topic, 0): 5, (topic, 1): 5})

    def reset(*args: str) -> list[list[str]]:
        return _plan(cli(bootstrap, "groups", "reset-offsets", "-g", group, *args))

    # dry run (the default): the plan, nothing committed
    r = cli(bootstrap, "groups", "reset-offsets", "-g", group, "--topic", topic, "--to-earliest")
    assert _plan(r) == [[group, topic, "0", "0"], [group, topic, "1", "0"]] and "dry run" in r.stderr
    assert client.offset_fetch(group) == {(topic, 0): 5, (topic, 1): 5}

    assert reset("--topic", f"{topic}:1", "--to-latest", "--execute") == [[group, topic, "1", "10"]]
    assert client.offset_fetch(group) == {(topic, 0): 5, (topic, 1): 10}
    assert reset("--all-topics", "--shift-by", "-3", "--execute") == [[group, topic, "0", "2"], [group, topic, "1", "7"]]
    assert reset("--all-topics", "--shift-by", "100", "--dry-run") == [[group, topic, "0", "10"], [group, topic, "1", "10"]]
    assert reset("--topic", topic, "--to-offset", "4", "--execute") == [[group, topic, "0", "4"], [group, topic, "1", "4"]]
    assert reset("--topic", topic, "--to-offset", "-5") == [[group, topic, "0", "0"], [group, topic, "1", "0"]]  # clamped
    assert reset("--topic", topic, "--to-current") == [[group, topic, "0", "4"], [group, topic, "1", "4"]]
    assert client.offset_fetch(group) == {(topic, 0): 4, (topic, 1): 4}

    # by time: every record is from the last minute
    past = datetime.fromtimestamp(time.time() - 3600, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert reset("--topic", topic, "--to-datetime", past) == [[group, topic, "0", "0"], [group, topic, "1", "0"]]
    future = datetime.fromtimestamp(time.time() + 3600).strftime("%Y-%m-%dT%H:%M:%S.000")
    assert reset("--topic", topic, "--to-datetime", future) == [[group, topic, "0", "10"], [group, topic, "1", "10"]]
    assert reset("--topic", topic, "--by-duration", "PT1H", "--execute") == [[group, topic, "0", "0"], [group, topic, "1", "0"]]
    assert client.offset_fetch(group) == {(topic, 0): 0, (topic, 1): 0}

    # a consumer of the group starts where the reset put it
    out = cli(bootstrap, "consume", topic, "-g", group, "--timeout-ms", "1000", "-f", "%p %o")
    assert len(out.stdout.splitlines()) == 20


def test_reset_offsets_errors(bootstrap: str, client: KafkaClient) -> None:
    topic, group = unique("reset-err"), unique("reset-err-g")
    _fill(bootstrap, topic, 1, 3)
    args = ("groups", "reset-offsets", "-g", group)
    r = cli(bootstrap, *args, "--topic", topic)
    assert r.exit_code == 2 and "give one of --to-earliest" in r.stderr
    r = cli(bootstrap, *args, "--to-earliest")
    assert r.exit_code == 2 and "--all-topics" in r.stderr
    r = cli(bootstrap, *args, "--all-topics", "--to-earliest")
    assert r.exit_code == 1 and "no committed offsets" in r.stderr
    r = cli(bootstrap, *args, "--topic", topic, "--shift-by", "1")
    assert r.exit_code == 1 and "no committed offset there" in r.stderr
    r = cli(bootstrap, *args, "--topic", f"{topic}:4", "--to-earliest")
    assert r.exit_code == 1 and "has no partition 4" in r.stderr
    r = cli(bootstrap, *args, "--topic", topic, "--to-datetime", "yesterday")
    assert r.exit_code == 1 and "YYYY-MM-DDTHH:mm:SS.sss" in r.stderr
    r = cli(bootstrap, *args, "--topic", topic, "--to-latest", "--dry-run", "--execute")
    assert r.exit_code == 2
    assert client.offset_fetch(group) == {}


def test_reset_offsets_shows_progress_on_a_terminal(bootstrap: str, client: KafkaClient) -> None:
    """rich draws the bar on stderr only when it is a terminal (FORCE_COLOR makes it think so)."""
    from click.testing import CliRunner

    from pystream.cli import main

    topic, group = unique("progress"), unique("progress-g")
    _fill(bootstrap, topic, 3, 1)
    args = ["groups", "reset-offsets", "-g", group, "--topic", topic, "--to-latest", "--execute", "-b", bootstrap]
    r = CliRunner().invoke(main, args, env={"FORCE_COLOR": "1", "COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    assert "Resetting offsets" in r.stderr and "3/3" in r.stderr
    assert client.offset_fetch(group) == {(topic, p): 1 for p in range(3)}
    plain = cli(bootstrap, "groups", "reset-offsets", "-g", group, "--topic", topic, "--to-earliest", "--execute")
    assert "Resetting offsets" not in plain.stderr  # not a terminal: no bar


def test_parsers() -> None:
    assert parse_duration("PT30M") == 30 * 60_000
    assert parse_duration("P1DT2H3M4.5S") == ((24 + 2) * 3600 + 3 * 60 + 4.5) * 1000
    assert parse_duration("p2d") == 2 * 86_400_000
    for bad in ("P", "PT", "30M", "P1DT", "P1Y"):
        with pytest.raises(ToolError):
            parse_duration(bad)
    assert parse_topic_partitions(["a:1,0", "b", "a:3", "b:1"]) == {"a": [0, 1, 3], "b": None}
    with pytest.raises(ToolError):
        parse_topic_partitions(["a:x"])
