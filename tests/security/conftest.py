"""Fixtures of the security tests: real certificates (`pki`, made once per session
with the `cryptography` package) and real `pystream serve` processes with
several listeners (`secure_broker(...)`).

A broker here always has a PLAINTEXT listener named PLAINTEXT as well (used to
check it still serves others), unless asked otherwise.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "compat"))
from compat_helpers import BrokerProcess  # noqa: E402

from .certs import Pki, make_pki  # noqa: E402

ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"

# The compatibility tests' per-test deadline (SIGALRM, `deadline(seconds)` marker) and their
# "broker log" report sections (brokers registered in `_pystream_brokers`), reused as they are.
_spec = importlib.util.spec_from_file_location("_compat_conftest", Path(__file__).parents[1] / "compat" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_compat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_compat)
_test_deadline = _compat._test_deadline
pytest_configure = _compat.pytest_configure
pytest_runtest_makereport = _compat.pytest_runtest_makereport


def free_ports(n: int) -> list[int]:
    """n distinct free ports (the sockets stay bound until all are chosen, so no port comes twice)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class SecureBroker(BrokerProcess):
    """A `pystream serve` with the listeners named in `protocols` (name -> security protocol), each on a free port."""

    def __init__(self, base: Path, protocols: dict[str, str], overrides: dict[str, str] | None = None) -> None:
        self.ports = dict(zip(protocols, free_ports(len(protocols))))
        listeners = {
            "listeners": ",".join(f"{n}://127.0.0.1:{p}" for n, p in self.ports.items()),
            "listener.security.protocol.map": ",".join(f"{n}:{proto}" for n, proto in protocols.items()),
        }
        super().__init__(base, {**listeners, **(overrides or {})})
        self.port = next(iter(self.ports.values()))  # readiness: the first listener accepts

    def addr(self, listener: str) -> str:
        return f"127.0.0.1:{self.ports[listener]}"


def jaas(users: dict[str, str], module: str = "org.apache.kafka.common.security.plain.PlainLoginModule") -> str:
    opts = " ".join(f'user_{u}="{p}"' for u, p in users.items())
    return f'{module} required username="{ADMIN}" password="{ADMIN_PASSWORD}" {opts};'


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_overrides(pki: Pki, client_auth: str = "none") -> dict[str, str]:
    return {"ssl.keystore.location": str(pki.server.pem), "ssl.truststore.location": str(pki.ca.pem),
            "ssl.client.auth": client_auth}


def started(request: pytest.FixtureRequest, broker: SecureBroker) -> SecureBroker:
    """Starts `broker`, registered for the "broker log" section of a failing test's report."""
    request.node.__dict__.setdefault("_pystream_brokers", []).append(broker)
    broker.start()
    return broker


@pytest.fixture
def secure_broker(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """secure_broker({"SSL": "SSL", ...}, **overrides) -> a started SecureBroker (stopped at teardown)."""
    made: list[SecureBroker] = []

    def make(protocols: dict[str, str], **overrides: str) -> SecureBroker:
        b = SecureBroker(tmp_path / f"broker{len(made)}", protocols, {k: str(v) for k, v in overrides.items()})
        made.append(b)
        return started(request, b)

    try:
        yield make
    finally:
        for b in made:
            b.stop()
