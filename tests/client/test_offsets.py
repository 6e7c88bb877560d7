"""coordinator.offsets: Kafka's offsets-topic record format, group placement, durable OffsetStore."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from pystream.coordinator.offsets import (
    OffsetAndMetadata,
    OffsetStore,
    decode_offset_key,
    decode_offset_value,
    encode_offset_key,
    encode_offset_value,
    java_string_hash,
    partition_for_group,
)
from pystream.errors import CorruptRecordError
from pystream.storage.log import Log

# Java's "...".hashCode() values.
JAVA_HASHES = {
    "": 0,
    "a": 97,
    "abc": 96354,
    "hello": 99162322,
    "Aa": 2112,
    "BB": 2112,
    "test": 3556498,
    "polygenelubricants": -(2**31),  # Integer.MIN_VALUE: Utils.abs gives 0
    "é": 233,
    "\U0001F600": 1772899,  # a surrogate pair: 0xD83D * 31 + 0xDE00
}


@pytest.mark.parametrize(("s", "h"), JAVA_HASHES.items())
def test_java_string_hash(s: str, h: int) -> None:
    assert java_string_hash(s) == h


def test_partition_for_group() -> None:
    assert partition_for_group("hello", 50) == 99162322 % 50 == 22
    assert partition_for_group("polygenelubricants", 50) == 0
    # A negative hash: Kafka takes abs() before the modulo.
    h = java_string_hash("my-group")
    assert h < 0 and partition_for_group("my-group", 50) == (-h) % 50
    assert partition_for_group("anything", 1) == 0
    with pytest.raises(ValueError):
        partition_for_group("g", 0)


def test_record_format_is_kafkas() -> None:
    key = encode_offset_key("grp", "topic", 7)
    assert key == b"\x00\x01" + b"\x00\x03grp" + b"\x00\x05topic" + b"\x00\x00\x00\x07"
    value = encode_offset_value(42, "meta", 1700000000000)
    assert value == struct.pack(">hqi", 3, 42, -1) + b"\x00\x04meta" + struct.pack(">q", 1700000000000)
    assert decode_offset_key(key) == ("grp", "topic", 7)
    assert decode_offset_value(value) == OffsetAndMetadata(42, "meta", 1700000000000, -1)
    # Value version 1 (older Kafka): offset, metadata, commit ts, expire ts.
    v1 = struct.pack(">hq", 1, 9) + b"\x00\x00" + struct.pack(">qq", 5, -1)
    assert decode_offset_value(v1) == OffsetAndMetadata(9, "", 5, -1)
    # Group metadata keys (version 2) are not offset commits.
    assert decode_offset_key(b"\x00\x02\x00\x03grp") is None
    with pytest.raises(CorruptRecordError):
        decode_offset_value(b"\x00\x03\x00")


class Logs:
    """A partition-log provider, as the broker would hand one to OffsetStore."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs: dict[int, Log] = {}

    def __call__(self, p: int) -> Log:
        if p not in self.logs:
            self.logs[p] = Log.open(self.root / f"__consumer_offsets-{p}")
        return self.logs[p]

    def close(self) -> None:
        for log in self.logs.values():
            log.close()
        self.logs.clear()


def test_offset_store_replays_after_reopen(tmp_path: Path) -> None:
    logs = Logs(tmp_path)
    s = OffsetStore(logs, num_partitions=4)
    s.commit("g1", {("t", 0): 5, ("t", 1): (7, "m")}, commit_timestamp_ms=100)
    s.commit("g1", {("t", 0): 6}, commit_timestamp_ms=200)
    s.commit("g2", {("u", 3): OffsetAndMetadata(11, "x", leader_epoch=4)})
    assert s.fetch("g1") == {("t", 0): OffsetAndMetadata(6, "", 200, -1), ("t", 1): OffsetAndMetadata(7, "m", 100, -1)}
    assert set(s.fetch("g2", topic="u")) == {("u", 3)}
    assert s.fetch("g2", topic="t") == {}
    assert s.delete_group("g2") == 1
    # The commits were fsynced: the recovery point covers them.
    g1_log = logs(s.partition_for("g1"))
    assert g1_log.recovery_point == g1_log.end_offset
    logs.close()

    logs2 = Logs(tmp_path)
    s2 = OffsetStore(logs2, num_partitions=4)
    assert s2.fetch("g1")[("t", 0)].offset == 6
    assert s2.fetch("g1")[("t", 1)] == OffsetAndMetadata(7, "m", 100, -1)
    assert s2.fetch("g2") == {}
    assert s2.groups() == ["g1"]
    assert s2.delete_topic("t") == 2 and s2.groups() == []
    logs2.close()


def test_offset_store_rejects_bad_offsets(tmp_path: Path) -> None:
    logs = Logs(tmp_path)
    s = OffsetStore(logs, num_partitions=2)
    with pytest.raises(ValueError):
        s.commit("g", {("t", 0): -1})
    with pytest.raises(ValueError):
        s.commit("", {("t", 0): 1})
    assert all(log.end_offset == 0 for log in logs.logs.values())
    logs.close()
