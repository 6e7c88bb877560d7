"""The ZooKeeper security stores against a real ZooKeeper: Kafka's znodes for ACLs
(/kafka-acl, /kafka-acl-extended/prefixed) and entity configs (/config/users,
/config/clients, /config/users/<u>/clients/<c>), change notifications reaching
another broker's session, URL-encoded names and the default entity."""

from __future__ import annotations

import json
import threading

from pystream.cluster.security_store import ZkAclStore, ZkEntityConfigStore
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
from pystream.security.principal import KafkaPrincipal
from pystream.security.stores import entity_key

from .conftest import wait_until


def test_acls_in_kafkas_znodes_and_seen_by_another_broker(make_store) -> None:
    one, two = make_store(), make_store()
    a1, a2 = AclAuthorizer(ZkAclStore(one)), AclAuthorizer(ZkAclStore(two))
    a1.start()
    a2.start()
    lit = AclBinding(ResourcePattern(ResourceType.TOPIC, "orders"),
                     AccessControlEntry("User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW))
    pre = AclBinding(ResourcePattern(ResourceType.GROUP, "app/", PatternType.PREFIXED),
                     AccessControlEntry("User:alice", "10.0.0.1", AclOperation.ALL, AclPermissionType.DENY))
    a1.create([lit, pre])
    data, _ = one.client.get("/kafka-acl/Topic/orders")
    assert json.loads(data) == {"version": 1, "acls": [
        {"principal": "User:alice", "permissionType": "Allow", "operation": "Read", "host": "*"}]}
    assert one.client.exists("/kafka-acl-extended/prefixed/Group/app%2F")
    alice = KafkaPrincipal.user("alice")
    wait_until(lambda: a2.authorize(alice, "1.2.3.4", AclOperation.READ, ResourceType.TOPIC, "orders"))
    assert set(a2.acls()) == {lit, pre}
    assert a1.delete([AclBindingFilter(ResourceType.TOPIC, "orders", PatternType.LITERAL)]) == [[lit]]
    wait_until(lambda: not a2.authorize(alice, "1.2.3.4", AclOperation.READ, ResourceType.TOPIC, "orders"))
    assert not one.client.exists("/kafka-acl/Topic/orders")


def test_entity_configs_in_kafkas_znodes(make_store) -> None:
    one, two = make_store(), make_store()
    s1, s2 = ZkEntityConfigStore(one), ZkEntityConfigStore(two)
    changed = threading.Event()
    s2.subscribe(changed.set)
    alice = entity_key([("user", "alice smith")])
    alice_app = entity_key([("user", "alice smith"), ("client-id", "app*1")])
    any_client = entity_key([("client-id", None)])
    s1.alter({alice: {"SCRAM-SHA-256": "salt=x", "producer_byte_rate": "100"}, alice_app: {"consumer_byte_rate": "7"},
              any_client: {"request_percentage": "50"}})
    assert json.loads(one.client.get("/config/users/alice%20smith")[0]) == {
        "version": 1, "config": {"SCRAM-SHA-256": "salt=x", "producer_byte_rate": "100"}}
    assert one.client.exists("/config/users/alice%20smith/clients/app%2A1")
    assert one.client.exists("/config/clients/<default>")
    assert changed.wait(10)
    assert s2.load() == {alice: {"SCRAM-SHA-256": "salt=x", "producer_byte_rate": "100"}, alice_app: {"consumer_byte_rate": "7"},
                         any_client: {"request_percentage": "50"}}
    s1.alter({alice: {"SCRAM-SHA-256": None, "producer_byte_rate": None}, any_client: {"request_percentage": None}})
    loaded = s2.load()
    assert alice not in loaded and any_client not in loaded and loaded[alice_app] == {"consumer_byte_rate": "7"}
