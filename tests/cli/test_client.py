"""pystream.protocol.client against a real broker: versions, errors, leaders, groups, reconnects."""

from __future__ import annotations

import socket
import time

import pytest
from cli_helpers import Broker, unique

from pystream._core import decode_records, encode_batch
from pystream.protocol import SUPPORTED_VERSIONS, ApiKey
from pystream.protocol.client import (
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    KafkaClient,
    KafkaConnection,
    KafkaConnectionError,
    KafkaError,
    complete_batches,
    decode_consumer_assignment,
    error_name,
    parse_bootstrap,
)


def _batch(values: list[bytes], key: bytes | None = None) -> bytes:
    return encode_batch([(1000 + i, key, v, None) for i, v in enumerate(values)])


def test_connection_negotiates_versions(bootstrap: str) -> None:
    host, port = parse_bootstrap(bootstrap)[0]
    with KafkaConnection(host, port, timeout=5) as conn:
        # ApiVersions: the codec knows v4, the broker v3; KIP-511's fallback settles on 3.
        assert SUPPORTED_VERSIONS[ApiKey.API_VERSIONS][1] > conn.broker_versions[ApiKey.API_VERSIONS][1]
        assert conn.version_for(ApiKey.API_VERSIONS) == conn.broker_versions[ApiKey.API_VERSIONS][1]
        for key, (lo, hi) in conn.broker_versions.items():
            if key in SUPPORTED_VERSIONS and key != ApiKey.FETCH:
                assert conn.version_for(key) == min(hi, SUPPORTED_VERSIONS[key][1])
        assert conn.version_for(ApiKey.FETCH) <= 12  # v13+ names topics by id
        assert conn.version_for(ApiKey.METADATA, max_version=4) == 4
        with pytest.raises(KafkaError) as e:
            conn.version_for(ApiKey.DESCRIBE_DELEGATION_TOKEN)  # delegation tokens: not served
        assert e.value.name == "UNSUPPORTED_VERSION" and e.value.code == 35
        # Any negotiated version works, and so does an explicit older one.
        for v in (0, 1, conn.version_for(ApiKey.METADATA)):
            resp = conn.request(ApiKey.METADATA, {"topics": [] if v else [], "allow_auto_topic_creation": False}, version=v)
            assert resp["brokers"][0]["port"] == port


def test_error_names_and_kafka_error() -> None:
    assert error_name(36) == "TOPIC_ALREADY_EXISTS"
    assert error_name(6) == "NOT_LEADER_OR_FOLLOWER"
    assert error_name(29) == "TOPIC_AUTHORIZATION_FAILED"
    assert error_name(12345) == "UNKNOWN_ERROR_12345"
    e = KafkaError(3, "topic 'x'")
    assert (e.code, e.name, e.message) == (3, "UNKNOWN_TOPIC_OR_PARTITION", "topic 'x'")
    assert str(e) == "UNKNOWN_TOPIC_OR_PARTITION (3): topic 'x'" and e.retriable
    assert not KafkaError(36).retriable and str(KafkaError(36)) == "TOPIC_ALREADY_EXISTS (36)"


def test_parse_bootstrap() -> None:
    assert parse_bootstrap("a:1, b:2,c,[::1]:3,PLAINTEXT://d:4") == [("a", 1), ("b", 2), ("c", 9092), ("::1", 3), ("d", 4)]
    with pytest.raises(ValueError):
        parse_bootstrap("a:x")
    with pytest.raises(ValueError):
        parse_bootstrap(" , ")


def test_broker_errors_become_kafka_errors(client: KafkaClient) -> None:
    topic = unique("errs")
    client.create_topic(topic, 2)
    with pytest.raises(KafkaError) as e:
        client.create_partitions(topic, 1)
    assert e.value.name == "INVALID_PARTITIONS" and "not more" in str(e.value)
    with pytest.raises(KafkaError) as e:
        client.fetch(topic, 0, 100)
    assert e.value.name == "OFFSET_OUT_OF_RANGE"
    with pytest.raises(KafkaError) as e:
        client.delete_topics([unique("nope")])
    assert e.value.name == "UNKNOWN_TOPIC_OR_PARTITION"
    with pytest.raises(KafkaError) as e:
        client.leader_for(topic, 9)
    assert e.value.name == "UNKNOWN_TOPIC_OR_PARTITION"
    with pytest.raises(KafkaError) as e:
        client.produce(topic, 0, _batch([b"x"]), acks=5)
    assert e.value.name == "INVALID_REQUIRED_ACKS"


def test_topics_produce_fetch_offsets(client: KafkaClient) -> None:
    topic = unique("rt")
    res = client.create_topic(topic, 3, 1, {"retention.ms": "60000"})
    assert res["error_code"] == 0
    assert client.partitions(topic) == [0, 1, 2]
    assert client.describe_configs(topic)["retention.ms"]["value"] == "60000"
    assert client.describe_configs(topic)["retention.ms"]["is_default"] is False
    assert client.describe_configs(topic, keys=["cleanup.policy"]).keys() == {"cleanup.policy"}

    assert client.produce(topic, 1, _batch([b"a", b"b"]))["base_offset"] == 0
    assert client.produce(topic, 1, _batch([b"c"]), acks=1)["base_offset"] == 2
    assert client.produce(topic, 1, _batch([b"d"]), acks=0) == {}
    assert client.list_offsets(topic, 1, EARLIEST_TIMESTAMP)[0] == 0
    deadline = time.monotonic() + 5
    while client.list_offsets(topic, 1, LATEST_TIMESTAMP)[0] != 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert client.list_offsets(topic, 1, LATEST_TIMESTAMP)[0] == 4
    assert client.list_offsets(topic, 1, 1000)[0] in (0, 2, 3)  # first record with timestamp >= 1000

    p = client.fetch(topic, 1, 1)
    assert p["high_watermark"] == 4
    assert [r.value for r in decode_records(complete_batches(p["records"])) if r.offset >= 1] == [b"b", b"c", b"d"]
    got = client.fetch_many({(topic, 0): 0, (topic, 1): 3, (topic, 2): 99}, max_wait_ms=0)
    assert got[(topic, 0)]["error_code"] == 0 and not got[(topic, 0)]["records"]
    assert [r.value for r in decode_records(got[(topic, 1)]["records"])] == [b"d"]
    assert got[(topic, 2)]["error_code"] == 1

    start = time.monotonic()
    p = client.fetch(topic, 0, 0, max_wait_ms=300)  # long poll on an empty partition
    assert 0.2 < time.monotonic() - start < 5 and not p["records"]

    client.create_partitions(topic, 4)
    assert client.partitions(topic) == [0, 1, 2, 3]
    client.delete_topics([topic])
    assert topic not in {t["name"] for t in client.metadata()["topics"]}


def test_groups_offsets(client: KafkaClient) -> None:
    topic, group = unique("offs"), unique("grp")
    client.create_topic(topic, 2)
    assert client.offset_fetch(group) == {}
    client.offset_commit(group, {(topic, 0): 5, (topic, 1): 7}, metadata="m")
    assert client.offset_fetch(group) == {(topic, 0): 5, (topic, 1): 7}
    assert client.offset_fetch(group, [(topic, 1)]) == {(topic, 1): 7}
    assert client.find_coordinator(group) in client.brokers
    assert any(g["group_id"] == group for g in client.list_groups())
    (d,) = client.describe_groups([group])
    assert d["group_id"] == group and d["group_state"] == "Empty" and d["members"] == []


def test_consumer_assignment_and_batch_helpers() -> None:
    data = (b"\x00\x01" + b"\x00\x00\x00\x01" + b"\x00\x01t" + b"\x00\x00\x00\x02" + b"\x00\x00\x00\x00\x00\x00\x00\x03"
            + b"\xff\xff\xff\xff")
    assert decode_consumer_assignment(data) == {"t": [0, 3]}
    assert decode_consumer_assignment(b"") == {}
    assert decode_consumer_assignment(data[:12]) == {}
    b1, b2 = _batch([b"a"]), _batch([b"b", b"c"])
    assert bytes(complete_batches(b1 + b2)) == b1 + b2
    assert bytes(complete_batches(b1 + b2[:-1])) == b1
    assert bytes(complete_batches(b1 + b2[:5])) == b1


def test_connection_refused_and_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(KafkaConnectionError, match="cannot connect"):
            KafkaConnection("127.0.0.1", port, timeout=1)
        s.listen(1)  # accepts (in the backlog) but never answers
        start = time.monotonic()
        with pytest.raises(KafkaConnectionError, match="no response within"):
            KafkaConnection("127.0.0.1", port, timeout=0.3)
        assert time.monotonic() - start < 3
    with pytest.raises(KafkaConnectionError, match="no broker reachable"):
        KafkaClient(f"127.0.0.1:{port}", timeout=0.5).metadata()


def test_client_reconnects_after_broker_restart(own_broker: Broker) -> None:
    client = KafkaClient(own_broker.bootstrap, timeout=5, retries=8)
    topic = unique("restart")
    client.create_topic(topic, 1)
    assert client.produce(topic, 0, _batch([b"before"]))["base_offset"] == 0
    old_conn = client.connection(client.leader_for(topic, 0))

    own_broker.stop()
    down = KafkaClient(own_broker.bootstrap, timeout=1, retries=1, retry_backoff=0.05)
    with pytest.raises(KafkaConnectionError):
        down.produce(topic, 0, _batch([b"lost"]))
    own_broker.start()

    assert client.produce(topic, 0, _batch([b"after"]))["base_offset"] == 1
    assert client.connection(client.leader_for(topic, 0)) is old_conn and not old_conn.closed
    records = decode_records(client.fetch(topic, 0, 0)["records"])
    assert [r.value for r in records] == [b"before", b"after"]
    client.close()
