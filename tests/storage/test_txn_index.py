"""Transactions in a partition log: markers, the last stable offset, and the aborted-transaction
index (Kafka's ``.txnindex``) kept in step on append, truncation, segment deletion and recovery."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import pystream
from pystream.storage.producer_state import ProducerState
from pystream.storage.records import ATTR_TRANSACTIONAL, Record, check_batch, encode_batch
from pystream.storage.txn_index import ABORT, COMMIT, AbortedTxn, TxnIndex, encode_marker_batch, marker_type


def txn_batch(pid: int, epoch: int, seq: int, values: list[bytes]) -> bytes:
    return encode_batch(0, [Record(0, 1000, None, v) for v in values], producer_id=pid, producer_epoch=epoch,
                        base_sequence=seq, attributes_extra=ATTR_TRANSACTIONAL)


class Partition:
    """A log and its producer state, fed as the broker feeds them."""

    def __init__(self, path: Path, **log_config: int) -> None:
        self.path = path
        self.log_config = log_config
        self.log = pystream.Log.open(path, **log_config)
        self.state = ProducerState(path)
        self.state.load(self.log)
        self.seq: dict[int, int] = {}

    def produce(self, pid: int, values: list[bytes], epoch: int = 0) -> int:
        seq = self.seq.get(pid, 0)
        base = self.log.append_raw(txn_batch(pid, epoch, seq, values))
        self.state.update(pid, epoch, seq, len(values), base, base + len(values) - 1)
        self.state.begin_txn(pid, base)
        self.seq[pid] = seq + len(values)
        return base

    def plain(self, values: list[bytes]) -> int:
        return self.log.append_batch(values)

    def end(self, pid: int, commit: bool, epoch: int = 0) -> int:
        offset = self.log.append_raw(encode_marker_batch(pid, epoch, commit, 0, 1000))
        self.state.end_txn(self.log, pid, epoch, offset, aborted=not commit)
        return offset

    @property
    def lso(self) -> int:
        first = self.state.first_unstable_offset()
        return self.log.end_offset if first is None else first

    def reopen(self, save: bool = True) -> None:
        if save:
            self.state.save(self.log.end_offset)
        self.log.close()
        self.log = pystream.Log.open(self.path, **self.log_config)
        self.state = ProducerState(self.path)
        self.state.load(self.log)


def test_marker_batch_is_a_valid_control_batch() -> None:
    for commit, kind in ((True, COMMIT), (False, ABORT)):
        batch = encode_marker_batch(42, 3, commit, coordinator_epoch=7, timestamp_ms=1234)
        h = check_batch(batch)
        assert h.is_control and h.is_transactional
        assert (h.producer_id, h.producer_epoch, h.base_sequence, h.record_count) == (42, 3, -1, 1)
        assert marker_type(batch) == kind


def test_index_entry_is_kafkas_34_byte_layout(tmp_path: Path) -> None:
    idx = TxnIndex(tmp_path)
    idx.append(AbortedTxn(5, 10, 20, 21), [0])
    data = (tmp_path / "00000000000000000000.txnindex").read_bytes()
    assert data == struct.pack(">hqqqq", 0, 5, 10, 20, 21) and len(data) == 34


def test_lso_and_aborted_index(tmp_path: Path) -> None:
    p = Partition(tmp_path / "p")
    p.plain([b"x"])  # 0
    a = p.produce(1, [b"a1", b"a2"])  # 1-2: producer 1 opens a transaction
    assert p.lso == a
    b = p.produce(2, [b"b1"])  # 3: producer 2 too
    p.plain([b"y"])  # 4
    m1 = p.end(1, commit=False)  # 5: producer 1 aborts
    assert p.lso == b  # producer 2's transaction still holds it back
    m2 = p.end(2, commit=True)  # 6
    assert p.lso == p.log.end_offset == m2 + 1
    assert p.state.txn_index.entries == [AbortedTxn(1, a, m1, b)]
    # A fetch from 0 to the end reports the aborted transaction; one starting after it does not.
    assert p.state.txn_index.collect(0, p.log.end_offset) == [AbortedTxn(1, a, m1, b)]
    assert p.state.txn_index.collect(m1 + 1, p.log.end_offset) == []
    assert p.state.txn_index.collect(0, a) == []  # the fetch ends before the transaction starts
    # The records of the log: control batches are skipped by records().
    assert [r.value for r in p.log.records(0)] == [b"x", b"a1", b"a2", b"b1", b"y"]


def test_collect_stops_at_an_entry_whose_lso_covers_the_bound(tmp_path: Path) -> None:
    idx = TxnIndex(tmp_path)
    idx.append(AbortedTxn(1, 0, 5, 6), [0])
    idx.append(AbortedTxn(2, 7, 9, 10), [0])
    assert idx.collect(0, 6) == [AbortedTxn(1, 0, 5, 6)]  # LSO 6 >= 6: nothing later started below 6
    assert idx.collect(0, 100) == [AbortedTxn(1, 0, 5, 6), AbortedTxn(2, 7, 9, 10)]


def test_state_and_index_survive_a_clean_restart(tmp_path: Path) -> None:
    p = Partition(tmp_path / "p")
    a = p.produce(1, [b"a"])
    m = p.end(1, commit=False)
    open_at = p.produce(2, [b"open"])  # left open across the restart
    p.reopen()
    assert p.state.txn_index.entries == [AbortedTxn(1, a, m, open_at)]
    assert p.state.ongoing == {2: open_at}
    assert p.lso == open_at
    p.end(2, commit=True)
    assert p.lso == p.log.end_offset


def test_everything_after_the_snapshot_is_rebuilt_from_the_markers(tmp_path: Path) -> None:
    p = Partition(tmp_path / "p")
    p.state.save(p.log.end_offset)  # snapshot at 0: all that follows is replayed
    a = p.produce(1, [b"a"])
    m = p.end(1, commit=False)
    b = p.produce(2, [b"b"])
    for f in (tmp_path / "p").glob("*.txnindex"):
        f.unlink()  # lost with the page cache
    p.reopen(save=False)
    assert p.state.txn_index.entries == [AbortedTxn(1, a, m, b)]
    assert p.state.ongoing == {2: b}
    assert (tmp_path / "p" / "00000000000000000000.txnindex").exists()


def test_a_damaged_index_file_is_rebuilt_from_the_log(tmp_path: Path) -> None:
    p = Partition(tmp_path / "p")
    a = p.produce(1, [b"a"])
    m = p.end(1, commit=False)
    p.state.save(p.log.end_offset)
    f = tmp_path / "p" / "00000000000000000000.txnindex"
    f.write_bytes(f.read_bytes()[:-3])  # torn entry
    p.reopen(save=False)
    assert p.state.txn_index.entries == [AbortedTxn(1, a, m, m + 1)]
    assert len(f.read_bytes()) == 34


def test_truncation_drops_the_entries_above_it(tmp_path: Path) -> None:
    p = Partition(tmp_path / "p")
    a = p.produce(1, [b"a"])
    m1 = p.end(1, commit=False)
    p.state.save(p.log.end_offset)
    b = p.produce(2, [b"b"])
    m2 = p.end(2, commit=False)
    assert len(p.state.txn_index) == 2
    p.log.truncate_to(m2)  # the second marker is gone: producer 2's transaction is open again
    p.state.load(p.log)
    assert p.state.txn_index.entries == [AbortedTxn(1, a, m1, m1 + 1)]
    assert p.state.ongoing == {2: b}
    p.log.truncate_to(a)  # everything is gone
    p.state.load(p.log)
    assert p.state.txn_index.entries == [] and p.state.ongoing == {}
    assert not list((tmp_path / "p").glob("*.txnindex"))


def test_deleted_segments_take_their_index_files(tmp_path: Path) -> None:
    p = Partition(tmp_path / "p", segment_bytes=1024)
    for i in range(6):
        p.produce(1, [b"v" * 300])
        p.end(1, commit=False)
    segments = [base for base, _ in p.log.segments()]
    assert len(segments) >= 3
    files = sorted((tmp_path / "p").glob("*.txnindex"))
    assert len(files) >= 2  # the entries live in the files of their markers' segments
    p.log.delete_records_before(segments[-1])
    p.state.txn_index.retain([base for base, _ in p.log.segments()])
    assert all(e.last_offset >= segments[-1] for e in p.state.txn_index.entries)
    assert sorted((tmp_path / "p").glob("*.txnindex")) == [f for f in files if int(f.name[:20]) >= segments[-1]]


def test_a_fencing_marker_bumps_the_epoch(tmp_path: Path) -> None:
    p = Partition(tmp_path / "p")
    p.produce(1, [b"zombie"], epoch=0)
    p.end(1, commit=False, epoch=1)  # the coordinator aborted with a bumped epoch
    assert p.state.producers[1].epoch == 1
    assert not p.state.check_marker(1, 0)
    from pystream.storage.producer_state import SequenceCheck

    assert p.state.check(1, 0, 1, 1)[0] is SequenceCheck.INVALID_EPOCH  # the old producer is fenced
    assert p.state.check(1, 2, 0, 1)[0] is SequenceCheck.OK  # the new one starts at sequence 0


@pytest.mark.parametrize("bad", [b"\x00\x01" + b"\x00" * 32, struct.pack(">hqqqq", 0, 1, 9, 5, 6)])
def test_load_refuses_bad_entries(tmp_path: Path, bad: bytes) -> None:
    (tmp_path / "00000000000000000000.txnindex").write_bytes(bad)
    idx = TxnIndex(tmp_path)
    assert idx.load([0], replay_from=100) is False
    assert not list(tmp_path.glob("*.txnindex"))
