#!/usr/bin/env python3
"""Transactional produce throughput as a ratio of the idempotent producer (see pystream.bench.transactions).

    python benches/run_transactions.py [--n 200000] [--txn-size 1000] [--repeat 3] [--json benches/results/transactions-latest.json]
"""

from __future__ import annotations

import argparse
import sys

from pystream.bench import transactions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="records per run")
    ap.add_argument("--txn-size", type=int, default=1_000, help="records per transaction")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each producer (interleaved; the best counts)")
    ap.add_argument("--quick", action="store_true", help="N=50,000, 2 runs each")
    ap.add_argument("--dir", default=None, help="where the broker's temporary data goes")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    n, repeat = (50_000, 2) if args.quick else (args.n, args.repeat)
    transactions.run_and_report(transactions.TxnBenchConfig(n, args.txn_size, repeat, args.dir), json_path=args.json,
                                markdown_out=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
