"""Smoke test of the compaction benchmark (`pystream.bench.compaction`): a tiny log, both
rows present, the log cleaned to one record per key, the CLI entry. Timings are never
asserted: these machines are noisy."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pystream.bench import compaction
from pystream.cli import main


def test_compaction_bench_rows(tmp_path: Path) -> None:
    config = compaction.CompactionBenchConfig(log_bytes=2 << 20, keys=1_000, segment_bytes=256 << 10, dir=str(tmp_path))
    r = compaction.run_compaction_benchmark(config)
    assert [run["cache"] for run in r["runs"]] == ["cold", "warm"]
    for run in r["runs"]:
        assert run["log_bytes"] >= 2 << 20 and run["records_written"] == 1_000
        assert run["clean_mb_s"] > 0 and run["read_mb_s"] > 0 and run["bytes_after"] < run["log_bytes"] // 10
    assert "| cold |" in compaction.markdown(r)
    assert list(tmp_path.iterdir()) == [], "the temporary logs are removed"


def test_pystream_bench_compaction_quick_is_wired(tmp_path: Path, monkeypatch) -> None:
    seen = {}
    monkeypatch.setenv("PYSTREAM_BENCH_NO_REEXEC", "1")
    monkeypatch.setattr(compaction, "run_and_report", lambda config, **kw: seen.setdefault("config", config))
    result = CliRunner().invoke(main, ["bench", "--compaction", "--quick", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen["config"].log_bytes == 128 << 20 and seen["config"].keys == 10_000
