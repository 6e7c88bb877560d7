"""Where dynamic broker configs are kept (IncrementalAlterConfigs / AlterConfigs on a broker resource).

Kafka keeps them in ZooKeeper, ``/config/brokers/<id>`` per broker and
``/config/brokers/<default>`` for the cluster-wide default, each
``{"version": 1, "config": {key: value}}`` with string values. The broker
talks to a `DynamicConfigStore`; a single broker uses `FileDynamicConfigStore`
(one file in its metadata log dir), a cluster node is given one over
ZooKeeper by the cluster layer (`pystream.cluster.dynamic_config`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from pystream.errors import LogDirectoryError

__all__ = ["DEFAULT_ENTITY", "DynamicConfigStore", "FileDynamicConfigStore"]

DEFAULT_ENTITY = "<default>"  # Kafka's entity name of the cluster-wide default (resource name "")
FILE_NAME = "dynamic-broker-configs.json"


class DynamicConfigStore(Protocol):
    """Durable dynamic broker configs: entity ("<default>" or a broker id) -> {key: value string}."""

    def load(self) -> dict[str, dict[str, str]]:
        """Every entity's configs (blocking; may be called from a worker thread)."""
        ...

    def save(self, entity: str, configs: Mapping[str, str]) -> None:
        """Replaces one entity's whole set durably before returning (blocking)."""
        ...

    def watch(self, callback: Callable[[], None]) -> None:
        """Calls `callback` (from any thread) when another broker changed the configs; a no-op for one broker."""
        ...


class FileDynamicConfigStore:
    """The single broker's store: one JSON file, replaced atomically (temp file, fsync, rename, fsync dir)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / FILE_NAME

    def load(self) -> dict[str, dict[str, str]]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise LogDirectoryError(f"cannot read dynamic broker configs {self.path}: {e}") from e
        entities = raw.get("entities") if isinstance(raw, dict) else None
        if not isinstance(entities, dict):
            raise LogDirectoryError(f"malformed dynamic broker configs {self.path}: no 'entities' object")
        return {str(e): {str(k): str(v) for k, v in c.items()} for e, c in entities.items() if isinstance(c, dict)}

    def save(self, entity: str, configs: Mapping[str, str]) -> None:
        data = self.load()
        if configs:
            data[entity] = dict(configs)
        else:
            data.pop(entity, None)
        tmp = self.path.with_name(FILE_NAME + ".tmp")
        with open(tmp, "w") as f:
            json.dump({"version": 1, "entities": data}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def watch(self, callback: Callable[[], None]) -> None:
        return None  # no other writer
