"""`pystream quotas`: client quotas over Kafka's DescribeClientQuotas and
AlterClientQuotas (KIP-546), as ``kafka-configs --entity-type users|clients``
does for ``producer_byte_rate``, ``consumer_byte_rate`` and ``request_percentage``.

An entity is a user, a client id, or both; None names the default entity
(``--user-default`` / ``--client-default``).
"""

from __future__ import annotations

from typing import Any

from pystream.protocol.client import KafkaClient, check
from pystream.protocol.schema_data import ApiKey
from pystream.tools import ToolError

__all__ = ["alter", "describe", "entity", "parse_settings", "render"]

Entity = list[tuple[str, str | None]]


def entity(user: str | None, user_default: bool, client_id: str | None, client_default: bool) -> Entity:
    out: Entity = []
    if user is not None or user_default:
        out.append(("user", None if user_default else user))
    if client_id is not None or client_default:
        out.append(("client-id", None if client_default else client_id))
    if not out:
        raise ToolError("name an entity: --user NAME / --user-default and/or --client-id ID / --client-default")
    return out


def parse_settings(items: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            out[key.strip()] = float(value)
            if not sep:
                raise ValueError
        except ValueError:
            raise ToolError(f"--add expects KEY=NUMBER (e.g. producer_byte_rate=1048576), got {item!r}") from None
    return out


def alter(client: KafkaClient, ent: Entity, add: dict[str, float], remove: list[str]) -> None:
    ops = [{"key": k, "value": v, "remove": False} for k, v in add.items()] + [{"key": k, "value": 0.0, "remove": True} for k in remove]
    if not ops:
        raise ToolError("nothing to change: give --add KEY=VALUE and/or --delete KEY")
    resp = client.request(ApiKey.ALTER_CLIENT_QUOTAS, {"entries": [
        {"entity": [{"entity_type": t, "entity_name": n} for t, n in ent], "ops": ops}], "validate_only": False})
    for e in resp["entries"]:
        check(e["error_code"], e.get("error_message"), "AlterClientQuotas")


def describe(client: KafkaClient, ent: Entity | None = None) -> list[dict[str, Any]]:
    """[{entity: [(type, name)], values: {key: value}}] for the entities matching `ent` (None: all)."""
    components = [{"entity_type": t, "match_type": 1 if n is None else 0, "match": n} for t, n in (ent or [])]
    resp = client.request(ApiKey.DESCRIBE_CLIENT_QUOTAS, {"components": components, "strict": bool(ent)})
    check(resp["error_code"], resp.get("error_message"), "DescribeClientQuotas")
    return [{"entity": [(e["entity_type"], e["entity_name"]) for e in row["entity"]],
             "values": {v["key"]: v["value"] for v in row["values"]}} for row in resp["entries"] or []]


def render(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table("ENTITY", "QUOTA", "VALUE", box=None)
    for r in rows:
        name = ", ".join(f"{t}={'<default>' if n is None else n}" for t, n in r["entity"])
        for k, v in sorted(r["values"].items()):
            table.add_row(name, k, str(int(v)) if float(v).is_integer() else f"{v:g}")
    return table
