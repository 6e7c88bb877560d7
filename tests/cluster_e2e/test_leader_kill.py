"""(a) SIGKILL the partition leader mid-stream, twice: no acknowledged record is lost or duplicated."""

from __future__ import annotations


from .conftest import Cluster, wait_until
from .e2e_helpers import ProducerRun, check_exactly_once, read_partitions

TOPIC = "orders"
PARTITIONS = 2


def test_leader_sigkill_mid_stream_loses_nothing(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic(TOPIC, PARTITIONS, 3, {"min.insync.replicas": "2"})
    run = ProducerRun(cluster.bootstrap, TOPIC, PARTITIONS, limit=6000, rate=300).start()
    killed: list[int] = []
    try:
        run.wait_acked(200)
        for round_no in range(2):
            victim = cluster.leader(TOPIC, 0)
            cluster.brokers[victim].kill()
            killed.append(victim)
            # A new leader among the survivors, and the stream goes on through it.
            wait_until(lambda: cluster.leader(TOPIC, 0) not in (-1, victim), 20,
                       what=f"round {round_no}: new leader for {TOPIC}-0 after killing {victim}")
            run.wait_acked(200, timeout=30)
            cluster.restart(victim)
            # The restarted broker catches up and rejoins the ISR before the next round.
            cluster.wait_isr_full(TOPIC, 30, what=f"round {round_no}: broker {victim} back in the ISR")
            run.wait_acked(100, timeout=30)
    finally:
        unresolved = run.stop()
    assert unresolved == 0, f"{unresolved} records never resolved"
    assert not run.fatal, run.fatal
    assert len(run.acked) >= 500, (len(run.acked), list(run.failed.values())[:5])

    read = read_partitions(cluster.bootstrap, TOPIC, PARTITIONS)
    stats = check_exactly_once(run, read)
    print(f"killed {killed}; {stats}")

    # Every broker (the killed ones included) is in the ISR of every partition it replicates.
    parts = cluster.wait_isr_full(TOPIC, 30)
    for victim in killed:
        for p, state in parts.items():
            assert victim in state["replicas"] and victim in state["isr"], (p, state)
