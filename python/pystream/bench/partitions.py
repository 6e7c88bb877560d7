"""Many partitions on one broker (docs/benchmarks.md, "Partitions"): 10,000 single-partition topics.

Against one `pystream serve`, with librdkafka (confluent-kafka):

- create: one batched CreateTopics of ``topics`` topics; beside it, as many bare mkdir
  calls on the same filesystem right before and right after (a partition is a
  directory: a busy disk sets that floor);
- metadata: Metadata for every topic (first answer after the creation, then repeated);
- round: one producer sends ``per_partition`` 100-byte records to every partition
  (acks=all, linger 5 ms), one consumer assigned every partition reads them all back;
  its throughput as a ratio of the same number of records through one partition in the
  same run (the baseline);
- RssAnon of the broker with every partition open;
- restart: SIGTERM (clean shutdown) time, then start-up until Metadata lists every
  topic, then the round again;
- loop hold: the broker measures, per request, the longest step (between two awaits) it
  ran on the event loop, where no other connection is served (metric
  `pystream_request_loop_hold_max_ms`); the goal bounds the longest of all;
- probe: all along, a probe (a process of its own, `loop_probe`) sends ApiVersions every
  20 ms on its own connection; the longest wait for an answer is the end-to-end view: it
  also counts collections between requests and the clients' use of the same cores.
"""

from __future__ import annotations

import bisect
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystream.bench import report
from pystream.bench.procs import BenchError, BrokerProcess, free_port, pystream_broker

GOALS = {"create_s": 10.0, "metadata_ms": 100.0, "startup_s": 5.0, "rss_anon_mb": 300.0, "loop_hold_ms": 50.0}


@dataclass
class PartitionsBenchConfig:
    topics: int = 10_000
    per_partition: int = 10
    dir: str | None = None


class LoopProbe:
    """`loop_probe` in a process of its own; the longest round trip per phase of the benchmark."""

    def __init__(self, port: int, out_path: Path, interval: float = 0.02) -> None:
        self.port, self.out_path, self.interval = port, out_path, interval
        self.marks: list[tuple[float, str]] = [(0.0, "start")]  # (monotonic time, phase from then on)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def phase(self) -> str:
        return self.marks[-1][1]

    @phase.setter
    def phase(self, name: str) -> None:
        self.marks.append((time.monotonic(), name))

    def start(self) -> LoopProbe:
        self._proc = subprocess.Popen([sys.executable, "-m", "pystream.bench.loop_probe", str(self.port), str(self.out_path),
                                       str(self.interval)])
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(10)

    def worst(self) -> tuple[dict[str, float], dict[str, float]]:
        """Per phase: the longest round trip (s) of the probes sent in it, and the longest
        oversleep of the probe process itself (the machine's scheduling delay)."""
        rtt: dict[str, float] = {}
        late: dict[str, float] = {}
        starts = [t for t, _ in self.marks]
        with contextlib.suppress(FileNotFoundError), open(self.out_path) as f:
            for line in f:
                sent, took, overslept = map(float, line.split())
                phase = self.marks[bisect.bisect_right(starts, sent) - 1][1]
                rtt[phase] = max(rtt.get(phase, 0.0), took)
                late[phase] = max(late.get(phase, 0.0), overslept)
        return rtt, late


def _loop_holds(metrics_port: int) -> tuple[dict[str, float], dict[str, float]]:
    """The broker's `pystream_request_loop_hold_max_ms` per request type (since it started),
    and its collector figures (`pystream_gc_*`, keyed without that prefix)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=30).read().decode()
    holds: dict[str, float] = {}
    gc_figures: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "pystream_request_loop_hold_max_ms":
                holds[sample.labels["request"]] = sample.value
            elif sample.name.startswith("pystream_gc_") and not sample.name.endswith("_created"):
                gc_figures[sample.name.removeprefix("pystream_gc_")] = sample.value
    return holds, gc_figures


def _mkdir_baseline_s(base: Path, n: int) -> float:
    """Seconds for `n` bare mkdir calls in one directory on the benchmark's filesystem: the
    floor of creating `n` partitions (each is a directory), which a busy disk sets."""
    d = Path(tempfile.mkdtemp(prefix="mkdir-baseline-", dir=base))
    t0 = time.perf_counter()
    for i in range(n):
        (d / f"t{i:05d}-0").mkdir()
    took = time.perf_counter() - t0
    shutil.rmtree(d)
    return took


def _round(bootstrap: str, topics: list[str], per_partition: int) -> dict[str, float]:
    """Produce ``per_partition`` records to partition 0 of every topic, consume them back; records/s of each."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    n = len(topics) * per_partition
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": True,
                  "queue.buffering.max.messages": max(100_000, n), "message.timeout.ms": 300_000, "log_level": 0})
    value = b"v" * 100
    failed: list[str] = []
    t0 = time.perf_counter()
    for _ in range(per_partition):
        for t in topics:
            while True:
                try:
                    p.produce(t, value, partition=0, on_delivery=lambda err, _m: err and failed.append(str(err)))
                    break
                except BufferError:
                    p.poll(0.01)
        p.poll(0)
    left = p.flush(300)
    produce_s = time.perf_counter() - t0
    if left or failed:
        raise BenchError(f"{left} records undelivered, {len(failed)} failed ({failed[:3]})")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{time.monotonic_ns()}", "enable.auto.commit": False,
                  "log_level": 0})
    c.assign([TopicPartition(t, 0, 0) for t in topics])
    got = 0
    t0 = time.perf_counter()
    deadline = time.monotonic() + 300
    while got < n and time.monotonic() < deadline:
        for m in c.consume(10_000, 1.0):
            if m.error() is None:
                got += 1
    consume_s = time.perf_counter() - t0
    c.close()
    if got < n:
        raise BenchError(f"consumed {got} of {n} records")
    return {"records": n, "produce_records_per_s": n / produce_s, "consume_records_per_s": n / consume_s}


def _metadata_ms(bootstrap: str, expected: int) -> float:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    admin.list_topics(timeout=30)  # connection set up, broker known
    t0 = time.perf_counter()
    md = admin.list_topics(timeout=60)
    ms = (time.perf_counter() - t0) * 1000
    if len([t for t in md.topics if not t.startswith("__")]) < expected:
        raise BenchError(f"Metadata listed {len(md.topics)} topics, expected {expected}")
    return ms


def _wait_metadata(bootstrap: str, expected: int, timeout: float) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if len([t for t in admin.list_topics(timeout=5).topics if not t.startswith("__")]) >= expected:
                return
        except Exception:
            time.sleep(0.05)
    raise BenchError(f"the broker did not list {expected} topics within {timeout:.0f} s")


def total_steps(config: PartitionsBenchConfig) -> int:
    return 8


def run_partitions_benchmark(config: PartitionsBenchConfig, progress: report.ProgressFn | None = None) -> dict[str, Any]:
    """One broker, ``topics`` topics; every measurement of the module docstring."""
    from confluent_kafka.admin import AdminClient, NewTopic

    step = progress or (lambda label: None)
    base = Path(tempfile.mkdtemp(prefix="pystream-partitions-bench-", dir=config.dir))
    port, metrics_port = free_port(), free_port()
    broker: BrokerProcess = pystream_broker(base / "data", port, base / "broker.log",
                                            args=["--override", "num.partitions=1", "--override", f"metrics.port={metrics_port}"])
    probe: LoopProbe | None = None
    worst: dict[str, float] = {}
    oversleep: dict[str, float] = {}
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "topics": config.topics,
                           "per_partition": config.per_partition, "goals": GOALS}
    try:
        broker.start()
        probe = LoopProbe(port, base / "probe.txt").start()
        names = [f"t{i:05d}" for i in range(config.topics)]
        admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 0})
        mkdir_before = _mkdir_baseline_s(base, config.topics)
        probe.phase = "create"
        t0 = time.perf_counter()
        futures = admin.create_topics([NewTopic(n, 1, 1) for n in names], request_timeout=120, operation_timeout=120)
        for f in futures.values():
            f.result(120)
        out["create_s"] = time.perf_counter() - t0
        out["mkdir_baseline_s"] = [mkdir_before, _mkdir_baseline_s(base, config.topics)]  # right before, right after
        step("topics created")
        probe.phase = "metadata"
        out["metadata_first_ms"] = _metadata_ms(broker.bootstrap, config.topics)
        out["metadata_ms"] = min(_metadata_ms(broker.bootstrap, config.topics) for _ in range(3))
        step("metadata")
        probe.phase = "baseline"
        admin.create_topics([NewTopic("baseline", 1, 1)])["baseline"].result(30)
        out["baseline"] = _round(broker.bootstrap, ["baseline"], config.topics * config.per_partition)
        step("one-partition baseline")
        probe.phase = "round"
        out["round"] = _round(broker.bootstrap, names, config.per_partition)
        out["rss_anon_mb"] = broker.rss_bytes("RssAnon") / 1e6
        holds, out["gc"] = _loop_holds(metrics_port)  # (the restart starts them again)
        step("round over every partition")
        probe.phase = "restart"
        t0 = time.perf_counter()
        broker.stop(600)
        out["shutdown_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        broker.start(120)
        _wait_metadata(broker.bootstrap, config.topics, 120)
        out["startup_s"] = time.perf_counter() - t0
        step("restart")
        probe.phase = "round_after_restart"
        out["round_after_restart"] = _round(broker.bootstrap, names, config.per_partition)
        out["rss_anon_after_restart_mb"] = broker.rss_bytes("RssAnon") / 1e6
        holds_after, out["gc_after_restart"] = _loop_holds(metrics_port)
        for request, ms in holds_after.items():
            holds[request] = max(holds.get(request, 0.0), ms)
        out["loop_hold_ms_by_request"] = holds
        out["loop_hold_ms"] = max(holds.values(), default=0.0)
        step("round after restart")
    finally:
        if probe is not None:
            probe.stop()
            rtt, late = probe.worst()
            worst = {k: v * 1000 for k, v in rtt.items() if k != "restart"}  # (the broker is down a while)
            oversleep = {k: v * 1000 for k, v in late.items() if k != "restart"}
        broker.stop(600)
        shutil.rmtree(base, ignore_errors=True)
        step("stopped")
    out["probe_wait_ms"] = max(worst.values(), default=0.0)
    out["probe_wait_ms_by_phase"] = worst
    out["probe_oversleep_ms"] = max(oversleep.values(), default=0.0)
    base_rate = out["baseline"]["produce_records_per_s"], out["baseline"]["consume_records_per_s"]
    out["round_vs_one_partition"] = {"produce": out["round"]["produce_records_per_s"] / base_rate[0],
                                     "consume": out["round"]["consume_records_per_s"] / base_rate[1]}
    out["pass"] = {"create_s": out["create_s"] <= GOALS["create_s"], "metadata_ms": out["metadata_ms"] <= GOALS["metadata_ms"],
                   "startup_s": out["startup_s"] <= GOALS["startup_s"], "rss_anon_mb": out["rss_anon_mb"] <= GOALS["rss_anon_mb"],
                   "loop_hold_ms": out["loop_hold_ms"] <= GOALS["loop_hold_ms"]}
    step("done")
    return out


def summary(r: dict[str, Any]) -> str:
    ok = r["pass"]
    rnd, rnd2, ratio = r["round"], r["round_after_restart"], r["round_vs_one_partition"]
    return "\n".join([
        f"{r['topics']:,} single-partition topics on one broker",
        f"create (one batched CreateTopics): {r['create_s']:.2f} s (goal <= {GOALS['create_s']:.0f} s: {report.verdict(ok['create_s'], False)}); "
        f"{r['topics']:,} bare mkdir calls on the same disk right before and after: "
        f"{r['mkdir_baseline_s'][0]:.2f} s, {r['mkdir_baseline_s'][1]:.2f} s",
        f"Metadata of every topic: {r['metadata_ms']:.0f} ms, first after the creation {r['metadata_first_ms']:.0f} ms "
        f"(goal <= {GOALS['metadata_ms']:.0f} ms: {report.verdict(ok['metadata_ms'], False)})",
        f"round over every partition ({rnd['records']:,} records): produce {report.fmt_rate(rnd['produce_records_per_s'])}/s "
        f"= {ratio['produce']:.0%} of one partition, consume {report.fmt_rate(rnd['consume_records_per_s'])}/s "
        f"= {ratio['consume']:.0%} of one partition (same run)",
        f"RssAnon with every partition open: {r['rss_anon_mb']:.0f} MB (goal <= {GOALS['rss_anon_mb']:.0f} MB: "
        f"{report.verdict(ok['rss_anon_mb'], False)})",
        f"clean shutdown {r['shutdown_s']:.1f} s; start-up until Metadata lists every topic {r['startup_s']:.2f} s "
        f"(goal <= {GOALS['startup_s']:.0f} s: {report.verdict(ok['startup_s'], False)})",
        f"round after restart: produce {report.fmt_rate(rnd2['produce_records_per_s'])}/s, "
        f"consume {report.fmt_rate(rnd2['consume_records_per_s'])}/s; RssAnon {r['rss_anon_after_restart_mb']:.0f} MB",
        f"longest time one request held the broker's event loop: {r['loop_hold_ms']:.0f} ms (goal <= "
        f"{GOALS['loop_hold_ms']:.0f} ms: {report.verdict(ok['loop_hold_ms'], False)}); by request: "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in sorted(r["loop_hold_ms_by_request"].items(), key=lambda kv: -kv[1])[:4]),
        f"garbage collector: longest full collection {r['gc'].get('full_collection_longest_ms', 0):.0f} ms, "
        f"{r['gc'].get('unfreezes_total', 0):.0f} unfreezes (after the restart: "
        f"{r['gc_after_restart'].get('full_collection_longest_ms', 0):.0f} ms, {r['gc_after_restart'].get('unfreezes_total', 0):.0f})",
        f"longest wait of an ApiVersions probe (its own process, every 20 ms; includes collections and the "
        f"clients' use of the same cores): {r['probe_wait_ms']:.0f} ms; by phase: "
        + ", ".join(f"{k} {v:.0f} ms" for k, v in r["probe_wait_ms_by_phase"].items())
        + f"; the probe process's own 20 ms sleeps ended up to {r['probe_oversleep_ms']:.0f} ms late (the machine)",
    ])


def run_and_report(config: PartitionsBenchConfig, console: Any = None, json_path: str | Path | None = None) -> dict[str, Any]:
    return report.run_and_report("partitions bench", total_steps(config), lambda step: run_partitions_benchmark(config, step),
                                 summary, summary, (), console, json_path)
