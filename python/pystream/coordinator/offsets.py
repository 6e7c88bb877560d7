"""Committed offsets, stored durably in the internal topic ``__consumer_offsets``.

The records use Kafka's own schema (``OffsetCommitKey`` / ``OffsetCommitValue``
of the group coordinator), so a data directory written by the embedded client
is read unchanged by the broker and by Kafka tools:

- key, version 1: ``version i16 | group string | topic string | partition i32``
  (string = i16 length + UTF-8 bytes);
- value, version 3: ``version i16 | offset i64 | leader_epoch i32 |
  metadata string | commit_timestamp i64``;
- a null value (tombstone) deletes the key.

The same partitions hold the coordinator's records of the groups themselves
(`records.py`: classic group metadata, consumer group epochs, members and
assignments); the store replays them too and keeps them as bytes by group
(`group_records`), for the coordinator to decode.

A group's records all live in partition ``abs(groupId.hashCode()) %
offsets.topic.num.partitions`` (Kafka's ``GroupMetadataManager.partitionFor``,
with Java's ``String.hashCode``). `OffsetStore` knows nothing of the embedded
store: it is handed a function returning the partition log of the offsets
topic, so the broker can give it its own logs.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

from pystream.coordinator.records import group_of_key
from pystream.errors import CorruptRecordError, TopicExistsError
from pystream.storage.log import Log
from pystream.storage.manager import LogManager

__all__ = [
    "DEFAULT_OFFSETS_TOPIC_PARTITIONS",
    "OFFSETS_TOPIC",
    "OffsetAndMetadata",
    "OffsetStore",
    "decode_offset_key",
    "decode_offset_value",
    "encode_offset_key",
    "encode_offset_value",
    "java_string_hash",
    "open_offset_store",
    "partition_for_group",
]

OFFSETS_TOPIC = "__consumer_offsets"
DEFAULT_OFFSETS_TOPIC_PARTITIONS = 50  # Kafka's offsets.topic.num.partitions
OFFSET_KEY_VERSION = 1  # versions 0 and 1 are OffsetCommitKey; 2 is GroupMetadataKey
OFFSET_VALUE_VERSION = 3
NO_LEADER_EPOCH = -1
# As Kafka creates it: compacted (the latest record of each key stays; a tombstone deletes
# it), offsets.topic.segment.bytes.
OFFSETS_TOPIC_CONFIG: dict[str, int | str | None] = {"cleanup.policy": "compact", "segment.bytes": 104857600}
_REPLAY_CHUNK = 4096  # records per log.records() call while replaying


class OffsetAndMetadata(NamedTuple):
    """A committed offset: the next offset the group will consume."""

    offset: int
    metadata: str = ""
    commit_timestamp: int = -1
    leader_epoch: int = NO_LEADER_EPOCH


# --- Java's hashing rule ---------------------------------------------------------


def java_string_hash(s: str) -> int:
    """Java's ``String.hashCode()``: ``s[0]*31^(n-1) + ... + s[n-1]`` over UTF-16 code units, as a signed int32."""
    h = 0
    units = s.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + ((units[i] << 8) | units[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for_group(group: str, num_partitions: int) -> int:
    """Kafka's ``Utils.abs(groupId.hashCode) % offsets.topic.num.partitions``."""
    if num_partitions <= 0:
        raise ValueError(f"num_partitions must be positive, got {num_partitions}")
    h = java_string_hash(group)
    # Kafka's Utils.abs maps Integer.MIN_VALUE to 0 (Math.abs would stay negative).
    return (0 if h == -(1 << 31) else abs(h)) % num_partitions


# --- record codec ------------------------------------------------------------------


def _encode_string(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > 0x7FFF:
        raise ValueError(f"string of {len(b)} bytes is too long for an int16-length field")
    return struct.pack(">h", len(b)) + b


def _decode_string(buf: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from(">h", buf, pos)
    pos += 2
    if n < 0:  # a null string; Kafka never writes one here, read it as ""
        return "", pos
    if pos + n > len(buf):
        raise CorruptRecordError(f"string of {n} bytes runs past the end of a {len(buf)}-byte field")
    return buf[pos : pos + n].decode("utf-8"), pos + n


def _decode_compact_string(buf: bytes, pos: int) -> tuple[str, int]:
    n, shift = 0, 0
    while True:  # unsigned varint length + 1
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    if n == 0:
        return "", pos
    return buf[pos : pos + n - 1].decode("utf-8"), pos + n - 1


def encode_offset_key(group: str, topic: str, partition: int) -> bytes:
    """OffsetCommitKey version 1."""
    return struct.pack(">h", OFFSET_KEY_VERSION) + _encode_string(group) + _encode_string(topic) + struct.pack(">i", partition)


def decode_offset_key(key: bytes) -> tuple[str, str, int] | None:
    """(group, topic, partition) of an OffsetCommitKey, or None for other key types (group metadata)."""
    try:
        (version,) = struct.unpack_from(">h", key, 0)
        if version not in (0, 1):
            return None
        group, pos = _decode_string(key, 2)
        topic, pos = _decode_string(key, pos)
        (partition,) = struct.unpack_from(">i", key, pos)
    except (struct.error, UnicodeDecodeError) as e:
        raise CorruptRecordError(f"bad offset commit key {key.hex()}: {e}") from None
    return group, topic, partition


def encode_offset_value(offset: int, metadata: str = "", commit_timestamp: int = -1, leader_epoch: int = NO_LEADER_EPOCH) -> bytes:
    """OffsetCommitValue version 3."""
    return (
        struct.pack(">hqi", OFFSET_VALUE_VERSION, offset, leader_epoch)
        + _encode_string(metadata)
        + struct.pack(">q", commit_timestamp)
    )


def decode_offset_value(value: bytes) -> OffsetAndMetadata:
    """Decodes OffsetCommitValue versions 0 to 4 (Kafka's own writers use 1, 3 and 4)."""
    try:
        (version,) = struct.unpack_from(">h", value, 0)
        (offset,) = struct.unpack_from(">q", value, 2)
        pos = 10
        epoch = NO_LEADER_EPOCH
        if version >= 3:
            (epoch,) = struct.unpack_from(">i", value, pos)
            pos += 4
        if version >= 4:  # flexible version: compact string, tagged fields after (ignored)
            metadata, pos = _decode_compact_string(value, pos)
        elif 0 <= version <= 3:
            metadata, pos = _decode_string(value, pos)
        else:
            raise CorruptRecordError(f"unknown offset commit value version {version}")
        (ts,) = struct.unpack_from(">q", value, pos)
    except (struct.error, UnicodeDecodeError, IndexError) as e:
        raise CorruptRecordError(f"bad offset commit value {value.hex()}: {e}") from None
    return OffsetAndMetadata(offset, metadata, ts, epoch)


# --- the store -----------------------------------------------------------------------

OffsetsArg = Mapping[tuple[str, int], "int | tuple[int, str] | OffsetAndMetadata"]


class OffsetStore:
    """Committed offsets of consumer groups, backed by the partitions of ``__consumer_offsets``.

    ``partition_log(p)`` returns the (open) log of offsets-topic partition ``p``.
    A partition's state is loaded by replaying its log (the latest value of a key
    wins, a tombstone deletes it) the first time a group living there is used,
    or by `load_partition` / `load_all`. Invariant: for every loaded partition,
    ``self._offsets`` equals the replay of its log. Thread-safe.
    """

    def __init__(self, partition_log: Callable[[int], Log], num_partitions: int = DEFAULT_OFFSETS_TOPIC_PARTITIONS) -> None:
        if num_partitions <= 0:
            raise ValueError(f"num_partitions must be positive, got {num_partitions}")
        self._partition_log = partition_log
        self.num_partitions = num_partitions
        self._lock = threading.RLock()
        self._loaded: set[int] = set()
        # group -> (topic, partition) -> committed offset
        self._offsets: dict[str, dict[tuple[str, int], OffsetAndMetadata]] = {}
        # group -> key -> value of the group's other records (group metadata, see records.py)
        self._records: dict[str, dict[bytes, bytes]] = {}
        # Called with a partition number when `unload_partition` forgets it.
        self.unload_listeners: list[Callable[[int], None]] = []

    def partition_for(self, group: str) -> int:
        """The offsets-topic partition that holds `group`'s records."""
        return partition_for_group(group, self.num_partitions)

    def load_partition(self, p: int) -> None:
        """Replays partition `p` of the offsets topic (no-op when already loaded)."""
        with self._lock:
            if p in self._loaded:
                return
            log = self._partition_log(p)
            pos = log.start_offset
            while pos < log.end_offset:
                records = log.records(pos, max_records=_REPLAY_CHUNK)
                if not records:
                    break
                for rec in records:
                    self._apply(rec.key, rec.value)
                pos = records[-1].offset + 1
            self._loaded.add(p)

    def load_all(self) -> None:
        """Replays every partition of the offsets topic."""
        for p in range(self.num_partitions):
            self.load_partition(p)

    def unload_partition(self, p: int) -> None:
        """Forgets the groups of partition `p` (the broker calls this when it stops coordinating it,
        or before it replays what was replicated there); the listeners hear of it."""
        with self._lock:
            for table in (self._offsets, self._records):
                for group in [g for g in table if self.partition_for(g) == p]:
                    del table[group]
            self._loaded.discard(p)
        for listener in list(self.unload_listeners):
            listener(p)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        parsed = decode_offset_key(key)
        if parsed is None:  # a group record (records.py): kept as bytes, by group
            group = group_of_key(key)[1]
            recs = self._records.setdefault(group, {})
            if value is None:
                recs.pop(bytes(key), None)
            else:
                recs[bytes(key)] = bytes(value)
            if not recs:
                del self._records[group]
            return
        group, topic, partition = parsed
        if value is None:
            group_offsets = self._offsets.get(group)
            if group_offsets is not None:
                group_offsets.pop((topic, partition), None)
                if not group_offsets:
                    del self._offsets[group]
        else:
            self._offsets.setdefault(group, {})[(topic, partition)] = decode_offset_value(value)

    def write(self, group: str, entries: list[tuple[bytes, bytes | None]], timestamp_ms: int | None = None) -> None:
        """Appends records of one group (key, value or None for a tombstone) as one batch and
        fsyncs them before the state changes: a crash after return keeps them all."""
        with self._lock:
            self.load_partition(self.partition_for(group))
            self._write(group, entries, int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)

    def _write(self, group: str, entries: list[tuple[bytes, bytes | None]], timestamp_ms: int) -> None:
        if not entries:
            return
        log = self._partition_log(self.partition_for(group))
        keys = [k for k, _ in entries]
        values = [v for _, v in entries]
        log.append_batch(values, keys=keys, timestamp_ms=timestamp_ms)
        log.flush()  # durable before acknowledged: a crash after return keeps the commit
        for k, v in entries:
            self._apply(k, v)

    def commit(self, group: str, offsets: OffsetsArg, *, commit_timestamp_ms: int | None = None) -> None:
        """Commits offsets for `group`; a value is an offset, ``(offset, metadata)`` or an `OffsetAndMetadata`."""
        if not group:
            raise ValueError("group id must be a non-empty string")
        now = int(time.time() * 1000) if commit_timestamp_ms is None else commit_timestamp_ms
        entries: list[tuple[bytes, bytes | None]] = []
        for (topic, partition), committed in offsets.items():
            if isinstance(committed, OffsetAndMetadata):
                offset, metadata, epoch = committed.offset, committed.metadata, committed.leader_epoch
            elif isinstance(committed, tuple):
                (offset, metadata), epoch = committed, NO_LEADER_EPOCH
            else:
                offset, metadata, epoch = committed, "", NO_LEADER_EPOCH
            if not isinstance(offset, int) or offset < 0:
                raise ValueError(f"committed offset for {topic}-{partition} must be an int >= 0, got {offset!r}")
            entries.append((encode_offset_key(group, topic, partition), encode_offset_value(offset, metadata or "", now, epoch)))
        with self._lock:
            self.load_partition(self.partition_for(group))
            self._write(group, entries, now)

    def fetch(self, group: str, topic: str | None = None) -> dict[tuple[str, int], OffsetAndMetadata]:
        """The committed offsets of `group` (only those of `topic` when given)."""
        with self._lock:
            self.load_partition(self.partition_for(group))
            offsets = self._offsets.get(group, {})
            return {tp: om for tp, om in offsets.items() if topic is None or tp[0] == topic}

    def group_records(self, group: str) -> dict[bytes, bytes]:
        """The group's records other than offsets (key -> value), as the log has them."""
        with self._lock:
            self.load_partition(self.partition_for(group))
            return dict(self._records.get(group, {}))

    def delete_group(self, group: str) -> int:
        """Deletes every committed offset and record of `group` with tombstones; returns how many offsets."""
        with self._lock:
            self.load_partition(self.partition_for(group))
            tps = list(self._offsets.get(group, {}))
            tombstones: list[tuple[bytes, bytes | None]] = [(encode_offset_key(group, t, p), None) for t, p in tps]
            tombstones += [(k, None) for k in self._records.get(group, {})]
            self._write(group, tombstones, int(time.time() * 1000))
            return len(tps)

    def delete_offsets(self, group: str, partitions: Iterable[tuple[str, int]]) -> int:
        """Deletes the committed offsets of these partitions of `group` (those it has) with tombstones."""
        with self._lock:
            self.load_partition(self.partition_for(group))
            have = self._offsets.get(group, {})
            tps = [tp for tp in dict.fromkeys(partitions) if tp in have]
            self._write(group, [(encode_offset_key(group, t, p), None) for t, p in tps], int(time.time() * 1000))
            return len(tps)

    def delete_topic(self, topic: str, groups: Iterable[str] | None = None) -> int:
        """Deletes the committed offsets of `topic` in every group (loads all partitions); returns how many."""
        with self._lock:
            if groups is None:
                self.load_all()
                groups = list(self._offsets)
            n = 0
            now = int(time.time() * 1000)
            for group in list(groups):
                self.load_partition(self.partition_for(group))
                tps = [tp for tp in self._offsets.get(group, {}) if tp[0] == topic]
                self._write(group, [(encode_offset_key(group, t, p), None) for t, p in tps], now)
                n += len(tps)
            return n

    def expire_offsets(self, retention_ms: int, is_active: Callable[[str], bool], now_ms: int | None = None,
                       partitions: Iterable[int] | None = None) -> int:
        """Kafka's offset expiry (offsets.retention.minutes): the committed offsets of a group
        with no live member (``is_active(group)`` false) whose newest commit is older than
        `retention_ms` are deleted together, with tombstones that log compaction then drops.
        Only in the loaded partitions (those this coordinator owns), or in `partitions` (loaded
        first). Returns how many offsets expired."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        with self._lock:
            for p in partitions or ():
                self.load_partition(p)
            n = 0
            for group, offsets in list(self._offsets.items()):
                if not offsets or self.partition_for(group) not in self._loaded or is_active(group):
                    continue
                newest = max(om.commit_timestamp for om in offsets.values())
                if now - newest < retention_ms:
                    continue
                n += len(offsets)
                self._write(group, [(encode_offset_key(group, t, p), None) for t, p in list(offsets)], now)
            return n

    def loaded_offsets(self) -> list[tuple[str, dict[tuple[str, int], OffsetAndMetadata]]]:
        """(group, its committed offsets) for the groups loaded so far: a copy, safe to read from
        another thread (metrics); loads nothing."""
        with self._lock:
            return [(g, dict(offsets)) for g, offsets in self._offsets.items()]

    def groups(self, partitions: Iterable[int] | None = None) -> list[str]:
        """Every group with a committed offset or a group record (loads all partitions), or only
        the groups living in `partitions` (loads those)."""
        with self._lock:
            if partitions is None:
                self.load_all()
                return sorted(set(self._offsets) | set(self._records))
            wanted = set(partitions)
            for p in wanted:
                self.load_partition(p)
            return sorted(g for g in set(self._offsets) | set(self._records) if self.partition_for(g) in wanted)


def open_offset_store(manager: LogManager, num_partitions: int = DEFAULT_OFFSETS_TOPIC_PARTITIONS) -> OffsetStore:
    """The `OffsetStore` over `manager`'s ``__consumer_offsets``, creating the topic with
    `num_partitions` when it does not exist (an existing topic keeps its partition count)."""
    if num_partitions < 1:
        raise ValueError(f"num_partitions must be positive, got {num_partitions}")
    if OFFSETS_TOPIC not in manager.list_topics(include_internal=True):
        try:
            manager.create_topic(OFFSETS_TOPIC, num_partitions, OFFSETS_TOPIC_CONFIG)
        except TopicExistsError:
            pass  # created meanwhile
    elif "cleanup.policy" not in manager.topic_config(OFFSETS_TOPIC):
        # Created before log compaction, with retention off (retention.ms=-1) so that
        # nothing was lost: compacted from now on, as Kafka's is.
        manager.alter_topic_config(OFFSETS_TOPIC, {"cleanup.policy": "compact", "retention.ms": None})
    n = manager.list_topics(include_internal=True)[OFFSETS_TOPIC]  # the persisted count wins over the setting
    return OffsetStore(lambda p: manager.partition_log(OFFSETS_TOPIC, p), n)
