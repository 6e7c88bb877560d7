"""Exactly-once stream processing on pystream's transactions: Quix Streams (a windowed count,
`processing_guarantee="exactly-once"`) and Faust (a Table, `exactly_once`), the applications of
apps/ run as processes, killed with SIGKILL while a transaction is open, and restarted: nothing is
counted twice. (Their default at-least-once settings, with compaction: test_quixstreams_compaction.py
and test_faust_compaction.py.)
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from compat_helpers import free_port, read_records
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from stream_helpers import App, wait_for

KEYS = 3
TOTAL, RATE = 150, 15.0  # input records, per second: the input lasts longer than a commit interval
# Abandoned transactions (the killed instance's) aborted soon after their timeout.
TXN_BROKER = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000"}


class Feeder:
    """Produces TOTAL records to `topic` in the background, RATE per second, keys w0..w2."""

    def __init__(self, bootstrap: str, topic: str, value: Callable[[int], bytes], timestamp_ms: int | None = None) -> None:
        self.p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
        self.topic, self.value, self.timestamp_ms = topic, value, timestamp_ms
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        for i in range(TOTAL):
            kw = {"timestamp": self.timestamp_ms} if self.timestamp_ms is not None else {}
            self.p.produce(self.topic, key=b"w%d" % (i % KEYS), value=self.value(i), **kw)
            self.p.poll(0)
            time.sleep(1 / RATE)
        assert self.p.flush(30) == 0

    def start(self) -> Feeder:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive()


def mid_transaction(count: Callable[[str], int]) -> bool:
    """Some output committed, and more written by a transaction still open."""
    committed = count("read_committed")
    return committed >= 10 and count("read_uncommitted") >= committed + 3


def updates(broker: Any, topic: str, isolation: str = "read_committed", partitions: int = 1) -> list[tuple[str, Any]]:
    """(key, value) of every record of `topic` visible at `isolation` ([] while it does not exist)."""
    try:
        return [(k.decode(), json.loads(v)) for k, v in read_records(broker.bootstrap, topic, isolation, partitions, timeout=5)]
    except KafkaException:
        return []


@pytest.mark.deadline(180)
def test_quix_streams_windowed_count_exactly_once_across_a_sigkill(broker_factory, tmp_path: Path) -> None:
    pytest.importorskip("quixstreams", reason="quixstreams is not installed (.ci/run installs it apart: it pins confluent-kafka<2.13)")
    broker = broker_factory(**TXN_BROKER)
    state = tmp_path / "state"
    app = App("quix_count.py", [broker.bootstrap, "words", "counts", str(state), "quix-eos", "exactly-once"],
              tmp_path / "app.log", tmp_path)
    feeder = Feeder(broker.bootstrap, "words", lambda i: json.dumps({"i": i}).encode(), int(time.time() * 1000))
    try:
        feeder.start()
        app.start()
        # Killed with a transaction open: some window updates committed, more written but not yet.
        wait_for("updates written in an open transaction",
                 lambda: mid_transaction(lambda iso: len(updates(broker, "counts", iso))), 60, app)
        app.kill9()
        shutil.rmtree(state)  # the restarted instance must restore its windows from the changelog
        app.start()
        feeder.join()
        wait_for(f"{TOTAL} window updates", lambda: len(updates(broker, "counts")) >= TOTAL, 90, app)
        per: dict[str, list[int]] = {}
        for key, value in updates(broker, "counts"):
            per.setdefault(key, []).append(value["value"])
        # Every input counted exactly once, in order, across the kill and the restore.
        assert per == {f"w{k}": list(range(1, TOTAL // KEYS + 1)) for k in range(KEYS)}
    finally:
        app.stop()


@pytest.mark.deadline(240)
def test_faust_table_exactly_once_across_a_sigkill(broker_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("faust")
    broker = broker_factory(**TXN_BROKER)
    partitions = 8  # Faust's topic_partitions: its changelog and output have as many
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic("words", partitions, 1)]).values():
        f.result(30)
    monkeypatch.setenv("FAUST_PROCESSING_GUARANTEE", "exactly_once")
    app = App("faust_count.py", [broker.bootstrap, "words", "counts", str(tmp_path / "faust"), "worker", "-l", "info",
                                 "--web-host", "127.0.0.1", "--web-port", str(free_port())], tmp_path / "app.log", tmp_path)
    feeder = Feeder(broker.bootstrap, "words", lambda i: b"x")

    def latest() -> dict[str, int]:
        return dict(updates(broker, "counts", partitions=partitions))

    try:
        feeder.start()
        app.start()
        wait_for("counts written in an open transaction",
                 lambda: mid_transaction(lambda iso: len(updates(broker, "counts", iso, partitions))), 90, app)
        app.kill9()
        app.start()  # the table comes back from its changelog; the killed worker's transactions are fenced
        feeder.join()
        wait_for(f"{TOTAL} counted words", lambda: sum(latest().values()) >= TOTAL, 120, app)
        assert latest() == {f"w{k}": TOTAL // KEYS for k in range(KEYS)}
    finally:
        app.stop()
