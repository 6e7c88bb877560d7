"""The logic behind the `pystream` CLI's Kafka commands (topics, produce, consume, groups).

Everything here speaks the Kafka protocol through `pystream.protocol.client`,
so the commands work against Apache Kafka as well as `pystream serve`. The
click commands in `pystream.cli` parse options and call these functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pystream.protocol.client import KafkaClient, KafkaConnectionError, KafkaError

__all__ = ["DEFAULT_BOOTSTRAP", "ToolError", "kafka_client"]

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
