"""Quix Streams against `pystream serve`, default settings (at-least-once, state in
RocksDB backed by a compacted changelog topic): a windowed count per key is exact
after a SIGKILL of the application and a restart that restores its state from the
changelog, which the broker's log cleaner compacted meanwhile."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from stream_helpers import COMPACTING_BROKER, App, compacted_topics, end_offset, produce_json, read_latest, topics, wait_for

pytest.importorskip("quixstreams", reason="quixstreams is not installed (.ci/run installs it apart: it pins confluent-kafka<2.13)")

KEYS = 500  # many keys: each checkpoint writes a changelog record per key it changed


def records(n: int, start: int = 0) -> list[tuple[str, dict]]:
    return [(f"w{i % KEYS}", {"n": i}) for i in range(start, start + n)]


def counts(latest: dict[str, object]) -> dict[str, int]:
    return {k: v["value"] for k, v in latest.items()}  # type: ignore[index]


@pytest.mark.deadline(300)
def test_windowed_count_survives_sigkill_with_state_restored_from_the_changelog(broker_factory, tmp_path: Path) -> None:
    broker = broker_factory(**COMPACTING_BROKER)
    state = tmp_path / "state"
    window_ts = int(time.time() * 1000)
    app = App("quix_count.py", [broker.bootstrap, "words", "counts", str(state), "quix-counter"], tmp_path / "app.log", tmp_path)
    try:
        app.start()
        changelog = ""
        for phase in range(1, 4):  # three checkpoints: three versions of every key in the changelog
            produce_json(broker, "words", records(10 * KEYS, (phase - 1) * 10 * KEYS), window_ts)
            want = {f"w{k}": 10 * phase for k in range(KEYS)}
            wait_for(f"the counts of phase {phase}", lambda: counts(read_latest(broker, "counts")) == want, 120, app)
            changelog = next((t for t in topics(broker) if t.startswith("changelog__")), "")
            assert changelog, "Quix created a changelog topic"
            wait_for(f"checkpoint {phase}", lambda: end_offset(broker, changelog) >= phase * KEYS, 60, app)
        # More input; the application is killed with SIGKILL while it processes it.
        produce_json(broker, "words", records(10 * KEYS, 30 * KEYS), window_ts)
        wait_for("some of the new counts", lambda: max(counts(read_latest(broker, "counts")).values()) > 30, 120, app)
        app.kill9()
        wait_for("the changelog to be compacted", lambda: changelog in compacted_topics(broker), 60)
        shutil.rmtree(state)  # the local state is gone: it must come back from the changelog
        app.start()
        want = {f"w{k}": 40 for k in range(KEYS)}
        wait_for("the final counts", lambda: counts(read_latest(broker, "counts")) == want, 180, app)
    finally:
        app.stop()
