"""Leader-side replica tracking for one partition: Kafka's Partition ISR and high-watermark logic.

`LeaderState` is pure bookkeeping (no I/O): the broker feeds it follower
fetches and its own log end offset (LEO), and asks it for the high watermark
(HW), ISR changes to publish, and acks=all waits.

Invariants:

- the leader is always in `isr` and in `replicas`; `isr` is a subset of `replicas`;
- the HW never goes back while this object lives (Kafka's leader HW is
  monotonic) and never exceeds the leader LEO it was computed from;
- `wait_for_hw` futures are resolved exactly once: True when the HW reaches
  their offset, False on timeout or when leadership ends (`close`).

The module also has the leader's answers to follower requests that depend on
leader epochs (`check_leader_epoch`, `offset_for_leader_epoch`,
`diverging_epoch`) so the broker's API handlers stay thin.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from pystream.replication.leader_epoch import UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, LeaderEpochCache

UNKNOWN_OFFSET = -1

# Kafka error codes used by the replication answers.
NONE = 0
NOT_LEADER_OR_FOLLOWER = 6
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75


@dataclass
class FollowerState:
    """What the leader knows about one follower (Kafka's Replica state)."""

    log_end_offset: int = UNKNOWN_OFFSET
    last_caught_up_time: float = 0.0
    last_fetch_time: float = 0.0
    last_fetch_leader_leo: int = UNKNOWN_OFFSET


class LeaderState:
    """Replica tracking of one partition led by `broker_id` in `leader_epoch`.

    Times are in seconds from `clock` (time.monotonic by default);
    `replica_lag_time_max_ms` is Kafka's replica.lag.time.max.ms.
    `leader_epoch_start_offset` is the leader's LEO when it became leader: a
    follower joins the ISR only once it has reached it (and the HW), as in
    Kafka's isFollowerInSync.
    """

    def __init__(self, broker_id: int, replicas: Iterable[int], isr: Iterable[int], leader_epoch: int,
                 replica_lag_time_max_ms: int = 30000, clock: Callable[[], float] = time.monotonic, *,
                 high_watermark: int = 0, leader_epoch_start_offset: int = 0) -> None:
        self.broker_id = broker_id
        self.replicas: list[int] = list(replicas)
        self.isr: set[int] = set(isr) | {broker_id}
        if broker_id not in self.replicas:
            raise ValueError(f"leader {broker_id} is not one of the replicas {self.replicas}")
        if not self.isr <= set(self.replicas):
            raise ValueError(f"ISR {sorted(self.isr)} is not a subset of the replicas {self.replicas}")
        self.leader_epoch = leader_epoch
        self.replica_lag_time_max = replica_lag_time_max_ms / 1000
        self.clock = clock
        self.leader_epoch_start_offset = leader_epoch_start_offset
        self._hw = high_watermark
        now = clock()
        # Kafka's resetReplicaState on becoming leader: ISR members count as caught up (and
        # fetching) now.
        self.followers: dict[int, FollowerState] = {
            r: FollowerState(last_caught_up_time=now if r in self.isr else 0.0,
                             last_fetch_time=now if r in self.isr else 0.0)
            for r in self.replicas if r != broker_id}
        # Replicas that fetched since the last `isr_changes`: only they may join the ISR (Kafka
        # expands the ISR while handling a fetch, so a replica that stopped fetching never joins).
        self._fetched: set[int] = set()
        self._waiters: list[tuple[int, int, asyncio.Future[bool]]] = []  # heap by offset
        self._seq = itertools.count()
        self.closed = False

    # ----- follower fetches --------------------------------------------------------

    def is_replica(self, replica_id: int) -> bool:
        """Whether `replica_id` is a follower in the current assignment."""
        return replica_id in self.followers

    def on_follower_fetch(self, replica_id: int, fetch_offset: int, leader_log_end_offset: int,
                          now: float | None = None) -> bool:
        """Records a Fetch from follower `replica_id` at `fetch_offset` (= its LEO) while the leader
        LEO is `leader_log_end_offset`. Recomputes the HW; returns True if it moved.

        Kafka's lastCaughtUpTime rule: caught up now if fetch_offset >= the
        leader LEO now; else caught up as of the previous fetch if fetch_offset
        >= the leader LEO at that previous fetch.
        """
        st = self.followers.get(replica_id)
        if st is None:
            raise KeyError(f"broker {replica_id} is not a follower replica of this partition ({self.replicas})")
        now = self.clock() if now is None else now
        if fetch_offset >= leader_log_end_offset:
            st.last_caught_up_time = max(st.last_caught_up_time, now)
        elif st.last_fetch_leader_leo >= 0 and fetch_offset >= st.last_fetch_leader_leo:
            st.last_caught_up_time = max(st.last_caught_up_time, st.last_fetch_time)
        st.log_end_offset = fetch_offset
        st.last_fetch_leader_leo = leader_log_end_offset
        st.last_fetch_time = now
        self._fetched.add(replica_id)
        return self._advance_hw(leader_log_end_offset)

    # ----- high watermark ----------------------------------------------------------

    @property
    def hw(self) -> int:
        """The last computed high watermark."""
        return self._hw

    def high_watermark(self, leader_leo: int) -> int:
        """The HW for a leader LEO of `leader_leo`: min LEO over the ISR, never lower than before.
        Wakes the acks=all waiters it satisfies."""
        self._advance_hw(leader_leo)
        return self._hw

    def _advance_hw(self, leader_leo: int) -> bool:
        candidate = leader_leo
        for r in self.isr:
            if r != self.broker_id:
                candidate = min(candidate, self.followers[r].log_end_offset)
        if candidate <= self._hw:
            return False
        self._hw = candidate
        self._wake()
        return True

    # ----- ISR ---------------------------------------------------------------------

    def out_of_sync_replicas(self, leader_leo: int | None = None, now: float | None = None) -> set[int]:
        """ISR followers not caught up within replica.lag.time.max.ms (Kafka's getOutOfSyncReplicas),
        or that have not fetched at all for that long.

        A fetching follower whose LEO equals `leader_leo` is never out of sync (an idle partition);
        one that stopped fetching is, even on an idle partition.
        """
        now = self.clock() if now is None else now
        out = set()
        for r in self.isr:
            if r == self.broker_id:
                continue
            st = self.followers[r]
            if now - st.last_fetch_time > self.replica_lag_time_max:
                out.add(r)
            elif leader_leo is not None and st.log_end_offset == leader_leo:
                continue
            elif now - st.last_caught_up_time > self.replica_lag_time_max:
                out.add(r)
        return out

    def in_sync_candidates(self, now: float | None = None, live: Collection[int] | None = None) -> set[int]:
        """Replicas outside the ISR that fetched since the last look (a fetch triggers the
        expansion, as in Kafka: a replica that stopped fetching never joins), whose LEO reached
        the HW and this epoch's start offset, and that are live brokers (when `live` is given)."""
        now = self.clock() if now is None else now
        return {r for r in self._fetched
                if (st := self.followers.get(r)) is not None and r not in self.isr
                and (live is None or r in live)
                and st.log_end_offset >= 0 and st.log_end_offset >= self._hw
                and st.log_end_offset >= self.leader_epoch_start_offset
                and now - st.last_fetch_time <= self.replica_lag_time_max}

    def isr_changes(self, now: float | None = None, leader_leo: int | None = None,
                    live: Collection[int] | None = None) -> list[int] | None:
        """The ISR to publish (sorted), or None when it should stay as is.

        Shrinks out lagging followers, expands with caught-up replicas that fetched since the
        previous call (and are in `live`, the registered brokers, when given). The caller writes
        it (conditionally, to ZooKeeper) and then calls `set_isr`.
        """
        candidates = self.in_sync_candidates(now, live)
        self._fetched.clear()
        new = (self.isr - self.out_of_sync_replicas(leader_leo, now)) | candidates
        return None if new == self.isr else sorted(new)

    def set_replicas(self, replicas: Iterable[int]) -> None:
        """Adopts a new assignment (reassignment): added replicas start as out-of-sync followers;
        removed ones are forgotten and leave the ISR, so acks=all never waits on them."""
        replicas = list(replicas)
        if self.broker_id not in replicas:
            raise ValueError(f"leader {self.broker_id} is not one of the replicas {replicas}")
        self.replicas = replicas
        for r in replicas:
            if r != self.broker_id and r not in self.followers:
                self.followers[r] = FollowerState()
        for r in [r for r in self.followers if r not in replicas]:
            del self.followers[r]
            self._fetched.discard(r)
        self.isr &= set(replicas)

    def set_isr(self, isr: Iterable[int], leader_leo: int | None = None) -> None:
        """Adopts a committed ISR. A follower that joins counts as caught up now;
        with `leader_leo` the HW is recomputed (a shrink can let it advance)."""
        new = set(isr) | {self.broker_id}
        if not new <= set(self.replicas):
            raise ValueError(f"ISR {sorted(new)} is not a subset of the replicas {self.replicas}")
        now = self.clock()
        for r in new - self.isr:
            if r != self.broker_id:
                self.followers[r].last_caught_up_time = max(self.followers[r].last_caught_up_time, now)
        # A replica taken out (by the controller: dead, shutting down) rejoins only on a fetch
        # that comes after this: one it made before does not count.
        self._fetched -= self.isr - new
        self.isr = new
        if leader_leo is not None:
            self._advance_hw(leader_leo)

    def min_isr_ok(self, min_insync_replicas: int) -> bool:
        """Whether acks=all writes are allowed (Kafka: else NOT_ENOUGH_REPLICAS)."""
        return len(self.isr) >= min_insync_replicas

    # ----- acks=all waiters --------------------------------------------------------

    async def wait_for_hw(self, offset: int, timeout: float | None) -> bool:
        """Waits until the HW is >= `offset` (True) or `timeout` seconds pass / leadership ends (False)."""
        if self._hw >= offset:
            return True
        if self.closed:
            return False
        fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (offset, next(self._seq), fut))
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            if not fut.done():
                fut.cancel()  # dropped lazily from the heap by _wake/_prune
                if len(self._waiters) > 64:
                    self._prune()

    @property
    def waiter_count(self) -> int:
        self._prune()
        return len(self._waiters)

    def _wake(self) -> None:
        while self._waiters and (self._waiters[0][0] <= self._hw or self._waiters[0][2].done()):
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(True)

    def _prune(self) -> None:
        if any(f.done() for _, _, f in self._waiters):
            self._waiters = [w for w in self._waiters if not w[2].done()]
            heapq.heapify(self._waiters)

    def close(self) -> None:
        """Leadership ended: every waiter gets False."""
        self.closed = True
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.set_result(False)
        self._waiters.clear()


# ---------------------------------------------------------------------------
# The leader's answers to epoch-aware follower requests


def check_leader_epoch(current_leader_epoch: int, requested: int) -> int:
    """Kafka's epoch fencing of a Fetch / OffsetForLeaderEpoch: the error code for a request that
    names `requested` as the current leader epoch (-1 = no check)."""
    if requested == UNDEFINED_EPOCH or requested == current_leader_epoch:
        return NONE
    return FENCED_LEADER_EPOCH if requested < current_leader_epoch else UNKNOWN_LEADER_EPOCH


def offset_for_leader_epoch(cache: LeaderEpochCache, log_end_offset: int, current_leader_epoch: int,
                            request_current_leader_epoch: int, leader_epoch: int) -> tuple[int, int, int]:
    """The leader's OffsetForLeaderEpoch answer for one partition: (error_code, epoch, end_offset)."""
    err = check_leader_epoch(current_leader_epoch, request_current_leader_epoch)
    if err:
        return err, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
    epoch, end = cache.end_offset_for(leader_epoch, log_end_offset)
    return NONE, epoch, end


def diverging_epoch(cache: LeaderEpochCache, log_end_offset: int, last_fetched_epoch: int,
                    fetch_offset: int) -> tuple[int, int] | None:
    """Fetch v12+ (KIP-320): (epoch, end_offset) to return as diverging_epoch when the follower's
    log diverges from the leader's at `fetch_offset`, else None (fetch normally)."""
    if last_fetched_epoch < 0:
        return None
    epoch, end = cache.end_offset_for(last_fetched_epoch, log_end_offset)
    if end < fetch_offset or epoch < last_fetched_epoch:
        return epoch, end
    return None
