"""`pystream consume -g GROUP` as a real member of a classic consumer group, in subprocesses:
partitions split between members, Stable while they run, rebalance when one leaves,
Ctrl-C commits what was printed, leaves the group and prints the total."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_helpers import cli, unique

from pystream.protocol.client import KafkaClient
from pystream.tools import groups as g
from pystream.tools.group_member import range_assign

TIMEOUT = 30.0


class ConsumerProc:
    """`pystream consume TOPIC -g GROUP` in a child process, stdout and stderr in files."""

    def __init__(self, tmp: Path, name: str, bootstrap: str, topic: str, group: str, *extra: str) -> None:
        self.out, self.err = tmp / f"{name}.out", tmp / f"{name}.err"
        cmd = [sys.executable, "-m", "pystream.cli", "consume", topic, "-g", group, "-b", bootstrap,
               "--from-beginning", "-f", "%p %o %v", "--consumer-property", "heartbeat.interval.ms=200", *extra]
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def lines(self) -> list[tuple[int, int, str]]:
        out = []
        for line in self.out.read_text().splitlines():
            p, o, v = line.split(" ", 2)
            out.append((int(p), int(o), v))
        return out

    def interrupt(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def procs() -> Iterator[list[ConsumerProc]]:
    running: list[ConsumerProc] = []
    yield running
    for p in running:
        p.kill()


def wait_for(what: str, cond: Callable[[], object], timeout: float = TIMEOUT) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _assignment(client: KafkaClient, group: str) -> dict[str, list[int]] | None:
    """member id -> its partitions once the group is Stable, else None."""
    d = g.describe(client, group) if any(x["group"] == group for x in g.list_groups(client)) else None
    if d is None or d["state"] != "Stable":
        return None
    return {m["member_id"]: [p for ps in m["assignment"].values() for p in ps] for m in d["members"]}


def test_two_members_split_partitions_rebalance_and_ctrl_c(tmp_path: Path, bootstrap: str, client: KafkaClient,
                                                            procs: list[ConsumerProc]) -> None:
    topic, group = unique("members"), unique("console-group")
    assert cli(bootstrap, "topics", "create", topic, "-p", "4").exit_code == 0
    a = ConsumerProc(tmp_path, "a", bootstrap, topic, group)
    procs.append(a)
    wait_for("a alone in the group", lambda: (s := _assignment(client, group)) and len(s) == 1)
    b = ConsumerProc(tmp_path, "b", bootstrap, topic, group)
    procs.append(b)
    split = wait_for("two members", lambda: (s := _assignment(client, group)) and len(s) == 2 and s)
    assert sorted(sorted(ps) for ps in split.values()) == [[0, 1], [2, 3]]  # the range assignor
    described = cli(bootstrap, "groups", "describe", group).stdout
    assert "State: Stable" in described and "Protocol: consumer/range" in described and "Members: 2" in described
    assert f"{topic}:0,1" in described and f"{topic}:2,3" in described

    for p in range(4):
        assert cli(bootstrap, "produce", topic, "-p", str(p), input="".join(f"v{p}.{i}\n" for i in range(5))).exit_code == 0
    wait_for("20 records printed", lambda: len(a.lines()) + len(b.lines()) == 20)
    parts_a, parts_b = {p for p, _, _ in a.lines()}, {p for p, _, _ in b.lines()}
    assert sorted([sorted(parts_a), sorted(parts_b)]) == [[0, 1], [2, 3]]  # each printed only its own partitions
    assert sorted(a.lines() + b.lines()) == [(p, i, f"v{p}.{i}") for p in range(4) for i in range(5)]

    # Ctrl-C: commit what was printed, leave (the other member takes everything at once), say how many.
    assert a.interrupt() == 0
    assert f"Processed a total of {len(a.lines())} messages" in a.err.read_text()
    alone = wait_for("b alone", lambda: (s := _assignment(client, group)) and len(s) == 1 and s)
    assert sorted(next(iter(alone.values()))) == [0, 1, 2, 3]
    assert client.offset_fetch(group) == {(topic, p): 5 for p in range(4)}

    for p in range(4):
        assert cli(bootstrap, "produce", topic, "-p", str(p), input=f"w{p}\n").exit_code == 0
    wait_for("b prints the new records", lambda: len(b.lines()) == len(parts_b) * 5 + 4)
    assert sorted(r for r in b.lines() if r[2].startswith("w")) == [(p, 5, f"w{p}") for p in range(4)]
    assert b.interrupt() == 0
    assert f"Processed a total of {len(b.lines())} messages" in b.err.read_text()
    assert client.offset_fetch(group) == {(topic, p): 6 for p in range(4)}
    d = g.describe(client, group)
    assert d["state"] == "Empty" and d["members"] == []  # both left (no wait for session.timeout.ms)


def test_member_resumes_from_group_commits_and_max_messages(bootstrap: str, client: KafkaClient) -> None:
    topic, group = unique("resume"), unique("resume-g")
    assert cli(bootstrap, "topics", "create", topic, "-p", "2").exit_code == 0
    assert cli(bootstrap, "produce", topic, "-p", "0", input="a\nb\nc\n").exit_code == 0
    r = cli(bootstrap, "consume", topic, "-g", group, "--from-beginning", "--max-messages", "2", "-f", "%p:%o")
    assert r.exit_code == 0 and r.stdout.splitlines() == ["0:0", "0:1"]
    assert "Processed a total of 2 messages" in r.stderr
    assert client.offset_fetch(group) == {(topic, 0): 2}
    # The member left: the group is empty, not waiting for a session to expire.
    assert g.describe(client, group)["state"] == "Empty"
    r = cli(bootstrap, "consume", topic, "-g", group, "--timeout-ms", "1000", "-f", "%p:%o")
    assert r.stdout.splitlines() == ["0:2"] and "Processed a total of 1 messages" in r.stderr


def test_bad_consumer_properties(bootstrap: str) -> None:
    r = cli(bootstrap, "consume", "t", "-g", "x", "--consumer-property", "fetch.min.bytes=1")
    assert r.exit_code == 1 and "unknown --consumer-property fetch.min.bytes" in r.stderr
    r = cli(bootstrap, "consume", "t", "-g", "x", "--consumer-property", "session.timeout.ms=1000",
            "--consumer-property", "heartbeat.interval.ms=2000")
    assert r.exit_code == 1 and "must be lower than session.timeout.ms" in r.stderr


def test_range_assign() -> None:
    assert range_assign({"b": ["t"], "a": ["t"], "c": ["t"]}, {"t": 7}) == {
        "a": {"t": [0, 1, 2]}, "b": {"t": [3, 4]}, "c": {"t": [5, 6]}}
    assert range_assign({"a": ["t", "u"], "b": ["t"]}, {"t": 1, "u": 2}) == {"a": {"t": [0], "u": [0, 1]}, "b": {}}
    assert range_assign({"a": ["missing"]}, {}) == {"a": {}}


def test_member_beside_a_kafka_python_member(tmp_path: Path, bootstrap: str, client: KafkaClient,
                                             procs: list[ConsumerProc]) -> None:
    """The standard encodings: a kafka-python consumer and `pystream consume` share a group."""
    kafka = pytest.importorskip("kafka")
    topic, group = unique("mixed"), unique("mixed-g")
    assert cli(bootstrap, "topics", "create", topic, "-p", "2").exit_code == 0
    ours = ConsumerProc(tmp_path, "ours", bootstrap, topic, group)
    procs.append(ours)
    wait_for("our member", lambda: _assignment(client, group))
    theirs = kafka.KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                 heartbeat_interval_ms=200, enable_auto_commit=False)
    try:
        deadline = time.monotonic() + TIMEOUT
        split = None
        while time.monotonic() < deadline:
            theirs.poll(timeout_ms=100)  # kafka-python joins and heartbeats from poll()
            split = _assignment(client, group)
            if split and len(split) == 2 and all(split.values()) and theirs.assignment():
                break
        assert split is not None and sorted(sorted(ps) for ps in split.values()) == [[0], [1]]
        mine = {tp.partition for tp in theirs.assignment()}
        assert cli(bootstrap, "produce", topic, "-p", "0", input="x\n").exit_code == 0
        assert cli(bootstrap, "produce", topic, "-p", "1", input="y\n").exit_code == 0
        got: list[int] = []
        while time.monotonic() < deadline and (not got or not ours.lines()):
            got += [r.partition for rs in theirs.poll(timeout_ms=100).values() for r in rs]
        assert set(got) == mine and {p for p, _, _ in ours.lines()} == {0, 1} - mine
    finally:
        theirs.close()
    assert ours.interrupt() == 0


def test_leader_rebalances_when_partitions_are_added(tmp_path: Path, bootstrap: str, client: KafkaClient,
                                                     procs: list[ConsumerProc]) -> None:
    topic, group = unique("grow"), unique("grow-g")
    assert cli(bootstrap, "topics", "create", topic, "-p", "1").exit_code == 0
    member = ConsumerProc(tmp_path, "m", bootstrap, topic, group, "--consumer-property", "metadata.max.age.ms=300")
    procs.append(member)
    wait_for("the member", lambda: (s := _assignment(client, group)) and list(s.values()) == [[0]])
    assert cli(bootstrap, "topics", "alter", topic, "--partitions", "3").exit_code == 0
    wait_for("partitions 1 and 2 assigned", lambda: (s := _assignment(client, group)) and list(s.values()) == [[0, 1, 2]])
    assert cli(bootstrap, "produce", topic, "-p", "2", input="new\n").exit_code == 0
    wait_for("the record of partition 2", lambda: member.lines() == [(2, 0, "new")])
    assert member.interrupt() == 0
