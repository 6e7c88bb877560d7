"""Topic names and topic configuration, with Kafka's rules and Kafka's config names.

`TOPIC_CONFIGS` is the one table of every topic-level config Kafka (3.9)
defines: type, default, the broker config it inherits its default from
(``synonym``), the values Kafka accepts, a documentation line, and whether
pystream acts on it (``acts``; ``note`` says how where it differs from Kafka).
Keys pystream does not act on are accepted, stored and described truthfully.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

from pystream.storage.config_def import (
    LONG_MAX,
    ConfigKey,
    ConfigType,
    InvalidConfigError,
    UpdateMode,
    at_least,
    between,
    did_you_mean,
    list_of,
    metadata_version,
    one_of,
    or_value,
    table,
)

__all__ = [
    "COMPRESSION_TYPES",
    "LOG_KWARGS",
    "TOPIC_CONFIGS",
    "TOPIC_CONFIG_KEYS",
    "InvalidConfigError",
    "is_compacted",
    "is_internal_topic",
    "log_kwargs",
    "normalize_topic_config",
    "topic_config_error",
    "validate_topic_name",
]

MAX_TOPIC_NAME_LENGTH = 249  # Kafka's Topic.MAX_NAME_LENGTH
_LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]+")
# Kafka's BrokerCompressionType names (topic and broker compression.type).
COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")
DEFAULT_MAX_MESSAGE_BYTES = 1048588  # Kafka's message.max.bytes / max.message.bytes
DAY_MS = 24 * 3600 * 1000


def _throttled_replicas(v: Any) -> str | None:
    """Kafka's ThrottledReplicaListValidator: "*" or "partition:broker" pairs."""
    if v == ["*"] or not v:
        return None
    for item in v:
        p, sep, b = item.partition(":")
        if not (sep and p.strip().isdigit() and b.strip().isdigit()):
            return ("must be the literal '*' or a list of replicas in the following format: "
                    "[partitionId]:[brokerId],[partitionId]:[brokerId],...")
    return None


_throttled_replicas.__doc__ = "[partitionId]:[brokerId],[partitionId]:[brokerId],..."

_COMPACTION = "acted on by the log cleaner (storage/cleaner.py)"
_TIERED = "pystream has no tiered storage"
_THROTTLE = "pystream does not throttle replication"


def _k(name: str, type_: ConfigType, default: Any, doc: str, *, acts: bool, synonym: str | None, validator: Any = None,
       note: str = "") -> ConfigKey:
    return ConfigKey(name, type_, default, doc, acts, validator, synonym, UpdateMode.CLUSTER_WIDE, note)


BOOL, STR, INT, LONG, DOUBLE, LIST = ConfigType.BOOLEAN, ConfigType.STRING, ConfigType.INT, ConfigType.LONG, ConfigType.DOUBLE, ConfigType.LIST

TOPIC_CONFIGS: dict[str, ConfigKey] = table([
    _k("cleanup.policy", LIST, ["delete"],
       "What happens to old segments: 'delete' removes them past retention.ms / retention.bytes; 'compact' keeps the "
       "latest record of each key; both may be listed.",
       acts=True, synonym="log.cleanup.policy", validator=list_of("compact", "delete"),
       note="'compact': the log cleaner keeps the latest record of each key (storage/cleaner.py); a policy "
            "without 'delete' keeps every segment (no retention deletes)"),
    _k("compression.gzip.level", INT, -1, "Compression level when compression.type is gzip (-1: the codec's default).",
       acts=False, synonym="compression.gzip.level", validator=or_value(between(1, 9), -1), note="batches use the codec's default level"),
    _k("compression.lz4.level", INT, 9, "Compression level when compression.type is lz4.",
       acts=False, synonym="compression.lz4.level", validator=between(1, 17), note="batches use the codec's default level"),
    _k("compression.type", STR, "producer",
       "Final compression of the topic's batches: a codec (gzip, snappy, lz4, zstd), 'uncompressed', or 'producer' "
       "(keep the producer's).",
       acts=True, synonym="compression.type", validator=one_of(*COMPRESSION_TYPES),
       note="the codec of the batches the embedded producer builds; produced batches are stored as the producer "
            "compressed them (Kafka recompresses when the codecs differ)"),
    _k("compression.zstd.level", INT, 3, "Compression level when compression.type is zstd.",
       acts=False, synonym="compression.zstd.level", validator=between(-131072, 22), note="batches use the codec's default level"),
    _k("delete.retention.ms", LONG, DAY_MS, "How long delete markers (tombstones) stay in a compacted topic.",
       acts=True, synonym="log.cleaner.delete.retention.ms", validator=at_least(0), note=_COMPACTION),
    _k("file.delete.delay.ms", LONG, 60000, "How long a deleted segment's files wait before they leave the file system.",
       acts=False, synonym="log.segment.delete.delay.ms", validator=at_least(0), note="segments are deleted at once"),
    _k("flush.messages", LONG, LONG_MAX, "fsync the log after this many records (the default: leave it to the OS).",
       acts=True, synonym="log.flush.interval.messages", validator=at_least(1)),
    _k("flush.ms", LONG, LONG_MAX, "fsync the log when its oldest unflushed record is this old (the default: leave it to the OS).",
       acts=True, synonym="log.flush.interval.ms", validator=at_least(0)),
    _k("follower.replication.throttled.replicas", LIST, [],
       "Replicas ('partition:broker' pairs or '*') whose replication is throttled on the follower side.",
       acts=False, synonym=None, validator=_throttled_replicas, note=_THROTTLE),
    _k("index.interval.bytes", INT, 4096, "Bytes of log between two entries of the offset index.",
       acts=True, synonym="log.index.interval.bytes", validator=at_least(0)),
    _k("leader.replication.throttled.replicas", LIST, [],
       "Replicas ('partition:broker' pairs or '*') whose replication is throttled on the leader side.",
       acts=False, synonym=None, validator=_throttled_replicas, note=_THROTTLE),
    _k("local.retention.bytes", LONG, -2, "Local size limit of a tiered topic's partition (-2: retention.bytes).",
       acts=False, synonym="log.local.retention.bytes", validator=at_least(-2), note=_TIERED),
    _k("local.retention.ms", LONG, -2, "Local time limit of a tiered topic's segments (-2: retention.ms).",
       acts=False, synonym="log.local.retention.ms", validator=at_least(-2), note=_TIERED),
    _k("max.compaction.lag.ms", LONG, LONG_MAX, "Longest time a record may stay uncompacted in a compacted topic.",
       acts=True, synonym="log.cleaner.max.compaction.lag.ms", validator=at_least(1), note=_COMPACTION),
    _k("max.message.bytes", INT, DEFAULT_MAX_MESSAGE_BYTES, "Largest record batch the topic accepts (after compression).",
       acts=True, synonym="message.max.bytes", validator=at_least(0)),
    _k("message.format.version", STR, "3.0-IV1", "[Deprecated] Message format of the log.",
       acts=False, synonym="log.message.format.version", validator=metadata_version,
       note="batches are always magic 2 (Kafka ignores it from inter.broker.protocol.version 3.0 on)"),
    _k("message.timestamp.after.max.ms", LONG, LONG_MAX,
       "With CreateTime, how far a record's timestamp may be ahead of the broker's clock (else INVALID_TIMESTAMP).",
       acts=True, synonym="log.message.timestamp.after.max.ms", validator=at_least(0)),
    _k("message.timestamp.before.max.ms", LONG, LONG_MAX,
       "With CreateTime, how far a record's timestamp may be behind the broker's clock (else INVALID_TIMESTAMP).",
       acts=True, synonym="log.message.timestamp.before.max.ms", validator=at_least(0)),
    _k("message.timestamp.difference.max.ms", LONG, LONG_MAX,
       "[Deprecated] Both of the above at once: used for each of them that is not set.",
       acts=True, synonym="log.message.timestamp.difference.max.ms", validator=at_least(0)),
    _k("message.timestamp.type", STR, "CreateTime",
       "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with the broker's clock on append.",
       acts=True, synonym="log.message.timestamp.type", validator=one_of("CreateTime", "LogAppendTime"),
       note="LogAppendTime applies to records produced through the broker"),
    _k("min.cleanable.dirty.ratio", DOUBLE, 0.5, "Share of a compacted log that must be uncompacted before it is compacted.",
       acts=True, synonym="log.cleaner.min.cleanable.ratio", validator=between(0, 1), note=_COMPACTION),
    _k("min.compaction.lag.ms", LONG, 0, "Shortest time a record stays uncompacted in a compacted topic.",
       acts=True, synonym="log.cleaner.min.compaction.lag.ms", validator=at_least(0), note=_COMPACTION),
    _k("min.insync.replicas", INT, 1, "With acks=all, the fewest in-sync replicas a write needs (else NOT_ENOUGH_REPLICAS).",
       acts=True, synonym="min.insync.replicas", validator=at_least(1)),
    _k("preallocate", BOOL, False, "Preallocate a new segment's file on disk.",
       acts=False, synonym="log.preallocate", note="segment files grow as they are written"),
    _k("remote.log.copy.disable", BOOL, False, "Stop copying a tiered topic's segments to remote storage.",
       acts=False, synonym=None, note=_TIERED),
    _k("remote.log.delete.on.disable", BOOL, False, "Delete a topic's remote data when tiered storage is turned off for it.",
       acts=False, synonym=None, note=_TIERED),
    _k("remote.storage.enable", BOOL, False, "Tiered storage for the topic.",
       acts=False, synonym=None, note="refused (as Kafka does) unless the broker sets remote.log.storage.system.enable"),
    _k("retention.bytes", LONG, -1, "Largest size of a partition before its oldest segments are deleted (-1: no limit).",
       acts=True, synonym="log.retention.bytes"),
    _k("retention.ms", LONG, 7 * DAY_MS, "Age at which a partition's segments are deleted (-1: no limit).",
       acts=True, synonym="log.retention.ms", validator=at_least(-1)),
    _k("segment.bytes", INT, 1 << 30, "Size of a segment file before the log rolls to a new one.",
       acts=True, synonym="log.segment.bytes", validator=at_least(14)),
    _k("segment.index.bytes", INT, 10485760, "Size of a segment's offset index (the time index holds as many entries).",
       acts=True, synonym="log.index.size.max.bytes", validator=at_least(4), note="taken by segments created after a change"),
    _k("segment.jitter.ms", LONG, 0, "Largest random time subtracted from segment.ms, so partitions do not roll all at once.",
       acts=True, synonym="log.roll.jitter.ms", validator=at_least(0),
       note="the jitter is drawn once per partition when its log is opened or reconfigured (Kafka: per segment)"),
    _k("segment.ms", LONG, 7 * DAY_MS, "Age of a segment's first batch at which the log rolls to a new segment.",
       acts=True, synonym="log.roll.ms", validator=at_least(1)),
    _k("unclean.leader.election.enable", BOOL, False,
       "Let a replica outside the ISR become leader as a last resort (records may be lost).",
       acts=True, synonym="unclean.leader.election.enable",
       note="the cluster controller decides with the broker's value read at start; per-topic and dynamic values "
            "are exposed (Broker.topic_config) for it"),
    _k("message.downconversion.enable", BOOL, True, "Down-convert batches for consumers of old message formats.",
       acts=False, synonym="log.message.downconversion.enable", note="never needed: Fetch is served from v4, magic 2 only"),
])

# Kafka topic config key -> keyword of `Log.open` (None: enforced in Python, or not acted on).
TOPIC_CONFIG_KEYS: dict[str, str | None] = {name: None for name in TOPIC_CONFIGS} | {
    "segment.bytes": "segment_bytes",
    "segment.ms": "segment_ms",
    "segment.index.bytes": "segment_index_bytes",
    "index.interval.bytes": "index_interval_bytes",
    "retention.ms": "retention_ms",
    "retention.bytes": "retention_bytes",
    "flush.messages": "flush_messages",
    "flush.ms": "flush_ms",
    "compression.type": "compression_type",
}
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
# Topic values the Log has its own words for: Kafka's "no flush policy" and codec names.
_LOG_CODEC = {"producer": "none", "uncompressed": "none"}


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


def normalize_topic_config(config: Mapping[str, Any] | None, *, remote_storage_system: bool = False) -> dict[str, Any]:
    """Checks topic config overrides (Kafka names) and returns their typed values.

    Values may be strings (as they come off the wire) or Python values; None
    values are skipped (no override). Raises InvalidConfigError (a ValueError)
    naming the first unknown key or bad value and why, as Kafka's INVALID_CONFIG does.
    """
    out: dict[str, Any] = {}
    for key, raw in (config or {}).items():
        spec = TOPIC_CONFIGS.get(key)
        if spec is None:
            raise InvalidConfigError(f"Unknown topic config name: {key}{did_you_mean(key, TOPIC_CONFIGS)}")
        if raw is None:
            continue
        out[key] = spec.parse(raw)
    check_topic_config(out, remote_storage_system=remote_storage_system)
    return out


def check_topic_config(config: Mapping[str, Any], *, remote_storage_system: bool = False) -> None:
    """Kafka's checks across keys (LogConfig.validateValues) of a topic's typed overrides."""
    lo = config.get("min.compaction.lag.ms", 0)
    hi = config.get("max.compaction.lag.ms", LONG_MAX)
    if lo > hi:
        raise InvalidConfigError(f"conflict topic config setting min.compaction.lag.ms ({lo}) > max.compaction.lag.ms ({hi})")
    if config.get("remote.storage.enable") and not remote_storage_system:
        raise InvalidConfigError("Tiered Storage functionality is disabled in the broker. "
                                 "Topic cannot be configured with remote log storage.")


def topic_config_error(config: Mapping[str, Any], *, remote_storage_system: bool = False) -> str | None:
    """Why these topic configs are refused (Kafka's INVALID_CONFIG message), or None."""
    try:
        normalize_topic_config(config, remote_storage_system=remote_storage_system)
    except InvalidConfigError as e:
        return str(e)
    return None


def topic_default(key: str) -> Any:
    """Kafka's default of a topic config, when neither the topic nor the broker sets it."""
    return TOPIC_CONFIGS[key].default


def log_kwargs(defaults: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """`Log.open` keywords for a topic: `defaults` (Log keywords) overridden by `config` (typed, Kafka names).

    segment.jitter.ms is drawn here (a random part of it subtracted from
    segment.ms), and a cleanup.policy without 'delete' turns retention off.
    """
    kwargs = dict(defaults)
    for key, value in config.items():
        kw = TOPIC_CONFIG_KEYS.get(key)
        if kw is None:
            continue
        if kw == "compression_type":
            value = _LOG_CODEC.get(value, value)
        elif kw in ("flush_messages", "flush_ms") and value == LONG_MAX:
            value = None  # Kafka's Long.MAX_VALUE: no flush policy
        kwargs[kw] = value
    jitter = int(config.get("segment.jitter.ms", 0) or 0)
    if jitter > 0:
        segment_ms = int(kwargs.get("segment_ms", TOPIC_CONFIGS["segment.ms"].default))
        kwargs["segment_ms"] = segment_ms - random.randrange(min(jitter, segment_ms))
    policy = config.get("cleanup.policy")
    if policy is not None and "delete" not in policy:
        kwargs["retention_ms"] = -1
        kwargs["retention_bytes"] = -1
    max_lag = config.get("max.compaction.lag.ms")
    if is_compacted(config) and max_lag is not None:
        # Kafka's maxSegmentMs: a compacted log rolls at least every max.compaction.lag.ms.
        kwargs["segment_ms"] = min(int(max_lag), int(kwargs.get("segment_ms", TOPIC_CONFIGS["segment.ms"].default)))
    return kwargs


def is_compacted(config: Mapping[str, Any]) -> bool:
    """Whether a topic's typed config turns log compaction on (cleanup.policy lists 'compact')."""
    policy = config.get("cleanup.policy") or ()
    return "compact" in (policy.split(",") if isinstance(policy, str) else policy)
