"""Smoke test of benches/run_partitions.py: a few hundred topics, every figure present, the
broker's loop-hold metric and the probe's samples read. Timings are never asserted: these
machines are noisy (the figures are in README and docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pystream.bench import partitions as pb

pytest.importorskip("confluent_kafka")


def test_partitions_bench_smoke(tmp_path: Path) -> None:
    steps: list[str] = []
    r = pb.run_partitions_benchmark(pb.PartitionsBenchConfig(topics=200, per_partition=2, dir=str(tmp_path)), steps.append)
    assert len(steps) == pb.total_steps(pb.PartitionsBenchConfig())
    assert r["round"]["records"] == r["round_after_restart"]["records"] == 400
    assert r["create_s"] > 0 and len(r["mkdir_baseline_s"]) == 2 and min(r["mkdir_baseline_s"]) > 0
    # the broker measured its requests: Produce, Fetch and Metadata at least
    assert {"Produce", "Fetch", "Metadata", "CreateTopics"} <= set(r["loop_hold_ms_by_request"])
    assert r["loop_hold_ms"] == max(r["loop_hold_ms_by_request"].values()) > 0
    assert r["gc"]["full_collection_longest_ms"] > 0 and "unfreezes_total" in r["gc"]  # the broker process froze
    # the probe (its own process) answered in the phases long enough for one (every 20 ms)
    assert {"baseline", "round", "round_after_restart"} <= set(r["probe_wait_ms_by_phase"])
    assert r["probe_oversleep_ms"] >= 0
    assert set(r["pass"]) == set(pb.GOALS)
    text = pb.summary(r)
    assert "held the broker's event loop" in text and "probe" in text
    assert list(tmp_path.iterdir()) == []  # the broker's data is cleaned up
