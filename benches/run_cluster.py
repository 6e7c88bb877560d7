"""Cluster benchmark: replication cost and failover time on loopback.

Starts ZooKeeper and three `pystream serve --zookeeper` brokers, then measures
with librdkafka (confluent-kafka), acks=all, linger.ms=5, 100-byte values:

- throughput into a one-partition RF=3 topic as a ratio of a one-partition RF=1
  topic on the same cluster, in the same run (best of --repeat, interleaved);
- failover: a producer sends at a steady rate into an RF=3 topic
  (min.insync.replicas=2); the partition leader is killed with SIGKILL; the
  time from the kill to the producer's next acknowledged record;
- controlled shutdown: the same with SIGTERM (the broker moves leadership to
  another in-sync replica before it exits): the longest pause between two
  acknowledgements around the SIGTERM.

Failover time after SIGKILL is dominated by how fast ZooKeeper declares the
dead broker's session over (`zookeeper.session.timeout.ms`, set by
--session-timeout-ms); a controlled shutdown does not wait for it.

    python benches/run_cluster.py [--n 300000] [--repeat 2] [--json benches/results/cluster-latest.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pystream.bench_broker import BrokerProcess, free_port, make_values, producer_config

ZK_CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/*"


def start_zookeeper(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    from kazoo.client import KazooClient

    logging.getLogger("kazoo").setLevel(logging.CRITICAL)  # "connection refused" until it listens
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(["java", "-Xmx256m", "-Dzookeeper.admin.enableServer=false", "-cp", ZK_CLASSPATH, "org.apache.zookeeper.server.ZooKeeperServerMain",
                             str(port), str(data_dir), "200"], stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        zk = KazooClient(hosts=f"127.0.0.1:{port}")
        try:
            zk.start(timeout=2)
            zk.stop()
            return proc, port
        except Exception:
            time.sleep(0.2)
        finally:
            zk.close()
    proc.kill()
    raise RuntimeError("ZooKeeper did not start")


def start_broker(i: int, zk_port: int, base: Path, session_timeout_ms: int) -> BrokerProcess:
    port = free_port()
    cmd = [sys.executable, "-m", "pystream.cli", "serve", "--port", str(port), "--data-dir", str(base / f"b{i}"),
           "--broker-id", str(i), "--zookeeper", f"127.0.0.1:{zk_port}/bench", "--log-level", "WARNING",
           "--override", "group.initial.rebalance.delay.ms=0", "--override", "offsets.topic.num.partitions=3",
           "--override", f"zookeeper.session.timeout.ms={session_timeout_ms}", "--override", "replica.lag.time.max.ms=5000",
           "--override", "replica.fetch.wait.max.ms=100"]
    return BrokerProcess(f"broker {i}", cmd, port, base / f"b{i}.log").start()


def create_topic(bootstrap: str, name: str, rf: int, config: dict[str, str] | None = None) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 1, rf, config=config or {})])[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until every replica is in the ISR
        md = admin.list_topics(name, timeout=10).topics[name].partitions[0]
        if md.leader >= 0 and len(md.isrs) == rf:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name}: replicas did not all join the ISR")


def produce_rate(bootstrap: str, topic: str, n: int, values: list[bytes]) -> float:
    from confluent_kafka import Producer

    p = Producer(producer_config(bootstrap, n, len(values[0])))
    mask = len(values) - 1
    t0 = time.perf_counter()
    for i in range(n):
        p.produce(topic, values[i & mask], partition=0)
        if not i & 1023:
            p.poll(0)
    left = p.flush(120)
    dt = time.perf_counter() - t0
    if left:
        raise RuntimeError(f"{left} records not delivered to {topic}")
    return n / dt


def measure_failover(bootstrap: str, brokers: dict[int, BrokerProcess], topic: str, rate: int,
                     sig: signal.Signals = signal.SIGKILL) -> dict[str, Any]:
    """A producer at `rate` records/s into `topic`; after 2 s its leader gets `sig`. Returns the
    time from the signal to the next acknowledgement and the longest pause between two
    acknowledgements from 1 s before the signal on (what the producer sees of the switch)."""
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
        # Until the leader has exited and acknowledgements flow again for a second.
        if (killed_at is not None and not brokers[leader].alive() and acks
                and acks[-1] - killed_at > 1.0 and any(t > acks[-1] - 1.0 for t in acks[-50:-1])):
            break
        time.sleep(max(0.0, interval - (time.monotonic() - now)))
    p.flush(60)
    after = [t for t in acks if killed_at is not None and t > killed_at]
    around = [t for t in acks if killed_at is not None and t >= killed_at - 1.0]
    gap = max((b - a for a, b in zip(around, around[1:])), default=None)
    return {"signal": sig.name, "leader": leader, "failover_s": (after[0] - killed_at) if after else None,
            "longest_ack_gap_s": gap, "records_sent": i, "records_acked": len(acks), "errors": errors[:5]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--rate", type=int, default=2000, help="records/s during the failover phase")
    ap.add_argument("--session-timeout-ms", type=int, default=4000)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if shutil.which("java") is None or not Path("/usr/share/java/zookeeper.jar").exists():
        sys.exit("ZooKeeper not installed: apt-get install zookeeper")
    base = Path(tempfile.mkdtemp(prefix="pystream-cluster-bench-"))
    zk, zk_port = start_zookeeper(base / "zk", base / "zk.log")
    brokers: dict[int, BrokerProcess] = {}
    try:
        for i in (1, 2, 3):
            brokers[i] = start_broker(i, zk_port, base, args.session_timeout_ms)
        bootstrap = ",".join(b.bootstrap for b in brokers.values())
        create_topic(bootstrap, "rf1", 1)
        create_topic(bootstrap, "rf3", 3, {"min.insync.replicas": "2"})
        values = make_values(1 << 14, 100)
        rates: dict[str, list[float]] = {"rf1": [], "rf3": []}
        for _ in range(args.repeat):
            for topic in ("rf1", "rf3"):
                rates[topic].append(produce_rate(bootstrap, topic, args.n, values))
        rf1, rf3 = max(rates["rf1"]), max(rates["rf3"])
        # Controlled shutdown (SIGTERM: leadership moves first), then SIGKILL (the session must expire).
        create_topic(bootstrap, "controlled", 3, {"min.insync.replicas": "2"})
        controlled = measure_failover(bootstrap, brokers, "controlled", args.rate, signal.SIGTERM)
        brokers[controlled["leader"]].start()
        create_topic(bootstrap, "failover", 3, {"min.insync.replicas": "2"})
        failover = measure_failover(bootstrap, brokers, "failover", args.rate)
        result = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "n": args.n, "repeat": args.repeat,
            "rf1_records_per_s": rf1, "rf3_records_per_s": rf3, "rf3_over_rf1": rf3 / rf1,
            "goal_rf3_over_rf1": 0.5, "pass": rf3 / rf1 >= 0.5, "rates": rates,
            "failover": failover, "controlled_shutdown": controlled,
            "zookeeper_session_timeout_ms": args.session_timeout_ms,
        }
        print(f"RF=1 acks=all: {rf1 / 1e6:.2f}M records/s")
        print(f"RF=3 acks=all: {rf3 / 1e6:.2f}M records/s = {rf3 / rf1:.0%} of RF=1 (goal >= 50%: {'PASS' if result['pass'] else 'MISS'})")
        fo, gap = failover["failover_s"], failover["longest_ack_gap_s"]
        print(f"failover: leader {failover['leader']} killed (SIGKILL), next acknowledged record after "
              f"{'n/a' if fo is None else f'{fo:.2f} s'} (zookeeper.session.timeout.ms={args.session_timeout_ms})")
        gap = controlled["longest_ack_gap_s"]
        print(f"controlled shutdown: leader {controlled['leader']} stopped (SIGTERM), longest pause between "
              f"acknowledgements {'n/a' if gap is None else f'{gap:.2f} s'}, errors {controlled['errors'] or 'none'}")
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1))
    finally:
        for b in brokers.values():
            b.stop()
        zk.kill()
        zk.wait(10)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
