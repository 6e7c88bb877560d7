"""The broker's metrics, in Prometheus' text format under Kafka-like names (docs/operations.md).

Names follow what Kafka's JMX metrics become under the usual JMX exporter rules
(``kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=T`` ->
``kafka_server_brokertopicmetrics_bytesin_total{topic="T"}``), and kafka_exporter's
``kafka_consumergroup_lag``.

The hot paths only add to plain counters (`BrokerMetrics.produced`, `fetched`,
`request_done`); everything else (partitions, ISR, log sizes, group lag, memory)
is read when Prometheus scrapes, by `BrokerCollector` on the HTTP server's thread.
It copies what it reads (`list(...)` of the loop's dicts: atomic under the GIL) and
never blocks the event loop.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from pystream.protocol.schema_data import ApiKey

if TYPE_CHECKING:
    from pystream.server.broker import Broker

# Request latency buckets in milliseconds (Kafka reports request times in ms).
LATENCY_BUCKETS_MS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


def _api_name(key: int) -> str:
    """Kafka's request name: ``Produce``, ``OffsetCommit``, ``ApiVersions``, ..."""
    try:
        return "".join(part.capitalize() for part in ApiKey(key).name.split("_"))
    except ValueError:
        return str(key)


class _Histogram:
    """Counts per bucket (cumulated at scrape time), sum and count."""

    __slots__ = ("counts", "total", "n")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.total = 0.0
        self.n = 0

    def observe(self, ms: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_MS, ms)] += 1
        self.total += ms
        self.n += 1

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*LATENCY_BUCKETS_MS, float("inf")), self.counts):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out


class BrokerMetrics:
    """What the request paths count. Touched by the event loop only; read by the collector."""

    def __init__(self) -> None:
        # topic -> [bytes in, messages in, bytes out, produce requests, fetch requests]
        self.topics: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        self.total_time: defaultdict[int, _Histogram] = defaultdict(_Histogram)  # per API key
        self.queue_time: defaultdict[int, _Histogram] = defaultdict(_Histogram)
        self.isr_shrinks = 0
        self.isr_expands = 0
        self.connections = 0
        self.connections_total = 0

    def produced(self, topic: str, nbytes: int, records: int) -> None:
        t = self.topics[topic]
        t[0] += nbytes
        t[1] += records
        t[3] += 1

    def fetched(self, topic: str, nbytes: int) -> None:
        t = self.topics[topic]
        t[2] += nbytes
        t[4] += 1

    def request_done(self, api_key: int, queue_ms: float, total_ms: float) -> None:
        self.total_time[api_key].observe(total_ms)
        self.queue_time[api_key].observe(queue_ms)

    def forget_topic(self, topic: str) -> None:
        self.topics.pop(topic, None)


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
            name = _api_name(key)
            requests.add_metric([name], h.n)
            total.add_metric([name], h.buckets(), h.total)
        for key, h in list(m.queue_time.items()):
            queue.add_metric([_api_name(key)], h.buckets(), h.total)
        yield from (requests, total, queue)

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

