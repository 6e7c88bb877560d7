"""Crash safety and recovery of the Rust log: real processes killed with
SIGKILL, and damaged segment files reopened without a clean shutdown."""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import log_files as H  # tests/storage/log_files.py
import pystream
from pystream import _core
from pystream.errors import CorruptRecordError


Log = pystream.Log
WRITER = Path(__file__).with_name("crash_writer.py")


def writer_value(offset: int) -> bytes:
    head = b"v%012d:" % offset
    return head * (1 + offset % 7)


def check_writer_log(d: Path, flushed: int) -> int:
    """Reopens after a crash: everything up to `flushed` is there and intact."""
    log = Log.open(d)
    try:
        end = log.end_offset
        assert end >= flushed, f"lost flushed records: end {end} < flushed {flushed}"
        assert log.start_offset == 0
        recs = log.records(0)
        assert [r.offset for r in recs] == list(range(end))
        for r in recs:
            assert r.value == writer_value(r.offset), r.offset
            assert r.key == b"k%d" % r.offset
            assert r.timestamp == 1_600_000_000_000 + r.offset
        # the log accepts new appends after recovery, at the next offset
        assert log.append(writer_value(end), key=b"k%d" % end, timestamp_ms=1_600_000_000_000 + end) == end
        log.flush()
        assert log.records(end) == [(end, 1_600_000_000_000 + end, b"k%d" % end, writer_value(end), ())]
    finally:
        log.close()
    return end + 1


def run_and_kill(d: Path, rng: random.Random, compression: str, lines_before_kill: int, flush_every: int) -> tuple[int, int]:
    """Starts the writer, waits for `lines_before_kill` flush reports (plus a
    random few ms), SIGKILLs it; returns (last flushed offset printed, start)."""
    p = subprocess.Popen(
        [sys.executable, str(WRITER), str(d), "10000000", str(flush_every), "8", compression],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    flushed = None
    start = None
    try:
        first = p.stdout.readline()
        assert first.startswith("start "), first + p.stderr.read()
        start = int(first.split()[1])
        flushed = start
        for _ in range(lines_before_kill):
            line = p.stdout.readline()
            if not line or line.strip() == "done":
                break
            flushed = int(line)
        time.sleep(rng.random() * 0.02)
        p.send_signal(signal.SIGKILL)
        # lines printed between the last read and the kill count as well
        rest, err = p.communicate(timeout=10)
        for line in rest.splitlines():
            if line.strip().isdigit():
                flushed = int(line)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == -signal.SIGKILL, (p.returncode, err)
    return flushed, start


def test_sigkill_rounds(tmp_path):
    d = tmp_path / "crash-0"
    rng = random.Random(1234)
    t0 = time.monotonic()
    expected_next = 0
    rounds = 0
    for rnd in range(8):
        if time.monotonic() - t0 > 14:
            break
        compression = "lz4" if rnd % 4 == 3 else "none"
        flush_every = rng.choice([1, 7, 50, 300])
        flushed, start = run_and_kill(d, rng, compression, rng.randint(1, 40), flush_every)
        assert start == expected_next  # the previous round's check appended one record
        expected_next = check_writer_log(d, flushed)
        rounds += 1
    assert rounds >= 4
    assert expected_next > 100
    # several segments were written and rolled
    assert len(H.segment_bases(d)) >= 2


def test_sigkill_without_any_flush(tmp_path):
    """Killed before any flush: whatever reached the file is kept if intact,
    and the log opens (the recovery point is 0, every segment is re-read)."""
    d = tmp_path / "crash-1"
    rng = random.Random(5)
    flushed, _ = run_and_kill(d, rng, "none", 0, 10**9)
    assert flushed == 0
    # let the writer run a little before the kill
    p = subprocess.Popen([sys.executable, str(WRITER), str(d), "10000000", str(10**9), "8"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("start")
    time.sleep(0.3)
    p.kill()
    p.communicate()
    check_writer_log(d, 0)


# ----------------------------------------------------------------------------
# damaged files


def build_log(d: Path, n: int = 300, **cfg) -> list:
    cfg.setdefault("batch_size", 400)
    cfg.setdefault("index_interval_bytes", 512)
    log = Log.open(d, **cfg)
    for o in range(n):
        log.append(H.value_of(o, 30 + o % 50), key=b"k%d" % o, timestamp_ms=50_000 + o)
    recs = [r.as_tuple() for r in log.records(0)]
    log.close()
    return recs


def unclean(d: Path) -> None:
    (d / ".clean_shutdown").unlink()


def reopen_and_check(d: Path, recs: list, keep_upto: int, caplog, must_warn: bool, **cfg) -> None:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pystream.storage"):
        log = Log.open(d, **cfg)
    try:
        assert log.end_offset == keep_upto
        assert log.records(0) == recs[:keep_upto]
        warnings = [r for r in caplog.records if r.name == "pystream.storage" and r.levelno == logging.WARNING]
        if must_warn:
            assert warnings, "recovery cut bytes without a WARNING"
        # indexes rebuilt: lookups at every offset work
        for o in range(0, keep_upto):
            mv = log.read(o, max_bytes=1)
            h = _core.batch_headers(mv)[0]
            assert h["base_offset"] <= o <= h["last_offset"]
        for o in range(0, keep_upto, 13):
            assert log.records(o, max_records=4) == recs[o : o + 4]
        assert log.offset_for_timestamp(50_000 + keep_upto // 2) == (keep_upto // 2 if keep_upto else None)
        # the recovered log takes appends at the cut
        assert log.append(b"after", timestamp_ms=1) == keep_upto
    finally:
        log.close()
    H.check_index_files(d, cfg.get("index_interval_bytes", 4096))
    return warnings


def last_segment(d: Path) -> Path:
    return d / H.seg_name(H.segment_bases(d)[-1], "log")


def warning_names(warnings, path: Path, position: int) -> None:
    text = " ".join(w.getMessage() for w in warnings)
    assert path.name in text, text
    assert f"position {position}" in text, text


def test_truncated_tail(tmp_path, caplog):
    src = tmp_path / "src-0"
    recs = build_log(src)
    seg = last_segment(src)
    batches = H.parse_batches(seg.read_bytes())
    last = batches[-1]
    assert len(batches) > 3
    cuts = sorted(set(list(range(last.position + 1, last.position + last.size, 17)) + [last.position + 1, last.position + 11, last.position + 12, last.position + 60, last.position + 61, last.position + last.size - 1]))
    for cut in cuts:
        d = tmp_path / f"cut-{cut}"
        shutil.copytree(src, d)
        unclean(d)
        os.truncate(d / seg.name, cut)
        w = reopen_and_check(d, recs, last.base_offset, caplog, True, index_interval_bytes=512)
        warning_names(w, d / seg.name, last.position)
        shutil.rmtree(d)
    # cut exactly at the batch boundary: nothing torn, the batch is simply absent
    d = tmp_path / "cut-boundary"
    shutil.copytree(src, d)
    unclean(d)
    os.truncate(d / seg.name, last.position)
    reopen_and_check(d, recs, last.base_offset, caplog, False, index_interval_bytes=512)


@pytest.mark.parametrize("where", ["length", "magic", "crc", "attributes", "record", "last-byte"])
def test_flipped_bytes_in_last_batch(tmp_path, caplog, where):
    src = tmp_path / "src-0"
    recs = build_log(src)
    seg = last_segment(src)
    last = H.parse_batches(seg.read_bytes())[-1]
    at = {"length": 8, "magic": 16, "crc": 18, "attributes": 22, "record": 70, "last-byte": last.size - 1}[where]
    d = tmp_path / "flip"
    shutil.copytree(src, d)
    unclean(d)
    with open(d / seg.name, "r+b") as f:
        f.seek(last.position + at)
        b = f.read(1)
        f.seek(last.position + at)
        f.write(bytes([b[0] ^ 0x5A]))
    w = reopen_and_check(d, recs, last.base_offset, caplog, True, index_interval_bytes=512)
    warning_names(w, d / seg.name, last.position)


def test_zeroed_page_in_middle_of_active_segment(tmp_path, caplog):
    src = tmp_path / "src-0"
    recs = build_log(src, n=600)
    seg = last_segment(src)
    data = seg.read_bytes()
    assert len(data) > 3 * 4096
    batches = H.parse_batches(data)
    page = (len(data) // 2) // 4096 * 4096
    first_bad = next(b for b in batches if b.position + b.size > page)
    d = tmp_path / "zero"
    shutil.copytree(src, d)
    unclean(d)
    with open(d / seg.name, "r+b") as f:
        f.seek(page)
        f.write(b"\0" * 4096)
    w = reopen_and_check(d, recs, first_bad.base_offset, caplog, True, index_interval_bytes=512)
    warning_names(w, d / seg.name, first_bad.position)
    # the cut is at the first damaged batch; the record appended after reopen follows it
    assert H.parse_batches((d / seg.name).read_bytes())[-1].position == first_bad.position


@pytest.mark.parametrize("garbage", [b"\x00", b"\x00" * 11, b"\x00" * 100, b"\xff" * 70, "random", "fake-header"])
def test_garbage_after_last_batch(tmp_path, caplog, garbage):
    src = tmp_path / "src-0"
    recs = build_log(src)
    seg = last_segment(src)
    size = seg.stat().st_size
    if garbage == "random":
        garbage = random.Random(7).randbytes(3000)
    elif garbage == "fake-header":
        # a header announcing a batch longer than the file: torn
        garbage = struct.pack(">qii", len(recs), 5000, 0) + b"\x02" + b"\x00" * 48
    d = tmp_path / "garbage"
    shutil.copytree(src, d)
    unclean(d)
    with open(d / seg.name, "ab") as f:
        f.write(garbage)
    w = reopen_and_check(d, recs, len(recs), caplog, True, index_interval_bytes=512)
    warning_names(w, d / seg.name, size)
    assert H.parse_batches((d / seg.name).read_bytes())[-1].position == size


def test_garbage_after_clean_shutdown_is_cut_too(tmp_path, caplog):
    src = tmp_path / "src-0"
    recs = build_log(src)
    seg = last_segment(src)
    size = seg.stat().st_size
    with open(seg, "ab") as f:
        f.write(b"\x07" * 33)
    reopen_and_check(src, recs, len(recs), caplog, True, index_interval_bytes=512)
    assert H.parse_batches(seg.read_bytes())[-1].position == size


def test_damage_in_earlier_segment_keeps_later_ones(tmp_path, caplog):
    """A damaged middle segment is cut at the bad batch; the intact segments
    after it stay (readers skip the gap, as compaction gaps are skipped)."""
    src = tmp_path / "src-0"
    recs = build_log(src, n=400, segment_bytes=4096)
    bases = H.segment_bases(src)
    assert len(bases) >= 4
    d = tmp_path / "mid"
    shutil.copytree(src, d)
    unclean(d)
    (d / "recovery-point-offset-checkpoint").write_text("0\n0\n")
    seg = d / H.seg_name(bases[1], "log")
    batches = H.parse_batches(seg.read_bytes())
    victim = batches[len(batches) // 2]
    with open(seg, "r+b") as f:
        f.seek(victim.position + 30)
        f.write(b"\xde\xad")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pystream.storage"):
        log = Log.open(d, segment_bytes=4096, index_interval_bytes=512)
    try:
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        warning_names(warnings, seg, victim.position)
        assert H.segment_bases(d) == bases
        assert log.end_offset == len(recs)
        kept = [r for r in recs if r[0] < victim.base_offset or r[0] >= bases[2]]
        assert [r.as_tuple() for r in log.records(0)] == kept
        # a read inside the gap gets the first batch after it
        assert log.records(victim.base_offset, max_records=1)[0].offset == bases[2]
    finally:
        log.close()


def test_recovery_of_all_segments_keeps_index_files(tmp_path, caplog):
    """Recovery point 0: every segment is re-read; nothing is damaged, so the
    files after reopen and close equal those of the clean log."""
    src = tmp_path / "src-0"
    build_log(src, n=400, segment_bytes=4096)
    before = H.snapshot(src)
    unclean(src)
    (src / "recovery-point-offset-checkpoint").write_text("0\n0\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pystream.storage"):
        log = Log.open(src, segment_bytes=4096, index_interval_bytes=512)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    log.close()
    after = H.snapshot(src)
    assert after.keys() == before.keys()
    for k in before:
        assert after[k] == before[k], k


def test_copied_without_marker_uses_recovery(tmp_path, caplog):
    """A directory copied without .clean_shutdown (as a backup tool might)."""
    src = tmp_path / "src-0"
    recs = build_log(src)
    d = tmp_path / "copy-0"
    d.mkdir()
    for p in src.iterdir():
        if p.name not in (".clean_shutdown", ".lock"):
            shutil.copy(p, d / p.name)
    seg = last_segment(d)
    last = H.parse_batches(seg.read_bytes())[-1]
    os.truncate(seg, seg.stat().st_size - 5)
    w = reopen_and_check(d, recs, last.base_offset, caplog, True, index_interval_bytes=512)
    warning_names(w, seg, last.position)


def test_stale_preallocated_index_after_crash(tmp_path, caplog):
    """The active segment's preallocated index (zeros past the entries) left by
    a crash is rebuilt, not trusted."""
    d = tmp_path / "prealloc-0"
    log = Log.open(d, index_interval_bytes=100, batch_size=1)
    for o in range(200):
        log.append(H.value_of(o, 40), timestamp_ms=50_000 + o)
    log.flush()
    recs = [r.as_tuple() for r in log.records(0)]
    # simulate the crash: copy the files while the log is open
    c = tmp_path / "copy-0"
    c.mkdir()
    for p in d.iterdir():
        if p.name != ".lock":
            shutil.copy(p, c / p.name)
    log.close()
    assert (c / H.seg_name(0, "index")).stat().st_size > (d / H.seg_name(0, "index")).stat().st_size
    reopen_and_check(c, recs, 200, caplog, False, index_interval_bytes=100)


# ----------------------------------------------------------------------------
# append_raw validation


def test_append_raw_rejects_bad_batches(tmp_path):
    d = tmp_path / "raw-0"
    log = Log.open(d)
    for o in range(10):
        log.append(b"v%d" % o, timestamp_ms=o)
    good = _core.encode_batch([(100, b"k", b"v", [("h", b"x")]), (101, None, b"w", None)])
    assert log.append_raw(good) == 10
    log.flush()
    before_end = log.end_offset
    before_files = H.snapshot(d, (".log",))
    before_recs = log.records(0)

    def flip(b: bytes, at: int) -> bytes:
        x = bytearray(b)
        x[at] ^= 0x01
        return bytes(x)

    def set_len(b: bytes, n: int) -> bytes:
        x = bytearray(b)
        struct.pack_into(">i", x, 8, n)
        return bytes(x)

    bad_cases = {
        "crc-field": flip(good, 17),
        "attributes": flip(good, 22),
        "value byte": flip(good, len(good) - 3),
        "magic 1": good[:16] + b"\x01" + good[17:],
        "magic 3": good[:16] + b"\x03" + good[17:],
        "length +1": set_len(good, len(good) - 12 + 1),
        "length -1": set_len(good, len(good) - 12 - 1),
        "length tiny": set_len(good, 10),
        "length negative": set_len(good, -5),
        "truncated": good[:-1],
        "header only": good[:61],
        "half header": good[:30],
        "empty": b"",
        "good then torn": good + good[:40],
        "good then garbage": good + b"\x00" * 20,
        "torn then good": good[:40] + good,
        "record count too high": None,
    }
    x = bytearray(good)
    struct.pack_into(">i", x, 57, 3)  # 3 records announced, 2 present (CRC fixed up)
    struct.pack_into(">I", x, 17, _core.crc32c(bytes(x[21:])))
    bad_cases["record count too high"] = bytes(x)
    for name, data in bad_cases.items():
        with pytest.raises(CorruptRecordError):
            log.append_raw(data)
        assert log.end_offset == before_end, name
        log.flush()
        assert H.snapshot(d, (".log",)) == before_files, name
        assert log.records(0) == before_recs, name
    # the log still takes good batches
    assert log.append_raw(good + good) == before_end
    assert log.end_offset == before_end + 4
    log.close()
