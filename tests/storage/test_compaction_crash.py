"""SIGKILL of a process in the middle of log cleaning, at random moments: the log
reopens valid (recovery finishes or undoes the interrupted swap) with the latest
value of every key, and no file of the swap protocol is left behind."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from pystream._core import batch_headers
from pystream.storage.log import Log

HERE = Path(__file__).parent
ROUNDS = 10
KEYS = 1_500


def value(key: int, version: int) -> bytes:
    return (b"%d:%d:" % (key, version)).ljust(60 + key % 50, b"*")


def check(log: Log, latest: dict[bytes, bytes], deleted: set[bytes]) -> None:
    """Every batch is whole and CRC-valid; each key's latest value is there (deleted keys
    have no value); every record is one that was written, at its own offset."""
    seen: dict[bytes, bytes | None] = {}
    pos, last = log.start_offset, -1
    while pos < log.end_offset:
        chunk = log.read(pos, 1 << 20)
        if len(chunk) == 0:
            break
        heads = batch_headers(chunk)  # raises on a torn or corrupt batch
        pos = heads[-1]["last_offset"] + 1
    for r in log.records(log.start_offset, max_offset=log.end_offset):
        assert r.offset > last
        last = r.offset
        k = int(r.key.split(b"-")[1])
        assert r.value is None or r.value == value(k, r.offset), f"record at {r.offset} is not the one written there"
        seen[r.key] = r.value
    for k, v in latest.items():
        assert seen.get(k) == v, f"{k!r}: latest value {v[:12]!r} lost (have {seen.get(k, b'<none>')[:12]!r})"
    for k in deleted:
        assert seen.get(k) is None


def test_sigkill_during_cleaning_leaves_a_valid_log(tmp_path: Path) -> None:
    rng = random.Random(1234)
    path = tmp_path / "t-0"
    latest: dict[bytes, bytes] = {}
    deleted: set[bytes] = set()
    version = 0
    kills_while_busy = 0
    mid_swap = 0  # kills that left files of the swap protocol for recovery
    for round_no in range(ROUNDS):
        with Log.open(path, segment_bytes=8192, index_interval_bytes=512) as log:
            assert not [p.name for p in path.iterdir() if p.suffix in (".cleaned", ".swap", ".deleted")]
            check(log, latest, deleted)
            # New versions of a random third of the keys, a few tombstones, then a segment roll.
            for k in rng.sample(range(KEYS), KEYS // 3):
                key = b"key-%d" % k
                off = log.end_offset
                if rng.random() < 0.03:
                    log.append(None, key=key)
                    latest.pop(key, None)
                    deleted.add(key)
                else:
                    log.append(value(k, off), key=key)
                    latest[key] = value(k, off)
                    deleted.discard(key)
                version += 1
            log.flush()
        child = subprocess.Popen([sys.executable, str(HERE / "crash_cleaner.py"), str(path)], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
            time.sleep(rng.uniform(0.05, 0.8))
            kills_while_busy += child.poll() is None
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            child.kill()
            child.wait(10)
        mid_swap += any(p.suffix in (".cleaned", ".swap", ".deleted") for p in path.iterdir())
    assert kills_while_busy == ROUNDS, "the child was cleaning when killed"
    assert mid_swap >= ROUNDS // 2, f"only {mid_swap} kills landed while a cleaned segment was being written or swapped"
    with Log.open(path, segment_bytes=8192, index_interval_bytes=512) as log:
        check(log, latest, deleted)
        size = log.size_bytes
        first = 0
        for _ in range(50):  # finish the job in-process: the log still cleans down
            stats = log.clean(first, delete_retention_ms=0)
            if stats["end_offset"] <= first:
                break
            first = stats["end_offset"]
        check(log, latest, deleted)
        assert log.size_bytes < size
