"""TLS listeners with real clients and real certificates: aiokafka over SSL with
a client certificate (mutual TLS, the principal from the certificate), an
untrusted certificate on either side, a plaintext client on a TLS port, PEM
key stores (an encrypted key; a JKS file refused with a way out), and large
fetches through the TLS transport."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Consumer, Producer

from pystream.protocol.codec import encode_request

from .certs import Pki
from .conftest import tls_overrides

SSL_ONLY = {"PLAINTEXT": "PLAINTEXT", "SSL": "SSL"}
ALICE_RULES = "RULE:^CN=([a-z]+),O=.*$/$1/L,DEFAULT"


def _ssl_context(pki: Pki, cert=None, ca=None) -> ssl.SSLContext:
    from aiokafka.helpers import create_ssl_context

    return create_ssl_context(cafile=str(ca or pki.ca.pem), certfile=str(cert.cert) if cert else None,
                              keyfile=str(cert.key) if cert else None)


async def _aiokafka_roundtrip(bootstrap: str, ctx: ssl.SSLContext, topic: str, group: str, n: int = 20) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, security_protocol="SSL", ssl_context=ctx, request_timeout_ms=10000)
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, f"v{i}".encode(), key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, security_protocol="SSL", ssl_context=ctx, group_id=group,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list[bytes] = []
    try:
        while len(got) < n:
            batch = await consumer.getmany(timeout_ms=10000)
            if not batch:
                break
            for records in batch.values():
                got += [r.value for r in records]
        await consumer.commit()
        committed = await consumer.committed(next(iter(consumer.assignment())))
        assert committed == n
    finally:
        await consumer.stop()
    return got


def plaintext_roundtrip(bootstrap: str) -> None:
    """The broker still serves a PLAINTEXT client: produce one record and read it back."""
    topic = f"alive-{uuid.uuid4().hex[:8]}"
    p = Producer({"bootstrap.servers": bootstrap})
    p.produce(topic, b"still-alive")
    assert p.flush(15) == 0
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"})
    try:
        c.subscribe([topic])
        for _ in range(30):
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                assert m.value() == b"still-alive"
                return
        pytest.fail("no record from the PLAINTEXT listener")
    finally:
        c.close()


def test_aiokafka_mutual_tls_principal_from_certificate(secure_broker, pki: Pki) -> None:
    """ssl.client.auth=required; the certificate's subject mapped by ssl.principal.mapping.rules is
    the principal ACLs name (User:alice): alice produces, consumes and commits in a group."""
    b = secure_broker(SSL_ONLY, **tls_overrides(pki, "required"), **{
        "ssl.principal.mapping.rules": ALICE_RULES, "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer",
        "super.users": "User:ANONYMOUS"})  # the PLAINTEXT listener administers
    subprocess.run([sys.executable, "-m", "pystream.cli", "acls", "add", "-b", b.addr("PLAINTEXT"), "--allow-principal", "User:alice",
                    "--operation", "All", "--topic", "tls-", "--group", "tls-", "--resource-pattern-type", "prefixed"],
                   check=True, capture_output=True, timeout=60)
    got = asyncio.run(_aiokafka_roundtrip(b.addr("SSL"), _ssl_context(pki, pki.alice), "tls-events", "tls-group"))
    assert got == [f"v{i}".encode() for i in range(20)]
    # The service certificate maps to a different principal (DEFAULT rule: the whole DN), with no ACLs.
    from aiokafka.errors import KafkaError as AioKafkaError

    with pytest.raises(AioKafkaError):
        asyncio.run(_aiokafka_roundtrip(b.addr("SSL"), _ssl_context(pki, pki.service), "tls-events", "tls-other", n=1))


def test_untrusted_client_certificate_is_refused(secure_broker, pki: Pki) -> None:
    b = secure_broker(SSL_ONLY, **tls_overrides(pki, "required"))
    from aiokafka.errors import KafkaConnectionError

    with pytest.raises((KafkaConnectionError, ssl.SSLError, ConnectionError, OSError)):
        asyncio.run(_aiokafka_roundtrip(b.addr("SSL"), _ssl_context(pki, pki.rogue_client), "t", "g", n=1))
    # A raw TLS handshake with the rogue certificate fails too (TLS 1.3: at the first read).
    ctx = ssl.create_default_context(cafile=str(pki.ca.pem))
    ctx.load_cert_chain(str(pki.rogue_client.cert), str(pki.rogue_client.key))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        with socket.create_connection(("127.0.0.1", b.ports["SSL"]), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"\0\0\0\0")
                if not s.recv(1):
                    raise ConnectionError("closed")
    # No client certificate at all while required: refused as well.
    with pytest.raises(Exception):
        asyncio.run(_aiokafka_roundtrip(b.addr("SSL"), _ssl_context(pki), "t", "g", n=1))
    plaintext_roundtrip(b.addr("PLAINTEXT"))
    assert b.proc is not None and b.proc.poll() is None


def test_client_refuses_a_broker_it_does_not_trust(secure_broker, pki: Pki) -> None:
    b = secure_broker(SSL_ONLY, **tls_overrides(pki))
    ctx = ssl.create_default_context(cafile=str(pki.rogue_ca.pem))
    with socket.create_connection(("127.0.0.1", b.ports["SSL"]), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    plaintext_roundtrip(b.addr("PLAINTEXT"))


def _api_versions_request() -> bytes:
    frame = b"".join(bytes(x) for x in encode_request(18, 0, 1, "raw", {}))
    return frame


def test_plaintext_client_on_a_tls_port_is_refused(secure_broker, pki: Pki) -> None:
    """A Kafka request in clear text to the SSL port gets no answer but a closed connection;
    a librdkafka client configured for PLAINTEXT gives up; the broker serves on."""
    b = secure_broker(SSL_ONLY, **tls_overrides(pki))
    with socket.create_connection(("127.0.0.1", b.ports["SSL"]), timeout=10) as s:
        s.sendall(_api_versions_request())
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
    assert data == b"" or data[0] == 0x15  # nothing, or a TLS alert record: no Kafka response
    p = Producer({"bootstrap.servers": b.addr("SSL"), "message.timeout.ms": 3000, "socket.timeout.ms": 3000})
    outcomes: list[object] = []
    p.produce("nope", b"x", on_delivery=lambda err, msg: outcomes.append(err))
    p.flush(10)
    assert len(outcomes) == 1 and outcomes[0] is not None  # never delivered
    plaintext_roundtrip(b.addr("PLAINTEXT"))


def test_encrypted_key_and_confluent_kafka_over_ssl(secure_broker, pki: Pki, tmp_path) -> None:
    """A PEM keystore whose key is encrypted (ssl.key.password); 1 MiB values fetched back
    through the TLS transport (memoryviews over the segment mmaps, not sendfile)."""
    enc = pki.ca.issue("broker-enc", server=True, password=b"s3cret")
    b = secure_broker(SSL_ONLY, **{**tls_overrides(pki), "ssl.keystore.location": str(enc.pem), "ssl.key.password": "s3cret",
                                   "message.max.bytes": str(4 << 20)})
    conf = {"bootstrap.servers": b.addr("SSL"), "security.protocol": "SSL", "ssl.ca.location": str(pki.ca.pem)}
    p = Producer({**conf, "message.max.bytes": 4 << 20, "linger.ms": 5})
    values = [bytes([i]) * (1 << 20) + uuid.uuid4().bytes for i in range(12)]
    for v in values:
        p.produce("big-tls", v)
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": "big", "auto.offset.reset": "earliest", "fetch.max.bytes": 3 << 20,
                  "max.partition.fetch.bytes": 3 << 20})
    got = []
    try:
        c.subscribe(["big-tls"])
        for _ in range(60):
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                got.append(m.value())
                if len(got) == len(values):
                    break
    finally:
        c.close()
    assert got == values


def test_jks_keystore_is_refused_with_a_way_out(tmp_path, pki: Pki) -> None:
    jks = tmp_path / "server.keystore.jks"
    jks.write_bytes(b"\xfe\xed\xfe\xed" + b"\0" * 64)
    for extra in (["ssl.keystore.location=" + str(jks)], ["ssl.keystore.type=JKS", "ssl.keystore.location=" + str(pki.server.pem)]):
        cmd = [sys.executable, "-m", "pystream.cli", "serve", "--port", "0", "--data-dir", str(tmp_path / "d"),
               "--override", "listeners=SSL://127.0.0.1:0"] + [a for e in extra for a in ("--override", e)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stderr
        assert "keytool -importkeystore" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was written
