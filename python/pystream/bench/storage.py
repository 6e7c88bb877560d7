"""The storage benchmark behind `pystream bench` (see docs/benchmarks.md).

Every engine gets the same values and the same four operations, in the same
process, on fresh directories:

- ``append_batch``: one call with all values; ``append``: one call per value;
- ``records``: read everything back as one Python object per record;
- ``read_columns``: read everything back as numpy columns.

Engines: ``pystream`` (the Rust core, `pystream.Log`), ``reference`` (the
pure-Python `ReferenceLog`), ``naive`` (a pure-Python framed log: ``>II``
length + zlib.crc32, then the bytes, through a 1 MiB buffered file; the
baseline every ratio is against) and ``sqlite`` (sqlite3, WAL,
synchronous=NORMAL). Each timing is repeated and the best (minimum) time
kept; repetitions are interleaved across engines so that drift in the
machine's speed hits every engine alike. Then 1 KiB values are written with
``append_batch`` and compared with the disk's raw sequential write bandwidth
(1 MiB ``os.write`` calls + fsync) measured in the same run.

Rule for writes: the 100-byte rows time from the first write call until the
data is handed to the OS, as a Kafka producer's append is (``flush(fsync=False)``
for pystream/reference, ``file.flush()`` for the naive log, ``commit`` for
SQLite in WAL mode with synchronous=NORMAL, which does not fsync a commit).
The 1 KiB rows, the ones compared with the disk, run until the data is
fsynced (``flush()``; ``file.flush()`` + ``os.fsync``; ``commit`` +
``wal_checkpoint(TRUNCATE)``), like the raw-disk row. Opening and closing a
store are not timed.
"""

from __future__ import annotations

import os
import sys

# numpy's OpenBLAS threads would otherwise spin on the second core; this only
# takes effect if numpy is not imported yet (the CLI re-executes to ensure it).
BLAS_ONE_THREAD = os.environ.get("OPENBLAS_NUM_THREADS") == "1" or "numpy" not in sys.modules
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import datetime as _dt
import gc
import shutil
import sqlite3
import struct
import tempfile
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from pystream.bench import report

__all__ = ["ENGINES", "GOALS", "OPERATIONS", "BenchConfig", "BenchResult", "Measurement", "available_engines",
           "markdown_table", "render_table", "run_and_report", "run_benchmark"]

OPERATIONS: tuple[str, ...] = ("append_batch", "append", "records", "read_columns")
# Extra row for engines that take a 2-D uint8 numpy array in append_batch (graded like append_batch).
ARRAY_OP = "append_batch (ndarray)"
ARRAY_ENGINES: tuple[str, ...] = ("pystream",)
# pystream's reads check each batch's CRC32C by default (Kafka's check.crcs); these rows read
# without the check, so the table shows what it costs (goal: under 10% of read throughput).
NO_CRC_OPS: dict[str, str] = {"records (no CRC check)": "records", "read_columns (no CRC check)": "read_columns"}
CRC_COST_GOAL = 0.10
ENGINES: tuple[str, ...] = ("pystream", "reference", "naive", "sqlite")
BASELINE = "naive"
LARGE_VALUE_SIZE = 1024
RAW_CHUNK = 1 << 20

ENGINE_LABELS: dict[str, str] = {
    "pystream": "pystream (Rust)",
    "reference": "reference (pure Python)",
    "naive": "naive framed log (pure Python)",
    "sqlite": "sqlite3 (WAL)",
    "raw": "raw disk (1 MiB os.write calls + fsync)",
}

# Goals from the issue, for the pystream rows: (minimum records/s, minimum ratio to naive).
GOALS: dict[str, tuple[float, float | None]] = {
    "append_batch": (10e6, 4.0),
    ARRAY_OP: (10e6, 4.0),
    "append": (3e6, None),
    "records": (3e6, None),
    "read_columns": (20e6, None),
}


@dataclass
class BenchConfig:
    """What to run. ``large_n`` 0 means ``max(1, n // 4)`` values of 1 KiB."""

    n: int = 1_000_000
    value_size: int = 100
    repeat: int = 3
    engines: tuple[str, ...] = ENGINES
    dir: str | None = None
    large_n: int = 0

    def large_count(self) -> int:
        return self.large_n or max(1, self.n // 4)


@dataclass
class Measurement:
    """One row: best time of ``repeat`` runs of one operation on one engine."""

    engine: str
    operation: str
    n: int
    value_size: int
    times_s: list[float] = field(default_factory=list)
    best_s: float = 0.0
    records_per_s: float = 0.0
    mb_per_s: float = 0.0  # payload (value bytes) in 10^6 bytes per second
    ratio: float | None = None  # to the baseline (naive) for the same operation
    goal: str = ""
    passed: bool | None = None
    note: str = ""

    def finish(self) -> None:
        """Compute the derived fields from ``times_s``."""
        self.best_s = min(self.times_s)
        self.records_per_s = self.n / self.best_s
        self.mb_per_s = self.n * self.value_size / self.best_s / 1e6


@dataclass
class BenchResult:
    """Everything one run produced, plus where and how it ran."""

    config: dict[str, Any]
    machine: dict[str, Any]
    rows: list[Measurement]
    large: list[Measurement]
    notes: list[str]
    started: str
    elapsed_s: float = 0.0


# ---------------------------------------------------------------------------
# Engines: one small adapter each, all with the same five verbs
# ---------------------------------------------------------------------------


class Engine:
    """Adapter: ``open`` a directory, write, ``sync`` (to the OS; with ``durable``, fsync), read, ``close``."""

    name = ""
    columns_note = ""

    def open(self, path: Path) -> None:
        raise NotImplementedError

    def append_batch(self, values: Sequence[bytes]) -> None:
        raise NotImplementedError

    def append(self, values: Sequence[bytes]) -> None:
        raise NotImplementedError

    def sync(self, durable: bool = True) -> None:
        raise NotImplementedError

    def records(self) -> Sequence[Any]:
        raise NotImplementedError

    def read_columns(self) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _LogEngine(Engine):
    """pystream.Log and ReferenceLog share the API."""

    def __init__(self, log_class: Any) -> None:
        self.log_class = log_class
        self.log: Any = None

    def open(self, path: Path) -> None:
        self.log = self.log_class.open(str(path))

    def append_batch(self, values: Sequence[bytes]) -> None:
        self.log.append_batch(values)

    def append_batch_array(self, values: np.ndarray) -> None:
        self.log.append_batch(values)

    def append(self, values: Sequence[bytes]) -> None:
        append = self.log.append
        for v in values:
            append(v)

    def sync(self, durable: bool = True) -> None:
        self.log.flush(fsync=durable)

    def records(self) -> Sequence[Any]:
        return self.log.records(0)

    def records_no_crc(self) -> Sequence[Any]:
        return self.log.records(0, verify_crc=False)

    def read_columns_no_crc(self) -> Any:
        return self.log.read_columns(0, verify_crc=False)

    def read_columns(self) -> Any:
        if hasattr(self.log, "read_columns"):
            return self.log.read_columns(0)
        recs = self.log.records(0)  # closest equivalent when a log lacks columns
        return _columns_from_values([r.value for r in recs], np.fromiter((r.offset for r in recs), np.int64, len(recs)))

    def close(self) -> None:
        if self.log is not None:
            self.log.close()
            self.log = None


class PystreamEngine(_LogEngine):
    name = "pystream"

    def __init__(self) -> None:
        from pystream.storage.log import Log

        super().__init__(Log)


class ReferenceEngine(_LogEngine):
    name = "reference"

    def __init__(self) -> None:
        from pystream.storage.reference import ReferenceLog

        super().__init__(ReferenceLog)
        if not hasattr(ReferenceLog, "read_columns"):
            self.columns_note = "reference: no read_columns; records() then numpy arrays"


_FRAME = struct.Struct(">II")


class NaiveEngine(Engine):
    """The baseline: ``>II`` (length, zlib.crc32) + value, 1 MiB buffered file."""

    name = "naive"
    columns_note = (
        "naive: read_columns = parse the frames in Python into offset/start/length "
        "arrays over the file's bytes (no per-record objects)"
    )

    def __init__(self) -> None:
        self.path: Path | None = None
        self.file: Any = None
        self.next_offset = 0

    def open(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / "log.bin"
        self.file = None
        self.next_offset = 0

    def _writer(self) -> Any:
        if self.file is None:
            assert self.path is not None
            self.file = open(self.path, "ab", buffering=1 << 20)
        return self.file

    def append_batch(self, values: Sequence[bytes]) -> None:
        pack, crc = _FRAME.pack, zlib.crc32
        self._writer().writelines([pack(len(v), crc(v)) + v for v in values])
        self.next_offset += len(values)

    def append(self, values: Sequence[bytes]) -> None:
        append = self.append_one
        for v in values:
            append(v)

    def append_one(self, value: bytes) -> int:
        """One record, like ``Log.append``: returns its offset."""
        self._writer().write(_FRAME.pack(len(value), zlib.crc32(value)) + value)
        off = self.next_offset
        self.next_offset = off + 1
        return off

    def sync(self, durable: bool = True) -> None:
        f = self._writer()
        f.flush()
        if durable:
            os.fsync(f.fileno())

    def _read_all(self) -> bytes:
        assert self.path is not None
        with open(self.path, "rb") as f:
            return f.read()

    def records(self) -> Sequence[Any]:
        buf = self._read_all()
        unpack = _FRAME.unpack_from
        out = []
        add = out.append
        pos, off, end = 0, 0, len(buf)
        while pos < end:
            length, _crc = unpack(buf, pos)
            pos += 8
            add((off, buf[pos : pos + length]))
            pos += length
            off += 1
        return out

    def read_columns(self) -> Any:
        buf = self._read_all()
        unpack = _FRAME.unpack_from
        starts: list[int] = []
        lengths: list[int] = []
        add_s, add_l = starts.append, lengths.append
        pos, end = 0, len(buf)
        while pos < end:
            length, _crc = unpack(buf, pos)
            pos += 8
            add_s(pos)
            add_l(length)
            pos += length
        n = len(starts)
        return (
            np.arange(n, dtype=np.int64),
            np.array(starts, dtype=np.int64),
            np.array(lengths, dtype=np.int32),
            np.frombuffer(buf, dtype=np.uint8),
        )

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class SqliteEngine(Engine):
    """sqlite3, WAL, synchronous=NORMAL, ``(offset INTEGER PRIMARY KEY, value BLOB)``."""

    name = "sqlite"
    columns_note = "sqlite: read_columns = SELECT value fetchall, then np.frombuffer(b''.join(...)) + lengths/starts"

    def __init__(self) -> None:
        self.db: sqlite3.Connection | None = None

    def open(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path / "log.db"))
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute('CREATE TABLE IF NOT EXISTS log ("offset" INTEGER PRIMARY KEY, value BLOB)')
        db.commit()
        self.db = db

    def append_batch(self, values: Sequence[bytes]) -> None:
        assert self.db is not None
        self.db.executemany("INSERT INTO log (value) VALUES (?)", [(v,) for v in values])

    def append(self, values: Sequence[bytes]) -> None:
        assert self.db is not None
        execute = self.db.execute
        sql = "INSERT INTO log (value) VALUES (?)"
        for v in values:  # one transaction: sqlite3 opens it on the first INSERT
            execute(sql, (v,))

    def sync(self, durable: bool = True) -> None:
        assert self.db is not None
        self.db.commit()
        if durable:
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def records(self) -> Sequence[Any]:
        assert self.db is not None
        return self.db.execute('SELECT "offset", value FROM log ORDER BY "offset"').fetchall()

    def read_columns(self) -> Any:
        assert self.db is not None
        cur = self.db.execute('SELECT "offset", value FROM log ORDER BY "offset"')
        rows = cur.fetchall()
        offsets = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return _columns_from_values([r[1] for r in rows], offsets)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


def _columns_from_values(values: Sequence[bytes], offsets: np.ndarray) -> tuple[np.ndarray, ...]:
    """Columns (offsets, starts, lengths, values buffer) from per-record values."""
    lengths = np.fromiter(map(len, values), dtype=np.int32, count=len(values))
    starts = np.zeros(len(values), dtype=np.int64)
    if len(values) > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    return offsets, starts, lengths, np.frombuffer(b"".join(values), dtype=np.uint8)


_ENGINE_FACTORIES: dict[str, Callable[[], Engine]] = {
    "pystream": PystreamEngine,
    "reference": ReferenceEngine,
    "naive": NaiveEngine,
    "sqlite": SqliteEngine,
}


def available_engines(names: Iterable[str]) -> tuple[dict[str, Callable[[], Engine]], list[str]]:
    """The factories of the engines that can run here, and a note for each that cannot."""
    ok: dict[str, Callable[[], Engine]] = {}
    notes: list[str] = []
    for name in names:
        if name not in _ENGINE_FACTORIES:
            raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINES)}")
        try:
            _ENGINE_FACTORIES[name]().close()
        except ImportError as e:
            notes.append(f"{name}: skipped, {'reference log' if name == 'reference' else name} not available ({e})")
            continue
        ok[name] = _ENGINE_FACTORIES[name]
    return ok, notes


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


def make_values(n: int, size: int, seed: int = 7) -> list[bytes]:
    """``n`` distinct pseudo-random values of ``size`` bytes (incompressible)."""
    rng = np.random.default_rng(seed)
    block = rng.integers(0, 256, size=n * size, dtype=np.uint8).tobytes()
    return [block[i * size : (i + 1) * size] for i in range(n)]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _time_write(factory: Callable[[], Engine], path: Path, op: str, values: Sequence[bytes], durable: bool = False) -> float:
    engine = factory()
    engine.open(path)
    write = getattr(engine, op)

    def run() -> None:
        write(values)
        engine.sync(durable)

    try:
        seconds, _ = _timed(run)
    finally:
        engine.close()
    shutil.rmtree(path, ignore_errors=True)
    return seconds


def _count(result: Any) -> int:
    if isinstance(result, tuple):  # columns tuple: offsets first
        return len(result[0])
    return len(result)


def _time_read(factory: Callable[[], Engine], path: Path, op: str, n: int) -> float:
    engine = factory()
    engine.open(path)
    try:
        seconds, out = _timed(getattr(engine, op))
        got = _count(out)
        del out
    finally:
        engine.close()
    if got != n:
        raise RuntimeError(f"{factory.__name__}.{op} read {got} records, expected {n}")
    return seconds


def _raw_write(path: Path, total_bytes: int) -> float:
    """Sequential write bandwidth: 1 MiB os.write calls to a new file, then fsync."""
    chunk = np.random.default_rng(3).integers(0, 256, RAW_CHUNK, dtype=np.uint8).tobytes()
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / "raw.bin", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        gc.collect()
        t0 = time.perf_counter()
        left = total_bytes
        while left > 0:
            left -= os.write(fd, chunk if left >= RAW_CHUNK else chunk[:left])
        os.fsync(fd)
        seconds = time.perf_counter() - t0
    finally:
        os.close(fd)
    shutil.rmtree(path, ignore_errors=True)
    return seconds


def _grade(row: Measurement) -> None:
    """Fill ``goal``/``passed`` for the pystream rows that the issue sets goals for."""
    if row.engine != "pystream" or row.operation not in GOALS or row.value_size != 100:
        return
    rate, ratio = GOALS[row.operation]
    row.goal = f">={rate / 1e6:g}M/s" + (f", >={ratio:g}x naive" if ratio else "")
    row.passed = row.records_per_s >= rate and (ratio is None or (row.ratio is not None and row.ratio >= ratio))


def machine_info() -> dict[str, Any]:
    """`report.machine_info` plus numpy's and SQLite's versions and the OpenBLAS thread setting."""
    return report.machine_info() | {
        "numpy": np.__version__,
        "sqlite": sqlite3.sqlite_version,
        "openblas_one_thread": BLAS_ONE_THREAD,  # OPENBLAS_NUM_THREADS=1 before numpy loaded
    }


def run_benchmark(config: BenchConfig, progress: report.ProgressFn | None = None) -> BenchResult:
    """Run every measurement of ``config``; ``progress(label)`` is called after each step."""
    step = progress or (lambda label: None)
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t_start = time.perf_counter()
    factories, notes = available_engines(config.engines)
    n, size = config.n, config.value_size
    values = make_values(n, size)
    large_n = config.large_count()

    base = Path(tempfile.mkdtemp(prefix="pystream-bench-", dir=config.dir))
    array_engines = [e for e in factories if e in ARRAY_ENGINES]
    array = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(n, size) if array_engines else None
    rows: dict[tuple[str, str], Measurement] = {}
    for e in factories:
        for op in OPERATIONS:
            rows[e, op] = Measurement(e, op, n, size)
            if op == "append_batch" and e in array_engines:
                rows[e, ARRAY_OP] = Measurement(e, ARRAY_OP, n, size, note="values as one (N, size) uint8 array")
            if e == "pystream" and op in NO_CRC_OPS.values():
                label = next(k for k, v in NO_CRC_OPS.items() if v == op)
                rows[e, label] = Measurement(e, label, n, size, note="verify_crc=False")
    large = {e: Measurement(e, "append_batch", large_n, LARGE_VALUE_SIZE) for e in factories}
    raw = Measurement("raw", "sequential write", large_n, LARGE_VALUE_SIZE)
    try:
        # The data every read measurement reads back (written once, untimed).
        for e, factory in factories.items():
            engine = factory()
            engine.open(base / f"{e}-read")
            engine.append_batch(values)
            engine.sync()
            engine.close()
            step(f"{e}: prepare reads")
        for rep in range(config.repeat):
            for e, factory in factories.items():
                for op in ("append_batch", "append"):
                    rows[e, op].times_s.append(_time_write(factory, base / f"{e}-{op}-{rep}", op, values))
                    step(f"{e}: {op} ({rep + 1}/{config.repeat})")
                if e in array_engines:
                    t = _time_write(factory, base / f"{e}-array-{rep}", "append_batch_array", array)  # type: ignore[arg-type]
                    rows[e, ARRAY_OP].times_s.append(t)
                    step(f"{e}: {ARRAY_OP} ({rep + 1}/{config.repeat})")
                for op in ("records", "read_columns"):
                    rows[e, op].times_s.append(_time_read(factory, base / f"{e}-read", op, n))
                    step(f"{e}: {op} ({rep + 1}/{config.repeat})")
                    label = next((k for k, v in NO_CRC_OPS.items() if v == op), None)
                    if (e, label) in rows:
                        rows[e, label].times_s.append(_time_read(factory, base / f"{e}-read", f"{op}_no_crc", n))
                        step(f"{e}: {label} ({rep + 1}/{config.repeat})")
        for e in factories:
            shutil.rmtree(base / f"{e}-read", ignore_errors=True)

        big = make_values(large_n, LARGE_VALUE_SIZE, seed=11)
        for rep in range(config.repeat):
            raw.times_s.append(_raw_write(base / f"raw-{rep}", large_n * LARGE_VALUE_SIZE))
            step(f"raw disk ({rep + 1}/{config.repeat})")
            for e, factory in factories.items():
                large[e].times_s.append(_time_write(factory, base / f"{e}-1k-{rep}", "append_batch", big, durable=True))
                step(f"{e}: 1 KiB append_batch ({rep + 1}/{config.repeat})")
        del big
    finally:
        shutil.rmtree(base, ignore_errors=True)

    for row in [*rows.values(), *large.values(), raw]:
        row.finish()
    for (e, op), row in rows.items():
        base_op = "append_batch" if op == ARRAY_OP else NO_CRC_OPS.get(op, op)
        if (BASELINE, base_op) in rows:
            row.ratio = row.records_per_s / rows[BASELINE, base_op].records_per_s
        _grade(row)
        if op in NO_CRC_OPS:  # what checking costs: throughput lost by the checked row
            cost = 1 - rows[e, NO_CRC_OPS[op]].records_per_s / row.records_per_s
            row.goal = f"check costs {cost:+.0%} (<{CRC_COST_GOAL:.0%})"
            row.passed = cost < CRC_COST_GOAL
    raw.ratio = 1.0
    for row in large.values():
        row.ratio = row.mb_per_s / raw.mb_per_s
        row.note = "ratio = MB/s / raw disk MB/s"

    for e, factory in factories.items():
        note = getattr(factory(), "columns_note", "") if e != "pystream" else ""
        if note:
            notes.append(note)
    return BenchResult(
        config=asdict(config) | {"large_n": large_n, "engines": list(factories)},
        machine=machine_info(),
        rows=list(rows.values()),
        large=[*large.values(), raw],
        notes=notes,
        started=started,
        elapsed_s=time.perf_counter() - t_start,
    )


def total_steps(config: BenchConfig, engines: int, array_engines: int | None = None) -> int:
    """How many times ``run_benchmark`` calls ``progress`` (for a progress bar)."""
    if array_engines is None:
        array_engines = sum(e in ARRAY_ENGINES for e in config.engines)
    crc_rows = len(NO_CRC_OPS) if "pystream" in config.engines else 0
    return engines + config.repeat * (engines * len(OPERATIONS) + array_engines + crc_rows + 1 + engines)


def run_and_report(config: BenchConfig, console: Any = None, json_path: str | os.PathLike[str] | None = None,
                   markdown: bool = False) -> BenchResult:
    """The whole `pystream bench`: run with a progress bar, print the table, write JSON."""
    ok = available_engines(config.engines)[0]
    total = total_steps(config, len(ok), sum(e in ARRAY_ENGINES for e in ok))
    return report.run_and_report("bench", total, lambda step: run_benchmark(config, step), render_table, markdown_table,
                                 FOOTNOTES, console, json_path, markdown)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

FOOTNOTES = (
    "Best (minimum) of --repeat runs; repetitions interleaved across engines; fresh directory per write run.",
    "100-byte writes are timed until the data is handed to the OS: flush(fsync=False) (pystream, reference), "
    "file.flush() (naive), commit (sqlite WAL, synchronous=NORMAL). 1 KiB writes run until fsync: flush(), "
    "file.flush() + os.fsync, commit + PRAGMA wal_checkpoint(TRUNCATE), like the raw-disk row. Open/close untimed.",
    "Reads reopen the store (untimed) and read every record from offset 0; the files are in the page cache. "
    "pystream's records() and read_columns() check every batch's CRC32C (the default); the '(no CRC check)' rows "
    "pass verify_crc=False, and their goal column says what the check costs.",
    "records(): pystream/reference return Record(offset, timestamp, key, value, headers); naive returns "
    "(offset, value) tuples and does not check its CRC on read; sqlite returns fetchall() rows (offset, value).",
    "pystream and reference store Kafka RecordBatch v2 (timestamps, CRC32C per batch); naive stores "
    "length + zlib.crc32 per record; sqlite stores (offset, value).",
    "vs naive: records/s divided by the naive framed log's for the same operation in this run.",
    f"append_batch: a list of bytes, the same input for every engine; {ARRAY_OP}: the same values as one "
    "(N, value size) uint8 numpy array, an input only pystream takes (ratio against naive append_batch).",
)


COLUMNS: tuple[report.Column, ...] = (("engine", "left"), ("operation", "left"), ("records/s", "right"), ("MB/s", "right"),
                                      ("vs naive", "right"), ("goal", "left"), ("result", "left"))


def _cells(result: BenchResult, markup: bool) -> list[report.Cells]:
    """The table's rows: engine names in full and no colours in markdown (``markup`` False)."""
    out: list[report.Cells] = []
    last = None
    for row in result.rows:
        if last is not None and row.engine != last:
            out.append(None)
        last = row.engine
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        engine = row.engine if markup else ENGINE_LABELS.get(row.engine, row.engine)
        out.append([engine, row.operation, report.fmt_rate(row.records_per_s), f"{row.mb_per_s:,.0f}", ratio, row.goal,
                    report.verdict(row.passed, markup)])
    out.append(None)
    for row in result.large:
        rate = "" if row.engine == "raw" else report.fmt_rate(row.records_per_s)
        ratio = f"{row.ratio:.2f}x raw" if row.ratio is not None else ""
        engine = row.engine if markup else ENGINE_LABELS.get(row.engine, row.engine)
        out.append([engine, _large_op(row), rate, f"{row.mb_per_s:,.0f}", ratio, "", ""])
    return out


def render_table(result: BenchResult) -> Any:
    """The results as a rich renderable (a table, then the notes)."""
    cfg = result.config
    title = f"pystream storage benchmark: {cfg['n']:,} values of {cfg['value_size']} B, single thread"
    legend = "Engines: " + "; ".join(f"{k} = {v}" for k, v in ENGINE_LABELS.items() if k in cfg["engines"] or k == "raw")
    return report.rich_table(title, result, COLUMNS, _cells(result, True), (legend, *FOOTNOTES, *result.notes))


def _large_op(row: Measurement) -> str:
    if row.engine == "raw":
        return f"seq. write {row.n * row.value_size / 2**20:,.1f} MiB"
    return f"append_batch 1 KiB x {row.n:,}"


def markdown_table(result: BenchResult) -> str:
    """The same table as GitHub markdown (for docs/benchmarks.md)."""
    return report.markdown_table(COLUMNS, _cells(result, False))
