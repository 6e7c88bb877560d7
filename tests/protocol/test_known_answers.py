"""Encodings checked against bytes computed by hand from the Kafka protocol spec."""

from __future__ import annotations

import uuid

import pytest

from pystream.protocol import (
    SUPPORTED_VERSIONS,
    ZERO_COPY_THRESHOLD,
    ApiKey,
    api_versions_entries,
    decode_message,
    decode_request,
    decode_response,
    encode_message,
    encode_request,
    encode_response,
    join,
    request_header_version,
    response_header_version,
)

# ApiVersions v3 request, as librdkafka sends it: request header v2 (client_id is a
# classic int16 string even in v2, then an empty tagged-field section), then a
# flexible body: two compact strings and an empty tagged-field section.
LIBRDKAFKA_API_VERSIONS_V3 = bytes.fromhex(
    "00000024"            # size 36
    "0012" "0003"         # api_key 18, version 3
    "00000001"            # correlation_id 1
    "0007") + b"rdkafka" + bytes.fromhex(
    "00"                  # header tagged fields: none
    "0b") + b"librdkafka" + bytes.fromhex(  # compact string: length + 1
    "06") + b"2.3.0" + bytes.fromhex(
    "00")                 # body tagged fields: none


def test_api_versions_v3_request_librdkafka_decode():
    header, body = decode_request(LIBRDKAFKA_API_VERSIONS_V3[4:])
    assert header == (18, 3, 1, "rdkafka")
    assert header.api_key == ApiKey.API_VERSIONS and header.client_id == "rdkafka"
    assert body == {"client_software_name": "librdkafka", "client_software_version": "2.3.0"}


def test_api_versions_v3_request_librdkafka_encode():
    body = {"client_software_name": "librdkafka", "client_software_version": "2.3.0"}
    assert join(encode_request(18, 3, 1, "rdkafka", body)) == LIBRDKAFKA_API_VERSIONS_V3


def test_metadata_v1_request():
    frame = join(encode_request(3, 1, 42, "c", {"topics": [{"name": "foo"}]}))
    assert frame == bytes.fromhex("00000014" "0003" "0001" "0000002a" "0001") + b"c" + bytes.fromhex(
        "00000001" "0003") + b"foo"
    header, body = decode_request(frame[4:])
    assert header == (3, 1, 42, "c")
    assert body["topics"] == [{"name": "foo", "topic_id": uuid.UUID(int=0)}]
    # topics=null (all topics) is allowed from v1: int32 -1
    frame = join(encode_request(3, 1, 42, "c", {"topics": None}))
    assert frame[-4:] == b"\xff\xff\xff\xff"
    assert decode_request(frame[4:])[1]["topics"] is None


def test_metadata_v0_request_topics_not_nullable():
    from pystream.protocol import ProtocolError

    with pytest.raises(ProtocolError, match="topics"):
        encode_request(3, 0, 1, "c", {"topics": None})


def test_request_header_v2_null_client_id():
    frame = join(encode_request(18, 3, 5, None, {}))
    # header: key, version, corr, client_id = -1 (null), tagged 0; body: "" "" tagged
    assert frame[4:] == bytes.fromhex("0012" "0003" "00000005" "ffff" "00" "01" "01" "00")
    assert decode_request(frame[4:])[0].client_id is None


def test_api_versions_v3_response_with_tagged_fields():
    body = {
        "error_code": 0,
        "api_keys": [{"api_key": 3, "min_version": 0, "max_version": 12}],
        "throttle_time_ms": 0,
        "finalized_features_epoch": 5,  # tag 1 (default -1: written)
        "zk_migration_ready": True,     # tag 3 (default false: written)
    }
    frame = join(encode_response(18, 3, 7, body))
    expected = bytes.fromhex(
        "00000007"          # response header v0 even though v3 is flexible (KIP-511): no tagged byte
        "0000"              # error_code
        "02" "0003" "0000" "000c" "00"  # compact array of 1 ApiVersion, each with empty tagged fields
        "00000000"          # throttle_time_ms
        "02"                # 2 tagged fields, ascending tag order
        "01" "08" "0000000000000005"  # tag 1, size 8, int64 5
        "03" "01" "01"      # tag 3, size 1, true
    )
    assert frame[4:] == expected
    assert int.from_bytes(frame[:4], "big") == len(expected)
    corr, decoded = decode_response(18, 3, expected)
    assert corr == 7
    assert decoded["finalized_features_epoch"] == 5 and decoded["zk_migration_ready"] is True
    assert decoded["supported_features"] == [] and decoded["finalized_features"] == []


def test_tagged_fields_at_default_are_omitted():
    frame = join(encode_response(18, 3, 7, {"finalized_features_epoch": -1, "zk_migration_ready": False}))
    assert frame[4:] == bytes.fromhex("00000007" "0000" "01" "00000000" "00")


def test_unknown_tagged_fields_are_kept():
    data = bytes.fromhex("0000" "01" "00000000" "01" "07" "03") + b"xyz"
    body = decode_message("ApiVersionsResponse", 3, data)
    assert body["_unknown_tagged_fields"] == {7: b"xyz"}
    assert join(encode_message("ApiVersionsResponse", 3, body)) == data


def test_response_header_v1_for_flexible_metadata():
    frame = join(encode_response(3, 9, 1, {}))
    # corr, header tagged 0, throttle 0, brokers [], cluster_id null, controller -1, topics [],
    # cluster_authorized_operations (v8-10) default INT32_MIN, body tagged 0
    assert frame[4:] == bytes.fromhex("00000001" "00" "00000000" "01" "00" "ffffffff" "01" "80000000" "00")
    frame = join(encode_response(3, 8, 1, {}))
    assert frame[4:10] == bytes.fromhex("00000001" "0000")  # no header tagged byte in v0 headers


def test_compact_string_length_varint():
    name = "t" * 200
    data = join(encode_message("DeleteGroupsRequest", 2, {"groups_names": [name]}))
    # compact array: 1+1 = 0x02; compact string: 200+1 = 201 = varint c9 01; tagged 00
    assert data == b"\x02\xc9\x01" + name.encode() + b"\x00"
    assert decode_message("DeleteGroupsRequest", 2, data)["groups_names"] == [name]


def test_defaults_applied_on_encode():
    # MetadataResponse v1: missing controller_id takes JSON default -1, rack default null
    data = join(encode_message("MetadataResponse", 1, {"brokers": [{"node_id": 1, "host": "h", "port": 9092}]}))
    assert data == bytes.fromhex("00000001" "00000001" "0001") + b"h" + bytes.fromhex(
        "00002384" "ffff" "ffffffff" "00000000")


def test_uuid_and_int_arrays():
    tid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    body = {"topics": [{"name": "a", "topic_id": tid, "partitions": [{"replica_nodes": [1, -2]}]}]}
    data = join(encode_message("MetadataResponse", 10, body))
    assert tid.bytes in data
    assert bytes.fromhex("03" "00000001" "fffffffe") in data  # compact []int32 of 2
    out = decode_message("MetadataResponse", 10, data)
    assert out["topics"][0]["topic_id"] == tid
    assert out["topics"][0]["partitions"][0]["replica_nodes"] == [1, -2]


def test_records_zero_copy_encode_and_decode():
    big = bytes(range(256)) * ((ZERO_COPY_THRESHOLD // 256) + 4)
    small = b"small-batch"
    chunks = [memoryview(big), big]
    body = {"acks": -1, "timeout_ms": 1000, "topic_data": [
        {"name": "t", "partition_data": [{"index": 0, "records": chunks}, {"index": 1, "records": small}]}]}
    parts = encode_request(0, 9, 11, "p", body)
    # big chunks are passed through as their own buffers, never copied
    assert any(p is chunks[0] for p in parts) and any(p is big for p in parts)
    assert int.from_bytes(bytes(parts[0][:4]), "big") == sum(memoryview(p).nbytes for p in parts) - 4
    frame = join(parts)
    header, decoded = decode_request(frame[4:])
    r0 = decoded["topic_data"][0]["partition_data"][0]["records"]
    r1 = decoded["topic_data"][0]["partition_data"][1]["records"]
    assert isinstance(r0, memoryview) and r0.obj is not None
    assert bytes(r0) == big + big and bytes(r1) == small
    # decode slices the caller's buffer: no copy
    src = bytearray(frame[4:])
    _, decoded = decode_request(src)
    rec = decoded["topic_data"][0]["partition_data"][1]["records"]
    src[bytes(src).rfind(small)] = ord("S")
    assert bytes(rec) == b"Small-batch"


def test_records_non_buffer_chunk_passthrough():
    class Region:
        """A file region a transport would sendfile()."""

        def __len__(self) -> int:
            return 10_000

    region = Region()
    body = {"responses": [{"topic": "t", "partitions": [{"partition_index": 0, "records": [region]}]}]}
    parts = encode_response(1, 4, 3, body)
    assert region in parts
    assert int.from_bytes(bytes(parts[0][:4]), "big") == sum(
        10_000 if p is region else len(p) for p in parts) - 4


def test_header_versions():
    assert request_header_version(18, 3) == 2
    assert request_header_version(3, 8) == 1 and request_header_version(3, 9) == 2
    assert request_header_version(7, 0) == 0
    assert response_header_version(18, 3) == 0 and response_header_version(18, 4) == 0
    assert response_header_version(3, 9) == 1 and response_header_version(3, 8) == 0


def test_supported_versions_table():
    assert SUPPORTED_VERSIONS[18] == (0, 4)
    assert SUPPORTED_VERSIONS[3] == (0, 12)
    assert SUPPORTED_VERSIONS[36] == (0, 2)
    entries = api_versions_entries(max_overrides={3: 9})
    by_key = {e["api_key"]: e for e in entries}
    assert by_key[3] == {"api_key": 3, "min_version": 0, "max_version": 9}
    assert by_key[0]["max_version"] == SUPPORTED_VERSIONS[0][1]
    assert [e["api_key"] for e in api_versions_entries([0, 18])] == [0, 18]
    frame = join(encode_response(18, 3, 1, {"api_keys": entries}))
    _, decoded = decode_response(18, 3, frame[4:])
    assert decoded["api_keys"] == entries
