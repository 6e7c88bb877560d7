"""Topic names and topic configuration, with Kafka's rules and Kafka's config names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CLEANUP_POLICIES",
    "COMPRESSION_TYPES",
    "LOG_KWARGS",
    "TOPIC_CONFIG_KEYS",
    "is_compacted",
    "is_internal_topic",
    "log_kwargs",
    "normalize_topic_config",
    "parse_cleanup_policy",
    "validate_topic_name",
]

MAX_TOPIC_NAME_LENGTH = 249  # Kafka's Topic.MAX_NAME_LENGTH
_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]+")
COMPRESSION_TYPES = ("none", "gzip", "snappy", "lz4", "zstd")

# Kafka topic config key -> keyword of `Log.open` (None: enforced in Python, not by the log).
TOPIC_CONFIG_KEYS: dict[str, str | None] = {
    "segment.bytes": "segment_bytes",
    "segment.ms": "segment_ms",
    "segment.index.bytes": "segment_index_bytes",
    "index.interval.bytes": "index_interval_bytes",
    "retention.ms": "retention_ms",
    "retention.bytes": "retention_bytes",
    "flush.messages": "flush_messages",
    "flush.ms": "flush_ms",
    "compression.type": "compression_type",
    "max.message.bytes": None,
    "min.insync.replicas": None,
    "cleanup.policy": None,
    # log compaction (storage/cleaner.py)
    "min.cleanable.dirty.ratio": None,
    "min.compaction.lag.ms": None,
    "max.compaction.lag.ms": None,
    "delete.retention.ms": None,
}
CLEANUP_POLICIES = ("delete", "compact", "compact,delete")
_FLOAT_KEYS = {"min.cleanable.dirty.ratio"}
# Every keyword `Log.open` accepts (store-wide log defaults use these names).
LOG_KWARGS = frozenset(
    {
        "segment_bytes",
        "segment_ms",
        "segment_index_bytes",
        "index_interval_bytes",
        "retention_ms",
        "retention_bytes",
        "flush_messages",
        "flush_ms",
        "batch_size",
        "compression_type",
    }
)
DEFAULT_MAX_MESSAGE_BYTES = 1048588  # Kafka's message.max.bytes / max.message.bytes
_NULLABLE = {"flush.messages", "flush.ms"}


def validate_topic_name(name: object) -> str:
    """Returns `name` when Kafka accepts it as a topic name, else raises ValueError saying why."""
    if not isinstance(name, str):
        raise TypeError(f"topic name must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError("topic name is empty")
    if name in (".", ".."):
        raise ValueError(f"topic name cannot be {name!r}")
    if len(name) > MAX_TOPIC_NAME_LENGTH:
        raise ValueError(f"topic name is {len(name)} characters long, the maximum is {MAX_TOPIC_NAME_LENGTH}")
    if not _LEGAL_NAME.fullmatch(name):
        raise ValueError(f"topic name {name!r} is illegal: only ASCII letters, digits, '.', '_' and '-' are allowed")
    return name


def is_internal_topic(name: str) -> bool:
    """Internal topics (``__consumer_offsets``, ...) start with two underscores."""
    return name.startswith("__")


def normalize_topic_config(config: Mapping[str, Any] | None) -> dict[str, int | str | None]:
    """Checks topic config overrides (Kafka names) and parses values (ints may come as strings).

    Raises ValueError naming the first unknown key or bad value.
    """
    out: dict[str, int | str | None] = {}
    for key, raw in (config or {}).items():
        if key not in TOPIC_CONFIG_KEYS:
            raise ValueError(f"unknown topic config {key!r}; supported: {', '.join(sorted(TOPIC_CONFIG_KEYS))}")
        if key == "compression.type":
            value = str(raw).lower()
            if value == "producer":  # Kafka's default: keep what the producer sent; ours builds uncompressed
                value = "none"
            if value not in COMPRESSION_TYPES:
                raise ValueError(f"topic config {key}={raw!r}: expected one of {', '.join(COMPRESSION_TYPES)}")
            out[key] = value
            continue
        if key == "cleanup.policy":
            out[key] = parse_cleanup_policy(raw)
            continue
        if key in _FLOAT_KEYS:
            try:
                if isinstance(raw, bool):
                    raise ValueError
                ratio = float(raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ValueError(f"topic config {key}={raw!r}: expected a number") from None
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"topic config {key}={raw!r}: must be between 0 and 1")
            out[key] = ratio  # type: ignore[assignment]
            continue
        if raw is None and key in _NULLABLE:
            out[key] = None
            continue
        try:
            if isinstance(raw, bool) or not isinstance(raw, (int, str)):
                raise ValueError
            value_int = int(raw)
        except ValueError:
            raise ValueError(f"topic config {key}={raw!r}: expected an integer") from None
        if value_int < 0 and key not in ("retention.ms", "retention.bytes"):
            raise ValueError(f"topic config {key}={raw!r}: must not be negative")
        out[key] = value_int
    return out


def parse_cleanup_policy(raw: object) -> str:
    """Kafka's cleanup.policy (a list: ``delete``, ``compact`` or both, in any order, as a
    comma-separated string or a sequence) as one of CLEANUP_POLICIES."""
    items = raw.split(",") if isinstance(raw, str) else list(raw) if isinstance(raw, (list, tuple)) else None
    parts = {str(p).strip().lower() for p in items or ()}
    if not parts or not parts <= {"delete", "compact"}:
        raise ValueError(f"topic config cleanup.policy={raw!r}: expected delete, compact or compact,delete")
    return "compact,delete" if len(parts) == 2 else parts.pop()


def is_compacted(config: Mapping[str, Any]) -> bool:
    """Whether a topic's config has log compaction on (cleanup.policy contains compact)."""
    return "compact" in str(config.get("cleanup.policy", "delete"))


def log_kwargs(defaults: Mapping[str, Any], config: Mapping[str, int | str | None]) -> dict[str, Any]:
    """`Log.open` keywords for a topic: store-wide defaults overridden by the topic's config.

    A compacted topic without ``delete`` in its policy keeps every segment (retention off),
    and rolls its active segment at least every max.compaction.lag.ms (Kafka's maxSegmentMs).
    """
    kwargs = dict(defaults)
    for key, value in config.items():
        kw = TOPIC_CONFIG_KEYS[key]
        if kw is not None:
            kwargs[kw] = value
    if is_compacted(config):
        if "delete" not in str(config.get("cleanup.policy")):
            kwargs["retention_ms"] = kwargs["retention_bytes"] = -1
        max_lag = config.get("max.compaction.lag.ms")
        if max_lag is not None:
            kwargs["segment_ms"] = min(int(max_lag), int(kwargs.get("segment_ms", 604_800_000)))
    return kwargs
