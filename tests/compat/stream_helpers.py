"""Helpers of the stream-processing tests (Quix Streams, Faust) over a real broker:
the application as a child process, the input written and the output read with
confluent-kafka, and a wait for the log cleaner to have compacted a topic."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from compat_helpers import BrokerProcess
from confluent_kafka import Consumer, Producer, TopicPartition

from pystream.storage.cleaner import CHECKPOINT_FILE, read_checkpoint

APPS = Path(__file__).parent / "apps"

# Small segments so that changelog topics roll and get compacted while the test runs;
# a cleaner that looks often and finds anything dirty due.
COMPACTING_BROKER = {
    "log.segment.bytes": "16384",
    "log.cleaner.backoff.ms": "100",
    "log.cleaner.min.cleanable.ratio": "0.01",
}


class App:
    """A stream-processing application in a child process (its output in a log file)."""

    def __init__(self, script: str, args: list[str], log_path: Path, cwd: Path) -> None:
        self.cmd = [sys.executable, str(APPS / script), *args]
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== {' '.join(self.cmd)}\n".encode())
            log.flush()
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         cwd=self.cwd, env=env, start_new_session=True)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(15)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.kill9()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def produce_json(broker: BrokerProcess, topic: str, records: list[tuple[str, dict]], timestamp_ms: int) -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
    for key, value in records:
        p.produce(topic, json.dumps(value).encode(), key=key.encode(), timestamp=timestamp_ms)
    assert p.flush(30) == 0


def read_all(broker: BrokerProcess, topic: str) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """(partition, offset, key, value) of every record of `topic`, each partition read to its end."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"reader-{time.monotonic_ns()}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        md = c.list_topics(topic, timeout=10).topics.get(topic)
        if md is None or md.error is not None:
            return []
        parts = [TopicPartition(topic, p, 0) for p in md.partitions]
        ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts}
        todo = {p for p, end in ends.items() if end > 0}
        c.assign(parts)
        out = []
        deadline = time.monotonic() + 30
        while todo and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error() is not None:
                continue
            out.append((m.partition(), m.offset(), m.key(), m.value()))
            if m.offset() >= ends[m.partition()] - 1:
                todo.discard(m.partition())
        assert not todo, f"could not read {topic} to its end"
        return out
    finally:
        c.close()


def read_latest(broker: BrokerProcess, topic: str, decode: Callable[[bytes], object] = json.loads) -> dict[str, object]:
    """The last value of each key in `topic` (every partition, read to the end)."""
    return {k.decode(): None if v is None else decode(v) for _p, _o, k, v in read_all(broker, topic) if k is not None}


def wait_for(what: str, check: Callable[[], bool], timeout: float, app: App | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if app is not None and not app.alive():
            raise AssertionError(f"the application exited before {what}:\n{app.log_tail()}")
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}" + (f":\n{app.log_tail()}" if app else ""))


def compacted_topics(broker: BrokerProcess) -> set[str]:
    """The topics of which the broker's log cleaner has compacted a partition (its checkpoint moved)."""
    return {t for (t, _p), o in read_checkpoint(broker.data_dir / CHECKPOINT_FILE).items() if o > 0}


def topics(broker: BrokerProcess) -> list[str]:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "lister"})
    try:
        return list(c.list_topics(timeout=10).topics)
    finally:
        c.close()


def end_offset(broker: BrokerProcess, topic: str, partition: int = 0) -> int:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "watermarks"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
    finally:
        c.close()
