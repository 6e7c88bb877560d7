"""Helpers for the group coordinator tests: fake clock, bounded runner, request builders."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Awaitable, Optional

from pystream.coordinator.group import GroupCoordinator, GroupState
from pystream.storage.log import Log

# Every async test body runs under this bound.
TEST_TIMEOUT_S = 5.0


class FakeClock:
    """A monotonic clock (seconds) the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance_ms(self, ms: float) -> None:
        self.now += ms / 1000.0


def run(coro: Awaitable[Any]) -> Any:
    """Run a test coroutine on a fresh loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, TEST_TIMEOUT_S))


async def settle() -> None:
    """Let woken tasks run (a few loop iterations)."""
    for _ in range(5):
        await asyncio.sleep(0)


class OffsetLogs:
    """Opens offsets-topic (or another internal topic's) partition logs under a directory, as the broker would."""

    def __init__(self, root: Path, topic: str = "__consumer_offsets") -> None:
        self.root = root
        self.topic = topic
        self.logs: dict[int, Log] = {}

    def __call__(self, p: int) -> Log:
        if p not in self.logs:
            self.logs[p] = Log.open(self.root / f"{self.topic}-{p}")
        return self.logs[p]

    def close(self) -> None:
        for log in self.logs.values():
            log.close()
        self.logs.clear()


def join_req(
    group: str = "g",
    member_id: str = "",
    *,
    protocols: Optional[list[tuple[str, bytes]]] = None,
    session_timeout_ms: int = 10000,
    rebalance_timeout_ms: int = 30000,
    instance_id: Optional[str] = None,
    protocol_type: str = "consumer",
) -> dict:
    if protocols is None:
        protocols = [("range", b"subscription")]
    return {
        "group_id": group,
        "session_timeout_ms": session_timeout_ms,
        "rebalance_timeout_ms": rebalance_timeout_ms,
        "member_id": member_id,
        "group_instance_id": instance_id,
        "protocol_type": protocol_type,
        "protocols": [{"name": n, "metadata": m} for n, m in protocols],
        "reason": None,
    }


def sync_req(group: str, member_id: str, generation: int, assignments: Optional[dict[str, bytes]] = None,
             instance_id: Optional[str] = None, protocol_type: Optional[str] = None,
             protocol_name: Optional[str] = None) -> dict:
    return {
        "group_id": group,
        "generation_id": generation,
        "member_id": member_id,
        "group_instance_id": instance_id,
        "protocol_type": protocol_type,
        "protocol_name": protocol_name,
        "assignments": [{"member_id": m, "assignment": a} for m, a in (assignments or {}).items()],
    }


def hb_req(group: str, member_id: str, generation: int, instance_id: Optional[str] = None) -> dict:
    return {"group_id": group, "generation_id": generation, "member_id": member_id, "group_instance_id": instance_id}


async def join_v4(coord: GroupCoordinator, req: dict, client_id: str = "c", version: int = 5) -> asyncio.Task:
    """KIP-394 two-step join: returns the task of the second (parked) JoinGroup."""
    first = await coord.join_group(req, version, client_id)
    assert first["error_code"] == 79, first  # MEMBER_ID_REQUIRED
    return asyncio.ensure_future(coord.join_group(dict(req, member_id=first["member_id"]), version, client_id))


async def form_group(coord: GroupCoordinator, clock: FakeClock, n: int, *, group: str = "g",
                     version: int = 3, instance_ids: list | None = None) -> tuple[int, str, list[str]]:
    """n members join together (within the initial delay), the leader assigns, all sync.

    Returns (generation, leader id, member ids in join order). Needs a coordinator
    with initial_rebalance_delay_ms == 3000 and joins use rebalance_timeout_ms 3000,
    so the join phase completes at the first deadline."""
    tasks = []
    for i in range(n):
        iid = instance_ids[i] if instance_ids else None
        req = join_req(group, rebalance_timeout_ms=3000, instance_id=iid)
        tasks.append(asyncio.ensure_future(coord.join_group(req, version, f"client{i}", "/127.0.0.1")))
    await settle()
    assert not any(t.done() for t in tasks)  # parked during the initial delay
    clock.advance_ms(3000)
    coord.tick()
    results = await asyncio.gather(*tasks)
    gens = {r["generation_id"] for r in results}
    assert len(gens) == 1 and all(r["error_code"] == 0 for r in results)
    leader = results[0]["leader"]
    ids = [r["member_id"] for r in results]
    gen = gens.pop()
    syncs = [asyncio.ensure_future(coord.sync_group(sync_req(group, m, gen), version)) for m in ids if m != leader]
    await settle()
    lead = await coord.sync_group(sync_req(group, leader, gen, {m: f"assign-{m}".encode() for m in ids}), version)
    assert lead == {"error_code": 0, "protocol_type": "consumer", "protocol_name": "range",
                    "assignment": f"assign-{leader}".encode()}
    for r in await asyncio.gather(*syncs):
        assert r["error_code"] == 0
    assert coord.group(group).state is GroupState.STABLE
    return gen, leader, ids
