#!/usr/bin/env python
"""End-to-end storage benchmark: `pystream.bench.storage` with a progress bar, table, JSON.

Writes the raw results to benches/results/storage-latest.json (committed: the
figures in README.md and docs/benchmarks.md come from it) and prints the table,
plus the same table as markdown with ``--markdown``.

    python benches/run_storage.py                 # N=1,000,000, repeat 3
    python benches/run_storage.py --quick         # N=100,000
"""

from __future__ import annotations

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"  # before numpy is imported (via pystream)

import argparse
import sys
from pathlib import Path

from pystream.bench import storage as b

RESULTS = Path(__file__).resolve().parent / "results" / "storage-latest.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=None, help="values per measurement (default 1,000,000)")
    p.add_argument("--quick", action="store_true", help="N=100,000")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--engines", default=",".join(b.ENGINES))
    p.add_argument("--dir", default=None, help="where to put the temporary data")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"default {RESULTS}")
    p.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    args = p.parse_args(argv)

    n = args.n or (100_000 if args.quick else 1_000_000)
    config = b.BenchConfig(
        n=n,
        value_size=args.value_size,
        repeat=args.repeat,
        engines=tuple(e for e in args.engines.split(",") if e),
        dir=args.dir,
    )
    b.run_and_report(config, json_path=args.json, markdown=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
