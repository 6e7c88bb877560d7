"""`pystream groups list|describe|delete|reset-offsets` over the Kafka protocol (kafka-consumer-groups)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pystream.protocol.client import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, KafkaClient, KafkaError, error_name
from pystream.tools import ToolError

__all__ = ["ResetSpec", "delete", "describe", "execute_reset", "list_groups", "parse_duration", "parse_topic_partitions",
           "plan_reset", "render_describe", "render_list", "render_plan"]

Progress = Callable[[int, str], None]  # (steps done since the last call, what is being done)


def list_groups(client: KafkaClient) -> list[dict[str, Any]]:
    """[{group, state, protocol_type}] sorted by group id."""
    return [{"group": g["group_id"], "state": g.get("group_state") or "", "protocol_type": g["protocol_type"]}
            for g in client.list_groups()]


def describe(client: KafkaClient, group: str) -> dict[str, Any]:
    """{group, state, protocol_type, protocol, members: [...], offsets: [{topic, partition, committed,
    log_end, lag, member}]} (lag is None without a committed offset)."""
    d = client.describe_groups([group])[0]
    if d["group_state"] in ("Dead", ""):
        d = _consumer_group(client, group) or d  # DescribeGroups does not describe KIP-848 groups
    committed = client.offset_fetch(group)
    if d["group_state"] in ("Dead", "") and not committed and not d["members"]:
        raise ToolError(f"consumer group {group!r} does not exist")
    owner: dict[tuple[str, int], str] = {}
    members = []
    for m in d["members"]:
        assignment = m.get("assignment") or {}
        for t, ps in assignment.items():
            for p in ps:
                owner[(t, p)] = m["member_id"]
        members.append({"member_id": m["member_id"], "client_id": m["client_id"], "host": m["client_host"],
                        "instance_id": m.get("group_instance_id"),
                        "assignment": {t: sorted(ps) for t, ps in sorted(assignment.items())}})
    offsets = []
    for tp in sorted(set(committed) | set(owner)):
        try:
            end = client.list_offsets(tp[0], tp[1], LATEST_TIMESTAMP)[0]
        except KafkaError:
            end = None
        c = committed.get(tp)
        lag = None if c is None or end is None else max(0, end - c)
        offsets.append({"topic": tp[0], "partition": tp[1], "committed": c, "log_end": end, "lag": lag,
                        "member": owner.get(tp)})
    return {"group": group, "state": d["group_state"], "protocol_type": d["protocol_type"],
            "protocol": d["protocol_data"], "members": members, "offsets": offsets}


def _consumer_group(client: KafkaClient, group: str) -> dict[str, Any] | None:
    """A group of the consumer protocol (KIP-848) in DescribeGroups' shape (the protocol is its
    assignor); None when it is not one, or the broker does not know the API."""
    try:
        d = client.consumer_group_describe([group])[0]
    except KafkaError as e:
        if e.code == 35:  # UNSUPPORTED_VERSION: a broker without the consumer protocol
            return None
        raise
    if d["error_code"]:
        return None
    return {"group_state": d["group_state"], "protocol_type": "consumer", "protocol_data": d["assignor_name"],
            "members": [{"member_id": m["member_id"], "client_id": m["client_id"], "client_host": m["client_host"],
                         "group_instance_id": m["instance_id"], "assignment": m["assignment"]} for m in d["members"]]}


def render_list(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table("group", "state", "protocol type", box=None, header_style="bold")
    for r in rows:
        table.add_row(r["group"], r["state"] or "-", r["protocol_type"] or "-")
    return table


def _dash(v: Any) -> str:
    return "-" if v is None else str(v)


def render_describe(d: dict[str, Any]) -> list[Any]:
    from rich.table import Table

    head = (f"[bold]Group:[/bold] {d['group']}  [bold]State:[/bold] {d['state'] or '-'}  "
            f"[bold]Protocol:[/bold] {d['protocol_type'] or '-'}/{d['protocol'] or '-'}  "
            f"[bold]Members:[/bold] {len(d['members'])}")
    out: list[Any] = [head]
    if d["members"]:
        members = Table("member id", "client id", "host", "assignment", box=None, header_style="bold")
        for m in d["members"]:
            assignment = " ".join(f"{t}:{','.join(map(str, ps))}" for t, ps in m["assignment"].items())
            members.add_row(m["member_id"], m["client_id"], m["host"], assignment or "-")
        out.append(members)
    offsets = Table("topic", "partition", "committed offset", "log end offset", "lag", "member id",
                    box=None, header_style="bold")
    for o in d["offsets"]:
        offsets.add_row(o["topic"], str(o["partition"]), _dash(o["committed"]), _dash(o["log_end"]), _dash(o["lag"]),
                        _dash(o["member"]))
    out.append(offsets)
    return out


# ----- delete ----------------------------------------------------------------------------


def delete(client: KafkaClient, groups: Iterable[str]) -> dict[str, str | None]:
    """DeleteGroups: {group: None if deleted, else the error name (NON_EMPTY_GROUP while it has
    members, GROUP_ID_NOT_FOUND, ...)}."""
    return {g: (error_name(code) if code else None) for g, code in client.delete_groups(groups).items()}


# ----- reset-offsets ----------------------------------------------------------------------

_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.IGNORECASE)
_INACTIVE = ("Empty", "Dead", "")


def parse_duration(text: str) -> int:
    """An ISO-8601 duration as Java's Duration.parse reads it ('PnDTnHnMn.nS', e.g. P1DT2H, PT30M) -> ms."""
    m = _DURATION.fullmatch(text.strip())
    if m is None or not any(m.groups()) or text.strip().upper().endswith("T"):
        raise ToolError(f"--by-duration {text!r}: expected an ISO-8601 duration PnDTnHnMnS, e.g. P1DT2H or PT30M")
    d, h, mi, sec = (float(x) if x else 0.0 for x in m.groups())
    return int((((d * 24 + h) * 60 + mi) * 60 + sec) * 1000)


def parse_datetime(text: str) -> int:
    """--to-datetime 'YYYY-MM-DDTHH:mm:SS.sss' (local time) or with a zone (Z, +01:00) -> epoch ms."""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ToolError(f"--to-datetime {text!r}: expected YYYY-MM-DDTHH:mm:SS.sss, optionally with a zone "
                        "(Z, +01:00)") from None
    return int(dt.timestamp() * 1000)  # a naive datetime is local time, as kafka-consumer-groups reads it


def parse_topic_partitions(items: Iterable[str]) -> dict[str, list[int] | None]:
    """--topic 'T' (all partitions) or 'T:0,2' (repeatable) -> {topic: partitions or None}."""
    out: dict[str, list[int] | None] = {}
    for item in items:
        topic, sep, parts = item.partition(":")
        if not topic:
            raise ToolError(f"--topic {item!r}: expected TOPIC or TOPIC:P,P")
        if not sep:
            out[topic] = None
            continue
        try:
            ps = sorted({int(p) for p in parts.split(",") if p.strip()})
        except ValueError:
            raise ToolError(f"--topic {item!r}: partitions must be integers, e.g. {topic}:0,1") from None
        if not ps or min(ps) < 0:
            raise ToolError(f"--topic {item!r}: expected TOPIC:P,P with partitions 0 or more")
        if topic not in out or out[topic] is not None:  # None (every partition) stays None
            out[topic] = sorted(set(out.get(topic) or []) | set(ps))
    return out


@dataclass(frozen=True)
class ResetSpec:
    """Where the offsets go: one of kafka-consumer-groups' --to-* / --shift-by / --by-duration."""

    kind: str  # earliest | latest | current | offset | datetime | shift | duration
    value: int = 0  # the offset, the timestamp ms, the shift, or the duration ms


def _timestamp_offset(client: KafkaClient, topic: str, partition: int, ts: int) -> int:
    """The first offset with a timestamp >= ts, else the log end offset (as Kafka's tool)."""
    offset, _ = client.list_offsets(topic, partition, ts)
    return offset if offset >= 0 else client.list_offsets(topic, partition, LATEST_TIMESTAMP)[0]


def plan_reset(client: KafkaClient, group: str, topics: dict[str, list[int] | None] | None, spec: ResetSpec,
               progress: Progress | None = None) -> list[dict[str, Any]]:
    """The new offset of each partition ([{topic, partition, current, new}], sorted), as
    kafka-consumer-groups computes it: targets are clamped to [log start, log end]
    (with --to-offset and --shift-by). `topics` None: every topic the group has committed
    offsets for. ToolError while the group has members (its offsets can only be reset when
    it is inactive) or when a shift has no committed offset to start from."""
    (d,) = client.describe_groups([group])
    if d["group_state"] not in _INACTIVE:
        raise ToolError(f"assignments can only be reset if the group {group!r} is inactive, "
                        f"but the current state is {d['group_state']}")
    committed = client.offset_fetch(group)
    if topics is None:
        tps = sorted(committed)
        if not tps:
            raise ToolError(f"group {group!r} has no committed offsets: name the topics with --topic")
    else:
        tps = []
        for t, ps in sorted(topics.items()):
            known = client.partitions(t)
            missing = [p for p in ps or [] if p not in known]
            if missing:
                raise ToolError(f"topic {t!r} has no partition {missing[0]} (it has {len(known)})")
            tps += [(t, p) for p in (ps if ps is not None else known)]
    now = int(time.time() * 1000)
    plan = []
    for t, p in tps:
        current = committed.get((t, p))
        if spec.kind == "earliest":
            new = client.list_offsets(t, p, EARLIEST_TIMESTAMP)[0]
        elif spec.kind == "latest":
            new = client.list_offsets(t, p, LATEST_TIMESTAMP)[0]
        elif spec.kind == "current":
            new = current if current is not None else client.list_offsets(t, p, LATEST_TIMESTAMP)[0]
        elif spec.kind == "datetime":
            new = _timestamp_offset(client, t, p, spec.value)
        elif spec.kind == "duration":
            new = _timestamp_offset(client, t, p, now - spec.value)
        else:
            if spec.kind == "shift":
                if current is None:
                    raise ToolError(f"cannot shift the offset of {t}-{p}: the group has no committed offset there")
                target = current + spec.value
            else:
                target = spec.value
            start = client.list_offsets(t, p, EARLIEST_TIMESTAMP)[0]
            end = client.list_offsets(t, p, LATEST_TIMESTAMP)[0]
            new = min(max(target, start), end)
        plan.append({"topic": t, "partition": p, "current": current, "new": new})
        if progress is not None:
            progress(1, f"{t}-{p}")
    return plan


def execute_reset(client: KafkaClient, group: str, plan: list[dict[str, Any]], progress: Progress | None = None,
                  chunk: int = 200) -> None:
    """Commits the plan's offsets (simple commits, generation -1), `chunk` partitions per request;
    ToolError if a member joined meanwhile (the coordinator refuses such commits)."""
    (d,) = client.describe_groups([group])
    if d["group_state"] not in _INACTIVE:
        raise ToolError(f"the group {group!r} became active ({d['group_state']}) before the offsets were reset")
    for i in range(0, len(plan), chunk):
        part = plan[i:i + chunk]
        try:
            client.offset_commit(group, {(r["topic"], r["partition"]): r["new"] for r in part})
        except KafkaError as e:
            raise ToolError(f"resetting the offsets of group {group!r} failed after {i} of {len(plan)} partitions: {e}") from None
        if progress is not None:
            progress(len(part), f"committed {i + len(part)}/{len(plan)}")


def render_plan(group: str, plan: list[dict[str, Any]]) -> Any:
    """kafka-consumer-groups' table: GROUP TOPIC PARTITION NEW-OFFSET."""
    from rich.table import Table

    table = Table("GROUP", "TOPIC", "PARTITION", "NEW-OFFSET", box=None, header_style="bold")
    for r in plan:
        table.add_row(group, r["topic"], str(r["partition"]), str(r["new"]))
    return table
