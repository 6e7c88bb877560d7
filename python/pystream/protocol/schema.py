"""Schema model for Kafka protocol messages (the data lives in `schema_data`, generated).

A message is a list of fields; a field is a primitive, a struct (has `fields`),
or an array of either (type starts with "[]"). Every version range is an
inclusive (lo, hi) tuple or None ("none").
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

MAXV = 0x7FFF
ZERO_UUID = uuid.UUID(int=0)


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()
"""Marker: the JSON gave no "default"; the type's zero value applies."""

INHERIT: Any = "inherit"
"""Marker: the field follows the message's flexibleVersions."""

# Zero values per primitive type (used when the JSON has no "default").
TYPE_ZERO: dict[str, Any] = {
    "bool": False,
    "int8": 0,
    "int16": 0,
    "uint16": 0,
    "int32": 0,
    "uint32": 0,
    "int64": 0,
    "float64": 0.0,
    "string": "",
    "bytes": b"",
    "records": None,
    "uuid": ZERO_UUID,
}


def in_range(v: int, r: tuple[int, int] | None) -> bool:
    """True if version v is inside the inclusive range r (None = no versions)."""
    return r is not None and r[0] <= v <= r[1]


class Field(NamedTuple):
    """One field of a message or struct, as in Kafka's JSON."""

    name: str  # snake_case
    type: str  # Kafka type: "int32", "string", "[]int32", "[]SomeStruct", "SomeStruct"
    versions: tuple[int, int] | None
    nullable: tuple[int, int] | None = None
    tag: int | None = None
    tagged: tuple[int, int] | None = None
    flexible: Any = INHERIT  # per-field flexibleVersions override (only RequestHeader.ClientId: "none")
    default: Any = NO_DEFAULT
    fields: tuple["Field", ...] | None = None

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[]")

    @property
    def elem_type(self) -> str:
        """Element type for arrays, else the type itself."""
        return self.type[2:] if self.type.startswith("[]") else self.type

    @property
    def is_struct(self) -> bool:
        """True for structs and arrays of structs."""
        return self.fields is not None

    def default_value(self) -> Any:
        """A fresh default value for this field (new list / dict each call)."""
        if self.default is not NO_DEFAULT:
            d = self.default
            if d is not None and self.type == "uuid":
                return uuid.UUID(d)
            if d is not None and self.is_array:
                return []
            return d
        if self.is_array:
            return []
        if self.fields is not None:
            return {f.name: f.default_value() for f in self.fields}
        return TYPE_ZERO[self.type]


class Message(NamedTuple):
    """A request, response, header or data message definition."""

    name: str  # e.g. "MetadataRequest"
    kind: str  # "request" | "response" | "header" | "data"
    api_key: int | None
    valid: tuple[int, int]
    flexible: tuple[int, int] | None
    fields: tuple[Field, ...] = ()
    unstable_latest: bool = False

    @property
    def stable_max(self) -> int:
        """Highest version that Kafka considers stable (latestVersionUnstable excludes the last)."""
        return self.valid[1] - 1 if self.unstable_latest else self.valid[1]
