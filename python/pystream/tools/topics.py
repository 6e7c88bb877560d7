"""`pystream topics create|list|describe|delete` over the Kafka protocol."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pystream.protocol.client import RESOURCE_TOPIC, KafkaClient, KafkaError
from pystream.tools import ToolError, parse_properties

__all__ = ["alter", "create", "delete", "describe", "describe_many", "list_topics", "parse_configs", "partition_filter",
           "render_describe", "render_list", "render_partitions"]


def parse_configs(items: Iterable[str]) -> dict[str, str]:
    """["retention.ms=1000", ...] -> {"retention.ms": "1000"}."""
    return {k: v.strip() for k, v in parse_properties(items, "--config").items()}


TOPIC_ALREADY_EXISTS = 36


def create(client: KafkaClient, name: str, partitions: int = -1, replication_factor: int = -1,
           configs: dict[str, str] | None = None, if_not_exists: bool = False) -> dict[str, Any] | None:
    """CreateTopics of one topic: its result, or None when it exists and `if_not_exists`."""
    try:
        return client.create_topic(name, partitions, replication_factor, configs or {})
    except KafkaError as e:
        if if_not_exists and e.code == TOPIC_ALREADY_EXISTS:
            return None
        raise


def alter(client: KafkaClient, name: str, partitions: int | None = None, set_configs: dict[str, str] | None = None,
          delete_configs: Iterable[str] = ()) -> list[str]:
    """Grow `name` to `partitions` (CreatePartitions) and SET / DELETE topic configs
    (IncrementalAlterConfigs). Returns what was done, one line per change."""
    delete_configs = list(delete_configs)
    both = sorted(set(set_configs or {}) & set(delete_configs))
    if both:
        raise ToolError(f"config {both[0]} is both set and deleted")
    if partitions is None and not set_configs and not delete_configs:
        raise ToolError("nothing to alter: give --partitions, --config or --delete-config")
    client.topic(name, refresh=True)  # UNKNOWN_TOPIC_OR_PARTITION before any change
    done = []
    if partitions is not None:
        client.create_partitions(name, partitions)
        done.append(f"Topic {name} now has {partitions} partition(s).")
    if set_configs or delete_configs:
        client.incremental_alter_configs(RESOURCE_TOPIC, name, set_configs, delete_configs)
        changes = [f"{k}={v}" for k, v in (set_configs or {}).items()] + [f"-{k}" for k in delete_configs]
        done.append(f"Updated configs of topic {name}: {', '.join(changes)}.")
    return done


def delete(client: KafkaClient, name: str) -> None:
    client.delete_topics([name])


def list_topics(client: KafkaClient, include_internal: bool = False) -> list[dict[str, Any]]:
    """[{name, partitions, replication_factor, internal}] sorted by name."""
    meta = client.metadata(None)
    out = []
    for t in meta["topics"]:
        if t["error_code"] or (t["is_internal"] and not include_internal):
            continue
        parts = t["partitions"]
        rf = max((len(p["replica_nodes"]) for p in parts), default=0)
        out.append({"name": t["name"], "partitions": len(parts), "replication_factor": rf, "internal": t["is_internal"]})
    return sorted(out, key=lambda x: x["name"])


def _describe_topic(client: KafkaClient, topic: dict[str, Any], with_configs: bool) -> dict[str, Any]:
    name = topic["name"]
    if topic["error_code"]:
        raise KafkaError(topic["error_code"], f"topic {name!r}")
    parts = [{"partition": p["partition_index"], "leader": p["leader_id"], "leader_epoch": p.get("leader_epoch", -1),
              "replicas": list(p["replica_nodes"]), "isr": list(p["isr_nodes"]), "offline": list(p.get("offline_replicas", [])),
              "error_code": p["error_code"]}
             for p in sorted(topic["partitions"], key=lambda p: p["partition_index"])]
    configs = {}
    if with_configs:
        try:
            configs = client.describe_configs(name, RESOURCE_TOPIC)
        except KafkaError as e:
            if e.code not in (29, 35):  # authorization / not supported: describe without configs
                raise
    topic_id = topic.get("topic_id")
    return {"name": name, "topic_id": None if topic_id is None or topic_id.int == 0 else str(topic_id),
            "internal": topic["is_internal"], "partitions": parts, "configs": configs}


def describe(client: KafkaClient, name: str, with_configs: bool = True) -> dict[str, Any]:
    """{name, topic_id, internal, partitions: [{partition, leader, replicas, isr, offline}], configs: {k: entry}}."""
    return describe_many(client, [name], with_configs=with_configs)[0]


def describe_many(client: KafkaClient, names: Iterable[str] | None = None, include_internal: bool = False,
                  with_configs: bool = True) -> list[dict[str, Any]]:
    """`describe` of each topic, from one Metadata request (names None: every topic, internal ones
    only if asked), sorted by name. KafkaError for a named topic that does not exist."""
    wanted = None if names is None else list(names)
    meta = {t["name"]: t for t in client.metadata(wanted)["topics"]}
    if wanted is None:
        wanted = [n for n, t in meta.items() if not t["error_code"] and (include_internal or not t["is_internal"])]
    out = []
    for n in sorted(set(wanted)):
        topic = meta.get(n)
        if topic is None:
            raise KafkaError(3, f"topic {n!r}")
        out.append(_describe_topic(client, topic, with_configs))
    return out


def partition_filter(under_replicated: bool = False, unavailable: bool = False) -> Any:
    """A predicate on describe()'s partitions: under-replicated (ISR smaller than the replicas)
    and/or unavailable (no leader), as kafka-topics' --under-replicated-partitions /
    --unavailable-partitions; None when neither is asked."""
    if not (under_replicated or unavailable):
        return None

    def keep(p: dict[str, Any]) -> bool:
        return ((under_replicated and len(p["isr"]) < len(p["replicas"]))
                or (unavailable and (p["leader"] < 0 or p["error_code"] == 5)))
    return keep


def render_partitions(ds: list[dict[str, Any]], keep: Any) -> Any:
    """One table of the partitions `keep` accepts, over all the topics described."""
    from rich.table import Table

    table = Table("topic", "partition", "leader", "replicas", "isr", "offline", box=None, header_style="bold")
    for d in ds:
        for p in d["partitions"]:
            if keep(p):
                table.add_row(d["name"], str(p["partition"]), str(p["leader"]), ",".join(map(str, p["replicas"])),
                              ",".join(map(str, p["isr"])), ",".join(map(str, p["offline"])) or "-")
    return table


def render_list(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table("topic", "partitions", "replication factor", box=None, header_style="bold")
    for r in rows:
        table.add_row(r["name"] + (" (internal)" if r["internal"] else ""), str(r["partitions"]), str(r["replication_factor"]))
    return table


def render_describe(d: dict[str, Any], all_configs: bool = True) -> list[Any]:
    """Head line, partitions table and configs table (all_configs False: only the topic's own settings)."""
    from rich.table import Table

    rf = max((len(p["replicas"]) for p in d["partitions"]), default=0)
    head = (f"[bold]Topic:[/bold] {d['name']}  [bold]TopicId:[/bold] {d['topic_id'] or '-'}  "
            f"[bold]PartitionCount:[/bold] {len(d['partitions'])}  [bold]ReplicationFactor:[/bold] {rf}")
    parts = Table("partition", "leader", "replicas", "isr", "offline", box=None, header_style="bold")
    for p in d["partitions"]:
        parts.add_row(str(p["partition"]), str(p["leader"]), ",".join(map(str, p["replicas"])),
                      ",".join(map(str, p["isr"])), ",".join(map(str, p["offline"])) or "-")
    configs = Table("config", "value", "source", box=None, header_style="bold")
    for key in sorted(d["configs"]):
        c = d["configs"][key]
        if not all_configs and c.get("is_default"):
            continue
        source = "default" if c.get("is_default") else "topic"
        value = "(sensitive)" if c.get("is_sensitive") else ("null" if c["value"] is None else c["value"])
        configs.add_row(key, value if c.get("is_default") else f"[bold]{value}[/bold]", source)
    return [head, parts, configs] if configs.row_count else [head, parts]
