"""Store: topic lifecycle, metadata persistence, config mapping, data-dir locking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import pystream
from pystream.client import Store, TopicExistsError, UnknownPartitionError, UnknownTopicError
from pystream.client import open as open_store
from pystream.errors import LogDirectoryError, PystreamError


def test_create_list_describe_delete(store: Store, data_dir: Path) -> None:
    d = store.create_topic("orders", partitions=3, config={"retention.ms": "60000"})
    assert (d.name, d.partitions, d.config, d.internal) == ("orders", 3, {"retention.ms": 60000}, False)
    store.create_topic("audit.log_v1-x")
    assert store.list_topics() == {"audit.log_v1-x": 1, "orders": 3}
    assert store.describe_topic("orders").config == {"retention.ms": 60000}
    assert sorted(p.name for p in data_dir.iterdir() if p.is_dir()) == ["audit.log_v1-x-0", "orders-0", "orders-1", "orders-2"]
    with pytest.raises(TopicExistsError, match="orders"):
        store.create_topic("orders")
    store.producer().send("orders", b"x", partition=1)
    store.delete_topic("orders")
    assert store.list_topics() == {"audit.log_v1-x": 1}
    assert not (data_dir / "orders-1").exists()
    with pytest.raises(UnknownTopicError):
        store.describe_topic("orders")
    with pytest.raises(UnknownTopicError):
        store.delete_topic("orders")
    # A re-created topic starts empty.
    store.create_topic("orders", partitions=2)
    assert store.partition_log("orders", 1).end_offset == 0


def test_metadata_persists_across_reopen(data_dir: Path) -> None:
    with open_store(data_dir) as s:
        s.create_topic("a", partitions=4, config={"segment.bytes": 1 << 20, "compression.type": "gzip"})
        s.create_topic("b")
        s.producer().send("a", b"v", partition=3)
    meta = json.loads((data_dir / "topics.json").read_text())
    a = meta["topics"]["a"]
    assert (a["partitions"], a["config"]) == (4, {"segment.bytes": 1 << 20, "compression.type": "gzip"})
    assert not list(data_dir.glob("*.tmp"))
    with open_store(data_dir) as s:
        assert s.list_topics() == {"a": 4, "b": 1}
        assert s.describe_topic("a").config["compression.type"] == "gzip"
        assert [r.value for r in s.partition_log("a", 3).records(0)] == [b"v"]


def test_data_dir_lock(data_dir: Path) -> None:
    with open_store(data_dir):
        with pytest.raises(LogDirectoryError, match="in use"):
            open_store(data_dir)
    open_store(data_dir).close()  # released on close


@pytest.mark.parametrize("name", ["", ".", "..", "a" * 250, "bad name", "bad/name", "ünïcode", "a:b"])
def test_bad_topic_names(store: Store, name: str) -> None:
    with pytest.raises(ValueError):
        store.create_topic(name)
    assert store.list_topics(include_internal=True) == {}


def test_legal_edge_names(store: Store) -> None:
    store.create_topic("a" * 249)
    store.create_topic("...")
    assert set(store.list_topics()) == {"a" * 249, "..."}


def test_unknown_config_key_and_bad_values(store: Store, data_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"Unknown topic config name: cleanup\.polcy \(did you mean cleanup\.policy\?\)"):
        store.create_topic("t", config={"cleanup.polcy": "compact"})
    with pytest.raises(ValueError, match="segment.bytes"):
        store.create_topic("t", config={"segment.bytes": "big"})
    with pytest.raises(ValueError, match="compression.type"):
        store.create_topic("t", config={"compression.type": "brotli"})
    with pytest.raises(ValueError, match="partitions"):
        store.create_topic("t", partitions=0)
    assert store.list_topics() == {}
    assert not (data_dir / "t-0").exists()
    with pytest.raises(ValueError, match="segmnt_bytes"):
        open_store(data_dir / "other", segmnt_bytes=1)


def test_topic_config_reaches_the_log(store: Store) -> None:
    store.create_topic("small", config={"segment.bytes": 2000, "index.interval.bytes": 100})
    log = store.partition_log("small", 0)
    assert store.partition_log("small", 0) is log  # one shared Log per partition
    p = store.producer()
    for i in range(40):
        p.send("small", b"x" * 200, partition=0)
        log.flush()  # seal each record's batch so segments roll at 2000 bytes
    assert len(log.segments()) > 3


def test_store_log_defaults(data_dir: Path) -> None:
    with open_store(data_dir, segment_bytes=1500, num_partitions=2) as s:
        assert s.create_topic("t").partitions == 2
        log = s.partition_log("t", 0)
        for _ in range(20):
            log.append(b"y" * 200)
            log.flush()
        assert len(log.segments()) > 2


def test_internal_topics_hidden(store: Store) -> None:
    store.create_topic("__internal_thing", partitions=2)
    store.create_topic("visible")
    assert store.list_topics() == {"visible": 1}
    assert store.list_topics(include_internal=True) == {"__internal_thing": 2, "visible": 1}
    assert store.describe_topic("__internal_thing").internal


def test_create_partitions(store: Store) -> None:
    store.create_topic("t", partitions=2)
    store.create_partitions("t", 5)
    assert store.list_topics() == {"t": 5}
    assert store.partition_log("t", 4).end_offset == 0
    with pytest.raises(ValueError, match="larger"):
        store.create_partitions("t", 5)
    with pytest.raises(UnknownTopicError):
        store.create_partitions("nope", 3)


def test_partition_log_errors(store: Store) -> None:
    store.create_topic("t", partitions=2)
    with pytest.raises(UnknownPartitionError):
        store.partition_log("t", 2)
    with pytest.raises(UnknownTopicError):
        store.partition_log("missing", 0)


def test_auto_create(data_dir: Path) -> None:
    with open_store(data_dir, num_partitions=3) as s:
        md = s.producer().send("auto", b"v", key=b"k")
        assert s.list_topics() == {"auto": 3} and 0 <= md.partition < 3
    with open_store(data_dir, auto_create_topics=False) as s:
        with pytest.raises(UnknownTopicError, match="never"):
            s.producer().send("never", b"v")
        with pytest.raises(UnknownTopicError):
            s.consumer("never")
        assert "never" not in s.list_topics()


def test_close_is_final(data_dir: Path) -> None:
    s = open_store(data_dir)
    s.create_topic("t")
    log = s.partition_log("t", 0)
    s.close()
    s.close()  # idempotent
    assert s.closed and log.closed
    with pytest.raises(PystreamError):
        s.list_topics()
    with pytest.raises(PystreamError):
        s.create_topic("u")


def test_stray_partition_dir_is_cleared(data_dir: Path) -> None:
    # A crash between forgetting a topic and removing its directories leaves stray data.
    with open_store(data_dir) as s:
        s.create_topic("t")
        s.producer().send("t", b"old")
    meta = json.loads((data_dir / "topics.json").read_text())
    del meta["topics"]["t"]
    (data_dir / "topics.json").write_text(json.dumps(meta))
    with open_store(data_dir) as s:
        s.create_topic("t")
        assert s.partition_log("t", 0).end_offset == 0


def test_corrupt_metadata_is_a_clear_error(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "topics.json").write_text("{not json")
    with pytest.raises(LogDirectoryError, match="topics.json"):
        open_store(data_dir)
    (data_dir / "topics.json").unlink()
    open_store(data_dir).close()  # the failed open released the lock


def test_pystream_log_is_the_partition_type(store: Store) -> None:
    store.create_topic("t")
    assert isinstance(store.partition_log("t", 0), pystream.Log)
