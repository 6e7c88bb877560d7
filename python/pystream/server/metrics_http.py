"""The broker's metrics over HTTP, in Prometheus' text format under Kafka-like names (docs/operations.md).

Names follow what Kafka's JMX metrics become under the usual JMX exporter rules
(``kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=T`` ->
``kafka_server_brokertopicmetrics_bytesin_total{topic="T"}``), and kafka_exporter's
``kafka_consumergroup_lag``.

`BrokerCollector` runs when Prometheus scrapes, on the HTTP server's thread: it
reads the counters of `BrokerMetrics` and the broker's state, copying what it
reads (``list(...)`` of the loop's dicts: atomic under the GIL), and never holds
the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from pystream.server.broker import Broker
from pystream.server.metrics import BrokerMetrics, api_name


class BrokerCollector(Collector):
    """Reads the broker's state at scrape time."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def collect(self) -> Iterator[Any]:
        b = self.broker
        m = b.metrics
        yield from self._topic_counters(m)
        yield from self._request_metrics(m)
        yield from self._partition_metrics(b)
        yield from self._group_lag(b)
        conn = GaugeMetricFamily("kafka_server_socketservermetrics_connection_count", "Open client connections")
        conn.add_metric([], m.connections)
        yield conn
        accepted = CounterMetricFamily("kafka_server_socketservermetrics_connection_creation", "Connections accepted")
        accepted.add_metric([], m.connections_total)
        yield accepted
        for name, doc, value in (("kafka_server_replicamanager_isrshrinks", "ISR shrinks", m.isr_shrinks),
                                 ("kafka_server_replicamanager_isrexpands", "ISR expands", m.isr_expands)):
            c = CounterMetricFamily(name, doc)
            c.add_metric([], value)
            yield c
        rss = GaugeMetricFamily("pystream_process_rss_anon_bytes", "Anonymous resident memory of the broker (RssAnon)")
        rss.add_metric([], _rss_anon())
        yield rss
        if b.gc_policy is not None and b.gc_policy.installed:  # server/gc_policy.py
            g = b.gc_policy
            longest = GaugeMetricFamily("pystream_gc_full_collection_longest_ms", "Longest full garbage collection since start, in ms")
            longest.add_metric([], g.longest_full_collection_s * 1000)
            frozen = GaugeMetricFamily("pystream_gc_frozen_objects", "Upper bound of the objects frozen for the collector")
            frozen.add_metric([], g.frozen_bound)
            unfreezes = CounterMetricFamily("pystream_gc_unfreezes", "Times the frozen set was emptied (the next full collection visits everything)")
            unfreezes.add_metric([], g.unfreezes)
            yield from (longest, frozen, unfreezes)

    @staticmethod
    def _topic_counters(m: BrokerMetrics) -> Iterator[Any]:
        fams = [CounterMetricFamily(f"kafka_server_brokertopicmetrics_{n}", d, labels=["topic"]) for n, d in (
            ("bytesin", "Bytes appended by produce requests"), ("messagesin", "Records appended by produce requests"),
            ("bytesout", "Bytes returned to consumer fetches"), ("totalproducerequests", "Produce requests, per partition"),
            ("totalfetchrequests", "Consumer fetches, per partition"))]
        totals = [0] * len(fams)
        for topic, values in list(m.topics.items()):
            for i, v in enumerate(list(values)):
                fams[i].add_metric([topic], v)
                totals[i] += v
        yield from fams
        for (n, _d), total in zip((("bytesin", ""), ("messagesin", ""), ("bytesout", "")), totals):
            c = CounterMetricFamily(f"kafka_server_brokertopicmetrics_all_{n}", f"All topics' {n}")
            c.add_metric([], total)
            yield c

    @staticmethod
    def _request_metrics(m: BrokerMetrics) -> Iterator[Any]:
        requests = CounterMetricFamily("kafka_network_requestmetrics_requests", "Requests answered", labels=["request"])
        total = HistogramMetricFamily("kafka_network_requestmetrics_totaltimems", "Time from a request's first byte to "
                                      "its response being queued, in ms", labels=["request"])
        queue = HistogramMetricFamily("kafka_network_requestmetrics_requestqueuetimems", "Time from a request's first "
                                      "byte until its handler starts (waiting for request memory, receiving), in ms",
                                      labels=["request"])
        for key, h in list(m.total_time.items()):
            name = api_name(key)
            requests.add_metric([name], h.n)
            total.add_metric([name], h.buckets(), h.total)
        for key, h in list(m.queue_time.items()):
            queue.add_metric([api_name(key)], h.buckets(), h.total)
        hold = HistogramMetricFamily("pystream_request_loop_hold_ms", "Longest time one step of a request held the "
                                     "event loop (no other request is served meanwhile), in ms", labels=["request"])
        hold_max = GaugeMetricFamily("pystream_request_loop_hold_max_ms", "Longest loop hold of any request since start, "
                                     "in ms", labels=["request"])
        for key, h in list(m.loop_hold.items()):
            hold.add_metric([api_name(key)], h.buckets(), h.total)
            hold_max.add_metric([api_name(key)], m.loop_hold_max[key])
        yield from (requests, total, queue, hold, hold_max)

    @staticmethod
    def _partition_metrics(b: Broker) -> Iterator[Any]:
        parts = list(b.partitions.values())
        size = GaugeMetricFamily("kafka_log_log_size", "Bytes of a partition's log on disk", labels=["topic", "partition"])
        leaders = under = 0
        for p in parts:
            try:
                size.add_metric([p.topic, str(p.index)], p.log.size_bytes)
            except Exception:  # closed meanwhile (topic deleted)
                continue
            if p.is_leader:
                leaders += 1
                ls = p.leader_state
                replicas = getattr(ls, "replicas", None)
                if ls is not None and replicas is not None and len(getattr(ls, "isr", ())) < len(replicas):
                    under += 1
        topics = b.topic_partitions()
        offline = 0
        if b.cluster is not None:
            offline = sum(1 for t, n in topics.items() for i in range(n)
                          if (info := b.cluster.partition_info(t, i)) is not None and info.leader < 0)
        for name, doc, value in (
                ("kafka_server_replicamanager_partitioncount", "Partitions with a replica on this broker", len(parts)),
                ("kafka_server_replicamanager_leadercount", "Partitions this broker leads", leaders),
                ("kafka_server_replicamanager_underreplicatedpartitions", "Led partitions whose ISR is smaller than "
                 "their replica set", under),
                ("kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions with no live leader", offline),
                ("kafka_controller_kafkacontroller_activecontrollercount", "1 on the broker that is the controller",
                 int(b.is_controller()))):
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], value)
            yield g
        yield size

    @staticmethod
    def _group_lag(b: Broker) -> Iterator[Any]:
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "High watermark minus the group's committed offset",
                                labels=["consumergroup", "topic", "partition"])
        for group, committed in b.offsets.loaded_offsets():
            for (topic, index), om in committed.items():
                p = b.partitions.get((topic, index))
                if p is not None and p.is_leader:
                    lag.add_metric([group, topic, str(index)], max(0, p.high_watermark - om.offset))
        yield lag


def _rss_anon() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def start_metrics_server(broker: Broker, host: str, port: int) -> tuple[Any, Any]:
    """Serves GET /metrics on host:port from a thread (prometheus_client's server); returns
    (server, thread) for `shutdown()`."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(BrokerCollector(broker))
    return start_http_server(port, addr=host, registry=registry)

