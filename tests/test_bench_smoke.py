"""Smoke test of `pystream bench`: tiny N, every row present, numbers positive.

Timings are never asserted: these machines are noisy.
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pystream.bench import storage as b
from pystream.cli import main


def _config(tmp_path: Path, engines: tuple[str, ...] = b.ENGINES) -> b.BenchConfig:
    return b.BenchConfig(n=300, value_size=100, repeat=2, engines=engines, dir=str(tmp_path), large_n=50)


def test_run_benchmark_has_every_row(tmp_path: Path) -> None:
    steps: list[str] = []
    result = b.run_benchmark(_config(tmp_path), progress=steps.append)
    engines = result.config["engines"]
    assert {"pystream", "naive", "sqlite"} <= set(engines)
    expected = {(e, op) for e in engines for op in b.OPERATIONS} | {(e, b.ARRAY_OP) for e in engines if e in b.ARRAY_ENGINES}
    expected |= {("pystream", op) for op in b.NO_CRC_OPS}
    assert {(r.engine, r.operation) for r in result.rows} == expected
    for row in result.rows:
        assert len(row.times_s) == 2
        assert row.best_s > 0 and row.records_per_s > 0 and row.mb_per_s > 0
        assert row.ratio is not None and row.ratio > 0
    for row in result.rows:
        if row.engine == "naive":
            assert row.ratio == 1.0
        if row.engine == "pystream":
            assert row.goal, row and row.passed in (True, False)
    assert [r.engine for r in result.large] == [*engines, "raw"]
    assert all(r.mb_per_s > 0 and r.ratio and r.ratio > 0 for r in result.large)
    assert len(steps) == b.total_steps(_config(tmp_path), len(engines))
    assert list(tmp_path.iterdir()) == []  # temp data cleaned up
    md = b.markdown_table(result)
    assert md.count("\n") + 1 == 2 + len(result.rows) + len(result.large)


def test_reader_equivalents_agree(tmp_path: Path) -> None:
    """The naive and sqlite adapters read back exactly what was written."""
    values = b.make_values(50, 20)
    for factory in (b.NaiveEngine, b.SqliteEngine, b.PystreamEngine):
        engine = factory()
        engine.open(tmp_path / factory.__name__)
        engine.append_batch(values[:25])
        engine.append(values[25:])
        engine.sync()
        engine.close()
        engine.open(tmp_path / factory.__name__)
        recs = engine.records()
        got = [bytes(r[1]) if isinstance(r, tuple) else r.value for r in recs]
        assert got == values, factory.__name__
        cols = engine.read_columns()
        if isinstance(cols, tuple):
            offsets, starts, lengths, buf = cols
            assert [buf[s : s + n].tobytes() for s, n in zip(starts, lengths)] == values
        else:
            assert [cols.value(i) for i in range(len(cols))] == values
        engine.close()


def test_cli_bench_prints_table_and_json(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PYSTREAM_BENCH_NO_REEXEC", "1")
    out = tmp_path / "r.json"
    data = tmp_path / "data"
    res = CliRunner().invoke(
        main,
        ["bench", "--n", "200", "--repeat", "1", "--large-n", "20", "--dir", str(data), "--json", str(out)],
    )
    assert res.exit_code == 0, res.output
    for word in ("pystream", "naive", "sqlite", "append_batch", "append", "records", "read_columns", "raw"):
        assert word in res.output
    raw = json.loads(out.read_text())
    assert raw["config"]["n"] == 200
    assert all(r["records_per_s"] > 0 for r in raw["rows"])
    assert raw["machine"]["nproc"] >= 1


def test_cli_rejects_unknown_engine() -> None:
    res = CliRunner().invoke(main, ["bench", "--engines", "pystream,kafka"])
    assert res.exit_code != 0
    assert "kafka" in res.output
