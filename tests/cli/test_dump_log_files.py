"""`pystream dump-log` on a partition's .index and .timeindex files, and --verify (the storage core's check)."""

from __future__ import annotations

import struct
from pathlib import Path

from click.testing import CliRunner, Result

import pystream
from pystream._core import batch_headers
from pystream.cli import main


def _dump(*args: str) -> Result:
    return CliRunner().invoke(main, ["dump-log", *args])


def _partition(tmp_path: Path, open_log: bool = False) -> tuple[Path, list[dict]]:  # type: ignore[type-arg]
    """A partition with many small batches and an index entry every ~200 bytes."""
    log = pystream.Log.open(tmp_path / "p", index_interval_bytes=200, batch_size=2)
    for i in range(40):
        log.append(b"v" * 50, timestamp_ms=1000 + i * 10)
    log.flush()
    if not open_log:
        log.close()
    seg = tmp_path / "p" / "00000000000000000000.log"
    return seg, batch_headers(seg.read_bytes())


def test_dump_offset_and_time_index(tmp_path: Path) -> None:
    seg, batches = _partition(tmp_path)
    r = _dump(str(seg.with_suffix(".index")), "--verify")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert "offset index (offset -> position), base offset 0" in lines[0]
    entries = [(int(line.split()[1]), int(line.split()[3])) for line in lines if line.startswith("offset:")]
    assert len(entries) > 3
    by_position = {h["position"]: h["last_offset"] for h in batches}
    assert all(by_position[pos] == off for off, pos in entries)  # each entry: a batch's last offset -> its position
    assert f"{len(entries)} entries" in r.output and "agree with 00000000000000000000.log" in r.output

    r = _dump(str(seg.with_suffix(".timeindex")), "--verify")
    assert r.exit_code == 0, r.output
    assert "time index (timestamp -> offset)" in r.output.splitlines()[0]
    times = [(int(line.split()[1]), int(line.split()[3])) for line in r.output.splitlines() if line.startswith("timestamp:")]
    assert len(times) > 3 and times == sorted(times)
    last = {h["last_offset"]: h["max_timestamp"] for h in batches}
    assert all(last[off] == ts for ts, off in times)


def test_preallocated_index_of_an_open_log(tmp_path: Path) -> None:
    seg, _ = _partition(tmp_path, open_log=True)  # the active segment's index is preallocated
    index = seg.with_suffix(".index")
    r = _dump(str(index))
    assert r.exit_code == 0, r.output
    n = sum(1 for line in r.output.splitlines() if line.startswith("offset:"))
    assert n > 3 and f"{n} entries, then {index.stat().st_size - 8 * n} bytes of preallocated space" in r.output


def test_verify_finds_damaged_index_and_segment(tmp_path: Path) -> None:
    seg, _ = _partition(tmp_path)
    index = seg.with_suffix(".index")
    raw = bytearray(index.read_bytes())
    struct.pack_into(">I", raw, 12, struct.unpack_from(">I", raw, 12)[0] + 3)  # entry 1 points 3 bytes off
    index.write_bytes(bytes(raw) + b"\x01\x02")
    r = _dump(str(index), "--verify")
    assert r.exit_code == 1
    assert "no batch starts there" in r.output and "2 trailing bytes are not a whole 8-byte entry" in r.output
    assert _dump(str(index)).exit_code == 0  # without --verify it only prints

    timeindex = seg.with_suffix(".timeindex")
    raw = bytearray(timeindex.read_bytes())
    struct.pack_into(">q", raw, 12, 5)  # entry 1 earlier than entry 0
    timeindex.write_bytes(bytes(raw))
    r = _dump(str(timeindex), "--verify")
    assert r.exit_code == 1 and "entry 1 does not increase" in r.output and "largest timestamp up to there" in r.output

    # --verify on a .log: the storage core's verify_segment, beyond the CRC (here: offsets going back)
    data = bytearray(seg.read_bytes())
    good = _dump(str(seg), "--verify")
    assert good.exit_code == 0 and "verified: all batches valid" in good.output
    first, second = batch_headers(bytes(data))[:2]
    struct.pack_into(">q", data, second["position"], first["base_offset"])  # the base offset is outside the CRC
    seg.write_bytes(bytes(data))
    assert _dump(str(seg)).exit_code == 0  # every CRC still holds
    r = _dump(str(seg), "--verify")
    assert r.exit_code == 1 and f"verify: position {second['position']}" in r.output


def test_other_files_are_refused_with_what_dump_log_reads(tmp_path: Path) -> None:
    _partition(tmp_path)
    r = _dump(str(tmp_path / "p" / "recovery-point-offset-checkpoint"))
    assert r.exit_code == 1
    assert "is not a segment file: dump-log reads NNNNNNNNNNNNNNNNNNNN.log (record batches), .index" in r.output


def test_empty_preallocated_index(tmp_path: Path) -> None:
    log = pystream.Log.open(tmp_path / "p")
    try:
        log.append(b"one", timestamp_ms=5)  # one batch: never indexed
        log.flush()
        index = tmp_path / "p" / "00000000000000000000.index"
        r = _dump(str(index), "--verify")
        assert r.exit_code == 0, r.output
        assert f"0 entries, then {index.stat().st_size} bytes of preallocated space" in r.output
        assert "offset:" not in r.output
    finally:
        log.close()
