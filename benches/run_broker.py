#!/usr/bin/env python
"""End-to-end broker benchmark: `pystream.bench.broker` with a progress bar, table, JSON.

confluent-kafka (librdkafka) producer and consumer against `pystream serve`
and against nafka (a pure-Python broker, PyPI), with the client's own
produce() ceiling measured in the same run. Writes the raw results to
benches/results/broker-latest.json and prints the table (plus markdown with
``--markdown``).

    python benches/run_broker.py                  # N=1,000,000, best of 5, nafka at N/5
    python benches/run_broker.py --quick          # N=100,000
    python benches/run_broker.py --install-nafka  # once: nafka + kafka-python 2.x in a directory of their own

nafka 0.1 needs kafka-python < 3 while pystream's test extra installs
kafka-python 3, so nafka lives apart (``pip install --target``, default
~/.cache/pystream/bench-nafka) and is run by benches/nafka_runner.py. Without
it the nafka rows are left empty and a note says why.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy is imported (via pystream)

import argparse
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "broker-latest.json"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=None, help="records per throughput phase (default 1,000,000)")
    p.add_argument("--quick", action="store_true", help="N=100,000")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--value-size", type=int, default=100)
    p.add_argument("--nafka-n", type=int, default=0, help="records per nafka phase (default N/5; records/s either way)")
    p.add_argument("--no-nafka", action="store_true", help="skip the nafka rows")
    p.add_argument("--nafka-path", default=None, help="directory holding nafka and kafka-python 2.x")
    p.add_argument("--install-nafka", action="store_true", help="pip install --target nafka + kafka-python 2.x first")
    p.add_argument("--latency-rate", type=int, default=10_000, help="records/s of the latency phase")
    p.add_argument("--latency-seconds", type=float, default=5.0)
    p.add_argument("--fetch-wait-max-ms", type=int, default=5, help="consumer fetch.wait.max.ms of the latency phase")
    p.add_argument("--timeout", type=float, default=180.0, help="seconds allowed per phase")
    p.add_argument("--dir", default=None, help="where the brokers' temporary data goes")
    p.add_argument("--broker-cprofile", default=None, metavar="PATH",
                   help="run the pystream broker under cProfile, stats to PATH (slows it: for finding hot spots only)")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"default {RESULTS}")
    p.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    args = p.parse_args(argv)

    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        print("the broker benchmark needs confluent-kafka: pip install confluent-kafka", file=sys.stderr)
        return 2
    from pystream.bench import broker as bb

    if args.install_nafka:
        print(f"nafka installed in {bb.install_nafka(args.nafka_path)}")
    config = bb.BrokerBenchConfig(
        n=args.n or (100_000 if args.quick else 1_000_000),
        value_size=args.value_size,
        repeat=args.repeat,
        nafka=not args.no_nafka,
        nafka_n=args.nafka_n,
        nafka_path=args.nafka_path,
        latency_rate=args.latency_rate,
        latency_seconds=args.latency_seconds,
        fetch_wait_max_ms=args.fetch_wait_max_ms,
        dir=args.dir,
        phase_timeout_s=args.timeout,
        broker_cprofile=args.broker_cprofile,
    )
    bb.run_and_report(config, json_path=args.json, markdown=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
