"""Cleans a compacted pystream.Log over and over until killed (run by test_compaction_crash.py).

usage: crash_cleaner.py DIR

Prints "ready" once the log is open, then runs cleaning rounds (a small offset
map, so a log needs several; throttled, so they take a while) from checkpoint
to checkpoint, starting again from the log start when a pass is done. It never
appends: every record it may lose or keep is one the parent wrote.
"""

from __future__ import annotations

import sys

import pystream

SEGMENT_BYTES = 8192


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    log = pystream.Log.open(sys.argv[1], segment_bytes=SEGMENT_BYTES, index_interval_bytes=512)
    print("ready")
    first_dirty = log.start_offset
    while True:
        stats = log.clean(first_dirty, dedupe_buffer_bytes=24 * 400, load_factor=0.5, delete_retention_ms=0,
                          io_max_bytes_per_sec=2_000_000)
        first_dirty = log.start_offset if stats["end_offset"] <= first_dirty else stats["end_offset"]


if __name__ == "__main__":
    sys.exit(main())
