"""The pieces of the randomized fault test (test_faults.py): a nemesis, a firewall, a group reader.

`Nemesis` applies one random fault at a time to a real cluster for a bounded time, drawn from a
seeded `random.Random` (the schedule replays with the same seed): SIGKILL and restart of a
broker, SIGSTOP/SIGCONT of a broker, SIGSTOP of ZooKeeper for a few seconds, and, as root with
iptables and cgroup v2, a network partition of one broker. Targets are the current controller,
the leader of a random partition or any broker. Every fault is healed before the next one and
by `heal_all` (also in a finally).

`Firewall` partitions a broker on loopback: its process goes into a cgroup of its own, and two
rules drop every packet its sockets send (-m cgroup) and every packet sent to its listening
port; both rules and the cgroup are removed when healed.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import confluent_kafka

from .conftest import Cluster


def _cgroup2_root() -> Path | None:
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            _dev, mount, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return Path(mount)
    except OSError:
        pass
    return None


def partition_unavailable() -> str | None:
    """Why network partitions cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return "network partitions need root (iptables)"
    if shutil.which("iptables") is None:
        return "network partitions need iptables (apt-get install iptables; .ci/run installs it)"
    if _cgroup2_root() is None:
        return "network partitions need a cgroup v2 hierarchy (iptables -m cgroup --path)"
    return None


class Firewall:
    """Loopback partitions of single brokers (see the module docstring)."""

    def __init__(self) -> None:
        root = _cgroup2_root()
        assert root is not None
        self.root = root
        self.name = f"pystream-faults-{uuid.uuid4().hex[:8]}"
        self.rules: list[list[str]] = []
        self.cgroups: list[Path] = []

    def _iptables(self, action: str, rule: list[str]) -> None:
        subprocess.run(["iptables", action, *rule], check=True, capture_output=True)

    def isolate(self, pid: int, port: int, tag: str) -> None:
        cg = self.root / self.name / tag
        cg.mkdir(parents=True, exist_ok=True)
        self.cgroups.append(cg)
        (cg / "cgroup.procs").write_text(str(pid))
        for rule in (["OUTPUT", "-m", "cgroup", "--path", f"{self.name}/{tag}", "-j", "DROP"],
                     ["OUTPUT", "-o", "lo", "-p", "tcp", "--dport", str(port), "-j", "DROP"]):
            self._iptables("-I", rule)
            self.rules.append(rule)

    def heal(self) -> None:
        """Removes every rule and cgroup this firewall made (idempotent)."""
        while self.rules:
            rule = self.rules.pop()
            subprocess.run(["iptables", "-D", *rule], capture_output=True, check=False)  # gone: fine
        for cg in reversed(self.cgroups):
            try:
                for pid in (cg / "cgroup.procs").read_text().split():
                    (self.root / "cgroup.procs").write_text(pid)
            except OSError:
                pass
        for cg in reversed(self.cgroups):
            for d in (cg, cg.parent):
                try:
                    d.rmdir()
                except OSError:
                    pass
        self.cgroups.clear()


class Nemesis:
    """One fault at a time, for `duration` seconds (see the module docstring)."""

    KINDS = ("kill", "pause", "zk-pause", "partition")

    def __init__(self, cluster: Cluster, zk_proc: subprocess.Popen[bytes], rng: random.Random, topic: str,
                 partitions: int, with_partitions: bool) -> None:
        self.cluster = cluster
        self.zk_proc = zk_proc
        self.rng = rng
        self.topic = topic
        self.partitions = partitions
        self.kinds = [k for k in self.KINDS if with_partitions or k != "partition"]
        self.firewall = Firewall() if with_partitions else None
        self.applied: list[dict[str, Any]] = []
        self.zk_paused = False

    def _target(self) -> tuple[int, str]:
        """A broker: the controller, a partition's leader, or any (as the dice say)."""
        role = self.rng.choice(["controller", "leader", "any"])
        live = sorted(b.id for b in self.cluster.live())
        try:
            md = self.cluster.metadata([self.topic])
            if role == "controller" and md["controller"] in live:
                return md["controller"], role
            if role == "leader":
                leader = md["topics"][self.topic][self.rng.randrange(self.partitions)]["leader"]
                if leader in live:
                    return leader, role
        except (RuntimeError, KeyError, IndexError):
            pass  # no broker answered, or the topic's metadata is incomplete: any broker will do
        return self.rng.choice(live), "any"

    def run(self, duration: float) -> None:
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            kind = self.rng.choice(self.kinds)
            hold = self.rng.uniform(1.0, 5.0)
            pause_after = self.rng.uniform(2.0, 4.0)
            if kind == "zk-pause":
                hold = self.rng.uniform(1.0, 3.0)
                self.applied.append({"kind": kind, "seconds": round(hold, 2), "at": time.monotonic()})
                self.zk_proc.send_signal(signal.SIGSTOP)
                self.zk_paused = True
                time.sleep(hold)
                self.zk_proc.send_signal(signal.SIGCONT)
                self.zk_paused = False
            else:
                target, role = self._target()
                b = self.cluster.brokers[target]
                self.applied.append({"kind": kind, "broker": target, "role": role, "seconds": round(hold, 2),
                                     "at": time.monotonic()})
                if kind == "kill":
                    b.kill()
                    time.sleep(hold)
                    b.start()
                elif kind == "pause":
                    b.pause()
                    time.sleep(hold)
                    b.resume()
                else:
                    assert self.firewall is not None and b.proc is not None
                    self.firewall.isolate(b.proc.pid, b.port, f"b{target}")
                    time.sleep(hold)
                    self.firewall.heal()
            time.sleep(pause_after)

    def heal_all(self) -> None:
        """Everything back: ZooKeeper running, no rule, every broker running and resumed."""
        self.zk_proc.send_signal(signal.SIGCONT)
        self.zk_paused = False
        if self.firewall is not None:
            self.firewall.heal()
        for b in self.cluster.brokers.values():
            b.resume()
            if not b.alive():
                b.start()

    def summary(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for f in self.applied:
            out[f["kind"]] += 1
        return dict(out)


class GroupReader(threading.Thread):
    """One consumer-group member reading a topic, committing its position synchronously about
    twice a second; the acknowledged commits are recorded (partition -> [offset])."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.commits: dict[int, list[int]] = defaultdict(list)
        self.read = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        c = confluent_kafka.Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                                      "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                      "session.timeout.ms": 6000, "topic.metadata.refresh.interval.ms": 1000,
                                      "socket.timeout.ms": 5000})
        c.subscribe([self.topic])
        last_commit = time.monotonic()
        try:
            while not self.stop_event.is_set():
                msg = c.poll(0.2)
                if msg is not None and not msg.error():
                    self.read += 1
                if time.monotonic() - last_commit >= 0.5:
                    last_commit = time.monotonic()
                    positions = [tp for tp in c.position(c.assignment()) if tp.offset >= 0]
                    if not positions:
                        continue
                    try:
                        done = c.commit(offsets=positions, asynchronous=False)
                    except confluent_kafka.KafkaException:
                        continue  # coordinator moving: try again later
                    for tp in done or []:
                        if tp.error is None and tp.offset >= 0:
                            self.commits[tp.partition].append(tp.offset)
        finally:
            c.close()


def committed_offsets(bootstrap: str, topic: str, group: str, partitions: int) -> dict[int, int]:
    """The group's committed offsets now (OffsetFetch through a throwaway consumer)."""
    c = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "socket.timeout.ms": 5000})
    try:
        got = c.committed([confluent_kafka.TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        c.close()
    return {tp.partition: tp.offset for tp in got}
