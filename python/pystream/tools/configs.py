"""`pystream configs describe|alter`: kafka-configs for topics and brokers.

DescribeConfigs and IncrementalAlterConfigs (SET / DELETE), so it works against
Apache Kafka too. Entities, as kafka-configs names them:

- ``--entity-type topics --entity-name T`` (describe without a name: every topic);
- ``--entity-type brokers --entity-name ID`` (describe without a name: every broker),
  or ``--entity-default`` (or no name for alter): the cluster-wide default of every broker.

Describe shows what is set on the entity (a topic's overrides, a broker's dynamic
configs) unless ``--all`` asks for every config with its source.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pystream.protocol.client import RESOURCE_BROKER, RESOURCE_TOPIC, KafkaClient
from pystream.tools import ToolError, parse_key_value_list

__all__ = ["ENTITY_TYPES", "SOURCES", "alter", "describe", "parse_add_config", "render"]

ENTITY_TYPES = {"topics": RESOURCE_TOPIC, "brokers": RESOURCE_BROKER}
# DescribeConfigs' ConfigSource values, named as kafka-configs prints them
SOURCES = {0: "UNKNOWN", 1: "DYNAMIC_TOPIC_CONFIG", 2: "DYNAMIC_BROKER_CONFIG", 3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
           4: "STATIC_BROKER_CONFIG", 5: "DEFAULT_CONFIG", 6: "DYNAMIC_BROKER_LOGGER_CONFIG", 7: "CLIENT_METRICS_CONFIG"}
_SET_HERE = {1, 2, 3}  # what kafka-configs --describe shows without --all


def parse_add_config(items: Iterable[str]) -> dict[str, str]:
    """--add-config 'k=v,k2=[a,b]' (repeatable) -> {"k": "v", "k2": "a,b"} (brackets hold a list value)."""
    out = {}
    for k, v in parse_key_value_list(items, "--add-config"):
        v = v.strip()
        out[k] = v[1:-1] if v.startswith("[") and v.endswith("]") else v
    return out


def _entities(client: KafkaClient, entity_type: str, name: str | None, default: bool) -> list[tuple[str, str]]:
    """(resource name, label) of each entity described: a name, the default (""), or all of that type."""
    if entity_type == "topics":
        if default:
            raise ToolError("topics have no default entity: give --entity-name")
        if name is not None:
            return [(name, f"topic {name}")]
        meta = client.metadata(None)
        return [(t["name"], f"topic {t['name']}") for t in sorted(meta["topics"], key=lambda t: t["name"])
                if not t["error_code"]]
    if default:
        return [("", "the default of every broker")]
    if name is not None:
        if not name.isdigit():
            raise ToolError(f"--entity-name {name!r}: a broker is named by its id, e.g. 0")
        return [(name, f"broker {name}")]
    client.metadata([])
    return [(str(b), f"broker {b}") for b in sorted(client.brokers)]


def _source(entry: dict[str, Any], resource_type: int) -> int:
    if "config_source" in entry and entry["config_source"] >= 0:
        return int(entry["config_source"])
    if entry.get("is_default"):
        return 5
    return 1 if resource_type == RESOURCE_TOPIC else 4  # DescribeConfigs v0 only says "not default"


def describe(client: KafkaClient, entity_type: str, name: str | None = None, default: bool = False,
             include_all: bool = False) -> list[dict[str, Any]]:
    """[{entity, configs: [{name, value, source, sensitive, read_only}]}] per entity; without
    `include_all` only the configs set on the entity itself (topic overrides, dynamic broker configs)."""
    rtype = ENTITY_TYPES[entity_type]
    out = []
    for resource, label in _entities(client, entity_type, name, default):
        rows = []
        for key, entry in sorted(client.describe_configs(resource, rtype).items()):
            source = _source(entry, rtype)
            if include_all or source in _SET_HERE:
                rows.append({"name": key, "value": entry.get("value"), "source": SOURCES.get(source, str(source)),
                             "sensitive": bool(entry.get("is_sensitive")), "read_only": bool(entry.get("read_only"))})
        out.append({"entity": label, "configs": rows})
    return out


def alter(client: KafkaClient, entity_type: str, name: str | None, default: bool, add: dict[str, str],
          delete: Iterable[str]) -> str:
    """IncrementalAlterConfigs of one entity (a broker without a name: the cluster default); a summary line."""
    delete = list(delete)
    if not add and not delete:
        raise ToolError("nothing to alter: give --add-config and/or --delete-config")
    both = sorted(set(add) & set(delete))
    if both:
        raise ToolError(f"config {both[0]} is both added and deleted")
    if entity_type == "topics" and (name is None or default):
        raise ToolError("altering topic configs needs --entity-name TOPIC")
    if entity_type == "brokers" and name is not None and default:
        raise ToolError("give --entity-name or --entity-default, not both")
    resource, label = (name, f"{entity_type[:-1]} {name}") if name is not None else ("", "the default of every broker")
    if entity_type == "brokers" and name is not None and not name.isdigit():
        raise ToolError(f"--entity-name {name!r}: a broker is named by its id, e.g. 0")
    client.incremental_alter_configs(ENTITY_TYPES[entity_type], resource, add, delete)
    return f"Completed updating config for {label}."


def render(described: list[dict[str, Any]], include_all: bool) -> list[Any]:
    """Per entity a heading ("Dynamic configs for topic t are:" as kafka-configs) and a table."""
    from rich.markup import escape
    from rich.table import Table

    out: list[Any] = []
    for d in described:
        out.append(f"{'All' if include_all else 'Dynamic'} configs for {escape(d['entity'])} are:")
        if not d["configs"]:
            continue
        table = Table("config", "value", "source", box=None, header_style="bold")
        for c in d["configs"]:
            value = "(sensitive)" if c["sensitive"] else ("null" if c["value"] is None else c["value"])
            table.add_row(c["name"], escape(value), c["source"] + (" (read-only)" if c["read_only"] and include_all else ""))
        out.append(table)
    return out
