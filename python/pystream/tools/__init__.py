"""The logic behind the `pystream` CLI's Kafka commands (topics, produce, consume, groups).

Everything here speaks the Kafka protocol through `pystream.protocol.client`,
so the commands work against Apache Kafka as well as `pystream serve`. The
click commands in `pystream.cli` parse options and call these functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from pystream.protocol.client import KafkaClient, KafkaConnectionError, KafkaError

__all__ = ["DEFAULT_BOOTSTRAP", "ToolError", "kafka_client", "parse_key_value_list", "parse_properties"]

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


class ToolError(Exception):
    """A user-facing failure: the CLI prints the message and exits with status 1."""


@contextmanager
def kafka_client(bootstrap: str, timeout: float = 30.0) -> Iterator[KafkaClient]:
    """A KafkaClient closed on exit; Kafka and connection errors become ToolError."""
    try:
        client = KafkaClient(bootstrap, client_id="pystream-cli", timeout=timeout)
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
