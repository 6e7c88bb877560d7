"""Kafka's ACL model: resource patterns, access control entries, bindings and filters.

Codes are the protocol's (CreateAcls, DescribeAcls, DeleteAcls); names are
Kafka's (``Topic``, ``Read``, ``Allow``, as kafka-acls and ZooKeeper print
them). A binding says: `principal` from `host` may (Allow) or may not (Deny)
do `operation` on the resources matching `pattern`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

__all__ = ["AccessControlEntry", "AclBinding", "AclBindingFilter", "AclOperation", "AclPermissionType", "PatternType",
           "ResourcePattern", "ResourceType", "CLUSTER_NAME", "WILDCARD", "WILDCARD_PRINCIPAL", "java_name", "parse_enum"]

WILDCARD = "*"            # a LITERAL resource name matching every resource of its type; any host
WILDCARD_PRINCIPAL = "User:*"
CLUSTER_NAME = "kafka-cluster"


class ResourceType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class PatternType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class AclOperation(enum.IntEnum):
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


class AclPermissionType(enum.IntEnum):
    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


# The operations Kafka reports (KIP-430) and accepts per resource type.
OPERATIONS_BY_RESOURCE: dict[ResourceType, tuple[AclOperation, ...]] = {
    ResourceType.TOPIC: (AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE, AclOperation.ALTER,
                         AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS),
    ResourceType.GROUP: (AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE),
    ResourceType.CLUSTER: (AclOperation.CREATE, AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
                           AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE, AclOperation.ALTER, AclOperation.DESCRIBE),
    ResourceType.TRANSACTIONAL_ID: (AclOperation.DESCRIBE, AclOperation.WRITE),
    ResourceType.DELEGATION_TOKEN: (AclOperation.DESCRIBE,),
    ResourceType.USER: (AclOperation.CREATE_TOKENS, AclOperation.DESCRIBE_TOKENS),
}


def java_name(member: enum.Enum) -> str:
    """TRANSACTIONAL_ID -> TransactionalId, as Kafka prints and stores names."""
    return "".join(w.capitalize() for w in member.name.split("_"))


def parse_enum(cls: type[enum.IntEnum], text: str) -> enum.IntEnum:
    """'ClusterAction', 'cluster-action', 'CLUSTER_ACTION', 'clusteraction' -> the member."""
    key = re.sub(r"[^a-z]", "", text.lower())
    for m in cls:
        if m.name.replace("_", "").lower() == key:
            return m
    raise ValueError(f"unknown {cls.__name__} {text!r}; one of {', '.join(java_name(m) for m in cls if m.value > 1)}")


@dataclass(frozen=True)
class ResourcePattern:
    resource_type: ResourceType
    name: str
    pattern_type: PatternType = PatternType.LITERAL

    def matches(self, resource_type: ResourceType, name: str) -> bool:
        """Does this stored pattern apply to the concrete resource (type, name)?"""
        if self.resource_type != resource_type:
            return False
        if self.pattern_type == PatternType.LITERAL:
            return self.name == name or self.name == WILDCARD
        return self.pattern_type == PatternType.PREFIXED and name.startswith(self.name)

    def __str__(self) -> str:
        return f"ResourcePattern(resourceType={java_name(self.resource_type).upper()}, name={self.name}, patternType={self.pattern_type.name})"


@dataclass(frozen=True)
class AccessControlEntry:
    principal: str   # "User:alice" or "User:*"
    host: str        # an IP address or "*"
    operation: AclOperation
    permission: AclPermissionType

    def __str__(self) -> str:
        return (f"(principal={self.principal}, host={self.host}, operation={java_name(self.operation)}, "
                f"permissionType={java_name(self.permission)})")


@dataclass(frozen=True)
class AclBinding:
    pattern: ResourcePattern
    entry: AccessControlEntry

    def validate(self) -> str | None:
        """Why Kafka would refuse to create this binding, or None."""
        p, e = self.pattern, self.entry
        if p.resource_type in (ResourceType.UNKNOWN, ResourceType.ANY):
            return "Invalid resource type"
        if p.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
            return f"Invalid pattern type {p.pattern_type.name}: only LITERAL and PREFIXED ACLs can be created"
        if not p.name:
            return "Resource name must not be empty"
        if p.resource_type == ResourceType.CLUSTER and p.name != CLUSTER_NAME:
            return f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        if p.pattern_type == PatternType.PREFIXED and p.name == WILDCARD:
            return "A PREFIXED ACL cannot use the wildcard '*' as its name (use a LITERAL '*')"
        if e.operation in (AclOperation.UNKNOWN, AclOperation.ANY):
            return "Invalid operation"
        if e.permission not in (AclPermissionType.ALLOW, AclPermissionType.DENY):
            return "Invalid permission type"
        kind, sep, name = e.principal.partition(":")
        if not sep or not kind or not name:
            return f"Invalid principal {e.principal!r}: expected Type:name, e.g. User:alice"
        if not e.host:
            return "Invalid host: use '*' for any host"
        if e.operation != AclOperation.ALL and e.operation not in OPERATIONS_BY_RESOURCE.get(p.resource_type, ()):
            return f"Operation {java_name(e.operation)} does not apply to resource type {java_name(p.resource_type)}"
        return None


@dataclass(frozen=True)
class AclBindingFilter:
    """What DescribeAcls and DeleteAcls match; None fields and ANY codes match everything."""

    resource_type: ResourceType = ResourceType.ANY
    name: str | None = None
    pattern_type: PatternType = PatternType.ANY
    principal: str | None = None
    host: str | None = None
    operation: AclOperation = AclOperation.ANY
    permission: AclPermissionType = AclPermissionType.ANY

    def matches(self, b: AclBinding) -> bool:
        p, e = b.pattern, b.entry
        if self.resource_type != ResourceType.ANY and self.resource_type != p.resource_type:
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH) and self.pattern_type != p.pattern_type:
            return False
        if self.name is not None:
            if self.pattern_type != PatternType.MATCH:  # ANY or the binding's own type: the exact name
                if self.name != p.name:
                    return False
            elif p.pattern_type == PatternType.LITERAL:
                if not (self.name == p.name or p.name == WILDCARD):
                    return False
            elif not self.name.startswith(p.name):
                return False
        return ((self.principal is None or self.principal == e.principal) and (self.host is None or self.host == e.host)
                and self.operation in (AclOperation.ANY, e.operation) and self.permission in (AclPermissionType.ANY, e.permission))

    def validate(self) -> str | None:
        if self.operation == AclOperation.UNKNOWN or self.permission == AclPermissionType.UNKNOWN:
            return "Invalid operation or permission type filter"
        if self.resource_type == ResourceType.UNKNOWN or self.pattern_type == PatternType.UNKNOWN:
            return "Invalid resource type or pattern type filter"
        return None
