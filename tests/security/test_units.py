"""The security package without a broker: SCRAM against RFC 7677's test vector and
between our two sides, PLAIN, JAAS parsing, certificate subjects and Kafka's
principal mapping rules, the ACL decision (Deny wins, wildcard, prefixes,
implied Describe, super users), filters, listeners, Kafka's sampled rate and
throttle time, connection limits, and TLS configuration errors."""

from __future__ import annotations

import pytest

from pystream.errors import AuthenticationError, SecurityConfigError
from pystream.security.acl import (
    AccessControlEntry,
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    PatternType,
    ResourcePattern,
    ResourceType,
)
from pystream.security.authorizer import AclAuthorizer
from pystream.security.listeners import ListenerConfig
from pystream.security.principal import KafkaPrincipal, SslPrincipalMapper, subject_dn
from pystream.security.quotas import ConnectionQuotas, QuotaManager, SampledRate
from pystream.security.sasl import PlainServer, parse_jaas
from pystream.security.scram import ScramClient, ScramCredential, ScramServer
from pystream.security.stores import FileAclStore, FileEntityConfigStore, entity_key
from pystream.security.tls import server_context

# ----- SCRAM ------------------------------------------------------------------------------

RFC7677 = {  # RFC 7677 section 3: SCRAM-SHA-256, user "user", password "pencil"
    "client_nonce": "rOprNGfwEbeRWgbNEkqO",
    "client_first": b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
    "server_first": b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    "client_final": b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    "server_final": b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
}


def test_scram_client_matches_rfc7677() -> None:
    c = ScramClient("SCRAM-SHA-256", "user", "pencil", nonce=RFC7677["client_nonce"])
    assert c.initial() == RFC7677["client_first"]
    assert c.evaluate(RFC7677["server_first"]) == RFC7677["client_final"]
    assert c.evaluate(RFC7677["server_final"]) is None and c.complete


def test_scram_client_rejects_a_forged_server_signature() -> None:
    c = ScramClient("SCRAM-SHA-256", "user", "pencil", nonce=RFC7677["client_nonce"])
    c.initial()
    c.evaluate(RFC7677["server_first"])
    with pytest.raises(AuthenticationError, match="signature"):
        c.evaluate(b"v=AAAAi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_both_sides(mechanism: str) -> None:
    creds = {"alice": ScramCredential.from_password(mechanism, "alice-secret", 4096)}
    # The stored credential holds no password and survives Kafka's text form.
    text = creds["alice"].to_kafka()
    assert "alice-secret" not in text and ScramCredential.from_kafka(text) == creds["alice"]

    def run(user: str, password: str) -> ScramServer:
        server, client = ScramServer(mechanism, creds.get), ScramClient(mechanism, user, password)
        token = client.initial()
        while not client.complete:
            challenge = server.evaluate(token)
            token = client.evaluate(challenge)
        return server

    server = run("alice", "alice-secret")
    assert server.complete and server.user == "alice"
    for user, password in (("alice", "wrong"), ("nobody", "alice-secret")):
        with pytest.raises(AuthenticationError, match="invalid credentials"):
            run(user, password)


def test_scram_server_refuses_malformed_messages() -> None:
    cred = ScramCredential.from_password("SCRAM-SHA-256", "pw")
    for msg in (b"", b"garbage", b"p=tls-unique,,n=a,r=x", b"n,,r=x", b"\xff\xfe", b"n,,n=a,r=x,tokenauth=true"):
        with pytest.raises(AuthenticationError):
            ScramServer("SCRAM-SHA-256", lambda u: cred).evaluate(msg)
    server = ScramServer("SCRAM-SHA-256", lambda u: cred)
    server.evaluate(b"n,,n=a,r=abc")
    with pytest.raises(AuthenticationError, match="nonce"):
        server.evaluate(b"c=biws,r=abcX,p=AAAA")


def test_credential_verifies_a_plain_password() -> None:
    cred = ScramCredential.from_password("SCRAM-SHA-512", "s3cret")
    assert cred.verify_password("SCRAM-SHA-512", "s3cret") and not cred.verify_password("SCRAM-SHA-512", "s3cre")


def test_plain() -> None:
    server = PlainServer(lambda u, p: (u, p) == ("bob", "pw"))
    assert server.evaluate(b"\0bob\0pw") == b"" and server.complete and server.user == "bob"
    for token, why in ((b"\0bob\0nope", "Invalid username or password"), (b"bob", "expected 3 tokens"),
                       (b"\0\0pw", "username not specified"), (b"eve\0bob\0pw", "authorization id")):
        with pytest.raises(AuthenticationError, match=why):
            PlainServer(lambda u, p: (u, p) == ("bob", "pw")).evaluate(token)


def test_jaas() -> None:
    (entry,) = parse_jaas('org.apache.kafka.common.security.plain.PlainLoginModule required\n'
                          '  username="admin" password="adm\\"in"  user_admin="a" user_alice="alice-secret";')
    assert entry.module.endswith("PlainLoginModule") and entry.username == "admin" and entry.password == 'adm"in'
    assert entry.plain_users() == {"admin": "a", "alice": "alice-secret"}
    assert entry.check_plain("alice", "alice-secret") and entry.check_plain("alice", "x") is False
    assert entry.check_plain("carol", "x") is None
    with pytest.raises(SecurityConfigError):
        parse_jaas('org.Foo required username="a"')  # no closing ;


# ----- principals --------------------------------------------------------------------------

def test_subject_dn_is_rfc2253_most_specific_first() -> None:
    cert = {"subject": ((("countryName", "US"),), (("organizationName", "Acme, Inc"),), (("commonName", "alice"),),
                        (("emailAddress", "a@x.org"),))}
    # Java prints emailAddress by OID with its DER value (IA5String, tag 0x16).
    assert subject_dn(cert) == "1.2.840.113549.1.9.1=#16076140782e6f7267,CN=alice,O=Acme\\, Inc,C=US"


@pytest.mark.parametrize("rules, dn, name", [
    ("DEFAULT", "CN=alice,O=Acme,C=US", "CN=alice,O=Acme,C=US"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=ingest,OU=ServiceUsers,O=Acme", "ingest"),
    ("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT", "CN=alice,O=Acme", "CN=alice,O=Acme"),
    ("RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L", "CN=Duke,OU=JavaSoft,O=Sun,L=Palo Alto,ST=CA,C=US", "duke@javasoft"),
    ("RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U", "OU=x,CN=svc.one,O=y", "SVC.ONE"),
    ("RULE:^CN=([^,]+)\\/x$/a\\/$1/", "CN=q/x", "a/q"),
])
def test_principal_mapping_rules(rules: str, dn: str, name: str) -> None:
    assert SslPrincipalMapper(rules).name(dn) == name


def test_principal_mapping_without_a_matching_rule_fails() -> None:
    with pytest.raises(AuthenticationError, match="no ssl.principal.mapping.rules rule"):
        SslPrincipalMapper("RULE:^CN=(.*),OU=x$/$1/").name("CN=a,OU=y")
    with pytest.raises(SecurityConfigError):
        SslPrincipalMapper("RULE:broken")


# ----- ACLs --------------------------------------------------------------------------------

def _acl(rtype: ResourceType, name: str, principal: str, op: AclOperation, perm: AclPermissionType = AclPermissionType.ALLOW,
         ptype: PatternType = PatternType.LITERAL, host: str = "*") -> AclBinding:
    return AclBinding(ResourcePattern(rtype, name, ptype), AccessControlEntry(principal, host, op, perm))


ALICE, BOB = KafkaPrincipal.user("alice"), KafkaPrincipal.user("bob")
T, G, R, W, D = ResourceType.TOPIC, ResourceType.GROUP, AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE


def _authorizer(tmp_path, acls: list[AclBinding], **kw) -> AclAuthorizer:
    store = FileAclStore(tmp_path / "acls.json")
    a = AclAuthorizer(store, **kw)
    a.start()
    a.create(acls)
    return a


def test_authorizer_decisions(tmp_path) -> None:
    a = _authorizer(tmp_path, [
        _acl(T, "orders", "User:alice", R),
        _acl(T, "pay-", "User:alice", W, ptype=PatternType.PREFIXED),
        _acl(T, "pay-secret", "User:alice", AclOperation.ALL, AclPermissionType.DENY),
        _acl(T, "*", "User:bob", D),
        _acl(G, "g1", "User:*", R, host="10.0.0.1"),
    ], super_users=[KafkaPrincipal.user("root")])
    ok = lambda p, op, t, n, host="127.0.0.1": a.authorize(p, host, op, t, n)  # noqa: E731
    assert ok(ALICE, R, T, "orders") and not ok(ALICE, W, T, "orders")          # read-only
    assert ok(ALICE, D, T, "orders")                                           # Read implies Describe
    assert ok(ALICE, W, T, "pay-eu") and not ok(ALICE, W, T, "pa")              # prefixed
    assert not ok(ALICE, W, T, "pay-secret") and not ok(ALICE, D, T, "pay-secret")  # Deny wins over the prefix
    assert ok(BOB, D, T, "anything") and not ok(BOB, R, T, "orders")           # wildcard resource
    assert ok(BOB, R, G, "g1", "10.0.0.1") and not ok(BOB, R, G, "g1")          # host
    assert not ok(ALICE, R, T, "no-acls")                                      # allow.everyone.if.no.acl.found=false
    assert ok(KafkaPrincipal.user("root"), AclOperation.ALTER, ResourceType.CLUSTER, "kafka-cluster")
    assert a.authorized_operations(ALICE, "127.0.0.1", T, "orders") == (1 << R) | (1 << D)
    assert a.authorize_any(ALICE, "127.0.0.1", W, T) and not a.authorize_any(BOB, "127.0.0.1", W, T)
    # Durable: a new authorizer over the same file decides the same.
    b = AclAuthorizer(FileAclStore(tmp_path / "acls.json"))
    b.start()
    assert b.authorize(ALICE, "h", R, T, "orders") and not b.authorize(ALICE, "h", W, T, "pay-secret")


def test_allow_everyone_if_no_acl_found(tmp_path) -> None:
    a = _authorizer(tmp_path, [_acl(T, "guarded", "User:alice", R)], allow_if_no_acl=True)
    assert a.authorize(BOB, "h", W, T, "open") and not a.authorize(BOB, "h", R, T, "guarded")


def test_acl_filters_and_delete(tmp_path) -> None:
    acls = [_acl(T, "a", "User:alice", R), _acl(T, "a", "User:bob", R), _acl(T, "*", "User:bob", D),
            _acl(T, "a-", "User:bob", W, ptype=PatternType.PREFIXED), _acl(G, "a", "User:bob", R)]
    a = _authorizer(tmp_path, acls)
    assert len(a.acls(AclBindingFilter(T, "a", PatternType.LITERAL))) == 2
    assert len(a.acls(AclBindingFilter(T, "a-x", PatternType.MATCH))) == 2   # wildcard + prefix
    assert len(a.acls(AclBindingFilter(T, "a", PatternType.MATCH))) == 3
    assert len(a.acls(AclBindingFilter(principal="User:bob"))) == 4
    removed = a.delete([AclBindingFilter(T, None, PatternType.ANY, "User:bob", None, R, AclPermissionType.ANY)])
    assert removed == [[acls[1]]] and acls[1] not in a.acls()
    assert _acl(ResourceType.CLUSTER, "x", "User:a", R).validate() is not None
    assert _acl(T, "t", "alice", R).validate() is not None
    assert _acl(G, "g", "User:a", W).validate() is not None  # Write does not apply to groups


def test_entity_store_roundtrip(tmp_path) -> None:
    store = FileEntityConfigStore(tmp_path / "e.json")
    calls: list[int] = []
    store.subscribe(lambda: calls.append(1))
    alice = entity_key([("user", "alice")])
    both = entity_key([("client-id", None), ("user", "alice")])
    store.alter({alice: {"SCRAM-SHA-256": "x", "producer_byte_rate": "10"}, both: {"consumer_byte_rate": "5"}})
    store.alter({alice: {"producer_byte_rate": None}})
    assert store.load() == {alice: {"SCRAM-SHA-256": "x"}, both: {"consumer_byte_rate": "5"}}
    assert both == (("user", "alice"), ("client-id", None)) and calls == [1, 1]
    store.alter({alice: {"SCRAM-SHA-256": None}})
    assert alice not in store.load()


# ----- listeners ---------------------------------------------------------------------------

def test_listeners() -> None:
    lc = ListenerConfig.from_values({
        "listeners": "PLAINTEXT://127.0.0.1:9092,SECURE://:9093,INTERNAL://[::1]:0",
        "advertised.listeners": "SECURE://broker.example:19093",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SECURE:SASL_SSL,INTERNAL:SSL",
        "inter.broker.listener.name": "INTERNAL"}, "127.0.0.1", 9092)
    assert [(e.name, e.host, e.port, e.protocol) for e in lc.listeners] == [
        ("PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"), ("SECURE", "", 9093, "SASL_SSL"), ("INTERNAL", "::1", 0, "SSL")]
    assert lc.advertised_for("SECURE").host == "broker.example" and lc.inter_broker == "INTERNAL"
    short = ListenerConfig.from_values({}, "0.0.0.0", 19092)  # --host/--port: one PLAINTEXT listener
    assert [e.url() for e in short.listeners] == ["PLAINTEXT://0.0.0.0:19092"]
    for bad in ({"listeners": "FOO://:1"}, {"listeners": "PLAINTEXT://:x"},
                {"listeners": "PLAINTEXT://:1,PLAINTEXT://:2"},
                {"listeners": "PLAINTEXT://:1", "inter.broker.listener.name": "OTHER"},
                {"listeners": "PLAINTEXT://:1", "security.inter.broker.protocol": "SSL", "zookeeper.connect": "zk:2181"}):
        with pytest.raises(SecurityConfigError):
            ListenerConfig.from_values(bad, "h", 1)


def test_tls_configuration_errors(tmp_path) -> None:
    with pytest.raises(SecurityConfigError, match="ssl.keystore.location"):
        server_context({}, "SSL")
    bogus = tmp_path / "x.pem"
    bogus.write_text("not a pem")
    with pytest.raises(SecurityConfigError, match="keytool"):
        server_context({"ssl.keystore.location": str(bogus)}, "SSL")
    with pytest.raises(SecurityConfigError, match="ssl.enabled.protocols"):
        server_context({"ssl.enabled.protocols": "SSLv3"}, "SSL")


# ----- quotas ------------------------------------------------------------------------------

def test_sampled_rate_is_kafkas() -> None:
    r = SampledRate(samples=11, window_ms=1000)
    r.record(1000, now_ms=0)
    assert r.window_size_ms(0) == 10_000 and r.measure(0) == pytest.approx(100.0)   # at least 10 whole windows
    for t in range(1, 21):
        r.record(1000, now_ms=t * 1000)
    # 21 s in: the samples of the last 11 windows remain, spanning 10 s.
    assert r.measure(20_000) == pytest.approx(11_000 / 10.0)


def test_quota_resolution_and_throttle() -> None:
    q = QuotaManager(samples=3, window_seconds=1)
    q.update({entity_key([("user", "alice")]): {"producer_byte_rate": "1000"},
              entity_key([("client-id", None)]): {"producer_byte_rate": "50"},
              entity_key([("user", "alice"), ("client-id", "special")]): {"producer_byte_rate": "5000"}})
    assert q.resolve("producer_byte_rate", "alice", "any").bound == 1000
    assert q.resolve("producer_byte_rate", "alice", "special").bound == 5000
    assert q.resolve("producer_byte_rate", "bob", "c").bound == 50
    assert q.resolve("consumer_byte_rate", "alice", "c") is None
    assert q.record("producer_byte_rate", "alice", "c1", 1500, now_ms=0) == 0       # 1500 B over a 2 s minimum window
    throttle = q.record("producer_byte_rate", "alice", "c2", 1500, now_ms=100)       # same user: one shared budget
    window = 100 + 2 * 1000  # elapsed, plus the whole windows short of samples - 1
    assert throttle == round((3000 / (window / 1000) - 1000) / 1000 * window)
    assert q.record("consumer_byte_rate", "alice", "c1", 10**9, now_ms=100) == 0      # no fetch quota


def test_connection_quotas() -> None:
    c = ConnectionQuotas(per_ip=2, overrides="10.0.0.9:0,127.0.0.2:5", total=4)
    assert c.acquire("1.1.1.1") is None and c.acquire("1.1.1.1") is None
    assert "max.connections.per.ip=2" in (c.acquire("1.1.1.1") or "")
    assert c.acquire("10.0.0.9") is not None
    c.release("1.1.1.1")
    assert c.acquire("1.1.1.1") is None
    assert c.acquire("127.0.0.2") is None and c.acquire("127.0.0.2") is None
    assert "max.connections=4" in (c.acquire("127.0.0.2") or "")
    with pytest.raises(SecurityConfigError):
        ConnectionQuotas(1, "nohost", 1)


# ----- the manager: configuration as a broker reads it --------------------------------------

def test_manager_reads_a_jaas_file_and_checks_sasl_settings(tmp_path) -> None:
    from pystream.security.manager import SecurityManager

    jaas_file = tmp_path / "kafka_server_jaas.conf"
    jaas_file.write_text('// a Kafka JAAS file\nKafkaServer {\n  org.apache.kafka.common.security.plain.PlainLoginModule required\n'
                         '  username="admin" password="admin-secret"\n  user_admin="admin-secret"\n  user_bob="bob-pw";\n};\n')
    values = {"listeners": "SASL_PLAINTEXT://127.0.0.1:0", "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
              "java.security.auth.login.config": str(jaas_file), "security.inter.broker.protocol": "SASL_PLAINTEXT",
              "sasl.mechanism.inter.broker.protocol": "PLAIN"}
    m = SecurityManager(values, tmp_path)
    m.start()
    server = m.sasl_server("SASL_PLAINTEXT", "PLAIN")
    server.evaluate(b"\0bob\0bob-pw")
    assert server.user == "bob"
    with pytest.raises(AuthenticationError):
        m.sasl_server("SASL_PLAINTEXT", "PLAIN").evaluate(b"\0bob\0nope")
    ib = m.inter_broker_security()
    assert (ib.protocol, ib.mechanism, ib.username, ib.password) == ("SASL_PLAINTEXT", "PLAIN", "admin", "admin-secret")
    for bad, why in (({**values, "sasl.enabled.mechanisms": "GSSAPI"}, "GSSAPI"),
                     ({**values, "authorizer.class.name": "com.example.MyAuthorizer"}, "authorizer.class.name"),
                     ({**values, "listeners": "SSL://127.0.0.1:0"}, "ssl.keystore.location")):
        with pytest.raises(SecurityConfigError, match=why):
            SecurityManager(bad, tmp_path)
    with pytest.raises(SecurityConfigError, match="not enabled on the inter-broker listener"):
        SecurityManager({**values, "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512"}, tmp_path).inter_broker_security()
