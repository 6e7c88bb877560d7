#!/usr/bin/env python
"""Cluster benchmark (`pystream.bench.cluster`, also `pystream bench --cluster`): ZooKeeper and three brokers
on loopback; RF=3 acks=all throughput as a ratio of RF=1, failover time after a leader SIGKILL (dominated by
--session-timeout-ms). Needs Debian's `zookeeper`.

    python benches/run_cluster.py [--n 300000] [--repeat 2] [--json benches/results/cluster-latest.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported (via pystream)

import argparse
import sys

from pystream.bench import cluster, procs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--rate", type=int, default=2000, help="records/s during the failover phase")
    ap.add_argument("--session-timeout-ms", type=int, default=4000)
    ap.add_argument("--dir", default=None, help="where the cluster's temporary data goes")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    why = procs.zookeeper_missing()
    if why:
        print(why, file=sys.stderr)
        return 1
    config = cluster.ClusterBenchConfig(n=args.n, repeat=args.repeat, rate=args.rate,
                                        session_timeout_ms=args.session_timeout_ms, dir=args.dir)
    cluster.run_and_report(config, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
