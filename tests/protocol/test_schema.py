"""The generated schema: up to date with Kafka's JSON, names converted, self-contained."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

import pystream.protocol as protocol
from pystream.protocol import get_message
from pystream.protocol.schema import MAXV, in_range
from pystream.protocol.schema_data import MESSAGES

ROOT = Path(__file__).resolve().parents[2]
KAFKA_JSON = Path("/work/shared/kafka-protocol/messages")


def _generator():
    spec = importlib.util.spec_from_file_location("gen_protocol_schema", ROOT / "tools/gen_protocol_schema.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not KAFKA_JSON.is_dir(), reason="Kafka JSON message definitions not available")
def test_schema_data_is_up_to_date():
    generated = _generator().generate(KAFKA_JSON)
    committed = (ROOT / "python/pystream/protocol/schema_data.py").read_text()
    assert generated == committed, "schema_data.py is stale: run tools/gen_protocol_schema.py"


def test_generator_helpers():
    gen = _generator()
    assert gen.snake("ThrottleTimeMs") == "throttle_time_ms"
    assert gen.snake("ApiKey") == "api_key"
    assert gen.snake("TopicName") == "topic_name"
    assert gen.snake("KRaftVersionFeature") == "kraft_version_feature"
    assert gen.parse_versions("3+") == (3, MAXV)
    assert gen.parse_versions("0-4") == (0, 4)
    assert gen.parse_versions("5") == (5, 5)
    assert gen.parse_versions("none") is None
    assert gen.parse_default("int32", "0x7fffffff") == 2**31 - 1
    assert gen.parse_default("string", "null") is None
    assert gen.parse_default("bool", "true") is True
    assert gen.strip_comments('{"a": "x//y", // c\n "b": 1}') == '{"a": "x//y", \n "b": 1}'


def test_package_does_not_read_kafka_json():
    for mod in (protocol.codec, protocol.schema, protocol.schema_data):
        src = inspect.getsource(mod)
        assert "kafka-protocol" not in src and ".json" not in src


def test_field_names_are_snake_case_and_unique():
    def walk(fields, where):
        names = [f.name for f in fields]
        assert len(names) == len(set(names)), where
        for f in fields:
            assert f.name == f.name.lower() and " " not in f.name, (where, f.name)
            if f.fields:
                walk(f.fields, f"{where}.{f.name}")

    for m in MESSAGES:
        walk(m.fields, m.name)


def test_schema_details_from_json():
    hdr = get_message("RequestHeader")
    client_id = [f for f in hdr.fields if f.name == "client_id"][0]
    assert client_id.flexible is None  # never compact (KIP-482)
    assert in_range(1, client_id.nullable)
    fetch = get_message(1, "response")
    assert fetch.api_key == 1 and fetch.kind == "response"
    resp = [f for f in fetch.fields if f.name == "responses"][0]
    parts = [f for f in resp.fields if f.name == "partitions"][0]
    rec = [f for f in parts.fields if f.name == "records"][0]
    assert rec.type == "records"
    tagged = {f.name: f.tag for f in parts.fields if f.tag is not None}
    assert tagged == {"diverging_epoch": 0, "current_leader": 1, "snapshot_id": 2}
