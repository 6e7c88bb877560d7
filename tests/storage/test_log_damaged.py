"""Damaged files of a partition log, as disks and operators really damage them.

- Reads verify each batch's CRC32C by default (records, read_columns) and
  raise CorruptRecordError naming the file, position and offset; the broker
  read path (read, read_file_range) never hands out bytes that are not whole,
  well-framed batches; `Log.verify` / `verify_dir` report the first bad batch
  of each segment.
- Index files missing, truncated or garbage are rebuilt on open.
- Checkpoints, the clean-shutdown marker and the producer-state snapshot are
  untrusted input: a damaged one is set aside with a warning and the state is
  rebuilt from the segments; nothing fails later because of it.
- A damaged middle segment is cut at the bad batch and the intact segments
  after it stay; the end offset is where the data really ends.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
from pathlib import Path

import pytest

import log_files as H  # tests/storage/log_files.py
from pystream import Log, _core
from pystream.errors import CorruptRecordError, OffsetOutOfRangeError
from pystream.storage.log import verify_dir
from pystream.storage.producer_state import ProducerState, SequenceCheck

CFG = dict(segment_bytes=8192, index_interval_bytes=512, batch_size=512)
N = 1200


def build(d: Path, n: int = N, **cfg) -> list[tuple]:
    log = Log.open(d, **(cfg or CFG))
    for o in range(n):
        log.append(H.value_of(o, 20 + o % 37), key=b"k%d" % o, timestamp_ms=10_000 + o)
    recs = [r.as_tuple() for r in log.records(0)]
    log.close()
    return recs


def flip(path: Path, at: int, mask: int = 0x5A) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ mask]))


def warnings_of(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


# ----------------------------------------------------------------------------
# CRC on read (check.crcs) and the broker's read path


def test_flipped_byte_in_a_record_is_caught_by_every_embedded_read(tmp_path):
    d = tmp_path / "t-0"
    recs = build(d)
    bases = H.segment_bases(d)
    seg = d / H.seg_name(bases[1], "log")
    victim = H.parse_batches(seg.read_bytes())[2]
    flip(seg, victim.position + 100)  # inside a record: only the CRC can tell
    log = Log.open(d, **CFG)  # a clean shutdown: opening does not read the batches
    try:
        for read in (lambda: log.records(0), lambda: log.read_columns(0), lambda: log.records(victim.base_offset, max_records=1)):
            with pytest.raises(CorruptRecordError) as e:
                read()
            assert (e.value.path, e.value.position, e.value.offset) == (str(seg), victim.position, victim.base_offset)
            assert str(seg) in str(e.value) and "CRC32C" in str(e.value)
        # the records before the damaged batch read fine, and so do those after it
        assert [r.as_tuple() for r in log.records(0, max_offset=victim.base_offset)] == recs[: victim.base_offset]
        assert [r.as_tuple() for r in log.records(victim.last_offset + 1)] == recs[victim.last_offset + 1 :]
        # the opt-out (Kafka's check.crcs=false) returns the bytes as they are
        got = log.records(victim.base_offset, max_records=victim.record_count, verify_crc=False)
        assert len(got) == victim.record_count
        assert [r.as_tuple() for r in got] != recs[victim.base_offset : victim.last_offset + 1]
        assert len(log.read_columns(0, verify_crc=False)) == N
        # the broker path checks the CRC too (once per batch), and framing only when asked
        with pytest.raises(CorruptRecordError) as e:
            log.read(victim.base_offset, 1)
        assert e.value.position == victim.position
        with pytest.raises(CorruptRecordError):
            log.read_file_range(victim.base_offset, 1)
        assert len(log.read(victim.base_offset, 1, verify_crc=False)) == victim.size
        # a read from before the bad batch stops right before it
        before = log.read(victim.base_offset - 1, 1 << 20)
        assert 0 < len(before) and H.parse_batches(bytes(before))[-1].last_offset == victim.base_offset - 1
        assert log.read_file_range(victim.base_offset - 1, 1 << 20)[2] == len(before)
        # the verifiers name the first bad batch of the segment
        problems = log.verify()
        assert [(str(p[0]), p[1], p[2]) for p in problems] == [(str(seg), victim.position, victim.base_offset)]
        assert "CRC32C" in problems[0][3]
    finally:
        log.close()
    assert [(p[0], p[1], p[2]) for p in verify_dir(d)] == [(seg, victim.position, victim.base_offset)]
    assert _core.verify_segment(d / H.seg_name(bases[0], "log")) == []


def test_large_reads_check_every_crc_too(tmp_path):
    """Reads of several MB check CRCs on a second thread: the bad batch is
    still found and named."""
    d = tmp_path / "t-0"
    log = Log.open(d)
    log.append_batch([b"%099d" % i for i in range(80_000)], timestamp_ms=5)  # ~9 MB
    log.close()
    seg = d / H.seg_name(0, "log")
    victim = H.parse_batches(seg.read_bytes())[-7]
    flip(seg, victim.position + victim.size - 10)  # inside the last record's value
    log = Log.open(d)
    try:
        with pytest.raises(CorruptRecordError) as e:
            log.read_columns(0)
        assert (e.value.path, e.value.position) == (str(seg), victim.position)
        assert len(log.read_columns(0, verify_crc=False)) == 80_000
        assert len(log.read_columns(0, max_offset=victim.base_offset)) == victim.base_offset
    finally:
        log.close()


def test_zeroed_page_in_a_middle_segment_is_never_served(tmp_path):
    """4 KiB of zeros in a middle segment of a cleanly closed log: the broker
    read path serves the batches before the damage, then raises."""
    d = tmp_path / "t-0"
    recs = build(d, n=3000, segment_bytes=32 * 1024, index_interval_bytes=512, batch_size=1024)
    bases = H.segment_bases(d)
    seg = d / H.seg_name(bases[1], "log")
    data = seg.read_bytes()
    batches = H.parse_batches(data)
    page = 8192
    first_bad = next(b for b in batches if b.position + b.size > page)
    with open(seg, "r+b") as f:
        f.seek(page)
        f.write(b"\0" * 4096)
    log = Log.open(d, segment_bytes=32 * 1024, index_interval_bytes=512, batch_size=1024)
    try:
        # a fetch from before the damage gets the whole, valid batches before it, not one byte more
        start = batches[0].base_offset
        got = bytes(log.read(start, 1 << 20))
        assert got == data[: first_bad.position]
        path, pos, length = log.read_file_range(start, 1 << 20)
        assert (Path(path), pos, length) == (seg, 0, first_bad.position)
        # a fetch at the damaged batch: no batch to give, CorruptRecordError naming the place
        for o in (first_bad.base_offset, first_bad.last_offset):
            with pytest.raises(CorruptRecordError) as e:
                log.read(o, 1 << 20)
            assert e.value.path == str(seg) and e.value.position == first_bad.position
            with pytest.raises(CorruptRecordError):
                log.read_file_range(o, 1 << 20)
        with pytest.raises(CorruptRecordError):
            log.records(start)
        # past the damage, reads use the index and work; the next segment too
        later = next(b for b in batches if b.position > page + 4096)
        idx = H.read_offset_index(d / H.seg_name(bases[1], "index"))
        if any(pos > page + 4096 for _rel, pos in idx):
            assert log.records(later.last_offset + 1, max_records=1)[0].as_tuple() == recs[later.last_offset + 1]
        assert [r.as_tuple() for r in log.records(bases[2])] == recs[bases[2] :]
        assert [p[1] for p in log.verify()] == [first_bad.position]
    finally:
        log.close()


def test_garbage_header_fields_are_refused_by_reads(tmp_path):
    """Bad length, magic, record count or offsets that go backwards: framing
    checks catch them without a CRC."""
    d = tmp_path / "src-0"
    build(d, n=300, segment_bytes=1 << 20, index_interval_bytes=512, batch_size=512)
    seg = d / H.seg_name(0, "log")
    batches = H.parse_batches(seg.read_bytes())
    victim = batches[3]
    for name, at, fmt, value in [
        ("length", 8, ">i", 5),
        ("huge length", 8, ">i", 1 << 30),
        ("magic", 16, ">b", 1),
        ("count", 57, ">i", -1),
        ("offsets back", 0, ">q", batches[1].base_offset),
    ]:
        c = tmp_path / name.replace(" ", "-")
        shutil.copytree(d, c)
        with open(c / seg.name, "r+b") as f:
            f.seek(victim.position + at)
            f.write(struct.pack(fmt, value))
        log = Log.open(c, segment_bytes=1 << 20, index_interval_bytes=512)  # clean: indexes trusted
        try:
            assert len(log.read(0, 1 << 20)) == victim.position, name
            with pytest.raises(CorruptRecordError) as e:
                log.read(victim.base_offset, 1 << 20)
            assert e.value.position == victim.position, name
            with pytest.raises(CorruptRecordError):
                log.read_columns(0, verify_crc=False)
            assert log.verify()[0][1] == victim.position, name
        finally:
            log.close()


# ----------------------------------------------------------------------------
# index files


@pytest.mark.parametrize("damage", ["missing", "truncated", "partial-entry", "garbage", "past-the-log", "zeros"])
def test_damaged_index_files_are_rebuilt_on_open(tmp_path, damage, caplog):
    src = tmp_path / "src-0"
    recs = build(src)
    good = H.snapshot(src)
    bases = H.segment_bases(src)
    d = tmp_path / damage
    shutil.copytree(src, d)
    for base in (bases[0], bases[2], bases[-1]):
        for ext, size in (("index", 8), ("timeindex", 12)):
            p = d / H.seg_name(base, ext)
            n = p.stat().st_size
            assert n >= 2 * size
            if damage == "missing":
                p.unlink()
            elif damage == "truncated":
                os.truncate(p, size)  # whole entries, but too few: not detectable, still correct
            elif damage == "partial-entry":
                os.truncate(p, n - 3)
            elif damage == "garbage":
                p.write_bytes(os.urandom(n))
            elif damage == "past-the-log":
                with open(p, "r+b") as f:
                    f.seek(n - size)
                    f.write(struct.pack(">II", 1 << 20, 1 << 30) if ext == "index" else struct.pack(">qI", 1 << 50, 1 << 30))
            else:
                p.write_bytes(b"\0" * n)
    log = Log.open(d, **CFG)
    try:
        assert [r.as_tuple() for r in log.records(0)] == recs
        for o in (0, 1, 517, N // 2, N - 1):
            assert log.records(o, max_records=1)[0].as_tuple() == recs[o]
            assert log.offset_for_timestamp(10_000 + o) == o
        assert log.end_offset == N
    finally:
        log.close()
    after = H.snapshot(d)
    if damage != "truncated":
        assert after == good  # rebuilt exactly as the appends made them
    else:
        assert {k: v for k, v in after.items() if k.endswith(".log")} == {k: v for k, v in good.items() if k.endswith(".log")}


# ----------------------------------------------------------------------------
# checkpoints and the clean-shutdown marker


@pytest.mark.parametrize(
    "content", [b"garbage", b"", b"0\n-5\n", b"1\n10\n", b"0\n99999999999999999999999\n", b"\xff\xfe\x00", "dir"]
)
def test_damaged_checkpoints_fall_back_to_recovery(tmp_path, content, caplog):
    src = tmp_path / "src-0"
    recs = build(src)
    for name in ("recovery-point-offset-checkpoint", "log-start-offset-checkpoint"):
        d = tmp_path / f"{name}-{len(str(content))}"
        shutil.copytree(src, d)
        p = d / name
        p.unlink()
        if content == "dir":
            p.mkdir()
            (p / "x").write_text("x")
        else:
            p.write_bytes(content)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pystream.storage"):
            log = Log.open(d, **CFG)
        assert name in warnings_of(caplog)
        try:
            assert [r.as_tuple() for r in log.records(0)] == recs
            assert log.end_offset == N and log.start_offset == 0
            log.append(b"more", timestamp_ms=1)
        finally:
            log.close()  # writes a good checkpoint over where the bad one was
        assert (d / name).is_file()
        log = Log.open(d, **CFG)
        assert log.end_offset == N + 1
        log.close()


def test_clean_shutdown_marker_made_into_a_directory(tmp_path, caplog):
    d = tmp_path / "t-0"
    recs = build(d)
    (d / ".clean_shutdown").unlink()
    (d / ".clean_shutdown").mkdir()
    (d / ".clean_shutdown" / "junk").write_text("x")
    with caplog.at_level(logging.WARNING, logger="pystream.storage"):
        log = Log.open(d, **CFG)
    assert ".clean_shutdown" in warnings_of(caplog)
    assert [r.as_tuple() for r in log.records(0)] == recs
    log.close()
    assert (d / ".clean_shutdown").is_file()


# ----------------------------------------------------------------------------
# damaged middle segment, emptied segments: the end offset is what is on disk


@pytest.mark.parametrize("clean", [True, False])
def test_truncated_middle_segment_keeps_the_later_ones(tmp_path, clean, caplog):
    d = tmp_path / "t-0"
    recs = build(d)
    bases = H.segment_bases(d)
    assert len(bases) >= 5
    seg = d / H.seg_name(bases[1], "log")
    batches = H.parse_batches(seg.read_bytes())
    cut_batch = batches[len(batches) // 2]
    os.truncate(seg, cut_batch.position + 30)
    if not clean:
        (d / ".clean_shutdown").unlink()
        (d / "recovery-point-offset-checkpoint").write_text("0\n0\n")
    with caplog.at_level(logging.WARNING, logger="pystream.storage"):
        log = Log.open(d, **CFG)
    try:
        assert seg.name in warnings_of(caplog)
        assert H.segment_bases(d) == bases
        assert log.end_offset == N
        kept = [r for r in recs if r[0] < cut_batch.base_offset or r[0] >= bases[2]]
        assert [r.as_tuple() for r in log.records(0)] == kept
        cols = log.read_columns(0)
        assert list(cols.offsets) == [r[0] for r in kept]
        # a consumer positioned in the gap moves on to the next batch, as over a compaction gap
        assert bytes(log.read(cut_batch.base_offset, 1))[:8] == bases[2].to_bytes(8, "big")
        assert log.verify() == []
    finally:
        log.close()


def test_emptied_last_segments_give_the_real_end_offset(tmp_path, caplog):
    d = tmp_path / "t-0"
    recs = build(d)
    bases = H.segment_bases(d)
    for base in bases[-2:]:
        os.truncate(d / H.seg_name(base, "log"), 0)
    with caplog.at_level(logging.WARNING, logger="pystream.storage"):
        log = Log.open(d, **CFG)
    try:
        data_end = bases[-2]
        assert log.end_offset == data_end  # not the base offset of an empty segment
        assert H.segment_bases(d) == bases[:-2]
        assert [r.as_tuple() for r in log.records(0)] == recs[:data_end]
        with pytest.raises(OffsetOutOfRangeError):
            log.read(data_end + 1)
        assert len(log.read(data_end)) == 0
        assert log.append(b"next", timestamp_ms=1) == data_end
    finally:
        log.close()


def test_emptied_middle_segment_is_dropped(tmp_path):
    d = tmp_path / "t-0"
    recs = build(d)
    bases = H.segment_bases(d)
    os.truncate(d / H.seg_name(bases[2], "log"), 0)
    log = Log.open(d, **CFG)
    try:
        assert H.segment_bases(d) == bases[:2] + bases[3:]
        assert [r.as_tuple() for r in log.records(0)] == [r for r in recs if not bases[2] <= r[0] < bases[3]]
        assert log.end_offset == N
    finally:
        log.close()


# ----------------------------------------------------------------------------
# producer state snapshot


def _idempotent(pid: int, epoch: int, seq: int, n: int) -> bytes:
    raw = bytearray(_core.encode_batch([(1, None, b"v", None)] * n))
    struct.pack_into(">qhi", raw, 43, pid, epoch, seq)
    struct.pack_into(">I", raw, 17, _core.crc32c(bytes(raw[21:])))
    return bytes(raw)


@pytest.mark.parametrize(
    "snapshot",
    [
        b"not json",
        b"[]",
        b'{"offset": "3", "producers": {}}',
        b'{"offset": 3, "producers": []}',
        b'{"offset": 3, "producers": {"7": [0, [[0, 1]]]}}',
        b'{"offset": 3, "producers": {"7": ["zero", [[0, 1, 0, 1]]]}}',
        b'{"offset": 3, "producers": {"7": [0, [[0, 1, 0, 99]]]}}',
        b'{"offset": 3, "producers": {"x": [0, []]}}',
        b'{"offset": 3, "producers": {"7": [0, 5]}}',
        b"[" * 100_000,
        "dir",
    ],
)
def test_producer_state_snapshot_of_the_wrong_shape_is_rebuilt_from_the_log(tmp_path, snapshot, caplog):
    log = Log.open(tmp_path / "p-0")
    log.append_raw(_idempotent(7, 0, 0, 2))
    log.append_raw(_idempotent(7, 0, 2, 1))
    st = ProducerState(log.path)
    if snapshot == "dir":
        st.path.mkdir()
        (st.path / "x").write_text("x")
    else:
        st.path.write_bytes(snapshot)
    with caplog.at_level(logging.WARNING, logger="pystream.storage"):
        st.load(log)
    if snapshot != b'{"offset": 3, "producers": {"7": [0, [[0, 1, 0, 99]]]}}':
        assert "producer state" in warnings_of(caplog)
    # rebuilt from the log: duplicates recognised, sequences continue
    assert st.check(7, 0, 2, 1) == (SequenceCheck.DUPLICATE, 2)
    assert st.check(7, 0, 3, 1) == (SequenceCheck.OK, -1)
    assert st.save(log.end_offset)
    again = ProducerState(log.path)
    again.load(log)
    assert again.check(7, 0, 3, 1) == (SequenceCheck.OK, -1)
    log.close()


def test_producer_state_replay_skips_a_damaged_segment(tmp_path, caplog):
    log = Log.open(tmp_path / "p-0", segment_bytes=300)
    for seq in range(0, 30, 3):
        log.append_raw(_idempotent(7, 0, seq, 3))
    segs = log.segments()
    log.close()
    victim = tmp_path / "p-0" / H.seg_name(segs[1][0], "log")
    with open(victim, "r+b") as f:
        f.seek(16)
        f.write(b"\x07")  # bad magic
    log = Log.open(tmp_path / "p-0", segment_bytes=300)
    st = ProducerState(log.path)
    with caplog.at_level(logging.WARNING, logger="pystream.storage"):
        st.load(log)
    assert str(victim) in warnings_of(caplog)
    assert st.check(7, 0, 27, 3) == (SequenceCheck.DUPLICATE, 27)
    assert st.check(7, 0, 30, 1) == (SequenceCheck.OK, -1)
    log.close()
