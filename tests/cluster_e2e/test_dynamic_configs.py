"""Dynamic broker configs in a cluster: kept in ZooKeeper (/config/brokers/<id>, /config/brokers/<default>),
applied by every broker at once, and still there after a restart."""

from __future__ import annotations

from typing import Any

from pystream.protocol.client import KafkaClient
from pystream.protocol.schema_data import ApiKey

from .conftest import Cluster, wait_until

BROKER, SET = 4, 0
DYNAMIC_BROKER, DYNAMIC_DEFAULT = 2, 3


def _request(address: str, api: int, body: dict[str, Any]) -> dict[str, Any]:
    with KafkaClient(address, timeout=10, retries=0) as c:
        return c.request(api, body)


def _alter(address: str, resource: str, key: str, value: str) -> int:
    resp = _request(address, ApiKey.INCREMENTAL_ALTER_CONFIGS, {"resources": [{"resource_type": BROKER, "resource_name": resource,
                    "configs": [{"name": key, "config_operation": SET, "value": value}]}], "validate_only": False})
    return resp["responses"][0]["error_code"]


def _described(address: str, broker_id: int, key: str) -> tuple[str | None, int]:
    resp = _request(address, ApiKey.DESCRIBE_CONFIGS, {"resources": [{"resource_type": BROKER, "resource_name": str(broker_id),
                    "configuration_keys": [key]}], "include_synonyms": False})
    (entry,) = resp["results"][0]["configs"]
    return entry["value"], entry["config_source"]


def test_dynamic_broker_configs_reach_every_broker_and_survive_restart(cluster: Cluster) -> None:
    cluster.start(2)
    b1, b2 = cluster.brokers[1], cluster.brokers[2]
    assert _alter(b1.address, "", "message.max.bytes", "2000") == 0  # the cluster-wide default, through broker 1
    assert _alter(b2.address, "2", "log.retention.ms", "123456") == 0  # broker 2's own
    wait_until(lambda: _described(b2.address, 2, "message.max.bytes") == ("2000", DYNAMIC_DEFAULT), 20,
               what="broker 2 applies the default set through broker 1")
    assert _described(b1.address, 1, "log.retention.ms")[1] != DYNAMIC_BROKER  # broker 2's own stays its own
    b2.stop()  # a clean stop ends its ZooKeeper session, so the id is free at once
    b2.start()
    cluster.wait_brokers([2])
    assert _described(b2.address, 2, "message.max.bytes") == ("2000", DYNAMIC_DEFAULT)
    assert _described(b2.address, 2, "log.retention.ms") == ("123456", DYNAMIC_BROKER)
    assert not (b2.data_dir / "dynamic-broker-configs.json").exists()  # in ZooKeeper, not in a file
