"""Consumer: round trips, waiting poll, seek/position, committed offsets across reopen."""

from __future__ import annotations

import struct
import threading
import time
from pathlib import Path

import pytest

from pystream.client import (
    ClientClosedError,
    NoOffsetForPartitionError,
    Store,
    TopicPartition,
)
from pystream.client import open as open_store
from pystream.coordinator.offsets import OFFSETS_TOPIC, partition_for_group


def produce(store: Store, topic: str, n: int, partitions: int) -> dict[int, list[bytes]]:
    """Sends n keyed records with headers; returns values per partition in offset order."""
    p = store.producer()
    by_part: dict[int, list[bytes]] = {i: [] for i in range(partitions)}
    for i in range(n):
        md = p.send(topic, f"v{i}".encode(), key=f"k{i % 17}".encode(), headers=[("i", str(i).encode())])
        by_part[md.partition].append(f"v{i}".encode())
    return by_part


def test_round_trip_across_partitions(store: Store) -> None:
    store.create_topic("t", partitions=4)
    by_part = produce(store, "t", 200, 4)
    got = list(store.consumer("t", consumer_timeout_ms=50))
    assert len(got) == 200
    assert {r.partition for r in got} == {p for p, v in by_part.items() if v}
    for part, values in by_part.items():
        recs = [r for r in got if r.partition == part]
        assert [r.value for r in recs] == values
        assert [r.offset for r in recs] == list(range(len(values)))
    for r in got:
        i = int(r.value[1:])
        assert r.topic == "t" and r.key == f"k{i % 17}".encode() and r.headers == [("i", str(i).encode())]
        assert r.timestamp > 0


def test_iteration_is_round_robin(store: Store) -> None:
    store.create_topic("t", partitions=3)
    p = store.producer()
    for i in range(30):
        p.send("t", b"x", partition=i % 3)
    c = store.consumer("t", consumer_timeout_ms=20, max_poll_records=5)
    first = [r.partition for _, r in zip(range(15), c)]
    assert set(first) == {0, 1, 2}  # no partition waits for another to drain


def test_poll_waits_and_wakes(store: Store) -> None:
    store.create_topic("t", partitions=2)
    c = store.consumer("t")
    t0 = time.monotonic()
    assert c.poll(timeout_ms=150) == {}
    assert 0.14 <= time.monotonic() - t0 < 2

    def later() -> None:
        time.sleep(0.15)
        store.producer().send("t", b"hello", partition=1)

    th = threading.Thread(target=later)
    th.start()
    t0 = time.monotonic()
    got = c.poll(timeout_ms=5000)
    waited = time.monotonic() - t0
    th.join()
    assert got == {TopicPartition("t", 1): [got[TopicPartition("t", 1)][0]]}
    assert got[TopicPartition("t", 1)][0].value == b"hello"
    assert 0.1 <= waited < 2, "woken by the append, not by the timeout"
    assert c.poll(timeout_ms=0) == {}


def test_iterator_blocks_until_data(store: Store) -> None:
    store.create_topic("t")
    c = store.consumer("t", consumer_timeout_ms=3000)
    threading.Timer(0.1, lambda: store.producer().send("t", b"late")).start()
    t0 = time.monotonic()
    assert next(iter(c)).value == b"late"
    assert time.monotonic() - t0 < 2


def test_poll_max_records(store: Store) -> None:
    store.create_topic("t")
    produce(store, "t", 25, 1)
    c = store.consumer("t")
    sizes = []
    while got := c.poll(max_records=10):
        sizes.append(sum(len(v) for v in got.values()))
    assert sizes == [10, 10, 5]


def test_seek_and_position(store: Store) -> None:
    store.create_topic("t", partitions=2)
    p = store.producer()
    for i in range(10):
        p.send("t", str(i).encode(), partition=0)
    tp = TopicPartition("t", 0)
    c = store.consumer("t")
    assert c.assignment() == {tp, TopicPartition("t", 1)}
    assert c.position(tp) == 0
    c.seek(tp, 7)
    assert c.position(tp) == 7
    assert [r.value for r in c.poll()[tp]] == [b"7", b"8", b"9"]
    assert c.position(tp) == 10
    c.seek_to_beginning(tp)
    assert c.position(tp) == 0
    c.seek_to_end()
    assert c.position(tp) == 10 and c.position(TopicPartition("t", 1)) == 0
    assert c.poll() == {}
    c.seek(tp, 50)  # past the end: reset per auto_offset_reset (earliest), as Kafka does
    assert c.position(tp) == 0
    with pytest.raises(ValueError, match="not assigned"):
        c.seek(TopicPartition("t", 5), 0)
    assert c.beginning_offsets([tp]) == {tp: 0} and c.end_offsets([tp]) == {tp: 10}


def test_iterator_position_counts_only_yielded_records(store: Store) -> None:
    store.create_topic("t")
    produce(store, "t", 20, 1)
    c = store.consumer("t", group="g", consumer_timeout_ms=10, enable_auto_commit=False)
    it = iter(c)
    assert [next(it).offset for _ in range(3)] == [0, 1, 2]
    tp = TopicPartition("t", 0)
    assert c.position(tp) == 3
    c.commit()
    assert c.committed(tp) == 3


def test_commit_then_reopen_resumes(data_dir: Path) -> None:
    with open_store(data_dir, offsets_topic_partitions=7) as s:
        s.create_topic("t", partitions=3)
        produce(s, "t", 60, 3)
        c = s.consumer("t", group="app", enable_auto_commit=False)
        first = c.poll(max_records=25)
        c.commit()
        seen = {(r.partition, r.offset) for recs in first.values() for r in recs}
        c.poll(max_records=10)  # consumed but not committed: redelivered after the restart
        c.close()
        assert s.groups() == ["app"]
    with open_store(data_dir) as s:
        c = s.consumer("t", group="app", consumer_timeout_ms=20)
        rest = {(r.partition, r.offset) for r in c}
        assert not seen & rest and len(seen | rest) == 60
        c.close()  # auto-commit on close
        assert len(list(s.consumer("t", group="app", consumer_timeout_ms=20))) == 0
        # Another group starts from the reset policy.
        assert len(list(s.consumer("t", group="other", consumer_timeout_ms=20))) == 60
        assert s.list_topics() == {"t": 3}  # __consumer_offsets stays hidden
        assert s.list_topics(include_internal=True)[OFFSETS_TOPIC] == 7


def test_auto_commit_interval(store: Store) -> None:
    store.create_topic("t")
    produce(store, "t", 5, 1)
    c = store.consumer("t", group="g", auto_commit_interval_ms=0)
    c.poll()
    c.poll()  # commits what the previous poll returned
    assert c.committed(TopicPartition("t", 0)) == 5


def test_offset_reset_policies(store: Store) -> None:
    store.create_topic("t")
    produce(store, "t", 5, 1)
    tp = TopicPartition("t", 0)
    assert store.consumer("t", auto_offset_reset="latest").position(tp) == 5
    with pytest.raises(NoOffsetForPartitionError):
        store.consumer("t", group="new", auto_offset_reset="none").poll()
    with pytest.raises(ValueError, match="auto_offset_reset"):
        store.consumer("t", auto_offset_reset="smallest")
    with pytest.raises(ValueError, match="group"):
        store.consumer("t").commit()


def test_position_below_log_start_resets(store: Store) -> None:
    store.create_topic("t")
    produce(store, "t", 10, 1)
    tp = TopicPartition("t", 0)
    c = store.consumer("t", group="g", enable_auto_commit=False)
    c.commit({tp: 2})
    store.partition_log("t", 0).delete_records_before(6)
    got = c.poll()[tp]
    assert got[0].offset == 6  # offset 2 was deleted: reset to the log start (earliest)
    c2 = store.consumer("t", group="g", auto_offset_reset="latest")
    assert c2.position(tp) == 10


def test_new_partitions_are_picked_up(store: Store) -> None:
    store.create_topic("t", partitions=1)
    c = store.consumer("t")
    assert c.assignment() == {TopicPartition("t", 0)}
    store.create_partitions("t", 3)
    store.producer().send("t", b"new", partition=2)
    got = c.poll(timeout_ms=1000)
    assert list(got) == [TopicPartition("t", 2)] and got[TopicPartition("t", 2)][0].value == b"new"
    assert c.assignment() == {TopicPartition("t", p) for p in range(3)}


def test_manual_assignment_and_deserializers(store: Store) -> None:
    store.create_topic("t", partitions=2)
    p = store.producer()
    p.send("t", b"a", key=b"1", partition=0)
    p.send("t", b"b", key=b"2", partition=1)
    c = store.consumer([TopicPartition("t", 1)], key_deserializer=int, value_deserializer=bytes.decode, consumer_timeout_ms=10)
    assert [(r.key, r.value) for r in c] == [(2, "b")]


def test_closed_consumer_and_store(store: Store) -> None:
    store.create_topic("t")
    c = store.consumer("t")
    c.close()
    with pytest.raises(ClientClosedError):
        c.poll()
    c2 = store.consumer("t")
    threading.Timer(0.1, store.close).start()
    with pytest.raises(ClientClosedError):
        c2.poll(timeout_ms=5000)  # a waiting poll is woken by the store closing


def _decode_varint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return (result >> 1) ^ -(result & 1), pos


def _parse_segment(data: bytes) -> list[tuple[int, bytes | None, bytes | None]]:
    """(offset, key, value) of every record: an independent parser of the on-disk batches."""
    out = []
    pos = 0
    while pos < len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        (magic,) = struct.unpack_from(">b", data, pos + 16)
        assert magic == 2
        (count,) = struct.unpack_from(">i", data, pos + 57)
        rpos = pos + 61
        for _ in range(count):
            _, rpos = _decode_varint(data, rpos)  # length
            rpos += 1  # attributes
            _, rpos = _decode_varint(data, rpos)  # timestamp delta
            delta, rpos = _decode_varint(data, rpos)
            klen, rpos = _decode_varint(data, rpos)
            key = None if klen < 0 else data[rpos : rpos + klen]
            rpos += max(klen, 0)
            vlen, rpos = _decode_varint(data, rpos)
            value = None if vlen < 0 else data[rpos : rpos + vlen]
            rpos += max(vlen, 0)
            nh, rpos = _decode_varint(data, rpos)
            assert nh == 0
            out.append((base + delta, key, value))
        pos += 12 + length
    return out


def test_offsets_topic_bytes_are_kafkas_format(data_dir: Path) -> None:
    with open_store(data_dir, offsets_topic_partitions=50) as s:
        s.create_topic("orders", partitions=2)
        c = s.consumer("orders", group="billing", enable_auto_commit=False)
        c.commit({TopicPartition("orders", 1): 42})
        c.commit({TopicPartition("orders", 1): 43})
        s.offsets.delete_group("billing")
    part = partition_for_group("billing", 50)
    seg = data_dir / f"__consumer_offsets-{part}" / "00000000000000000000.log"
    recs = _parse_segment(seg.read_bytes())
    key = struct.pack(">h", 1) + struct.pack(">h", 7) + b"billing" + struct.pack(">h", 6) + b"orders" + struct.pack(">i", 1)
    assert [r[1] for r in recs] == [key, key, key]
    for (_, _, value), offset in zip(recs[:2], (42, 43)):
        version, off, epoch, mlen = struct.unpack_from(">hqih", value, 0)
        (ts,) = struct.unpack_from(">q", value, 16)
        assert (version, off, epoch, mlen, len(value)) == (3, offset, -1, 0, 24)
        assert abs(ts - time.time() * 1000) < 60_000
    assert recs[2][2] is None  # the tombstone of delete_group
    other = [p for p in data_dir.glob("__consumer_offsets-*") if p.name != seg.parent.name]
    assert len(other) == 49 and all(not (p / "00000000000000000000.log").exists() or (p / "00000000000000000000.log").stat().st_size == 0 for p in other)


def test_concurrent_producers_and_consumer(store: Store) -> None:
    store.create_topic("t", partitions=3)
    n_threads, per_thread = 4, 500
    producer = store.producer(batch_size=2000)

    def run(t: int) -> None:
        for i in range(per_thread):
            producer.send("t", f"{t}:{i}".encode(), key=None if i % 2 else f"{t}".encode())

    threads = [threading.Thread(target=run, args=(t,)) for t in range(n_threads)]
    c = store.consumer("t", group="g", consumer_timeout_ms=500)
    for th in threads:
        th.start()
    got = [r.value.decode() for r in c]
    for th in threads:
        th.join()
    assert len(got) == n_threads * per_thread == len(set(got))
    # Per producer thread and key, order is kept (same key, same partition, offsets increase).
    for t in range(n_threads):
        keyed = [int(v.split(":")[1]) for v in got if v.startswith(f"{t}:") and int(v.split(":")[1]) % 2 == 0]
        assert keyed == sorted(keyed)
    c.commit()
    assert sum(c.committed(tp) or 0 for tp in c.assignment()) == n_threads * per_thread


def test_deleted_topic_leaves_the_assignment(store: Store) -> None:
    store.create_topic("a", partitions=2)
    store.create_topic("b")
    c = store.consumer(["a", "b"], group="g")
    store.producer().send("a", b"x", partition=0)
    c.poll()
    c.commit()
    store.delete_topic("a")
    assert c.assignment() == {TopicPartition("b", 0)}
    assert store.offsets.fetch("g", "a") == {} and ("b", 0) in store.offsets.fetch("g")  # Kafka drops a deleted topic's committed offsets too
    store.producer().send("b", b"y")
    assert [r.value for recs in c.poll().values() for r in recs] == [b"y"]
