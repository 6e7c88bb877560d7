"""ClusterStore against a real ZooKeeper: registration, election, conditional writes, watches."""

from __future__ import annotations

import asyncio
import threading

import pytest
from kazoo.client import KazooClient

from pystream.cluster import (
    BrokerIdTakenError,
    BrokerInfo,
    ControllerMovedError,
    PartitionState,
    call_soon_threadsafe,
    parse_connect,
)
from pystream.errors import TopicExistsError, UnknownTopicError

from .conftest import wait_until


def test_parse_connect() -> None:
    assert parse_connect("127.0.0.1:2181") == ("127.0.0.1:2181", "/pystream")
    assert parse_connect("a:1,b:2/x/y") == ("a:1,b:2", "/x/y")
    assert parse_connect("a:1/") == ("a:1", "/pystream")


def test_chroot_is_created(zk_server, zk_connect, make_store) -> None:
    make_store()
    admin = KazooClient(hosts=zk_server)
    admin.start(timeout=5)
    try:
        chroot = parse_connect(zk_connect)[1]
        assert set(admin.get_children(chroot)) >= {"brokers", "admin"}
    finally:
        admin.stop()
        admin.close()


def test_register_broker_and_ephemeral_disappears(make_store) -> None:
    s1, s2, observer = make_store(), make_store(), make_store()
    s1.register_broker(1, "h1", 9092)
    s2.register_broker(2, "h2", 9093, rack="r2")
    assert observer.live_brokers() == {1: BrokerInfo(1, "h1", 9092, None), 2: BrokerInfo(2, "h2", 9093, "r2")}
    s1.close()  # session ends: its ephemeral registration goes at once
    assert list(observer.live_brokers()) == [2]


def test_register_taken_id_fails_clearly(make_store) -> None:
    s1, s2 = make_store(), make_store()
    s1.register_broker(1, "h1", 9092)
    with pytest.raises(BrokerIdTakenError, match="broker id 1 is already registered"):
        s2.register_broker(1, "h2", 9092)
    s1.register_broker(1, "h1", 9094)  # same session: idempotent, updates the value
    assert s2.live_brokers()[1].port == 9094
    s1.close()
    s2.register_broker(1, "h2", 9092)  # free again
    assert s2.live_brokers()[1].host == "h2"


def test_watch_brokers(make_store) -> None:
    observer = make_store()
    seen: list[set[int]] = []
    handle = observer.watch_brokers(seen.append)
    wait_until(lambda: seen == [set()])
    s1 = make_store()
    s1.register_broker(1, "h", 1)
    wait_until(lambda: seen[-1] == {1})
    s1.close()
    wait_until(lambda: seen[-1] == set())
    handle.cancel()


def test_controller_election_and_failover(make_store) -> None:
    s1, s2 = make_store(), make_store()
    assert s1.controller_id() is None and s1.controller_epoch() == 0
    assert s1.try_become_controller(1) == 1
    assert s2.try_become_controller(2) is None
    assert s1.try_become_controller(1) == 1  # already controller: same epoch
    assert s2.controller_id() == 1
    changes: list[int | None] = []
    s2.watch_controller(changes.append)
    wait_until(lambda: changes == [1])
    s1.close()  # controller's session ends: /controller vanishes
    wait_until(lambda: changes[-1] is None)
    assert s2.try_become_controller(2) == 2
    assert s2.controller_id() == 2 and s2.controller_epoch() == 2


def test_concurrent_elections_have_one_winner(make_store) -> None:
    stores = [make_store() for _ in range(5)]
    results: dict[int, int | None] = {}
    barrier = threading.Barrier(len(stores))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = stores[i].try_become_controller(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    winners = [i for i, epoch in results.items() if epoch is not None]
    assert len(winners) == 1 and results[winners[0]] == 1
    assert stores[0].controller_id() == winners[0]


def test_fenced_write_by_deposed_controller_fails(make_store) -> None:
    s1, s2 = make_store(), make_store()
    s1.create_topic("t", {0: [1]})
    assert s1.try_become_controller(1) == 1
    assert s1.create_partition_state("t", 0, PartitionState(1, 0, [1], 1), fenced=True) == 0
    s1.resign_controller(1)  # as if s1 were partitioned away and s2 took over
    assert s2.try_become_controller(2) == 2
    s1._fence_version = 1  # s1 still believes it is controller at epoch 1  # noqa: SLF001
    with pytest.raises(ControllerMovedError):
        s1.update_partition_state("t", 0, PartitionState(-1, 1, [1], 1), 0, fenced=True)
    assert s2.partition_state("t", 0) == (PartitionState(1, 0, [1], 1), 0)  # untouched
    assert s2.update_partition_state("t", 0, PartitionState(1, 1, [1], 2), 0, fenced=True) == 1


def test_conditional_update_conflict(make_store) -> None:
    leader, controller = make_store(), make_store()
    leader.create_topic("t", {0: [1, 2]})
    assert leader.create_partition_state("t", 0, PartitionState(1, 0, [1, 2], 1)) == 0
    assert leader.create_partition_state("t", 0, PartitionState(2, 0, [2], 1)) is None  # exists
    state, version = leader.partition_state("t", 0)
    # both read version 0; the first writer wins, the second must re-read
    assert leader.update_partition_state("t", 0, PartitionState(1, 0, [1], 1), version) == 1
    assert controller.update_partition_state("t", 0, PartitionState(2, 1, [2], 1), version) is None
    assert controller.partition_state("t", 0) == (PartitionState(1, 0, [1], 1), 1)
    assert controller.partition_state("t", 1) is None


def test_topic_crud(make_store) -> None:
    s = make_store()
    info = s.create_topic("orders", {0: [1, 2], 1: [2, 1]}, {"retention.ms": "1000"})
    with pytest.raises(TopicExistsError):
        s.create_topic("orders", {0: [1]})
    with pytest.raises(ValueError):
        s.create_topic("bad", {1: [1]})
    s.create_topic("audit", {0: [1]})
    assert s.topics() == ["audit", "orders"]
    got = s.topic("orders")
    assert got is not None and got.topic_id == info.topic_id and len(info.topic_id) == 36
    assert got.partitions == {0: [1, 2], 1: [2, 1]}
    # Configs live in Kafka's /config/topics/<name>; a refused re-creation leaves them alone.
    assert s.topic_config("orders") == ({"retention.ms": "1000"}, 0)
    assert s.alter_topic_config("orders", {"retention.ms": None, "cleanup.policy": "delete"}) == {"cleanup.policy": "delete"}
    assert s.topic_config("orders") == ({"cleanup.policy": "delete"}, 1)
    with pytest.raises(UnknownTopicError):
        s.alter_topic_config("nope", {"retention.ms": "5"})
    assert s.set_assignment("orders", {0: [2, 1], 1: [2, 1]}, got.version) == got.version + 1
    assert s.set_assignment("orders", {0: [1], 1: [1]}, got.version) is None  # stale version
    assert s.topic("orders").partitions[0] == [2, 1]
    s.create_partition_state("orders", 0, PartitionState(2, 0, [2, 1], 1))
    s.delete_topic("orders")
    assert s.topics() == ["audit"] and s.topic("orders") is None
    assert s.topic_config("orders") == ({}, -1)
    with pytest.raises(UnknownTopicError):
        s.delete_topic("orders")
    with pytest.raises(UnknownTopicError):  # never recreates a deleted topic's parents
        s.create_partition_state("orders", 0, PartitionState(2, 0, [2], 1))


def test_reassignment_requests(make_store) -> None:
    s = make_store()
    assert s.pending_reassignments() == {}
    s.request_reassignment({("t", 0): [2, 3]})
    s.request_reassignment({("t", 1): [3, 1], ("t", 0): [3, 2]})  # replaces t-0's target
    assert s.pending_reassignments() == {("t", 0): [3, 2], ("t", 1): [3, 1]}
    s.complete_reassignment("t", 0)
    s.complete_reassignment("t", 0)  # idempotent
    assert s.pending_reassignments() == {("t", 1): [3, 1]}
    s.complete_reassignment("t", 1)
    assert not s.client.exists("/admin/reassign_partitions")


def test_session_expiry_reports_lost(zk_server, zk_connect, make_store) -> None:
    s = make_store()
    s.register_broker(1, "h", 1)
    states: list[str] = []
    s.on_session_lost(states.append)
    # classic ZooKeeper trick: a second client with the same session id and password
    # closes the session, which the first client then sees as expired
    session_id, password = s.client.client_id
    thief = KazooClient(hosts=zk_connect, client_id=(session_id, password))
    thief.start(timeout=5)
    thief.stop()
    thief.close()
    wait_until(lambda: "LOST" in states, timeout=15)
    observer = make_store()
    assert observer.live_brokers() == {}  # the ephemeral registration went with the session


def test_watch_callbacks_marshalled_to_loop(make_store) -> None:
    observer, broker = make_store(), make_store()

    async def main() -> list[tuple[set[int], bool]]:
        loop = asyncio.get_running_loop()
        got: list[tuple[set[int], bool]] = []
        done = asyncio.Event()
        loop_thread = threading.get_ident()

        def on_brokers(ids: set[int]) -> None:  # runs on the loop thread
            got.append((ids, threading.get_ident() == loop_thread))
            if ids == {7}:
                done.set()

        observer.watch_brokers(call_soon_threadsafe(loop, on_brokers))
        await loop.run_in_executor(None, broker.register_broker, 7, "h", 1)
        await asyncio.wait_for(done.wait(), 10)
        return got

    got = asyncio.run(main())
    assert got[-1] == ({7}, True) and all(on_loop for _, on_loop in got)
