"""Malformed, truncated, unknown and unsupported input raises the protocol error types only."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gen import random_body
from pystream.errors import PystreamError
from pystream.protocol import (
    ProtocolError,
    UnknownApiKeyError,
    UnsupportedVersionError,
    decode_message,
    decode_request,
    decode_response,
    encode_message,
    encode_request,
    encode_response,
    get_message,
    join,
)


def _frames() -> list[bytes]:
    """Request frames (without size prefix) covering flexible and classic encodings."""
    rng = random.Random(7)
    out = []
    for key, version in [(18, 3), (18, 0), (3, 1), (3, 12), (0, 3), (0, 9), (1, 4), (1, 13), (8, 8), (11, 9)]:
        body = random_body(get_message(key, "request"), version, rng)
        out.append(join(encode_request(key, version, 77, "cid", body))[4:])
    return out


FRAMES = _frames()


def test_protocol_error_hierarchy():
    assert issubclass(ProtocolError, PystreamError) and issubclass(ProtocolError, ValueError)
    assert issubclass(UnknownApiKeyError, ProtocolError) and issubclass(UnsupportedVersionError, ProtocolError)


@pytest.mark.parametrize("frame", FRAMES, ids=range(len(FRAMES)))
def test_every_truncation_raises_protocol_error(frame: bytes):
    decode_request(frame)  # the whole frame is valid
    api_key, version = struct.unpack(">hh", frame[:4])
    for n in range(len(frame)):
        with pytest.raises(ProtocolError) as ei:
            decode_request(frame[:n])
        if n >= 4:
            assert (ei.value.api_key, ei.value.api_version) == (api_key, version)
        if n >= 8:
            assert ei.value.correlation_id == 77
        else:
            assert ei.value.correlation_id is None


def test_trailing_bytes_rejected():
    with pytest.raises(ProtocolError, match="trailing"):
        decode_request(FRAMES[0] + b"\x00")
    with pytest.raises(ProtocolError, match="trailing"):
        decode_message("HeartbeatRequest", 0, join(encode_message("HeartbeatRequest", 0, {})) + b"x")


def test_unknown_api_key():
    frame = struct.pack(">hhi", 9999, 0, 12) + b"\x00\x00"
    with pytest.raises(UnknownApiKeyError) as ei:
        decode_request(frame)
    assert (ei.value.api_key, ei.value.api_version, ei.value.correlation_id) == (9999, 0, 12)
    assert "9999" in str(ei.value)
    with pytest.raises(UnknownApiKeyError):
        encode_request(9999, 0, 1, None, {})
    with pytest.raises(UnknownApiKeyError):
        decode_response(-1, 0, b"\x00\x00\x00\x01")


def test_unsupported_version():
    frame = struct.pack(">hhi", 3, 99, 5) + b"\x00\x00"
    with pytest.raises(UnsupportedVersionError) as ei:
        decode_request(frame)
    assert (ei.value.api_key, ei.value.api_version, ei.value.correlation_id) == (3, 99, 5)
    with pytest.raises(UnsupportedVersionError):
        decode_request(struct.pack(">hhi", 18, -1, 5))
    with pytest.raises(UnsupportedVersionError):
        encode_response(3, 13, 1, {})
    with pytest.raises(UnsupportedVersionError):
        encode_message("MetadataRequest", 99, {})


def test_null_in_non_nullable_string():
    # Metadata v0 request: topics [ name = int16 -1 ] : topic name is not nullable
    frame = struct.pack(">hhi", 3, 0, 1) + b"\x00\x01c" + struct.pack(">ih", 1, -1)
    with pytest.raises(ProtocolError, match="null"):
        decode_request(frame)


def test_null_in_non_nullable_array():
    frame = struct.pack(">hhi", 3, 0, 1) + b"\x00\x01c" + struct.pack(">i", -1)
    with pytest.raises(ProtocolError, match="null"):
        decode_request(frame)


def test_invalid_utf8():
    frame = struct.pack(">hhi", 3, 0, 1) + b"\x00\x01c" + struct.pack(">ih", 1, 2) + b"\xff\xfe"
    with pytest.raises(ProtocolError):
        decode_request(frame)


def test_varint_too_long():
    # ApiVersions v3: compact string length as a 6-byte varint
    frame = struct.pack(">hhi", 18, 3, 1) + b"\xff\xff\x00" + b"\xff\xff\xff\xff\xff\x01"
    with pytest.raises(ProtocolError, match="varint"):
        decode_request(frame)


def test_huge_array_length_fails_fast():
    frame = struct.pack(">hhi", 3, 1, 1) + b"\x00\x01c" + struct.pack(">i", 2**31 - 1)
    with pytest.raises(ProtocolError, match="truncated"):
        decode_request(frame)
    frame = struct.pack(">hhi", 3, 9, 1) + b"\x00\x01c\x00" + b"\xff\xff\xff\xff\x07"
    with pytest.raises(ProtocolError, match="truncated"):
        decode_request(frame)


def test_tagged_field_size_past_end():
    data = bytes.fromhex("0000" "01" "00000000" "01" "07" "09") + b"xyz"
    with pytest.raises(ProtocolError, match="truncated"):
        decode_message("ApiVersionsResponse", 3, data)


def test_tagged_field_size_mismatch():
    # tag 3 (bool) declared with 2 bytes
    data = bytes.fromhex("0000" "01" "00000000" "01" "03" "02" "0100")
    with pytest.raises(ProtocolError, match="trailing"):
        decode_message("ApiVersionsResponse", 3, data)


def test_response_truncated():
    frame = join(encode_response(3, 12, 9, {"topics": [{"name": "t", "partitions": [{}]}]}))[4:]
    for n in range(len(frame)):
        with pytest.raises(ProtocolError) as ei:
            decode_response(3, 12, frame[:n])
        assert ei.value.api_key == 3
        if n >= 4:
            assert ei.value.correlation_id == 9


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"generation_id": 2**31}, "generation_id"),
        ({"group_id": None}, "group_id"),
        ({"group_id": 5}, "group_id"),
        ({"member_id": "x" * 40000}, "member_id"),
    ],
)
def test_encode_errors_name_the_field(body: dict, match: str):
    with pytest.raises(ProtocolError, match=match):
        encode_request(12, 0, 1, "c", body)


def test_encode_errors_in_arrays():
    with pytest.raises(ProtocolError, match="replica_nodes"):
        encode_message("MetadataResponse", 1, {"topics": [{"partitions": [{"replica_nodes": [2**40]}]}]})
    with pytest.raises(ProtocolError):
        encode_message("MetadataResponse", 1, {"brokers": [None]})
    with pytest.raises(ProtocolError, match="uuid"):
        encode_message("MetadataResponse", 10, {"topics": [{"topic_id": b"short"}]})


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=64))
def test_garbage_only_raises_protocol_error(data: bytes):
    try:
        decode_request(data)
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(FRAMES), st.data())
def test_corrupted_frames_only_raise_protocol_error(frame: bytes, data: st.DataObject):
    buf = bytearray(frame)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    try:
        decode_request(bytes(buf))
    except ProtocolError:
        pass
