"""The cluster benchmark: replication cost and failover time on loopback (docs/benchmarks.md, "Cluster").

Starts ZooKeeper and three `pystream serve --zookeeper` brokers, then measures
with librdkafka (confluent-kafka), acks=all, linger.ms=5, 100-byte values:

- throughput into a one-partition RF=3 topic as a ratio of a one-partition RF=1
  topic on the same cluster, in the same run (best of ``repeat``, interleaved);
- failover: a producer sends at a steady rate into an RF=3 topic
  (min.insync.replicas=2); the partition leader is killed with SIGKILL; the
  time from the kill to the producer's next acknowledged record;
- controlled shutdown: the same with SIGTERM (the broker moves leadership to
  another in-sync replica before it exits): the longest pause between two
  acknowledgements around the SIGTERM.

Failover time after SIGKILL is dominated by how fast ZooKeeper declares the
dead broker's session over (`zookeeper.session.timeout.ms`,
``session_timeout_ms``); a controlled shutdown does not wait for it.
"""

from __future__ import annotations

import itertools
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystream.bench import report
from pystream.bench.broker import produce_loop, producer_config
from pystream.bench.procs import BenchError, BrokerProcess, free_port, pystream_broker, start_zookeeper, zookeeper_missing
from pystream.bench.storage import make_values

RF3_OVER_RF1_GOAL = 0.5


@dataclass
class ClusterBenchConfig:
    """What to run: ``n`` records per throughput run; ``rate`` records/s during the failover phase."""

    n: int = 300_000
    repeat: int = 2
    rate: int = 2000
    session_timeout_ms: int = 4000
    dir: str | None = None


def start_broker(i: int, zk_port: int, base: Path, session_timeout_ms: int) -> BrokerProcess:
    """Broker ``i`` of the cluster (chroot /bench), data in ``base``/b<i>."""
    overrides = {"offsets.topic.num.partitions": 3, "zookeeper.session.timeout.ms": session_timeout_ms,
                 "replica.lag.time.max.ms": 5000, "replica.fetch.wait.max.ms": 100}
    args = ["--broker-id", str(i), "--zookeeper", f"127.0.0.1:{zk_port}/bench",
            *(a for key, value in overrides.items() for a in ("--override", f"{key}={value}"))]
    return pystream_broker(base / f"b{i}", free_port(), base / f"b{i}.log", args=args, name=f"broker {i}").start()


def create_topic(bootstrap: str, name: str, rf: int, config: dict[str, str] | None = None) -> None:
    """A one-partition topic, once every replica is in the ISR."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, rf, config=config or {})])[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until every replica is in the ISR
        md = admin.list_topics(name, timeout=10).topics[name].partitions[0]
        if md.leader >= 0 and len(md.isrs) == rf:
            return
        time.sleep(0.1)
    raise BenchError(f"{name}: replicas did not all join the ISR")


def produce_rate(bootstrap: str, topic: str, n: int, values: list[bytes]) -> float:
    """Records/s of the broker benchmark's produce loop (acks=all, linger.ms=5) plus flush()."""
    from confluent_kafka import Producer

    p = Producer(producer_config(bootstrap, n, len(values[0])))
    t0 = produce_loop(p, topic, values, n, collect=False)
    left = p.flush(120)
    dt = time.perf_counter() - t0
    if left:
        raise BenchError(f"{left} records not delivered to {topic}")
    return n / dt


def measure_failover(bootstrap: str, brokers: dict[int, BrokerProcess], topic: str, rate: int,
                     sig: signal.Signals = signal.SIGKILL) -> dict[str, Any]:
    """Produce at ``rate``/s, send the leader ``sig`` after 2 s: seconds from the signal to the next
    acknowledged record, and the longest pause between two acknowledgements from 1 s before the
    signal on (what the producer sees of the switch)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    acks: list[float] = []
    errors: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            acks.append(time.monotonic())
        else:
            errors.append(str(err))

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, "enable.idempotence": True,
                  "message.timeout.ms": 60000, "log_level": 0})
    admin = AdminClient({"bootstrap.servers": bootstrap})
    leader = -1
    deadline = time.monotonic() + 30
    while leader not in brokers and time.monotonic() < deadline:  # a broker's metadata may lag a moment
        leader = admin.list_topics(topic, timeout=10).topics[topic].partitions[0].leader
        time.sleep(0.1)
    interval = 1.0 / rate
    start = time.monotonic()
    kill_at = start + 2.0
    killed_at = None
    i = 0
    while time.monotonic() - start < 2.0 + 30.0:
        p.produce(topic, b"%d" % i, on_delivery=on_delivery)
        i += 1
        p.poll(0)
        now = time.monotonic()
        if killed_at is None and now >= kill_at:
            brokers[leader].proc.send_signal(sig)  # type: ignore[union-attr]
            killed_at = time.monotonic()
        # Until the leader has exited and acknowledgements flowed again for a second.
        if (killed_at is not None and not brokers[leader].alive() and acks
                and acks[-1] - killed_at > 1.0 and any(t > acks[-1] - 1.0 for t in acks[-50:-1])):
            break
        time.sleep(max(0.0, interval - (time.monotonic() - now)))
    p.flush(60)
    after = [t for t in acks if killed_at is not None and t > killed_at]
    around = [t for t in acks if killed_at is not None and t >= killed_at - 1.0]
    gap = max((b - a for a, b in itertools.pairwise(around)), default=None)
    return {"signal": sig.name, "killed_leader": leader, "failover_s": (after[0] - killed_at) if after else None,
            "longest_ack_gap_s": gap, "records_sent": i, "records_acked": len(acks), "errors": errors[:5]}


def total_steps(config: ClusterBenchConfig) -> int:
    """How many times ``run_cluster_benchmark`` calls ``progress``."""
    return 1 + 3 + 1 + 2 * config.repeat + 2


def run_cluster_benchmark(config: ClusterBenchConfig, progress: report.ProgressFn | None = None) -> dict[str, Any]:
    """Start ZooKeeper and three brokers, run both phases, stop them all; ``progress(label)`` after each step."""
    why = zookeeper_missing()
    if why:
        raise BenchError(why)
    step = progress or (lambda label: None)
    base = Path(tempfile.mkdtemp(prefix="pystream-cluster-bench-", dir=config.dir))
    servers: list[BrokerProcess] = []
    brokers: dict[int, BrokerProcess] = {}
    try:
        zk = start_zookeeper(base / "zk", base / "zk.log")
        servers.append(zk)
        step("ZooKeeper started")
        for i in (1, 2, 3):
            brokers[i] = start_broker(i, zk.port, base, config.session_timeout_ms)
            servers.append(brokers[i])
            step(f"broker {i} started")
        bootstrap = ",".join(b.bootstrap for b in brokers.values())
        create_topic(bootstrap, "rf1", 1)
        create_topic(bootstrap, "rf3", 3, {"min.insync.replicas": "2"})
        step("topics created")
        values = make_values(1 << 14, 100)
        rates: dict[str, list[float]] = {"rf1": [], "rf3": []}
        for rep in range(config.repeat):
            for topic in ("rf1", "rf3"):
                rates[topic].append(produce_rate(bootstrap, topic, config.n, values))
                step(f"{topic} produce ({rep + 1}/{config.repeat})")
        rf1, rf3 = max(rates["rf1"]), max(rates["rf3"])
        # Controlled shutdown (SIGTERM: leadership moves first), then SIGKILL (the session must expire).
        create_topic(bootstrap, "controlled", 3, {"min.insync.replicas": "2"})
        controlled = measure_failover(bootstrap, brokers, "controlled", config.rate, signal.SIGTERM)
        brokers[controlled["killed_leader"]].start()
        step("controlled shutdown")
        create_topic(bootstrap, "failover", 3, {"min.insync.replicas": "2"})
        failover = measure_failover(bootstrap, brokers, "failover", config.rate)
        step("failover")
    finally:
        for server in reversed(servers):  # brokers first, ZooKeeper last
            server.stop()
        shutil.rmtree(base, ignore_errors=True)
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "n": config.n, "repeat": config.repeat,
        "rf1_records_per_s": rf1, "rf3_records_per_s": rf3, "rf3_over_rf1": rf3 / rf1,
        "goal_rf3_over_rf1": RF3_OVER_RF1_GOAL, "pass": rf3 / rf1 >= RF3_OVER_RF1_GOAL, "rates": rates,
        "failover": failover, "controlled_shutdown": controlled,
        "zookeeper_session_timeout_ms": config.session_timeout_ms,
    }


def summary(result: dict[str, Any]) -> str:
    """Four lines: RF=1 and RF=3 throughput, failover time, controlled shutdown pause."""
    rf1, rf3, fo = result["rf1_records_per_s"], result["rf3_records_per_s"], result["failover"]
    seconds = "n/a" if fo["failover_s"] is None else f"{fo['failover_s']:.2f} s"
    cs = result.get("controlled_shutdown") or {}
    pause = "n/a" if cs.get("longest_ack_gap_s") is None else f"{cs['longest_ack_gap_s']:.2f} s"
    return "\n".join([
        f"RF=1 acks=all: {report.fmt_rate(rf1)} records/s",
        f"RF=3 acks=all: {report.fmt_rate(rf3)} records/s = {rf3 / rf1:.0%} of RF=1 "
        f"(goal >= {RF3_OVER_RF1_GOAL:.0%}: {report.verdict(result['pass'], False)})",
        f"failover: leader {fo['killed_leader']} killed, next acknowledged record after {seconds} "
        f"(zookeeper.session.timeout.ms={result['zookeeper_session_timeout_ms']})",
        f"controlled shutdown: leader {cs.get('killed_leader')} stopped with SIGTERM, longest pause between "
        f"acknowledgements {pause}, errors: {', '.join(cs.get('errors') or []) or 'none'}",
    ])


def run_and_report(config: ClusterBenchConfig, console: Any = None, json_path: str | Path | None = None) -> dict[str, Any]:
    """The whole `pystream bench --cluster`: run with a progress bar, print the summary, write JSON."""
    return report.run_and_report("cluster bench", total_steps(config), lambda step: run_cluster_benchmark(config, step),
                                 summary, summary, (), console, json_path)
