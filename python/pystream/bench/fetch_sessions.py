"""Fetch sessions benchmark (KIP-227): broker CPU per Fetch over many partitions, full
(sessionless, every partition in every request and response) against incremental (a
session; only the changed partitions travel), in the same run (docs/benchmarks.md).

One `pystream serve` process, one topic of ``partitions`` partitions holding one record
each; a client on one connection fetches them all, ``fetches`` times per phase, with
max_wait_ms=0 (no parking: every request is answered at once). Broker CPU is utime +
stime of the broker process over the phase. Two workloads:

- idle: the consumer is caught up, nothing new (a consumer's steady state);
- active: before every fetch ``active`` partitions get one record each (a Produce to
  the broker in both modes; its CPU, measured alone, is subtracted).

Phases interleave (full, incremental, full, ...) ``repeat`` times; the best of each is kept.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pystream._core import encode_batch
from pystream.bench import report
from pystream.bench.procs import BenchError, BrokerProcess, free_port, pystream_broker
from pystream.protocol.client import KafkaClient, KafkaConnection, check
from pystream.protocol.schema_data import ApiKey

TOPIC = "fetch-sessions"


@dataclass
class FetchSessionsBenchConfig:
    partitions: int = 1000
    fetches: int = 200
    active: int = 10
    repeat: int = 3
    dir: str | None = None


@dataclass
class FetchSessionsResult:
    config: FetchSessionsBenchConfig
    machine: dict[str, Any]
    started: str
    # workload -> mode -> {"cpu_ms": broker CPU ms per fetch (best), "wall_ms": ..., "runs": [...]}
    phases: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    produce_cpu_ms: float = 0.0  # broker CPU per Produce of the active workload (subtracted)
    bytes_per_request: dict[str, dict[str, float]] = field(default_factory=dict)


class Fetcher:
    """A consumer's fetch loop over one connection, full or incremental, counting request/response bytes."""

    def __init__(self, conn: KafkaConnection, partitions: int, incremental: bool) -> None:
        self.conn = conn
        self.positions = {i: 0 for i in range(partitions)}
        self.incremental = incremental
        self.session_id, self.epoch = 0, 0 if incremental else -1
        self.changed: set[int] = set(self.positions)

    def body(self) -> dict[str, Any]:
        send = self.changed if self.session_id else self.positions
        body = KafkaClient._fetch_body({(TOPIC, i): self.positions[i] for i in sorted(send)}, 50 << 20, 1 << 20, 0, 1, 0, -1)
        body.update(session_id=self.session_id, session_epoch=self.epoch)
        return body

    def fetch(self) -> int:
        """One Fetch; moves the positions of the partitions that returned records. Returns the records' bytes."""
        resp = self.conn.request(ApiKey.FETCH, self.body(), version=12)
        check(resp["error_code"], None, "fetch")
        self.changed = set()
        got = 0
        for t in resp["responses"]:
            for p in t["partitions"]:
                check(p["error_code"], None, f"fetch {t['topic']}-{p['partition_index']}")
                if len(p["records"]):
                    got += len(p["records"])
                    self.positions[p["partition_index"]] = p["high_watermark"]
                    self.changed.add(p["partition_index"])
        if self.incremental:
            if resp["session_id"] == 0:
                raise BenchError("the broker created no fetch session")
            self.session_id, self.epoch = resp["session_id"], self.epoch + 1
        return got


def _produce_one_each(conn: KafkaConnection, parts: list[int]) -> None:
    batch = encode_batch([(int(time.time() * 1000), None, b"x" * 100, None)])
    resp = conn.request(ApiKey.PRODUCE, {"transactional_id": None, "acks": 1, "timeout_ms": 10000, "topic_data": [
        {"name": TOPIC, "partition_data": [{"index": i, "records": batch} for i in parts]}]})
    for t in resp["responses"]:
        for p in t["partition_responses"]:
            check(p["error_code"], p.get("error_message"), "produce")


def _phase(broker: BrokerProcess, conn: KafkaConnection, fetcher: Fetcher, fetches: int, active: int,
           produce_only: bool = False) -> tuple[float, float]:
    """(broker CPU s, wall s) over `fetches` iterations (a Produce first when `active`)."""
    n = len(fetcher.positions)
    cpu0, t0 = broker.cpu_seconds(), time.perf_counter()
    for k in range(fetches):
        if active:
            _produce_one_each(conn, [(k * active + j) % n for j in range(active)])
        if not produce_only:
            fetcher.fetch()
    return broker.cpu_seconds() - cpu0, time.perf_counter() - t0


def total_steps(config: FetchSessionsBenchConfig) -> int:
    return 1 + config.repeat * 5


def run_fetch_sessions_benchmark(config: FetchSessionsBenchConfig,
                                 progress: report.ProgressFn | None = None) -> FetchSessionsResult:
    step = progress or (lambda _msg: None)
    base = Path(tempfile.mkdtemp(prefix="pystream-fetch-sessions-", dir=config.dir))
    result = FetchSessionsResult(config, report.machine_info(), time.strftime("%Y-%m-%d %H:%M:%S"))
    broker = pystream_broker(base / "data", free_port(), base / "broker.log")
    try:
        broker.start()
        with KafkaClient(broker.bootstrap) as admin:
            admin.create_topic(TOPIC, config.partitions, 1)
        conn = KafkaConnection("127.0.0.1", broker.port)
        _produce_one_each(conn, list(range(config.partitions)))
        # warm-up: the broker opens every partition on the first fetch
        Fetcher(conn, config.partitions, incremental=False).fetch()
        step("setup")
        runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
        produce_cpu: list[float] = []
        for _ in range(config.repeat):
            for workload, active in (("idle", 0), ("active", config.active)):
                for mode in ("full", "incremental"):
                    f = Fetcher(conn, config.partitions, incremental=mode == "incremental")
                    f.fetch()  # the first (full) fetch: catch up, create the session
                    f.fetch()
                    runs.setdefault((workload, mode), []).append(_phase(broker, conn, f, config.fetches, active))
                    step(f"{workload} {mode}")
            cpu, _wall = _phase(broker, conn, Fetcher(conn, config.partitions, False), config.fetches, config.active,
                                produce_only=True)
            produce_cpu.append(cpu / config.fetches)
            step("produce alone")
        result.produce_cpu_ms = min(produce_cpu) * 1000
        for (workload, mode), rs in runs.items():
            cpus = [cpu / config.fetches * 1000 - (result.produce_cpu_ms if workload == "active" else 0) for cpu, _ in rs]
            walls = [wall / config.fetches * 1000 for _, wall in rs]
            result.phases.setdefault(workload, {})[mode] = {"cpu_ms": min(cpus), "wall_ms": min(walls), "cpu_runs": cpus,
                                                            "wall_runs": walls}
        conn.close()
    finally:
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)
    return result


COLUMNS: list[report.Column] = [("workload", "left"), ("full fetch: broker CPU", "right"),
                                ("incremental: broker CPU", "right"), ("full / incremental", "right"),
                                ("wall per fetch (full / incr.)", "right")]


def _cells(result: FetchSessionsResult) -> list[report.Cells]:
    rows: list[report.Cells] = []
    for workload, modes in result.phases.items():
        full, inc = modes["full"], modes["incremental"]
        ratio = f"{full['cpu_ms'] / inc['cpu_ms']:.1f}x" if inc["cpu_ms"] > 0 else "-"  # (CPU ticks are 10 ms)
        rows.append([workload, f"{full['cpu_ms']:.2f} ms", f"{inc['cpu_ms']:.2f} ms", ratio,
                     f"{full['wall_ms']:.2f} / {inc['wall_ms']:.2f} ms"])
    return rows


def notes(result: FetchSessionsResult) -> list[str]:
    c = result.config
    return [f"{c.partitions} partitions, {c.fetches} fetches per phase, best of {c.repeat}; max_wait_ms=0",
            f"active: {c.active} partitions get a record before each fetch; the Produce's own broker CPU "
            f"({result.produce_cpu_ms:.2f} ms, measured alone) is subtracted"]


def render_table(result: FetchSessionsResult) -> Any:
    return report.rich_table("Fetch sessions (KIP-227): broker CPU per Fetch", result, COLUMNS, _cells(result), notes(result))


def markdown_table(result: FetchSessionsResult) -> str:
    return report.markdown_table(COLUMNS, _cells(result))


FOOTNOTES = ("broker CPU: utime + stime of the broker process per Fetch (best of `repeat` phases); "
             "the active workload's Produce CPU, measured alone, is subtracted",)


def run_and_report(config: FetchSessionsBenchConfig, console: Any = None, json_path: str | Path | None = None,
                   markdown: bool = False) -> FetchSessionsResult:
    return report.run_and_report("fetch sessions", total_steps(config), lambda step: run_fetch_sessions_benchmark(config, step),
                                 render_table, markdown_table, FOOTNOTES, console, json_path, markdown)
