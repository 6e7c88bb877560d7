"""`pystream users`: SCRAM credentials over Kafka's DescribeUserScramCredentials and
AlterUserScramCredentials (KIP-554), as ``kafka-configs --entity-type users
--alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=...]'`` does.

The password never leaves this process: the client salts and hashes it
(SaltedPassword = PBKDF2) and sends salt, iterations and SaltedPassword.
"""

from __future__ import annotations

import secrets
from typing import Any

from pystream.protocol.client import KafkaClient, check
from pystream.protocol.schema_data import ApiKey
from pystream.security.scram import DEFAULT_ITERATIONS, mechanism_id, mechanism_name, salted_password
from pystream.tools import ToolError

__all__ = ["delete", "describe", "render", "upsert"]


def _mechanism(name: str) -> str:
    try:
        return mechanism_name(mechanism_id(name))
    except ValueError as e:
        raise ToolError(str(e)) from None


def describe(client: KafkaClient, names: list[str] | None = None) -> list[dict[str, Any]]:
    """[{user, mechanisms: {SCRAM-SHA-256: iterations, ...}}]; a named user without credentials is an error."""
    resp = client.request(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, {"users": [{"name": n} for n in names] if names else None})
    check(resp["error_code"], resp.get("error_message"), "DescribeUserScramCredentials")
    out = []
    for r in resp["results"]:
        check(r["error_code"], r.get("error_message"), f"user {r['user']!r}")
        out.append({"user": r["user"], "mechanisms": {mechanism_name(c["mechanism"]): c["iterations"] for c in r["credential_infos"]}})
    return out


def _alter(client: KafkaClient, deletions: list[dict[str, Any]], upsertions: list[dict[str, Any]]) -> None:
    resp = client.request(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, {"deletions": deletions, "upsertions": upsertions})
    for r in resp["results"]:
        check(r["error_code"], r.get("error_message"), f"user {r['user']!r}")


def upsert(client: KafkaClient, name: str, password: str, mechanism: str = "SCRAM-SHA-256",
           iterations: int = DEFAULT_ITERATIONS) -> None:
    """Creates or replaces the user's credential for `mechanism`."""
    if not password:
        raise ToolError("the password must not be empty")
    mech = _mechanism(mechanism)
    salt = secrets.token_bytes(32)
    _alter(client, [], [{"name": name, "mechanism": mechanism_id(mech), "iterations": iterations, "salt": salt,
                         "salted_password": salted_password(mech, password, salt, iterations)}])


def delete(client: KafkaClient, name: str, mechanism: str = "SCRAM-SHA-256") -> None:
    mech = _mechanism(mechanism)
    _alter(client, [{"name": name, "mechanism": mechanism_id(mech)}], [])


def render(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table("USER", "MECHANISM", "ITERATIONS", box=None)
    for r in rows:
        for mech, iterations in sorted(r["mechanisms"].items()):
            table.add_row(r["user"], mech, str(iterations))
    return table
