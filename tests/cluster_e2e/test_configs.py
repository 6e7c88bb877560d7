"""Configuration in a cluster: Kafka's own server.properties joins a ZooKeeper cluster with only warnings;
dynamic broker configs are kept in ZooKeeper (/config/brokers/<id>, /config/brokers/<default>), applied by
every broker at once, and still there after a restart."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pystream.protocol.client import KafkaClient
from pystream.protocol.schema_data import ApiKey

from .conftest import Cluster, free_port, wait_until

SERVER_PROPERTIES = Path(__file__).parent.parent / "data" / "server.properties"

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
    b2.stop()  # a clean stop ends its ZooKeeper session (a stop that had to SIGKILL: it expires)
    wait_until(lambda: 2 not in cluster.metadata()["brokers"], 30, what="broker 2's registration gone")
    b2.start()
    cluster.wait_brokers([2])
    assert _described(b2.address, 2, "message.max.bytes") == ("2000", DYNAMIC_DEFAULT)
    assert _described(b2.address, 2, "log.retention.ms") == ("123456", DYNAMIC_BROKER)
    assert not (b2.data_dir / "dynamic-broker-configs.json").exists()  # in ZooKeeper, not in a file


def test_kafka_server_properties_joins_the_cluster_with_only_warnings(cluster: Cluster, tmp_path: Path) -> None:
    """Kafka's config/server.properties as is; only where ZooKeeper, the data and the port are comes from flags."""
    port, log_path = free_port(), tmp_path / "broker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pystream.cli", "serve", "--config", str(SERVER_PROPERTIES),
                                 "--zookeeper", cluster.zk, "--data-dir", str(tmp_path / "data"), "--port", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def serving() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_until(serving, 30, what="the broker listens")
        address = f"127.0.0.1:{port}"
        with KafkaClient(address, timeout=10, retries=5) as c:
            c.create_topic("sample", 1, 1, {})
            wait_until(lambda: c.metadata(["sample"])["topics"][0]["partitions"], 20, what="topic in metadata")
        from confluent_kafka import Consumer, Producer

        p = Producer({"bootstrap.servers": address})
        p.produce("sample", b"hello")
        assert p.flush(20) == 0
        consumer = Consumer({"bootstrap.servers": address, "group.id": "sample", "auto.offset.reset": "earliest"})
        try:
            consumer.subscribe(["sample"])
            deadline, got = time.monotonic() + 30, None
            while got is None and time.monotonic() < deadline:
                m = consumer.poll(0.5)
                if m is not None and m.error() is None:
                    got = m.value()
            assert got == b"hello"
        finally:
            consumer.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    text = log_path.read_text()
    assert rc == 0 and "Traceback" not in text and " ERROR " not in text, text
    serving_log = text.split(" shutting down")[0].splitlines()  # (leaving the cluster logs its own warning)
    warned = sorted(line.split(": config ", 1)[1].split("=")[0] for line in serving_log if " WARNING pystream.server: config " in line)
    assert [line for line in serving_log if " WARNING " in line and ": config " not in line] == [], text
    assert warned == sorted(["num.network.threads", "num.io.threads", "socket.send.buffer.bytes", "socket.receive.buffer.bytes",
                             "num.recovery.threads.per.data.dir", "transaction.state.log.replication.factor",
                             "transaction.state.log.min.isr", "zookeeper.connection.timeout.ms"]), text
