"""Bounding the memory that requests being received may hold (Kafka's `queued.max.request.bytes`).

A client announces a request's size in its first 4 bytes; the listener then
buffers that many bytes. Without a bound, a few connections that announce
100 MB requests and never finish them hold gigabytes. `RequestMemoryPool`
hands out the announced size before the body is read and takes it back once
the request is answered; a request that does not fit waits (its bytes stay in
the kernel's socket buffer) until others finish. Requests up to
`SMALL_REQUEST_BYTES` never wait, so a pool held by large requests does not
stop the Metadata, Heartbeat and small Produce requests of everyone else.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

SMALL_REQUEST_BYTES = 64 * 1024


class RequestMemoryPool:
    """`capacity` bytes (-1: unbounded) shared by the requests being received, granted in
    arrival order. Invariant: the large requests held never exceed `capacity`, except one
    larger than `capacity` on its own (socket.request.max.bytes may be larger); small
    requests are counted but never wait.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        """Holds `size` bytes for the duration of the block (waiting for them when needed)."""
        if self.capacity < 0 or size <= SMALL_REQUEST_BYTES or (not self._waiters and self._fits(size)):
            self.used += size
        else:
            entry = (size, asyncio.get_running_loop().create_future())
            self._waiters.append(entry)
            try:
                await entry[1]  # granted by _wake, which counts the bytes as used
            except BaseException:
                if entry[1].done() and not entry[1].cancelled():
                    self.used -= size  # granted, then cancelled before use
                elif entry in self._waiters:
                    self._waiters.remove(entry)
                self._wake()
                raise
        try:
            yield
        finally:
            self.used -= size
            self._wake()

    def _fits(self, size: int) -> bool:
        return self.used == 0 or self.used + size <= self.capacity

    def _wake(self) -> None:
        """Grants the waiters at the head of the queue whose sizes fit, in order."""
        while self._waiters and self._fits(self._waiters[0][0]):
            size, fut = self._waiters.popleft()
            if not fut.done():
                self.used += size
                fut.set_result(None)
