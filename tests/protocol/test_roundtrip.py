"""Round trips: every message of every supported API, every version."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings

from gen import contains, message_strategy, random_body
from pystream.protocol import (
    ApiKey,
    decode_message,
    decode_request,
    decode_response,
    encode_message,
    encode_request,
    encode_response,
    get_message,
    join,
)
from pystream.protocol.schema_data import MESSAGES

REQUIRED = [
    "ApiVersions", "Metadata", "Produce", "Fetch", "ListOffsets", "CreateTopics", "DeleteTopics",
    "CreatePartitions", "DescribeConfigs", "IncrementalAlterConfigs", "FindCoordinator", "JoinGroup",
    "SyncGroup", "Heartbeat", "LeaveGroup", "OffsetCommit", "OffsetFetch", "ListGroups", "DescribeGroups",
    "DeleteGroups", "InitProducerId", "OffsetForLeaderEpoch", "DeleteRecords", "DescribeCluster",
    "AlterPartitionReassignments", "ListPartitionReassignments", "SaslHandshake", "SaslAuthenticate",
]
REQUIRED_MESSAGES = [f"{api}{kind}" for api in REQUIRED for kind in ("Request", "Response")]
ALL_CASES = [(m.name, v) for m in MESSAGES for v in range(m.valid[0], m.valid[1] + 1)]


def roundtrip_body(name: str, version: int, body: dict) -> None:
    data = join(encode_message(name, version, body))
    decoded = decode_message(name, version, data)
    assert contains(body, decoded), (body, decoded)
    # every schema field is present after decoding, whatever the version
    assert set(decoded) >= {f.name for f in get_message(name).fields}
    # decode -> encode is the identity on bytes
    assert join(encode_message(name, version, decoded)) == data


def test_required_apis_present():
    for name in REQUIRED_MESSAGES:
        assert get_message(name).kind in ("request", "response")


@pytest.mark.parametrize(("name", "version"), ALL_CASES, ids=[f"{n}-v{v}" for n, v in ALL_CASES])
def test_roundtrip_every_message_version(name: str, version: int) -> None:
    rng = random.Random(f"{name}/{version}")
    msg = get_message(name)
    roundtrip_body(name, version, {})  # all defaults
    for _ in range(4):
        roundtrip_body(name, version, random_body(msg, version, rng))


@pytest.mark.parametrize("name", REQUIRED_MESSAGES)
def test_roundtrip_hypothesis(name: str) -> None:
    msg = get_message(name)

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(message_strategy(msg))
    def check(case: tuple[int, dict]) -> None:
        version, body = case
        roundtrip_body(name, version, body)

    check()


@pytest.mark.parametrize("api", REQUIRED)
def test_frame_roundtrip_all_versions(api: str) -> None:
    req, resp = get_message(api + "Request"), get_message(api + "Response")
    rng = random.Random(api)
    for v in range(req.valid[0], req.valid[1] + 1):
        body = random_body(req, v, rng)
        frame = join(encode_request(req.api_key, v, 1000 + v, "client-é", body))
        assert int.from_bytes(frame[:4], "big", signed=True) == len(frame) - 4
        header, decoded = decode_request(frame[4:])
        assert (header.api_key, header.api_version, header.correlation_id) == (req.api_key, v, 1000 + v)
        assert header.client_id == "client-é"
        assert contains(body, decoded)
    for v in range(resp.valid[0], resp.valid[1] + 1):
        body = random_body(resp, v, rng)
        frame = join(encode_response(resp.api_key, v, -5, body))
        assert int.from_bytes(frame[:4], "big", signed=True) == len(frame) - 4
        corr, decoded = decode_response(resp.api_key, v, frame[4:])
        assert corr == -5
        assert contains(body, decoded)


def test_api_key_enum_matches_schema():
    assert ApiKey.PRODUCE == 0 and ApiKey.API_VERSIONS == 18 and ApiKey.SASL_AUTHENTICATE == 36
    assert ApiKey.DESCRIBE_CLUSTER == 60 and ApiKey.INCREMENTAL_ALTER_CONFIGS == 44
    for m in MESSAGES:
        if m.kind == "request":
            assert ApiKey(m.api_key).value == m.api_key
