"""Appends records to a pystream.Log until killed (run by test_log_crash.py).

usage: crash_writer.py DIR MAX_RECORDS FLUSH_EVERY MAX_SECONDS [COMPRESSION]

Record at offset o has value `value_of(o)` (it encodes its offset) and key
b"k<o>". After each flush() the flushed end offset is printed on its own line
(line-buffered), so every offset below the last printed number was fsynced.
"""

from __future__ import annotations

import sys
import time

import pystream


def value_of(offset: int) -> bytes:
    head = b"v%012d:" % offset
    return head * (1 + offset % 7)


def main() -> int:
    path, max_records, flush_every, max_seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    compression = sys.argv[5] if len(sys.argv) > 5 else "none"
    sys.stdout.reconfigure(line_buffering=True)
    log = pystream.Log.open(path, segment_bytes=64 * 1024, index_interval_bytes=1024, batch_size=2048, compression_type=compression)
    print(f"start {log.end_offset}")
    deadline = time.monotonic() + max_seconds
    n = 0
    while n < max_records and time.monotonic() < deadline:
        off = log.end_offset
        got = log.append(value_of(off), key=b"k%d" % off, timestamp_ms=1_600_000_000_000 + off)
        assert got == off, (got, off)
        n += 1
        if n % flush_every == 0:
            log.flush()
            print(log.end_offset)
    log.close()
    print("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
