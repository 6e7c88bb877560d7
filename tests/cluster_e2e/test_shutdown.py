"""Issue 10: controlled shutdown (SIGTERM moves leadership away first) and quiet logs (defect 4)."""

from __future__ import annotations

import itertools
import re
import signal
import time

from .conftest import Cluster, wait_until
from .e2e_helpers import ProducerRun, check_exactly_once, read_partitions

TOPIC = "cs"


def test_sigterm_moves_leadership_before_exit(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, 1, 3, {"min.insync.replicas": "2"})
    leader = cluster.leader(TOPIC, 0)
    b = cluster.brokers[leader]
    log_before = len(b.log_path.read_text())
    run = ProducerRun(cluster.bootstrap, TOPIC, 1, limit=100_000, rate=200).start()
    try:
        run.wait_acked(200)
        t_term = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        b.proc.wait(20)  # type: ignore[union-attr]
        exited = time.monotonic() - t_term
        run.wait_acked(200)
    finally:
        assert run.stop() == 0
    assert not run.failed and not run.fatal, (list(run.failed.values())[:5], run.fatal)
    state = cluster.zk_state(TOPIC, 0)
    assert state["leader"] != leader and leader not in state["isr"], state
    log = b.log_path.read_text()[log_before:]
    assert "controlled shutdown: leadership moved" in log, log[-3000:]
    # A clean shutdown is quiet: nothing above INFO (no "ZooKeeper session lost").
    assert not [line for line in log.splitlines() if re.search(r" (WARNING|ERROR) ", line)], log[-3000:]
    # The producer hardly notices: the longest pause between acknowledgements around the SIGTERM.
    times = run.ack_times
    gap = max(b2 - a for a, b2 in itertools.pairwise(times) if b2 >= t_term - 1)
    print(f"broker {leader} exited {exited:.2f} s after SIGTERM; longest ack gap {gap:.2f} s")
    assert gap < 3.0, f"acknowledgements paused for {gap:.2f} s"
    read = read_partitions(cluster.live_bootstrap(), TOPIC, 1)
    check_exactly_once(run, read)


def test_no_fetcher_noise_for_a_dead_broker(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, 2, 3, {"min.insync.replicas": "2"})
    victim = cluster.leader(TOPIC, 0)
    port = cluster.brokers[victim].port
    cluster.brokers[victim].kill()
    wait_until(lambda: all(p["leader"] not in (-1, victim) for p in cluster.partitions(TOPIC).values()), 20,
               what="new leaders for every partition")
    time.sleep(1)  # the survivors take the new states
    sizes = {i: len(b.log_path.read_text()) for i, b in cluster.brokers.items() if i != victim}
    time.sleep(6)
    for i, size in sizes.items():
        tail = cluster.brokers[i].log_path.read_text()[size:]
        noisy = [line for line in tail.splitlines() if f":{port}" in line]
        assert not noisy, f"broker {i} keeps logging about dead broker {victim}: {noisy[:3]}"
