"""`pystream topics create|list|describe|delete` over the Kafka protocol."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pystream.protocol.client import RESOURCE_TOPIC, KafkaClient, KafkaError
from pystream.tools import parse_properties

__all__ = ["create", "delete", "describe", "list_topics", "parse_configs", "render_describe", "render_list"]


def parse_configs(items: Iterable[str]) -> dict[str, str]:
    """["retention.ms=1000", ...] -> {"retention.ms": "1000"}."""
    return {k: v.strip() for k, v in parse_properties(items, "--config").items()}


def create(client: KafkaClient, name: str, partitions: int = -1, replication_factor: int = -1,
           configs: dict[str, str] | None = None) -> dict[str, Any]:
    return client.create_topic(name, partitions, replication_factor, configs or {})


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


def describe(client: KafkaClient, name: str) -> dict[str, Any]:
    """{name, topic_id, internal, partitions: [{partition, leader, replicas, isr, offline}], configs: {k: entry}}."""
    meta = client.metadata([name])
    topic = next((t for t in meta["topics"] if t["name"] == name), None)
    if topic is None:
        raise KafkaError(3, f"topic {name!r}")
    if topic["error_code"]:
        raise KafkaError(topic["error_code"], f"topic {name!r}")
    parts = [{"partition": p["partition_index"], "leader": p["leader_id"], "leader_epoch": p.get("leader_epoch", -1),
              "replicas": list(p["replica_nodes"]), "isr": list(p["isr_nodes"]), "offline": list(p.get("offline_replicas", [])),
              "error_code": p["error_code"]}
             for p in sorted(topic["partitions"], key=lambda p: p["partition_index"])]
    try:
        configs = client.describe_configs(name, RESOURCE_TOPIC)
    except KafkaError as e:
        if e.code not in (29, 35):  # authorization / not supported: describe without configs
            raise
        configs = {}
    topic_id = topic.get("topic_id")
    return {"name": name, "topic_id": None if topic_id is None or topic_id.int == 0 else str(topic_id),
            "internal": topic["is_internal"], "partitions": parts, "configs": configs}


def render_list(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table("topic", "partitions", "replication factor", box=None, header_style="bold")
    for r in rows:
        table.add_row(r["name"] + (" (internal)" if r["internal"] else ""), str(r["partitions"]), str(r["replication_factor"]))
    return table


def render_describe(d: dict[str, Any]) -> list[Any]:
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
        source = "default" if c.get("is_default") else "topic"
        value = "(sensitive)" if c.get("is_sensitive") else ("null" if c["value"] is None else c["value"])
        configs.add_row(key, value if c.get("is_default") else f"[bold]{value}[/bold]", source)
    return [head, parts, configs]
