"""`pystream groups list|describe` over the Kafka protocol."""

from __future__ import annotations

from typing import Any

from pystream.protocol.client import LATEST_TIMESTAMP, KafkaClient, KafkaError
from pystream.tools import ToolError

__all__ = ["describe", "list_groups", "render_describe", "render_list"]


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
