"""ACLs with real clients over SASL: a principal allowed to read one topic cannot
write it, cannot see other topics in Metadata and cannot join another group;
a Deny overrides an Allow; prefixed ACLs match; administration through
`pystream acls` and confluent-kafka's AdminClient; super users; KIP-430
authorized operations; ACLs survive a restart."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicCollection
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from .conftest import started, ADMIN, ADMIN_PASSWORD, SecureBroker, jaas

USERS = {ADMIN: ADMIN_PASSWORD, "alice": "alice-pw", "bob": "bob-pw", "eve": "eve-pw"}
LISTENERS = {"SASL_PLAINTEXT": "SASL_PLAINTEXT"}


def conf(broker: SecureBroker, user: str) -> dict[str, object]:
    return {"bootstrap.servers": broker.addr("SASL_PLAINTEXT"), "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
            "sasl.username": user, "sasl.password": USERS[user]}


def acls_cli(broker: SecureBroker, command_config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pystream.cli", "acls", *args, "-b", broker.addr("SASL_PLAINTEXT"),
                           "--command-config", str(command_config)], capture_output=True, text=True, timeout=60)


def command_config(tmp: Path, user: str) -> Path:
    path = tmp / f"{user}.properties"
    path.write_text(f"security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\nsasl.username={user}\nsasl.password={USERS[user]}\n")
    return path


def produce(broker: SecureBroker, user: str, topic: str, n: int = 5) -> list[KafkaError | None]:
    p = Producer(conf(broker, user))
    outcomes: list[KafkaError | None] = []
    for i in range(n):
        p.produce(topic, f"{topic}-{i}".encode(), on_delivery=lambda err, msg: outcomes.append(err))
    p.flush(30)
    return outcomes


def consume(broker: SecureBroker, user: str, topic: str, group: str, n: int, timeout: float = 20) -> tuple[list[bytes], list[KafkaError]]:
    c = Consumer({**conf(broker, user), "group.id": group, "auto.offset.reset": "earliest"})
    got: list[bytes] = []
    errors: list[KafkaError] = []
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(got) < n and not errors and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                errors.append(m.error())
            else:
                got.append(m.value())
    finally:
        c.close()
    return got, errors


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[tuple[SecureBroker, Path]]:
    tmp = tmp_path_factory.mktemp("acls")
    b = SecureBroker(tmp / "b", LISTENERS, {
        "sasl.enabled.mechanisms": "PLAIN", "sasl.jaas.config": jaas({u: p for u, p in USERS.items()}),
        "authorizer.class.name": "kafka.security.authorizer.AclAuthorizer", "super.users": f"User:{ADMIN}"})
    started(request, b)
    admin_cfg = command_config(tmp, ADMIN)
    try:
        for topic in ("orders", "payments-eu", "payments-secret", "secret"):
            assert produce(b, ADMIN, topic, 3) == [None] * 3
        for args in (["--allow-principal", "User:alice", "--consumer", "--topic", "orders", "--group", "orders-app"],
                     ["--allow-principal", "User:bob", "--operation", "All", "--topic", "payments-", "--group", "pay-",
                      "--resource-pattern-type", "prefixed"],
                     ["--deny-principal", "User:bob", "--operation", "Read", "--topic", "payments-secret"]):
            r = acls_cli(b, admin_cfg, "add", *args)
            assert r.returncode == 0, r.stderr
        yield b, tmp
    finally:
        b.stop()


def test_reader_cannot_write_see_or_join_others(broker: tuple[SecureBroker, Path]) -> None:
    b, _ = broker
    got, errors = consume(b, "alice", "orders", "orders-app", 3)
    assert errors == [] and got == [b"orders-0", b"orders-1", b"orders-2"]
    outcomes = produce(b, "alice", "orders", 1)
    assert len(outcomes) == 1 and outcomes[0] is not None and outcomes[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    topics = Producer(conf(b, "alice")).list_topics(timeout=10).topics
    assert set(topics) == {"orders"}  # the other topics (and __consumer_offsets) are not disclosed
    secret = Producer(conf(b, "alice")).list_topics("secret", timeout=10).topics["secret"]
    assert secret.error is not None and secret.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    got, errors = consume(b, "alice", "orders", "another-group", 1)
    assert got == [] and errors and errors[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    # A principal with no ACLs sees nothing and may do nothing.
    assert set(Producer(conf(b, "eve")).list_topics(timeout=10).topics) == set()


def test_deny_overrides_allow_and_prefixes_match(broker: tuple[SecureBroker, Path]) -> None:
    b, _ = broker
    got, errors = consume(b, "bob", "payments-eu", "pay-eu", 3)
    assert errors == [] and len(got) == 3                       # prefixed Allow All
    assert produce(b, "bob", "payments-eu", 2) == [None, None]   # idempotence off; Write by the prefix
    got, errors = consume(b, "bob", "payments-secret", "pay-secret", 1)
    assert got == [] and errors and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED  # Deny Read wins
    assert produce(b, "bob", "payments-secret", 1) == [None]     # Deny was for Read only
    assert produce(b, "bob", "payments-new", 1) == [None]        # Create by the prefix: auto-created
    outcomes = produce(b, "bob", "orders", 1)
    assert outcomes[0] is not None and outcomes[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_idempotent_producer_needs_a_write(broker: tuple[SecureBroker, Path]) -> None:
    """InitProducerId: IdempotentWrite on the cluster, or Write on some topic (KIP-679)."""
    b, _ = broker
    p = Producer({**conf(b, "bob"), "enable.idempotence": True})
    p.produce("payments-eu", b"idem")
    assert p.flush(30) == 0
    p = Producer({**conf(b, "eve"), "enable.idempotence": True, "message.timeout.ms": 5000})
    p.produce("payments-eu", b"idem")
    with pytest.raises(KafkaException) as e:  # librdkafka raises the fatal InitProducerId error from poll/flush
        for _ in range(100):
            p.poll(0.1)
    assert e.value.args[0].fatal() and e.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED


def test_administration_and_authorized_operations(broker: tuple[SecureBroker, Path]) -> None:
    b, tmp = broker
    r = acls_cli(b, command_config(tmp, "alice"), "add", "--allow-principal", "User:alice", "--operation", "All", "--topic", "secret")
    assert r.returncode == 1 and "CLUSTER_AUTHORIZATION_FAILED" in r.stderr
    r = acls_cli(b, command_config(tmp, ADMIN), "list", "--topic", "payments-secret")
    assert r.returncode == 0 and "User:bob" in r.stdout and "Deny" in r.stdout and "PREFIXED" in r.stdout, r.stdout
    admin = AdminClient(conf(b, ADMIN))
    flt = AclBindingFilter(ResourceType.TOPIC, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY)
    bindings = admin.describe_acls(flt).result(timeout=10)
    assert {(x.name, x.principal, x.operation) for x in bindings} >= {
        ("orders", "User:alice", AclOperation.READ), ("payments-", "User:bob", AclOperation.ALL),
        ("payments-secret", "User:bob", AclOperation.READ)}
    new = AclBinding(ResourceType.TOPIC, "secret", ResourcePatternType.LITERAL, "User:eve", "*", AclOperation.DESCRIBE,
                     AclPermissionType.ALLOW)
    admin.create_acls([new])[new].result(timeout=10)
    assert set(Producer(conf(b, "eve")).list_topics(timeout=10).topics) == {"secret"}
    deleted = admin.delete_acls([AclBindingFilter(ResourceType.TOPIC, "secret", ResourcePatternType.LITERAL, "User:eve", None,
                                                  AclOperation.ANY, AclPermissionType.ANY)])
    assert len(next(iter(deleted.values())).result(timeout=10)) == 1
    assert set(Producer(conf(b, "eve")).list_topics(timeout=10).topics) == set()
    # KIP-430: alice may Read and Describe "orders", nothing else.
    alice_admin = AdminClient(conf(b, "alice"))  # kept referenced: a collected client cancels its futures
    desc = alice_admin.describe_topics(TopicCollection(["orders"]), include_authorized_operations=True)
    ops = set(desc["orders"].result(timeout=10).authorized_operations)
    assert ops == {AclOperation.READ, AclOperation.DESCRIBE}
    groups = alice_admin.describe_consumer_groups(["orders-app"], include_authorized_operations=True)
    assert set(groups["orders-app"].result(timeout=10).authorized_operations) == {AclOperation.READ, AclOperation.DESCRIBE}


def test_acls_survive_a_restart(broker: tuple[SecureBroker, Path]) -> None:
    b, _ = broker
    b.stop()
    b.start()
    assert set(Producer(conf(b, "alice")).list_topics(timeout=10).topics) == {"orders"}
    outcomes = produce(b, "alice", "orders", 1)
    assert outcomes[0] is not None and outcomes[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_acl_apis_without_an_authorizer(secure_broker) -> None:
    """No authorizer.class.name: everything is allowed and the ACL APIs answer SECURITY_DISABLED."""
    b = secure_broker({"PLAINTEXT": "PLAINTEXT"})
    r = subprocess.run([sys.executable, "-m", "pystream.cli", "acls", "list", "-b", b.addr("PLAINTEXT")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "SECURITY_DISABLED" in r.stderr and "No Authorizer is configured" in r.stderr
    p = Producer({"bootstrap.servers": b.addr("PLAINTEXT")})
    p.produce(f"open-{uuid.uuid4().hex[:6]}", b"x")
    assert p.flush(15) == 0


def test_consumer_group_protocol_checks_the_group_and_topics(broker: tuple[SecureBroker, Path]) -> None:
    """KIP-848 (group.protocol=consumer): ConsumerGroupHeartbeat needs Read on the group and Describe on the
    subscribed topics; OffsetDelete needs Delete on the group."""
    b, tmp = broker
    conf_848 = {"group.protocol": "consumer"}
    p = Producer(conf(b, ADMIN))
    fresh = [f"kip848-{uuid.uuid4().hex[:6]}-{i}".encode() for i in range(3)]
    for v in fresh:
        p.produce("orders", v)
    assert p.flush(15) == 0
    # The group may have committed offsets of an earlier test: read until the fresh records arrive.
    c = Consumer({**conf(b, "alice"), **conf_848, "group.id": "orders-app", "auto.offset.reset": "earliest"})
    got: list[bytes] = []
    try:
        c.subscribe(["orders"])
        deadline = time.monotonic() + 30
        while not set(fresh) <= set(got) and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append(m.value())
    finally:
        c.close()
    assert set(fresh) <= set(got), got
    c = Consumer({**conf(b, "alice"), **conf_848, "group.id": "not-hers", "auto.offset.reset": "earliest"})
    errors: list[KafkaError] = []
    try:
        c.subscribe(["orders"])
        deadline = time.monotonic() + 20
        while not errors and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error():
                errors.append(m.error())
    finally:
        c.close()
    assert errors and errors[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    from kafka import KafkaAdminClient
    from kafka.structs import TopicPartition as KTopicPartition

    admin = KafkaAdminClient(bootstrap_servers=b.addr("SASL_PLAINTEXT"), security_protocol="SASL_PLAINTEXT",
                             sasl_mechanism="PLAIN", sasl_plain_username="alice", sasl_plain_password=USERS["alice"])
    try:
        result = admin.delete_group_offsets("orders-app", [KTopicPartition("orders", 0)])
    except Exception as e:  # kafka-python raises the group-level error
        assert "GroupAuthorizationFailed" in type(e).__name__ or "GROUP_AUTHORIZATION" in str(e).upper(), repr(e)
    else:
        raise AssertionError(f"OffsetDelete without Delete on the group answered {result}")
    finally:
        admin.close()


def test_transactions_need_write_on_the_transactional_id(broker: tuple[SecureBroker, Path]) -> None:
    """Kafka's transaction checks: Write on the TransactionalId (InitProducerId, AddPartitionsToTxn,
    EndTxn), Write on the topics added; with them the transaction commits."""
    b, tmp = broker
    txn_conf = {**conf(b, "bob"), "transactional.id": "pay-txn-1", "transaction.timeout.ms": 10000}
    refused = Producer({**conf(b, "bob"), "transactional.id": "orders-txn"})  # bob has no ACL on this id
    with pytest.raises(KafkaException) as e:
        refused.init_transactions(20)
    assert e.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED
    r = acls_cli(b, command_config(tmp, ADMIN), "add", "--allow-principal", "User:bob", "--operation", "Write",
                 "--transactional-id", "pay-txn-", "--resource-pattern-type", "prefixed")
    assert r.returncode == 0, r.stderr
    p = Producer(txn_conf)
    p.init_transactions(20)
    p.begin_transaction()
    p.produce("orders", b"not-allowed")  # bob may not write orders: the transaction cannot go on
    with pytest.raises(KafkaException):
        p.commit_transaction(20)
    p2 = Producer({**txn_conf, "transactional.id": "pay-txn-2"})
    p2.init_transactions(20)
    p2.begin_transaction()
    p2.produce("payments-txn", b"in-a-transaction")  # a new topic under bob's prefixes
    p2.commit_transaction(20)
    got, errors = consume(b, "bob", "payments-txn", "pay-txn-check", 1)
    assert not errors and got == [b"in-a-transaction"]
