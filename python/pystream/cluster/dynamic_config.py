"""Dynamic broker configs of a cluster in ZooKeeper, where Kafka keeps them.

``/config/brokers/<id>`` holds one broker's, ``/config/brokers/<default>``
the cluster-wide default, each ``{"version": 1, "config": {key: value}}``
(Kafka's format, string values). Every broker watches its own znode and the
default one, so a change made through any broker reaches the others at once.
Implements `pystream.server.dynamic_config.DynamicConfigStore`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.recipe.watchers import DataWatch

from pystream.cluster.zk import ClusterStore
from pystream.errors import LogDirectoryError
from pystream.server.dynamic_config import DEFAULT_ENTITY

__all__ = ["ZkDynamicConfigStore"]

CONFIG_BROKERS = "/config/brokers"


class ZkDynamicConfigStore:
    """The dynamic configs of broker `broker_id` and of the cluster default, in ZooKeeper (blocking calls)."""

    def __init__(self, zk: ClusterStore, broker_id: int) -> None:
        self.zk = zk
        self.entities = (DEFAULT_ENTITY, str(broker_id))
        self._watches: list[DataWatch] = []

    def load(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for entity in self.entities:
            path = f"{CONFIG_BROKERS}/{entity}"
            try:
                data, _stat = self.zk.client.get(path)
            except NoNodeError:
                continue
            try:
                config = json.loads(data.decode())["config"] if data else {}
            except (ValueError, KeyError, TypeError) as e:
                raise LogDirectoryError(f"malformed dynamic broker configs in ZooKeeper {path}: {e!r}") from e
            out[entity] = {str(k): str(v) for k, v in config.items()}
        return out

    def save(self, entity: str, configs: Mapping[str, str]) -> None:
        path = f"{CONFIG_BROKERS}/{entity}"
        data = json.dumps({"version": 1, "config": dict(configs)}).encode()
        try:
            self.zk.client.set(path, data)
        except NoNodeError:
            try:
                self.zk.client.create(path, data, makepath=True)
            except NodeExistsError:  # created meanwhile by another broker: last writer wins, as in Kafka
                self.zk.client.set(path, data)

    def watch(self, callback: Callable[[], None]) -> None:
        """`callback` (on kazoo's thread) after any change of either znode, made by any broker."""
        for entity in self.entities:
            first = [True]

            def changed(data: bytes | None, stat: object, first: list[bool] = first) -> None:
                if first[0]:  # DataWatch reports the current value once at once: not a change
                    first[0] = False
                    return
                callback()

            self._watches.append(DataWatch(self.zk.client, f"{CONFIG_BROKERS}/{entity}", changed))
