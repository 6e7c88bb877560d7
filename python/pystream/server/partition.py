"""A partition as the broker sees it: its log, its idempotent-producer state,
and the fetch requests waiting for it to grow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pystream.storage.log import Log
from pystream.storage.producer_state import ProducerState

if TYPE_CHECKING:
    from pystream.replication.fetcher import FollowerPartition
    from pystream.replication.leader import LeaderState


@dataclass
class Partition:
    topic: str
    index: int
    log: Log
    producer_state: ProducerState
    # Futures of fetches parked until this partition gets new data (or they time out).
    waiters: set[asyncio.Future[None]] = field(default_factory=set)
    # In a cluster (see server/cluster_mode.py); a single broker leaves these as they are.
    replicated: bool = False
    role: str | None = None  # "leader", "follower" or None (not a replica / offline)
    leader_id: int = -1
    leader_epoch: int = 0
    leader_state: LeaderState | None = None
    follower: FollowerPartition | None = None
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
