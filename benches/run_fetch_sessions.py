#!/usr/bin/env python
"""Fetch sessions benchmark (`pystream.bench.fetch_sessions`): broker CPU per Fetch over 1,000
partitions, full fetches against incremental fetch sessions (KIP-227), in the same run.

    python benches/run_fetch_sessions.py [--partitions 1000] [--fetches 200] [--repeat 3] [--markdown]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported (via pystream)

import argparse
import sys
from pathlib import Path

from pystream.bench import fetch_sessions

RESULTS = Path(__file__).resolve().parent / "results" / "fetch-sessions-latest.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", type=int, default=1000)
    ap.add_argument("--fetches", type=int, default=200, help="fetches per phase")
    ap.add_argument("--active", type=int, default=10, help="partitions that get a record before each fetch (active workload)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where the broker's temporary data goes")
    ap.add_argument("--json", type=Path, default=RESULTS, help=f"default {RESULTS}")
    ap.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    args = ap.parse_args(argv)
    config = fetch_sessions.FetchSessionsBenchConfig(partitions=args.partitions, fetches=args.fetches, active=args.active,
                                                     repeat=args.repeat, dir=args.dir)
    fetch_sessions.run_and_report(config, json_path=args.json, markdown=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
