"""LogManager over several log directories (Kafka's log.dirs) and the topic config it applies to logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pystream.errors import LogDirectoryError
from pystream.storage.manager import LogManager, check_log_dirs
from pystream.storage.topic_config import log_kwargs


def partitions_in(d: Path) -> set[str]:
    return {p.name for p in d.iterdir() if p.is_dir()}


def test_new_partitions_go_to_the_dir_with_the_fewest(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b", tmp_path / "c"]
    with LogManager(dirs) as m:
        m.create_topic("big", partitions=4)  # a: 0 3, b: 1, c: 2
        m.create_topic("small", partitions=2)  # b, c (a has the most)
        m.create_partitions("small", 4)  # a, b, c all hold 2 now: a (first) then b
        assert [partitions_in(d) for d in dirs] == [
            {"big-0", "big-3", "small-2"}, {"big-1", "small-0", "small-3"}, {"big-2", "small-1"}]
        assert m.data_dir == dirs[0] and (dirs[0] / "topics.json").exists()
        for p in range(4):
            m.partition_log("small", p).append(b"v%d" % p)
        assert m.log_dir_of("small", 1) == dirs[2]
        assert m.log_dirs() == {  # DescribeLogDirs' view
            dirs[0].resolve(): [("big", 0), ("big", 3), ("small", 2)],
            dirs[1].resolve(): [("big", 1), ("small", 0), ("small", 3)],
            dirs[2].resolve(): [("big", 2), ("small", 1)]}
        m.delete_topic("big")
        assert [len(partitions_in(d)) for d in dirs] == [1, 2, 1]


def test_restart_finds_partitions_whatever_the_order(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    with LogManager(dirs) as m:
        m.create_topic("t", partitions=4, config={"retention.ms": 1000})
        for p in range(4):
            m.partition_log("t", p).append(b"v%d" % p)
    with LogManager(list(reversed(dirs))) as m:  # topics.json is found in b's sibling a
        assert m.data_dir == dirs[0]
        assert m.topic_config("t") == {"retention.ms": 1000}
        assert [[r.value for r in m.partition_log("t", p).records(0)] for p in range(4)] == [[b"v0"], [b"v1"], [b"v2"], [b"v3"]]
        m.create_topic("u", partitions=1)  # both hold 2: the first listed (b) gets it
        assert partitions_in(dirs[1]) == {"t-1", "t-3", "u-0"}


def test_each_dir_is_locked_and_checked(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    with LogManager([a, b]):
        with pytest.raises(LogDirectoryError, match="in use"):
            LogManager([tmp_path / "c", b])
        with pytest.raises(LogDirectoryError, match=f"log directory {b} is in use by another running broker"):
            check_log_dirs([tmp_path / "c", b])
    check_log_dirs([a, b, tmp_path / "not" / "yet"])  # released; a missing dir under a writable parent is fine
    assert not (tmp_path / "not").exists()
    f = tmp_path / "file"
    f.write_text("")
    with pytest.raises(LogDirectoryError, match="is not a directory"):
        check_log_dirs([f / "data"])
    with pytest.raises(ValueError, match="listed twice"):
        LogManager([a, tmp_path / "." / "a"])


def test_a_partition_in_two_dirs_or_metadata_in_two_dirs_is_refused(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    with LogManager([a, b]) as m:
        m.create_topic("t", partitions=1)
    (b / "t-0").mkdir()
    with pytest.raises(LogDirectoryError, match="partition t-0 is in two log directories"):
        LogManager([a, b])
    (b / "t-0").rmdir()
    (b / "topics.json").write_text((a / "topics.json").read_text())
    with pytest.raises(LogDirectoryError, match="topic metadata"):
        LogManager([a, b])


def test_topic_defaults_and_effective_config(tmp_path: Path) -> None:
    with LogManager(tmp_path, topic_defaults={"retention.ms": 5000, "max.message.bytes": 100}) as m:
        m.create_topic("t", config={"max.message.bytes": "200"})
        cfg = m.effective_topic_config("t")
        assert (cfg["retention.ms"], cfg["max.message.bytes"], cfg["segment.bytes"]) == (5000, 200, 1 << 30)
        m.set_topic_defaults({"retention.ms": 7000})
        assert m.effective_topic_config("t")["retention.ms"] == 7000
        m.alter_topic_config("t", {"segment.ms": "1000", "max.message.bytes": None})  # None removes
        assert m.topic_config("t") == {"segment.ms": 1000}
        assert m.max_message_bytes("t") == 1048588


def test_log_kwargs_jitter_and_cleanup_policy() -> None:
    for _ in range(50):
        kw = log_kwargs({}, {"segment.ms": 10_000, "segment.jitter.ms": 3_000})
        assert 7_001 <= kw["segment_ms"] <= 10_000
    assert log_kwargs({}, {"segment.ms": 100, "segment.jitter.ms": 10**9})["segment_ms"] >= 1  # jitter < segment.ms
    kw = log_kwargs({"retention_ms": 5}, {"cleanup.policy": ["compact"], "retention.bytes": 10})
    assert (kw["retention_ms"], kw["retention_bytes"]) == (-1, -1)  # compact alone: retention deletes nothing
    kw = log_kwargs({}, {"cleanup.policy": ["compact", "delete"], "retention.ms": 9, "compression.type": "producer",
                         "flush.ms": 2**63 - 1})
    assert (kw["retention_ms"], kw["compression_type"], kw["flush_ms"]) == (9, "none", None)
