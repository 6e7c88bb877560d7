"""Fixtures of the CLI tests: one real broker process for the module, plus a private one on demand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import Broker

from pystream.protocol.client import KafkaClient


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(tmp_path_factory.mktemp("cli-broker"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test alone (restarted by the test)."""
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def bootstrap(broker: Broker) -> str:
    return broker.bootstrap


@pytest.fixture
def client(bootstrap: str) -> Iterator[KafkaClient]:
    c = KafkaClient(bootstrap, timeout=10.0)
    yield c
    c.close()
