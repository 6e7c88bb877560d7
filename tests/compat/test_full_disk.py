"""A broker whose data directory fills up: a real full filesystem (a small tmpfs), real clients.

Nothing acknowledged is lost or duplicated, produce answers KAFKA_STORAGE_ERROR while the
disk is full, reads keep working, DeleteTopics frees space, and the broker stops cleanly,
starts again on the full disk, and takes writes again once there is room.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
from compat_helpers import BrokerProcess

MB = 1 << 20
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs (a real full disk) needs root; .ci/run runs as root")

# Small segments and indexes so a few MB hold several segments; 2 offsets partitions keep the
# internal topic small.
OVERRIDES = {"log.segment.bytes": str(1 * MB), "log.index.size.max.bytes": str(64 * 1024),
             "offsets.topic.num.partitions": "2"}


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _resize(mnt: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mnt)], check=True)


def _broker(base: Path, tmpfs: Path) -> BrokerProcess:
    b = BrokerProcess(base, OVERRIDES)
    b.data_dir = tmpfs / "data"
    b.start()
    return b


def _produce_until_full(bootstrap: str, topic: str, limit: int, timeout: float = 60) -> tuple[dict[int, int], list[str]]:
    """An idempotent acks=all producer sends up to `limit` numbered records; value -> offset of
    every acknowledged one, and the errors seen."""
    from confluent_kafka import Producer

    acked: dict[int, int] = {}
    errors: list[str] = []

    def done(err, msg) -> None:
        if err is None:
            acked[int(msg.value())] = msg.offset()
        else:
            errors.append(err.name())

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 5,
                  "message.timeout.ms": 8000, "batch.size": 65536, "log_level": 0})
    pad = b"x" * 1000
    deadline = time.monotonic() + timeout
    for i in range(limit):
        while True:
            try:
                p.produce(topic, b"%08d" % i, partition=0, headers=[("pad", pad)], on_delivery=done)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        if errors or time.monotonic() > deadline:
            break
    p.flush(30)
    return acked, errors


def _read_all(bootstrap: str, topic: str, timeout: float = 30) -> list[tuple[int, int]]:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.monotonic_ns()}", "enable.auto.commit": False,
                  "log_level": 0})
    c.assign([TopicPartition(topic, 0, 0)])
    out: list[tuple[int, int]] = []
    idle_until = time.monotonic() + 5
    deadline = time.monotonic() + timeout
    while time.monotonic() < min(idle_until, deadline):
        for m in c.consume(1000, 0.5):
            assert m.error() is None, m.error()
            out.append((int(m.value()), m.offset()))
            idle_until = time.monotonic() + 3
    c.close()
    return out


def _check_exactly_once(acked: dict[int, int], read: list[tuple[int, int]]) -> None:
    offsets = [o for _v, o in read]
    assert offsets == sorted(set(offsets)), "offsets repeat or go backwards"
    values = [v for v, _o in read]
    assert len(values) == len(set(values)), "a record is in the log twice"
    where = dict(read)
    missing = [v for v in acked if v not in where]
    assert not missing, f"{len(missing)} acknowledged records are gone, e.g. {missing[:5]}"
    moved = [v for v, o in acked.items() if where[v] != o]
    assert not moved, f"{len(moved)} acknowledged records moved, e.g. {moved[:5]}"


@pytest.mark.deadline(240)
def test_full_disk_loses_nothing_acknowledged_and_recovers(tmp_path: Path, tmpfs: Path) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    b = _broker(tmp_path / "b", tmpfs)
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap, "log_level": 0})
        admin.create_topics([NewTopic("fill", 1, 1), NewTopic("spare", 1, 1)])["fill"].result(20)
        acked, errors = _produce_until_full(b.bootstrap, "fill", 100_000)
        assert errors, "the disk never filled up"
        assert "KAFKA_STORAGE_ERROR" in errors or "_MSG_TIMED_OUT" in errors, errors[:5]
        assert len(acked) > 1000

        # Reads of existing data work on the full disk.
        _check_exactly_once(acked, _read_all(b.bootstrap, "fill"))

        # The broker stops cleanly on the full disk and starts again on it.
        assert b.stop() == 0, b.log_tail()
        b.start()
        _check_exactly_once(acked, _read_all(b.bootstrap, "fill"))

        # Room again: writes resume with the next offsets, no gap, no duplicate.
        _resize(tmpfs, "40m")
        more, errors = _produce_until_full(b.bootstrap, "fill", 2000)
        assert not errors, errors[:5]
        assert min(more.values()) == max(acked.values()) + 1, "a gap or reused offsets after the disk had room again"
        acked.update({v + 1_000_000: o for v, o in more.items()})

        # A kill -9 and restart keep every acknowledged record.
        b.kill9()
        b.start()
        _check_exactly_once(acked, _renumber(_read_all(b.bootstrap, "fill"), acked))
    finally:
        b.kill9()


def _renumber(read: list[tuple[int, int]], acked: dict[int, int]) -> list[tuple[int, int]]:
    """The second run numbered its records from 0 again: map them to the keys `acked` uses."""
    first_run_end = max(o for v, o in acked.items() if v < 1_000_000)
    return [(v + 1_000_000 if o > first_run_end else v, o) for v, o in read]


@pytest.mark.deadline(180)
def test_delete_topic_on_a_full_disk_frees_space(tmp_path: Path, tmpfs: Path) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    b = _broker(tmp_path / "b", tmpfs)
    try:
        admin = AdminClient({"bootstrap.servers": b.bootstrap, "log_level": 0})
        admin.create_topics([NewTopic("big", 1, 1)])["big"].result(20)
        _acked, errors = _produce_until_full(b.bootstrap, "big", 100_000)
        assert errors, "the disk never filled up"
        free_before = os.statvfs(tmpfs).f_bavail
        admin.delete_topics(["big"])["big"].result(30)
        deadline = time.monotonic() + 10
        while os.statvfs(tmpfs).f_bavail <= free_before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.statvfs(tmpfs).f_bavail > free_before + 2 * MB // os.statvfs(tmpfs).f_frsize, "no space was freed"
        assert "big" not in admin.list_topics(timeout=10).topics
        acked, errors = _produce_until_full(b.bootstrap, "after", 200)
        assert not errors and len(acked) == 200
    finally:
        b.kill9()
