"""pytest-benchmark micro benchmarks of the storage core (smaller N than `pystream bench`).

Run: ``pytest benches/ --benchmark-only`` (add ``--benchmark-json out.json``
to keep the numbers). Each write round opens a fresh log in a new directory
(untimed) and the timed part ends with ``flush()`` (fsync), the same rule as
`pystream bench`. The naive framed log of `pystream.bench.storage` is the in-run
baseline for ``append_batch`` and ``append``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import itertools
from pathlib import Path
from typing import Any, Callable

import pytest

from pystream.bench import storage as b
from pystream._core import crc32c
from pystream.storage.log import Log

N = 100_000
VALUE_SIZE = 100
ROUNDS = 5

_counter = itertools.count()


@pytest.fixture(scope="module")
def values() -> list[bytes]:
    return b.make_values(N, VALUE_SIZE)


@pytest.fixture(scope="module")
def filled_log(tmp_path_factory: pytest.TempPathFactory, values: list[bytes]) -> Any:
    log = Log.open(tmp_path_factory.mktemp("read") / "log")
    log.append_batch(values)
    log.flush()
    yield log
    log.close()


def _writer(tmp: Path, factory: Callable[[], b.Engine]) -> Callable[[], tuple[tuple[b.Engine], dict]]:
    """pedantic() setup: a fresh engine on a new directory, per round."""

    def setup() -> tuple[tuple[b.Engine], dict]:
        engine = factory()
        engine.open(tmp / f"w{next(_counter)}")
        return (engine,), {}

    return setup


@pytest.mark.parametrize("engine", ["pystream", "naive"])
@pytest.mark.parametrize("op", ["append_batch", "append"])
def test_write(benchmark: Any, tmp_path: Path, values: list[bytes], engine: str, op: str) -> None:
    benchmark.group = f"write {op} {N:,} x {VALUE_SIZE} B"
    factory = b.PystreamEngine if engine == "pystream" else b.NaiveEngine

    def run(e: b.Engine) -> None:
        getattr(e, op)(values)
        e.sync()
        e.close()

    benchmark.pedantic(run, setup=_writer(tmp_path, factory), rounds=ROUNDS, iterations=1)
    benchmark.extra_info["records_per_round"] = N


def test_records(benchmark: Any, filled_log: Any) -> None:
    benchmark.group = f"read {N:,} x {VALUE_SIZE} B"
    out = benchmark.pedantic(filled_log.records, args=(0,), rounds=ROUNDS, iterations=1)
    assert len(out) == N


def test_read_columns(benchmark: Any, filled_log: Any) -> None:
    benchmark.group = f"read {N:,} x {VALUE_SIZE} B"
    out = benchmark.pedantic(filled_log.read_columns, args=(0,), rounds=ROUNDS * 4, iterations=1)
    assert len(out) == N


@pytest.mark.parametrize("size", [1 << 10, 1 << 20])
def test_crc32c(benchmark: Any, size: int) -> None:
    benchmark.group = "crc32c"
    data = os.urandom(size)
    benchmark(crc32c, data)
    benchmark.extra_info["bytes"] = size
