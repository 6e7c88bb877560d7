"""Controller logic and replica assignment against a real ZooKeeper.

Brokers are simulated by ClusterStore sessions that register /brokers/ids/<id>;
killing a broker is closing its session (its ephemeral znode vanishes at once).
"""

from __future__ import annotations

from collections import Counter

import pytest

from pystream.cluster import (
    NO_LEADER,
    ClusterStore,
    Controller,
    ControllerMovedError,
    InvalidReplicationFactorError,
    PartitionState,
    assign_replicas,
)


class Cluster:
    """Broker sessions by id plus one controller (broker 0, not a replica of anything)."""

    def __init__(self, make_store, ids: list[int], unclean: bool = False) -> None:
        self.make_store = make_store
        self.brokers: dict[int, ClusterStore] = {}
        for b in ids:
            self.start(b)
        self.store = make_store()
        self.store.register_broker(0, "controller", 9000)
        self.controller = Controller(self.store, 0, unclean_leader_election=unclean)
        assert self.controller.elect()

    def start(self, b: int) -> None:
        self.brokers[b] = self.make_store()
        self.brokers[b].register_broker(b, f"h{b}", 9092 + b)

    def kill(self, b: int) -> None:
        self.brokers.pop(b).close()

    def state(self, topic: str, p: int = 0) -> PartitionState:
        got = self.store.partition_state(topic, p)
        assert got is not None
        return got[0]

    def set_isr(self, topic: str, p: int, isr: list[int]) -> None:
        """What a leader does when followers catch up: a conditional ISR write."""
        state, version = self.store.partition_state(topic, p)
        new = PartitionState(state.leader, state.leader_epoch, isr, state.controller_epoch)
        assert self.store.update_partition_state(topic, p, new, version) == version + 1


# -- assignment ---------------------------------------------------------------

def test_assignment_spreads_leaders_and_followers() -> None:
    brokers = [1, 2, 3, 4]
    a = assign_replicas(brokers, 8, 3, start_index=0, shift=0)
    assert a[0] == [1, 2, 3] and a[1] == [2, 3, 4] and a[4] == [1, 3, 4]  # shift grows on wrap
    assert all(len(set(r)) == 3 for r in a.values())
    assert Counter(r[0] for r in a.values()) == {1: 2, 2: 2, 3: 2, 4: 2}  # leaders even
    assert Counter(b for r in a.values() for b in r) == {1: 6, 2: 6, 3: 6, 4: 6}  # load even
    for _ in range(20):  # random start/shift: still valid and even
        r = assign_replicas([5, 3, 9], 6, 2)
        assert set(Counter(x[0] for x in r.values()).values()) == {2}
        assert all(len(set(x)) == 2 and set(x) <= {3, 5, 9} for x in r.values())
    assert assign_replicas([1], 3, 1) == {0: [1], 1: [1], 2: [1]}


def test_assignment_rejects_bad_replication_factor() -> None:
    with pytest.raises(InvalidReplicationFactorError):
        assign_replicas([1, 2], 1, 3)
    with pytest.raises(InvalidReplicationFactorError):
        assign_replicas([1, 2], 1, 0)


# -- controller ---------------------------------------------------------------

def test_new_topic_gets_partition_states(make_store) -> None:
    c = Cluster(make_store, [1, 2])
    c.store.create_topic("t", {0: [1, 2, 3], 1: [3, 2, 1], 2: [3, 4]})  # 3 and 4 are down
    assert sorted(c.controller.on_topics_changed()) == [("t", 0), ("t", 1), ("t", 2)]
    epoch = c.controller.epoch
    assert c.state("t", 0) == PartitionState(1, 0, [1, 2], epoch)
    assert c.state("t", 1) == PartitionState(2, 0, [2, 1], epoch)  # first LIVE replica leads
    assert c.state("t", 2) == PartitionState(NO_LEADER, 0, [3, 4], epoch)  # offline, no data yet
    assert c.controller.on_topics_changed() == []  # idempotent
    c.start(4)
    c.controller.on_brokers_changed()
    assert c.state("t", 2).leader == 4 and c.state("t", 2).leader_epoch == 1


def test_leader_failover_picks_from_isr_and_bumps_epoch(make_store) -> None:
    c = Cluster(make_store, [1, 2, 3])
    c.store.create_topic("t", {0: [1, 2, 3], 1: [2, 3, 1]})
    c.controller.on_topics_changed()
    c.set_isr("t", 0, [1, 3])  # broker 2 fell behind on t-0
    c.kill(1)
    assert sorted(c.controller.on_brokers_changed()) == [("t", 0), ("t", 1)]
    s0 = c.state("t", 0)
    assert (s0.leader, s0.leader_epoch, s0.isr) == (3, 1, [3])  # 2 is not in the ISR: skipped
    s1 = c.state("t", 1)
    assert (s1.leader, s1.leader_epoch, s1.isr) == (2, 0, [2, 3])  # follower left ISR, no bump
    assert c.controller.on_brokers_changed() == []  # nothing more to do
    c.start(1)  # a returning broker is not put back in the ISR by the controller
    assert c.controller.on_brokers_changed() == []
    assert c.state("t", 0).isr == [3]


def test_no_isr_member_alive_goes_offline_then_recovers(make_store) -> None:
    c = Cluster(make_store, [1, 2])
    c.store.create_topic("t", {0: [1, 2]})
    c.controller.on_topics_changed()
    c.set_isr("t", 0, [1])
    c.kill(1)
    c.controller.on_brokers_changed()
    s = c.state("t", 0)
    # broker 2 is alive but not in the ISR: no unclean election; the last ISR member stays
    assert (s.leader, s.leader_epoch, s.isr) == (NO_LEADER, 1, [1])
    c.start(1)  # the ISR member comes back: it leads again
    c.controller.on_brokers_changed()
    s = c.state("t", 0)
    assert (s.leader, s.leader_epoch, s.isr) == (1, 2, [1])


def test_unclean_election_picks_live_out_of_sync_replica(make_store) -> None:
    c = Cluster(make_store, [1, 2], unclean=True)
    c.store.create_topic("t", {0: [1, 2]})
    c.controller.on_topics_changed()
    c.set_isr("t", 0, [1])
    c.kill(1)
    c.controller.on_brokers_changed()
    s = c.state("t", 0)
    assert (s.leader, s.leader_epoch, s.isr) == (2, 1, [2])


def test_preferred_leader_election(make_store) -> None:
    c = Cluster(make_store, [1, 2, 3])
    c.store.create_topic("t", {0: [1, 2, 3], 1: [2, 3, 1]})
    c.controller.on_topics_changed()
    c.kill(1)
    c.controller.on_brokers_changed()
    assert c.state("t", 0).leader == 2
    c.start(1)
    assert c.controller.elect_preferred_leaders() == []  # 1 is not back in the ISR yet
    c.set_isr("t", 0, [2, 3, 1])  # the leader saw 1 catch up
    assert c.controller.elect_preferred_leaders() == [("t", 0)]
    s = c.state("t", 0)
    assert (s.leader, s.leader_epoch, s.isr) == (1, 2, [2, 3, 1])
    assert c.controller.elect_preferred_leaders() == []


def test_reassignment_two_phases(make_store) -> None:
    c = Cluster(make_store, [1, 2, 3])
    c.store.create_topic("t", {0: [1, 2], 1: [2, 3]})
    c.controller.on_topics_changed()
    c.store.request_reassignment({("t", 0): [2, 3]})
    # phase 1: old + new replicas, leader and ISR untouched, entry still pending
    assert c.controller.process_reassignments() == {("t", 0): "waiting"}
    assert c.store.topic("t").partitions == {0: [2, 3, 1], 1: [2, 3]}
    assert c.state("t", 0) == PartitionState(1, 0, [1, 2], c.controller.epoch)
    assert c.controller.process_reassignments() == {("t", 0): "waiting"}  # idempotent
    assert c.store.topic("t").partitions[0] == [2, 3, 1]
    c.set_isr("t", 0, [1, 2, 3])  # the new replica 3 caught up
    # phase 2: leader 1 is removed -> 2 leads (epoch bump), ISR without 1, target assignment
    assert c.controller.process_reassignments() == {("t", 0): "completed"}
    assert c.store.topic("t").partitions == {0: [2, 3], 1: [2, 3]}
    s = c.state("t", 0)
    assert (s.leader, s.leader_epoch, s.isr) == (2, 1, [2, 3])
    assert c.store.pending_reassignments() == {}


def test_reassignment_resumes_after_controller_change(make_store) -> None:
    c = Cluster(make_store, [1, 2, 3])
    c.store.create_topic("t", {0: [1, 2]})
    c.controller.on_topics_changed()
    c.store.request_reassignment({("t", 0): [3, 2]})
    c.controller.process_reassignments()  # phase 1 by the first controller
    c.store.close()  # controller dies
    store2 = make_store()
    c2 = Controller(store2, 9)
    assert c2.elect()  # elect() runs pending reassignments: still waiting for 3
    assert c2.epoch == 2
    assert store2.topic("t").partitions[0] == [3, 2, 1]
    c.store = store2
    c.set_isr("t", 0, [1, 2, 3])
    assert c2.process_reassignments() == {("t", 0): "completed"}
    s = store2.partition_state("t", 0)[0]
    assert (s.leader, s.isr, s.controller_epoch) == (3, [2, 3], 2)
    assert store2.topic("t").partitions[0] == [3, 2]


def test_deposed_controller_cannot_write(make_store) -> None:
    c = Cluster(make_store, [1, 2])
    c.store.create_topic("t", {0: [1, 2]})
    c.controller.on_topics_changed()
    # a second controller takes over while the first still believes it is active
    # (e.g. its session expired but it has not noticed yet)
    c.store.resign_controller(0)
    c.controller.epoch = 1
    c.store._fence_version = 1  # noqa: SLF001
    other = Controller(make_store(), 5)
    assert other.elect() and other.epoch == 2
    c.kill(1)
    with pytest.raises(ControllerMovedError):
        c.controller.on_brokers_changed()
    assert not c.controller.active
    assert c.state("t", 0).leader == 1  # untouched by the deposed controller
    other.on_brokers_changed()
    s = c.state("t", 0)
    assert (s.leader, s.leader_epoch, s.controller_epoch) == (2, 1, 2)


def test_elect_on_startup_repairs_state(make_store) -> None:
    """A controller elected after brokers died while there was none fixes leaders at once."""
    c = Cluster(make_store, [1, 2])
    c.store.create_topic("t", {0: [1, 2]})
    c.controller.on_topics_changed()
    c.store.close()  # no controller for a while
    c.kill(1)
    store2 = make_store()
    c2 = Controller(store2, 7)
    assert c2.elect()
    s = store2.partition_state("t", 0)[0]
    assert (s.leader, s.leader_epoch, s.isr) == (2, 1, [2])


def test_install_watches_drives_failover(make_store) -> None:
    """End to end with watches: two candidate controllers on one-thread executors;
    killing the active one lets the other take over and fail partitions over."""
    from concurrent.futures import ThreadPoolExecutor

    from .conftest import wait_until

    brokers = {b: make_store() for b in (1, 2)}
    for b, s in brokers.items():
        s.register_broker(b, "h", 9092 + b)
    pools = [ThreadPoolExecutor(1), ThreadPoolExecutor(1)]
    handles = []
    try:
        # brokers 1 and 2 each run a controller candidate on their own session
        controllers = [Controller(brokers[1], 1), Controller(brokers[2], 2)]
        for ctl, pool in zip(controllers, pools):
            handles += ctl.install_watches(pool.submit)
        wait_until(lambda: sum(c.active for c in controllers) == 1)
        observer = make_store()
        first = observer.controller_id()
        observer.create_topic("t", {0: [1, 2], 1: [2, 1]})
        wait_until(lambda: len(observer.partition_states("t")) == 2)
        assert observer.partition_state("t", 0)[0].leader == 1
        brokers[first].close()  # the controller broker dies
        survivor = 3 - first
        wait_until(lambda: observer.controller_id() == survivor)
        wait_until(lambda: all(observer.partition_state("t", p)[0].leader == survivor for p in (0, 1)))
        assert observer.controller_epoch() == 2
        assert all(observer.partition_state("t", p)[0].isr == [survivor] for p in (0, 1))
    finally:
        for h in handles:
            h.cancel()
        for pool in pools:
            pool.shutdown(wait=True, cancel_futures=True)


def test_controlled_shutdown_moves_leadership_and_leaves_isrs(make_store) -> None:
    c = Cluster(make_store, [1, 2, 3])
    c.store.create_topic("t", {0: [1, 2, 3], 1: [2, 1, 3], 2: [1, 2]})
    c.controller.on_topics_changed()
    c.set_isr("t", 2, [1])  # partition 2: broker 1 is the only replica in sync
    c.brokers[1].request_controlled_shutdown(1)
    remaining = c.controller.process_controlled_shutdowns()
    assert remaining == {1: [("t", 2)]}
    assert c.brokers[1].controlled_shutdown_status(1) == {"version": 1, "status": "done", "remaining": [["t", 2]]}
    s0, s1 = c.state("t", 0), c.state("t", 1)
    assert (s0.leader, s0.leader_epoch, s0.isr) == (2, 1, [2, 3])  # led by 1: moved (epoch bump)
    assert (s1.leader, s1.leader_epoch, s1.isr) == (2, 0, [2, 3])  # followed by 1: it left the ISR
    assert c.state("t", 2).leader == 1  # nobody else in sync: it stays
    assert c.controller.process_controlled_shutdowns() == {}  # answered: nothing more to do
    # While it shuts down, broker 1 is not chosen as a leader elsewhere.
    c.kill(2)
    c.controller.on_brokers_changed()
    assert c.state("t", 0).leader == 3 and c.state("t", 1).leader == 3
    c.kill(1)  # its request vanishes with its session
    assert c.store.shutting_down_brokers() == {}


def test_reassignment_never_leaves_a_removed_replica_in_the_isr(make_store) -> None:
    """Issue 10: the last phase writes the assignment and the ISR in one multi-op, even when the
    leader (which may have re-added the removed replica) stays."""
    c = Cluster(make_store, [1, 2, 3, 4])
    c.store.create_topic("t", {0: [1, 2, 3]})
    c.controller.on_topics_changed()
    c.store.request_reassignment({("t", 0): [1, 2, 4]})
    assert c.controller.process_reassignments() == {("t", 0): "waiting"}
    c.set_isr("t", 0, [1, 2, 3, 4])
    assert c.controller.process_reassignments() == {("t", 0): "completed"}
    assert c.store.topic("t").partitions[0] == [1, 2, 4]
    s = c.state("t", 0)
    assert (s.leader, s.leader_epoch, s.isr) == (1, 0, [1, 2, 4])


def test_partitions_added_to_a_topic_get_states(make_store) -> None:
    c = Cluster(make_store, [1, 2, 3])
    info = c.store.create_topic("t", {0: [1, 2]})
    c.controller.on_topics_changed()
    assert c.store.set_assignment("t", {0: [1, 2], 1: [2, 3], 2: [3, 1]}, info.version) is not None
    assert sorted(c.controller.on_topics_changed()) == [("t", 1), ("t", 2)]
    assert c.state("t", 1).leader == 2 and c.state("t", 2).isr == [3, 1]
