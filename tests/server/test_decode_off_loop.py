"""Which large requests are decoded in a codec thread (server/connection.py): by the connection's
measured cost per byte, so that one of thousands of partitions never decodes on the event loop
after a small one of the same API was cheap, and 1 MB of records for one partition never pays
the thread hand-off."""

from __future__ import annotations

import uuid

from pystream.protocol import codec
from pystream.protocol.schema_data import ApiKey
from pystream.server.connection import CHEAP_DECODE_S, HEAVY_REQUEST_BYTES, _timed_decode, decode_off_loop


def _metadata_frame(topics: int) -> bytes:
    body = {"topics": [{"name": f"topic-{i:05d}", "topic_id": uuid.UUID(int=0)} for i in range(topics)],
            "allow_auto_topic_creation": False, "include_topic_authorized_operations": False}
    return b"".join(bytes(c) for c in codec.encode_request(ApiKey.METADATA, 12, 1, "c", body))[4:]


def _produce_frame(records: int) -> bytes:
    body = {"transactional_id": None, "acks": 1, "timeout_ms": 1000,
            "topic_data": [{"name": "t", "partition_data": [{"index": 0, "records": b"\0" * records}]}]}
    return b"".join(bytes(c) for c in codec.encode_request(ApiKey.PRODUCE, 9, 1, "c", body))[4:]


def test_unknown_cost_goes_to_a_thread() -> None:
    assert decode_off_loop(ApiKey.METADATA, HEAVY_REQUEST_BYTES, None)
    assert decode_off_loop(ApiKey.METADATA, HEAVY_REQUEST_BYTES, {ApiKey.PRODUCE: 0.0})


def test_a_cheap_small_request_does_not_make_a_big_one_inline() -> None:
    small, big = _metadata_frame(3_000), _metadata_frame(30_000)
    assert len(small) >= HEAVY_REQUEST_BYTES
    (_header, body), _cost = _timed_decode(big)
    assert len(body["topics"]) == 30_000
    # the connection's last large Metadata decoded just under the bound: it stays inline,
    # one ten times its size goes to a thread
    costs = {ApiKey.METADATA: 0.9 * CHEAP_DECODE_S / len(small)}
    assert not decode_off_loop(ApiKey.METADATA, len(small), costs)
    assert decode_off_loop(ApiKey.METADATA, len(big), costs)


def test_records_bytes_cost_next_to_nothing_per_byte() -> None:
    """A Produce of one partition and 4 MiB of records: its measured cost per byte keeps the
    next one of that size inline unless decoding it took most of CHEAP_DECODE_S (it takes
    microseconds: the records are a view, not parsed)."""
    frame = _produce_frame(4 << 20)
    (_header, body), cost = _timed_decode(frame)
    assert len(body["topic_data"][0]["partition_data"][0]["records"]) == 4 << 20
    assert decode_off_loop(ApiKey.PRODUCE, len(frame), {ApiKey.PRODUCE: cost / len(frame)}) == (cost >= CHEAP_DECODE_S)
