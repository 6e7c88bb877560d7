"""The group coordinator's own records in ``__consumer_offsets``, in Kafka's schemas.

Beside committed offsets (`offsets.py`), the coordinator persists the state of
its groups there, as Kafka's group coordinator does (the JSON definitions in
Kafka's ``group-coordinator/src/main/resources/common/message``):

- a record key is ``int16 record type | key struct (version 0, not flexible)``,
  and every key struct starts with the group id;
- a record value is ``int16 version | value struct``; a null value (tombstone)
  deletes the key.

Record types used here (the int16 at the start of a key):

====  =======================================  =============================
type  key                                      value
====  =======================================  =============================
0, 1  OffsetCommitKey (offsets.py)             OffsetCommitValue
2     GroupMetadataKey                         GroupMetadataValue (classic)
3     ConsumerGroupMetadataKey                 group epoch
5     ConsumerGroupMemberMetadataKey           a member's subscription
6     ConsumerGroupTargetAssignmentMetadataKey target assignment epoch
7     ConsumerGroupTargetAssignmentMemberKey   a member's target partitions
8     ConsumerGroupCurrentMemberAssignmentKey  a member's epoch and partitions
====  =======================================  =============================

Type 4 (subscribed topic metadata) is not written: Kafka 4.1 replaced it with
the metadata hash of the group record, which is what this module writes.
"""

from __future__ import annotations

import struct
import uuid
from enum import IntEnum
from typing import Any

from pystream.errors import CorruptRecordError
from pystream.protocol.codec import ProtocolError, decode_message, encode_message, join
from pystream.protocol.schema import Field as F
from pystream.protocol.schema import Message as M

__all__ = ["RecordType", "decode_key", "decode_value", "encode_key", "encode_value", "group_of_key", "topic_partitions_field"]

_ALL = (0, 0x7FFF)


class RecordType(IntEnum):
    """The record type at the start of a ``__consumer_offsets`` key."""

    OFFSET_COMMIT_LEGACY = 0
    OFFSET_COMMIT = 1
    GROUP_METADATA = 2
    CONSUMER_GROUP_METADATA = 3
    CONSUMER_GROUP_PARTITION_METADATA = 4
    CONSUMER_GROUP_MEMBER_METADATA = 5
    CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA = 6
    CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER = 7
    CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT = 8


def _key(name: str, *fields: F) -> M:
    return M(name, "data", None, (0, 0), None, fields=fields)


_GROUP_ID = F("group_id", "string", _ALL)
_MEMBER_ID = F("member_id", "string", _ALL)
_TOPIC_PARTITIONS = (F("topic_id", "uuid", _ALL), F("partitions", "[]int32", _ALL))

_KEYS: dict[int, M] = {
    RecordType.GROUP_METADATA: _key("GroupMetadataKey", _GROUP_ID),
    RecordType.CONSUMER_GROUP_METADATA: _key("ConsumerGroupMetadataKey", _GROUP_ID),
    RecordType.CONSUMER_GROUP_MEMBER_METADATA: _key("ConsumerGroupMemberMetadataKey", _GROUP_ID, _MEMBER_ID),
    RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA: _key("ConsumerGroupTargetAssignmentMetadataKey", _GROUP_ID),
    RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER: _key("ConsumerGroupTargetAssignmentMemberKey", _GROUP_ID, _MEMBER_ID),
    RecordType.CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT: _key("ConsumerGroupCurrentMemberAssignmentKey", _GROUP_ID, _MEMBER_ID),
}

# (schema, version written). GroupMetadataValue v3 is what Kafka 2.3-3.x brokers write.
_VALUES: dict[int, tuple[M, int]] = {
    RecordType.GROUP_METADATA: (M("GroupMetadataValue", "data", None, (0, 4), (4, 0x7FFF), fields=(
        F("protocol_type", "string", _ALL),
        F("generation", "int32", _ALL),
        F("protocol", "string", _ALL, nullable=_ALL),
        F("leader", "string", _ALL, nullable=_ALL),
        F("current_state_timestamp", "int64", (2, 0x7FFF), default=-1),
        F("members", "[]MemberMetadata", _ALL, fields=(
            F("member_id", "string", _ALL),
            F("group_instance_id", "string", (3, 0x7FFF), nullable=(3, 0x7FFF), default=None),
            F("client_id", "string", _ALL),
            F("client_host", "string", _ALL),
            F("rebalance_timeout", "int32", (1, 0x7FFF), default=-1),
            F("session_timeout", "int32", _ALL),
            F("subscription", "bytes", _ALL),
            F("assignment", "bytes", _ALL),
        )),
    )), 3),
    RecordType.CONSUMER_GROUP_METADATA: (M("ConsumerGroupMetadataValue", "data", None, (0, 0), _ALL, fields=(
        F("epoch", "int32", _ALL),
        F("metadata_hash", "int64", _ALL, tag=0, tagged=_ALL, default=0),
    )), 0),
    RecordType.CONSUMER_GROUP_MEMBER_METADATA: (M("ConsumerGroupMemberMetadataValue", "data", None, (0, 0), _ALL, fields=(
        F("instance_id", "string", _ALL, nullable=_ALL, default=None),
        F("rack_id", "string", _ALL, nullable=_ALL, default=None),
        F("client_id", "string", _ALL),
        F("client_host", "string", _ALL),
        F("subscribed_topic_names", "[]string", _ALL),
        F("subscribed_topic_regex", "string", _ALL, nullable=_ALL, default=None),
        F("rebalance_timeout_ms", "int32", _ALL, default=-1),
        F("server_assignor", "string", _ALL, nullable=_ALL, default=None),
    )), 0),
    RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA: (M("ConsumerGroupTargetAssignmentMetadataValue", "data", None,
                                                             (0, 0), _ALL, fields=(
        F("assignment_epoch", "int32", _ALL),
    )), 0),
    RecordType.CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER: (M("ConsumerGroupTargetAssignmentMemberValue", "data", None,
                                                           (0, 0), _ALL, fields=(
        F("topic_partitions", "[]TopicPartition", _ALL, fields=_TOPIC_PARTITIONS),
    )), 0),
    RecordType.CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT: (M("ConsumerGroupCurrentMemberAssignmentValue", "data", None,
                                                            (0, 0), _ALL, fields=(
        F("member_epoch", "int32", _ALL),
        F("previous_member_epoch", "int32", _ALL),
        F("state", "int8", _ALL),
        F("assigned_partitions", "[]TopicPartitions", _ALL, fields=_TOPIC_PARTITIONS),
        F("partitions_pending_revocation", "[]TopicPartitions", _ALL, fields=_TOPIC_PARTITIONS),
    )), 0),
}

_TYPE = struct.Struct(">h")


def encode_key(record_type: RecordType, group_id: str, member_id: str | None = None) -> bytes:
    """The key of a group record (``member_id`` for the per-member types)."""
    body: dict[str, Any] = {"group_id": group_id}
    if member_id is not None:
        body["member_id"] = member_id
    return _TYPE.pack(int(record_type)) + join(encode_message(_KEYS[record_type], 0, body))


def group_of_key(key: bytes) -> tuple[int, str]:
    """(record type, group id) of any coordinator key: every key struct starts with the group id."""
    try:
        (rtype,) = _TYPE.unpack_from(key, 0)
        (n,) = _TYPE.unpack_from(key, 2)
        if n < 0 or 4 + n > len(key):
            raise ValueError(f"group id of {n} bytes in a {len(key)}-byte key")
        return rtype, bytes(key[4 : 4 + n]).decode("utf-8")
    except (struct.error, ValueError) as e:
        raise CorruptRecordError(f"bad group record key {bytes(key).hex()}: {e}") from None


def decode_key(key: bytes) -> tuple[int, dict[str, Any]]:
    """(record type, key fields) of a group record key this module knows."""
    rtype = group_of_key(key)[0]
    schema = _KEYS.get(rtype)
    if schema is None:
        raise CorruptRecordError(f"unknown group record type {rtype}")
    try:
        return rtype, decode_message(schema, 0, key, 2)
    except ProtocolError as e:
        raise CorruptRecordError(f"bad {schema.name}: {e}") from None


def encode_value(record_type: RecordType, body: dict[str, Any]) -> bytes:
    schema, version = _VALUES[record_type]
    return _TYPE.pack(version) + join(encode_message(schema, version, body))


def decode_value(record_type: int, value: bytes) -> dict[str, Any]:
    schema_version = _VALUES.get(record_type)
    if schema_version is None:
        raise CorruptRecordError(f"unknown group record type {record_type}")
    schema = schema_version[0]
    try:
        (version,) = _TYPE.unpack_from(value, 0)
        # A newer writer's value may carry fields this version does not know: decode what we know.
        return decode_message(schema, min(version, schema.valid[1]), value, 2, exact=version <= schema.valid[1])
    except (ProtocolError, struct.error) as e:
        raise CorruptRecordError(f"bad {schema.name}: {e}") from None


def topic_partitions_field(assignment: dict[uuid.UUID, list[int]]) -> list[dict[str, Any]]:
    """``[{topic_id, partitions}]`` (sorted) for an assignment keyed by topic id."""
    return [{"topic_id": tid, "partitions": sorted(ps)} for tid, ps in sorted(assignment.items()) if ps]
