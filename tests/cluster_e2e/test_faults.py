"""A randomized (Jepsen-style) fault test: ZooKeeper and three brokers, an idempotent acks=all
producer per partition of an RF=3, min.insync.replicas=2 topic and a consumer group, while a
nemesis (faults.py) kills, pauses and partitions brokers and pauses ZooKeeper.

Afterwards, everything healed: every acknowledged record is in the log exactly once, in order,
at its acknowledged offset; the replicas' logs are byte-for-byte equal up to the high
watermark; the group's committed offsets never went backwards; every replica is back in the
ISR within 30 s.

Bounded: PYSTREAM_FAULTS_SECONDS of faults (default 45 in CI). The seed is printed and taken
from PYSTREAM_FAULTS_SEED when set (a failing run replays its fault schedule);
PYSTREAM_FAULTS_REPORT names a JSON file for the figures (benches/run_faults.py runs long ones).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

from pystream.coordinator.offsets import OFFSETS_TOPIC

from .conftest import ZK_PROCS, Cluster, wait_until
from .e2e_helpers import ProducerRun, check_exactly_once, read_partitions, replica_records
from .faults import GroupReader, Nemesis, committed_offsets, partition_unavailable

TOPIC = "jepsen"
PARTITIONS = 3
GROUP = "jepsen-readers"


def test_randomized_faults(cluster: Cluster, zk_server: str) -> None:
    seed = int(os.environ.get("PYSTREAM_FAULTS_SEED") or random.randrange(1 << 32))
    duration = float(os.environ.get("PYSTREAM_FAULTS_SECONDS", "45"))
    no_partitions = partition_unavailable()
    print(f"\nfault test seed={seed} duration={duration:g}s (replay: PYSTREAM_FAULTS_SEED={seed})"
          + (f"; network partitions skipped: {no_partitions}" if no_partitions else ""), file=sys.stderr)
    rng = random.Random(seed)
    cluster.start(3)
    cluster.create_topic(TOPIC, PARTITIONS, 3, {"min.insync.replicas": "2"})
    runs = [ProducerRun(cluster.bootstrap, TOPIC, PARTITIONS, limit=10**9, rate=60, only_partition=p,
                        **{"message.timeout.ms": 120000}).start() for p in range(PARTITIONS)]
    reader = GroupReader(cluster.bootstrap, TOPIC, GROUP)
    reader.start()
    nemesis = Nemesis(cluster, ZK_PROCS[zk_server], rng, TOPIC, PARTITIONS, with_partitions=no_partitions is None)
    try:
        for run in runs:
            run.wait_acked(50, timeout=60)
        nemesis.run(duration)
    finally:
        nemesis.heal_all()
    t_healed = time.monotonic()
    try:
        # --- convergence: every broker up, every replica back in the ISR within 30 s -----------
        cluster.wait_brokers(list(cluster.brokers), 30)
        cluster.wait_isr_full(TOPIC, max(1.0, 30 - (time.monotonic() - t_healed)),
                              what=f"seed {seed}: all replicas of {TOPIC} in the ISR within 30 s of healing")
        cluster.wait_isr_full(OFFSETS_TOPIC, max(1.0, 30 - (time.monotonic() - t_healed)),
                              what=f"seed {seed}: all replicas of {OFFSETS_TOPIC} in the ISR within 30 s")
        converged_s = time.monotonic() - t_healed
        for run in runs:
            run.wait_acked(30, timeout=60)  # the producers go on after the faults
        wait_until(lambda: sum(len(v) for v in reader.commits.values()) > 0, 30, what="the group commits")
    finally:
        unresolved = [run.stop(90) for run in runs]
        reader.stop_event.set()
        reader.join(30)
    assert unresolved == [0] * PARTITIONS, f"seed {seed}: records never resolved: {unresolved}"
    for run in runs:
        assert not run.fatal, (seed, run.fatal)

    # --- every acknowledged record exactly once, in order, at its offset -------------------------
    read = read_partitions(cluster.bootstrap, TOPIC, PARTITIONS, timeout=60)
    acked = 0
    for p, run in enumerate(runs):
        stats = check_exactly_once(run, {p: read[p]})
        acked += stats["acked"]
    # --- committed offsets never go backwards -------------------------------------------------
    final = committed_offsets(cluster.bootstrap, TOPIC, GROUP, PARTITIONS)
    for p, offsets in reader.commits.items():
        assert offsets == sorted(offsets), f"seed {seed}: partition {p}: commits went backwards {offsets}"
        assert final[p] >= offsets[-1], f"seed {seed}: partition {p}: committed {final[p]} < acked commit {offsets[-1]}"
    highs = {p: (read[p][-1][0] + 1 if read[p] else 0) for p in range(PARTITIONS)}
    # --- the replicas, byte for byte up to the high watermark ----------------------------------
    cluster.shutdown()
    for p in range(PARTITIONS):
        copies = {b.id: replica_records(b.data_dir, TOPIC, p, highs[p]) for b in cluster.brokers.values()}
        first = copies[1]
        for bid, (start, data, records) in copies.items():
            assert records and records[-1].offset + 1 == highs[p] or highs[p] == 0, \
                f"seed {seed}: broker {bid} lacks records of {TOPIC}-{p} below the high watermark {highs[p]}"
            assert (start, data) == first[:2], f"seed {seed}: broker {bid}'s replica of {TOPIC}-{p} differs"
    figures = {"seed": seed, "duration_s": duration, "faults": nemesis.summary(), "fault_log": nemesis.applied,
               "records_acknowledged": acked, "lost": 0, "duplicated": 0, "converged_s": round(converged_s, 2),
               "group_commits": sum(len(v) for v in reader.commits.values()), "group_read": reader.read,
               "network_partitions": "included" if no_partitions is None else f"skipped: {no_partitions}"}
    print(f"fault test figures: {json.dumps({k: v for k, v in figures.items() if k != 'fault_log'})}", file=sys.stderr)
    if report := os.environ.get("PYSTREAM_FAULTS_REPORT"):
        Path(report).write_text(json.dumps(figures, indent=1))
