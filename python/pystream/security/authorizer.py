"""The ACL authorizer: Kafka's AclAuthorizer decision, over an `AclStore`.

A request by `principal` from `host` to do `operation` on a resource is allowed when:

1. the principal is a super user (``super.users``), or
2. no ACL matches the resource at all and ``allow.everyone.if.no.acl.found``, or
3. no matching Deny ACL (principal or ``User:*``, host or ``*``, the operation
   or ``All``) exists — Deny wins — and a matching Allow ACL does. Allowing
   Read, Write, Delete or Alter implies Describe; AlterConfigs implies
   DescribeConfigs.

An ACL matches a resource when its pattern is LITERAL with the same name, the
LITERAL wildcard ``*``, or PREFIXED with a prefix of the name.

The ACLs are kept in memory (reloaded when the store reports a change);
decisions are cached until the next change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from pystream.security.acl import (
    OPERATIONS_BY_RESOURCE,
    WILDCARD,
    WILDCARD_PRINCIPAL,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourceType,
)
from pystream.security.principal import KafkaPrincipal
from pystream.security.stores import AclStore

__all__ = ["AUTHORIZER_CLASSES", "AclAuthorizer"]

logger = logging.getLogger("pystream.security")

# authorizer.class.name values that enable this authorizer (Kafka's ZooKeeper- and KRaft-mode classes).
AUTHORIZER_CLASSES = ("kafka.security.authorizer.AclAuthorizer", "kafka.security.auth.SimpleAclAuthorizer",
                      "org.apache.kafka.metadata.authorizer.StandardAuthorizer", "pystream")

_IMPLIED = {
    AclOperation.DESCRIBE: (AclOperation.DESCRIBE, AclOperation.READ, AclOperation.WRITE, AclOperation.DELETE, AclOperation.ALTER),
    AclOperation.DESCRIBE_CONFIGS: (AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS),
}
_CACHE_MAX = 65536


class AclAuthorizer:
    def __init__(self, store: AclStore, super_users: Iterable[KafkaPrincipal] = (), allow_if_no_acl: bool = False) -> None:
        self.store = store
        self.super_users = {str(p) for p in super_users}
        self.allow_if_no_acl = allow_if_no_acl
        self._bindings: list[AclBinding] = []
        # (resource type, pattern type) -> name -> bindings
        self._index: dict[tuple[ResourceType, PatternType], dict[str, list[AclBinding]]] = {}
        self._cache: dict[tuple[str, str, AclOperation, ResourceType, str], bool] = {}
        self._lock = threading.Lock()

    def use_store(self, store: AclStore) -> None:
        self.store = store

    def start(self) -> None:
        """Loads the ACLs and follows the store's changes."""
        self.store.subscribe(self.reload)
        self.reload()

    def reload(self) -> None:
        bindings = self.store.load()
        index: dict[tuple[ResourceType, PatternType], dict[str, list[AclBinding]]] = {}
        for b in bindings:
            index.setdefault((b.pattern.resource_type, b.pattern.pattern_type), {}).setdefault(b.pattern.name, []).append(b)
        with self._lock:
            self._bindings, self._index, self._cache = bindings, index, {}

    # ----- decisions -------------------------------------------------------------------

    def _matching(self, rtype: ResourceType, name: str) -> list[AclBinding]:
        out: list[AclBinding] = []
        index = self._index
        literal = index.get((rtype, PatternType.LITERAL), {})
        out += literal.get(name, [])
        if name != WILDCARD:
            out += literal.get(WILDCARD, [])
        for prefix, bs in index.get((rtype, PatternType.PREFIXED), {}).items():
            if name.startswith(prefix):
                out += bs
        return out

    def authorize(self, principal: KafkaPrincipal, host: str, op: AclOperation, rtype: ResourceType, name: str) -> bool:
        who = str(principal)
        if who in self.super_users:
            return True
        key = (who, host, op, rtype, name)
        cache = self._cache  # taken before the ACLs: a reload meanwhile replaces it, so no stale entry survives
        hit = cache.get(key)
        if hit is not None:
            return hit
        decision = self._decide(who, host, op, self._matching(rtype, name))
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = decision
        return decision

    def _decide(self, who: str, host: str, op: AclOperation, acls: list[AclBinding]) -> bool:
        if not acls:
            return self.allow_if_no_acl
        principals = (who, WILDCARD_PRINCIPAL)
        hosts = (host, WILDCARD)
        for b in acls:
            e = b.entry
            if (e.permission == AclPermissionType.DENY and e.principal in principals and e.host in hosts
                    and e.operation in (op, AclOperation.ALL)):
                return False
        allowed_ops = _IMPLIED.get(op, (op,))
        return any(e.permission == AclPermissionType.ALLOW and e.principal in principals and e.host in hosts
                   and (e.operation == AclOperation.ALL or e.operation in allowed_ops) for e in (b.entry for b in acls))

    def authorize_any(self, principal: KafkaPrincipal, host: str, op: AclOperation, rtype: ResourceType) -> bool:
        """Kafka's authorizeByResourceType (KIP-679): may the principal do `op` on *some*
        resource of this type? True when an Allow ACL exists for it that no Deny covers."""
        who = str(principal)
        if who in self.super_users:
            return True
        principals, hosts = (who, WILDCARD_PRINCIPAL), (host, WILDCARD)
        of_type = [b for b in self._bindings if b.pattern.resource_type == rtype]
        if not of_type:
            return self.allow_if_no_acl
        denies = [b for b in of_type if b.entry.permission == AclPermissionType.DENY and b.entry.principal in principals
                  and b.entry.host in hosts and b.entry.operation in (op, AclOperation.ALL)]
        if any(d.pattern.pattern_type == PatternType.LITERAL and d.pattern.name == WILDCARD for d in denies):
            return False
        for b in of_type:
            e = b.entry
            if not (e.permission == AclPermissionType.ALLOW and e.principal in principals and e.host in hosts
                    and e.operation in (op, AclOperation.ALL)):
                continue
            denied = any((d.pattern.pattern_type == PatternType.LITERAL and d.pattern.name == b.pattern.name
                          and b.pattern.pattern_type == PatternType.LITERAL)
                         or (d.pattern.pattern_type == PatternType.PREFIXED and b.pattern.name.startswith(d.pattern.name))
                         for d in denies)
            if not denied:
                return True
        return False

    def authorized_operations(self, principal: KafkaPrincipal, host: str, rtype: ResourceType, name: str) -> int:
        """KIP-430: the bit set (1 << operation code) of what the principal may do on the resource."""
        mask = 0
        for op in OPERATIONS_BY_RESOURCE.get(rtype, ()):
            if self.authorize(principal, host, op, rtype, name):
                mask |= 1 << op
        return mask

    # ----- administration --------------------------------------------------------------

    def acls(self, flt: AclBindingFilter | None = None) -> list[AclBinding]:
        return [b for b in self._bindings if flt is None or flt.matches(b)]

    def create(self, bindings: list[AclBinding]) -> None:
        """Durable before returning (blocking: call off the event loop)."""
        self.store.add(bindings)
        self.reload()

    def delete(self, filters: list[AclBindingFilter]) -> list[list[AclBinding]]:
        """Removes what each filter matches; per filter, the bindings it removed."""
        current = self.store.load()
        matched = [[b for b in current if f.matches(b)] for f in filters]
        gone = list(dict.fromkeys(b for m in matched for b in m))
        if gone:
            self.store.remove(gone)
            self.reload()
        return matched


def all_operations(rtype: ResourceType) -> int:
    """KIP-430 bit set of every operation on a resource type (no authorizer: everything is allowed)."""
    mask = 0
    for op in OPERATIONS_BY_RESOURCE.get(rtype, ()):
        mask |= 1 << op
    return mask
