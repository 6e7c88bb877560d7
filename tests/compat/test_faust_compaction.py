"""Faust against `pystream serve`, default settings (at-least-once, an in-memory Table
whose state lives in a compacted changelog topic): an agent's count per key survives a
SIGKILL and a restart — the table comes back from the changelog, which the broker's log
cleaner compacted meanwhile."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from compat_helpers import BrokerProcess, free_port
from stream_helpers import COMPACTING_BROKER, App, compacted_topics, produce_json, read_all, read_latest, topics, wait_for

pytest.importorskip("faust")
from confluent_kafka import Consumer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

KEYS = 200
PARTITIONS = 8  # Faust's default topic_partitions: its changelog has as many


def records(per_key: int) -> list[tuple[str, dict]]:
    return [(f"w{i % KEYS}", {}) for i in range(per_key * KEYS)]


def records_after_committed(broker: BrokerProcess, group: str, topic: str) -> dict[str, int]:
    """Per key, the records of `topic` at or past `group`'s committed offset of their partition."""
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        committed = {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)}
    finally:
        c.close()
    out: dict[str, int] = {}
    for p, offset, key, _value in read_all(broker, topic):
        if key is not None and offset >= max(committed.get(p, 0), 0):
            out[key.decode()] = out.get(key.decode(), 0) + 1
    return out


def counts(broker: BrokerProcess) -> dict[str, int]:
    return {k: int(v) for k, v in read_latest(broker, "counts").items()}  # type: ignore[call-overload]


@pytest.mark.deadline(300)
def test_table_survives_sigkill_with_state_restored_from_the_changelog(broker_factory, tmp_path: Path) -> None:
    broker = broker_factory(**COMPACTING_BROKER)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic("words", PARTITIONS, 1)]).values():
        f.result(30)
    now = int(time.time() * 1000)
    # Faust's web server listens on 6066 by default: another free port (tests may run side by side).
    app = App("faust_count.py", [broker.bootstrap, "words", "counts", str(tmp_path / "faust"), "worker", "-l", "info",
                                 "--web-host", "127.0.0.1", "--web-port", str(free_port())], tmp_path / "app.log", tmp_path)
    try:
        app.start()
        produce_json(broker, "words", records(20), now)
        wait_for("the first counts", lambda: counts(broker) == {f"w{k}": 20 for k in range(KEYS)}, 120, app)
        produce_json(broker, "words", records(20), now)
        wait_for("some of the new counts", lambda: max(counts(broker).values(), default=0) > 25, 120, app)
        app.kill9()
        # At-least-once: what Faust processed after its last offset commit is processed again.
        again = records_after_committed(broker, "faust-counter", "words")
        changelog = "faust-counter-word-counts-changelog"
        assert changelog in topics(broker)
        wait_for("the changelog to be compacted", lambda: changelog in compacted_topics(broker), 60)
        app.start()
        wait_for("every count to reach 40", lambda: min(counts(broker).values(), default=0) >= 40, 200, app)
        time.sleep(3)  # let it settle: nothing more to count
        final = counts(broker)
        # Never lost; counted twice at most for the records after the commit.
        assert len(final) == KEYS, final
        assert all(40 <= c <= 40 + again.get(k, 0) for k, c in final.items()), {k: (c, again.get(k, 0)) for k, c in final.items()}
        assert "Restore complete" in app.log_tail(1_000_000)
    finally:
        app.stop()
