"""Bad input on raw sockets: each gets the protocol's error response or a closed
connection, and the broker goes on serving real clients afterwards."""

from __future__ import annotations

import os
import resource
import socket
import struct
import time

import pytest
from compat_helpers import BrokerProcess, RawClient, confluent_roundtrip_check, create_topic, unique_topic

from pystream import _core
from pystream.protocol import decode_response, encode_request, join

MAX_REQUEST = 2_000_000  # socket.request.max.bytes for this module's broker
MAX_MESSAGE = 50_000  # message.max.bytes
API_VERSIONS, METADATA, PRODUCE = 18, 3, 0
UNSUPPORTED_VERSION, CORRUPT_MESSAGE, MESSAGE_TOO_LARGE = 35, 2, 10


@pytest.fixture(scope="module")
def rb(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    b = BrokerProcess(tmp_path_factory.mktemp("robust"), {"socket.request.max.bytes": str(MAX_REQUEST),
                                                          "message.max.bytes": str(MAX_MESSAGE)})
    request.node.__dict__.setdefault("_pystream_brokers", []).append(b)
    b.start()
    yield b
    b.stop()


def still_serving(b: BrokerProcess) -> None:
    assert b.alive(), f"broker process died:\n{b.log_tail()}"
    confluent_roundtrip_check(b.bootstrap, n=10, timeout=20)


def frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


def answered_or_closed(r: RawClient) -> str:
    """'closed' if the broker closed the connection, 'answered' if it sent a frame back (then must not hang)."""
    r.sock.settimeout(5)
    try:
        head = r.sock.recv(4)
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    except socket.timeout:
        pytest.fail("broker neither answered nor closed the connection within 5s")
    return "closed" if head == b"" else "answered"


def test_garbage_after_valid_size(rb):
    # A valid-looking Metadata v1 header followed by bytes that are not a Metadata body.
    header = struct.pack(">hhi", METADATA, 1, 7) + struct.pack(">h", 3) + b"abc"
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(frame(header + b"\xff\xfe\x00\x01garbage-garbage"))
        assert answered_or_closed(r) in ("closed", "answered")
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(frame(os.urandom(64)))
        assert answered_or_closed(r) in ("closed", "answered")
    still_serving(rb)


def test_truncated_frame_then_close(rb):
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(struct.pack(">i", 100) + b"\x00\x03\x00\x01\x00\x00")
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(b"\x00\x00")  # not even a whole size field
    still_serving(rb)


def test_frame_over_socket_request_max_bytes(rb):
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(struct.pack(">i", MAX_REQUEST + 1) + b"\x00" * 1000)
        assert r.closed_by_peer(), "an oversized request must close the connection"
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(struct.pack(">i", -5))
        assert r.closed_by_peer(), "a negative size must close the connection"
    still_serving(rb)


def test_unknown_api_key(rb):
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(frame(struct.pack(">hhi", 999, 0, 1) + struct.pack(">h", -1)))
        assert answered_or_closed(r) == "closed"
    still_serving(rb)


def test_unsupported_api_version(rb):
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(frame(struct.pack(">hhi", METADATA, 99, 1) + struct.pack(">h", -1) + b"\x00" * 8))
        assert answered_or_closed(r) == "closed"
    still_serving(rb)


def test_api_versions_v99_gets_v0_fallback(rb):
    """KIP-511: an ApiVersions version the broker does not know gets a v0 response with error 35 and the ranges."""
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(frame(struct.pack(">hhi", API_VERSIONS, 99, 4242) + struct.pack(">h", 1) + b"x" + b"\x00\x00\x00"))
        corr, body = decode_response(API_VERSIONS, 0, r.recv_frame())
        assert corr == 4242
        assert body["error_code"] == UNSUPPORTED_VERSION
        ranges = {k["api_key"]: (k["min_version"], k["max_version"]) for k in body["api_keys"]}
        assert API_VERSIONS in ranges and ranges[API_VERSIONS][1] >= 3
        assert PRODUCE in ranges and METADATA in ranges
        # The connection stays usable: retry at a version from the ranges, as clients do.
        resp = r.request(API_VERSIONS, ranges[API_VERSIONS][1], {"client_software_name": "compat",
                                                                  "client_software_version": "1"})
        assert resp["error_code"] == 0
    still_serving(rb)


def test_zero_length_frame(rb):
    with RawClient(rb.host, rb.port) as r:
        r.send_raw(struct.pack(">i", 0))
        assert answered_or_closed(r) == "closed"
    still_serving(rb)


def test_many_idle_connections(rb):
    n = 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = n + 256
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection((rb.host, rb.port), timeout=10)
            socks.append(s)
        # Every connection is accepted (a request on the last one is answered) ...
        last = RawClient.__new__(RawClient)
        last.sock, last.corr = socks[-1], 0
        last.sock.settimeout(10)
        assert last.request(API_VERSIONS, 0, {})["error_code"] == 0
        # ... and a real client still works while they are all open.
        still_serving(rb)
    finally:
        for s in socks:
            s.close()
        if soft < need:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    still_serving(rb)


def produce_raw(b: BrokerProcess, topic: str, batch: bytes, version: int = 8) -> dict:
    with RawClient(b.host, b.port) as r:
        resp = r.request(PRODUCE, version, {"acks": -1, "timeout_ms": 5000, "topic_data": [
            {"name": topic, "partition_data": [{"index": 0, "records": batch}]}]})
    [t] = resp["responses"]
    [p] = t["partition_responses"]
    return p


def end_offset(b: BrokerProcess, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": unique_topic("g")})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


def test_bad_crc_is_corrupt_message(rb):
    topic = unique_topic("crc")
    create_topic(rb.bootstrap, topic, 1)
    good = _core.encode_batch([(int(time.time() * 1000), b"k", b"value-%d" % i, None) for i in range(5)])
    assert produce_raw(rb, topic, good)["error_code"] == 0
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # inside the records: the CRC no longer matches
    p = produce_raw(rb, topic, bytes(bad))
    assert p["error_code"] == CORRUPT_MESSAGE
    assert end_offset(rb, topic) == 5, "the corrupt batch must not be appended"
    still_serving(rb)


def test_batch_over_message_max_bytes(rb):
    topic = unique_topic("big")
    create_topic(rb.bootstrap, topic, 1)
    batch = _core.encode_batch([(int(time.time() * 1000), None, b"x" * (MAX_MESSAGE + 100), None)])
    assert len(batch) > MAX_MESSAGE
    p = produce_raw(rb, topic, batch)
    assert p["error_code"] == MESSAGE_TOO_LARGE
    assert end_offset(rb, topic) == 0
    # One just under the limit is accepted.
    ok = _core.encode_batch([(int(time.time() * 1000), None, b"x" * (MAX_MESSAGE - 200), None)])
    assert len(ok) <= MAX_MESSAGE
    assert produce_raw(rb, topic, ok)["error_code"] == 0
    assert end_offset(rb, topic) == 1
    still_serving(rb)
