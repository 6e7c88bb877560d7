"""`pystream groups` on a group of KIP-848's consumer protocol (librdkafka, group.protocol=consumer)."""

from __future__ import annotations

import time

import pytest
from cli_helpers import cli, unique

confluent_kafka = pytest.importorskip("confluent_kafka")
pytestmark = pytest.mark.skipif(
    tuple(int(x) for x in confluent_kafka.libversion()[0].split(".")[:2]) < (2, 10),
    reason="librdkafka >= 2.10 has the consumer group protocol (group.protocol=consumer)")


def test_groups_list_and_describe_a_consumer_protocol_group(bootstrap: str) -> None:
    topic, group = unique("k848"), unique("k848-g")
    assert cli(bootstrap, "topics", "create", topic, "-p", "2").exit_code == 0
    assert cli(bootstrap, "produce", topic, "-p", "0", input="a\nb\nc\n").exit_code == 0
    c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 3 and time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                got.append(m)
        assert len(got) == 3
        c.commit(message=got[-1], asynchronous=False)
        rows = [line.split() for line in cli(bootstrap, "groups", "list").stdout.splitlines()]
        assert [group, "Stable", "consumer"] in rows
        text = cli(bootstrap, "groups", "describe", group).stdout
        assert "State: Stable" in text and "Protocol: consumer/uniform" in text and "Members: 1" in text, text
        assert f"{topic}:0,1" in text
        offsets = [line.split() for line in text.splitlines() if line.split()[:1] == [topic]]
        assert [o[:5] for o in offsets] == [[topic, "0", "3", "3", "0"], [topic, "1", "-", "0", "-"]], offsets
    finally:
        c.close()
