"""A partition log on a real full filesystem (a small tmpfs, filled up).

Every append path is atomic: the call that meets ENOSPC raises LogWriteError
(an OSError with errno ENOSPC naming the partition directory) and leaves the
log exactly as before it (end offset, file sizes, index entries); nothing of
it is written later. Reads, truncation, DeleteRecords and retention work on
the full disk, the last three free space; once space returns the next append
gets the next offset, and every acknowledged record is there exactly once,
also after close/reopen and after kill -9 of the writer."""

from __future__ import annotations

import errno
import logging
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import log_files as H  # tests/storage/log_files.py
from pystream import Log, _core
from pystream.errors import LogWriteError, StorageError

pytestmark = pytest.mark.skipif(not H.IS_ROOT, reason=H.NEEDS_ROOT)

WRITER = Path(__file__).with_name("fault_writer.py")
TS = 1_700_000_000_000
# Small segments and indexes, so that rolls (new files) happen near the full mark too.
CFG = dict(segment_bytes=24 * 1024, segment_index_bytes=4096, index_interval_bytes=512, batch_size=2048)


def val(o: int) -> bytes:
    return b"v%09d|" % o * (1 + o % 4)


def state(log: Log, d: Path) -> tuple:
    """Everything a failed append must leave as it was."""
    return (log.end_offset, log.start_offset, log.segments(), H.file_sizes(d))


def check_records(log: Log, upto: int, start: int = 0) -> None:
    recs = log.records(start)
    assert [r.offset for r in recs] == list(range(start, upto))
    assert all(r.value == val(r.offset) for r in recs)


def fill_log(log: Log, d: Path, how: str) -> LogWriteError:
    """Appends with `how` until the disk is full; checks the failed call changed nothing."""
    rng = np.random.default_rng(len(how))
    for _ in range(100_000):
        end = log.end_offset
        before = state(log, d)
        n = int(rng.integers(1, 120))
        try:
            if how == "append_batch":
                got = log.append_batch([val(o) for o in range(end, end + n)], timestamp_ms=TS)
            elif how == "append_raw":
                got = log.append_raw(_core.encode_batch([(TS, None, val(o), None) for o in range(end, end + n)]))
            else:  # append: one call per record
                got = end
                for o in range(end, end + n):
                    assert log.append(val(o), timestamp_ms=TS) == o
                    before = state(log, d)
            assert got == end
        except LogWriteError as e:
            assert isinstance(e, OSError) and isinstance(e, StorageError)
            assert e.errno == errno.ENOSPC, e
            assert e.filename == str(d)
            assert str(d) in str(e)
            assert state(log, d) == before, "a failed append changed the log"
            return e
    raise AssertionError("the disk never filled up")


@pytest.mark.parametrize("how", ["append_batch", "append_raw", "append"])
def test_full_disk_appends_are_atomic(tmp_path, how, caplog):
    mnt = tmp_path / "mnt"
    with H.tmpfs(mnt, 192):
        d = mnt / "t-0"
        log = Log.open(d, **CFG)
        fill_log(log, d, how)
        full_end = log.end_offset
        before = state(log, d)
        # every other append path fails the same way and changes nothing
        for call in (
            lambda: log.append_batch([val(o) for o in range(full_end, full_end + 3000)], timestamp_ms=TS),
            lambda: log.append_raw(_core.encode_batch([(TS, None, b"x" * 4000, None)] * 20)),
        ):
            with pytest.raises(LogWriteError):
                call()
            assert state(log, d) == before
        # reads of existing data keep working on the full disk (records that
        # `append` still holds in memory are not readable until written)
        recs = log.records(0)
        written = len(recs)
        assert written == full_end or (how == "append" and 0 < written < full_end)
        check_records(log, written)
        cols = log.read_columns(0)
        assert list(cols.offsets) == list(range(written)) and cols.value(written - 1) == val(written - 1)
        assert bytes(log.read(0, 100))[:8] == (0).to_bytes(8, "big")
        assert log.read_file_range(0, 100)[1] == 0
        assert log.scan_batches(0)[0][0] == 0
        assert log.offset_for_timestamp(TS) == 0
        assert state(log, d) == before
        # space comes back: the retry of the failed call gets the next offset, no gap
        H.resize_tmpfs(mnt, 1024)
        end = log.end_offset
        assert end == full_end
        assert log.append_batch([val(o) for o in range(end, end + 3000)], timestamp_ms=TS) == end
        assert log.append_raw(_core.encode_batch([(TS, None, val(end + 3000), None)])) == end + 3000
        total = end + 3001
        log.close()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pystream.storage"):
            log = Log.open(d, **CFG)
        assert not caplog.records, caplog.text  # a clean close: nothing to recover
        check_records(log, total)
        assert log.verify() == []
        log.close()


def test_filling_a_disk_many_times_over_loses_nothing(tmp_path):
    """Full, then a little more room, then full again... with rolls at random
    points: every acknowledged record is there once, at its offset."""
    mnt = tmp_path / "mnt"
    with H.tmpfs(mnt, 160):
        d = mnt / "t-0"
        log = Log.open(d, **CFG)
        files_seen = set()
        for size in range(160, 480, 24):
            H.resize_tmpfs(mnt, size)
            fill_log(log, d, ["append_batch", "append_raw"][size % 2])
            files_seen |= set(H.file_sizes(d))
        assert len([f for f in files_seen if f.endswith(".log")]) > 4  # segments rolled along the way
        total = log.end_offset
        check_records(log, total)
        # an unclean reopen (no close) on the full disk recovers and loses nothing
        del log
        H.fill_up(mnt)
        log = Log.open(d, **CFG)
        check_records(log, total)
        assert log.verify() == []
        with pytest.raises(LogWriteError):
            log.append_batch([b"x" * 100] * 100)
        assert log.end_offset == total
        log.close()  # the checkpoints may not fit: close still succeeds, with a warning
        log = Log.open(d, **CFG)
        check_records(log, total)
        log.close()


def test_a_roll_that_cannot_create_its_files_changes_nothing(tmp_path):
    """No inode left for the new segment's files (the filesystem still has
    room): the append that needed the roll fails whole, no file of the new
    segment is left behind, and appends go on once files can be created."""
    mnt = tmp_path / "mnt"
    with H.tmpfs(mnt, 4096, inodes=10):
        d = mnt / "t-0"
        log = Log.open(d, **CFG)
        e = fill_log(log, d, "append_raw")  # checks that the files are as before the call
        assert "cannot open" in str(e) and H.free_bytes(mnt) > 1 << 20  # creating a file failed, not a write
        end = log.end_offset
        H.resize_tmpfs(mnt, 4096, inodes=1000)
        assert log.append_raw(_core.encode_batch([(TS, None, val(o), None) for o in range(end, end + 2000)])) == end
        log.close()
        log = Log.open(d, **CFG)
        check_records(log, end + 2000)
        log.close()


def test_deleting_frees_space_on_a_full_disk(tmp_path):
    mnt = tmp_path / "mnt"
    with H.tmpfs(mnt, 256):
        d = mnt / "t-0"
        log = Log.open(d, **CFG, retention_bytes=-1)
        fill_log(log, d, "append_batch")
        H.fill_up(mnt)
        end = log.end_offset
        segs = log.segments()
        assert len(segs) > 3
        # DeleteRecords: segments below the new start go, their space is free again
        free = H.free_bytes(mnt)
        assert log.delete_records_before(segs[2][0]) == segs[2][0]
        assert H.free_bytes(mnt) > free
        assert [s[0] for s in log.segments()] == [s[0] for s in segs[2:]]
        check_records(log, end, start=segs[2][0])
        # retention by size
        log.reconfigure(retention_bytes=segs[-1][1])
        assert log.enforce_retention() == len(segs) - 3
        # truncation
        H.fill_up(mnt)
        log.truncate_to(end - 10)
        assert log.end_offset == log.records(log.start_offset)[-1].offset + 1 <= end - 10
        new_end = log.end_offset
        H.fill_up(mnt)
        # and the next append after space came back continues right there
        (mnt / "filler").unlink()
        assert log.append_batch([val(o) for o in range(new_end, new_end + 10)], timestamp_ms=TS) == new_end
        log.close()
        log = Log.open(d, **CFG)
        check_records(log, new_end + 10, start=log.start_offset)
        log.close()


def test_truncate_on_full_disk_with_a_reader_holding_the_bytes(tmp_path):
    """Truncation under a memoryview normally copies the kept prefix to a new
    file; with no room for the copy it cuts in place, and the reader sees
    zeros past the cut instead of crashing (SIGBUS)."""
    mnt = tmp_path / "mnt"
    with H.tmpfs(mnt, 256):
        d = mnt / "t-0"
        log = Log.open(d, segment_bytes=1 << 20, index_interval_bytes=512)
        log.append_batch([val(o) for o in range(3000)], timestamp_ms=TS)
        view = log.read(0, 1 << 20)
        head = bytes(view[:61])
        H.fill_up(mnt)
        log.truncate_to(1000)
        assert log.end_offset <= 1000
        assert bytes(view[:61]) == head  # the kept part is unchanged
        assert sum(view[len(view) - 4096 :]) == 0  # the cut part reads as zeros, no SIGBUS
        del view
        check_records(log, log.end_offset)
        log.close()


def test_close_with_unwritten_records_on_a_full_disk(tmp_path):
    """`append` keeps records in memory until a batch fills; when close cannot
    write them it raises, the log stays open, and nothing is lost."""
    mnt = tmp_path / "mnt"
    with H.tmpfs(mnt, 256):
        d = mnt / "t-0"
        log = Log.open(d, **CFG)
        for o in range(10):
            assert log.append(val(o), timestamp_ms=TS) == o
        filler = H.fill_up(mnt)
        with pytest.raises(LogWriteError) as e:
            log.close()
        assert e.value.errno == errno.ENOSPC
        assert not log.closed and log.end_offset == 10
        with pytest.raises(LogWriteError):
            log.flush()
        assert log.records(0) == []  # not written yet: reads see the files
        filler.unlink()
        log.close()
        log = Log.open(d, **CFG)
        check_records(log, 10)
        log.close()


def test_open_on_a_full_disk(tmp_path, caplog):
    mnt = tmp_path / "mnt"
    with H.tmpfs(mnt, 256):
        d = mnt / "t-0"
        log = Log.open(d, **CFG)
        log.append_batch([val(o) for o in range(500)], timestamp_ms=TS)
        log.flush()
        del log  # unclean: the next open recovers and wants to write a checkpoint
        (d / "recovery-point-offset-checkpoint").unlink()
        for p in d.glob("*.index"):
            p.write_bytes(b"")  # an index to rebuild, too
        H.fill_up(mnt)
        with caplog.at_level(logging.WARNING, logger="pystream.storage"):
            log = Log.open(d, **CFG)
        check_records(log, 500)
        with pytest.raises(LogWriteError):
            log.append_batch([b"x" * 100] * 100)
        log.close()
        log = Log.open(d, **CFG)
        check_records(log, 500)
        log.close()


def _writer(d: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(WRITER), str(d)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)


def _ask(p: subprocess.Popen, cmd: str) -> list[str]:
    p.stdin.write(cmd + "\n")
    p.stdin.flush()
    line = p.stdout.readline()
    assert line, p.stderr.read()
    return line.split()


def test_kill_9_after_a_full_disk_loses_no_acknowledged_record(tmp_path):
    mnt = tmp_path / "mnt"
    with H.tmpfs(mnt, 192):
        d = mnt / "t-0"
        acked = 0
        for round_ in range(3):
            p = _writer(d)
            try:
                assert p.stdout.readline().split() == ["start", str(acked)]
                full = _ask(p, "fill")
                assert full[0] == "full" and int(full[2]) == errno.ENOSPC
                acked = int(full[1])
                err = _ask(p, "more 500")
                assert err[0] == "error" and int(err[2]) == acked  # still full: nothing of it
                H.resize_tmpfs(mnt, 192 + 160 * (round_ + 1))
                ok = _ask(p, "more 500")
                assert ok == ["ok", str(acked + 500)]
                acked += 500
            finally:
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=30)
                p.stdin.close(), p.stdout.close(), p.stderr.close()
            log = Log.open(d)
            recs = log.records(0)
            assert [r.offset for r in recs] == list(range(acked)), "acknowledged records lost, moved or duplicated"
            assert all(r.value == b"w%010d;" % r.offset * (1 + r.offset % 5) for r in recs)
            assert log.end_offset == acked
            log.close()
