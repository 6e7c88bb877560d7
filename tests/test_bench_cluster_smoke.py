"""Smoke test of the cluster benchmark (`pystream.bench.cluster`): tiny N, every figure present.

Starts a real ZooKeeper and three `pystream serve --zookeeper` brokers and
SIGTERMs (controlled shutdown) then SIGKILLs the partition leader (about 15-30 s). Timings are never asserted:
these machines are noisy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("confluent_kafka", reason="the cluster benchmark drives the brokers with confluent-kafka (librdkafka), not installed")

from pystream.bench import cluster, procs, report  # noqa: E402

if procs.zookeeper_missing():
    pytest.skip(procs.zookeeper_missing(), allow_module_level=True)


def test_cluster_bench_measures_both_phases(tmp_path: Path) -> None:
    config = cluster.ClusterBenchConfig(n=2000, repeat=1, rate=500, session_timeout_ms=2000, dir=str(tmp_path))
    steps: list[str] = []
    result = cluster.run_cluster_benchmark(config, progress=steps.append)
    assert len(steps) == cluster.total_steps(config)
    assert list(tmp_path.iterdir()) == []  # servers stopped, temp data removed
    assert len(result["rates"]["rf1"]) == len(result["rates"]["rf3"]) == 1
    assert result["rf1_records_per_s"] > 0 and result["rf3_records_per_s"] > 0
    assert result["pass"] == (result["rf3_over_rf1"] >= 0.5)
    fo = result["failover"]
    assert fo["killed_leader"] in (1, 2, 3)
    assert fo["failover_s"] is not None and fo["failover_s"] > 0, fo  # a new leader acknowledged a record
    assert fo["errors"] == [] and fo["records_acked"] == fo["records_sent"], fo  # idempotent producer: nothing lost

    cs = result["controlled_shutdown"]
    assert cs["signal"] == "SIGTERM" and cs["killed_leader"] in (1, 2, 3)
    assert cs["longest_ack_gap_s"] is not None and cs["records_acked"] == cs["records_sent"], cs

    assert cluster.summary(result).count("\n") == 3
    out = tmp_path / "r.json"
    report.write_json(result, out)
    assert json.loads(out.read_text())["failover"]["killed_leader"] == fo["killed_leader"]
