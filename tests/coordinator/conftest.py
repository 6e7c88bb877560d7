"""Fixtures for the group coordinator tests (helpers live in coord_helpers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from coord_helpers import FakeClock, OffsetLogs
from pystream.coordinator.group import GroupCoordinator
from pystream.coordinator.offsets import OffsetStore


@pytest.fixture
def offset_logs(tmp_path: Path) -> Iterator[OffsetLogs]:
    logs = OffsetLogs(tmp_path / "offsets")
    yield logs
    logs.close()


@pytest.fixture
def store(offset_logs: OffsetLogs) -> OffsetStore:
    return OffsetStore(offset_logs, num_partitions=3)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_coord(store: OffsetStore, clock: FakeClock) -> Callable[..., GroupCoordinator]:
    """GroupCoordinator on the fake clock, no initial delay unless asked."""

    def make(**kw: Any) -> GroupCoordinator:
        kw.setdefault("initial_rebalance_delay_ms", 0)
        kw.setdefault("clock", clock)
        return GroupCoordinator(store, **kw)

    return make
