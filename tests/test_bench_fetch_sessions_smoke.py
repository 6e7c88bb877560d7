"""Smoke test of benches/run_fetch_sessions.py: tiny sizes, every phase present, the
incremental fetches ran in a session. Timings are never asserted: these machines are noisy."""

from __future__ import annotations

import json
from pathlib import Path

from pystream.bench import fetch_sessions as fs


def test_fetch_sessions_bench_smoke(tmp_path: Path) -> None:
    config = fs.FetchSessionsBenchConfig(partitions=20, fetches=5, active=3, repeat=1, dir=str(tmp_path))
    steps: list[str] = []
    result = fs.run_fetch_sessions_benchmark(config, steps.append)
    assert set(result.phases) == {"idle", "active"}
    for modes in result.phases.values():
        assert set(modes) == {"full", "incremental"}
        assert all(m["wall_ms"] > 0 and len(m["cpu_runs"]) == 1 for m in modes.values())
    assert len(steps) == fs.total_steps(config)
    assert "| idle |" in fs.markdown_table(result)
    out = tmp_path / "r.json"
    fs.report.write_json(result, out, fs.FOOTNOTES)
    assert json.loads(out.read_text())["config"]["partitions"] == 20
    assert [p for p in tmp_path.iterdir() if p != out] == []  # the broker's data is cleaned up
