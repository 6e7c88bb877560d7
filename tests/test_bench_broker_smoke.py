"""Smoke test of the broker benchmark (`pystream.bench.broker`): tiny N, every row present, numbers positive.

Starts a real `pystream serve` (and nafka, when installed apart; see
benches/run_broker.py --install-nafka). Timings are never asserted: these
machines are noisy.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("confluent_kafka", reason="the broker benchmark drives the broker with confluent-kafka (librdkafka), not installed")

from pystream.bench import broker as bb  # noqa: E402
from pystream.bench import procs  # noqa: E402

PYSTREAM_ROWS = {
    "ceiling", "pystream.produce", "pystream.consume", "cpu.produce", "cpu.fetch",
    "latency.p50", "latency.p99", "latency.p999", "latency.max", "rss.latency", "cpu.latency",
    "latency_after.p50", "latency_after.p99", "latency_after.p999", "rss.latency_after", "rss.segments",
}
NAFKA_ROWS = {"nafka.produce", "nafka.consume", "ratio.produce", "ratio.consume", "nafka.cpu.produce", "nafka.cpu.fetch"}
GRADED = {"pystream.produce", "pystream.consume", "ratio.produce", "ratio.consume", "cpu.produce", "cpu.fetch", "latency.p99"}


def _nafka_available() -> bool:
    try:
        bb.find_nafka()
    except (LookupError, OSError, subprocess.SubprocessError):
        return False
    return True


def test_broker_bench_has_every_row(tmp_path: Path) -> None:
    # nafka is measured only where it was installed apart (benches/run_broker.py --install-nafka);
    # PYSTREAM_BENCH_SMOKE_NAFKA=1 includes it here too. By default the smoke run checks the rows
    # a machine without it gets: empty nafka rows that say why.
    with_nafka = os.environ.get("PYSTREAM_BENCH_SMOKE_NAFKA") == "1" and _nafka_available()
    config = bb.BrokerBenchConfig(n=3000, nafka_n=500, repeat=1, latency_rate=2000, latency_seconds=0.5, nafka=with_nafka,
                                  latency_warmup_s=0.1, dir=str(tmp_path / "data"), phase_timeout_s=40)
    (tmp_path / "data").mkdir()
    steps: list[str] = []
    result = bb.run_broker_benchmark(config, progress=steps.append)
    keys = [r.key for r in result.rows]
    assert len(keys) == len(set(keys))
    nafka = with_nafka
    expected = PYSTREAM_ROWS | ({"nafka.produce", "nafka.consume", "ratio.produce", "ratio.consume"} if not nafka else NAFKA_ROWS)
    assert expected <= set(keys), set(expected) - set(keys)
    for row in result.rows:
        if row.key in PYSTREAM_ROWS or nafka:
            if row.key.startswith("cpu.") or row.key.startswith("nafka.cpu."):
                assert row.value is not None and row.value >= 0, row  # 10 ms clock ticks: a tiny N may show 0
            else:
                assert row.value is not None and row.value > 0, row
        else:
            assert row.value is None and row.note, row  # nafka missing: empty row that says why
            assert any("nafka not available" in note or "nafka: not run" in note for note in result.notes)
        if row.key in GRADED and row.value is not None:
            assert row.goal and row.passed in (True, False), row
    assert result.row("latency.p50").value <= result.row("latency.p99").value <= result.row("latency.max").value  # type: ignore[operator]
    assert len(steps) == bb.total_steps(config)
    assert list((tmp_path / "data").iterdir()) == []  # brokers' temp data removed

    out = tmp_path / "r.json"
    bb.write_json(result, out)
    raw = json.loads(out.read_text())
    assert raw["config"]["n"] == 3000 and raw["machine"]["nproc"] >= 1
    assert {r["key"] for r in raw["rows"]} == set(keys)
    md = bb.markdown_table(result)
    assert md.count("\n") + 1 == 2 + len(result.rows)


def test_ceiling_and_proc_accounting() -> None:
    """The pieces that need no broker: the closed-port producer loop and /proc readings."""
    values = bb.make_values(1024, 100)
    assert bb.measure_ceiling(2000, values) > 0
    import os

    assert procs.proc_cpu_seconds(os.getpid()) > 0
    assert procs.proc_rss_bytes(os.getpid()) > 1 << 20
    assert bb.percentile([1, 2, 3, 4], 0.5) == 2 and bb.percentile([1, 2, 3, 4], 0.99) == 4
