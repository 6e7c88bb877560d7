"""A bounded fuzz of the TLS and SASL handshakes: truncated, oversized and garbage
input (mutated ClientHellos, random records, bad frame sizes, random and
truncated SCRAM/PLAIN tokens, requests out of order). The broker must never
crash or log an internal error, and must go on authenticating others.

Bounded: a fixed seed, CASES connections per listener, each closed by the
client after at most a short read.
"""

from __future__ import annotations

import random
import socket
import ssl
import struct
import time
from collections.abc import Iterator

import pytest

from pystream.protocol.codec import encode_request
from pystream.protocol.schema_data import ApiKey

from .certs import Pki
from .conftest import started, SecureBroker, jaas, tls_overrides
from .raw import Raw

CASES = 120
LISTENERS = {"PLAINTEXT": "PLAINTEXT", "SASL_PLAINTEXT": "SASL_PLAINTEXT", "SSL": "SSL", "SASL_SSL": "SASL_SSL"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki, request: pytest.FixtureRequest) -> Iterator[SecureBroker]:
    b = SecureBroker(tmp_path_factory.mktemp("fuzz"), LISTENERS, {
        **tls_overrides(pki, "requested"), "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "sasl.jaas.config": jaas({"alice": "alice-secret"}), "connections.authentication.timeout.ms": "1000",
        "sasl.server.max.receive.size": "4096", "connection.failed.authentication.delay.ms": "0"})
    started(request, b)
    try:
        yield b
    finally:
        b.stop()


def _client_hello() -> bytes:
    """The first flight of a real TLS client, from an in-memory handshake."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="fuzz")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def _send(port: int, payload: bytes, read: bool = True) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(payload)
            if read:
                s.settimeout(0.2)
                try:
                    s.recv(65536)
                except (socket.timeout, ConnectionError):
                    pass
    except (ConnectionError, socket.timeout):
        pass


def _frame(api_key: int, version: int, body: dict) -> bytes:
    return b"".join(bytes(x) for x in encode_request(api_key, version, 7, "fuzz", body))


def _mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    op = rng.randrange(5)
    if op == 0 and data:  # truncate
        return bytes(data[: rng.randrange(len(data))])
    if op == 1:  # flip bytes
        for _ in range(rng.randint(1, 8)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if op == 2:  # oversize: a huge length field or a long tail
        return bytes(data[:3]) + struct.pack(">H", 0xFFFF) + bytes(data[5:]) if len(data) > 5 else bytes(data) + b"\0" * 70000
    if op == 3:
        return rng.randbytes(rng.randint(1, 600))
    return bytes(data) + rng.randbytes(rng.randint(1, 64))


def _healthy(broker: SecureBroker, pki: Pki) -> None:
    """A real login still works on both SASL listeners, and the plain listener serves."""
    with Raw(broker.ports["SASL_PLAINTEXT"]) as raw:
        assert raw.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == 0
        assert raw.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0alice-secret"})["error_code"] == 0
        assert raw.request(ApiKey.METADATA, 9, {"topics": None, "allow_auto_topic_creation": False}) is not None
    ctx = ssl.create_default_context(cafile=str(pki.ca.pem))
    with Raw(broker.ports["SASL_SSL"], tls=ctx) as raw:
        assert raw.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == 0
        assert raw.request(ApiKey.SASL_AUTHENTICATE, 2, {"auth_bytes": b"\0alice\0alice-secret"})["error_code"] == 0


def _assert_clean(broker: SecureBroker) -> None:
    assert broker.proc is not None and broker.proc.poll() is None, "the broker died"
    log = broker.log_tail(2000)
    assert "Traceback" not in log and "internal error" not in log and "ERROR" not in log, log[-3000:]


@pytest.mark.deadline(100)
def test_tls_handshake_fuzz(broker: SecureBroker, pki: Pki) -> None:
    rng = random.Random(20240612)
    hello = _client_hello()
    t0 = time.monotonic()
    for i in range(CASES):
        port = broker.ports["SSL" if i % 2 else "SASL_SSL"]
        _send(port, _mutate(rng, hello), read=i % 3 != 0)
    assert time.monotonic() - t0 < 60
    # Half a ClientHello, then silence: closed by the handshake timeout (connections.authentication.timeout.ms).
    with socket.create_connection(("127.0.0.1", broker.ports["SSL"]), timeout=10) as s:
        s.sendall(hello[: len(hello) // 2])
        t1 = time.monotonic()
        try:
            data = s.recv(10)  # blocks until the broker gives up on the handshake (socket timeout 10 s: a failure)
        except ConnectionResetError:
            data = b""
        assert data == b"" or data[0] == 0x15  # closed, or a TLS alert before closing
        assert 0.5 < time.monotonic() - t1 < 8
    _healthy(broker, pki)
    _assert_clean(broker)


@pytest.mark.deadline(100)
def test_sasl_handshake_fuzz(broker: SecureBroker, pki: Pki) -> None:
    rng = random.Random(8675309)
    port = broker.ports["SASL_PLAINTEXT"]
    versions = _frame(ApiKey.API_VERSIONS, 3, {"client_software_name": "f", "client_software_version": "1"})
    for i in range(CASES):
        mech = rng.choice(["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", "", "x" * 300])
        handshake = _frame(ApiKey.SASL_HANDSHAKE, rng.choice([0, 1]), {"mechanism": mech})
        token = rng.choice([b"\0alice\0wrong", b"n,,n=alice,r=" + rng.randbytes(8).hex().encode(), b"n,,n=,r=",
                            b"c=biws,r=x,p=AAAA", rng.randbytes(rng.randint(0, 300)), b"\0" * 5000])
        auth = _frame(ApiKey.SASL_AUTHENTICATE, rng.choice([0, 1, 2]), {"auth_bytes": token})
        kind = rng.randrange(6)
        if kind == 0:  # a sequence, possibly out of order or mutated
            parts = [versions, handshake, auth, auth]
            rng.shuffle(parts)
            payload = b"".join(_mutate(rng, p) if rng.random() < 0.3 else p for p in parts)
        elif kind == 1:  # a frame larger than sasl.server.max.receive.size
            payload = struct.pack(">i", rng.choice([5000, 1 << 30, 0x7FFFFFFF])) + rng.randbytes(100)
        elif kind == 2:  # negative or truncated sizes
            payload = struct.pack(">i", rng.choice([-1, -(1 << 31), 100])) + rng.randbytes(rng.randint(0, 20))
        elif kind == 3:  # a raw v0 token after a v0 handshake
            payload = _frame(ApiKey.SASL_HANDSHAKE, 0, {"mechanism": "SCRAM-SHA-256"}) + struct.pack(">i", len(token)) + token
        elif kind == 4:
            payload = rng.randbytes(rng.randint(1, 200))
        else:  # a Kafka request before authentication
            payload = _frame(ApiKey.METADATA, 9, {"topics": None, "allow_auto_topic_creation": False})
        _send(port, payload, read=i % 4 != 0)
    # Slow drip: a handshake sent a byte at a time and abandoned (closed by the authentication timeout).
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for b in handshake[:7]:
            s.sendall(bytes([b]))
        s.settimeout(5)
        assert s.recv(10) == b""
    _healthy(broker, pki)
    _assert_clean(broker)
