"""Idempotent-producer sequence rules (Kafka's ProducerStateManager) and their persistence."""

from pathlib import Path

import pystream
from pystream import _core
from pystream.storage.producer_state import INT32_MAX, ProducerState, SequenceCheck


def test_first_batch_must_start_at_zero(tmp_path: Path) -> None:
    st = ProducerState(tmp_path)
    assert st.check(7, 0, 5, 1)[0] is SequenceCheck.UNKNOWN_PRODUCER
    assert st.check(7, 0, 0, 3)[0] is SequenceCheck.OK


def test_next_sequence_duplicate_and_gap(tmp_path: Path) -> None:
    st = ProducerState(tmp_path)
    st.update(7, 0, 0, 3, 100, 102)
    assert st.check(7, 0, 3, 2) == (SequenceCheck.OK, -1)
    # A retry of the batch already appended is a duplicate answered with its offset.
    assert st.check(7, 0, 0, 3) == (SequenceCheck.DUPLICATE, 100)
    assert st.check(7, 0, 5, 1)[0] is SequenceCheck.OUT_OF_ORDER
    assert st.check(7, 0, 2, 1)[0] is SequenceCheck.OUT_OF_ORDER  # overlaps, not a known batch


def test_epochs(tmp_path: Path) -> None:
    st = ProducerState(tmp_path)
    st.update(7, 3, 0, 1, 0, 0)
    assert st.check(7, 2, 1, 1)[0] is SequenceCheck.INVALID_EPOCH
    assert st.check(7, 4, 0, 1)[0] is SequenceCheck.OK  # a new epoch restarts at 0
    assert st.check(7, 4, 1, 1)[0] is SequenceCheck.OUT_OF_ORDER


def test_only_last_five_batches_are_remembered(tmp_path: Path) -> None:
    st = ProducerState(tmp_path)
    for i in range(7):
        st.update(1, 0, i, 1, i, i)
    assert st.check(1, 0, 6, 1) == (SequenceCheck.DUPLICATE, 6)
    assert st.check(1, 0, 2, 1) == (SequenceCheck.DUPLICATE, 2)
    assert st.check(1, 0, 1, 1)[0] is SequenceCheck.OUT_OF_ORDER


def test_sequence_wraps_at_int32_max(tmp_path: Path) -> None:
    st = ProducerState(tmp_path)
    st.update(1, 0, INT32_MAX - 1, 2, 0, 1)  # last sequence INT32_MAX
    assert st.check(1, 0, 0, 1)[0] is SequenceCheck.OK


def _idempotent_batch(pid: int, epoch: int, seq: int, values: list[bytes]) -> bytes:
    import struct

    raw = bytearray(_core.encode_batch([(1, None, v, None) for v in values]))
    struct.pack_into(">qhi", raw, 43, pid, epoch, seq)
    struct.pack_into(">I", raw, 17, _core.crc32c(bytes(raw[21:])))
    return bytes(raw)


def test_state_rebuilt_from_the_log_after_a_crash(tmp_path: Path) -> None:
    log = pystream.Log.open(tmp_path / "p")
    log.append_raw(_idempotent_batch(9, 0, 0, [b"a", b"b"]))
    st = ProducerState(log.path)
    st.save(0)  # an old snapshot: the batch after it is replayed from the log
    log.append_raw(_idempotent_batch(9, 0, 2, [b"c"]))
    fresh = ProducerState(log.path)
    fresh.load(log)
    assert fresh.check(9, 0, 2, 1) == (SequenceCheck.DUPLICATE, 2)
    assert fresh.check(9, 0, 3, 1)[0] is SequenceCheck.OK
    log.close()


def test_snapshot_round_trip_and_stale_snapshot_ignored(tmp_path: Path) -> None:
    log = pystream.Log.open(tmp_path / "p")
    log.append_raw(_idempotent_batch(9, 0, 0, [b"a"]))
    st = ProducerState(log.path)
    st.load(log)
    st.save(log.end_offset)
    log.truncate_to(0)  # the snapshot now claims an offset past the end: ignored
    again = ProducerState(log.path)
    again.load(log)
    assert again.producers == {}
    log.close()


def test_an_unchanged_state_is_not_written_again(tmp_path: Path) -> None:
    """10,000 idle partitions at shutdown: no snapshot rewritten (each write is an fsync)."""
    log = pystream.Log.open(tmp_path / "p")
    log.append_raw(_idempotent_batch(9, 0, 0, [b"a"]))
    st = ProducerState(log.path)
    st.load(log)
    assert st.save(log.end_offset)
    written = st.path.stat().st_mtime_ns
    st.path.write_text(st.path.read_text())  # (a marker: a rewrite would replace this inode)
    inode = st.path.stat().st_ino
    assert st.save(log.end_offset)
    assert st.path.stat().st_ino == inode, "the same state was written again"
    # loaded from a snapshot that holds the whole state: not written again either
    again = ProducerState(log.path)
    again.load(log)
    assert again.save(log.end_offset) and st.path.stat().st_ino == inode
    # a change is written
    log.append_raw(_idempotent_batch(9, 0, 1, [b"b"]))
    again.update(9, 0, 1, 1, 1, 1)
    assert again.save(log.end_offset)
    assert st.path.stat().st_ino != inode and st.path.stat().st_mtime_ns >= written
    fresh = ProducerState(log.path)
    fresh.load(log)
    assert fresh.check(9, 0, 1, 1) == (SequenceCheck.DUPLICATE, 1)
    log.close()
