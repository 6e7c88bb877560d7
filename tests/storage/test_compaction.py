"""Log compaction through the embedded API (Store, LogManager, the log cleaner): real
files, real segments; the Rust cleaner's own unit tests are in rust/src/cleaner.rs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

import pystream
from pystream._core import batch_headers
from pystream.coordinator.offsets import OFFSETS_TOPIC, OffsetAndMetadata
from pystream.errors import InvalidRecordError
from pystream.storage.cleaner import CHECKPOINT_FILE, CleanerConfig, read_checkpoint
from pystream.storage.log import Log
from pystream.storage.topic_config import normalize_topic_config

VALUE = 100  # bytes of each value


def value(key: int, version: int) -> bytes:
    return (b"k%d:v%d:" % (key, version)).ljust(VALUE, b".")


def fill(store: pystream.Store, topic: str, records: int, keys: int, start: int = 0, prefix: bytes = b"key") -> dict[bytes, bytes]:
    """Appends `records` records over `keys` keys; returns each key's latest value."""
    p = store.producer()
    latest = {}
    for i in range(start, start + records):
        k, v = b"%s-%d" % (prefix, i % keys), value(i % keys, i)
        p.send(topic, v, key=k)
        latest[k] = v
    return latest


def all_records(log: Log) -> list[pystream.Record]:
    return log.records(log.start_offset, max_offset=log.end_offset)


def active_base(log: Log) -> int:
    return log.segments()[-1][0]


def check_batches(log: Log) -> int:
    """Every batch of the log passes a full check (CRC32C included); returns how many."""
    n, pos = 0, log.start_offset
    while pos < log.end_offset:
        chunk = log.read(pos, 1 << 20)
        if len(chunk) == 0:
            break
        heads = batch_headers(chunk)
        n += len(heads)
        pos = heads[-1]["last_offset"] + 1
    return n


@pytest.fixture
def store(tmp_path: Path):
    with pystream.open(tmp_path / "data", segment_bytes=16384, log_cleaner=False) as s:
        yield s


def test_a_compacted_topic_shrinks_to_its_latest_values(store: pystream.Store) -> None:
    store.create_topic("t", partitions=1, config={"cleanup.policy": "compact"})
    latest = fill(store, "t", 10_000, 100)
    log = store.partition_log("t", 0)
    before, size_before, end_before = all_records(log), log.size_bytes, log.end_offset
    assert store.table("t") == latest
    results = store.compact()
    assert results and not any(r.aborted for r in results)
    after = all_records(log)
    assert store.table("t") == latest
    assert log.size_bytes * 5 < size_before, (size_before, log.size_bytes)
    assert log.end_offset == end_before and log.start_offset == 0
    # Below the active segment exactly one record per key: its last one there, at its offset.
    base = active_base(log)
    last_below = {r.key: r.offset for r in before if r.offset < base}
    kept = [r for r in after if r.offset < base]
    assert sorted(r.offset for r in kept) == sorted(last_below.values())
    assert all(r.value == value(int(r.key[4:]), r.offset) for r in after), "every record is at its own offset"
    # Offsets only increase, with gaps; the active segment is as it was.
    offsets = [r.offset for r in after]
    assert offsets == sorted(set(offsets)) and offsets[-1] == end_before - 1 and len(offsets) < end_before
    assert [r for r in after if r.offset >= base] == [r for r in before if r.offset >= base]
    assert check_batches(log) > 0
    # The checkpoint records where the next round starts; a reopened store reads the same.
    assert read_checkpoint(store.data_dir / CHECKPOINT_FILE) == {("t", 0): base}


def test_the_active_segment_is_never_touched(store: pystream.Store) -> None:
    store.create_topic("t", partitions=1, config={"cleanup.policy": "compact", "segment.bytes": 1 << 20})
    fill(store, "t", 5_000, 10)
    log = store.partition_log("t", 0)
    log.flush()
    assert len(log.segments()) == 1
    seg = log.path / "00000000000000000000.log"
    raw = seg.read_bytes()
    assert store.compact() == [] or all(r.groups_swapped == 0 for r in store.compact())
    assert seg.read_bytes() == raw and len(all_records(log)) == 5_000


def test_tombstones_go_after_delete_retention_ms(store: pystream.Store) -> None:
    store.create_topic("t", partitions=1, config={"cleanup.policy": "compact", "delete.retention.ms": 60_000})
    fill(store, "t", 2_000, 20)
    p = store.producer()
    p.send("t", None, key=b"key-3")  # delete key-3
    fill(store, "t", 2_000, 500, start=10_000, prefix=b"other")  # the tombstone's segment rolls
    log = store.partition_log("t", 0)
    now = int(time.time() * 1000)
    (first, *_) = store.cleaner.compact("t", now_ms=now)
    assert first.next_delete_horizon == now + 60_000
    recs = all_records(log)
    assert [r.value for r in recs if r.key == b"key-3"] == [None], "only the tombstone is left of key-3"
    assert b"key-3" not in store.table("t")
    # Kept until delete.retention.ms after the cleaning that first saw it; gone after.
    store.cleaner.compact("t", now_ms=now + 59_999)
    assert [r.value for r in all_records(log) if r.key == b"key-3"] == [None]
    store.cleaner.compact("t", now_ms=now + 60_000)
    assert not [r for r in all_records(log) if r.key == b"key-3"]
    assert store.table("t") == {k: v for k, v in store.table("t").items()} and len(store.table("t")) == 519
    assert check_batches(log) > 0


def test_min_compaction_lag_keeps_recent_records(store: pystream.Store) -> None:
    store.create_topic("t", partitions=1, config={"cleanup.policy": "compact", "min.compaction.lag.ms": 3_600_000})
    fill(store, "t", 10_000, 50)
    log = store.partition_log("t", 0)
    before = all_records(log)
    for r in store.compact():
        assert r.groups_swapped == 0
    assert all_records(log) == before, "records younger than min.compaction.lag.ms are not compacted"
    store.alter_topic_config("t", {"min.compaction.lag.ms": None})
    store.compact()
    assert len(all_records(log)) < len(before) // 10


def test_a_small_dedupe_buffer_cleans_in_rounds(tmp_path: Path) -> None:
    config = CleanerConfig(dedupe_buffer_size=24 * 1_000, io_buffer_load_factor=0.5)  # 500 keys a round
    with pystream.open(tmp_path / "d", segment_bytes=16384, log_cleaner=config) as s:
        s.stop_cleaner()
        s.cleaner.config = config
        s.create_topic("t", config={"cleanup.policy": "compact"})
        latest = fill(s, "t", 8_000, 2_000)
        results = s.compact()
        assert len(results) >= 4 and all(r.map_keys <= 500 for r in results), [(r.map_keys, r.end_offset) for r in results]
        log = s.partition_log("t", 0)
        base = active_base(log)
        assert s.table("t") == latest
        below = [r.key for r in all_records(log) if r.offset < base]
        assert len(below) == len(set(below)), "one record per key below the active segment"


def test_the_background_cleaner_compacts(tmp_path: Path) -> None:
    config = CleanerConfig(backoff_ms=50, min_cleanable_ratio=0.2)
    with pystream.open(tmp_path / "d", segment_bytes=16384, log_cleaner=config) as s:
        s.create_topic("t", config={"cleanup.policy": "compact"})
        latest = fill(s, "t", 20_000, 100)
        log = s.partition_log("t", 0)
        size = log.size_bytes
        deadline = time.monotonic() + 30
        # the swap shrinks the log a moment before the round's result is recorded: wait for both
        while (log.size_bytes * 3 > size or not s.cleaner.results) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert log.size_bytes * 3 <= size, "the cleaner thread compacted the topic"
        assert s.table("t") == latest
        assert s.cleaner.results and s.cleaner.uncleanable() == {}


def test_delete_compact_and_delete_policies(store: pystream.Store) -> None:
    for name, policy in [("c", "compact"), ("cd", "delete, compact"), ("d", "delete")]:
        store.create_topic(name, config={"cleanup.policy": policy, "retention.ms": 1})
        fill(store, name, 3_000, 10)
    assert sorted(store.describe_topic("cd").config["cleanup.policy"]) == ["compact", "delete"]
    time.sleep(0.01)
    store.enforce_retention()
    logs = {n: store.partition_log(n, 0) for n in ("c", "cd", "d")}
    assert logs["c"].start_offset == 0, "a compact-only topic keeps every segment whatever retention.ms"
    assert logs["cd"].start_offset > 0 and logs["d"].start_offset > 0
    assert [r.topic for r in store.compact()] and {r.topic for r in store.compact()} <= {"c", "cd"}
    with pytest.raises(ValueError, match="shred"):
        normalize_topic_config({"cleanup.policy": "shred"})
    with pytest.raises(ValueError, match="min.cleanable.dirty.ratio"):
        normalize_topic_config({"min.cleanable.dirty.ratio": 1.5})


def test_a_compacted_topic_refuses_records_without_a_key(store: pystream.Store) -> None:
    store.create_topic("t", config={"cleanup.policy": "compact"})
    with pytest.raises(InvalidRecordError, match="needs a key"):
        store.producer().send("t", b"no key")
    assert store.partition_log("t", 0).end_offset == 0


def test_deleting_a_topic_forgets_its_checkpoint(store: pystream.Store) -> None:
    store.create_topic("t", config={"cleanup.policy": "compact"})
    fill(store, "t", 3_000, 10)
    store.compact()
    assert ("t", 0) in read_checkpoint(store.data_dir / CHECKPOINT_FILE)
    store.delete_topic("t")
    assert read_checkpoint(store.data_dir / CHECKPOINT_FILE) == {}


def test_consumer_offsets_is_compacted(tmp_path: Path) -> None:
    with pystream.open(tmp_path / "d", offsets_topic_partitions=1, log_cleaner=False) as s:
        assert s.offsets is not None
        assert s.describe_topic(OFFSETS_TOPIC).config["cleanup.policy"] == ["compact"]
        s.alter_topic_config(OFFSETS_TOPIC, {"segment.bytes": 2048})
        for i in range(400):
            s.offsets.commit("g", {("t", i % 4): i}, commit_timestamp_ms=1_000 + i)
        s.offsets.commit("gone", {("t", 0): 1})
        s.offsets.delete_group("gone")
        log = s.partition_log(OFFSETS_TOPIC, 0)
        size = log.size_bytes
        s.compact(OFFSETS_TOPIC)
        assert log.size_bytes * 4 < size
        assert len(all_records(log)) < 60
        fetched = s.offsets.fetch("g")
    with pystream.open(tmp_path / "d", log_cleaner=False) as s:
        assert s.offsets.fetch("g") == fetched
        assert fetched[("t", 3)].offset == 399 and s.offsets.fetch("gone") == {}


def test_old_consumer_offsets_directories_are_migrated(tmp_path: Path) -> None:
    with pystream.open(tmp_path / "d", offsets_topic_partitions=2, log_cleaner=False) as s:
        s.offsets.commit("g", {("t", 0): OffsetAndMetadata(5, "meta")})
    meta_path = tmp_path / "d" / "topics.json"
    meta = json.loads(meta_path.read_text())
    meta["topics"][OFFSETS_TOPIC]["config"] = {"segment.bytes": 104857600, "retention.ms": -1}  # as created before
    meta_path.write_text(json.dumps(meta))
    with pystream.open(tmp_path / "d", log_cleaner=False) as s:
        assert s.offsets.fetch("g")[("t", 0)] == OffsetAndMetadata(5, "meta", s.offsets.fetch("g")[("t", 0)].commit_timestamp)
        assert s.describe_topic(OFFSETS_TOPIC).config == {"segment.bytes": 104857600, "cleanup.policy": ["compact"]}


def test_expired_offsets_become_tombstones_that_compaction_drops(tmp_path: Path) -> None:
    with pystream.open(tmp_path / "d", offsets_topic_partitions=1, log_cleaner=False) as s:
        offsets = s.offsets  # creates __consumer_offsets
        s.alter_topic_config(OFFSETS_TOPIC, {"segment.bytes": 1024})
        for i in range(20):
            offsets.commit("idle", {("t", i): i}, commit_timestamp_ms=1_000)
            offsets.commit("busy", {("t", i): i}, commit_timestamp_ms=1_000)
        offsets.commit("recent", {("t", 0): 5}, commit_timestamp_ms=90_000)
        n = offsets.expire_offsets(60_000, is_active=lambda g: g == "busy", now_ms=100_000)
        assert n == 20 and offsets.fetch("idle") == {} and len(offsets.fetch("busy")) == 20
        assert offsets.fetch("recent")[("t", 0)].offset == 5, "within offsets.retention.minutes"
        for i in range(30):  # the tombstones' segment rolls
            offsets.commit("recent", {("t", 1): i}, commit_timestamp_ms=95_000)
        s.cleaner.compact(OFFSETS_TOPIC, now_ms=100_000)
        later = int(time.time() * 1000) + 86_400_000 + 1  # past the tombstones' delete.retention.ms
        s.cleaner.compact(OFFSETS_TOPIC, now_ms=later)
        keys = {r.key for r in all_records(s.partition_log(OFFSETS_TOPIC, 0))}
        assert not any(b"idle" in k for k in keys), "the expired group's records are gone"
    with pystream.open(tmp_path / "d", log_cleaner=False) as s:
        assert s.offsets.fetch("idle") == {} and len(s.offsets.fetch("busy")) == 20
