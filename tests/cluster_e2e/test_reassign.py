"""(c) A fourth broker joins; `pystream reassign` moves partitions onto it under load."""

from __future__ import annotations

import subprocess
import sys
import threading

import confluent_kafka

from .conftest import Cluster, wait_until
from .e2e_helpers import ProducerRun, check_exactly_once, parse_value, read_partitions

TOPIC = "moving"
GROUP = "movers"
PARTITIONS = 2


def _cli(cluster: Cluster, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pystream.cli", "reassign", "-b", cluster.live_bootstrap(), *args],
                          capture_output=True, text=True, timeout=timeout)


class GroupReader(threading.Thread):
    """A consumer-group member reading TOPIC (auto commit) until stopped; records seqs seen."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.seen: list[tuple[int, int, int]] = []
        self.errors: list[str] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        c = confluent_kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": GROUP,
                                      "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                                      "topic.metadata.refresh.interval.ms": 1000})
        c.subscribe([TOPIC])
        try:
            while not self.stop_event.is_set():
                msg = c.poll(0.2)
                if msg is None:
                    continue
                if msg.error():
                    if not msg.error().retriable():
                        self.errors.append(str(msg.error()))
                    continue
                self.seen.append((msg.partition(), msg.offset(), parse_value(msg.value())))
        finally:
            c.close()


def test_reassign_to_new_broker_under_load(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, PARTITIONS, 3, {"min.insync.replicas": "2"})
    cluster.add_broker(4)
    cluster.wait_brokers([4])

    # Clear errors: a broker that does not exist, a topic or partition that does not exist.
    bad = _cli(cluster, "--topic", TOPIC, "--partition", "0", "--replicas", "1,2,9")
    assert bad.returncode == 1 and "INVALID_REPLICA_ASSIGNMENT" in bad.stderr, bad.stderr
    bad = _cli(cluster, "--topic", "no-such-topic", "--partition", "0", "--replicas", "1,2,4")
    assert bad.returncode == 1 and "UNKNOWN_TOPIC_OR_PARTITION" in bad.stderr, bad.stderr
    bad = _cli(cluster, "--topic", TOPIC, "--partition", "7", "--replicas", "1,2,4")
    assert bad.returncode == 1 and "no partition" in bad.stderr, bad.stderr

    run = ProducerRun(cluster.bootstrap, TOPIC, PARTITIONS, limit=4000, rate=300).start()
    reader = GroupReader(cluster.bootstrap)
    reader.start()
    try:
        run.wait_acked(300)
        # Partition 0 onto 4,1,2 (broker 4 preferred leader); partition 1 onto 2,3,4.
        r0 = _cli(cluster, "--topic", TOPIC, "--partition", "0", "--replicas", "4,1,2")
        assert r0.returncode == 0, r0.stderr
        assert "started" in r0.stdout
        r1 = _cli(cluster, "--topic", TOPIC, "--partition", "1", "--replicas", "2,3,4", "--wait", "--timeout", "60")
        assert r1.returncode == 0, r1.stdout + r1.stderr
        listed = _cli(cluster, "--list")
        assert listed.returncode == 0 and "No reassignment in progress" in listed.stdout, listed.stdout + listed.stderr
        run.wait_acked(300)
    finally:
        unresolved = run.stop()
    assert unresolved == 0 and not run.fatal, (unresolved, run.fatal)

    parts = cluster.wait_isr_full(TOPIC, 30, what="full ISR on the new replica sets")
    assert sorted(parts[0]["replicas"]) == [1, 2, 4], parts
    assert sorted(parts[1]["replicas"]) == [2, 3, 4], parts

    # No loss, no duplicates in the log ...
    read = read_partitions(cluster.bootstrap, TOPIC, PARTITIONS)
    stats = check_exactly_once(run, read)
    # ... and the group saw every acknowledged record (redelivery after a rebalance is allowed,
    # a hole is not).
    total = sum(len(v) for v in read.values())
    wait_until(lambda: len({(p, o) for p, o, _ in reader.seen}) >= total, 30, what="group caught up")
    reader.stop_event.set()
    reader.join(15)
    assert not reader.errors, reader.errors[:5]
    got = {(p, o): s for p, o, s in reader.seen}
    for p, records in read.items():
        for off, seq in records:
            assert got.get((p, off)) == seq, f"group missed {p}@{off}"
    print(f"{stats}; group read {len(reader.seen)} ({len(reader.seen) - len(got)} redelivered)")
