"""The Prometheus endpoint of a real broker, scraped during a real workload (prometheus_client's parser)."""

from __future__ import annotations

import time
import urllib.request

from compat_helpers import free_port, unique_topic


def _scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_metrics_match_the_workload(broker_factory) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    port = free_port()
    b = broker_factory(**{"metrics.port": str(port)})
    topic, group = unique_topic("m"), unique_topic("g")
    admin = AdminClient({"bootstrap.servers": b.bootstrap})
    admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(20)
    n = 500
    p = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "linger.ms": 5})
    for i in range(n):
        p.produce(topic, b"x" * 100, partition=i % 2)
    assert p.flush(30) == 0
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "enable.auto.commit": False, "log_level": 0})
    c.assign([TopicPartition(topic, 0, 0), TopicPartition(topic, 1, 0)])
    got = 0
    deadline = time.monotonic() + 30
    while got < n and time.monotonic() < deadline:
        got += sum(1 for m in c.consume(500, 0.5) if m.error() is None)
    assert got == n
    c.commit(offsets=[TopicPartition(topic, 0, 100), TopicPartition(topic, 1, 250)], asynchronous=False)
    c.close()

    m = _scrape(port)
    t = (("topic", topic),)
    assert m["kafka_server_brokertopicmetrics_messagesin_total"][t] == n
    bytes_in = m["kafka_server_brokertopicmetrics_bytesin_total"][t]
    assert 100 * n < bytes_in < 100 * n + 200 * 100  # the values plus batch and record framing
    assert m["kafka_server_brokertopicmetrics_bytesout_total"][t] >= bytes_in  # everything was read once
    assert m["kafka_network_requestmetrics_requests_total"][(("request", "Produce"),)] >= 1
    assert m["kafka_network_requestmetrics_totaltimems_count"][(("request", "Fetch"),)] >= 1
    assert m["kafka_server_replicamanager_leadercount"][()] >= 2
    assert m["kafka_server_replicamanager_underreplicatedpartitions"][()] == 0
    assert m["kafka_controller_kafkacontroller_activecontrollercount"][()] == 1
    assert m["kafka_server_socketservermetrics_connection_count"][()] >= 1
    assert m["pystream_process_rss_anon_bytes"][()] > 1 << 20
    # every request measured its longest hold of the event loop (> 0: each ran on it a while)
    assert m["pystream_request_loop_hold_ms_count"][(("request", "Produce"),)] == \
        m["kafka_network_requestmetrics_requests_total"][(("request", "Produce"),)]
    assert m["pystream_request_loop_hold_max_ms"][(("request", "Fetch"),)] > 0
    on_disk = sum(f.stat().st_size for i in (0, 1) for f in (b.data_dir / f"{topic}-{i}").glob("*.log"))
    sizes = m["kafka_log_log_size"]
    assert sizes[(("partition", "0"), ("topic", topic))] + sizes[(("partition", "1"), ("topic", topic))] == on_disk
    lag = m["kafka_consumergroup_lag"]
    assert lag[(("consumergroup", group), ("partition", "0"), ("topic", topic))] == n // 2 - 100
    assert lag[(("consumergroup", group), ("partition", "1"), ("topic", topic))] == n // 2 - 250
