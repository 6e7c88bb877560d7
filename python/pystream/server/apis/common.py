"""What every API module shares: the handler signature, the versions served, the client's address."""

from __future__ import annotations

import contextvars
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pystream.protocol.codec import RequestHeader
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import CLUSTER_NAME, AclOperation, ResourceType
from pystream.security.authorizer import all_operations
from pystream.security.principal import Session
from pystream.server.broker import PARTITIONS_PER_SLICE, Broker

# A handler takes the decoded request body and its header (`api_version`, `client_id`, ...),
# field names in snake_case as in the protocol, and returns the response body; None when
# no response is due (Produce with acks=0).
Handler = Callable[[dict[str, Any], RequestHeader], Awaitable[dict[str, Any] | None]]

ZERO_UUID = uuid.UUID(int=0)
# The address of the client whose request is being handled (set per connection task).
CLIENT_HOST: contextvars.ContextVar[str] = contextvars.ContextVar("client_host", default="")
# Who is on the connection being served: principal, client address, listener (set per connection task).
SESSION: contextvars.ContextVar[Session] = contextvars.ContextVar("session", default=Session())

# KIP-430: "authorized operations were not asked for / are not known".
AUTHORIZED_OPERATIONS_OMITTED = -2147483648


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
    # security (server/apis/security.py)
    ApiKey.SASL_HANDSHAKE: (0, 1),
    ApiKey.SASL_AUTHENTICATE: (0, 2),
    ApiKey.DESCRIBE_ACLS: (0, 3),
    ApiKey.CREATE_ACLS: (0, 3),
    ApiKey.DELETE_ACLS: (0, 3),
    ApiKey.DESCRIBE_CLIENT_QUOTAS: (0, 1),
    ApiKey.ALTER_CLIENT_QUOTAS: (0, 1),
    ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS: (0, 0),
    ApiKey.ALTER_USER_SCRAM_CREDENTIALS: (0, 0),
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

    def authorize(self, op: AclOperation, resource_type: ResourceType, name: str) -> bool:
        """May the connection's principal do `op` on the resource? Always, without an authorizer."""
        authorizer = self.broker.security.authorizer
        if authorizer is None:
            return True
        s = SESSION.get()
        return authorizer.authorize(s.principal, s.client_host, op, resource_type, name)

    def may_create_topic(self, topic: str) -> bool:
        """Create on the cluster or on the topic (Kafka's rule for CreateTopics and auto-creation)."""
        return self.authorize(AclOperation.CREATE, ResourceType.CLUSTER, CLUSTER_NAME) or \
            self.authorize(AclOperation.CREATE, ResourceType.TOPIC, topic)

    def authorize_any(self, op: AclOperation, resource_type: ResourceType) -> bool:
        """May the principal do `op` on some resource of this type (Kafka's authorizeByResourceType)?"""
        authorizer = self.broker.security.authorizer
        if authorizer is None:
            return True
        s = SESSION.get()
        return authorizer.authorize_any(s.principal, s.client_host, op, resource_type)

    def authorized_operations(self, resource_type: ResourceType, name: str) -> int:
        """KIP-430 bit set of the operations the principal may do on the resource
        (every operation of the type without an authorizer)."""
        authorizer = self.broker.security.authorizer
        if authorizer is None:
            return all_operations(resource_type)
        s = SESSION.get()
        return authorizer.authorized_operations(s.principal, s.client_host, resource_type, name)

    def requested_operations(self, asked: bool, resource_type: ResourceType, name: str) -> int:
        """The authorized operations field of a response: the bitfield when the request asked
        for it, else Kafka's "omitted" value."""
        return self.authorized_operations(resource_type, name) if asked else AUTHORIZED_OPERATIONS_OMITTED
