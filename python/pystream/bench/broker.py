"""The broker benchmark (see docs/benchmarks.md, section "Broker").

librdkafka (confluent-kafka) against ``pystream serve`` on this machine, with
every figure set beside a baseline measured in the same run:

- **client ceiling**: the ``produce()`` loop of confluent-kafka alone, into a
  producer whose bootstrap server is a closed port (nothing listening), so no
  record ever leaves the process. The Python client costs this much per record
  whatever the broker; a broker cannot make ``produce`` faster than this.
- **produce**: the same loop against the broker (``acks=all``, ``linger.ms=5``,
  100-byte values, one partition) plus ``flush()``; records/s = N / (loop +
  flush), graded as a fraction of the ceiling.
- **consume**: a Consumer assigned to partition 0 from offset 0 (no group
  rebalance) reading the N records back with ``consume(num_messages=...)``.
- **nafka**: the same produce and consume phases against nafka (PyPI), a
  pure-Python broker on SQLite, run by ``benches/nafka_runner.py``.
- **broker CPU**: utime + stime of the broker process (``/proc/<pid>/stat``)
  across each phase, in CPU seconds per million records.
- **latency**: records produced at a paced rate (default 10,000/s,
  ``linger.ms=0``) carrying ``time.perf_counter_ns()`` (CLOCK_MONOTONIC, one
  clock for the whole machine), received by a consumer thread
  (``fetch.wait.max.ms`` small, ``fetch.min.bytes=1``); p50/p99/p999 of receive
  minus send. The broker's peak RSS (``VmRSS``) is sampled during that phase.

Each throughput phase is repeated (``repeat``) and the best kept; repetitions
are interleaved (ceiling, pystream, nafka, then again) so a slow stretch of the
machine hits every row. Every phase has a timeout, and the broker processes
started here are always stopped (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import datetime as _dt
import gc
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from pystream.bench import report
from pystream.bench.procs import BenchError, BrokerProcess, free_port, pystream_broker
from pystream.bench.storage import make_values

__all__ = ["BrokerBenchConfig", "BrokerBenchResult", "Row", "default_nafka_path", "find_nafka", "install_nafka",
           "markdown_table", "render_table", "run_and_report", "run_broker_benchmark", "write_json"]

REPO_ROOT = Path(__file__).resolve().parents[3]
NAFKA_RUNNER = REPO_ROOT / "benches" / "nafka_runner.py"
NAFKA_REQUIREMENTS = ("nafka==0.1", "kafka-python>=2,<3")

# Goals from the issue.
PRODUCE_CEILING_FRACTION = 0.90
CONSUME_GOAL = 1_000_000.0
NAFKA_RATIO_GOAL = 8.0
CPU_PER_MILLION_GOAL = 0.3
LATENCY_P99_GOAL_MS = 5.0


def default_nafka_path() -> Path:
    """Where ``install_nafka`` puts nafka and its kafka-python 2.x (``pip install --target``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pystream" / "bench-nafka"


@dataclass
class BrokerBenchConfig:
    """What to run. ``nafka_n`` 0 means ``max(1, n // 5)``; ``nafka_path`` None means the default."""

    n: int = 1_000_000
    value_size: int = 100
    repeat: int = 5
    nafka: bool = True
    nafka_n: int = 0
    nafka_path: str | None = None
    latency_rate: int = 10_000
    latency_seconds: float = 5.0
    latency_warmup_s: float = 0.5
    fetch_wait_max_ms: int = 5
    dir: str | None = None
    phase_timeout_s: float = 180.0
    broker_cprofile: str | None = None  # run the pystream broker under cProfile, write stats here

    def nafka_count(self) -> int:
        return self.nafka_n or max(1, self.n // 5)


@dataclass
class Row:
    """One line of the table. ``value`` None: not measured (``note`` says why)."""

    key: str
    label: str
    value: float | None
    unit: str  # "records/s", "s/1M", "ms", "MiB", "x", "%"
    detail: str = ""  # e.g. "93% of ceiling"
    goal: str = ""
    passed: bool | None = None
    samples: list[float] = field(default_factory=list)
    note: str = ""


@dataclass
class BrokerBenchResult:
    config: dict[str, Any]
    machine: dict[str, Any]
    rows: list[Row]
    notes: list[str]
    started: str
    elapsed_s: float = 0.0

    def row(self, key: str) -> Row:
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(key)


# ---------------------------------------------------------------------------
# nafka
# ---------------------------------------------------------------------------


def nafka_broker(data_dir: Path, port: int, log_path: Path, nafka_path: str | None) -> BrokerProcess:
    """nafka via benches/nafka_runner.py (sys.path and sqlite3 shims; WARNING log level)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(NAFKA_RUNNER), "--port", str(port), "--file", str(data_dir / "kafka.sqlite")]
    if nafka_path:
        cmd += ["--path", nafka_path]
    return BrokerProcess("nafka broker", cmd, port, log_path)


def find_nafka(path: str | None = None) -> tuple[str | None, str]:
    """Where nafka can be imported from: (``--path`` for the runner or None, description).

    Tries ``path`` (or ``$PYSTREAM_NAFKA_PATH``, or ``default_nafka_path()``), then
    the current environment. Raises ``LookupError`` with the reason when neither works.
    """
    candidates: list[str | None] = []
    for p in (path, os.environ.get("PYSTREAM_NAFKA_PATH"), str(default_nafka_path())):
        if p and p not in candidates and Path(p).is_dir():
            candidates.append(p)
    candidates.append(None)
    errors = []
    for cand in candidates:
        code = "import sys\nif sys.argv[1]: sys.path.insert(0, sys.argv[1])\nimport nafka.server, kafka\nprint(kafka.__version__)"
        res = subprocess.run([sys.executable, "-c", code, cand or ""], capture_output=True, text=True, timeout=60)
        if res.returncode == 0:
            where = cand or "the current environment"
            return cand, f"nafka from {where} (kafka-python {res.stdout.strip()})"
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        errors.append(f"{cand or 'current environment'}: {last}")
    raise LookupError(
        "nafka not available (" + "; ".join(errors) + "). Install it apart from pystream's own kafka-python with "
        f"`python benches/run_broker.py --install-nafka` (= pip install --target {default_nafka_path()} "
        + " ".join(f"'{r}'" for r in NAFKA_REQUIREMENTS) + ")"
    )


def install_nafka(path: str | None = None) -> str:
    """``pip install --target`` nafka and kafka-python 2.x (nafka 0.1 needs kafka-python < 3) into ``path``."""
    target = path or str(default_nafka_path())
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", target, *NAFKA_REQUIREMENTS], check=True)
    return target


# ---------------------------------------------------------------------------
# Phases
# ---------------------------------------------------------------------------


def producer_config(bootstrap: str, n: int, value_size: int, **extra: Any) -> dict[str, Any]:
    """The producer of every throughput phase: acks=all, linger.ms=5, a queue that holds all N records."""
    kbytes = min(2_147_483_647, n * (value_size + 128) // 1024 + 65_536)
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 5,
        "queue.buffering.max.messages": min(2_147_483_647, max(100_000, n + 1000)),
        "queue.buffering.max.kbytes": kbytes,
        "delivery.report.only.error": True,
        "log_level": 0,
        **extra,
    }


class _Errors:
    """Collects error_cb / failed delivery reports (only errors are reported)."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def error_cb(self, err: Any) -> None:
        self.items.append(f"error_cb: {err}")

    def on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.items.append(f"delivery failed: {err}")


def produce_loop(producer: Any, topic: str, values: list[bytes], n: int, collect: bool = True) -> float:
    """The timed loop, the same for the ceiling and the brokers; returns its start time."""
    produce, poll = producer.produce, producer.poll
    mask = len(values) - 1  # a power of two
    if collect:
        gc.collect()
    t0 = time.perf_counter()
    for i in range(n):
        produce(topic, values[i & mask], partition=0)
        if not i & 1023:
            poll(0)
    return t0


CEILING_CHUNK = 16_384


def measure_ceiling(n: int, values: list[bytes]) -> float:
    """Seconds for the produce() loop of N records into a producer with no broker (a closed port).

    The queue is purged (untimed) every ``CEILING_CHUNK`` records: against a broker
    the queue drains as it fills, and a queue grown to all N records (hundreds of
    MB of fresh allocations) would make the ceiling slower than a real produce.
    """
    from confluent_kafka import Producer

    port = free_port()  # released again: nothing listens there
    errors = _Errors()
    # No on_delivery here: purge() fails every queued record, and their reports must not be served inside the timer.
    producer = Producer(producer_config(f"127.0.0.1:{port}", n, len(values[0]), error_cb=errors.error_cb))
    seconds = 0.0
    try:
        gc.collect()
        done = 0
        while done < n:
            k = min(CEILING_CHUNK, n - done)
            t0 = produce_loop(producer, "bench-ceiling", values, k, collect=False)
            seconds += time.perf_counter() - t0
            if len(producer) < k:
                raise BenchError(f"client ceiling: only {len(producer)} of {k} records queued")
            producer.purge()
            producer.poll(0)  # serve the purge reports, untimed
            done += k
    finally:
        producer.purge()
        producer.flush(0)
        del producer
    return seconds


@dataclass
class PhaseResult:
    seconds: float
    cpu_s: float


def measure_produce(broker: BrokerProcess, topic: str, n: int, values: list[bytes], timeout: float) -> PhaseResult:
    """N records to ``topic`` partition 0, then flush(); checks the high watermark is N."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    errors = _Errors()
    producer = Producer(producer_config(broker.bootstrap, n, len(values[0]), error_cb=errors.error_cb,
                                        on_delivery=errors.on_delivery))
    try:
        producer.list_topics(topic, timeout=min(timeout, 30))  # connect + create the topic, untimed
        cpu0 = broker.cpu_seconds()
        t0 = produce_loop(producer, topic, values, n)
        left = producer.flush(timeout)
        seconds = time.perf_counter() - t0
        cpu = broker.cpu_seconds() - cpu0
        if left:
            raise BenchError(f"{broker.name}: produce: {left} of {n} records not delivered within {timeout:.0f} s "
                             f"({'; '.join(errors.items[:3]) or 'no error reported'})")
    finally:
        producer.purge()
        producer.flush(0)
        del producer
    if errors.items:
        raise BenchError(f"{broker.name}: produce: {len(errors.items)} errors, first: {errors.items[0]}")
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "bench-check", "log_level": 0})
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=min(timeout, 30))
    finally:
        c.close()
    if high - low != n:
        raise BenchError(f"{broker.name}: produce: topic {topic} holds offsets {low}..{high}, expected {n} records")
    return PhaseResult(seconds, cpu)


def consumer_config(bootstrap: str, group: str, **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.partition.eof": False,
        "log_level": 0,
        **extra,
    }


def measure_consume(broker: BrokerProcess, topic: str, n: int, timeout: float, group: str) -> PhaseResult:
    """Read the N records of ``topic`` partition 0 from offset 0 (assign, no rebalance)."""
    from confluent_kafka import Consumer, TopicPartition

    # fetch.queue.backoff.ms: librdkafka (>= 2.4) stops fetching for 1 s (the default) whenever its local
    # queue holds queued.min.messages; the Python loop drains slower than a fast broker fills it.
    consumer = Consumer(consumer_config(broker.bootstrap, group, **{"fetch.queue.backoff.ms": 1}))
    try:
        consumer.list_topics(topic, timeout=min(timeout, 30))  # connect, untimed
        consume = consumer.consume
        got = 0
        errors: list[str] = []
        gc.collect()
        cpu0 = broker.cpu_seconds()
        t0 = time.perf_counter()
        deadline = t0 + timeout
        consumer.assign([TopicPartition(topic, 0, 0)])
        while got < n:
            # consume() returns when it has num_messages or at its timeout: never ask past N.
            msgs = consume(num_messages=min(10_000, n - got), timeout=1.0)
            for m in msgs:
                if m.error() is not None:
                    errors.append(str(m.error()))
                else:
                    got += 1
            if errors:
                raise BenchError(f"{broker.name}: consume: {errors[0]}")
            if time.perf_counter() > deadline:
                raise BenchError(f"{broker.name}: consume: {got} of {n} records within {timeout:.0f} s")
        seconds = time.perf_counter() - t0
        cpu = broker.cpu_seconds() - cpu0
    finally:
        consumer.close()
    if got != n:
        raise BenchError(f"{broker.name}: consume: read {got} records, expected {n}")
    return PhaseResult(seconds, cpu)


@dataclass
class LatencyResult:
    sent: int
    received: int
    latencies_ns: list[int]
    peak_rss: int
    peak_rss_anon: int
    cpu_s: float
    seconds: float


_STAMP = struct.Struct(">qB")  # send time (perf_counter_ns), 1 = measured / 0 = warm-up


def measure_latency(broker: BrokerProcess, topic: str, rate: int, seconds: float, warmup_s: float, value_size: int,
                    fetch_wait_max_ms: int, timeout: float) -> LatencyResult:
    """Paced produce at ``rate``/s (linger.ms=0) and a consumer thread; receive - send per record."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    pad = b"\0" * max(0, value_size - _STAMP.size)
    errors = _Errors()
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 0, "log_level": 0,
                         "delivery.report.only.error": True, "error_cb": errors.error_cb, "on_delivery": errors.on_delivery})
    consumer = Consumer(consumer_config(broker.bootstrap, "bench-latency", **{"fetch.wait.max.ms": fetch_wait_max_ms,
                                                                               "fetch.min.bytes": 1}))
    latencies: list[int] = []
    received = [0]
    stop = threading.Event()
    ready = threading.Event()
    failure: list[BaseException] = []

    def consume_loop() -> None:
        try:
            # poll(), not consume(num_messages=k): consume waits for k records or its timeout.
            poll, now_ns, unpack = consumer.poll, time.perf_counter_ns, _STAMP.unpack_from
            add = latencies.append
            while not stop.is_set():
                m = poll(0.05)
                if m is None:
                    continue
                now = now_ns()
                if m.error() is not None:
                    raise BenchError(f"latency consumer: {m.error()}")
                sent, measured = unpack(m.value())
                received[0] += 1
                if measured:
                    add(now - sent)
                ready.set()
        except BaseException as e:  # reported by the main thread
            failure.append(e)
            ready.set()

    producer.list_topics(topic, timeout=min(timeout, 30))
    consumer.assign([TopicPartition(topic, 0, 0)])
    thread = threading.Thread(target=consume_loop, name="latency-consumer", daemon=True)
    thread.start()
    produce, poll, now_ns, pack = producer.produce, producer.poll, time.perf_counter_ns, _STAMP.pack
    sent = 0
    peak_rss = peak_anon = 0
    try:
        # Until the consumer has seen a record: one warm-up record every 10 ms.
        deadline = time.monotonic() + min(timeout, 30)
        while not ready.is_set():
            produce(topic, pack(now_ns(), 0) + pad, partition=0)
            sent += 1
            poll(0)
            ready.wait(0.01)
            if time.monotonic() > deadline:
                raise BenchError(f"{broker.name}: latency: the consumer got nothing within {min(timeout, 30):.0f} s")
        cpu0 = broker.cpu_seconds()
        start = time.perf_counter()
        measure_from = start + warmup_s
        end = measure_from + seconds
        next_rss = start
        i = 0
        while True:
            now = time.perf_counter()
            if now >= end or failure:
                break
            due = int((now - start) * rate)
            while i < due:
                produce(topic, pack(now_ns(), 1 if now >= measure_from else 0) + pad, partition=0)
                i += 1
            poll(0)
            if now >= next_rss:
                peak_rss = max(peak_rss, broker.rss_bytes())
                peak_anon = max(peak_anon, broker.rss_bytes("RssAnon"))
                next_rss = now + 0.1
            time.sleep(0.0002)
        sent += i
        left = producer.flush(min(timeout, 30))
        if left:
            raise BenchError(f"{broker.name}: latency: {left} records not delivered")
        wait_until = time.monotonic() + min(timeout, 30)
        while received[0] < sent and time.monotonic() < wait_until and not failure:
            time.sleep(0.01)
        elapsed = time.perf_counter() - start
        cpu = broker.cpu_seconds() - cpu0
        peak_rss = max(peak_rss, broker.rss_bytes())
        peak_anon = max(peak_anon, broker.rss_bytes("RssAnon"))
    finally:
        stop.set()
        thread.join(5)
        consumer.close()
        producer.purge()
        producer.flush(0)
    if failure:
        raise BenchError(f"{broker.name}: latency: {failure[0]}")
    if errors.items:
        raise BenchError(f"{broker.name}: latency: {errors.items[0]}")
    if received[0] < sent:
        raise BenchError(f"{broker.name}: latency: received {received[0]} of {sent} records")
    return LatencyResult(sent, received[0], latencies, peak_rss, peak_anon, cpu, elapsed)


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile (q in 0..1) of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return float(sorted_values[k])


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """`report.machine_info` plus the versions of confluent-kafka and librdkafka."""
    info = report.machine_info()
    try:
        import confluent_kafka

        info["confluent_kafka"] = getattr(confluent_kafka, "__version__", "") or str(confluent_kafka.version())
        info["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        pass
    return info


def total_steps(config: BrokerBenchConfig) -> int:
    """How many times ``run_broker_benchmark`` calls ``progress`` (nafka steps included)."""
    per_rep = 3 + (2 if config.nafka else 0)
    return 2 + (1 if config.nafka else 0) + config.repeat * per_rep + 2


def run_broker_benchmark(config: BrokerBenchConfig, progress: report.ProgressFn | None = None) -> BrokerBenchResult:
    """Start the brokers, run every phase, stop the brokers; ``progress(label)`` after each step."""
    import confluent_kafka  # noqa: F401  (ImportError here: the caller says confluent-kafka is missing)

    step = progress or (lambda label: None)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    notes: list[str] = []
    n, size, timeout = config.n, config.value_size, config.phase_timeout_s
    nafka_n = config.nafka_count()
    values = make_values(1024, size)
    step("values ready")

    nafka_path: str | None = None
    nafka_ok = config.nafka
    if config.nafka:
        try:
            nafka_path, where = find_nafka(config.nafka_path)
            notes.append(f"nafka: {where}; run by benches/nafka_runner.py (sqlite3 autocommit shim on Python < 3.12)")
        except LookupError as e:
            nafka_ok = False
            notes.append(str(e))
    else:
        notes.append("nafka: not run (--no-nafka)")

    times: dict[str, list[float]] = {k: [] for k in ("ceiling", "p.produce", "p.consume", "n.produce", "n.consume")}
    cpus: dict[str, list[float]] = {k: [] for k in ("p.produce", "p.consume", "n.produce", "n.consume")}
    nafka_error = ""
    latency: LatencyResult | None = None
    latency_after: LatencyResult | None = None
    load_start = os.getloadavg()
    idle_rss = 0
    base = Path(tempfile.mkdtemp(prefix="pystream-bench-broker-", dir=config.dir))
    brokers: list[BrokerProcess] = []
    try:
        ps = pystream_broker(base / "pystream", free_port(), base / "pystream.log", config.broker_cprofile)
        brokers.append(ps)
        ps.start()
        idle_rss = ps.rss_bytes()
        step("pystream broker started")
        # Latency first, on the fresh broker: the graded figure. Measured again at the end (after the
        # throughput phases wrote several hundred MB that the kernel is still writing back) for information.
        latency = measure_latency(ps, "bench-latency", config.latency_rate, config.latency_seconds, config.latency_warmup_s,
                                  size, config.fetch_wait_max_ms, timeout)
        step("latency")
        nk: BrokerProcess | None = None
        if nafka_ok:
            nk = nafka_broker(base / "nafka", free_port(), base / "nafka.log", nafka_path)
            brokers.append(nk)
            try:
                nk.start()
            except BenchError as e:
                nafka_error = str(e)
                nk = None
            step("nafka broker started")

        def nafka_phase(fn: Callable[[], PhaseResult], label: str) -> PhaseResult | None:
            nonlocal nafka_error, nk
            if nk is None:
                return None
            try:
                return fn()
            except Exception as e:  # nafka failing is a result, not a crash of the benchmark
                nafka_error = f"{label}: {e}"
                if nk.alive():
                    nafka_error += f" (nafka log: {nk.log_tail(5)})"
                nk.stop()
                nk = None
                return None

        for rep in range(config.repeat):
            times["ceiling"].append(measure_ceiling(n, values))
            step(f"client ceiling ({rep + 1}/{config.repeat})")
            r = measure_produce(ps, f"bench-{rep}", n, values, timeout)
            times["p.produce"].append(r.seconds)
            cpus["p.produce"].append(r.cpu_s)
            step(f"pystream produce ({rep + 1}/{config.repeat})")
            if config.nafka:
                nk_ = nk
                r2 = nafka_phase(lambda: measure_produce(nk_, f"bench-{rep}", nafka_n, values, timeout), "produce")  # type: ignore[arg-type]
                if r2:
                    times["n.produce"].append(r2.seconds)
                    cpus["n.produce"].append(r2.cpu_s)
                step(f"nafka produce ({rep + 1}/{config.repeat})")
            r = measure_consume(ps, "bench-0", n, timeout, f"bench-consume-{rep}")
            times["p.consume"].append(r.seconds)
            cpus["p.consume"].append(r.cpu_s)
            step(f"pystream consume ({rep + 1}/{config.repeat})")
            if config.nafka:
                nk_ = nk
                r2 = nafka_phase(lambda: measure_consume(nk_, "bench-0", nafka_n, timeout, f"bench-consume-{rep}"), "consume")  # type: ignore[arg-type]
                if r2:
                    times["n.consume"].append(r2.seconds)
                    cpus["n.consume"].append(r2.cpu_s)
                step(f"nafka consume ({rep + 1}/{config.repeat})")
        if nk is not None:
            nk.stop()
        latency_after = measure_latency(ps, "bench-latency-after", config.latency_rate, config.latency_seconds,
                                        config.latency_warmup_s, size, config.fetch_wait_max_ms, timeout)
        step("latency after the throughput phases")
    finally:
        for b in brokers:
            b.stop()
        shutil.rmtree(base, ignore_errors=True)
    if nafka_error:
        notes.append(f"nafka failed: {nafka_error}")

    rows = _rows(config, times, cpus, latency, latency_after, idle_rss, nafka_ok and not nafka_error)
    cfg = asdict(config) | {"nafka_n": nafka_n, "nafka_path": nafka_path}
    machine = machine_info() | {"loadavg_start": [round(x, 2) for x in load_start],
                                "loadavg_end": [round(x, 2) for x in os.getloadavg()]}
    notes.append(f"load average (1/5/15 min) at start {machine['loadavg_start']}, at end {machine['loadavg_end']} "
                 f"on {machine.get('nproc')} cores: other processes shared the machine if well above 1")
    return BrokerBenchResult(config=cfg, machine=machine, rows=rows, notes=notes, started=started,
                             elapsed_s=time.perf_counter() - t_start)


def _rate(count: int, seconds: list[float]) -> tuple[float | None, list[float]]:
    if not seconds:
        return None, []
    return count / min(seconds), [count / s for s in seconds]


def _cpu_per_million(count: int, cpu: list[float]) -> tuple[float | None, list[float]]:
    if not cpu:
        return None, []
    per = [c / count * 1e6 for c in cpu]
    return min(per), per


def _rows(config: BrokerBenchConfig, times: dict[str, list[float]], cpus: dict[str, list[float]],
          latency: LatencyResult | None, latency_after: LatencyResult | None, idle_rss: int, nafka_ran: bool) -> list[Row]:
    n, nn = config.n, config.nafka_count()
    rows: list[Row] = []
    ceiling, s = _rate(n, times["ceiling"])
    rows.append(Row("ceiling", "client ceiling: produce() loop, no broker", ceiling, "records/s", samples=s,
                    note="the baseline of the produce row"))
    pp, s = _rate(n, times["p.produce"])
    frac = pp / ceiling if pp and ceiling else None
    rows.append(Row("pystream.produce", "pystream produce (acks=all, linger 5 ms)", pp, "records/s",
                    detail=f"{frac:.0%} of ceiling" if frac else "", goal=f">= {PRODUCE_CEILING_FRACTION:.0%} of ceiling",
                    passed=None if frac is None else frac >= PRODUCE_CEILING_FRACTION, samples=s))
    pc, s = _rate(n, times["p.consume"])
    rows.append(Row("pystream.consume", "pystream consume", pc, "records/s", goal=f">= {CONSUME_GOAL / 1e6:g}M/s",
                    passed=None if pc is None else pc >= CONSUME_GOAL, samples=s))
    why = "" if nafka_ran else "not measured: see notes"
    scale = f"N={nn:,}" if nn != n else ""
    np_, s = _rate(nn, times["n.produce"])
    rows.append(Row("nafka.produce", "nafka produce (same client settings)", np_, "records/s", detail=scale, samples=s,
                    note=why if np_ is None else ""))
    nc, s = _rate(nn, times["n.consume"])
    rows.append(Row("nafka.consume", "nafka consume", nc, "records/s", detail=scale, samples=s, note=why if nc is None else ""))
    for key, label, a, b in (("ratio.produce", "produce: pystream / nafka", pp, np_),
                             ("ratio.consume", "consume: pystream / nafka", pc, nc)):
        r = a / b if a and b else None
        rows.append(Row(key, label, r, "x", goal=f">= {NAFKA_RATIO_GOAL:g}x", passed=None if r is None else r >= NAFKA_RATIO_GOAL,
                        note="" if r is not None else why or "not measured"))
    for key, label, src, count, graded in (
        ("cpu.produce", "pystream broker CPU per 1M produced", "p.produce", n, True),
        ("cpu.fetch", "pystream broker CPU per 1M fetched", "p.consume", n, True),
        ("nafka.cpu.produce", "nafka broker CPU per 1M produced", "n.produce", nn, False),
        ("nafka.cpu.fetch", "nafka broker CPU per 1M fetched", "n.consume", nn, False),
    ):
        v, s = _cpu_per_million(count, cpus[src])
        if v is None and not graded:
            continue
        detail = "" if not v else (f"{1 / v:,.1f}M rec/s per core" if v <= 10 else f"{1e3 / v:,.0f}k rec/s per core")
        rows.append(Row(key, label, v, "s/1M", detail=detail, goal=f"<= {CPU_PER_MILLION_GOAL:g} s" if graded else "",
                        passed=(v <= CPU_PER_MILLION_GOAL if v is not None else None) if graded else None, samples=s))
    rate = f"at {config.latency_rate:,} rec/s"
    if latency is not None:
        lat = sorted(latency.latencies_ns)
        p50, p99, p999 = (percentile(lat, q) / 1e6 for q in (0.50, 0.99, 0.999))
        cnt = f"{len(lat):,} samples"
        rows.append(Row("latency.p50", f"end-to-end latency p50 {rate}", p50, "ms", detail=cnt))
        rows.append(Row("latency.p99", f"end-to-end latency p99 {rate}", p99, "ms", detail=cnt,
                        goal=f"<= {LATENCY_P99_GOAL_MS:g} ms", passed=p99 <= LATENCY_P99_GOAL_MS))
        rows.append(Row("latency.p999", f"end-to-end latency p99.9 {rate}", p999, "ms", detail=cnt))
        rows.append(Row("latency.max", f"end-to-end latency max {rate}", lat[-1] / 1e6 if lat else float("nan"), "ms", detail=cnt))
        rows.append(Row("rss.latency", f"pystream broker peak RSS {rate}", latency.peak_rss / 2**20, "MiB",
                        detail=f"anonymous {latency.peak_rss_anon / 2**20:,.0f} MiB, the rest mapped segment files; "
                               f"idle after start: {idle_rss / 2**20:,.0f} MiB"))
        rows.append(Row("cpu.latency", f"pystream broker CPU {rate}", 100 * latency.cpu_s / latency.seconds, "%",
                        detail="of one core"))
    if latency_after is not None:
        lat = sorted(latency_after.latencies_ns)
        for q, name in ((0.50, "p50"), (0.99, "p99"), (0.999, "p99.9")):
            rows.append(Row(f"latency_after.{name.replace('.', '')}", f"latency {name} {rate}, after the throughput phases",
                            percentile(lat, q) / 1e6, "ms", detail=f"{len(lat):,} samples; for information"))
        rows.append(Row("rss.latency_after", f"pystream broker peak RSS {rate}, after the throughput phases",
                        latency_after.peak_rss / 2**20, "MiB", detail=f"anonymous {latency_after.peak_rss_anon / 2**20:,.0f} MiB"))
    return rows


def run_and_report(config: BrokerBenchConfig, console: Any = None, json_path: str | os.PathLike[str] | None = None,
                   markdown: bool = False) -> BrokerBenchResult:
    """The whole `pystream bench --broker`: run with a progress bar, print the table, write JSON."""
    return report.run_and_report("broker bench", total_steps(config), lambda step: run_broker_benchmark(config, step),
                                 render_table, markdown_table, FOOTNOTES, console, json_path, markdown)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

FOOTNOTES = (
    "Throughput rows: best of --repeat runs, repetitions interleaved (ceiling, pystream, nafka); "
    "records/s = N / time. Values: 100 B, 1,024 distinct incompressible values cycled, no key, one partition, no compression.",
    "client ceiling: the same produce() loop (poll(0) every 1,024 records) into a Producer whose bootstrap server is a "
    "closed port; the queue is purged and its reports served (untimed) every 16,384 records so that it stays short, as against a broker: the "
    "Python client's own cost per record.",
    "produce: acks=all, linger.ms=5, librdkafka defaults otherwise (idempotence off); timed from the first produce() to "
    "flush() returning; the topic's high watermark is checked to be N afterwards.",
    "consume: one Consumer, assign(partition 0, offset 0), consume(num_messages=min(10000, left)) until N records; librdkafka defaults "
    "otherwise (fetch.wait.max.ms 500, max.partition.fetch.bytes 1 MiB) except fetch.queue.backoff.ms=1 (librdkafka's default "
    "1000 ms stalls fetching for a second each time its local queue fills, which the Python loop makes happen).",
    "broker CPU: utime+stime from /proc/<pid>/stat of the broker process across the phase (clock ticks of 10 ms); "
    "min over repetitions.",
    "latency: paced produce (linger.ms=0, acks=all), a consumer thread calling poll() (fetch.min.bytes=1, small fetch.wait.max.ms); "
    "latency = receive time - perf_counter_ns() in the value, same clock; warm-up records excluded. Measured first, on the "
    "fresh broker (graded), and again after the throughput phases (for information). RSS = peak VmRSS sampled every "
    "100 ms during that phase.",
)


_FORMATS = {"x": "{:,.1f}x", "s/1M": "{:.3f} s", "ms": "{:.2f} ms", "MiB": "{:,.0f} MiB", "%": "{:.0f}%"}


def _fmt(row: Row) -> str:
    if row.value is None:
        return "-"
    if row.unit == "records/s":
        return report.fmt_rate(row.value, "/s")
    return _FORMATS.get(row.unit, "{:g}").format(row.value)


_SECTIONS = ("ceiling", "nafka.produce", "ratio.produce", "cpu.produce", "latency.p50", "latency_after.p50")
COLUMNS: tuple[report.Column, ...] = (("measurement", "left"), ("value", "right"), ("", "left"), ("goal", "left"),
                                      ("result", "left"))


def _cells(result: BrokerBenchResult, markup: bool) -> list[report.Cells]:
    out: list[report.Cells] = []
    for i, row in enumerate(result.rows):
        if i and row.key in _SECTIONS:
            out.append(None)
        out.append([row.label, _fmt(row), row.detail or row.note, row.goal, report.verdict(row.passed, markup)])
    return out


def render_table(result: BrokerBenchResult) -> Any:
    """The results as a rich renderable (a table, then the notes)."""
    cfg = result.config
    title = f"pystream broker benchmark: confluent-kafka, N={cfg['n']:,} records of {cfg['value_size']} B, one partition"
    return report.rich_table(title, result, COLUMNS, _cells(result, True), (*FOOTNOTES, *result.notes))


def markdown_table(result: BrokerBenchResult) -> str:
    """The same table as GitHub markdown (for docs/benchmarks.md)."""
    return report.markdown_table(COLUMNS, _cells(result, False))


def write_json(result: BrokerBenchResult, path: str | os.PathLike[str]) -> None:
    """The raw results and the footnotes as JSON at ``path``."""
    report.write_json(result, path, FOOTNOTES)
