"""Fixtures of the embedded-client tests: a fresh store in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pystream.client import Store
from pystream.client import open as open_store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir: Path) -> Iterator[Store]:
    s = open_store(data_dir, offsets_topic_partitions=5)
    yield s
    s.close()
