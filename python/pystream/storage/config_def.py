"""Kafka's config definitions (its ``ConfigDef``): typed keys, validators, parsing and formatting.

One `ConfigKey` describes one config name as Kafka defines it: its type, its
default, the values Kafka accepts, its documentation, and whether pystream
acts on it. The topic table (`pystream.storage.topic_config`) and the broker
table (`pystream.server.config`) are both made of these, so every config is
parsed, checked and shown the same way.

Parsed ("typed") values are Python values: bool, int, float, str, list[str]
(Kafka's LIST type), or None (no value). `ConfigKey.format` turns one back into
the string Kafka shows in DescribeConfigs.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pystream.errors import InvalidConfigError

__all__ = [
    "ConfigKey",
    "ConfigType",
    "InvalidConfigError",
    "UpdateMode",
    "Validator",
    "at_least",
    "between",
    "did_you_mean",
    "list_of",
    "non_empty",
    "one_of",
    "or_value",
]

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1
_INT_RANGES = {"INT": (-(2**31), INT_MAX), "SHORT": (-(2**15), 2**15 - 1), "LONG": (-(2**63), LONG_MAX)}


class ConfigType(enum.IntEnum):
    """Kafka's config types, numbered as DescribeConfigs v3+ reports them (``config_type``)."""

    UNKNOWN = 0
    BOOLEAN = 1
    STRING = 2
    INT = 3
    SHORT = 4
    LONG = 5
    DOUBLE = 6
    LIST = 7
    CLASS = 8
    PASSWORD = 9


class UpdateMode(enum.Enum):
    """When a broker config may change (Kafka's "Update Mode"); topic configs are always dynamic."""

    READ_ONLY = "read-only"  # only in server.properties, at start
    PER_BROKER = "per-broker"  # at run time, for one broker id
    CLUSTER_WIDE = "cluster-wide"  # at run time, for one broker id or the cluster-wide default


# A validator returns None when the (parsed) value is acceptable, else the reason it is not.
Validator = Callable[[Any], "str | None"]


def at_least(lo: float) -> Validator:
    """Kafka's ``Range.atLeast``: "[lo,...]"."""

    def check(v: Any) -> str | None:
        return None if v is None or v >= lo else f"Value must be at least {_num(lo)}"

    check.__doc__ = f"[{_num(lo)},...]"
    return check


def between(lo: float, hi: float) -> Validator:
    """Kafka's ``Range.between``: "[lo,...,hi]"."""

    def check(v: Any) -> str | None:
        if v is None:
            return None
        if v < lo:
            return f"Value must be at least {_num(lo)}"
        if v > hi:
            return f"Value must be no more than {_num(hi)}"
        return None

    check.__doc__ = f"[{_num(lo)},...,{_num(hi)}]"
    return check


def one_of(*values: str) -> Validator:
    """Kafka's ``ValidString.in`` (case-sensitive)."""

    def check(v: Any) -> str | None:
        return None if v is None or v in values else f"String must be one of: {', '.join(values)}"

    check.__doc__ = f"[{', '.join(values)}]"
    return check


def list_of(*values: str) -> Validator:
    """Kafka's ``ValidList.in``: every item of a LIST value is one of `values`."""

    def check(v: Any) -> str | None:
        bad = [x for x in (v or []) if x not in values]
        return None if not bad else f"Invalid value {bad[0]!r}: items must be among [{', '.join(values)}]"

    check.__doc__ = f"[{', '.join(values)}]"
    return check


def or_value(inner: Validator, extra: Any) -> Validator:
    """`inner`, or exactly `extra` (Kafka's compression.gzip.level: "[1,...,9] or -1")."""

    def check(v: Any) -> str | None:
        if v == extra:
            return None
        reason = inner(v)
        return None if reason is None else f"{reason} (or be {extra})"

    check.__doc__ = f"{inner.__doc__} or {extra}"
    return check


def non_empty(v: Any) -> str | None:
    """Kafka's ``NonEmptyString``."""
    return "String must be non-empty" if v is not None and not str(v).strip() else None


non_empty.__doc__ = "non-empty string"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class ConfigKey:
    """One config key as Kafka defines it, plus what pystream does with it.

    ``synonym``: for a topic config, the broker config that supplies its
    default (Kafka's "Server Default Property"); None when there is none.
    ``acts``: whether pystream acts on the value (False: accepted, stored and
    reported, nothing more); ``note`` says what pystream does where that
    differs from Kafka.
    """

    name: str
    type: ConfigType
    default: Any
    doc: str
    acts: bool
    validator: Validator | None = None
    synonym: str | None = None
    mode: UpdateMode = UpdateMode.READ_ONLY
    note: str = ""

    @property
    def sensitive(self) -> bool:
        """Passwords are never shown (DescribeConfigs sends a null value, Kafka's is_sensitive)."""
        return self.type is ConfigType.PASSWORD

    @property
    def valid_values(self) -> str:
        """The validator's description ("[1,...]", "[delete, compact]"), "" when any value of the type is valid."""
        return (self.validator.__doc__ or "") if self.validator else ""

    def parse(self, raw: Any) -> Any:
        """The typed value of `raw` (a string from a file or a request, or a Python value).

        Raises InvalidConfigError "Invalid value X for configuration K: reason" (Kafka's wording).
        """
        try:
            value = _parse_type(self.type, raw)
        except ValueError as e:
            raise InvalidConfigError(f"Invalid value {_show(raw)} for configuration {self.name}: {e}") from None
        if self.validator is not None and value is not None:
            reason = self.validator(value)
            if reason:
                raise InvalidConfigError(f"Invalid value {_show(raw)} for configuration {self.name}: {reason}")
        return value

    def format(self, value: Any) -> str | None:
        """Kafka's string form of a typed value (what DescribeConfigs shows)."""
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, tuple)):
            return ",".join(str(x) for x in value)
        if isinstance(value, float) and self.type is ConfigType.DOUBLE:
            return repr(value)
        return str(value)


def _show(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)


def _parse_type(t: ConfigType, raw: Any) -> Any:
    """Kafka's ``ConfigDef.parseType``: strings are trimmed; ValueError says what was expected."""
    if raw is None:
        return None
    if t is ConfigType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("true", "false"):
            return s == "true"
        raise ValueError("Expected value to be either true or false")
    if t.name in _INT_RANGES:
        lo, hi = _INT_RANGES[t.name]
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise ValueError(f"Expected value to be a {_TYPE_WORD[t]} number, but it was a {type(raw).__name__}")
        try:
            v = int(raw.strip()) if isinstance(raw, str) else raw
        except ValueError:
            raise ValueError(f"Not a number of type {t.name}") from None
        if not lo <= v <= hi:
            raise ValueError(f"Not a number of type {t.name} (outside [{lo}, {hi}])")
        return v
    if t is ConfigType.DOUBLE:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            raise ValueError("Expected value to be a double")
        try:
            return float(raw.strip()) if isinstance(raw, str) else float(raw)
        except ValueError:
            raise ValueError("Not a number of type DOUBLE") from None
    if t is ConfigType.LIST:
        if isinstance(raw, (list, tuple)):
            return [str(x).strip() for x in raw]
        s = str(raw).strip()
        return [] if not s else [x.strip() for x in s.split(",")]
    return str(raw).strip()  # STRING, CLASS, PASSWORD


_TYPE_WORD = {ConfigType.INT: "32-bit integer", ConfigType.SHORT: "16-bit integer", ConfigType.LONG: "64-bit integer"}


def table(keys: Iterable[ConfigKey]) -> dict[str, ConfigKey]:
    """Name -> key, refusing duplicates (each name is defined once)."""
    out: dict[str, ConfigKey] = {}
    for k in keys:
        assert k.name not in out, f"config {k.name} defined twice"
        out[k.name] = k
    return out


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """" (did you mean X?)" for the closest known name, "" when none is close."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


_VERSION = re.compile(r"\d+\.\d+(\.\d+)*(-IV\d+)?")


def metadata_version(v: Any) -> str | None:
    """Kafka's MetadataVersion strings (0.8.2, 2.8-IV1, 3.9-IV0, ...), by their form."""
    return None if v is None or _VERSION.fullmatch(str(v)) else "Not a valid version (e.g. 3.9, 3.0-IV1)"


metadata_version.__doc__ = "a Kafka version (0.10.0, 2.8, 3.9-IV0, ...)"
