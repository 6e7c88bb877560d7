"""Fixtures of the storage tests; their helpers are in log_files.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    return tmp_path / "topic-0"
