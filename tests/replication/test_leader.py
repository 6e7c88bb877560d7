"""LeaderState: HW, ISR shrink/expand (fake clock), acks=all waiters; the leader's epoch answers."""

from __future__ import annotations

import asyncio

import pytest

from pystream.replication.leader import (
    FENCED_LEADER_EPOCH,
    UNKNOWN_LEADER_EPOCH,
    LeaderState,
    check_leader_epoch,
    diverging_epoch,
    offset_for_leader_epoch,
)
from pystream.replication.leader_epoch import LeaderEpochCache


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def run(coro, timeout=5):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def make(clock, isr=(1, 2, 3)):
    return LeaderState(1, [1, 2, 3], isr, leader_epoch=4, replica_lag_time_max_ms=10_000, clock=clock)


def test_hw_is_min_leo_over_isr_and_monotonic():
    clock = Clock()
    st = make(clock)
    assert st.high_watermark(100) == 0  # followers' LEOs unknown
    st.on_follower_fetch(2, 80, 100)
    assert st.hw == 0
    assert st.on_follower_fetch(3, 60, 100)
    assert st.hw == 60
    st.on_follower_fetch(3, 100, 100)
    assert st.high_watermark(100) == 80
    st.on_follower_fetch(2, 50, 100)  # a follower going back (after truncation) never lowers the HW
    assert st.high_watermark(100) == 80


def test_constructor_invariants():
    with pytest.raises(ValueError):
        LeaderState(9, [1, 2], [1, 2], 0)
    with pytest.raises(ValueError):
        LeaderState(1, [1, 2], [1, 3], 0)
    st = LeaderState(1, [1, 2], [2], 0)
    assert st.isr == {1, 2}
    with pytest.raises(KeyError):
        st.on_follower_fetch(7, 0, 0)


def test_shrink_lagging_follower_after_lag_time():
    clock = Clock()
    st = make(clock)
    st.on_follower_fetch(2, 100, 100)
    st.on_follower_fetch(3, 100, 100)
    clock.t += 5
    st.on_follower_fetch(2, 100, 150)  # behind the LEO now: caught up as of its previous fetch (t=1000)
    st.on_follower_fetch(3, 90, 150)  # below its previous fetch's leader LEO: not caught up
    assert st.followers[2].last_caught_up_time == 1000
    clock.t += 3
    st.on_follower_fetch(2, 150, 160)  # >= the leader LEO at its previous fetch: caught up as of t=1005
    assert st.followers[2].last_caught_up_time == 1005
    assert st.isr_changes(leader_leo=160) is None
    clock.t += 3  # 11 s since replica 3 was last caught up, 6 s for replica 2
    assert st.isr_changes(leader_leo=160) == [1, 2]
    st.set_isr([1, 2], leader_leo=160)
    assert st.isr == {1, 2}
    assert st.hw == 150  # min(160, replica 2 at 150)
    assert st.min_isr_ok(2) and not st.min_isr_ok(3)


def test_fetching_follower_at_leader_leo_is_never_out_of_sync():
    clock = Clock()
    st = make(clock, isr=(1, 2))
    st.on_follower_fetch(2, 100, 100)
    clock.t += 60
    st.on_follower_fetch(2, 100, 100)  # an idle partition: long-polling fetches at the leader's LEO
    assert st.isr_changes(leader_leo=100) is None
    clock.t += 11
    assert st.isr_changes(leader_leo=101) == [1]


def test_follower_that_stopped_fetching_leaves_an_idle_partitions_isr():
    clock = Clock()
    st = make(clock, isr=(1, 2, 3))
    st.on_follower_fetch(2, 100, 100)
    st.on_follower_fetch(3, 100, 100)
    clock.t += 6
    st.on_follower_fetch(2, 100, 100)
    assert st.isr_changes(leader_leo=100) is None
    clock.t += 5  # replica 3 (killed) has not fetched for 11 s > replica.lag.time.max.ms
    st.on_follower_fetch(2, 100, 100)
    assert st.isr_changes(leader_leo=100) == [1, 2]


def test_replica_removed_from_isr_rejoins_only_after_a_new_fetch():
    """Issue 10: a dead broker the controller dropped from the ISR of an idle partition was put
    back by the leader because its last fetch (before it died) looked recent enough."""
    clock = Clock()
    st = make(clock)
    st.on_follower_fetch(2, 100, 100)
    st.on_follower_fetch(3, 100, 100)
    assert st.isr_changes(leader_leo=100) is None
    clock.t += 4
    st.on_follower_fetch(3, 100, 100)  # its last fetch, just before it died (or shut down)
    st.set_isr([1, 2], leader_leo=100)  # the controller removed broker 3 (session expired / shutdown)
    st.on_follower_fetch(2, 100, 100)
    assert st.isr_changes(leader_leo=100) is None  # 3's LEO is at the HW, but it does not fetch
    st.on_follower_fetch(3, 100, 100)  # restarted and fetching again: it may join ...
    assert st.isr_changes(leader_leo=100, live={1, 2}) is None  # ... once registered as live
    st.on_follower_fetch(3, 100, 100)
    assert st.isr_changes(leader_leo=100, live={1, 2, 3}) == [1, 2, 3]


def test_set_replicas_forgets_removed_replicas():
    async def main():
        clock = Clock()
        st = LeaderState(2, [1, 2, 3, 4], [1, 2, 3, 4], 0, 10_000, clock)
        for r in (1, 3, 4):
            st.on_follower_fetch(r, 10, 10)
        assert st.hw == 10
        st.set_replicas([2, 3, 4])
        assert st.isr == {2, 3, 4} and not st.is_replica(1)
        st.on_follower_fetch(3, 20, 20)
        st.on_follower_fetch(4, 20, 20)
        assert st.isr_changes(leader_leo=20) is None  # broker 1 is not a candidate
        assert await st.wait_for_hw(20, 0.1)  # acks=all does not wait on broker 1
        with pytest.raises(ValueError):
            st.set_replicas([3, 4])

    run(main())


def test_expand_with_follower_that_reached_hw_and_epoch_start():
    clock = Clock()
    st = LeaderState(1, [1, 2, 3], [1, 2], 4, 10_000, clock, leader_epoch_start_offset=50)
    st.on_follower_fetch(2, 100, 100)
    assert st.hw == 100
    st.on_follower_fetch(3, 40, 100)
    assert st.isr_changes(leader_leo=100) is None
    st.on_follower_fetch(3, 99, 100)
    assert st.isr_changes(leader_leo=100) is None
    st.on_follower_fetch(3, 100, 100)
    assert st.isr_changes(leader_leo=100) == [1, 2, 3]
    st.set_isr([1, 2, 3])
    assert st.isr_changes(leader_leo=100) is None
    assert st.min_isr_ok(3)


def test_shrink_and_expand_in_one_change():
    clock = Clock()
    st = make(clock, isr=(1, 2))  # replica 2 never fetches; replica 3 reaches the HW
    st.on_follower_fetch(3, 0, 0)
    assert st.isr_changes(leader_leo=5) == [1, 2, 3]
    clock.t += 11
    st.on_follower_fetch(3, 0, 0)  # 3 keeps fetching; 2 never does
    assert st.isr_changes(leader_leo=5) == [1, 3]


def test_a_replica_that_stopped_fetching_never_joins():
    """Kafka expands the ISR on a follower's fetch: a stopped replica whose old LEO still
    equals the high watermark (no new data) must not be added back."""
    clock = Clock()
    st = make(clock, isr=(1, 2))
    st.on_follower_fetch(3, 0, 0)
    clock.t += 11  # replica 3 stopped (SIGSTOP): no fetch for longer than replica.lag.time.max.ms
    st.on_follower_fetch(2, 0, 0)
    assert st.isr_changes(leader_leo=0) is None


def test_acks_all_waiters():
    async def main():
        clock = Clock()
        st = make(clock, isr=(1, 2))
        assert await st.wait_for_hw(0, 0.01)
        w10 = asyncio.ensure_future(st.wait_for_hw(10, 5))
        w20 = asyncio.ensure_future(st.wait_for_hw(20, 5))
        w30 = asyncio.ensure_future(st.wait_for_hw(30, 0.05))
        await asyncio.sleep(0)
        assert st.waiter_count == 3
        st.on_follower_fetch(2, 15, 40)
        assert await w10
        assert not w20.done()
        st.on_follower_fetch(2, 25, 40)
        assert await w20
        assert not await w30  # timeout
        assert st.waiter_count == 0
        w40 = asyncio.ensure_future(st.wait_for_hw(40, 5))
        await asyncio.sleep(0)
        st.close()  # leadership lost
        assert not await w40
        assert not await st.wait_for_hw(40, 5)

    run(main())


def test_single_replica_isr_hw_follows_leader_leo():
    async def main():
        st = LeaderState(1, [1, 2], [1], 0)
        w = asyncio.ensure_future(st.wait_for_hw(5, 5))
        await asyncio.sleep(0)
        assert st.high_watermark(5) == 5
        assert await w

    run(main())


def test_leader_epoch_answers(tmp_path):
    assert check_leader_epoch(5, 5) == 0
    assert check_leader_epoch(5, -1) == 0
    assert check_leader_epoch(5, 4) == FENCED_LEADER_EPOCH
    assert check_leader_epoch(5, 6) == UNKNOWN_LEADER_EPOCH
    cache = LeaderEpochCache(tmp_path)
    cache.assign(1, 0)
    cache.assign(3, 50)
    cache.assign(5, 80)
    assert offset_for_leader_epoch(cache, 100, 5, 5, 3) == (0, 3, 80)
    assert offset_for_leader_epoch(cache, 100, 5, 5, 5) == (0, 5, 100)
    assert offset_for_leader_epoch(cache, 100, 5, 4, 3) == (FENCED_LEADER_EPOCH, -1, -1)
    assert diverging_epoch(cache, 100, 3, 80) is None
    assert diverging_epoch(cache, 100, 3, 85) == (3, 80)
    assert diverging_epoch(cache, 100, 4, 85) == (3, 80)  # leader never had epoch 4
    assert diverging_epoch(cache, 100, 5, 100) is None
    assert diverging_epoch(cache, 100, -1, 100) is None


def test_hw_checkpoint_round_trip_and_damage(tmp_path):
    from pystream.replication.hw_checkpoint import FILE_NAME, read_hw_checkpoint, write_hw_checkpoint

    assert read_hw_checkpoint(tmp_path) == {}
    write_hw_checkpoint(tmp_path, {("orders", 1): 987, ("orders", 0): 1234, ("my topic", 2): 0})
    assert (tmp_path / FILE_NAME).read_text() == "0\n3\nmy topic 2 0\norders 0 1234\norders 1 987\n"  # Kafka's format
    assert read_hw_checkpoint(tmp_path) == {("orders", 1): 987, ("orders", 0): 1234, ("my topic", 2): 0}
    (tmp_path / FILE_NAME).write_text("0\n5\norders 0 1\n")  # fewer entries than the header says
    assert read_hw_checkpoint(tmp_path) == {}
    (tmp_path / FILE_NAME).write_bytes(b"\xff\x00garbage")
    assert read_hw_checkpoint(tmp_path) == {}
