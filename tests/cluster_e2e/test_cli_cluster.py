"""The CLI against a three-broker cluster: `topics describe --under-replicated-partitions /
--unavailable-partitions` after a broker dies, `reassign --wait` with its progress bar."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import Cluster, wait_until


def _cli(cluster: Cluster, *args: str, env: dict[str, str] | None = None,
         input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pystream.cli", *args, "-b", cluster.live_bootstrap()], input=input,
                          capture_output=True, text=True, timeout=90, check=False, env={**os.environ, **(env or {})})


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:] if line.strip()]


def test_describe_partition_filters_after_a_broker_dies(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic("everywhere", 2, 3)
    cluster.create_topic("single", 3, 1)
    single = cluster.partitions("single")
    on_3 = sorted(p for p, info in single.items() if info["replicas"] == [3])
    assert on_3, single  # three partitions of one replica: one on each broker
    for flag in ("--under-replicated-partitions", "--unavailable-partitions"):
        r = _cli(cluster, "topics", "describe", flag)
        assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr  # all is well: nothing listed

    cluster.brokers[3].kill()

    def listed(flag: str) -> list[list[str]] | None:
        r = _cli(cluster, "topics", "describe", flag)
        return _rows(r.stdout) if r.returncode == 0 else None

    # The partitions of broker 3 alone have no leader any more; the others lose 3 from their ISR.
    # (Until the controller has elected new leaders, the replicated partitions broker 3 led are
    # briefly unavailable too: wait for the elections, then only broker 3's own partitions stay listed.)
    expected = [("single", p, "-1", "3") for p in on_3]

    def unavailable() -> list[tuple[str, int, str, str]] | None:
        rows = listed("--unavailable-partitions")
        return rows and [(r[0], int(r[1]), r[2], r[3]) for r in rows]

    wait_until(lambda: unavailable() == expected, 30, what=f"unavailable partitions listed: exactly {expected}")
    urp = wait_until(lambda: (rows := listed("--under-replicated-partitions"))
                     and {("everywhere", "0"), ("everywhere", "1")} <= {(r[0], r[1]) for r in rows} and rows,
                     30, what="under-replicated")
    for r in urp:
        assert r[0] == "everywhere" and sorted(r[3].split(",")) == ["1", "2", "3"] and "3" not in r[4].split(",")
    # (a leaderless partition of one replica keeps that replica as its ISR: unavailable, not under-replicated, as in Kafka)


def test_reassign_wait_shows_progress(cluster: Cluster) -> None:
    cluster.start(3)
    cluster.create_topic("moving", 1, 1, {"min.insync.replicas": "1"})
    src = cluster.partitions("moving")[0]["replicas"][0]
    dst = next(b for b in (1, 2, 3) if b != src)
    r = _cli(cluster, "produce", "moving", input="".join(f"{i}\n" for i in range(2000)))
    assert r.returncode == 0, r.stderr
    r = _cli(cluster, "reassign", "--topic", "moving", "--partition", "0", "--replicas", str(dst), "--wait",
             "--timeout", "60", env={"FORCE_COLOR": "1", "COLUMNS": "150"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Reassigning" in r.stderr  # the bar, drawn on a terminal
    assert "No reassignment pending." in r.stdout
    wait_until(lambda: cluster.partitions("moving")[0]["replicas"] == [dst], 30, what="moved")
    plain = _cli(cluster, "reassign", "--wait")
    assert plain.returncode == 0 and "Reassigning" not in plain.stderr  # not a terminal: no bar
