"""`pystream log-dirs`: kafka-log-dirs --describe (DescribeLogDirs, API 35, at each broker).

Per broker and log directory: every partition's size on disk and offset lag (log end
minus high watermark), and the directory's volume (total / usable bytes, v4+).
`as_kafka_json` gives the JSON kafka-log-dirs prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pystream.protocol.client import KafkaClient, error_name
from pystream.tools import ToolError

__all__ = ["as_kafka_json", "describe", "parse_id_list", "render"]


def parse_id_list(text: str | None, what: str) -> list[str] | None:
    """'a,b' -> ['a', 'b'] (None stays None)."""
    if text is None:
        return None
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ToolError(f"{what} is empty")
    return items


def describe(client: KafkaClient, brokers: Iterable[int] | None = None, topics: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """[{broker, log_dir, error, total_bytes, usable_bytes, partitions: [{topic, partition, size, offset_lag,
    is_future}]}], sorted by broker, directory, topic and partition."""
    partitions = None
    if topics is not None:
        partitions = {t: client.partitions(t) for t in topics}  # UNKNOWN_TOPIC_OR_PARTITION for a wrong name
    if brokers is not None:
        client.metadata([])
        unknown = sorted(set(brokers) - set(client.brokers))
        if unknown:
            raise ToolError(f"broker {unknown[0]} is not in the cluster (brokers: {', '.join(map(str, sorted(client.brokers)))})")
    out = []
    for node, dirs in sorted(client.describe_log_dirs(brokers, partitions).items()):
        for d in sorted(dirs, key=lambda d: d["log_dir"]):
            parts = [{"topic": t["name"], "partition": p["partition_index"], "size": p["partition_size"],
                      "offset_lag": p["offset_lag"], "is_future": p["is_future_key"]}
                     for t in d["topics"] for p in t["partitions"]]
            out.append({"broker": node, "log_dir": d["log_dir"],
                        "error": error_name(d["error_code"]) if d["error_code"] else None,
                        "total_bytes": d.get("total_bytes", -1), "usable_bytes": d.get("usable_bytes", -1),
                        "partitions": sorted(parts, key=lambda p: (p["topic"], p["partition"]))})
    return out


def as_kafka_json(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The document kafka-log-dirs --describe prints."""
    brokers: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        brokers.setdefault(r["broker"], []).append({
            "logDir": r["log_dir"], "error": r["error"],
            "partitions": [{"partition": f"{p['topic']}-{p['partition']}", "size": p["size"], "offsetLag": p["offset_lag"],
                            "isFuture": p["is_future"]} for p in r["partitions"]]})
    return {"version": 1, "brokers": [{"broker": b, "logDirs": dirs} for b, dirs in sorted(brokers.items())]}


def _size(n: int) -> str:
    if n < 0:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


def render(rows: list[dict[str, Any]]) -> list[Any]:
    """Per log directory a heading (broker, path, volume) and a table of its partitions."""
    from rich.markup import escape
    from rich.table import Table

    out: list[Any] = []
    for r in rows:
        total = sum(p["size"] for p in r["partitions"])
        head = (f"[bold]Broker:[/bold] {r['broker']}  [bold]LogDir:[/bold] {escape(r['log_dir'])}  "
                f"[bold]Partitions:[/bold] {len(r['partitions'])}  [bold]Size:[/bold] {total}"
                f"  [bold]Volume:[/bold] {_size(r['usable_bytes'])} free of {_size(r['total_bytes'])}")
        if r["error"]:
            head += f"  [bold]Error:[/bold] {r['error']}"
        out.append(head)
        if r["partitions"]:
            table = Table("topic", "partition", "size", "offset lag", "future", box=None, header_style="bold")
            for p in r["partitions"]:
                table.add_row(p["topic"], str(p["partition"]), str(p["size"]), str(p["offset_lag"]),
                              "yes" if p["is_future"] else "no")
            out.append(table)
    return out
