"""RequestMemoryPool: what requests being received may hold together."""

from __future__ import annotations

import asyncio

import pytest

from pystream.server.request_memory import SMALL_REQUEST_BYTES, RequestMemoryPool

MB = 1 << 20


async def _holder(pool: RequestMemoryPool, size: int, release: asyncio.Event, log: list[str], name: str) -> None:
    async with pool.reserve(size):
        log.append(f"+{name}")
        await release.wait()
    log.append(f"-{name}")


def test_large_requests_wait_for_room_in_arrival_order() -> None:
    async def main() -> None:
        pool = RequestMemoryPool(10 * MB)
        log: list[str] = []
        ev = {n: asyncio.Event() for n in "abc"}
        a = asyncio.create_task(_holder(pool, 6 * MB, ev["a"], log, "a"))
        await asyncio.sleep(0)
        b = asyncio.create_task(_holder(pool, 6 * MB, ev["b"], log, "b"))
        c = asyncio.create_task(_holder(pool, 2 * MB, ev["c"], log, "c"))  # fits, but b came first
        await asyncio.sleep(0.01)
        assert log == ["+a"] and pool.used == 6 * MB
        ev["a"].set()
        await asyncio.sleep(0.01)
        assert log == ["+a", "-a", "+b", "+c"] and pool.used == 8 * MB <= pool.capacity
        ev["b"].set(), ev["c"].set()
        await asyncio.gather(a, b, c)
        assert pool.used == 0

    asyncio.run(main())


def test_small_requests_never_wait_and_oversize_runs_alone() -> None:
    async def main() -> None:
        pool = RequestMemoryPool(MB)
        log: list[str] = []
        ev = {n: asyncio.Event() for n in "bsx"}
        big = asyncio.create_task(_holder(pool, 5 * MB, ev["b"], log, "big"))  # larger than the pool: alone
        await asyncio.sleep(0)
        small = asyncio.create_task(_holder(pool, SMALL_REQUEST_BYTES, ev["s"], log, "small"))
        other = asyncio.create_task(_holder(pool, SMALL_REQUEST_BYTES + 1, ev["x"], log, "other"))
        await asyncio.sleep(0.01)
        assert log == ["+big", "+small"]
        ev["b"].set(), ev["s"].set()
        await asyncio.sleep(0.01)
        assert "+other" in log
        ev["x"].set()
        await asyncio.gather(big, small, other)
        assert pool.used == 0

    asyncio.run(main())


def test_a_waiter_cancelled_gives_its_turn_away() -> None:
    async def main() -> None:
        pool = RequestMemoryPool(10 * MB)
        log: list[str] = []
        ev = {n: asyncio.Event() for n in "abc"}
        a = asyncio.create_task(_holder(pool, 8 * MB, ev["a"], log, "a"))
        await asyncio.sleep(0)
        b = asyncio.create_task(_holder(pool, 8 * MB, ev["b"], log, "b"))
        c = asyncio.create_task(_holder(pool, 2 * MB, ev["c"], log, "c"))
        await asyncio.sleep(0.01)
        b.cancel()  # a connection closed while waiting
        await asyncio.sleep(0.01)
        assert log == ["+a", "+c"]
        ev["a"].set(), ev["c"].set()
        await asyncio.gather(a, c)
        with pytest.raises(asyncio.CancelledError):
            await b
        assert pool.used == 0 and not pool._waiters

    asyncio.run(main())


def test_unbounded_pool_never_waits() -> None:
    async def main() -> None:
        pool = RequestMemoryPool(-1)
        async with pool.reserve(100 * MB), pool.reserve(100 * MB):
            assert pool.used == 200 * MB
        assert pool.used == 0

    asyncio.run(main())
