"""Transactions (KIP-98) with real clients against a real `pystream serve` process.

confluent-kafka (librdkafka) and aiokafka transactional producers; read_committed and
read_uncommitted consumers; fencing; consume-transform-produce with
send_offsets_to_transaction across a broker SIGKILL; a producer killed mid-transaction;
a broker restart with a transaction open.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter

import pytest
from compat_helpers import RawClient, create_topic, read_records, unique_topic
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey

READ_COMMITTED, READ_UNCOMMITTED = "read_committed", "read_uncommitted"
# Quick aborts of abandoned transactions for the tests that wait for one.
FAST_TIMEOUTS = {"transaction.abort.timed.out.transaction.cleanup.interval.ms": "300"}


def txn_producer(bootstrap: str, txn_id: str, **conf) -> Producer:
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
                  "transaction.timeout.ms": 30000, **conf})
    p.init_transactions(30)
    return p


def read_all(bootstrap: str, topic: str, isolation: str, expect: int | None = None, timeout: float = 20.0,
             partitions: int = 1) -> list[bytes]:
    """Every value of `topic` visible at `isolation`: until `expect` values arrived, or until
    the partitions' ends (as the consumer sees them) were reached."""
    out = [v for _k, v in read_records(bootstrap, topic, isolation, partitions, expect, timeout)]
    assert expect is None or len(out) >= expect, f"read {len(out)} of {expect} values of {topic} at {isolation}: {out[:20]}"
    return out


def list_offset(bootstrap: str, topic: str, isolation_level: int) -> tuple[int, int]:
    """(error, "latest" offset) of partition 0 from ListOffsets v5 at an isolation level."""
    host, port = bootstrap.split(":")
    with RawClient(host, int(port)) as c:
        r = c.request(ApiKey.LIST_OFFSETS, 5, {"replica_id": -1, "isolation_level": isolation_level, "topics": [
            {"name": topic, "partitions": [{"partition_index": 0, "current_leader_epoch": -1, "timestamp": -1}]}]})
    p = r["topics"][0]["partitions"][0]
    return p["error_code"], p["offset"]


def test_commit_and_abort_interleaved_with_a_plain_producer(broker):
    topic = unique_topic("txn")
    create_topic(broker.bootstrap, topic)
    plain = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    tp = txn_producer(broker.bootstrap, unique_topic("tid"))

    def plain_send(v: bytes) -> None:
        plain.produce(topic, v)
        assert plain.flush(10) == 0

    plain_send(b"p0")
    tp.begin_transaction()
    for i in range(3):
        tp.produce(topic, b"c%d" % i)
    assert tp.flush(10) == 0
    plain_send(b"p1")  # lands after the open transaction's first record
    # The open transaction holds read_committed readers (and "latest") back to its first offset.
    assert read_all(broker.bootstrap, topic, READ_COMMITTED) == [b"p0"]
    assert list_offset(broker.bootstrap, topic, 1) == (0, 1)
    assert list_offset(broker.bootstrap, topic, 0) == (0, 5)
    tp.commit_transaction(30)
    tp.begin_transaction()
    for i in range(3):
        tp.produce(topic, b"a%d" % i)
    assert tp.flush(10) == 0
    plain_send(b"p2")
    tp.abort_transaction(30)
    tp.begin_transaction()
    tp.produce(topic, b"c3")
    tp.commit_transaction(30)
    plain_send(b"p3")

    committed = read_all(broker.bootstrap, topic, READ_COMMITTED)
    assert committed == [b"p0", b"c0", b"c1", b"c2", b"p1", b"p2", b"c3", b"p3"]
    uncommitted = read_all(broker.bootstrap, topic, READ_UNCOMMITTED)
    assert uncommitted == [b"p0", b"c0", b"c1", b"c2", b"p1", b"a0", b"a1", b"a2", b"p2", b"c3", b"p3"]
    # 11 records and 3 markers: everything is stable now.
    assert list_offset(broker.bootstrap, topic, 1) == list_offset(broker.bootstrap, topic, 0) == (0, 14)


def test_a_second_producer_with_the_same_transactional_id_fences_the_first(broker):
    topic = unique_topic("fence")
    create_topic(broker.bootstrap, topic)
    tid = unique_topic("tid")
    first = txn_producer(broker.bootstrap, tid)
    first.begin_transaction()
    first.produce(topic, b"zombie")
    assert first.flush(10) == 0
    second = txn_producer(broker.bootstrap, tid)  # aborts the first one's transaction, bumps the epoch
    with pytest.raises(KafkaException) as e:
        first.produce(topic, b"zombie-2")
        first.commit_transaction(15)
    assert e.value.args[0].fatal() or e.value.args[0].code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                                                 KafkaError.INVALID_PRODUCER_EPOCH), e.value
    second.begin_transaction()
    second.produce(topic, b"survivor")
    second.commit_transaction(30)
    assert read_all(broker.bootstrap, topic, READ_COMMITTED) == [b"survivor"]
    assert read_all(broker.bootstrap, topic, READ_UNCOMMITTED)[0] == b"zombie"


def test_transactional_produce_to_a_partition_not_in_the_transaction_is_refused(broker):
    """KIP-890 part 1: a transactional batch for a partition never added to the transaction."""
    from pystream.storage.records import ATTR_TRANSACTIONAL, Record, encode_batch

    topic = unique_topic("verify")
    create_topic(broker.bootstrap, topic)
    host, port = broker.host, broker.port
    with RawClient(host, port) as c:
        tid = unique_topic("tid")
        assert c.request(ApiKey.FIND_COORDINATOR, 3, {"key": tid, "key_type": 1})["error_code"] == 0
        init = c.request(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": tid, "transaction_timeout_ms": 60000,
                                                       "producer_id": -1, "producer_epoch": -1})
        assert init["error_code"] == 0
        pid, epoch = init["producer_id"], init["producer_epoch"]
        batch = encode_batch(0, [Record(0, 1, None, b"x")], producer_id=pid, producer_epoch=epoch, base_sequence=0,
                             attributes_extra=ATTR_TRANSACTIONAL)
        produce = {"transactional_id": tid, "acks": -1, "timeout_ms": 5000,
                   "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch}]}]}
        r = c.request(ApiKey.PRODUCE, 8, produce)
        assert r["responses"][0]["partition_responses"][0]["error_code"] == ErrorCode.INVALID_TXN_STATE
        add = c.request(ApiKey.ADD_PARTITIONS_TO_TXN, 3, {"v3_and_below_transactional_id": tid, "v3_and_below_producer_id": pid,
                                                          "v3_and_below_producer_epoch": epoch,
                                                          "v3_and_below_topics": [{"name": topic, "partitions": [0]}]})
        assert add["results_by_topic_v3_and_below"][0]["results_by_partition"][0]["partition_error_code"] == 0
        r = c.request(ApiKey.PRODUCE, 8, produce)
        assert r["responses"][0]["partition_responses"][0]["error_code"] == 0
        # Describe/ListTransactions see it open.
        d = c.request(ApiKey.DESCRIBE_TRANSACTIONS, 0, {"transactional_ids": [tid, "nope"]})["transaction_states"]
        assert (d[0]["transaction_state"], d[0]["producer_id"], d[0]["topics"]) == ("Ongoing", pid, [{"topic": topic, "partitions": [0]}])
        assert d[1]["error_code"] == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
        lt = c.request(ApiKey.LIST_TRANSACTIONS, 1, {"state_filters": ["Ongoing"], "producer_id_filters": [], "duration_filter": -1})
        assert {"transactional_id": tid, "producer_id": pid, "transaction_state": "Ongoing"} in lt["transaction_states"]
        end = c.request(ApiKey.END_TXN, 3, {"transactional_id": tid, "producer_id": pid, "producer_epoch": epoch, "committed": True})
        assert end["error_code"] == 0
        # After the commit the partition is out of the transaction again.
        batch2 = encode_batch(0, [Record(0, 1, None, b"late")], producer_id=pid, producer_epoch=epoch, base_sequence=1,
                              attributes_extra=ATTR_TRANSACTIONAL)
        r = c.request(ApiKey.PRODUCE, 8, {**produce, "topic_data": [{"name": topic, "partition_data": [{"index": 0, "records": batch2}]}]})
        assert r["responses"][0]["partition_responses"][0]["error_code"] == ErrorCode.INVALID_TXN_STATE
        # A timeout above transaction.max.timeout.ms is refused.
        bad = c.request(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": tid, "transaction_timeout_ms": 10**9,
                                                      "producer_id": -1, "producer_epoch": -1})
        assert bad["error_code"] == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert read_all(broker.bootstrap, topic, READ_COMMITTED) == [b"x"]


def test_aiokafka_transactional_producer(broker):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka import TopicPartition as AKTopicPartition

    topic = unique_topic("ak-txn")
    create_topic(broker.bootstrap, topic)

    async def main() -> tuple[list[bytes], list[bytes], dict]:
        p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=unique_topic("ak-tid"), request_timeout_ms=15000)
        await p.start()
        try:
            async with p.transaction():
                for i in range(3):
                    await p.send(topic, b"c%d" % i)
            await p.begin_transaction()
            await (await p.send(topic, b"aborted"))
            await p.abort_transaction()
            async with p.transaction():
                await p.send(topic, b"c3")
                await p.send_offsets_to_transaction({AKTopicPartition(topic, 0): 7}, "ak-group")
        finally:
            await p.stop()
        got = {}
        for iso in (READ_COMMITTED, READ_UNCOMMITTED):
            c = AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, isolation_level=iso, auto_offset_reset="earliest",
                                 enable_auto_commit=False, group_id=None)
            await c.start()
            try:
                vals: list[bytes] = []
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and len(vals) < (4 if iso == READ_COMMITTED else 5):
                    for msgs in (await c.getmany(timeout_ms=300)).values():
                        vals.extend(m.value for m in msgs)
                got[iso] = vals
            finally:
                await c.stop()
        c = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="ak-group", enable_auto_commit=False)
        await c.start()
        try:
            committed = await c.committed(AKTopicPartition(topic, 0))
        finally:
            await c.stop()
        return got[READ_COMMITTED], got[READ_UNCOMMITTED], committed

    committed_vals, all_vals, offset = asyncio.run(asyncio.wait_for(main(), 90))
    assert committed_vals == [b"c0", b"c1", b"c2", b"c3"]
    assert all_vals == [b"c0", b"c1", b"c2", b"aborted", b"c3"]
    assert offset == 7


PRODUCER_SCRIPT = textwrap.dedent("""
    import sys
    from confluent_kafka import Producer
    bootstrap, topic, tid = sys.argv[1:4]
    p = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid, "transaction.timeout.ms": 3000})
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(5):
        p.produce(topic, b"abandoned-%d" % i)
    assert p.flush(10) == 0
    print("produced", flush=True)
    sys.stdin.read()  # wait to be killed
""")


@pytest.mark.deadline(90)
def test_a_transaction_left_open_by_a_killed_producer_is_aborted_after_its_timeout(broker_factory):
    broker = broker_factory(**FAST_TIMEOUTS)
    topic = unique_topic("abandon")
    create_topic(broker.bootstrap, topic)
    proc = subprocess.Popen([sys.executable, "-c", PRODUCER_SCRIPT, broker.bootstrap, topic, unique_topic("tid")],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"produced"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        started = time.monotonic()
        plain = Producer({"bootstrap.servers": broker.bootstrap})
        plain.produce(topic, b"after")
        assert plain.flush(10) == 0
        # Held back behind the open transaction until the coordinator aborts it (3 s timeout).
        assert read_all(broker.bootstrap, topic, READ_COMMITTED, expect=1, timeout=30) == [b"after"]
        assert time.monotonic() - started > 1.5
        assert read_all(broker.bootstrap, topic, READ_UNCOMMITTED, expect=6)[:5] == [b"abandoned-%d" % i for i in range(5)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.deadline(120)
@pytest.mark.parametrize("how", ["restart", "kill9"])
def test_broker_restart_with_a_transaction_in_flight(broker, how):
    topic = unique_topic("inflight")
    create_topic(broker.bootstrap, topic)
    tp = txn_producer(broker.bootstrap, unique_topic("tid"), **{"transaction.timeout.ms": 60000})
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    tp.begin_transaction()
    for i in range(3):
        tp.produce(topic, b"t%d" % i)
    assert tp.flush(10) == 0
    plain.produce(topic, b"plain")
    assert plain.flush(10) == 0
    if how == "restart":
        broker.restart()
    else:
        broker.kill9()
        broker.start()
    # The open transaction is still open after the restart: it still holds the plain record back.
    assert read_all(broker.bootstrap, topic, READ_COMMITTED) == []
    tp.produce(topic, b"t3")
    tp.commit_transaction(60)
    assert read_all(broker.bootstrap, topic, READ_COMMITTED, expect=5) == [b"t0", b"t1", b"t2", b"plain", b"t3"]


@pytest.mark.deadline(180)
def test_consume_transform_produce_is_exactly_once_across_a_broker_sigkill(broker):
    src, dst, group = unique_topic("in"), unique_topic("out"), unique_topic("ctp")
    create_topic(broker.bootstrap, src, partitions=2)
    create_topic(broker.bootstrap, dst, partitions=2)
    n = 400
    loader = Producer({"bootstrap.servers": broker.bootstrap, "enable.idempotence": True})
    for i in range(n):
        loader.produce(src, b"%d" % i, partition=i % 2)
    assert loader.flush(10) == 0

    killed = threading.Event()

    # librdkafka re-bootstraps when its only broker goes away and may then wait forever for a
    # decommissioned group coordinator in send_offsets_to_transaction (confluentinc/librdkafka#5511,
    # open): the client bug is sidestepped by not re-bootstrapping.
    no_rebootstrap = {"metadata.recovery.strategy": "none"}

    def make():
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                             "auto.offset.reset": "earliest", "isolation.level": READ_COMMITTED,
                             "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, **no_rebootstrap})
        consumer.subscribe([src])
        producer = txn_producer(broker.bootstrap, group + "-tid", **{"transaction.timeout.ms": 60000, **no_rebootstrap})
        return consumer, producer

    consumer, producer = make()
    deadline = time.monotonic() + 150
    processed = 0
    try:
        while processed < n and time.monotonic() < deadline:
            msgs = consumer.consume(20, 0.5)
            msgs = [m for m in msgs if not m.error()]
            if not msgs:
                continue
            try:
                producer.begin_transaction()
                for m in msgs:
                    producer.produce(dst, b"out-" + m.value(), partition=m.partition())
                if processed >= n // 3 and not killed.is_set():
                    killed.set()
                    broker.kill9()  # mid-transaction: records sent, nothing committed
                    threading.Timer(1.0, broker.start).start()
                producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                                     consumer.consumer_group_metadata(), 60)
                producer.commit_transaction(60)
                processed += len(msgs)
            except KafkaException as e:
                err = e.args[0]
                if err.txn_requires_abort():
                    producer.abort_transaction(60)
                elif err.retriable():
                    try:
                        producer.abort_transaction(60)
                    except KafkaException:
                        pass
                else:  # fatal: a new producer (fences the old one), a new consumer from the committed offsets
                    consumer.close()
                    consumer, producer = make()
                    continue
                # Rewind to what the group committed: the aborted transaction's input comes again.
                committed = consumer.committed(consumer.assignment(), 30)
                for tp in committed:
                    consumer.seek(TopicPartition(tp.topic, tp.partition, max(tp.offset, 0)))
    finally:
        consumer.close()
    assert killed.is_set()
    out = read_all(broker.bootstrap, dst, READ_COMMITTED, expect=n, timeout=30, partitions=2)
    counts = Counter(out)
    assert set(counts) == {b"out-%d" % i for i in range(n)}
    assert all(c == 1 for c in counts.values()), [v for v, c in counts.items() if c > 1][:10]


def test_kafka_python_transactional_producer(broker):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka import TopicPartition as KPTopicPartition
    from kafka.structs import OffsetAndMetadata

    topic = unique_topic("kp-txn")
    create_topic(broker.bootstrap, topic)
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=unique_topic("kp-tid"))
    try:
        p.init_transactions()
        p.begin_transaction()
        p.send(topic, b"c1")
        p.send(topic, b"c2")
        p.send_offsets_to_transaction({KPTopicPartition(topic, 0): OffsetAndMetadata(5, "", -1)}, "kp-group")
        p.commit_transaction()
        p.begin_transaction()
        p.send(topic, b"aborted")
        p.flush()
        p.abort_transaction()
    finally:
        p.close()
    got = {}
    for iso in (READ_COMMITTED, READ_UNCOMMITTED):
        c = KafkaConsumer(bootstrap_servers=broker.bootstrap, isolation_level=iso, auto_offset_reset="earliest",
                          consumer_timeout_ms=3000)
        c.assign([KPTopicPartition(topic, 0)])
        got[iso] = [m.value for m in c]
        c.close()
    assert got == {READ_COMMITTED: [b"c1", b"c2"], READ_UNCOMMITTED: [b"c1", b"c2", b"aborted"]}
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="kp-group")
    try:
        assert c.committed(KPTopicPartition(topic, 0)) == 5
    finally:
        c.close()


def test_offsets_committed_in_a_transaction_wait_for_its_outcome(broker):
    """TxnOffsetCommit: pending (OffsetFetch require_stable answers UNSTABLE_OFFSET_COMMIT) until the
    marker; applied on commit, dropped on abort, and replayed the same way after a restart. KIP-447's
    generation check refuses a stale member."""
    topic, group = unique_topic("txo"), unique_topic("txo-group")
    create_topic(broker.bootstrap, topic)

    def session(c: RawClient, tid: str) -> tuple[int, int]:
        assert c.request(ApiKey.FIND_COORDINATOR, 3, {"key": tid, "key_type": 1})["error_code"] == 0
        r = c.request(ApiKey.INIT_PRODUCER_ID, 4, {"transactional_id": tid, "transaction_timeout_ms": 60000,
                                                    "producer_id": -1, "producer_epoch": -1})
        assert r["error_code"] == 0
        return r["producer_id"], r["producer_epoch"]

    def commit_offset(c: RawClient, tid: str, pid: int, epoch: int, offset: int, generation: int = -1, member: str = "") -> int:
        assert c.request(ApiKey.ADD_OFFSETS_TO_TXN, 3, {"transactional_id": tid, "producer_id": pid, "producer_epoch": epoch,
                                                         "group_id": group})["error_code"] == 0
        r = c.request(ApiKey.TXN_OFFSET_COMMIT, 3, {
            "transactional_id": tid, "group_id": group, "producer_id": pid, "producer_epoch": epoch,
            "generation_id": generation, "member_id": member, "group_instance_id": None,
            "topics": [{"name": topic, "partitions": [{"partition_index": 0, "committed_offset": offset,
                                                        "committed_leader_epoch": -1, "committed_metadata": ""}]}]})
        return r["topics"][0]["partitions"][0]["error_code"]

    def fetch(c: RawClient) -> tuple[int, int]:
        r = c.request(ApiKey.OFFSET_FETCH, 7, {"group_id": group, "topics": [{"name": topic, "partition_indexes": [0]}],
                                               "require_stable": True})
        p = r["topics"][0]["partitions"][0]
        return p["error_code"], p["committed_offset"]

    def end(c: RawClient, tid: str, pid: int, epoch: int, commit: bool) -> None:
        assert c.request(ApiKey.END_TXN, 3, {"transactional_id": tid, "producer_id": pid, "producer_epoch": epoch,
                                             "committed": commit})["error_code"] == 0

    tid = unique_topic("tid")
    with RawClient(broker.host, broker.port) as c:
        pid, epoch = session(c, tid)
        assert commit_offset(c, tid, pid, epoch, 10) == 0
        assert fetch(c) == (ErrorCode.UNSTABLE_OFFSET_COMMIT, -1)
        end(c, tid, pid, epoch, commit=True)
        assert fetch(c) == (0, 10)
        assert commit_offset(c, tid, pid, epoch, 20) == 0
        end(c, tid, pid, epoch, commit=False)
        assert fetch(c) == (0, 10)  # the aborted commit is gone
        assert commit_offset(c, tid, pid, epoch, 30) == 0  # left pending across a restart
    broker.restart()
    with RawClient(broker.host, broker.port) as c:
        assert fetch(c) == (ErrorCode.UNSTABLE_OFFSET_COMMIT, -1)
        end(c, tid, pid, epoch, commit=True)
        assert fetch(c) == (0, 30)
    # KIP-447: with the group formed, a commit from another generation or an unknown member is refused.
    member = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                       "session.timeout.ms": 6000})
    try:
        member.subscribe([topic])
        deadline = time.monotonic() + 30
        while not member.assignment() and time.monotonic() < deadline:
            member.poll(0.2)
        assert member.assignment(), "the consumer never joined its group"
        with RawClient(broker.host, broker.port) as c:
            pid, epoch = session(c, tid)
            assert commit_offset(c, tid, pid, epoch, 40, generation=999) == ErrorCode.ILLEGAL_GENERATION
            assert commit_offset(c, tid, pid, epoch, 40, member="nobody") == ErrorCode.UNKNOWN_MEMBER_ID
            assert commit_offset(c, tid, pid, epoch, 40) == 0  # no member, no generation: not checked (pre-KIP-447 clients)
    finally:
        member.close()


@pytest.mark.deadline(120)
def test_transactions_on_a_compacted_topic(broker_factory):
    """The log cleaner removes aborted records and cleans only below the last stable offset: an
    open transaction's records stay until it ends; read_committed readers see the committed
    latest value of every key throughout."""
    from confluent_kafka.admin import AdminClient, NewTopic
    from stream_helpers import COMPACTING_BROKER

    from pystream.storage.cleaner import CHECKPOINT_FILE, read_checkpoint

    broker = broker_factory(**COMPACTING_BROKER)
    topic = unique_topic("ctxn")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "compact"})])[topic].result(15)
    keys = [b"k%d" % i for i in range(40)]
    tp = txn_producer(broker.bootstrap, unique_topic("tid"))
    plain = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})

    def txn(value: bytes, commit: bool | None) -> None:
        tp.begin_transaction()
        for k in keys:
            tp.produce(topic, value * 100, key=k)
        assert tp.flush(10) == 0
        if commit is True:
            tp.commit_transaction(30)
        elif commit is False:
            tp.abort_transaction(30)

    def filler(n: int = 300) -> None:  # other keys: segments roll (16 KiB) and become cleanable
        for i in range(n):
            plain.produce(topic, b"f" * 100, key=b"f%d" % (i % 20))
        assert plain.flush(10) == 0

    def cleaned_to() -> int:
        return read_checkpoint(broker.data_dir / CHECKPOINT_FILE).get((topic, 0), 0)

    def latest(isolation: str) -> dict[bytes, bytes]:
        return {k: v[:1] for k, v in read_records(broker.bootstrap, topic, isolation) if k in keys}

    txn(b"a", commit=True)
    txn(b"b", commit=False)
    txn(b"c", commit=True)
    filler()
    deadline = time.monotonic() + 30
    while cleaned_to() == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cleaned_to() > 0, "the cleaner never ran"
    assert latest(READ_COMMITTED) == {k: b"c" for k in keys}
    assert b"b" not in {v for v in latest(READ_UNCOMMITTED).values()}  # aborted records removed or superseded
    # A transaction left open: the cleaner must not go past its first offset.
    txn(b"d", commit=None)
    before = cleaned_to()
    filler()
    err, lso = list_offset(broker.bootstrap, topic, 1)  # the first offset of the open transaction
    assert err == 0 and lso < list_offset(broker.bootstrap, topic, 0)[1]
    deadline = time.monotonic() + 10
    while cleaned_to() == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert before < cleaned_to() <= lso, (before, cleaned_to(), lso)  # cleaned again, not past the open transaction
    assert latest(READ_COMMITTED) == {k: b"c" for k in keys}
    tp.commit_transaction(30)
    filler()
    assert latest(READ_COMMITTED) == {k: b"d" for k in keys}
