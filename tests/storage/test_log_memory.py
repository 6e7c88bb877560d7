"""Memory does not grow with the data: a log rolling segment after segment
keeps a bounded set of write buffers (none for segments no longer active).

Measured in a fresh process (RssAnon from /proc/self/status: anonymous
memory, not the mapped segment files), through 60 rolls of 1 MiB segments.
Before the bound, every segment kept up to 64 of its ~1 MiB write buffers
for its lifetime: the growth was about one segment's size per roll."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

ROLLS = 60
# Allowed growth over the 60 rolls; unbounded buffers grew by ~60 MiB here.
BOUND_KIB = 8 * 1024

SCRIPT = textwrap.dedent(
    """
    import sys
    from pystream import Log, _core

    def rss_anon_kib():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1])

    how, path, rolls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    log = Log.open(path, segment_bytes=1 << 20, index_interval_bytes=4096)
    big = _core.encode_batch([(1, None, b"x" * 1000, None)] * 250)  # ~250 KB, as a producer's batch
    values = [b"v" * 100] * 20_000  # ~2.4 MB of records per call

    def feed():
        if how == "append_raw":
            log.append_raw(big)
        else:
            log.append_batch(values, timestamp_ms=1)

    while len(log.segments()) < 4:  # warm up: allocators and pools reach their size
        feed()
    before = rss_anon_kib()
    target = len(log.segments()) + rolls
    while len(log.segments()) < target:
        feed()
    log.flush(fsync=False)
    print(before, rss_anon_kib(), len(log.segments()))
    log.close()
    """
)


@pytest.mark.parametrize("how", ["append_raw", "append_batch"])
def test_rss_stays_flat_through_many_rolls(tmp_path, how):
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, how, str(tmp_path / "t-0"), str(ROLLS)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    before, after, segments = map(int, out.stdout.split())
    assert segments >= ROLLS
    assert after - before < BOUND_KIB, f"RssAnon grew by {after - before} KiB over {ROLLS} rolls ({before} -> {after})"
