"""acks=all and idempotent retries: a retried batch the leader already has is acknowledged only
once the in-sync replicas have it too (Kafka's delayed produce waits for the high watermark to
pass the original batch), never at once."""

from __future__ import annotations

import struct
import time

from pystream._core import crc32c, decode_records, encode_batch
from pystream.protocol.client import KafkaClient, KafkaError

from .conftest import Cluster, wait_until

TOPIC = "acks"


def _idempotent_batch(value: bytes, producer_id: int = 4242, epoch: int = 0, seq: int = 0) -> bytes:
    b = bytearray(encode_batch([(int(time.time() * 1000), None, value, None)]))
    struct.pack_into(">qhi", b, 43, producer_id, epoch, seq)  # producer id, epoch, base sequence
    struct.pack_into(">I", b, 17, crc32c(b[21:]))
    return bytes(b)


def test_retried_batch_is_acknowledged_only_once_replicated(cluster: Cluster) -> None:
    for i in (1, 2, 3):  # the ISR must not shrink during the test
        cluster.add_broker(i, replica_lag_time_max_ms="60000")
    cluster.wait_brokers([1, 2, 3])
    cluster.create_topic(TOPIC, 1, 3, {"min.insync.replicas": "2"})
    leader = cluster.leader(TOPIC, 0)
    followers = [b for b in (1, 2, 3) if b != leader]
    batch = _idempotent_batch(b"once")

    def produce(timeout_ms: int) -> str:
        with KafkaClient(cluster.brokers[leader].address, timeout=timeout_ms / 1000 + 10, retries=0) as c:
            try:
                return f"ok@{c.produce(TOPIC, 0, batch, acks=-1, timeout_ms=timeout_ms)['base_offset']}"
            except KafkaError as e:
                return e.name

    for b in followers:
        cluster.brokers[b].pause()
    try:
        assert produce(1500) == "REQUEST_TIMED_OUT"  # appended on the leader alone
        # The producer retries the same batch: the leader has it, the followers do not.
        assert produce(1500) == "REQUEST_TIMED_OUT"
    finally:
        for b in followers:
            cluster.brokers[b].resume()
    wait_until(lambda: produce(10000) == "ok@0", 20, what="the retry is acknowledged once replicated")
    with KafkaClient(cluster.bootstrap, timeout=10) as c:
        got = c.fetch(TOPIC, 0, 0)
    assert got["high_watermark"] == 1  # one copy, replicated
    assert [r.value for r in decode_records(bytes(got["records"]))] == [b"once"]
