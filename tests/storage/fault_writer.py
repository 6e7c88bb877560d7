"""Appends to a pystream.Log on command (run by test_log_full_disk.py, killed with SIGKILL).

usage: fault_writer.py DIR

Reads commands on stdin, one a line, and answers on stdout (line-buffered):
- ``fill``: appends batches of 50 records with `append_raw` until the disk
  is full; answers ``full <end_offset> <errno>``;
- ``more N``: appends N records with `append_batch` then `flush(fsync=False)`;
  answers ``ok <end_offset>`` or ``error <errno> <end_offset>``.
The record at offset o has value `value_of(o)`, so any loss, duplicate or
move of an acknowledged record is visible. An answer is sent only after the
call returned, so every offset below it is acknowledged.
"""

from __future__ import annotations

import sys

from pystream import Log, _core
from pystream.errors import LogWriteError


def value_of(offset: int) -> bytes:
    return b"w%010d;" % offset * (1 + offset % 5)


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)
    log = Log.open(sys.argv[1], segment_bytes=32 * 1024, segment_index_bytes=4096, index_interval_bytes=512)
    print(f"start {log.end_offset}")
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] == "fill":
            while True:
                end = log.end_offset
                batch = _core.encode_batch([(1_700_000_000_000 + o, None, value_of(o), None) for o in range(end, end + 50)])
                try:
                    assert log.append_raw(batch) == end
                except LogWriteError as e:
                    assert log.end_offset == end
                    print(f"full {end} {e.errno}")
                    break
        elif cmd[0] == "more":
            end = log.end_offset
            try:
                values = [value_of(o) for o in range(end, end + int(cmd[1]))]
                assert log.append_batch(values, timestamp_ms=1_700_000_000_000) == end
            except LogWriteError as e:
                print(f"error {e.errno} {log.end_offset}")
                continue
            # The last, partly filled batch waits in memory until sealed: hand it
            # to the OS, so that everything acknowledged survives kill -9.
            log.flush(fsync=False)
            print(f"ok {log.end_offset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
