"""Cross-check against an independent implementation: kafka-python's hand-written structs.

kafka.protocol.old declares each (API, version) schema by hand. For every such
class whose field names match ours, random bodies must encode to identical
bytes in both codecs.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from typing import Any

import pytest

from gen import contains, random_body
from pystream.protocol import decode_message, encode_message, get_message, join
from pystream.protocol.schema import Field, in_range

old = pytest.importorskip("kafka.protocol.old")
types = importlib.import_module("kafka.protocol.old.types")
api = importlib.import_module("kafka.protocol.old.api")


def _old_classes() -> list[type]:
    out = []
    for info in pkgutil.iter_modules(old.__path__):
        mod = importlib.import_module(f"kafka.protocol.old.{info.name}")
        for obj in vars(mod).values():
            if (isinstance(obj, type) and issubclass(obj, (api.Request, api.Response))
                    and isinstance(getattr(obj, "API_KEY", None), int)
                    and isinstance(getattr(obj, "API_VERSION", None), int)
                    and obj.__module__ == mod.__name__):
                out.append(obj)
    return sorted(set(out), key=lambda c: (c.API_KEY, c.is_request(), c.API_VERSION))


def _drop_tagged(fields: tuple[Field, ...], body: Any, version: int) -> None:
    """Remove tagged fields (kafka-python's old structs only carry raw tag dicts)."""
    if not isinstance(body, dict):
        return
    for f in fields:
        if f.tag is not None and in_range(version, f.tagged):
            body.pop(f.name, None)
        elif f.fields is not None and f.name in body:
            items = body[f.name] if f.is_array else [body[f.name]]
            for item in items or ():
                _drop_tagged(f.fields, item, version)


def _to_old(t: Any, value: Any) -> Any:
    if isinstance(t, types.Schema):
        return tuple({} if t.fields[i] is types.TaggedFields else _to_old(t.fields[i], value[name])
                     for i, name in enumerate(t.names))
    if isinstance(t, types.Array):
        return None if value is None else [_to_old(t.array_of, v) for v in value]
    if isinstance(value, dict):
        # kafka-python flattens one-field structs (e.g. Metadata v0 topics: [string])
        if len(value) != 1:
            raise TypeError("struct where kafka-python has a primitive")
        return next(iter(value.values()))
    return value


# Where kafka-python's hand-written structs disagree with Kafka's JSON (their bugs, not ours).
KAFKA_PYTHON_DEVIATIONS = {
    "DescribeGroupsResponse_v3": "authorized_operations is a BitField (a set), not an int32",
    "DescribeAclsRequest_v2": "declared flexible but reuses the non-flexible v1 schema",
    "DescribeAclsResponse_v2": "declared flexible but reuses the non-flexible v1 schema",
    "DescribeLogDirsRequest_v0": "partitions is an int32 instead of []int32",
}
CLASSES = [c for c in _old_classes() if c.__name__ not in KAFKA_PYTHON_DEVIATIONS]


@pytest.mark.parametrize("cls", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_same_bytes_as_kafka_python(cls: type) -> None:
    kind = "request" if cls.is_request() else "response"
    try:
        msg = get_message(cls.API_KEY, kind)
    except Exception:
        pytest.skip("no schema")
    version = cls.API_VERSION
    if not in_range(version, msg.valid):
        pytest.skip("version not in the JSON")
    rng = random.Random(cls.__name__)
    for _ in range(5):
        body = random_body(msg, version, rng)
        _drop_tagged(msg.fields, body, version)
        try:
            old_value = _to_old(cls.SCHEMA, body)
        except (KeyError, TypeError):
            pytest.skip("field names differ from the JSON")
        theirs = cls(*old_value).encode()
        ours = join(encode_message(msg, version, body))
        assert ours == theirs
        assert contains(body, decode_message(msg, version, theirs))


def test_crosscheck_covers_many_classes() -> None:
    assert len(CLASSES) > 100
