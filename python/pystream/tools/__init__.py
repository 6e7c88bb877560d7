"""The logic behind the `pystream` CLI's Kafka commands (topics, produce, consume, groups,
users, acls, quotas).

Everything here speaks the Kafka protocol through `pystream.protocol.client`,
so the commands work against Apache Kafka as well as `pystream serve`. The
click commands in `pystream.cli` parse options and call these functions.

A secured listener: a Kafka client properties file (``security.protocol``,
``ssl.truststore.location``, ``sasl.mechanism``, ``sasl.jaas.config``, ...)
given as ``--command-config`` or in the environment as PYSTREAM_COMMAND_CONFIG
(which every command honours).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from pystream.errors import SecurityConfigError
from pystream.protocol.client import KafkaClient, KafkaConnectionError, KafkaError
from pystream.security.client import PLAINTEXT, ClientSecurity

__all__ = ["COMMAND_CONFIG_ENV", "DEFAULT_BOOTSTRAP", "ToolError", "client_security", "kafka_client", "parse_key_value_list",
           "parse_properties"]

COMMAND_CONFIG_ENV = "PYSTREAM_COMMAND_CONFIG"

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


class ToolError(Exception):
    """A user-facing failure: the CLI prints the message and exits with status 1."""


def client_security(command_config: str | None = None) -> ClientSecurity:
    """TLS / SASL settings from `command_config` or $PYSTREAM_COMMAND_CONFIG (none: PLAINTEXT)."""
    path = command_config or os.environ.get(COMMAND_CONFIG_ENV)
    if not path:
        return PLAINTEXT
    try:
        return ClientSecurity.from_file(path)
    except SecurityConfigError as e:
        raise ToolError(f"command config {path}: {e}") from None


@contextmanager
def kafka_client(bootstrap: str, timeout: float = 30.0, command_config: str | None = None) -> Iterator[KafkaClient]:
    """A KafkaClient closed on exit; Kafka and connection errors become ToolError."""
    security = client_security(command_config)
    try:
        client = KafkaClient(bootstrap, client_id="pystream-cli", timeout=timeout, security=security)
    except ValueError as e:
        raise ToolError(str(e)) from None
    try:
        yield client
    except KafkaError as e:
        raise ToolError(str(e)) from None
    except KafkaConnectionError as e:
        hint = f" (is a broker running at {bootstrap}?)" if "cannot connect" in str(e) else ""
        raise ToolError(f"{e}{hint}") from None
    finally:
        client.close()


# A comma starts a new KEY=VALUE only when a key and "=" follow it (so a value may hold commas);
# [a,b] keeps a list value together, as in kafka-configs' --add-config 'k=[a,b]'.
_NEXT_ITEM = re.compile(r",(?=[A-Za-z0-9_.\-]+=)(?![^\[]*\])")


def parse_key_value_list(items: Iterable[str], option: str = "--config") -> list[tuple[str, str]]:
    """["k=v", "k2=v2,k3=v3", ...] -> [("k", "v"), ...] in order (repeated keys kept); ToolError
    naming `option` for an item without "=" or with an empty key."""
    out = []
    for item in items:
        for piece in _NEXT_ITEM.split(item):
            key, sep, value = piece.partition("=")
            if not sep or not key.strip():
                raise ToolError(f"{option} expects KEY=VALUE, got {piece!r}")
            out.append((key.strip(), value))  # values as given: a separator may be a space
    return out


def parse_properties(items: Iterable[str], option: str = "--config") -> dict[str, str]:
    """Like `parse_key_value_list`, as a dict (a later key wins)."""
    return dict(parse_key_value_list(items, option))
