"""Where security state lives: ACLs and entity configs (SCRAM credentials and quotas).

Two small interfaces, each with a file implementation for a single broker
(in the data directory, replaced atomically) and a ZooKeeper one in a cluster
(`pystream.cluster.security_store`, Kafka's own znodes):

* `AclStore`: ACL bindings (Kafka's ``/kafka-acl``).
* `EntityConfigStore`: configs per entity — a user, a client id, or a user and
  client id, each possibly the default (``<default>``) — as Kafka keeps them
  in ``/config/users/<user>``, ``/config/clients/<id>`` and
  ``/config/users/<user>/clients/<id>``: SCRAM credentials (``SCRAM-SHA-256``
  = ``salt=…,stored_key=…,server_key=…,iterations=…``) and quotas
  (``producer_byte_rate``, ``consumer_byte_rate``, ``request_percentage``).

Both are synchronous (ZooKeeper round trips): call them off the event loop.
`subscribe(callback)` calls back (from any thread) after a change, including
one made by another broker.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from pystream.errors import SecurityConfigError
from pystream.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
    java_name,
    parse_enum,
)

__all__ = ["ACL_FILE", "ENTITY_FILE", "AclStore", "EntityConfigStore", "EntityKey", "FileAclStore", "FileEntityConfigStore",
           "acl_entry_from_json", "acl_entry_to_json", "entity_key"]

ACL_FILE = "acls.json"
ENTITY_FILE = "entity-configs.json"
ENTITY_TYPES = ("user", "client-id")  # the order of an EntityKey's parts

# (("user", "alice"),) / (("user", None), ("client-id", "c1")) ...; None is the default entity.
EntityKey = tuple[tuple[str, str | None], ...]


def entity_key(parts: Iterable[tuple[str, str | None]]) -> EntityKey:
    """A canonical key: types known and unique, in Kafka's order (user before client-id)."""
    d: dict[str, str | None] = {}
    for kind, name in parts:
        if kind not in ENTITY_TYPES:
            raise ValueError(f"entity type {kind!r} is not supported (user, client-id)")
        if kind in d:
            raise ValueError(f"entity type {kind!r} given twice")
        d[kind] = name
    if not d:
        raise ValueError("an entity needs a user or a client-id")
    return tuple((k, d[k]) for k in ENTITY_TYPES if k in d)


class AclStore(Protocol):
    def load(self) -> list[AclBinding]: ...
    def add(self, bindings: list[AclBinding]) -> None: ...
    def remove(self, bindings: list[AclBinding]) -> None: ...
    def subscribe(self, callback: Callable[[], None]) -> None: ...


class EntityConfigStore(Protocol):
    def load(self) -> dict[EntityKey, dict[str, str]]: ...
    def alter(self, changes: dict[EntityKey, dict[str, str | None]]) -> None:
        """Sets (value) or removes (None) keys of each entity; an entity left empty is removed."""
    def subscribe(self, callback: Callable[[], None]) -> None: ...


# Kafka's JSON form of one ACL entry (ZooKeeper /kafka-acl/<Type>/<name>: {"version": 1, "acls": [...]})
def acl_entry_to_json(e: AccessControlEntry) -> dict[str, str]:
    return {"principal": e.principal, "permissionType": java_name(e.permission), "operation": java_name(e.operation),
            "host": e.host}


def acl_entry_from_json(d: dict[str, Any]) -> AccessControlEntry:
    return AccessControlEntry(d["principal"], d["host"], AclOperation(parse_enum(AclOperation, d["operation"])),
                              AclPermissionType(parse_enum(AclPermissionType, d["permissionType"])))


def write_json_atomically(path: Path, data: Any) -> None:
    """Temp file, fsync, rename, fsync of the directory: the file is the old or the new one after a crash."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise SecurityConfigError(f"cannot read {path}: {e}") from None


class _Subscribers:
    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def notify(self) -> None:
        for cb in list(self._callbacks):
            cb()


class FileAclStore(_Subscribers):
    """ACLs of a single broker: ``<data dir>/acls.json``."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> list[AclBinding]:
        raw = _read_json(self.path) or {"acls": []}
        try:
            return [AclBinding(ResourcePattern(ResourceType(parse_enum(ResourceType, r["resourceType"])), r["name"],
                                               PatternType(parse_enum(PatternType, r["patternType"]))),
                               acl_entry_from_json(r)) for r in raw["acls"]]
        except (KeyError, TypeError, ValueError) as e:
            raise SecurityConfigError(f"malformed {self.path}: {e!r}") from None

    def _save(self, bindings: list[AclBinding]) -> None:
        rows = [{"resourceType": java_name(b.pattern.resource_type), "name": b.pattern.name,
                 "patternType": b.pattern.pattern_type.name, **acl_entry_to_json(b.entry)} for b in bindings]
        write_json_atomically(self.path, {"version": 1, "acls": rows})

    def add(self, bindings: list[AclBinding]) -> None:
        with self._lock:
            current = self.load()
            have = set(current)
            self._save(current + [b for b in dict.fromkeys(bindings) if b not in have])
        self.notify()

    def remove(self, bindings: list[AclBinding]) -> None:
        gone = set(bindings)
        with self._lock:
            self._save([b for b in self.load() if b not in gone])
        self.notify()


class FileEntityConfigStore(_Subscribers):
    """Entity configs of a single broker: ``<data dir>/entity-configs.json``."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> dict[EntityKey, dict[str, str]]:
        raw = _read_json(self.path) or {"entities": []}
        try:
            return {entity_key((p[0], p[1]) for p in row["entity"]): {str(k): str(v) for k, v in row["config"].items()}
                    for row in raw["entities"]}
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise SecurityConfigError(f"malformed {self.path}: {e!r}") from None

    def alter(self, changes: dict[EntityKey, dict[str, str | None]]) -> None:
        with self._lock:
            current = self.load()
            for key, updates in changes.items():
                config = current.setdefault(key, {})
                for k, v in updates.items():
                    if v is None:
                        config.pop(k, None)
                    else:
                        config[k] = v
                if not config:
                    del current[key]
            write_json_atomically(self.path, {"version": 1, "entities": [
                {"entity": [list(p) for p in key], "config": config} for key, config in sorted(current.items(), key=repr)]})
        self.notify()
