"""`pystream reassign`: move partition replicas between brokers.

Speaks only the Kafka protocol: AlterPartitionReassignments (api key 45) to
start a move, ListPartitionReassignments (46) to see what is still pending.
Both go to the controller (any broker of a pystream cluster answers them), so
the command works against Apache Kafka too.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from pystream.protocol.client import KafkaClient, error_name
from pystream.protocol.schema_data import ApiKey
from pystream.tools import ToolError

__all__ = ["alter", "list_pending", "parse_replicas", "render_pending", "wait_done"]

ALTER = int(ApiKey.ALTER_PARTITION_REASSIGNMENTS)
LIST = int(ApiKey.LIST_PARTITION_REASSIGNMENTS)


def parse_replicas(text: str) -> list[int]:
    """"1,2,4" -> [1, 2, 4]; ToolError on anything else (empty, non-integer, duplicates)."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ToolError("--replicas needs a comma-separated list of broker ids, e.g. 1,2,4")
    try:
        ids = [int(p) for p in parts]
    except ValueError:
        raise ToolError(f"--replicas {text!r}: broker ids must be integers, e.g. 1,2,4") from None
    if any(i < 0 for i in ids):
        raise ToolError(f"--replicas {text!r}: broker ids must not be negative")
    if len(set(ids)) != len(ids):
        raise ToolError(f"--replicas {text!r}: a broker appears twice")
    return ids


def _controller(client: KafkaClient, api_key: int, body: dict[str, Any]) -> dict[str, Any]:
    conn = client.any_connection()
    if api_key not in conn.broker_versions:
        raise ToolError(f"the broker at {conn.host}:{conn.port} does not support "
                        f"{'AlterPartitionReassignments' if api_key == ALTER else 'ListPartitionReassignments'}")
    return client._controller_request(api_key, body)


def alter(client: KafkaClient, topic: str, partitions: Iterable[int] | None, replicas: Sequence[int],
          timeout_ms: int = 30000) -> list[int]:
    """Ask for `topic`'s `partitions` (None: all) to be placed on `replicas` (the first is preferred leader).

    Returns the partitions accepted. Raises ToolError naming every partition
    the broker refused (and why) or an unknown topic/partition.
    """
    known = client.partitions(topic)  # KafkaError UNKNOWN_TOPIC_OR_PARTITION -> ToolError via kafka_client
    wanted = sorted(set(known if partitions is None else partitions))
    missing = [p for p in wanted if p not in known]
    if missing:
        raise ToolError(f"topic {topic!r} has no partition(s) {', '.join(map(str, missing))} "
                        f"(it has {len(known)}: 0..{len(known) - 1})")
    if not wanted:
        raise ToolError("no partition given: use --partition P (repeatable) or --all-partitions")
    body = {"timeout_ms": timeout_ms, "topics": [{"name": topic, "partitions": [
        {"partition_index": p, "replicas": list(replicas)} for p in wanted]}]}
    resp = _controller(client, ALTER, body)
    if resp.get("error_code"):
        raise ToolError(f"reassignment refused: {error_name(resp['error_code'])}"
                        + (f": {resp['error_message']}" if resp.get("error_message") else ""))
    errors, ok = [], []
    for t in resp.get("responses", []):
        for p in t["partitions"]:
            if p["error_code"]:
                msg = p.get("error_message")
                errors.append(f"{t['name']}-{p['partition_index']}: {error_name(p['error_code'])}"
                              + (f" ({msg})" if msg else ""))
            else:
                ok.append(p["partition_index"])
    if errors:
        done = f" (accepted: {', '.join(map(str, sorted(ok)))})" if ok else ""
        raise ToolError("reassignment refused for " + "; ".join(errors) + done)
    return sorted(ok)


def list_pending(client: KafkaClient, topics: dict[str, list[int]] | None = None) -> list[dict[str, Any]]:
    """Pending reassignments: rows {topic, partition, replicas, adding, removing}."""
    req_topics = None if topics is None else [{"name": n, "partition_indexes": ps} for n, ps in topics.items()]
    resp = _controller(client, LIST, {"timeout_ms": 30000, "topics": req_topics})
    if resp.get("error_code"):
        raise ToolError(f"cannot list reassignments: {error_name(resp['error_code'])}"
                        + (f": {resp['error_message']}" if resp.get("error_message") else ""))
    rows = []
    for t in resp.get("topics", []):
        for p in t["partitions"]:
            rows.append({"topic": t["name"], "partition": p["partition_index"], "replicas": list(p["replicas"]),
                         "adding": list(p["adding_replicas"]), "removing": list(p["removing_replicas"])})
    return sorted(rows, key=lambda r: (r["topic"], r["partition"]))


def wait_done(client: KafkaClient, timeout: float, topics: dict[str, list[int]] | None = None,
              interval: float = 0.5, on_progress: Any = None) -> None:
    """Poll until no reassignment (of `topics`, default all) is pending; ToolError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list_pending(client, topics)
        if not rows:
            return
        if on_progress is not None:
            on_progress(rows)
        if time.monotonic() >= deadline:
            left = ", ".join(f"{r['topic']}-{r['partition']}" for r in rows)
            raise ToolError(f"reassignment still pending after {timeout:g} s: {left}")
        time.sleep(interval)


def render_pending(rows: list[dict[str, Any]]) -> Any:
    """A rich Table of pending reassignments (or a one-line text when there are none)."""
    if not rows:
        return "No reassignment in progress."
    from rich.table import Table

    table = Table("TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING", box=None)

    def ids(xs: list[int]) -> str:
        return ",".join(map(str, xs)) or "-"

    for r in rows:
        table.add_row(r["topic"], str(r["partition"]), ids(r["replicas"]), ids(r["adding"]), ids(r["removing"]))
    return table
