"""LeaderEpochCache against Kafka's LeaderEpochFileCache semantics."""

from __future__ import annotations

import pytest

import pystream
from pystream._core import encode_batch
from pystream.replication.leader_epoch import (
    CHECKPOINT_FILE,
    UNDEFINED_EPOCH,
    UNDEFINED_EPOCH_OFFSET,
    LeaderEpochCache,
    LeaderEpochCheckpointError,
    whole_batches_length,
)


def test_file_format_round_trip(tmp_path):
    c = LeaderEpochCache(tmp_path)
    assert c.latest_epoch() == UNDEFINED_EPOCH
    c.assign(2, 6)
    c.assign(3, 8)
    c.assign(3, 9)  # same epoch, later offset: no-op
    assert (tmp_path / CHECKPOINT_FILE).read_text() == "0\n2\n2 6\n3 8\n"
    assert LeaderEpochCache(tmp_path).entries == [(2, 6), (3, 8)]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("text", ["1\n0\n", "0\n2\n1 0\n", "0\n1\n1\n", "0\n2\n3 0\n2 5\n", "x\n"])
def test_bad_file_names_file_and_line(tmp_path, text):
    (tmp_path / CHECKPOINT_FILE).write_text(text)
    with pytest.raises(LeaderEpochCheckpointError, match=CHECKPOINT_FILE):
        LeaderEpochCache(tmp_path)


def test_assign_drops_non_monotonic_entries(tmp_path):
    c = LeaderEpochCache(tmp_path)
    for e, s in [(1, 0), (2, 10), (4, 20)]:
        c.assign(e, s)
    c.assign(3, 15)  # lower epoch than latest: entries with epoch >= 3 or start >= 15 go (Kafka)
    assert c.entries == [(1, 0), (2, 10), (3, 15)]
    c.assign(5, 10)  # new epoch at or below existing starts
    assert c.entries == [(1, 0), (5, 10)]
    c.assign(5, 7)  # same epoch, earlier start: replaced
    assert c.entries == [(1, 0), (5, 7)]
    with pytest.raises(ValueError):
        c.assign(-1, 3)


def test_end_offset_for_kafka_cases(tmp_path):
    c = LeaderEpochCache(tmp_path)
    assert c.end_offset_for(0, 100) == (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)  # empty cache
    for e, s in [(2, 10), (4, 20), (7, 30)]:
        c.assign(e, s)
    assert c.end_offset_for(UNDEFINED_EPOCH, 100) == (-1, -1)
    assert c.end_offset_for(7, 100) == (7, 100)  # latest -> LEO
    assert c.end_offset_for(2, 100) == (2, 20)
    assert c.end_offset_for(4, 100) == (4, 30)
    assert c.end_offset_for(5, 100) == (4, 30)  # between entries: floor epoch, next start
    assert c.end_offset_for(3, 100) == (2, 20)
    assert c.end_offset_for(1, 100) == (1, 10)  # below the first: (requested, first start), as Kafka
    assert c.end_offset_for(8, 100) == (-1, -1)  # above every epoch
    assert c.epoch_for_offset(25) == 4 and c.epoch_for_offset(5) == -1


def test_truncate_from_end(tmp_path):
    c = LeaderEpochCache(tmp_path)
    for e, s in [(1, 0), (2, 10), (3, 20)]:
        c.assign(e, s)
    c.truncate_from_end(25)
    assert c.entries == [(1, 0), (2, 10), (3, 20)]
    c.truncate_from_end(20)
    assert c.entries == [(1, 0), (2, 10)]
    c.truncate_from_end(5)
    assert c.entries == [(1, 0)]
    assert LeaderEpochCache(tmp_path).entries == [(1, 0)]


def test_truncate_from_start(tmp_path):
    c = LeaderEpochCache(tmp_path)
    for e, s in [(1, 0), (2, 10), (3, 20)]:
        c.assign(e, s)
    c.truncate_from_start(0)
    assert c.entries == [(1, 0), (2, 10), (3, 20)]
    c.truncate_from_start(15)
    assert c.entries == [(2, 15), (3, 20)]
    c.truncate_from_start(20)
    assert c.entries == [(3, 20)]
    c.truncate_from_start(25)
    assert c.entries == [(3, 25)]
    assert LeaderEpochCache(tmp_path).entries == [(3, 25)]


def test_rebuild_from_log(tmp_path):
    log = pystream.Log(tmp_path / "t-0", segment_bytes=300)
    offset = 0
    for epoch, n in [(-1, 2), (0, 3), (0, 2), (3, 1), (5, 4)]:
        for _ in range(n):
            log.append_raw(encode_batch([(1, None, b"v" * 20, None)], base_offset=offset, partition_leader_epoch=epoch),
                           assign_offsets=False)
            offset += 1
    assert len(log.segments()) > 1
    c = LeaderEpochCache(log.path)
    c.rebuild_from_log(log, max_bytes=100)
    assert c.entries == [(0, 2), (3, 7), (5, 8)]
    assert LeaderEpochCache(log.path).entries == c.entries
    log.close()


def test_whole_batches_length():
    b = encode_batch([(1, None, b"x", None)]) + encode_batch([(1, None, b"y", None)], base_offset=1)
    half = len(b) // 2
    assert whole_batches_length(b) == len(b)
    assert whole_batches_length(b[:-1]) == half
    assert whole_batches_length(b[:5]) == 0
