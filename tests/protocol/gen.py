"""Schema-driven value generators for protocol tests (random.Random and hypothesis)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from hypothesis import strategies as st

from pystream.protocol.schema import Field, Message, in_range

INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
}
ALPHABET = "abcXYZ09-_.é漢"


def random_value(f: Field, version: int, rng: random.Random, depth: int = 0) -> Any:
    """A random value for field f at version (None only where nullable)."""
    nullable = in_range(version, f.nullable)
    if nullable and rng.random() < 0.15:
        return None
    if f.is_array:
        n = rng.randint(0, 3 if depth < 3 else 1)
        if f.fields is not None:
            return [random_struct(f.fields, version, rng, depth + 1) for _ in range(n)]
        return [random_scalar(f.elem_type, rng) for _ in range(n)]
    if f.fields is not None:
        return random_struct(f.fields, version, rng, depth + 1)
    return random_scalar(f.type, rng)


def random_scalar(t: str, rng: random.Random) -> Any:
    if t in INT_RANGES:
        lo, hi = INT_RANGES[t]
        return rng.choice([lo, hi, 0, -1 if lo < 0 else 1, rng.randint(lo, hi)])
    if t == "bool":
        return rng.random() < 0.5
    if t == "float64":
        return rng.choice([0.0, -1.5, 1e300, rng.random()])
    if t == "string":
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 12)))
    if t in ("bytes", "records"):
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40)))
    if t == "uuid":
        return uuid.UUID(int=rng.getrandbits(128))
    raise AssertionError(t)


def random_struct(fields: tuple[Field, ...], version: int, rng: random.Random, depth: int = 0) -> dict[str, Any]:
    return {f.name: random_value(f, version, rng, depth) for f in fields if in_range(version, f.versions)}


def random_body(msg: Message, version: int, rng: random.Random) -> dict[str, Any]:
    return random_struct(msg.fields, version, rng)


# --- hypothesis


def scalar_strategy(t: str) -> st.SearchStrategy:
    if t in INT_RANGES:
        lo, hi = INT_RANGES[t]
        return st.integers(lo, hi)
    if t == "bool":
        return st.booleans()
    if t == "float64":
        return st.floats(allow_nan=False)
    if t == "string":
        return st.text(max_size=20)
    if t in ("bytes", "records"):
        return st.binary(max_size=64)
    if t == "uuid":
        return st.uuids()
    raise AssertionError(t)


def field_strategy(f: Field, version: int) -> st.SearchStrategy:
    if f.is_array:
        if f.fields is not None:
            s: st.SearchStrategy = st.lists(struct_strategy(f.fields, version), max_size=3)
        else:
            s = st.lists(scalar_strategy(f.elem_type), max_size=4)
    elif f.fields is not None:
        s = struct_strategy(f.fields, version)
    else:
        s = scalar_strategy(f.type)
    if in_range(version, f.nullable):
        s = st.none() | s
    return s


def struct_strategy(fields: tuple[Field, ...], version: int) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {f.name: field_strategy(f, version) for f in fields if in_range(version, f.versions)}
    )


def message_strategy(msg: Message) -> st.SearchStrategy:
    """(version, body) over all versions of msg."""
    lo, hi = msg.valid
    return st.integers(lo, hi).flatmap(lambda v: st.tuples(st.just(v), struct_strategy(msg.fields, v)))


def contains(expected: Any, actual: Any) -> bool:
    """True if every key of expected (recursively) is in actual with an equal value."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(
            contains(e, a) for e, a in zip(expected, actual)
        )
    if isinstance(expected, (bytes, bytearray, memoryview)):
        return isinstance(actual, (bytes, bytearray, memoryview)) and bytes(expected) == bytes(actual)
    if isinstance(expected, float) and isinstance(actual, float):
        return expected == actual or (expected != expected and actual != actual)
    return type(expected) is type(actual) and expected == actual
