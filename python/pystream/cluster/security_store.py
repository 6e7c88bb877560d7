"""Security state of a cluster in ZooKeeper, in Kafka's own znodes: the
`pystream.security.stores` interfaces over a broker's `ClusterStore` session.

    /kafka-acl/<ResourceType>/<name>                    LITERAL ACLs  {"version": 1, "acls": [...]}
    /kafka-acl-extended/prefixed/<ResourceType>/<name>  PREFIXED ACLs
    /kafka-acl-changes/acl_changes_<seq>                a change notification (literal)
    /kafka-acl-extended-changes/acl_changes_<seq>       a change notification (prefixed)
    /config/users/<user>                                {"version": 1, "config": {...}}: SCRAM credentials, quotas
    /config/users/<user>/clients/<client-id>            quotas of a user's client
    /config/clients/<client-id>                         quotas of a client id
    /config/changes/config_change_<seq>                 {"version": 2, "entity_path": "users/alice"}

User names and client ids in paths are URL-encoded (Kafka's Sanitizer);
``<default>`` is the default entity. Every broker watches the notification
znodes and reloads on a change, so an ACL or credential written through one
broker applies on all. Read-modify-writes are conditional on the znode
version (a lost race re-reads). Callbacks run on a thread of this module's
own, never on kazoo's event thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, unquote

from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.recipe.watchers import ChildrenWatch

from pystream.cluster.zk import ClusterStore, _dumps, _loads
from pystream.security.acl import AclBinding, PatternType, ResourcePattern, ResourceType, java_name, parse_enum
from pystream.security.stores import EntityKey, acl_entry_from_json, acl_entry_to_json, entity_key

__all__ = ["ZkAclStore", "ZkEntityConfigStore"]

log = logging.getLogger("pystream.cluster")

ACL_LITERAL = "/kafka-acl"
ACL_PREFIXED = "/kafka-acl-extended/prefixed"
ACL_CHANGES = "/kafka-acl-changes"
ACL_EXTENDED_CHANGES = "/kafka-acl-extended-changes"
CONFIG = "/config"
CONFIG_CHANGES = "/config/changes"
DEFAULT = "<default>"
KEEP_NOTIFICATIONS = 100  # older change notifications are deleted by the writer


def _sanitize(name: str | None) -> str:
    """Kafka's Sanitizer: URL-encoding (a space is %20, * is %2A); None is <default>."""
    return DEFAULT if name is None else quote(name, safe="").replace("~", "%7E")


def _desanitize(text: str) -> str | None:
    return None if text == DEFAULT else unquote(text)


def _node_name(name: str) -> str:
    """A resource name as a znode name (only '/' and '%' are escaped; Kafka's names are unchanged)."""
    return name.replace("%", "%25").replace("/", "%2F")


class _ZkBase:
    def __init__(self, zk: ClusterStore, paths: tuple[str, ...], change_paths: tuple[str, ...]) -> None:
        self.client = zk.client
        self.change_paths = change_paths
        for p in (*paths, *change_paths):
            self.client.ensure_path(p)
        self._callbacks: list[Callable[[], None]] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="zk-security")
        self._watching = False

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)
        if self._watching:
            return
        self._watching = True
        for path in self.change_paths:
            first = [True]

            def changed(children: list[str], first: list[bool] = first) -> None:
                if first[0]:  # the watch's first call reports the current state: loaded already
                    first[0] = False
                    return
                self._pool.submit(self._notify)

            ChildrenWatch(self.client, path, changed)

    def _notify(self) -> None:
        for cb in list(self._callbacks):
            try:
                cb()
            except Exception:
                log.exception("reloading security state from ZooKeeper failed")

    def _announce(self, path: str, value: Any) -> None:
        """A sequential change notification; the oldest beyond KEEP_NOTIFICATIONS go."""
        prefix = "config_change_" if path == CONFIG_CHANGES else "acl_changes_"
        self.client.create(f"{path}/{prefix}", _dumps(value) if not isinstance(value, bytes) else value, sequence=True)
        children = sorted(self.client.get_children(path))
        for old in children[:-KEEP_NOTIFICATIONS]:
            try:
                self.client.delete(f"{path}/{old}")
            except NoNodeError:
                pass

    def _update(self, path: str, change: Callable[[Any], Any]) -> None:
        """Read-modify-write of a JSON znode, retried on a lost race; change -> None deletes it."""
        while True:
            try:
                data, stat = self.client.get(path)
                current, version = _loads(data), stat.version
            except NoNodeError:
                current, version = None, -1
            new = change(current)
            try:
                if new is None:
                    if version >= 0:
                        self.client.delete(path, version=version)
                elif version < 0:
                    self.client.create(path, _dumps(new), makepath=True)
                else:
                    self.client.set(path, _dumps(new), version=version)
                return
            except (BadVersionError, NodeExistsError, NoNodeError):
                continue
            except NotEmptyError:  # an entity with children (a user's client configs) keeps an empty node
                self.client.set(path, _dumps({"version": 1, "config": {}}))
                return


class ZkAclStore(_ZkBase):
    def __init__(self, zk: ClusterStore) -> None:
        super().__init__(zk, (ACL_LITERAL, ACL_PREFIXED), (ACL_CHANGES, ACL_EXTENDED_CHANGES))

    @staticmethod
    def _root(pattern_type: PatternType) -> str:
        return ACL_PREFIXED if pattern_type == PatternType.PREFIXED else ACL_LITERAL

    def load(self) -> list[AclBinding]:
        out: list[AclBinding] = []
        for root, ptype in ((ACL_LITERAL, PatternType.LITERAL), (ACL_PREFIXED, PatternType.PREFIXED)):
            for type_name in self.client.get_children(root):
                if root == ACL_LITERAL and type_name == "prefixed":
                    continue
                try:
                    rtype = ResourceType(parse_enum(ResourceType, type_name))
                except ValueError:
                    continue
                for node in self.client.get_children(f"{root}/{type_name}"):
                    try:
                        data, _ = self.client.get(f"{root}/{type_name}/{node}")
                    except NoNodeError:
                        continue
                    pattern = ResourcePattern(rtype, unquote(node) if "%" in node else node, ptype)
                    for d in (_loads(data) or {}).get("acls", []):
                        try:
                            out.append(AclBinding(pattern, acl_entry_from_json(d)))
                        except (KeyError, ValueError):
                            log.warning("ignoring a malformed ACL in %s/%s/%s: %r", root, type_name, node, d)
        return out

    def _apply(self, bindings: list[AclBinding], add: bool) -> None:
        by_pattern: dict[ResourcePattern, list[AclBinding]] = {}
        for b in bindings:
            by_pattern.setdefault(b.pattern, []).append(b)
        for pattern, bs in by_pattern.items():
            rows = [acl_entry_to_json(b.entry) for b in bs]
            path = f"{self._root(pattern.pattern_type)}/{java_name(pattern.resource_type)}/{_node_name(pattern.name)}"

            def change(current: Any, rows: list[dict[str, str]] = rows) -> Any:
                acls = list((current or {}).get("acls", []))
                if add:
                    acls += [r for r in rows if r not in acls]
                else:
                    acls = [a for a in acls if a not in rows]
                return {"version": 1, "acls": acls} if acls else None

            self._update(path, change)
            if pattern.pattern_type == PatternType.PREFIXED:
                self._announce(ACL_EXTENDED_CHANGES, {"version": 1, "resourceType": java_name(pattern.resource_type),
                                                      "name": pattern.name, "patternType": "Prefixed"})
            else:
                self._announce(ACL_CHANGES, f"{java_name(pattern.resource_type)}:{pattern.name}".encode())

    def add(self, bindings: list[AclBinding]) -> None:
        self._apply(bindings, True)

    def remove(self, bindings: list[AclBinding]) -> None:
        self._apply(bindings, False)


class ZkEntityConfigStore(_ZkBase):
    def __init__(self, zk: ClusterStore) -> None:
        super().__init__(zk, (f"{CONFIG}/users", f"{CONFIG}/clients"), (CONFIG_CHANGES,))

    @staticmethod
    def _path(key: EntityKey) -> str:
        parts = dict(key)
        if "user" in parts:
            path = f"users/{_sanitize(parts['user'])}"
            return path + (f"/clients/{_sanitize(parts['client-id'])}" if "client-id" in parts else "")
        return f"clients/{_sanitize(parts['client-id'])}"

    def _config(self, path: str) -> dict[str, str]:
        try:
            data, _ = self.client.get(path)
        except NoNodeError:
            return {}
        return {str(k): str(v) for k, v in ((_loads(data) or {}).get("config") or {}).items()}

    def load(self) -> dict[EntityKey, dict[str, str]]:
        out: dict[EntityKey, dict[str, str]] = {}
        for user in self.client.get_children(f"{CONFIG}/users"):
            base = f"{CONFIG}/users/{user}"
            if config := self._config(base):
                out[entity_key([("user", _desanitize(user))])] = config
            try:
                clients = self.client.get_children(f"{base}/clients")
            except NoNodeError:
                clients = []
            for client in clients:
                if config := self._config(f"{base}/clients/{client}"):
                    out[entity_key([("user", _desanitize(user)), ("client-id", _desanitize(client))])] = config
        for client in self.client.get_children(f"{CONFIG}/clients"):
            if config := self._config(f"{CONFIG}/clients/{client}"):
                out[entity_key([("client-id", _desanitize(client))])] = config
        return out

    def alter(self, changes: dict[EntityKey, dict[str, str | None]]) -> None:
        for key, updates in changes.items():
            rel = self._path(key)

            def change(current: Any, updates: dict[str, str | None] = updates) -> Any:
                config = dict((current or {}).get("config") or {})
                for k, v in updates.items():
                    if v is None:
                        config.pop(k, None)
                    else:
                        config[k] = v
                return {"version": 1, "config": config} if config else None

            self._update(f"{CONFIG}/{rel}", change)
            self._announce(CONFIG_CHANGES, {"version": 2, "entity_path": rel})
