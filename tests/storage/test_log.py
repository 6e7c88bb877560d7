"""The Rust partition log (`pystream.Log`) against docs/storage.md, on real files."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np
import pytest

import log_files as H  # tests/storage/log_files.py
import pystream
from pystream import _core
from pystream.errors import CorruptRecordError, LogClosedError, LogDirectoryError, OffsetOutOfRangeError


Log = pystream.Log


def rec(offset, ts, key=None, value=None, headers=()):
    return (offset, ts, key, value, tuple(headers))


def fill(log, n, *, start_ts=1_000, step=1, size=20, keys=True, model=None):
    """Appends n records whose values encode their offsets; returns the model."""
    model = [] if model is None else model
    for _ in range(n):
        off = log.end_offset
        ts = start_ts + off * step
        key = b"k%d" % off if keys else None
        got = log.append(H.value_of(off, size), key=key, timestamp_ms=ts)
        assert got == off
        model.append(rec(off, ts, key, H.value_of(off, size)))
    return model


def decoded(mv):
    return [r.as_tuple() for r in _core.decode_records(mv)]


def columns_as_records(cols):
    out = []
    for i in range(len(cols)):
        out.append((int(cols.offsets[i]), int(cols.timestamps[i]), cols.key(i), cols.value(i)))
    return out


# ----------------------------------------------------------------------------
# the append APIs and the read APIs agree


def test_append_apis_and_read_apis_agree(logdir):
    log = Log.open(logdir, batch_size=200)
    model = []
    hdrs = [("h1", b"x"), ("h2", None), ("", b"")]
    assert log.append(b"v0", key=b"k0", headers=hdrs, timestamp_ms=10) == 0
    model.append(rec(0, 10, b"k0", b"v0", hdrs))
    assert log.append(None, timestamp_ms=11) == 1
    model.append(rec(1, 11, None, None))
    assert log.append(b"", key=b"", timestamp_ms=5) == 2  # empty, and a timestamp going back
    model.append(rec(2, 5, b"", b""))
    assert log.append(bytearray(b"ba"), key=memoryview(b"mv"), timestamp_ms=12) == 3
    model.append(rec(3, 12, b"mv", b"ba"))
    vals = [b"a" * i for i in range(30)]
    keys = [None if i % 3 == 0 else b"key%d" % i for i in range(30)]
    assert log.append_batch(vals, keys=keys, timestamp_ms=20) == 4
    model += [rec(4 + i, 20, keys[i], vals[i]) for i in range(30)]
    arr = np.arange(5 * 7, dtype=np.uint8).reshape(5, 7)
    assert log.append_batch(arr, timestamp_ms=21) == 34
    model += [rec(34 + i, 21, None, arr[i].tobytes()) for i in range(5)]
    raw = _core.encode_batch([(30, b"rk", b"rv", [("rh", b"1")]), (29, None, b"rv2", None)], base_offset=777)
    assert log.append_raw(raw) == 39
    model += [rec(39, 30, b"rk", b"rv", [("rh", b"1")]), rec(40, 29, None, b"rv2")]
    big = os.urandom(100_000)
    assert log.append(big, key=b"big", timestamp_ms=31) == 41
    model.append(rec(41, 31, b"big", big))
    assert log.end_offset == 42

    assert log.records(0) == model
    assert [r.as_tuple() for r in log.records(0)] == model
    assert decoded(log.read(0, max_bytes=1 << 30)) == model
    cols = log.read_columns(0)
    assert columns_as_records(cols) == [m[:4] for m in model]
    for o in range(42):
        assert log.records(o) == model[o:]
        assert columns_as_records(log.read_columns(o)) == [m[:4] for m in model[o:]]
    # the batches are the documented embedded ones
    for h in _core.batch_headers(log.read(0, max_bytes=1 << 30)):
        assert (h["partition_leader_epoch"], h["attributes"], h["producer_id"], h["producer_epoch"], h["base_sequence"]) == (0, 0, -1, -1, -1)
    log.close()
    log = Log.open(logdir)
    assert log.records(0) == model
    log.close()


def test_batch_size_rule(logdir):
    """A pending batch is sealed when the next record would push its records
    section past batch_size (and it already holds one)."""
    batch_size = 300
    log = Log.open(logdir, batch_size=batch_size)
    sizes = [1, 50, 120, 7, 200, 280, 400, 3, 3, 3, 299, 0, 64]
    for i, s in enumerate(sizes):
        log.append(b"x" * s, timestamp_ms=1000)
    log.flush()
    batches = H.all_batches(logdir)
    # recompute the expected split with record sizes from the encoded records
    # themselves: a batch's records section is batch.size - 61
    offsets = [(b.base_offset, b.last_offset) for b in batches]
    assert offsets[0][0] == 0 and offsets[-1][1] == len(sizes) - 1
    for a, b in zip(offsets, offsets[1:]):
        assert b[0] == a[1] + 1
    for i, b in enumerate(batches):
        section = b.size - 61
        if b.record_count > 1:
            assert section <= batch_size
        if i + 1 < len(batches):
            nxt = batches[i + 1]
            first_rec = _core.decode_records(nxt.raw)[0]
            # the first record of the next batch did not fit: re-encode this
            # batch with it and check the records section would exceed batch_size
            recs = [(r.timestamp, r.key, r.value, r.headers) for r in _core.decode_records(b.raw)]
            recs.append((first_rec.timestamp, first_rec.key, first_rec.value, first_rec.headers))
            assert len(_core.encode_batch(recs)) - 61 > batch_size
    log.close()


# ----------------------------------------------------------------------------
# rolling and indexes


@pytest.mark.parametrize("interval", [0, 1, 150, 4096])
@pytest.mark.parametrize("seg_bytes", [700, 5000, 1 << 30])
def test_roll_on_segment_bytes_and_index_entries(tmp_path, interval, seg_bytes):
    d = tmp_path / f"p-{interval}-{seg_bytes}"
    log = Log.open(d, segment_bytes=seg_bytes, index_interval_bytes=interval, batch_size=100)
    model = []
    sizes = [5, 90, 1, 250, 40, 17, 3, 120, 60, 0, 33, 500, 8, 8, 8, 1000, 2]
    # non-monotonic timestamps make the time index interesting
    tss = [1000, 990, 1010, 1005, 1010, 1020, 1001, 1500, 1400, 1600, 1600, 1599, 2000, 1, 2001, 1990, 2500]
    for rnd in range(6):
        for s, t in zip(sizes, tss):
            off = log.end_offset
            v = H.value_of(off, s)
            log.append(v, key=None if s % 2 else b"k", timestamp_ms=t + rnd * 3000)
            model.append(rec(off, t + rnd * 3000, None if s % 2 else b"k", v))
        if rnd % 2:
            log.flush()  # seal mid-way, too
    assert log.records(0) == model
    segs = log.segments()
    log.close()
    bases = H.segment_bases(d)
    assert [b for b, _ in segs] == bases
    # roll rule: each segment's first batch did not fit the previous segment
    for i, base in enumerate(bases):
        batches = H.parse_batches((d / H.seg_name(base, "log")).read_bytes())
        assert batches and batches[0].base_offset == base
        assert segs[i][1] == sum(b.size for b in batches)
        # batches only fit whole: a segment exceeds segment_bytes only with one batch
        assert sum(b.size for b in batches) <= seg_bytes or len(batches) == 1
        if i + 1 < len(bases):
            nxt = H.parse_batches((d / H.seg_name(bases[i + 1], "log")).read_bytes())[0]
            assert sum(b.size for b in batches) + nxt.size > seg_bytes
    if seg_bytes == 1 << 30:
        assert len(bases) == 1
    else:
        assert len(bases) > 2
    checked = H.check_index_files(d, interval)
    if interval < 4096:
        assert checked > 0
    # reopen (clean) trusts the indexes and lookups work at every offset
    log = Log.open(d, segment_bytes=seg_bytes, index_interval_bytes=interval, batch_size=100)
    for o in range(0, len(model)):
        mv = log.read(o, max_bytes=1)
        first = _core.batch_headers(mv)[0]
        assert first["base_offset"] <= o <= first["last_offset"]
        assert len(_core.batch_headers(mv)) == 1
        assert log.records(o, max_records=3) == model[o : o + 3]
    # and appending after the reopen continues the same indexing state
    for s, t in zip(sizes, tss):
        off = log.end_offset
        log.append(H.value_of(off, s), timestamp_ms=t + 30_000)
    log.close()
    H.check_index_files(d, interval)


def test_roll_on_segment_ms(logdir):
    # batch_size=1: every record is its own batch
    log = Log.open(logdir, segment_ms=100, batch_size=1)
    tss = [1000, 1050, 1100, 1101, 900, 1201, 1202, 1302, 5000, 5000, 4000, 5101]
    for t in tss:
        log.append(b"x", timestamp_ms=t)
    segs = [b for b, _ in log.segments()]
    # roll when T - first batch max timestamp of the segment > 100
    #  seg0 first=1000: 1050 ok, 1100 ok (=100), 1101 roll -> seg at 3
    #  seg3 first=1101: 900 ok, 1201 ok (=100), 1202 roll -> seg at 6
    #  seg6 first=1202: 1302 ok, 5000 roll -> seg at 8
    #  seg8 first=5000: 5000 ok, 4000 ok, 5101 roll -> seg at 11
    assert segs == [0, 3, 6, 8, 11]
    log.close()
    H.check_index_files(logdir, 4096)
    # the final time-index entry of rolled segments holds their max timestamp
    assert H.read_time_index(logdir / H.seg_name(0, "timeindex")) == [(1100, 2)]
    assert H.read_time_index(logdir / H.seg_name(3, "timeindex")) == [(1201, 2)]
    assert H.read_time_index(logdir / H.seg_name(8, "timeindex")) == [(5000, 0)]
    assert H.read_time_index(logdir / H.seg_name(11, "timeindex")) == []  # active: no final entry


@pytest.mark.parametrize("same_ts", [False, True])
def test_roll_when_an_index_is_full(tmp_path, same_ts):
    """segment_index_bytes=24: 3 offset entries, 2 time entries. With interval 0
    every batch but a segment's first gets an offset entry; with increasing
    timestamps each also gets a time entry, so the time index fills first
    (batches 1, 2) and the 4th batch rolls; with one timestamp for all, the
    time index holds one entry and the offset index fills after 4 batches."""
    d = tmp_path / "full-0"
    log = Log.open(d, segment_index_bytes=24, index_interval_bytes=0, batch_size=1)
    for i in range(12):
        log.append(b"r%d" % i, timestamp_ms=100 if same_ts else 100 + i)
    segs = [b for b, _ in log.segments()]
    log.close()
    if same_ts:
        assert segs == [0, 4, 8]
        for b in segs:
            assert len(H.read_offset_index(d / H.seg_name(b, "index"))) == 3
    else:
        assert segs == [0, 3, 6, 9]
        for b in segs[:-1]:
            assert len(H.read_offset_index(d / H.seg_name(b, "index"))) == 2
            assert len(H.read_time_index(d / H.seg_name(b, "timeindex"))) == 2
    H.check_index_files(d, 0)


def test_index_files_preallocated_while_active_and_trimmed_on_close(logdir):
    log = Log.open(logdir, index_interval_bytes=0, batch_size=1)
    for i in range(10):
        log.append(b"x", timestamp_ms=i)
    log.flush()
    assert (logdir / H.seg_name(0, "index")).stat().st_size >= 9 * 8
    log.close()
    assert (logdir / H.seg_name(0, "index")).stat().st_size == 9 * 8
    assert (logdir / H.seg_name(0, "timeindex")).stat().st_size == 9 * 12
    H.check_index_files(logdir, 0)


# ----------------------------------------------------------------------------
# reads at every offset


@pytest.fixture
def multi(tmp_path):
    """A log of several segments, batches of 1..many records, closed and reopened."""
    d = tmp_path / "m-0"
    log = Log.open(d, segment_bytes=1500, index_interval_bytes=100, batch_size=200)
    model = []
    for i in range(150):
        off = log.end_offset
        v = H.value_of(off, 5 + (i * 37) % 60)
        log.append(v, key=b"%d" % i, timestamp_ms=10_000 + off * 10)
        model.append(rec(off, 10_000 + off * 10, b"%d" % i, v))
        if i % 40 == 39:
            log.flush()
    log.close()
    log = Log.open(d, segment_bytes=1500, index_interval_bytes=100, batch_size=200)
    yield d, log, model
    log.close()


def test_read_at_every_offset(multi):
    d, log, model = multi
    segs = log.segments()
    assert len(segs) >= 4
    batches = H.all_batches(d)
    assert any(b.record_count > 2 for b in batches)
    by_offset = {}
    for b in batches:
        for o in range(b.base_offset, b.last_offset + 1):
            by_offset[o] = b
    end = log.end_offset
    assert end == len(model)
    for o in range(end):
        b = by_offset[o]
        # read: whole batches of one segment, starting with the one holding o
        mv = log.read(o, max_bytes=1)
        assert bytes(mv) == b.raw
        mv = log.read(o)
        hs = _core.batch_headers(mv)
        assert hs[0]["base_offset"] == b.base_offset
        seg_base = max(sb for sb, _ in segs if sb <= o)
        seg_end = min([sb for sb, _ in segs if sb > o] + [end])
        assert hs[-1]["last_offset"] == seg_end - 1  # to the end of its segment
        assert decoded(mv) == model[b.base_offset : seg_end]
        assert seg_base <= b.base_offset
        path, pos, length = log.read_file_range(o)
        assert Path(path) == d / H.seg_name(seg_base, "log")
        assert pos == b.position and length == len(mv)
        with open(path, "rb") as f:
            f.seek(pos)
            assert f.read(length) == bytes(mv)
        # max_bytes: as many whole batches as fit
        two = log.read(o, max_bytes=len(mv) - 1) if len(hs) > 1 else None
        if two is not None:
            assert len(two) <= len(mv) - 1
            assert bytes(mv).startswith(bytes(two))
        # records: from o on, across segments
        assert log.records(o) == model[o:]
        assert log.records(o, max_records=1) == model[o : o + 1]
        assert log.records(o, max_records=7) == model[o : o + 7]
        cols = log.read_columns(o, max_records=5)
        assert columns_as_records(cols) == [m[:4] for m in model[o : o + 5]]
    assert len(log.read(end)) == 0
    assert log.records(end) == []
    assert len(log.read_columns(end)) == 0
    assert log.read_file_range(end) is None


def test_max_offset_bounds(multi):
    d, log, model = multi
    end = log.end_offset
    for o in range(0, end, 7):
        for upto in (o, o + 1, o + 13, end, end + 5):
            want = model[o : min(upto, end)]
            assert log.records(o, max_offset=upto) == want
            assert columns_as_records(log.read_columns(o, max_offset=upto)) == [m[:4] for m in want]
            mv = log.read(o, max_offset=upto)
            if upto <= o:
                assert len(mv) == 0
                continue
            hs = _core.batch_headers(mv)
            assert all(h["base_offset"] < upto for h in hs)  # no batch starting at/after upto
            got = [r for r in decoded(mv) if o <= r[0] < upto]
            assert got == want[: len(got)]
            assert hs[0]["base_offset"] <= o


def test_out_of_range(multi):
    d, log, model = multi
    end = log.end_offset
    for bad in (-1, end + 1, end + 1000):
        with pytest.raises(OffsetOutOfRangeError):
            log.read(bad)
        with pytest.raises(OffsetOutOfRangeError):
            log.records(bad)
        with pytest.raises(OffsetOutOfRangeError):
            log.read_columns(bad)
        with pytest.raises(OffsetOutOfRangeError):
            log.read_file_range(bad)
    log.delete_records_before(40)
    with pytest.raises(OffsetOutOfRangeError):
        log.read(39)
    with pytest.raises(OffsetOutOfRangeError):
        log.records(0)
    assert log.records(40) == model[40:]


# ----------------------------------------------------------------------------
# timestamps


def test_offset_for_timestamp(logdir):
    log = Log.open(logdir, segment_bytes=600, index_interval_bytes=50, batch_size=80)
    model = []
    ts = 1000
    for i in range(120):
        ts += (i * 7) % 5  # increasing with ties
        if i % 17 == 5:
            t = ts - 300  # an outlier going back
        else:
            t = ts
        off = log.append(H.value_of(i, 10), timestamp_ms=t)
        model.append((off, t))
    assert len(log.segments()) > 3

    def brute(target):
        for o, t in model:
            if t >= target:
                return o
        return None

    lo = min(t for _, t in model)
    hi = max(t for _, t in model)
    assert log.offset_for_timestamp(lo - 1000) == 0  # before first
    assert log.offset_for_timestamp(hi + 1) is None  # after last
    for target in range(lo - 2, hi + 3):
        assert log.offset_for_timestamp(target) == brute(target), target
    log.close()
    log = Log.open(logdir, segment_bytes=600, index_interval_bytes=50, batch_size=80)
    for target in range(lo - 2, hi + 3, 3):
        assert log.offset_for_timestamp(target) == brute(target), target
    log.close()


def test_offset_for_timestamp_after_delete_records_before(logdir):
    log = Log.open(logdir, batch_size=1)
    log.append(b"a", timestamp_ms=100)  # 0
    log.append(b"b", timestamp_ms=10)  # 1
    log.append(b"c", timestamp_ms=20)  # 2
    log.append(b"d", timestamp_ms=200)  # 3
    log.delete_records_before(1)
    assert log.start_offset == 1
    # first offset >= start with timestamp >= 50 is 3 (offset 0 is deleted)
    assert log.offset_for_timestamp(50) == 3
    log.delete_records_before(3)
    log.truncate_to(4)
    assert log.offset_for_timestamp(250) is None
    log.close()


def test_offset_for_timestamp_none_when_empty(logdir):
    log = Log.open(logdir)
    assert log.offset_for_timestamp(0) is None
    log.append(b"x", timestamp_ms=50)
    assert log.offset_for_timestamp(50) == 0
    assert log.offset_for_timestamp(51) is None
    log.close()


# ----------------------------------------------------------------------------
# retention, deletion, truncation


def _segmented(logdir, n=60, **cfg):
    cfg.setdefault("segment_bytes", 400)
    cfg.setdefault("batch_size", 1)
    log = Log.open(logdir, **cfg)
    model = fill(log, n, start_ts=100_000, step=1000)
    return log, model


def test_retention_ms(logdir):
    log, model = _segmented(logdir, retention_ms=5_000)
    segs = log.segments()
    assert len(segs) >= 5
    bases = [b for b, _ in segs]
    # largest timestamp of segment i is the timestamp of its last record
    seg_max = [100_000 + (bases[i + 1] - 1) * 1000 for i in range(len(bases) - 1)]
    # now such that exactly the first two segments are older than now - 5000
    now = seg_max[1] + 5_001
    assert now - seg_max[2] <= 5_000
    assert log.enforce_retention(now_ms=now) == 2
    assert [b for b, _ in log.segments()] == bases[2:]
    assert log.start_offset == bases[2]
    assert not (logdir / H.seg_name(bases[0], "log")).exists()
    assert not (logdir / H.seg_name(bases[1], "index")).exists()
    assert not (logdir / H.seg_name(bases[1], "timeindex")).exists()
    assert log.records(bases[2]) == model[bases[2] :]
    with pytest.raises(OffsetOutOfRangeError):
        log.records(bases[2] - 1)
    # exactly retention_ms old is kept (strictly older is deleted)
    assert log.enforce_retention(now_ms=seg_max[2] + 5_000) == 0
    # far future: every non-active segment goes, the active one stays
    assert log.enforce_retention(now_ms=10**13) == len(bases) - 3
    assert [b for b, _ in log.segments()] == bases[-1:]
    assert log.start_offset == bases[-1]
    assert log.records(bases[-1]) == model[bases[-1] :]
    log.close()
    log = Log.open(logdir, segment_bytes=400, batch_size=1)
    assert log.start_offset == bases[-1]
    assert log.records(bases[-1]) == model[bases[-1] :]
    log.close()


def test_retention_ms_minus_one_keeps_everything(logdir):
    log, model = _segmented(logdir, retention_ms=-1)
    n = len(log.segments())
    assert log.enforce_retention(now_ms=10**15) == 0
    assert len(log.segments()) == n
    log.close()


def test_retention_bytes(logdir):
    log, model = _segmented(logdir, retention_ms=-1, retention_bytes=1000)
    segs = log.segments()
    sizes = [s for _, s in segs]
    total = sum(sizes)
    # delete the oldest while total - size >= retention_bytes
    expect_deleted = 0
    for s in sizes[:-1]:
        if total - s >= 1000:
            total -= s
            expect_deleted += 1
        else:
            break
    assert expect_deleted >= 1
    assert log.enforce_retention(now_ms=0) == expect_deleted
    left = log.segments()
    assert left == segs[expect_deleted:]
    assert sum(s for _, s in left) >= 1000
    assert log.start_offset == left[0][0]
    assert log.records(log.start_offset) == model[log.start_offset :]
    # retention_bytes = 0 deletes every non-active segment
    log.close()
    log = Log.open(logdir, segment_bytes=400, batch_size=1, retention_ms=-1, retention_bytes=0)
    log.enforce_retention()
    assert log.segments() == left[-1:]
    log.close()


def test_delete_records_before(logdir):
    log, model = _segmented(logdir, retention_ms=-1)
    bases = [b for b, _ in log.segments()]
    end = log.end_offset
    assert log.delete_records_before(bases[1] - 1) == bases[1] - 1
    assert [b for b, _ in log.segments()] == bases  # segment 0 still holds offset bases[1]-1
    assert log.records(bases[1] - 1) == model[bases[1] - 1 :]
    assert log.delete_records_before(bases[1]) == bases[1]
    assert [b for b, _ in log.segments()] == bases[1:]
    assert not (logdir / H.seg_name(bases[0], "log")).exists()
    assert log.delete_records_before(3) == bases[1]  # never moves back
    target = bases[2] + 2
    assert log.delete_records_before(target) == target
    assert log.start_offset == target
    assert [b for b, _ in log.segments()] == bases[2:]
    assert log.records(target) == model[target:]
    with pytest.raises(OffsetOutOfRangeError):
        log.read(target - 1)
    log.close()
    assert (logdir / "log-start-offset-checkpoint").read_text() == f"0\n{target}\n"
    log = Log.open(logdir, segment_bytes=400, batch_size=1)
    assert log.start_offset == target
    assert log.records(target) == model[target:]
    # never above the end offset; at the end, everything goes and appends continue
    assert log.delete_records_before(end + 100) == end
    assert log.start_offset == end == log.end_offset
    assert log.records(end) == []
    assert all(b >= end or s == 0 for b, s in log.segments())
    fill(log, 3, start_ts=100_000, step=1000)
    assert [r.offset for r in log.records(end)] == [end, end + 1, end + 2]
    log.close()


def test_truncate_to(logdir):
    log = Log.open(logdir, segment_bytes=700, batch_size=100)
    model = fill(log, 80, start_ts=5_000)
    log.flush()
    batches = H.all_batches(logdir)
    multi = [b for b in batches if b.record_count >= 3]
    assert multi
    bases = [b for b, _ in log.segments()]
    assert len(bases) >= 3
    end = log.end_offset
    # at or past the end: nothing changes
    before = H.snapshot(logdir, (".log",))
    log.truncate_to(end)
    log.truncate_to(end + 10)
    assert log.end_offset == end and H.snapshot(logdir, (".log",)) == before
    # mid-batch: the whole batch goes
    b = multi[-1]
    log.truncate_to(b.base_offset + 1)
    assert log.end_offset == b.base_offset
    assert log.records(0) == model[: b.base_offset]
    # at a batch boundary
    prev = [x for x in batches if x.last_offset < b.base_offset][-1]
    log.truncate_to(prev.base_offset)
    assert log.end_offset == prev.base_offset
    # at a segment boundary: later segments disappear, the previous one is active again
    log.truncate_to(bases[1])
    assert log.end_offset == bases[1]
    assert [s for s, _ in log.segments()] == [0]
    for base in bases[1:]:
        assert not (logdir / H.seg_name(base, "log")).exists()
    assert log.records(0) == model[: bases[1]]
    # appends continue at the new end, with consecutive offsets
    model = model[: bases[1]]
    fill(log, 30, start_ts=5_000, model=model)
    assert log.records(0) == model
    log.close()
    H.check_index_files(logdir, 4096)
    log = Log.open(logdir, segment_bytes=700, batch_size=100)
    assert log.records(0) == model
    log.close()


def test_truncate_below_start(logdir):
    log = Log.open(logdir, segment_bytes=400, batch_size=1)
    fill(log, 40)
    log.delete_records_before(25)
    log.truncate_to(10)
    assert log.end_offset <= 10
    assert log.start_offset <= log.end_offset
    assert log.records(log.start_offset) == []
    assert log.append(b"again", timestamp_ms=1) == log.end_offset - 1
    assert log.records(log.start_offset)[-1].value == b"again"
    log.close()
    log = Log.open(logdir, segment_bytes=400, batch_size=1)
    assert log.records(log.start_offset)[-1].value == b"again"
    log.close()


def test_truncate_then_index_rebuilt(logdir):
    log = Log.open(logdir, index_interval_bytes=100, batch_size=1)
    model = fill(log, 200, size=50)
    log.truncate_to(123)
    assert log.end_offset == 123
    for o in range(0, 123, 5):
        assert log.records(o, max_records=2) == model[o : o + 2]
    fill(log, 20, size=50, model=model[:123])
    log.close()
    H.check_index_files(logdir, 100)


# ----------------------------------------------------------------------------
# reopen, errors


def test_reopen_keeps_everything_and_files_unchanged(multi):
    d, log, model = multi
    log.close()
    snap = H.snapshot(d, (".log", ".index", ".timeindex", ""))
    H.check_index_files(d, 100)
    for _ in range(2):
        log = Log.open(d, segment_bytes=1500, index_interval_bytes=100, batch_size=200)
        assert (log.start_offset, log.end_offset) == (0, len(model))
        assert log.records(0) == model
        assert log.recovery_point == len(model)
        log.close()
        now = H.snapshot(d, (".log", ".index", ".timeindex", ""))
        assert now.keys() == snap.keys()
        for k in snap:
            assert now[k] == snap[k], k
    assert (d / ".clean_shutdown").exists()
    assert (d / "recovery-point-offset-checkpoint").read_text() == f"0\n{len(model)}\n"


def test_clean_shutdown_marker_lifecycle(logdir):
    log = Log.open(logdir)
    assert not (logdir / ".clean_shutdown").exists()
    log.append(b"x")
    log.close()
    assert (logdir / ".clean_shutdown").exists()
    log.close()  # idempotent
    log = Log.open(logdir)
    assert not (logdir / ".clean_shutdown").exists()
    log.close()


def test_use_after_close(logdir):
    log = Log.open(logdir)
    log.append(b"x")
    log.close()
    assert log.closed
    for call in (
        lambda: log.append(b"y"),
        lambda: log.append_batch([b"y"]),
        lambda: log.append_raw(_core.encode_batch([(1, None, b"z", None)])),
        lambda: log.read(0),
        lambda: log.records(0),
        lambda: log.read_columns(0),
        lambda: log.read_file_range(0),
        lambda: log.offset_for_timestamp(0),
        lambda: log.flush(),
        lambda: log.truncate_to(0),
        lambda: log.delete_records_before(0),
        lambda: log.enforce_retention(),
        lambda: log.segments(),
        lambda: log.end_offset,
        lambda: log.start_offset,
    ):
        with pytest.raises(LogClosedError):
            call()


def test_open_errors(tmp_path):
    f = tmp_path / "regular"
    f.write_bytes(b"hello")
    with pytest.raises(LogDirectoryError):
        Log.open(f)
    assert f.read_bytes() == b"hello"
    d = tmp_path / "stuff"
    d.mkdir()
    (d / "notes.txt").write_text("not a log")
    with pytest.raises(LogDirectoryError):
        Log.open(d)
    assert sorted(p.name for p in d.iterdir() if p.name != ".lock") == ["notes.txt"]
    # the same directory twice in one process: flock
    good = tmp_path / "good-0"
    a = Log.open(good)
    a.append(b"x")
    with pytest.raises(LogDirectoryError):
        Log.open(good)
    a.close()
    b = Log.open(good)  # released on close
    assert b.records(0)[0].value == b"x"
    b.close()


def test_lock_released_when_log_garbage_collected(logdir):
    import gc

    a = Log.open(logdir)
    a.append(b"x", timestamp_ms=1)
    del a
    gc.collect()
    b = Log.open(logdir)  # unclean (no close) but the lock is gone and the record is there
    assert b.records(0) == [rec(0, 1, None, b"x")]
    b.close()


def test_errors_are_the_documented_classes():
    assert issubclass(OffsetOutOfRangeError, pystream.errors.PystreamError)
    assert issubclass(CorruptRecordError, ValueError)


# ----------------------------------------------------------------------------
# zero-copy reads outlive what they point into


def test_memoryview_survives_truncate(logdir):
    log = Log.open(logdir, batch_size=1)
    fill(log, 50, size=100)
    mv = log.read(0, max_bytes=1 << 20)
    copy = bytes(mv)
    cols = log.read_columns(0)
    vcopy = [cols.value(i) for i in range(len(cols))]
    log.truncate_to(10)
    assert bytes(mv) == copy
    assert [cols.value(i) for i in range(len(cols))] == vcopy
    fill(log, 40, size=7)  # overwrite the region the view used to cover
    assert bytes(mv) == copy
    assert decoded(mv)[-1][0] == 49
    log.truncate_to(0)
    assert bytes(mv) == copy
    log.close()
    assert bytes(mv) == copy


def test_memoryview_survives_segment_deletion(logdir):
    log = Log.open(logdir, segment_bytes=500, batch_size=1, retention_ms=1)
    fill(log, 60, size=30)
    bases = [b for b, _ in log.segments()]
    views = [log.read(b) for b in bases[:-1]]
    copies = [bytes(v) for v in views]
    assert log.enforce_retention(now_ms=10**13) == len(bases) - 1
    for b in bases[:-1]:
        assert not (logdir / H.seg_name(b, "log")).exists()
    assert [bytes(v) for v in views] == copies
    last = log.read(bases[-1])
    lcopy = bytes(last)
    log.delete_records_before(log.end_offset)
    log.enforce_retention(now_ms=10**13)
    log.truncate_to(0)
    assert bytes(last) == lcopy
    log.close()
    assert [bytes(v) for v in views] == copies


# ----------------------------------------------------------------------------
# offsets with gaps (a follower copying a compacted leader)


def test_assign_offsets_false_keeps_offsets(logdir):
    log = Log.open(logdir)
    b1 = _core.encode_batch([(1, None, b"a", None), (2, None, b"b", None)], base_offset=0)
    b2 = _core.encode_batch([(3, None, b"c", None), (4, None, b"d", None)], base_offset=10)
    assert log.append_raw(b1, assign_offsets=False) == 0
    assert log.append_raw(b2, assign_offsets=False) == 10
    assert log.end_offset == 12
    with pytest.raises(CorruptRecordError):
        log.append_raw(_core.encode_batch([(5, None, b"e", None)], base_offset=11), assign_offsets=False)
    assert [r.offset for r in log.records(0)] == [0, 1, 10, 11]
    assert [r.offset for r in log.records(5)] == [10, 11]
    assert log.offset_for_timestamp(3) == 10
    log.close()


def test_max_records_with_offset_gaps(logdir):
    log = Log.open(logdir)
    log.append_raw(_core.encode_batch([(1, None, b"a", None), (2, None, b"b", None)], base_offset=0), assign_offsets=False)
    log.append_raw(_core.encode_batch([(3, None, b"c", None), (4, None, b"d", None)], base_offset=100), assign_offsets=False)
    assert [r.offset for r in log.records(0, max_records=3)] == [0, 1, 100]
    assert list(log.read_columns(0, max_records=3).offsets) == [0, 1, 100]
    log.close()


def test_control_batches_skipped_by_records(logdir):
    log = Log.open(logdir)
    log.append(b"before", timestamp_ms=1)
    ctrl = bytearray(_core.encode_batch([(2, b"\x00\x00\x00\x01", b"\x00\x00\x00\x00\x00\x00", None)]))
    struct.pack_into(">h", ctrl, 21, 0x30)  # transactional + control
    struct.pack_into(">q", ctrl, 43, 7)  # producer id
    struct.pack_into(">I", ctrl, 17, _core.crc32c(bytes(ctrl[21:])))
    assert log.append_raw(bytes(ctrl)) == 1
    log.append(b"after", timestamp_ms=3)
    assert [(r.offset, r.value) for r in log.records(0)] == [(0, b"before"), (2, b"after")]
    assert log.end_offset == 3
    assert len(_core.batch_headers(log.read(0))) == 3  # the fetch path still returns it
    log.close()


def test_leader_epoch_stamped_on_batches(logdir):
    log = Log.open(logdir)
    log.append(b"a", timestamp_ms=1)
    log.leader_epoch = 5
    log.append(b"b", timestamp_ms=2)
    log.append_raw(_core.encode_batch([(3, None, b"c", None)], partition_leader_epoch=99))
    epochs = [h["partition_leader_epoch"] for h in _core.batch_headers(log.read(0))]
    assert epochs == [0, 5, 5]
    log.close()


def test_flush_policy_moves_recovery_point(tmp_path):
    log = Log.open(tmp_path / "f-0", flush_messages=5)
    rps = []
    for i in range(12):
        log.append(b"x", timestamp_ms=i)
        rps.append(log.recovery_point)
    assert rps == [0, 0, 0, 0, 5, 5, 5, 5, 5, 10, 10, 10]
    assert (tmp_path / "f-0" / "recovery-point-offset-checkpoint").read_text() == "0\n10\n"
    log.close()
    log = Log.open(tmp_path / "f-1", flush_ms=50)
    log.append(b"x", timestamp_ms=1)
    assert log.maybe_flush() is False and log.recovery_point == 0
    import time

    time.sleep(0.07)
    assert log.maybe_flush() is True and log.recovery_point == 1
    assert log.maybe_flush() is False
    assert len(log.read(0, max_bytes=0)) > 0  # at least one whole batch
    log.close()


def test_flush_without_fsync_hands_bytes_to_the_os(logdir):
    log = Log.open(logdir)
    log.append_batch([b"v%d" % i for i in range(1000)], timestamp_ms=5)
    assert log.recovery_point == 0
    log.flush(fsync=False)
    # Everything is in the file (another reader sees it) but nothing was declared durable.
    on_disk = (logdir / "00000000000000000000.log").read_bytes()
    assert [r.value for r in _core.decode_records(on_disk)] == [b"v%d" % i for i in range(1000)]
    assert log.recovery_point == 0
    log.flush()
    assert log.recovery_point == 1000
    log.close()
