"""Transactional produce throughput (docs/benchmarks.md, "Transactions").

Against one `pystream serve`, with librdkafka (confluent-kafka), 100-byte values, one partition:

- idempotent: ``enable.idempotence`` (acks=all), linger 5 ms, N records then flush — the baseline;
- transactional: the same producer settings plus a ``transactional.id``, N records in
  transactions of ``txn_size`` records (begin, produce, commit_transaction), each
  commit waiting for the coordinator (PrepareCommit, COMMIT marker, CompleteCommit);
- read_committed: a consumer reads the last transactional topic back (every committed
  record, none of the markers) — the check that the run produced what it claims (not timed:
  librdkafka's consumer throughput depends on its prefetch settings more than the broker).

The two producers run interleaved, ``repeat`` times each, on fresh topics. The figure is
transactional throughput as a ratio of the idempotent run just before it, the median of the
``repeat`` pairs (robust to a noisy machine); the best run of each is reported beside it.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pystream.bench import report
from pystream.bench.procs import BenchError, free_port, pystream_broker

VALUE = b"x" * 100
PRODUCER = {"linger.ms": 5, "acks": "all", "enable.idempotence": True, "queue.buffering.max.messages": 1_000_000}


@dataclass
class TxnBenchConfig:
    n: int = 200_000
    txn_size: int = 1_000
    repeat: int = 3
    dir: str | None = None


@dataclass
class TxnBenchResult:
    config: dict[str, Any]
    machine: dict[str, Any]
    idempotent_records_per_s: list[float] = field(default_factory=list)
    transactional_records_per_s: list[float] = field(default_factory=list)
    commit_ms_p50: float = 0.0
    commit_ms_p99: float = 0.0
    read_committed_records: int = 0
    ratio: float = 0.0  # median over the runs of transactional / the idempotent run just before it


def _create(bootstrap: str, topic: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)


def _produce(p: Any, topic: str, n: int) -> None:
    for _ in range(n):
        while True:
            try:
                p.produce(topic, VALUE, partition=0)
                break
            except BufferError:
                p.poll(0.005)


def _idempotent(bootstrap: str, topic: str, n: int) -> float:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, **PRODUCER})
    _produce(p, topic, 1)  # connected, producer id assigned: as the transactional one after init_transactions
    if p.flush(30) != 0:
        raise BenchError("idempotent producer: no connection")
    t0 = time.perf_counter()
    _produce(p, topic, n)
    if p.flush(120) != 0:
        raise BenchError("idempotent producer: records not delivered")
    return n / (time.perf_counter() - t0)


def _transactional(bootstrap: str, topic: str, n: int, txn_size: int, run: int, commits: list[float]) -> float:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"bench-{topic}-{run}", **PRODUCER})
    p.init_transactions(30)
    t0 = time.perf_counter()
    for start in range(0, n, txn_size):
        p.begin_transaction()
        _produce(p, topic, min(txn_size, n - start))
        c0 = time.perf_counter()
        p.commit_transaction(60)  # flushes the transaction's records, then EndTxn
        commits.append(time.perf_counter() - c0)
    return n / (time.perf_counter() - t0)


def _read_committed(bootstrap: str, topic: str, expect: int, timeout: float = 120.0) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{topic}", "isolation.level": "read_committed",
                  "enable.auto.commit": False, "fetch.max.bytes": 8 << 20, "max.partition.fetch.bytes": 8 << 20})
    c.assign([TopicPartition(topic, 0, 0)])
    got = 0
    deadline = time.perf_counter() + timeout
    try:
        while got < expect and time.perf_counter() < deadline:
            for m in c.consume(10_000, 0.5):
                if m.error() is None:
                    got += 1
    finally:
        c.close()
    return got


def total_steps(config: TxnBenchConfig) -> int:
    return 2 * config.repeat + 2


def run_txn_benchmark(config: TxnBenchConfig, progress: report.ProgressFn | None = None) -> TxnBenchResult:
    step = progress or (lambda _s: None)
    root = Path(tempfile.mkdtemp(prefix="pystream-txn-bench-", dir=config.dir))
    result = TxnBenchResult(config=vars(config).copy(), machine=report.machine_info())
    broker = pystream_broker(root / "data", free_port(), root / "broker.log")
    try:
        broker.start()
        step("broker up")
        commits: list[float] = []
        for run in range(config.repeat):
            topic = f"idem-{run}"
            _create(broker.bootstrap, topic)
            result.idempotent_records_per_s.append(_idempotent(broker.bootstrap, topic, config.n))
            step(f"idempotent run {run + 1}")
            topic = f"txn-{run}"
            _create(broker.bootstrap, topic)
            result.transactional_records_per_s.append(
                _transactional(broker.bootstrap, topic, config.n, config.txn_size, run, commits))
            step(f"transactional run {run + 1}")
        result.ratio = statistics.median(t / i for t, i in zip(result.transactional_records_per_s, result.idempotent_records_per_s))
        commits.sort()
        result.commit_ms_p50 = statistics.median(commits) * 1000
        result.commit_ms_p99 = commits[min(len(commits) - 1, int(len(commits) * 0.99))] * 1000
        result.read_committed_records = _read_committed(broker.bootstrap, f"txn-{config.repeat - 1}", config.n)
        if result.read_committed_records != config.n:
            raise BenchError(f"read_committed consumer read {result.read_committed_records} of {config.n} records")
        step("read back")
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)
    return result


def summary(r: TxnBenchResult) -> str:
    idem, txn = max(r.idempotent_records_per_s), max(r.transactional_records_per_s)
    return "\n".join([
        f"idempotent producer: {report.fmt_rate(idem)} records/s (best of {len(r.idempotent_records_per_s)})",
        (f"transactional producer, {r.config['txn_size']:,} records per transaction: {report.fmt_rate(txn)} records/s "
         f"(best), {txn / r.config['txn_size']:.0f} transactions/s; {r.ratio:.0%} of the idempotent producer "
         f"(median of {len(r.transactional_records_per_s)} interleaved pairs)"),
        f"commit_transaction: p50 {r.commit_ms_p50:.1f} ms, p99 {r.commit_ms_p99:.1f} ms",
        f"check: a read_committed consumer read back all {r.read_committed_records:,} records of the last transactional run",
    ])


def markdown(r: TxnBenchResult) -> str:
    idem, txn = max(r.idempotent_records_per_s), max(r.transactional_records_per_s)
    return "\n".join([
        "| producer | records/s (best run) | ratio (median of pairs) |",
        "| --- | ---: | ---: |",
        f"| idempotent (acks=all, linger 5 ms) | {report.fmt_rate(idem)} | 1.00 |",
        f"| transactional, {r.config['txn_size']:,} records per transaction | {report.fmt_rate(txn)} | {r.ratio:.2f} |",
    ])


def run_and_report(config: TxnBenchConfig, console: Any = None, json_path: str | Path | None = None,
                   markdown_out: bool = False) -> TxnBenchResult:
    return report.run_and_report("transactions bench", total_steps(config), lambda step: run_txn_benchmark(config, step),
                                 summary, markdown, [], out=console, json_path=json_path, markdown=markdown_out)
