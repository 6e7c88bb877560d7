"""aiokafka against a real `pystream serve` process (each test runs its own event loop, bounded by wait_for)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from compat_helpers import RawClient, create_topic, unique_topic

# aiokafka 0.14 sends OffsetFetch v0-3 (kafka-python and librdkafka use v8+).

COMPRESSIONS = ["gzip", "snappy", "lz4", "zstd"]


def run(coro, timeout: float = 90.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def producer(bootstrap: str, **conf) -> AIOKafkaProducer:
    return AIOKafkaProducer(**{"bootstrap_servers": bootstrap, "linger_ms": 5, "request_timeout_ms": 15000, **conf})


def consumer(bootstrap: str, group: str | None, *topics: str, **conf) -> AIOKafkaConsumer:
    conf = {"auto_offset_reset": "earliest", "enable_auto_commit": False, "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 500, "request_timeout_ms": 30000, **conf}
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group, **conf)


async def produce_all(p: AIOKafkaProducer, topic: str, records) -> list:
    futs = [await p.send(topic, key=k, value=v, headers=h or []) for k, v, h in records]
    return list(await asyncio.gather(*futs))


async def consume_n(c: AIOKafkaConsumer, n: int, timeout: float = 30.0) -> list:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for msgs in (await c.getmany(timeout_ms=500, max_records=n - len(out))).values():
            out.extend(msgs)
    assert len(out) == n, f"consumed {len(out)} of {n} records within {timeout}s"
    return out


def test_round_trip_keys_headers(module_broker):
    topic = unique_topic("ak-rt")
    records = [(b"key-%d" % i if i % 3 else None, b"value-%d" % i * (i % 7 + 1),
                [("h1", b"x%d" % i), ("h2", b"")] if i % 2 else None) for i in range(200)]

    async def main():
        p = producer(module_broker.bootstrap)
        await p.start()
        try:
            metas = await produce_all(p, topic, records)
        finally:
            await p.stop()
        assert [m.offset for m in metas] == list(range(len(records)))
        c = consumer(module_broker.bootstrap, unique_topic("g"), topic)
        await c.start()
        try:
            return await consume_n(c, len(records))
        finally:
            await c.stop()

    got = sorted(run(main()), key=lambda m: m.offset)
    assert [m.offset for m in got] == list(range(len(records)))
    for (key, value, headers), m in zip(records, got):
        assert (m.key, m.value, list(m.headers)) == (key, value, headers or [])


@pytest.mark.parametrize("codec", COMPRESSIONS)
def test_compression(module_broker, codec):
    topic = unique_topic(f"ak-{codec}")
    records = [(b"k%d" % i, (b"payload %d " % i) * 20, [("codec", codec.encode())]) for i in range(500)]

    async def main():
        p = producer(module_broker.bootstrap, compression_type=codec, linger_ms=20)
        await p.start()
        try:
            await produce_all(p, topic, records)
        finally:
            await p.stop()
        c = consumer(module_broker.bootstrap, unique_topic("g"), topic)
        await c.start()
        try:
            return await consume_n(c, len(records))
        finally:
            await c.stop()

    got = sorted(run(main()), key=lambda m: m.offset)
    assert [(m.key, m.value, list(m.headers)) for m in got] == [(k, v, h) for k, v, h in records]


def test_consumer_group_join_leave_exactly_once(broker):
    topic = unique_topic("ak-group")
    create_topic(broker.bootstrap, topic, 6)
    group = unique_topic("grp")
    total = 3000
    seen: Counter = Counter()
    assignments: dict[int, list] = {i: [] for i in range(3)}
    errors: list = []

    class Listener(ConsumerRebalanceListener):
        def __init__(self, idx):
            self.idx = idx

        async def on_partitions_revoked(self, revoked):
            pass

        async def on_partitions_assigned(self, assigned):
            assignments[self.idx].append(sorted(tp.partition for tp in assigned))

    async def member(idx: int, stop: asyncio.Event, fast: asyncio.Event) -> None:
        c = consumer(broker.bootstrap, group)
        c.subscribe([topic], listener=Listener(idx))
        await c.start()
        try:
            while not stop.is_set():
                recs = await c.getmany(timeout_ms=200, max_records=500 if fast.is_set() else 20)
                batch = [int(m.value) for msgs in recs.values() for m in msgs]
                if batch:
                    await c.commit()
                    seen.update(batch)
                    if not fast.is_set():
                        await asyncio.sleep(0.05)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            await c.stop()  # leaves the group

    async def wait_for(cond, what, deadline):
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; assignments={assignments} errors={errors[:3]}"
            assert not errors, errors[:3]
            await asyncio.sleep(0.05)

    async def main():
        p = producer(broker.bootstrap)
        await p.start()
        try:
            await produce_all(p, topic, [(b"%d" % i, b"%d" % i, None) for i in range(total)])
        finally:
            await p.stop()
        deadline = time.monotonic() + 80
        stops = [asyncio.Event() for _ in range(3)]
        fast = asyncio.Event()
        tasks = []
        for idx in range(3):
            tasks.append(asyncio.create_task(member(idx, stops[idx], fast)))
            await wait_for(lambda idx=idx: assignments[idx] and assignments[idx][-1] and seen, f"member {idx}", deadline)
        await wait_for(lambda: all(assignments[i] and len(assignments[i][-1]) == 2 for i in range(3)), "3-way balance", deadline)
        stops[2].set()
        await tasks[2]
        await wait_for(lambda: all(len(assignments[i][-1]) == 3 for i in (0, 1)), "rebalance after leave", deadline)
        fast.set()
        await wait_for(lambda: sum(seen.values()) >= total, "all records consumed", deadline)
        await asyncio.sleep(0.5)
        stops[0].set()
        stops[1].set()
        await asyncio.gather(*tasks)
        c = consumer(broker.bootstrap, group)
        await c.start()
        try:
            tps = [TopicPartition(topic, i) for i in range(6)]
            committed = [await c.committed(tp) for tp in tps]
            ends = await c.end_offsets(tps)
        finally:
            await c.stop()
        assert committed == [ends[tp] for tp in tps]

    run(main(), 100)
    assert not errors, errors[:5]
    assert set(seen) == set(range(total))
    dups = {k: v for k, v in seen.items() if v != 1}
    assert not dups, f"{len(dups)} records consumed more than once, e.g. {list(dups.items())[:5]}"


def test_commit_resume_across_restart(broker):
    topic = unique_topic("ak-resume")
    group = unique_topic("grp")
    n = 100

    async def first():
        p = producer(broker.bootstrap)
        await p.start()
        try:
            await produce_all(p, topic, [(None, b"%d" % i, None) for i in range(n)])
        finally:
            await p.stop()
        c = consumer(broker.bootstrap, group, topic)
        await c.start()
        try:
            got = await consume_n(c, 40)
            await c.commit({TopicPartition(topic, 0): 40})
            return got
        finally:
            await c.stop()

    async def second():
        c = consumer(broker.bootstrap, group, topic)
        await c.start()
        try:
            assert await c.committed(TopicPartition(topic, 0)) == 40
            return await consume_n(c, n - 40)
        finally:
            await c.stop()

    got = run(first())
    assert [int(m.value) for m in got] == list(range(40))
    broker.restart()
    rest = run(second())
    assert [int(m.value) for m in rest] == list(range(40, n))


def test_idempotent_producer(broker):
    topic = unique_topic("ak-idem")
    create_topic(broker.bootstrap, topic, 3)
    n = 3000

    async def main():
        p = producer(broker.bootstrap, enable_idempotence=True, acks="all", max_batch_size=2000)
        await p.start()
        try:
            metas = await produce_all(p, topic, [(b"%d" % (i % 3), b"%d" % i, None) for i in range(n)])
        finally:
            await p.stop()
        assert len(metas) == n
        c = consumer(broker.bootstrap, None)
        await c.start()
        try:
            tps = [TopicPartition(topic, i) for i in range(3)]
            c.assign(tps)
            await c.seek_to_beginning()
            got = await consume_n(c, n)
            assert sum((await c.end_offsets(tps)).values()) == n, "more records in the log than produced"
            return got
        finally:
            await c.stop()

    got = run(main())
    per_part: dict[int, list[int]] = {}
    for m in got:
        per_part.setdefault(m.partition, []).append(int(m.value))
    assert sorted(v for vs in per_part.values() for v in vs) == list(range(n))
    for part, vs in per_part.items():
        assert vs == sorted(vs), f"partition {part} out of order"


@pytest.mark.parametrize("version", range(0, 8))
def test_offset_fetch_old_versions_raw(module_broker, version):
    """The request aiokafka sends, on a raw socket: a committed offset must come back at every version."""
    from confluent_kafka import Consumer, Producer
    from confluent_kafka import TopicPartition as CTP

    topic, group = unique_topic("of"), unique_topic("g")
    p = Producer({"bootstrap.servers": module_broker.bootstrap})
    for _ in range(5):
        p.produce(topic, b"x")
    assert p.flush(15) == 0
    c = Consumer({"bootstrap.servers": module_broker.bootstrap, "group.id": group})
    try:
        c.commit(offsets=[CTP(topic, 0, 3)], asynchronous=False)
    finally:
        c.close()
    with RawClient(module_broker.host, module_broker.port) as r:
        resp = r.request(9, version, {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0]}]})
    assert [(t["name"], [(p["partition_index"], p["committed_offset"], p["error_code"]) for p in t["partitions"]])
            for t in resp["topics"]] == [(topic, [(0, 3, 0)])]
