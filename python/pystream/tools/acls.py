"""`pystream acls add|list|remove` over Kafka's CreateAcls, DescribeAcls and
DeleteAcls, with kafka-acls' options: ``--allow-principal User:alice
--operation Read --topic events [--resource-pattern-type prefixed]``,
``--producer`` / ``--consumer`` shortcuts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pystream.protocol.client import KafkaClient, check
from pystream.protocol.schema_data import ApiKey
from pystream.security.acl import (
    CLUSTER_NAME,
    WILDCARD,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
    java_name,
    parse_enum,
)
from pystream.tools import ToolError

__all__ = ["AclSpec", "add", "list_acls", "remove", "render"]


@dataclass
class AclSpec:
    """What the command line named: resources, principals and hosts, operations."""

    topics: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    transactional_ids: list[str] = field(default_factory=list)
    cluster: bool = False
    pattern_type: str | None = None  # None: literal for add/remove, what applies (MATCH) for list
    allow_principals: list[str] = field(default_factory=list)
    deny_principals: list[str] = field(default_factory=list)
    allow_hosts: list[str] = field(default_factory=list)
    deny_hosts: list[str] = field(default_factory=list)
    operations: list[str] = field(default_factory=list)
    producer: bool = False
    consumer: bool = False
    idempotent: bool = False

    def pattern(self, default: PatternType) -> PatternType:
        if self.pattern_type is None:
            return default
        try:
            return PatternType(parse_enum(PatternType, self.pattern_type))
        except ValueError as e:
            raise ToolError(f"--resource-pattern-type: {e}") from None

    def resources(self) -> list[tuple[ResourceType, str]]:
        out = [(ResourceType.TOPIC, t) for t in self.topics] + [(ResourceType.GROUP, g) for g in self.groups]
        out += [(ResourceType.TRANSACTIONAL_ID, t) for t in self.transactional_ids]
        if self.cluster:
            out.append((ResourceType.CLUSTER, CLUSTER_NAME))
        return out

    def operations_for(self, rtype: ResourceType) -> list[AclOperation]:
        """kafka-acls' convenience sets: --producer (Write, Describe, Create on topics; IdempotentWrite
        on the cluster with --idempotent), --consumer (Read, Describe on topics; Read on groups)."""
        ops: list[AclOperation] = []
        if self.producer:
            if rtype == ResourceType.TOPIC:
                ops += [AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.CREATE]
            elif rtype == ResourceType.TRANSACTIONAL_ID:
                ops += [AclOperation.WRITE, AclOperation.DESCRIBE]
            elif rtype == ResourceType.CLUSTER and self.idempotent:
                ops.append(AclOperation.IDEMPOTENT_WRITE)
        if self.consumer:
            if rtype == ResourceType.TOPIC:
                ops += [AclOperation.READ, AclOperation.DESCRIBE]
            elif rtype == ResourceType.GROUP:
                ops.append(AclOperation.READ)
        for name in self.operations:
            try:
                ops.append(AclOperation(parse_enum(AclOperation, name)))
            except ValueError as e:
                raise ToolError(f"--operation: {e}") from None
        return list(dict.fromkeys(ops))


def _principal(p: str) -> str:
    kind, sep, name = p.partition(":")
    if not sep or not kind or not name:
        raise ToolError(f"principal {p!r} is not Type:name (e.g. User:alice)")
    return p


def add(client: KafkaClient, spec: AclSpec) -> list[dict[str, Any]]:
    """Creates the ACLs the spec names; returns them (as `list_acls` rows)."""
    ptype = spec.pattern(PatternType.LITERAL)
    if ptype not in (PatternType.LITERAL, PatternType.PREFIXED):
        raise ToolError("adding ACLs takes --resource-pattern-type literal or prefixed")
    resources = spec.resources()
    if spec.producer and spec.idempotent and not spec.cluster:
        resources.append((ResourceType.CLUSTER, CLUSTER_NAME))
    if not resources:
        raise ToolError("name a resource: --topic, --group, --transactional-id or --cluster")
    entries = [(p, AclPermissionType.ALLOW, spec.allow_hosts or [WILDCARD]) for p in spec.allow_principals]
    entries += [(p, AclPermissionType.DENY, spec.deny_hosts or [WILDCARD]) for p in spec.deny_principals]
    if not entries:
        raise ToolError("name a principal: --allow-principal or --deny-principal (e.g. User:alice)")
    creations = []
    for rtype, name in resources:
        ops = spec.operations_for(rtype)
        if not ops:
            if spec.producer or spec.consumer:
                continue
            raise ToolError("name an operation: --operation (Read, Write, Describe, All, ...), --producer or --consumer")
        rname = name if rtype != ResourceType.CLUSTER else CLUSTER_NAME
        rptype = ptype if rtype != ResourceType.CLUSTER else PatternType.LITERAL
        for principal, permission, hosts in entries:
            for host in hosts:
                for op in ops:
                    creations.append({"resource_type": int(rtype), "resource_name": rname, "resource_pattern_type": int(rptype),
                                      "principal": _principal(principal), "host": host, "operation": int(op),
                                      "permission_type": int(permission)})
    resp = client.request(ApiKey.CREATE_ACLS, {"creations": creations})
    for c, r in zip(creations, resp["results"]):
        check(r["error_code"], r.get("error_message"), f"ACL {_describe_row(_row(c))}")
    return [_row(c) for c in creations]


def _row(c: dict[str, Any]) -> dict[str, Any]:
    return {"resource_type": java_name(ResourceType(c["resource_type"])), "name": c["resource_name"],
            "pattern_type": PatternType(c.get("resource_pattern_type", c.get("pattern_type", 3))).name,
            "principal": c["principal"], "host": c["host"], "operation": java_name(AclOperation(c["operation"])),
            "permission": java_name(AclPermissionType(c["permission_type"]))}


def _describe_row(r: dict[str, Any]) -> str:
    return (f"{r['permission']} {r['principal']} {r['operation']} from {r['host']} on "
            f"{r['resource_type']}:{r['pattern_type']}:{r['name']}")


def _filters(spec: AclSpec, default_pattern: PatternType) -> list[dict[str, Any]]:
    ptype = spec.pattern(default_pattern)
    resources: list[tuple[ResourceType, str | None]] = list(spec.resources()) or [(ResourceType.ANY, None)]
    principals: list[tuple[str | None, AclPermissionType]] = (
        [(_principal(p), AclPermissionType.ALLOW) for p in spec.allow_principals]
        + [(_principal(p), AclPermissionType.DENY) for p in spec.deny_principals]) or [(None, AclPermissionType.ANY)]
    out = []
    for rtype, name in resources:
        ops: list[AclOperation] = spec.operations_for(rtype) if rtype != ResourceType.ANY else []
        for principal, permission in principals:
            for op in ops or [AclOperation.ANY]:
                out.append({"resource_type_filter": int(rtype), "resource_name_filter": name,
                            "pattern_type_filter": int(ptype if rtype != ResourceType.CLUSTER else PatternType.LITERAL),
                            "principal_filter": principal, "host_filter": None, "operation": int(op), "permission_type": int(permission)})
    return out


def list_acls(client: KafkaClient, spec: AclSpec) -> list[dict[str, Any]]:
    """The ACLs matching the spec (nothing named: all); for a named resource, those that
    apply to it (literal, wildcard and prefixed: pattern type MATCH) unless a pattern type is given."""
    rows: list[dict[str, Any]] = []
    for f in _filters(spec, PatternType.MATCH if spec.resources() else PatternType.ANY):
        resp = client.request(ApiKey.DESCRIBE_ACLS, f)
        check(resp["error_code"], resp.get("error_message"), "DescribeAcls")
        for res in resp["resources"]:
            for a in res["acls"]:
                row = _row({"resource_type": res["resource_type"], "resource_name": res["resource_name"],
                            "pattern_type": res.get("pattern_type", 3), **a})
                if row not in rows:
                    rows.append(row)
    return rows


def remove(client: KafkaClient, spec: AclSpec) -> list[dict[str, Any]]:
    """Deletes the ACLs matching the spec (exact pattern type, literal by default); returns them."""
    resp = client.request(ApiKey.DELETE_ACLS, {"filters": _filters(spec, PatternType.LITERAL)})
    out = []
    for r in resp["filter_results"]:
        check(r["error_code"], r.get("error_message"), "DeleteAcls")
        for m in r["matching_acls"]:
            check(m["error_code"], m.get("error_message"), "DeleteAcls")
            out.append(_row(m))
    return out


def render(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table("RESOURCE", "PATTERN", "PRINCIPAL", "HOST", "OPERATION", "PERMISSION", box=None)
    for r in sorted(rows, key=lambda r: (r["resource_type"], r["name"], r["principal"], r["operation"])):
        table.add_row(f"{r['resource_type']}:{r['name']}", r["pattern_type"], r["principal"], r["host"], r["operation"], r["permission"])
    return table
