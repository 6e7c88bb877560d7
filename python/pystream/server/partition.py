"""A partition as the broker sees it: its log, its idempotent-producer state,
and the fetch requests waiting for it to grow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from pystream.storage.log import Log
from pystream.storage.producer_state import ProducerState


@dataclass
class Partition:
    topic: str
    index: int
    log: Log
    producer_state: ProducerState
    # Futures of fetches parked until this partition gets new data (or they time out).
    waiters: set[asyncio.Future[None]] = field(default_factory=set)

    @property
    def high_watermark(self) -> int:
        """Offsets below it are readable by consumers (single broker: the log end)."""
        return self.log.end_offset

    def notify_append(self) -> None:
        for fut in self.waiters:
            if not fut.done():
                fut.set_result(None)
        self.waiters.clear()

    def wait_for_append(self, fut: asyncio.Future[None]) -> None:
        self.waiters.add(fut)

    def forget_waiter(self, fut: asyncio.Future[None]) -> None:
        self.waiters.discard(fut)
