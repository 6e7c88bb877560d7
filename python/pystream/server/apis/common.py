"""What every API module shares: the handler signature, the versions served, the client's address."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.schema_data import ApiKey
from pystream.server.broker import Broker

# A handler takes the decoded request body and its header (`api_version`, `client_id`, ...),
# field names in snake_case as in the protocol, and returns the response body; None when
# no response is due (Produce with acks=0).
Handler = Callable[[dict[str, Any], RequestHeader], Awaitable[dict[str, Any] | None]]

ZERO_UUID = uuid.UUID(int=0)
# The address of the client whose request is being handled (set per connection task).
CLIENT_HOST: contextvars.ContextVar[str] = contextvars.ContextVar("client_host", default="")
# The principal of the client whose request is being handled (the listener sets it once
# it authenticates a client; without authentication every client is User:ANONYMOUS).
CLIENT_PRINCIPAL: contextvars.ContextVar[str] = contextvars.ContextVar("client_principal", default="User:ANONYMOUS")
# A request naming thousands of partitions (a producer or consumer of 10,000) is handled in
# slices of this many, yielding to the event loop in between (no handler holds it for long).
PARTITIONS_PER_SLICE = 256

# KIP-430: "authorized operations were not asked for / are not known".
AUTHORIZED_OPERATIONS_OMITTED = -2147483648


class AclOperation(IntEnum):
    """Kafka's AclOperation codes (KIP-430 bitfields set bit 1 << code)."""

    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class AclResourceType(IntEnum):
    """Kafka's ResourceType codes (of ACLs; ConfigResource types are another enum)."""

    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


_O = AclOperation
# The operations that apply to each resource type (Kafka's AclEntry.supportedOperations).
RESOURCE_OPERATIONS: dict[AclResourceType, tuple[AclOperation, ...]] = {
    AclResourceType.TOPIC: (_O.READ, _O.WRITE, _O.CREATE, _O.DESCRIBE, _O.DELETE, _O.ALTER, _O.DESCRIBE_CONFIGS, _O.ALTER_CONFIGS),
    AclResourceType.GROUP: (_O.READ, _O.DESCRIBE, _O.DELETE),
    AclResourceType.CLUSTER: (_O.CREATE, _O.CLUSTER_ACTION, _O.DESCRIBE_CONFIGS, _O.ALTER_CONFIGS, _O.IDEMPOTENT_WRITE, _O.ALTER,
                              _O.DESCRIBE),
    AclResourceType.TRANSACTIONAL_ID: (_O.DESCRIBE, _O.WRITE),
    AclResourceType.DELEGATION_TOKEN: (_O.DESCRIBE,),
    AclResourceType.USER: (_O.CREATE_TOKENS, _O.DESCRIBE_TOKENS),
}


def authorized_operations(resource_type: AclResourceType, name: str, principal: str) -> int:
    """KIP-430: the bitfield (1 << AclOperation) of what `principal` may do to the resource.
    No authorizer is configured: every operation that applies to the resource type. (An
    authorizer narrows this to what the ACLs allow.)"""
    bits = 0
    for op in RESOURCE_OPERATIONS[resource_type]:
        bits |= 1 << op
    return bits


def requested_operations(asked: bool, resource_type: AclResourceType, name: str) -> int:
    """The authorized operations field of a response: the bitfield when the request asked for
    it, else Kafka's "omitted" value."""
    return authorized_operations(resource_type, name, CLIENT_PRINCIPAL.get()) if asked else AUTHORIZED_OPERATIONS_OMITTED

# What this broker serves: (min, max) per API key. Produce v0-2 is advertised
# (librdkafka 2.0 compresses only when it is) but answered with
# UNSUPPORTED_FOR_MESSAGE_FORMAT: it carries magic 0/1 message sets. Fetch
# starts at v4 (older versions return those) and stops at v12 (v13+ names
# topics by id only).
SUPPORTED_VERSIONS: dict[int, tuple[int, int]] = {
    ApiKey.PRODUCE: (0, 10),
    ApiKey.FETCH: (4, 12),
    ApiKey.LIST_OFFSETS: (0, 7),
    ApiKey.METADATA: (0, 12),
    ApiKey.OFFSET_COMMIT: (0, 9),
    ApiKey.OFFSET_FETCH: (0, 9),
    ApiKey.FIND_COORDINATOR: (0, 4),
    ApiKey.JOIN_GROUP: (0, 9),
    ApiKey.HEARTBEAT: (0, 4),
    ApiKey.LEAVE_GROUP: (0, 5),
    ApiKey.SYNC_GROUP: (0, 5),
    ApiKey.DESCRIBE_GROUPS: (0, 5),
    ApiKey.LIST_GROUPS: (0, 5),
    ApiKey.API_VERSIONS: (0, 3),
    ApiKey.CREATE_TOPICS: (0, 7),
    ApiKey.DELETE_TOPICS: (0, 6),
    ApiKey.DELETE_RECORDS: (0, 2),
    ApiKey.INIT_PRODUCER_ID: (0, 4),
    ApiKey.OFFSET_FOR_LEADER_EPOCH: (0, 4),
    ApiKey.DESCRIBE_CONFIGS: (0, 4),
    ApiKey.ALTER_CONFIGS: (0, 2),
    ApiKey.DESCRIBE_LOG_DIRS: (0, 4),
    ApiKey.CREATE_PARTITIONS: (0, 3),
    ApiKey.DELETE_GROUPS: (0, 2),
    ApiKey.OFFSET_DELETE: (0, 0),
    ApiKey.CONSUMER_GROUP_HEARTBEAT: (0, 1),
    ApiKey.CONSUMER_GROUP_DESCRIBE: (0, 0),
    ApiKey.INCREMENTAL_ALTER_CONFIGS: (0, 1),
    ApiKey.DESCRIBE_CLUSTER: (0, 1),
    ApiKey.ALTER_PARTITION_REASSIGNMENTS: (0, 0),
    ApiKey.LIST_PARTITION_REASSIGNMENTS: (0, 0),
    # Transactions, protocol version 1 (AddPartitionsToTxn v4+ is broker-to-broker, KIP-890).
    ApiKey.ADD_PARTITIONS_TO_TXN: (0, 4),
    ApiKey.ADD_OFFSETS_TO_TXN: (0, 3),
    ApiKey.END_TXN: (0, 3),
    ApiKey.WRITE_TXN_MARKERS: (0, 1),
    ApiKey.TXN_OFFSET_COMMIT: (0, 3),
    ApiKey.DESCRIBE_TRANSACTIONS: (0, 0),
    ApiKey.LIST_TRANSACTIONS: (0, 1),
}


# DescribeConfigs / AlterConfigs resource types (config sources: server.config.ConfigSource).
RESOURCE_TOPIC, RESOURCE_BROKER = 2, 4


class ApiGroup:
    """The handlers of one area of the protocol, over one broker."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def handlers(self) -> dict[int, Handler]:
        """API key -> handler, for the keys this group serves."""
        raise NotImplementedError
