"""The README's table of Kafka APIs and versions served is SUPPORTED_VERSIONS, the list the broker advertises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_api_table_matches_supported_versions() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_readme_apis.py"), "--check"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
