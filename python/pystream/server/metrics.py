"""What the broker's request paths count for its metrics (served by server/metrics_http.py).

The hot paths only add to plain counters and histograms here; everything else
(partitions, ISR, log sizes, group lag, memory) is read when Prometheus scrapes.
"""

from __future__ import annotations

import bisect
from collections import defaultdict

from pystream.protocol.schema_data import ApiKey

# Request latency buckets in milliseconds (Kafka reports request times in ms).
LATENCY_BUCKETS_MS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


def api_name(key: int) -> str:
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
        # Per API key: the longest time one step of a request (decoding, handling, encoding
        # between two awaits, with any garbage collection it triggered) held the event loop.
        self.loop_hold: defaultdict[int, _Histogram] = defaultdict(_Histogram)
        self.loop_hold_max: defaultdict[int, float] = defaultdict(float)
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

    def loop_held(self, api_key: int, ms: float) -> None:
        self.loop_hold[api_key].observe(ms)
        if ms > self.loop_hold_max[api_key]:
            self.loop_hold_max[api_key] = ms

    def forget_topic(self, topic: str) -> None:
        self.topics.pop(topic, None)
