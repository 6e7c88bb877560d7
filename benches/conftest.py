"""Collect ``bench_*.py`` here (pytest's default pattern is ``test_*.py``).

benches/ is outside ``testpaths``, so a plain ``pytest`` never runs these;
run them with ``pytest benches/ --benchmark-only``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported

from pathlib import Path

import pytest


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
