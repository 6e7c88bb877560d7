"""A partition as the broker sees it: its log, its idempotent-producer state,
the fetch requests waiting for it to grow, and — in a cluster — its role.

The role fields are set by the cluster layer only (`pystream.cluster`); the
broker reads them through the two small protocols below, so it needs nothing
of the replication package.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from pystream.storage.log import Log
from pystream.storage.producer_state import ProducerState


class LeaderReplicas(Protocol):
    """The leader's view of its replicas (`pystream.replication.LeaderState`): what
    acks=all and the high watermark need."""

    @property
    def hw(self) -> int: ...
    def high_watermark(self, leader_leo: int) -> int: ...
    def min_isr_ok(self, min_insync_replicas: int) -> bool: ...
    async def wait_for_hw(self, offset: int, timeout: float | None) -> bool: ...
    closed: bool  # leadership ended (acks=all waiters were released unreplicated)


class FollowerProgress(Protocol):
    """A follower's replica (`pystream.replication.FollowerPartition`)."""

    high_watermark: int


@dataclass
class Partition:
    topic: str
    index: int
    log: Log
    producer_state: ProducerState
    # Futures of fetches parked until this partition gets new data (or they time out).
    waiters: set[asyncio.Future[None]] = field(default_factory=set)
    # In a cluster (set by pystream.cluster); a single broker leaves these as they are.
    replicated: bool = False
    role: str | None = None  # "leader", "follower" or None (not a replica / offline)
    leader_id: int = -1
    leader_epoch: int = 0
    leader_state: LeaderReplicas | None = None
    follower: FollowerProgress | None = None
    hw_hint: int = 0  # the last high watermark known while neither leading nor following
    isr_version: int = -1  # ZooKeeper version of the partition state the leader's ISR reflects

    @property
    def high_watermark(self) -> int:
        """Offsets below it are readable by consumers: the log end on a single broker;
        in a cluster, the smallest log end offset of the in-sync replicas."""
        if not self.replicated:
            return self.log.end_offset
        if self.leader_state is not None:
            return self.leader_state.hw
        if self.follower is not None:
            return self.follower.high_watermark
        return min(self.hw_hint, self.log.end_offset)

    @property
    def is_leader(self) -> bool:
        return not self.replicated or self.role == "leader"

    def notify_append(self) -> None:
        for fut in self.waiters:
            if not fut.done():
                fut.set_result(None)
        self.waiters.clear()

    def wait_for_append(self, fut: asyncio.Future[None]) -> None:
        self.waiters.add(fut)

    def forget_waiter(self, fut: asyncio.Future[None]) -> None:
        self.waiters.discard(fut)
