#!/usr/bin/env python3
"""Log compaction throughput (see pystream.bench.compaction): a 1 GiB log of 100-byte
values over 100,000 keys cleaned in one round, beside the sequential-read bandwidth of
the same files in the same run, with the page cache cold and warm.

    python benches/run_compaction.py [--log-mb 1024] [--keys 100000] [--json benches/results/compaction-latest.json] [--markdown]
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy is imported (via pystream)

import argparse
import sys
from pathlib import Path

from pystream.bench import compaction

RESULTS = Path(__file__).resolve().parent / "results" / "compaction-latest.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log-mb", type=int, default=1024, help="bytes of sealed segments to clean, in MiB")
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--value-size", type=int, default=100)
    ap.add_argument("--segment-mb", type=int, default=128)
    ap.add_argument("--dedupe-mb", type=int, default=128, help="log.cleaner.dedupe.buffer.size in MiB")
    ap.add_argument("--dir", default=None, help="where the temporary log goes")
    ap.add_argument("--json", type=Path, default=RESULTS, help=f"default {RESULTS}")
    ap.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    args = ap.parse_args(argv)
    config = compaction.CompactionBenchConfig(log_bytes=args.log_mb << 20, keys=args.keys, value_size=args.value_size,
                                              segment_bytes=args.segment_mb << 20, dedupe_buffer_bytes=args.dedupe_mb << 20,
                                              dir=args.dir)
    compaction.run_and_report(config, json_path=args.json, markdown_out=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
