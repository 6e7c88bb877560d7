"""The consumer group protocol of KIP-848 (``group.protocol=consumer``) with librdkafka's consumer
(confluent-kafka) against a real broker: server-side assignment, incremental rebalances, leaving,
fencing by session timeout, new partitions, static members, restarts, and the two kinds of groups
side by side."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from typing import Callable, Iterator

import confluent_kafka
import pytest
from compat_helpers import create_topic, unique_topic
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewPartitions

# Heartbeats every 300 ms keep the tests quick; sessions of 4 s make fencing observable.
OVERRIDES = {"group.consumer.heartbeat.interval.ms": "300", "group.consumer.session.timeout.ms": "4000"}

pytestmark = pytest.mark.skipif(
    tuple(int(x) for x in confluent_kafka.libversion()[0].split(".")[:2]) < (2, 10),
    reason="librdkafka >= 2.10 has the consumer group protocol (group.protocol=consumer)")


@pytest.fixture
def kbroker(broker_factory):
    return broker_factory(**OVERRIDES)


def new_consumer(bootstrap: str, group: str, **conf) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False, **conf})


def produce(bootstrap: str, topic: str, n: int, partitions: int, start: int = 0) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + n):
        p.produce(topic, value=b"%d" % i, partition=i % partitions)
    assert p.flush(20) == 0


def assigned(c: Consumer) -> set[int]:
    return {tp.partition for tp in c.assignment()}


def wait_for(consumers: list[Consumer], done: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    """Polls every consumer (their callbacks run in poll) until done() or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in consumers:
            m = c.poll(0.05)
            assert m is None, f"unexpected record while waiting for {what}: {m.value() if m.error() is None else m.error()}"
        if done():
            return
    raise AssertionError(f"not within {timeout}s: {what}; assignments {[sorted(assigned(c)) for c in consumers]}")


class Reader:
    """Consumes with several consumers, committing after every record (synchronously).

    The group's guarantee is checked on every delivery: a record below its partition's committed
    offset is never delivered again (so duplicates are only of records whose commit had not
    succeeded yet). A commit may fail with STALE_MEMBER_EPOCH when it races a heartbeat that
    moved the member to a new epoch, as with Kafka: the record then counts as uncommitted."""

    def __init__(self, consumers: list[Consumer], groups: list[str] | None = None) -> None:
        self.consumers: list[Consumer | None] = list(consumers)
        self.groups = groups or [""] * len(consumers)  # which group each consumer is in (one by default)
        self.seen: list[tuple[int, int, bytes]] = []  # (consumer index, partition, value)
        self.committed: dict[tuple[str, int], int] = {}  # (group, partition) -> committed offset
        self.failed_commits: list[KafkaError] = []

    def run(self, until: Callable[[], bool], timeout: float = 40.0, what: str = "") -> None:
        """Polls every consumer (recording and committing what arrives) until until() holds."""
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout}s: {what}; read {len(self.seen)}, assignments "
                                     f"{[sorted(assigned(c)) if c else None for c in self.consumers]}")
            for i, c in enumerate(self.consumers):
                if c is None:
                    continue
                m = c.poll(0.05)
                if m is None:
                    continue
                if m.error() is not None:
                    raise KafkaException(m.error())
                p, o = m.partition(), m.offset()
                gp = (self.groups[i], p)
                assert o >= self.committed.get(gp, 0), f"partition {p} offset {o} delivered again below " \
                                                        f"its committed offset {self.committed[gp]}"
                self.seen.append((i, p, m.value()))
                try:
                    c.commit(message=m, asynchronous=False)
                except KafkaException as e:
                    self.failed_commits.append(e.args[0])
                    continue
                self.committed[gp] = max(self.committed.get(gp, 0), o + 1)

    def read(self, n: int, timeout: float = 40.0) -> None:
        target = len(self.seen) + n
        self.run(lambda: len(self.seen) >= target, timeout, f"{n} records")

    def values(self) -> Counter:
        return Counter(v for _, _, v in self.seen)


@contextmanager
def members(bootstrap: str, topic: str, shares: list[int], **conf) -> Iterator[tuple[str, list[Consumer], Reader]]:
    """A new group of len(shares) consumers subscribed to topic, once they hold these numbers of
    partitions; yields (group id, consumers, their Reader) and closes the consumers still open."""
    group = unique_topic("g")
    cs = [new_consumer(bootstrap, group, **conf) for _ in shares]
    r = Reader(cs)
    try:
        for c in cs:
            c.subscribe([topic])
        r.run(lambda: [len(assigned(c)) for c in cs] == shares, what=f"shares {shares}")
        yield group, cs, r
    finally:
        for c in r.consumers:
            if c is not None:
                c.close()


def test_single_consumer_gets_every_partition_and_admin_sees_a_consumer_group(kbroker):
    from confluent_kafka import ConsumerGroupState, ConsumerGroupType

    topic = unique_topic("k848-one")
    create_topic(kbroker.bootstrap, topic, 4)
    produce(kbroker.bootstrap, topic, 40, 4)
    group = unique_topic("g")
    c = new_consumer(kbroker.bootstrap, group)
    try:
        c.subscribe([topic])
        r = Reader([c])
        r.read(40)
        assert assigned(c) == {0, 1, 2, 3}
        assert sorted(r.values()) == sorted(b"%d" % i for i in range(40)) and max(r.values().values()) == 1
        admin = AdminClient({"bootstrap.servers": kbroker.bootstrap})
        listing = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
        mine = [g for g in listing.valid if g.group_id == group]
        assert len(mine) == 1 and mine[0].type == ConsumerGroupType.CONSUMER, mine
        assert mine[0].state == ConsumerGroupState.STABLE and not mine[0].is_simple_consumer_group
        desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
        assert desc.type == ConsumerGroupType.CONSUMER and desc.state == ConsumerGroupState.STABLE, desc
        assert len(desc.members) == 1
        parts = {(tp.topic, tp.partition) for tp in desc.members[0].assignment.topic_partitions}
        assert parts == {(topic, p) for p in range(4)}
    finally:
        c.close()
    # The committed offsets are the group's, as for any group.
    admin = AdminClient({"bootstrap.servers": kbroker.bootstrap})
    from confluent_kafka import ConsumerGroupTopicPartitions

    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)[group].result(timeout=15)
    assert {(tp.partition, tp.offset) for tp in res.topic_partitions} == {(p, 10) for p in range(4)}
    # Empty now: DeleteGroups removes it, offsets included.
    admin.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    listing = admin.list_consumer_groups(request_timeout=10).result(timeout=15)
    assert group not in {g.group_id for g in listing.valid}
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=10)[group].result(timeout=15)
    assert all(tp.offset < 0 for tp in res.topic_partitions)


def test_three_consumers_split_six_partitions_and_read_each_record_once(kbroker):
    topic = unique_topic("k848-three")
    create_topic(kbroker.bootstrap, topic, 6)
    with members(kbroker.bootstrap, topic, [2, 2, 2]) as (group, cs, r):
        assert set().union(*(assigned(c) for c in cs)) == set(range(6))
        produce(kbroker.bootstrap, topic, 600, 6)
        r.read(600)
        wait_for(cs, lambda: True)
        assert set(r.values()) == {b"%d" % i for i in range(600)} and max(r.values().values()) == 1
        by_consumer = {i: {p for j, p, _ in r.seen if j == i} for i in range(3)}
        assert [by_consumer[i] for i in range(3)] == [assigned(c) for c in cs]


def test_leaving_consumer_hands_its_partitions_over_without_duplicates(kbroker):
    """Records read and committed by the one that leaves are not read again; the others take
    its partitions (incrementally: their own partitions never stop)."""
    topic = unique_topic("k848-leave")
    create_topic(kbroker.bootstrap, topic, 6)
    with members(kbroker.bootstrap, topic, [2, 2, 2]) as (group, cs, r):
        before = [assigned(c) for c in cs]
        produce(kbroker.bootstrap, topic, 300, 6)
        r.read(150)
        cs[0].close()
        r.consumers[0] = None
        r.run(lambda: [len(assigned(c)) for c in cs[1:]] == [3, 3], what="3 partitions each")
        # The survivors kept what they had and took the leaver's partitions.
        assert before[1] <= assigned(cs[1]) and before[2] <= assigned(cs[2])
        produce(kbroker.bootstrap, topic, 300, 6, start=300)
        r.run(lambda: len(r.values()) == 600, what="every record")
        # (records whose commit failed may come twice; the Reader checked nothing committed did)
        assert sum(r.values().values()) - 600 <= len(r.failed_commits)


KILLED_CONSUMER = r"""
import sys, time
from confluent_kafka import Consumer
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "group.protocol": "consumer",
              "auto.offset.reset": "earliest", "enable.auto.commit": False})
c.subscribe([sys.argv[3]])
while True:
    c.poll(0.1)
    if c.assignment():
        print("ASSIGNED", sorted(tp.partition for tp in c.assignment()), flush=True)
"""


def test_killed_consumer_is_fenced_after_its_session_and_its_partitions_move(kbroker, tmp_path):
    topic = unique_topic("k848-kill")
    create_topic(kbroker.bootstrap, topic, 4)
    group = unique_topic("g")
    script = tmp_path / "victim.py"
    script.write_text(KILLED_CONSUMER)
    victim = subprocess.Popen([sys.executable, str(script), kbroker.bootstrap, group, topic],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    c = new_consumer(kbroker.bootstrap, group)
    try:
        line = victim.stdout.readline()
        assert line.startswith("ASSIGNED"), line
        c.subscribe([topic])
        wait_for([c], lambda: len(assigned(c)) == 2, what="half the partitions")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        killed_at = time.monotonic()
        wait_for([c], lambda: assigned(c) == {0, 1, 2, 3}, timeout=30, what="all partitions after the kill")
        # Not before the session timeout (4 s): a silent member keeps its partitions until then.
        assert time.monotonic() - killed_at >= 3.0
        produce(kbroker.bootstrap, topic, 40, 4)
        r = Reader([c])
        r.read(40)
        assert len(r.values()) == 40
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.wait(10)
        c.close()


def test_new_partitions_reach_the_members(kbroker):
    topic = unique_topic("k848-grow")
    create_topic(kbroker.bootstrap, topic, 2)
    with members(kbroker.bootstrap, topic, [1, 1]) as (group, cs, r):
        admin = AdminClient({"bootstrap.servers": kbroker.bootstrap})
        admin.create_partitions([NewPartitions(topic, 6)], request_timeout=10)[topic].result(timeout=15)
        r.run(lambda: [len(assigned(c)) for c in cs] == [3, 3], what="three partitions each after growing to 6")
        assert assigned(cs[0]) | assigned(cs[1]) == set(range(6))
        produce(kbroker.bootstrap, topic, 60, 6)
        r.run(lambda: len(r.values()) == 60, what="the records of all six partitions")
        assert sum(r.values().values()) - 60 <= len(r.failed_commits)


def test_regex_subscription(kbroker):
    prefix = unique_topic("k848re")
    a, b = f"{prefix}-a", f"{prefix}-b"
    create_topic(kbroker.bootstrap, a, 2)
    c = new_consumer(kbroker.bootstrap, unique_topic("g"))
    try:
        c.subscribe([f"^{prefix}-.*"])
        r = Reader([c])
        r.run(lambda: {(tp.topic, tp.partition) for tp in c.assignment()} == {(a, 0), (a, 1)}, what="the matching topic")
        create_topic(kbroker.bootstrap, b, 1)  # a new matching topic joins the subscription
        r.run(lambda: {(tp.topic, tp.partition) for tp in c.assignment()} == {(a, 0), (a, 1), (b, 0)},
              timeout=40, what="the new matching topic")
    finally:
        c.close()


def _describe(bootstrap: str, group: str) -> dict:
    """ConsumerGroupDescribe, raw: {member_id: (instance id, member epoch, assigned partitions)} and the epochs."""
    from compat_helpers import RawClient

    host, port = bootstrap.rsplit(":", 1)
    with RawClient(host, int(port)) as raw:
        g = raw.request(69, 0, {"group_ids": [group], "include_authorized_operations": False})["groups"][0]
    assert g["error_code"] == 0, g
    return {"epoch": g["group_epoch"], "state": g["group_state"], "members": {
        m["member_id"]: (m["instance_id"], m["member_epoch"],
                         {p for tp in m["assignment"]["topic_partitions"] for p in tp["partitions"]})
        for m in g["members"]}}


def test_members_carry_on_across_a_broker_crash(kbroker):
    """The group's records are in __consumer_offsets: after kill -9 and a restart the members keep
    their ids, epochs and partitions (no rebalance), and nothing committed is read twice."""
    topic = unique_topic("k848-crash")
    create_topic(kbroker.bootstrap, topic, 4)
    with members(kbroker.bootstrap, topic, [2, 2]) as (group, cs, r):
        produce(kbroker.bootstrap, topic, 100, 4)
        r.read(100)
        before = _describe(kbroker.bootstrap, group)
        mine = [assigned(c) for c in cs]
        kbroker.kill9()
        kbroker.start()
        assert _describe(kbroker.bootstrap, group) == before
        produce(kbroker.bootstrap, topic, 100, 4, start=100)
        r.run(lambda: len(r.values()) == 200, what="the records produced after the restart")
        assert sum(r.values().values()) - 200 <= len(r.failed_commits)
        assert [assigned(c) for c in cs] == mine
        after = _describe(kbroker.bootstrap, group)
        assert after["epoch"] == before["epoch"] and set(after["members"]) == set(before["members"])


def test_static_member_leaves_and_its_successor_takes_its_partitions(kbroker):
    """group.instance.id: a static member that closes leaves with epoch -2; its partitions wait for
    it (the other member does not get them) and a new instance with the same id takes them back."""
    topic = unique_topic("k848-static")
    create_topic(kbroker.bootstrap, topic, 4)
    group = unique_topic("g")
    c1 = new_consumer(kbroker.bootstrap, group, **{"group.instance.id": "one"})
    c2 = new_consumer(kbroker.bootstrap, group, **{"group.instance.id": "two"})
    c1b = None
    try:
        for c in (c1, c2):
            c.subscribe([topic])
        r = Reader([c1, c2])
        r.run(lambda: [len(assigned(c)) for c in (c1, c2)] == [2, 2], what="two partitions each")
        first, second = assigned(c1), assigned(c2)
        c1.close()
        r.consumers[0] = None
        d = _describe(kbroker.bootstrap, group)
        assert sorted((iid, epoch) for iid, epoch, _ in d["members"].values())[0] == ("one", -2), d
        t_end = time.monotonic() + 1.5
        r.run(lambda: time.monotonic() > t_end)
        assert assigned(c2) == second  # the absent static member's partitions were not moved
        c1b = new_consumer(kbroker.bootstrap, group, **{"group.instance.id": "one"})
        c1b.subscribe([topic])
        r.consumers.append(c1b)
        r.groups.append("")
        r.run(lambda: assigned(c1b) == first, what="the same partitions for the new instance")
        assert assigned(c2) == second
        # A second live instance with the same id is refused (UNRELEASED_INSTANCE_ID).
        dup = new_consumer(kbroker.bootstrap, group, **{"group.instance.id": "one"})
        try:
            dup.subscribe([topic])
            errors = []
            deadline = time.monotonic() + 10
            while not errors and time.monotonic() < deadline:
                m = dup.poll(0.2)
                if m is not None and m.error() is not None:
                    errors.append(m.error())
            # librdkafka makes UNRELEASED_INSTANCE_ID fatal for that consumer, as the Java client does.
            assert errors and errors[0].code() == KafkaError._FATAL, errors
            assert "instance ID is still used by another member" in errors[0].str(), errors
            assert not dup.assignment()
        finally:
            dup.close()
    finally:
        c2.close()
        if c1b is not None:
            c1b.close()


def test_classic_and_consumer_groups_side_by_side(kbroker):
    topic = unique_topic("k848-mixed")
    create_topic(kbroker.bootstrap, topic, 3)
    produce(kbroker.bootstrap, topic, 30, 3)
    g_new, g_old = unique_topic("g-new"), unique_topic("g-old")
    new = new_consumer(kbroker.bootstrap, g_new)
    old = Consumer({"bootstrap.servers": kbroker.bootstrap, "group.id": g_old, "auto.offset.reset": "earliest",
                    "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    try:
        new.subscribe([topic])
        old.subscribe([topic])
        r = Reader([new, old], [g_new, g_old])
        r.run(lambda: len(r.values()) == 30 and min(r.values().values()) == 2, what="both groups reading everything")
        assert Counter(i for i, _, _ in r.seen) == {0: 30, 1: 30}

        # ListGroups tells them apart; the classic API does not describe a consumer group (as Kafka).
        from kafka import KafkaAdminClient

        kadmin = KafkaAdminClient(bootstrap_servers=kbroker.bootstrap, request_timeout_ms=15000)
        try:
            types = {g["group_id"]: (g["protocol_type"], g.get("group_type")) for g in kadmin.list_groups()}
            assert types[g_new] == ("consumer", "consumer") and types[g_old] == ("consumer", "classic"), types
            assert [g["group_id"] for g in kadmin.list_groups(types_filter=["consumer"])] == [g_new]
        finally:
            kadmin.close()

        # A classic consumer cannot join the live consumer group, nor the other way round.
        intruder = Consumer({"bootstrap.servers": kbroker.bootstrap, "group.id": g_new, "session.timeout.ms": 6000})
        try:
            intruder.subscribe([topic])
            errs = _first_error(intruder)
            assert errs.code() == KafkaError.INCONSISTENT_GROUP_PROTOCOL, errs
        finally:
            intruder.close()
        assert _describe(kbroker.bootstrap, g_new)["state"] == "Stable"
        # librdkafka takes GROUP_ID_NOT_FOUND ("not a consumer group") as fatal, as the Java client does.
        intruder = new_consumer(kbroker.bootstrap, g_old)
        try:
            intruder.subscribe([topic])
            errs = _first_error(intruder)
            assert errs.code() == KafkaError._FATAL and "group id does not exist" in errs.str(), errs
            assert not intruder.assignment()
        finally:
            intruder.close()
        r.run(lambda: len(assigned(old)) == 3, what="the classic member keeping its partitions")
    finally:
        new.close()
        old.close()
    # Once empty, the consumer group's id can go classic: the classic consumer resumes from its offsets.
    again = Consumer({"bootstrap.servers": kbroker.bootstrap, "group.id": g_new, "auto.offset.reset": "earliest",
                      "enable.auto.commit": False, "session.timeout.ms": 6000})
    try:
        again.subscribe([topic])
        produce(kbroker.bootstrap, topic, 3, 3, start=30)
        r2 = Reader([again])
        r2.read(3)
        assert sorted(r2.values()) == [b"30", b"31", b"32"]
    finally:
        again.close()


def _first_error(c: Consumer, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = c.poll(0.2)
        if m is not None and m.error() is not None:
            return m.error()
    raise AssertionError(f"no error within {timeout}s")


def test_subscription_change_rebalances_incrementally(kbroker):
    """A member subscribing to one more topic gets its partitions; uniform then balances the group
    (two each: the member that only reads the first topic takes it whole), and the other member
    never stops reading the partition it had."""
    a, b = unique_topic("k848-sub-a"), unique_topic("k848-sub-b")
    create_topic(kbroker.bootstrap, a, 2)
    create_topic(kbroker.bootstrap, b, 2)
    with members(kbroker.bootstrap, a, [1, 1]) as (group, cs, r):
        keep = assigned(cs[1])
        kept_throughout = []

        def settled() -> bool:
            kept_throughout.append(keep <= assigned(cs[1]))
            return ({(tp.topic, tp.partition) for tp in cs[0].assignment()} == {(b, 0), (b, 1)}
                    and {(tp.topic, tp.partition) for tp in cs[1].assignment()} == {(a, 0), (a, 1)})

        cs[0].subscribe([a, b])
        r.run(settled, what="the new topic to the member subscribing to it, the old one to the other")
        assert all(kept_throughout)
        produce(kbroker.bootstrap, b, 10, 2)
        r.run(lambda: len(r.values()) == 10, what="the new topic's records")
        assert {i for i, _, _ in r.seen} == {0}
