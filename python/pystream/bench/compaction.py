"""Log compaction throughput (docs/benchmarks.md, "Compaction").

A partition log of ``log_bytes`` (1 GiB) of ``value_size``-byte values (100 B) over
``keys`` keys (100,000), written in sealed segments of ``segment_bytes``, is cleaned
in one round by the Rust log cleaner (`PartitionLog.clean`: the key -> offset map
over the whole dirty section, then every segment rewritten and swapped in). The
throughput is the bytes of the cleaned segments over the round's wall time (Kafka's
"MB of log processed ... MB/sec"), beside the plain sequential-read bandwidth of the
same files in the same run (``readinto`` of 1 MiB chunks):

- cold: the files are evicted from the page cache first (fsync, then
  posix_fadvise DONTNEED on our own files only), so both read the disk;
- warm: right after writing the log (its pages still cached), for the CPU cost.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystream.bench import report
from pystream.storage.log import Log

MB = 1024 * 1024


@dataclass
class CompactionBenchConfig:
    log_bytes: int = 1 << 30
    keys: int = 100_000
    value_size: int = 100
    segment_bytes: int = 128 * MB
    dedupe_buffer_bytes: int = 128 * MB  # Kafka's log.cleaner.dedupe.buffer.size
    dir: str | None = None


def _segment_files(path: Path) -> list[Path]:
    return sorted(path.glob("*.log"))


def _evict(path: Path) -> None:
    """Drops our own files from the page cache (written back first)."""
    for f in path.iterdir():
        if f.is_file():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fsync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _sequential_read(files: list[Path]) -> tuple[int, float]:
    """Bytes read and seconds for reading `files` front to back in 1 MiB chunks."""
    buf = bytearray(MB)
    total = 0
    t0 = time.perf_counter()
    for f in files:
        with open(f, "rb", buffering=0) as fh:
            while n := fh.readinto(buf):
                total += n
    return total, time.perf_counter() - t0


def _build(path: Path, c: CompactionBenchConfig) -> Log:
    """Writes at least ``log_bytes`` in sealed segments, then a little into the active one."""
    log = Log.open(path, segment_bytes=c.segment_bytes)
    keys = [b"key-%08d" % i for i in range(c.keys)]
    value = b"v" * c.value_size
    round_no = 0
    while sum(size for _, size in log.segments()[:-1]) < c.log_bytes:
        # Every key gets a new value each round: all but the last round's are obsolete.
        log.append_batch([value] * c.keys, keys=keys, timestamp_ms=1_700_000_000_000 + round_no)
        round_no += 1
    log.append_batch([value] * 10, keys=keys[:10])
    log.flush()
    return log


def _run_once(c: CompactionBenchConfig, root: Path, cold: bool) -> dict[str, Any]:
    path = root / ("cold" if cold else "warm") / "compacted-0"
    log = _build(path, c)
    try:
        segments = log.segments()
        cleanable = sum(size for _, size in segments[:-1])
        files = _segment_files(path)[:-1]  # the sealed segments: what the cleaner reads
        if cold:
            _evict(path)
        read_bytes, read_s = _sequential_read(files)
        if cold:
            _evict(path)
        load = os.getloadavg()[0]
        t0, cpu0 = time.perf_counter(), time.process_time()
        stats = log.clean(0, dedupe_buffer_bytes=c.dedupe_buffer_bytes)
        clean_s, clean_cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
        after = log.segments()
        return {
            "cache": "cold" if cold else "warm",
            "log_bytes": cleanable,
            "segments_before": len(segments),
            "segments_after": len(after),
            "records_read": stats["records_read"],
            "records_written": stats["records_written"],
            "bytes_after": sum(size for _, size in after[:-1]),
            "clean_s": clean_s,
            "clean_cpu_s": clean_cpu_s,  # this process's CPU time: the cleaning alone runs meanwhile
            "load_average": load,
            "map_s": stats["map_elapsed_s"],
            "clean_mb_s": cleanable / MB / clean_s,
            "clean_mb_per_cpu_s": cleanable / MB / clean_cpu_s,
            "clean_records_per_s": stats["records_read"] / clean_s,
            "read_mb_s": read_bytes / MB / read_s,
            "clean_vs_read": (cleanable / clean_s) / (read_bytes / read_s),
        }
    finally:
        log.close()
        shutil.rmtree(path.parent, ignore_errors=True)


def run_compaction_benchmark(c: CompactionBenchConfig, progress: report.ProgressFn | None = None) -> dict[str, Any]:
    step = progress or (lambda _s: None)
    root = Path(tempfile.mkdtemp(prefix="pystream-compaction-bench-", dir=c.dir))
    try:
        step("warm: writing the log, reading it, cleaning it")
        warm = _run_once(c, root, cold=False)
        step("cold: writing the log, evicting it, reading it, cleaning it")
        cold = _run_once(c, root, cold=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"machine": report.machine_info(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "config": vars(c),
            "runs": [cold, warm]}


def _rows(r: dict[str, Any]) -> list[list[str]]:
    return [[run["cache"], f"{run['log_bytes'] / MB:,.0f} MB", f"{run['records_read'] / 1e6:.1f}M",
             f"{run['clean_s']:.2f} s ({run['map_s']:.2f} s map)", f"{run['clean_mb_s']:,.0f} MB/s",
             f"{run['clean_mb_per_cpu_s']:,.0f} MB/s", f"{run['load_average']:.1f}",
             f"{run['read_mb_s']:,.0f} MB/s", f"{run['clean_vs_read']:.2f}x",
             f"{run['bytes_after'] / MB:,.1f} MB, {run['records_written']:,} records"] for run in r["runs"]]


COLUMNS = [("page cache", "left"), ("log", "right"), ("records", "right"), ("cleaning time", "right"),
           ("cleaning", "right"), ("per CPU second", "right"), ("load", "right"), ("sequential read", "right"),
           ("cleaning / read", "right"), ("after", "right")]


def render(r: dict[str, Any]) -> Any:
    from types import SimpleNamespace

    c = r["config"]
    title = (f"log compaction: {c['log_bytes'] / MB / 1024:.0f} GiB of {c['value_size']} B values over {c['keys']:,} keys, "
             f"one round, {c['dedupe_buffer_bytes'] // MB} MB dedupe buffer")
    return report.rich_table(title, SimpleNamespace(machine=r["machine"], started=r["started"]), COLUMNS, _rows(r), NOTES)


def markdown(r: dict[str, Any]) -> str:
    return report.markdown_table(COLUMNS, _rows(r))


NOTES = ("cleaning = bytes of the cleaned segments / wall time of the round (map + rewrite + swaps), Kafka's measure",
         "per CPU second = the same bytes / the CPU time the round used (the machine is shared: load = 1-minute load average)",
         "sequential read = the same segment files read front to back in 1 MiB chunks, in the same run",
         "cold: our files evicted from the page cache (fsync + POSIX_FADV_DONTNEED) before each")


def run_and_report(c: CompactionBenchConfig, console: Any = None, json_path: str | Path | None = None,
                   markdown_out: bool = False) -> dict[str, Any]:
    return report.run_and_report("compaction bench", 2, lambda step: run_compaction_benchmark(c, step), render, markdown,
                                 NOTES, console, json_path, markdown_out)
