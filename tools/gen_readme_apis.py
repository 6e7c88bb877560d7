#!/usr/bin/env python3
"""Rewrite the table of Kafka APIs served in README.md (between the api-versions markers)
from `pystream.server.apis.common.SUPPORTED_VERSIONS`, the one list the broker advertises.

    python tools/gen_readme_apis.py          # rewrite README.md
    python tools/gen_readme_apis.py --check  # exit 1 when README.md is out of date (tests/test_readme_apis.py)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pystream.protocol import get_message
from pystream.server.apis.common import SUPPORTED_VERSIONS

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- api-versions:start (tools/gen_readme_apis.py) -->", "<!-- api-versions:end -->"


def table() -> str:
    lines = ["| key | API | versions served | Kafka's latest |", "| ---: | --- | --- | ---: |"]
    for key, (lo, hi) in sorted(SUPPORTED_VERSIONS.items()):
        msg = get_message(key, "request")
        lines.append(f"| {key} | {msg.name.removesuffix('Request')} | {lo}-{hi} | {msg.valid[1]} |")
    return "\n".join(lines)


def rewrite(text: str) -> str:
    head, sep, rest = text.partition(START)
    _old, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    text = README.read_text()
    new = rewrite(text)
    if args.check:
        if new != text:
            print("README.md's API table is out of date: run python tools/gen_readme_apis.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
