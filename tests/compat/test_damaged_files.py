"""Damaged files in a real broker's data directory, as disks and operators damage them.

What can be rebuilt from the segments (indexes, producer state, checkpoints) is rebuilt and
the partition is served; what cannot (the broker's identity, the producer ids handed out,
the topic list) stops the start-up with one line naming the file and what to do — never a
traceback, never an internal error on every request.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from compat_helpers import BrokerProcess, confluent_roundtrip_check


def _produce(bootstrap: str, topic: str, n: int) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "log_level": 0})
    for i in range(n):
        p.produce(topic, b"%d" % i, partition=0)
    assert p.flush(30) == 0


def _consume(bootstrap: str, topic: str, n: int, timeout: float = 30) -> list[bytes]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"d-{time.monotonic_ns()}", "enable.auto.commit": False,
                  "log_level": 0})
    c.assign([TopicPartition(topic, 0, 0)])
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for m in c.consume(1000, 0.5):
            assert m.error() is None, m.error()
            out.append(m.value())
    c.close()
    return out


def _start_fails(b: BrokerProcess) -> str:
    """Starts the broker expecting it to refuse: its exit status and last line."""
    r = subprocess.run(b.command(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, f"exit status {r.returncode}: {r.stderr[-2000:]}"
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    return r.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("name, content, expect", [
    ("meta.properties", b"\x00\xff garbage", "meta.properties"),
    ("meta.properties", b"cluster.id=\nversion=0\n", "no valid cluster.id"),
    ("producer-id-block", b"twelve\n", "producer-id-block is damaged"),
    ("topics.json", b'{"topics": [1, 2', "topics.json"),
])
def test_damaged_broker_file_stops_startup_with_one_clear_line(broker: BrokerProcess, name: str, content: bytes, expect: str) -> None:
    _produce(broker.bootstrap, "t", 10)
    from confluent_kafka.admin import AdminClient  # an idempotent producer made the producer-id-block exist

    AdminClient({"bootstrap.servers": broker.bootstrap})
    assert broker.stop() == 0
    (broker.data_dir / name).write_bytes(content)
    line = _start_fails(broker)
    assert expect in line and line.startswith("Error:"), line


def test_broker_id_of_another_broker_is_refused(broker: BrokerProcess) -> None:
    assert broker.stop() == 0
    broker.overrides["broker.id"] = "7"
    line = _start_fails(broker)
    assert "broker.id=0" in line and "--broker-id 0" in line, line


@pytest.mark.parametrize("damage", ["checkpoint", "producer_state", "clean_shutdown_dir", "index", "timeindex"])
def test_damaged_partition_metadata_is_rebuilt_and_served(broker: BrokerProcess, damage: str) -> None:
    _produce(broker.bootstrap, "p", 200)
    assert broker.stop() == 0
    part = broker.data_dir / "p-0"
    if damage == "checkpoint":
        for f in part.glob("*checkpoint*"):
            f.write_bytes(b"\x00garbage\xff\n-12\n")
    elif damage == "producer_state":
        (part / "producer-state.json").write_text('{"offset": "x", "producers": [[1, 2]]}')
    elif damage == "clean_shutdown_dir":
        marker = part / ".clean_shutdown"
        if marker.exists():
            marker.unlink()
        marker.mkdir()
    else:
        suffix = ".index" if damage == "index" else ".timeindex"
        for f in part.glob(f"*{suffix}"):
            f.write_bytes(b"\xff" * 64)
    broker.start()
    assert _consume(broker.bootstrap, "p", 200) == [b"%d" % i for i in range(200)]
    _produce(broker.bootstrap, "p", 10)  # the idempotent producer state works again
    assert len(_consume(broker.bootstrap, "p", 210)) == 210
    confluent_roundtrip_check(broker.bootstrap)
