"""`pystream dump-log`: prints a segment's batches and stops with an error at the first bad one."""

from pathlib import Path

from click.testing import CliRunner

import pystream
from pystream.cli import main


def test_dump_log_lists_batches_and_records(tmp_path: Path) -> None:
    with pystream.Log.open(tmp_path / "p", batch_size=64) as log:
        for i in range(5):
            log.append(b"value-%d" % i, key=b"k", timestamp_ms=1000 + i)
    seg = tmp_path / "p" / "00000000000000000000.log"
    r = CliRunner().invoke(main, ["dump-log", str(seg), "--records"])
    assert r.exit_code == 0, r.output
    assert r.output.count("offset 4 ") == 1 and "value-4" in r.output
    assert "all batches valid" in r.output


def test_dump_log_reports_the_first_corrupt_batch(tmp_path: Path) -> None:
    with pystream.Log.open(tmp_path / "p") as log:
        log.append(b"x", timestamp_ms=1)
    seg = tmp_path / "p" / "00000000000000000000.log"
    raw = bytearray(seg.read_bytes())
    raw[-1] ^= 0xFF
    seg.write_bytes(bytes(raw))
    r = CliRunner().invoke(main, ["dump-log", str(seg)])
    assert r.exit_code == 1
    assert "position 0: invalid batch" in r.output and "CRC32C" in r.output
