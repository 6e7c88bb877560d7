"""Log compaction in a real `pystream serve`, read and written by real Kafka clients:
compacted topics read from the start by librdkafka, kafka-python and aiokafka (gaps,
empty batches and tombstones), idempotent producer state across cleaning and a restart,
keyless records refused, and the event loop staying responsive during a big cleaning."""

from __future__ import annotations

import asyncio
import statistics
import struct
import threading
import time
from pathlib import Path

import pytest
from compat_helpers import BrokerProcess

from pystream._core import crc32c, encode_batch
from pystream.protocol import ApiKey
from pystream.protocol.client import KafkaClient
from pystream.protocol.error_codes import ErrorCode
from pystream.storage.cleaner import CHECKPOINT_FILE, read_checkpoint

confluent_kafka = pytest.importorskip("confluent_kafka")
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

# The cleaner runs often and anything dirty is due.
CLEANER = {"log.cleaner.backoff.ms": "100", "log.cleaner.min.cleanable.ratio": "0.01"}
TOPIC_CONFIG = {"cleanup.policy": "compact", "segment.bytes": "8192", "min.cleanable.dirty.ratio": "0.01"}


def create(broker: BrokerProcess, topic: str, config: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1, config=config)]).values():
        f.result(30)


def produce(broker: BrokerProcess, topic: str, records: list[tuple[bytes, bytes | None]], **config: object) -> None:
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, **config})
    errors: list[object] = []
    for k, v in records:
        p.produce(topic, v, key=k, on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
    assert p.flush(30) == 0 and not errors, errors


def wait_cleaned(broker: BrokerProcess, topic: str, at_least: int, timeout: float = 60.0) -> int:
    """Waits until the broker's cleaner checkpoint for `topic`-0 reaches `at_least`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = read_checkpoint(broker.data_dir / CHECKPOINT_FILE).get((topic, 0), 0)
        if got >= at_least:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{topic} was not cleaned up to {at_least} in {timeout}s (log: {broker.log_tail()[-2000:]})")


def high_watermark(broker: BrokerProcess, topic: str) -> int:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "hw"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


def read_confluent(broker: BrokerProcess, topic: str, end: int) -> list[tuple[int, bytes, bytes | None]]:
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"g-{time.monotonic_ns()}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    out: list[tuple[int, bytes, bytes | None]] = []
    deadline = time.monotonic() + 30
    try:
        while (not out or out[-1][0] < end - 1) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            assert m.error() is None, m.error()
            out.append((m.offset(), m.key(), m.value()))
    finally:
        c.close()
    return out


def read_kafka_python(broker: BrokerProcess, topic: str, end: int) -> list[tuple[int, bytes, bytes | None]]:
    kafka = pytest.importorskip("kafka")
    c = kafka.KafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
                            consumer_timeout_ms=10_000)
    c.assign([kafka.TopicPartition(topic, 0)])
    c.seek_to_beginning()
    out = []
    try:
        for m in c:
            out.append((m.offset, m.key, m.value))
            if m.offset >= end - 1:
                break
    finally:
        c.close()
    return out


def read_aiokafka(broker: BrokerProcess, topic: str, end: int) -> list[tuple[int, bytes, bytes | None]]:
    aiokafka = pytest.importorskip("aiokafka")

    async def run() -> list[tuple[int, bytes, bytes | None]]:
        c = aiokafka.AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
        await c.start()
        tp = aiokafka.TopicPartition(topic, 0)
        c.assign([tp])
        await c.seek_to_beginning(tp)
        out = []
        try:
            deadline = time.monotonic() + 30
            while (not out or out[-1][0] < end - 1) and time.monotonic() < deadline:
                for msgs in (await c.getmany(timeout_ms=500)).values():
                    out.extend((m.offset, m.key, m.value) for m in msgs)
        finally:
            await c.stop()
        return out

    return asyncio.run(run())


@pytest.mark.deadline(180)
def test_clients_read_a_compacted_topic_from_the_start(broker_factory) -> None:
    broker = broker_factory(**CLEANER)
    create(broker, "table", TOPIC_CONFIG)
    keys = 60
    records = [(b"k%03d" % (i % keys), b"v%06d" % i + b"." * 80) for i in range(3_000)]
    records.append((b"k007", None))  # a tombstone
    produce(broker, "table", records)
    # An idempotent producer whose records are all overwritten: its last batch stays as an
    # empty batch (its sequence numbers), as Kafka keeps it.
    produce(broker, "table", [(b"idem-%d" % i, b"first") for i in range(5)], **{"enable.idempotence": True})
    produce(broker, "table", [(b"idem-%d" % i, b"second") for i in range(5)] + [(b"roll-%d" % i, b"x" * 200) for i in range(80)])
    end = high_watermark(broker, "table")
    wait_cleaned(broker, "table", 3_000)
    latest: dict[bytes, bytes | None] = {}
    for k, v in records + [(b"idem-%d" % i, b"second") for i in range(5)] + [(b"roll-%d" % i, b"x" * 200) for i in range(80)]:
        latest[k] = v
    for read in (read_confluent, read_kafka_python, read_aiokafka):
        got = read(broker, "table", end)
        assert got and got[-1][0] == end - 1, f"{read.__name__} did not reach the end offset {end}"
        offsets = [o for o, _, _ in got]
        assert offsets == sorted(set(offsets)), f"{read.__name__}: offsets out of order"
        assert len(got) < len(records) // 4, f"{read.__name__} read {len(got)} records: not compacted"
        seen: dict[bytes, bytes | None] = {}
        for _o, k, v in got:
            seen[k] = v
        assert seen == {k: v for k, v in latest.items() if k in seen} and set(latest) - set(seen) <= {b"k007"}, read.__name__
        assert seen.get(b"k007", None) is None
        assert all(v == b"second" for k, v in seen.items() if k.startswith(b"idem"))


def idempotent_batch(pid: int, epoch: int, seq: int, records: list[tuple[bytes, bytes]]) -> bytes:
    """A record batch with producer fields (encode_batch writes none): patched, CRC recomputed."""
    b = bytearray(encode_batch([(1_700_000_000_000, k, v, None) for k, v in records]))
    struct.pack_into(">qhi", b, 43, pid, epoch, seq)
    struct.pack_into(">I", b, 17, crc32c(bytes(b[21:])))
    return bytes(b)


def raw_produce(client: KafkaClient, topic: str, batch: bytes) -> tuple[int, int]:
    resp = client.request(ApiKey.PRODUCE, {"transactional_id": None, "acks": -1, "timeout_ms": 10_000,
                                           "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch}]}]},
                          version=9)
    pr = resp["responses"][0]["partition_responses"][0]
    return pr["error_code"], pr["base_offset"]


@pytest.mark.deadline(180)
def test_idempotent_producer_state_survives_cleaning_and_restart(broker_factory) -> None:
    broker = broker_factory(**CLEANER)
    create(broker, "idem", TOPIC_CONFIG)
    pid, epoch = 4242, 0
    with KafkaClient(broker.bootstrap) as client:
        batches = [idempotent_batch(pid, epoch, seq * 2, [(b"a", b"%d" % seq), (b"b", b"%d" % seq)]) for seq in range(5)]
        offsets = [raw_produce(client, "idem", b) for b in batches]
        assert [e for e, _ in offsets] == [0] * 5
        # Newer values of both keys from another writer: every record of the producer is obsolete.
        filler = [(b"a", b"new"), (b"b", b"new")] + [(b"f%d" % i, b"." * 300) for i in range(60)]
        produce(broker, "idem", filler)
        wait_cleaned(broker, "idem", offsets[-1][1] + 2)
    # The snapshot of producer state is gone: the state is rebuilt from the cleaned log.
    broker.kill9()
    for snap in broker.data_dir.glob("idem-0/producer-state*"):
        snap.unlink()
    broker.start()
    with KafkaClient(broker.bootstrap) as client:
        error, base = raw_produce(client, "idem", batches[-1])  # a retry of the last batch
        assert (error, base) == (0, offsets[-1][1]), "a retry after cleaning is still a duplicate"
        error, _ = raw_produce(client, "idem", idempotent_batch(pid, epoch, 12, [(b"a", b"gap")]))
        assert error == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
        error, base = raw_produce(client, "idem", idempotent_batch(pid, epoch, 10, [(b"a", b"next")]))
        assert error == 0 and base > offsets[-1][1], "the next sequence number is accepted"


def test_a_compacted_topic_refuses_records_without_a_key(broker: BrokerProcess) -> None:
    create(broker, "keyed", {"cleanup.policy": "compact"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "retries": 0})
    errors = []
    p.produce("keyed", b"no key", on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)  # (Kafka refuses the whole batch)
    p.produce("keyed", b"keyed", key=b"k", on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert errors[0] is not None and errors[0].code() == confluent_kafka.KafkaError.INVALID_RECORD, errors
    assert errors[1] is None


@pytest.mark.deadline(240)
def test_cleaning_does_not_hold_the_event_loop(tmp_path: Path, broker_factory) -> None:
    """A big compacted log is cleaned while a producer sends one record at a time to
    another topic: every send is acknowledged promptly during the cleaning."""
    import pystream

    data = tmp_path / "broker0" / "data"
    with pystream.open(data, log_cleaner=False) as s:  # about 200 MB to clean, written directly
        s.create_topic("big", config={"cleanup.policy": "compact", "segment.bytes": 16 << 20})
        log = s.partition_log("big", 0)
        keys = [b"key-%06d" % i for i in range(100_000)]
        for round_no in range(18):
            log.append_batch([b"%02d" % round_no + b"v" * 98] * len(keys), keys=keys)
        s.create_topic("probe")
    broker = broker_factory(**{**CLEANER, "log.cleaner.backoff.ms": "500"})
    latencies: list[float] = []
    p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0, "acks": "all"})
    p.produce("probe", b"warm-up")
    p.produce("big", b"new", key=b"key-000000")  # the broker opens the partition: the cleaner sees it
    p.flush(30)
    deadline = time.monotonic() + 60
    cleaned_during = False
    while time.monotonic() < deadline:
        done = threading.Event()
        t0 = time.monotonic()
        p.produce("probe", b"x", on_delivery=lambda err, msg: done.set())
        while not done.is_set():
            p.poll(0.001)
        latencies.append(time.monotonic() - t0)
        time.sleep(0.005)
        if read_checkpoint(broker.data_dir / CHECKPOINT_FILE).get(("big", 0), 0) > 0:
            cleaned_during = True
            break
    assert cleaned_during, "the big log was not cleaned within 60 s"
    assert len(latencies) > 50, "few probes: the cleaning was too short to say anything"
    # Generous bounds (a loaded 2-core machine); a held event loop would show seconds here.
    assert max(latencies) < 1.0 and statistics.median(latencies) < 0.1, (max(latencies), statistics.median(latencies))
    assert "cleaned big-0" in broker.log_tail()
