"""SASL with real clients: confluent-kafka over SASL_SSL with SCRAM-SHA-512,
kafka-python over SASL_PLAINTEXT with PLAIN and with SCRAM-SHA-256, kcat over
SASL_SSL; SCRAM users made with `pystream users` (AlterUserScramCredentials).
Wrong credentials, requests before the handshake, a handshake never finished,
SaslHandshake v0 framing and KIP-368 re-authentication."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaException, Producer

from pystream.protocol.schema_data import ApiKey

from .certs import Pki
from .conftest import started, SecureBroker, jaas, tls_overrides
from .raw import Raw
from .test_tls import plaintext_roundtrip

LISTENERS = {"PLAINTEXT": "PLAINTEXT", "SASL_PLAINTEXT": "SASL_PLAINTEXT", "SASL_SSL": "SASL_SSL"}
PLAIN_USERS = {"alice": "alice-secret"}
SCRAM_USERS = {"carol": ("SCRAM-SHA-256", "carol-secret"), "dave": ("SCRAM-SHA-512", "dave-secret")}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "pystream.cli", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def sasl_overrides(pki: Pki, **extra: str) -> dict[str, str]:
    return {**tls_overrides(pki), "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "sasl.jaas.config": jaas(PLAIN_USERS), "connections.authentication.timeout.ms": "1500", **extra}


def add_scram_users(broker: SecureBroker) -> None:
    for user, (mech, password) in SCRAM_USERS.items():
        r = cli("users", "add", user, "--mechanism", mech, "-b", broker.addr("PLAINTEXT"), env={"PYSTREAM_USER_PASSWORD": password})
        assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, pki: Pki, request: pytest.FixtureRequest) -> Iterator[SecureBroker]:
    b = SecureBroker(tmp_path_factory.mktemp("sasl"), LISTENERS, sasl_overrides(pki))
    started(request, b)
    try:
        add_scram_users(b)
        yield b
    finally:
        b.stop()


def _confluent(broker: SecureBroker, pki: Pki, user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> dict[str, object]:
    return {"bootstrap.servers": broker.addr("SASL_SSL"), "security.protocol": "SASL_SSL", "sasl.mechanism": mechanism,
            "sasl.username": user, "sasl.password": password, "ssl.ca.location": str(pki.ca.pem)}


def test_scram_users_are_listed_without_secrets(broker: SecureBroker) -> None:
    r = cli("users", "list", "-b", broker.addr("PLAINTEXT"))
    assert r.returncode == 0, r.stderr
    assert "carol" in r.stdout and "SCRAM-SHA-256" in r.stdout and "dave" in r.stdout and "4096" in r.stdout
    stored = (broker.data_dir / "entity-configs.json").read_text()
    assert "stored_key=" in stored and "carol-secret" not in stored and "dave-secret" not in stored


def test_confluent_kafka_sasl_ssl_scram_sha_512(broker: SecureBroker, pki: Pki) -> None:
    conf = _confluent(broker, pki, "dave", "dave-secret")
    topic = f"scram-{uuid.uuid4().hex[:6]}"
    p = Producer({**conf, "enable.idempotence": True})
    for i in range(50):
        p.produce(topic, f"m{i}".encode(), key=b"k")
    assert p.flush(30) == 0
    c = Consumer({**conf, "group.id": f"g-{topic}", "auto.offset.reset": "earliest", "enable.auto.commit": False})
    got = []
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(got) < 50 and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and m.error() is None:
                got.append(m.value())
        c.commit(asynchronous=False)
        committed = c.committed(c.assignment(), timeout=10)
    finally:
        c.close()
    assert got == [f"m{i}".encode() for i in range(50)]
    assert [tp.offset for tp in committed] == [50]


@pytest.mark.parametrize("user, password, mechanism", [("alice", "alice-secret", "PLAIN"), ("carol", "carol-secret", "SCRAM-SHA-256")])
def test_kafka_python_sasl_plaintext(broker: SecureBroker, user: str, password: str, mechanism: str) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    conf = {"bootstrap_servers": broker.addr("SASL_PLAINTEXT"), "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": mechanism,
            "sasl_plain_username": user, "sasl_plain_password": password}
    topic = f"kp-{mechanism.lower()}-{uuid.uuid4().hex[:6]}"
    p = KafkaProducer(**conf)
    for i in range(20):
        p.send(topic, f"m{i}".encode())
    p.flush(30)
    p.close()
    c = KafkaConsumer(topic, group_id=f"g-{topic}", auto_offset_reset="earliest", consumer_timeout_ms=15000,
                      enable_auto_commit=False, **conf)
    got = []
    for m in c:
        got.append(m.value)
        if len(got) == 20:
            break
    c.commit()
    c.close()
    assert got == [f"m{i}".encode() for i in range(20)]


def test_plain_checks_scram_credentials_too(broker: SecureBroker) -> None:
    """A user made with `pystream users add` (no JAAS entry) logs in with SASL/PLAIN as well."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=broker.addr("SASL_PLAINTEXT"), security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                      sasl_plain_username="carol", sasl_plain_password="carol-secret")
    p.send("plain-over-scram", b"x").get(timeout=30)
    p.close()


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed (apt-get install kcat; .ci/run does)")
def test_kcat_sasl_ssl(broker: SecureBroker, pki: Pki) -> None:
    base = ["kcat", "-b", broker.addr("SASL_SSL"), "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-256",
            "-X", "sasl.username=carol", "-X", f"ssl.ca.location={pki.ca.pem}"]
    topic = f"kcat-{uuid.uuid4().hex[:6]}"
    r = subprocess.run(base + ["-X", "sasl.password=carol-secret", "-t", topic, "-P", "-K:"], input="k1:v1\nk2:v2\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(base + ["-X", "sasl.password=carol-secret", "-t", topic, "-C", "-e", "-f", "%k=%s\n"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.splitlines() == ["k1=v1", "k2=v2"], r.stderr
    r = subprocess.run(base + ["-X", "sasl.password=WRONG", "-L", "-m", "5"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Authentication failed" in r.stderr


def test_wrong_credentials_are_refused_and_logged(broker: SecureBroker, pki: Pki) -> None:
    errors: list[str] = []
    p = Producer({**_confluent(broker, pki, "dave", "not-dave-secret"), "error_cb": lambda e: errors.append(str(e))})
    with pytest.raises(KafkaException):
        p.list_topics(timeout=5)
    for _ in range(50):  # error callbacks are served by poll()
        if errors:
            break
        p.poll(0.1)
    assert any("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512" in e
               for e in errors), errors
    from kafka import KafkaProducer

    for mechanism, user in (("PLAIN", "alice"), ("SCRAM-SHA-256", "nobody")):
        with pytest.raises(Exception):
            KafkaProducer(bootstrap_servers=broker.addr("SASL_PLAINTEXT"), security_protocol="SASL_PLAINTEXT",
                          sasl_mechanism=mechanism, sasl_plain_username=user, sasl_plain_password="wrong",
                          api_version_auto_timeout_ms=5000, request_timeout_ms=5000, max_block_ms=5000).send("t", b"x").get(5)
    log = broker.log_tail(200)
    assert "Failed authentication with 127.0.0.1:" in log and "user 'dave'" in log
    plaintext_roundtrip(broker.addr("PLAINTEXT"))
    # The right credentials still work on the same listener.
    ok = Producer(_confluent(broker, pki, "dave", "dave-secret"))
    assert ok.list_topics(timeout=10).brokers


def test_only_api_versions_and_sasl_before_authentication(broker: SecureBroker) -> None:
    port = broker.ports["SASL_PLAINTEXT"]
    with Raw(port) as raw:  # a Metadata request first: closed, no answer
        assert raw.request(ApiKey.METADATA, 4, {"topics": None, "allow_auto_topic_creation": False}) is None
    with Raw(port) as raw:  # ApiVersions is answered (lists the SASL APIs), Produce is not
        resp = raw.request(ApiKey.API_VERSIONS, 3, {"client_software_name": "raw", "client_software_version": "1"})
        assert resp is not None and {ApiKey.SASL_HANDSHAKE, ApiKey.SASL_AUTHENTICATE} <= {k["api_key"] for k in resp["api_keys"]}
        assert raw.request(ApiKey.PRODUCE, 7, {"acks": 1, "timeout_ms": 1000, "topic_data": []}) is None
    with Raw(port) as raw:  # an unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the list, then closed
        resp = raw.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "GSSAPI"})
        assert resp == {"error_code": 33, "mechanisms": ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]}
        assert raw.closed()
    with Raw(port) as raw:  # SaslAuthenticate without a handshake: closed, as Kafka does (illegal SASL state)
        assert raw.request(ApiKey.SASL_AUTHENTICATE, 1, {"auth_bytes": b"\0alice\0alice-secret"}) is None
    with Raw(port) as raw:  # a wrong password over SaslAuthenticate: error 58 with a message, closed
        assert raw.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == 0
        resp = raw.request(ApiKey.SASL_AUTHENTICATE, 1, {"auth_bytes": b"\0alice\0nope"})
        assert resp["error_code"] == 58 and "Invalid username or password" in resp["error_message"]
        assert raw.closed()
    with Raw(broker.ports["PLAINTEXT"]) as raw:  # no SASL on this listener: ILLEGAL_SASL_STATE, the connection stays
        assert raw.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == 34
        assert raw.request(ApiKey.METADATA, 4, {"topics": None, "allow_auto_topic_creation": False}) is not None


def test_sasl_handshake_v0_raw_tokens_then_requests(broker: SecureBroker) -> None:
    with Raw(broker.ports["SASL_PLAINTEXT"]) as raw:
        assert raw.request(ApiKey.SASL_HANDSHAKE, 0, {"mechanism": "PLAIN"})["error_code"] == 0
        raw.send_frame(b"\0alice\0alice-secret")  # KIP-43 framing: a bare token, answered by a bare token
        assert raw.recv_frame() == b""
        resp = raw.request(ApiKey.METADATA, 4, {"topics": None, "allow_auto_topic_creation": False})
        assert resp is not None and resp["brokers"][0]["port"] == broker.ports["SASL_PLAINTEXT"]
        # Re-authenticating is refused without connections.max.reauth.ms: ILLEGAL_SASL_STATE.
        assert raw.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == 34


def test_a_handshake_never_finished_is_closed(broker: SecureBroker) -> None:
    for start in (None, "versions", "handshake"):
        with Raw(broker.ports["SASL_PLAINTEXT"]) as raw:
            if start:
                raw.request(ApiKey.API_VERSIONS, 0, {})
            if start == "handshake":
                raw.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "SCRAM-SHA-256"})
            t0 = time.monotonic()
            assert raw.closed()  # connections.authentication.timeout.ms=1500 for this broker
            assert 0.5 < time.monotonic() - t0 < 8
    assert "not finished within connections.authentication.timeout.ms" in broker.log_tail(100)


def test_reauthentication_kip368(secure_broker, pki: Pki) -> None:
    """connections.max.reauth.ms: librdkafka re-authenticates on its connection and keeps producing;
    a client that does not is disconnected at the end of its session."""
    b = secure_broker(LISTENERS, **sasl_overrides(pki, **{"connections.max.reauth.ms": "1500"}))
    add_scram_users(b)
    p = Producer(_confluent(b, pki, "dave", "dave-secret"))
    delivered: list[object] = []
    t_end = time.monotonic() + 5
    i = 0
    while time.monotonic() < t_end:
        p.produce("reauth", f"{i}".encode(), on_delivery=lambda err, msg: delivered.append(err))
        p.poll(0.05)
        i += 1
    p.flush(20)
    assert len(delivered) == i and all(e is None for e in delivered)
    with Raw(b.ports["SASL_PLAINTEXT"]) as raw:
        assert raw.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == 0
        resp = raw.request(ApiKey.SASL_AUTHENTICATE, 1, {"auth_bytes": b"\0alice\0alice-secret"})
        assert resp["error_code"] == 0 and resp["session_lifetime_ms"] == 1500
        assert raw.request(ApiKey.METADATA, 4, {"topics": None, "allow_auto_topic_creation": False}) is not None
        # Re-authentication on the same connection, as the same principal: a fresh session.
        assert raw.request(ApiKey.SASL_HANDSHAKE, 1, {"mechanism": "PLAIN"})["error_code"] == 0
        assert raw.request(ApiKey.SASL_AUTHENTICATE, 1, {"auth_bytes": b"\0alice\0alice-secret"})["error_code"] == 0
        time.sleep(1.8)
        assert raw.request(ApiKey.METADATA, 4, {"topics": None, "allow_auto_topic_creation": False}) is None
    assert "SASL session expired" in b.log_tail(50)
    # pystream's own client renews its session by reconnecting.
    from pystream.protocol.client import KafkaClient
    from pystream.security.client import ClientSecurity

    sec = ClientSecurity.from_properties({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
                                          "sasl.username": "carol", "sasl.password": "carol-secret"})
    with KafkaClient(b.addr("SASL_PLAINTEXT"), security=sec) as client:
        for _ in range(3):
            assert client.metadata()["brokers"]
            time.sleep(0.9)


def test_secrets_are_not_described(broker: SecureBroker) -> None:
    """DescribeConfigs of the broker reports JAAS configs and key passwords as sensitive, without a value."""
    from pystream.protocol.client import RESOURCE_BROKER, KafkaClient

    with KafkaClient(broker.addr("PLAINTEXT")) as c:
        configs = c.describe_configs("0", RESOURCE_BROKER)
    assert configs["sasl.jaas.config"]["is_sensitive"] and configs["sasl.jaas.config"]["value"] is None
    assert configs["ssl.key.password"]["is_sensitive"] and configs["ssl.truststore.location"]["value"]
    assert not any("alice-secret" in str(e.get("value")) for e in configs.values())
