#!/usr/bin/env python3
"""Many partitions on one broker: 10,000 single-partition topics (see pystream.bench.partitions).

    python benches/run_partitions.py [--topics 10000] [--per-partition 10] [--json benches/results/partitions-latest.json]
"""

from __future__ import annotations

import argparse
import sys

from pystream.bench import partitions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topics", type=int, default=10_000)
    ap.add_argument("--per-partition", type=int, default=10, help="records per partition in each round")
    ap.add_argument("--dir", default=None, help="where the broker's temporary data goes")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    partitions.run_and_report(partitions.PartitionsBenchConfig(args.topics, args.per_partition, args.dir), json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
