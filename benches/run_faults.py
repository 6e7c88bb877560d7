"""The randomized fault test, long: tests/cluster_e2e/test_faults.py with more time under faults.

Runs the test (ZooKeeper and three `pystream serve` brokers, a nemesis killing, pausing and
partitioning brokers and pausing ZooKeeper) for --seconds of faults, once per seed, and prints
its figures: faults applied by kind, records acknowledged, lost (0) and duplicated (0), seconds
to converge. A failing seed is printed and replays with --seed.

    python benches/run_faults.py [--seconds 600] [--runs 1] [--seed N] [--json benches/results/faults-latest.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_once(seed: int, seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="pystream-faults-") as tmp:
        report = Path(tmp) / "report.json"
        env = {**os.environ, "PYSTREAM_FAULTS_SEED": str(seed), "PYSTREAM_FAULTS_SECONDS": str(seconds),
               "PYSTREAM_FAULTS_REPORT": str(report)}
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                            "tests/cluster_e2e/test_faults.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                           check=False)
        if r.returncode != 0 or not report.exists():
            log = Path(tempfile.gettempdir()) / f"pystream-faults-{seed}.log"
            log.write_text(r.stdout + r.stderr)
            lines = [line for line in (r.stdout + r.stderr).splitlines() if not line.startswith("%")]
            errors = [line for line in lines if line.startswith("E ")][:30]
            return {"seed": seed, "passed": False, "output": "\n".join(errors + lines[-20:]) + f"\n(full output: {log})"}
        return {**json.loads(report.read_text()), "passed": True}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600, help="seconds of faults per run")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=None, help="the first run's seed (the next ones are random)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results = []
    for i in range(args.runs):
        seed = args.seed if i == 0 and args.seed is not None else random.randrange(1 << 32)
        res = run_once(seed, args.seconds)
        results.append(res)
        if res["passed"]:
            print(f"seed {seed}: passed: faults {res['faults']}, acknowledged {res['records_acknowledged']}, "
                  f"lost {res['lost']}, duplicated {res['duplicated']}, converged in {res['converged_s']} s, "
                  f"network partitions {res['network_partitions']}")
        else:
            print(f"seed {seed}: FAILED (replay: python benches/run_faults.py --seed {seed} --seconds {args.seconds:g})\n"
                  f"{res['output']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    sys.exit(0 if all(r["passed"] for r in results) else 1)


if __name__ == "__main__":
    main()
