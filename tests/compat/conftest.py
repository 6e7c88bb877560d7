"""Fixtures for the compatibility tests: a REAL `pystream serve` process that
real Kafka clients (confluent-kafka, kafka-python, aiokafka, kcat) talk to.

`broker` (function scope) is a fresh broker on a fresh data directory, with
`restart()` (SIGTERM, wait, start on the same dir and port), `kill9()` and
`start()`; `module_broker` is shared by the read-only tests of one module;
`broker_factory(**overrides)` starts one with extra server.properties keys
(``broker_factory(**{"message.max.bytes": "2000"})``).

The broker's stderr goes to a file; its tail is attached to the report of a
failing test ("broker log" section).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import signal

import pytest
from compat_helpers import BrokerProcess

# pytest-timeout is not a dependency: a SIGALRM per test turns a hang into a failure.
TEST_TIMEOUT = 120


class TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _test_deadline(request: pytest.FixtureRequest) -> Iterator[None]:
    marker = request.node.get_closest_marker("deadline")
    seconds = int(marker.args[0]) if marker else TEST_TIMEOUT

    def fire(signum, frame):
        raise TestTimeout(f"test exceeded its {seconds}s deadline")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "deadline(seconds): per-test wall-clock limit (SIGALRM), default 120")

def _make(tmp: Path, overrides: dict[str, str] | None, request: pytest.FixtureRequest) -> BrokerProcess:
    b = BrokerProcess(tmp, overrides)
    request.node.__dict__.setdefault("_pystream_brokers", []).append(b)
    b.start()
    return b


@pytest.fixture
def broker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[BrokerProcess]:
    b = _make(tmp_path / "broker", None, request)
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def broker_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator:
    made: list[BrokerProcess] = []

    def make(**overrides: str) -> BrokerProcess:
        b = _make(tmp_path / f"broker{len(made)}", {k: str(v) for k, v in overrides.items()}, request)
        made.append(b)
        return b

    try:
        yield make
    finally:
        for b in made:
            b.stop()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("modbroker"))
    request.node.__dict__.setdefault("_pystream_brokers", []).append(b)
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    brokers = list(item.__dict__.get("_pystream_brokers", []))
    mod = item.getparent(pytest.Module)
    if mod is not None:
        brokers += mod.__dict__.get("_pystream_brokers", [])
    for i, b in enumerate(brokers):
        rep.sections.append((f"broker log {i} ({b.log_path})", b.log_tail()))


