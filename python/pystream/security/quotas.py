"""Client quotas (KIP-13, KIP-55, KIP-124, KIP-546) and connection limits.

Byte-rate quotas (``producer_byte_rate``, ``consumer_byte_rate``, bytes per
second) and request quotas (``request_percentage``, percent of one thread's
time on the event loop) are configured per user, per client id, or per
(user, client id), each possibly the default entity; the most specific
configured one applies (Kafka's order, see `QuotaManager.resolve`). Clients
sharing the entity a quota comes from share its budget.

Rates are Kafka's sampled rate: ``quota.window.num`` windows of
``quota.window.size.seconds``; a client over its quota gets
``throttle_time_ms = (rate - quota) / quota * window`` (at most the whole
window span) in its response and its connection is muted that long.

`ConnectionQuotas`: ``max.connections.per.ip`` (with
``max.connections.per.ip.overrides``) and ``max.connections``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from pystream.errors import SecurityConfigError
from pystream.security.listeners import parse_list
from pystream.security.stores import EntityKey

__all__ = ["QUOTA_KEYS", "ConnectionQuotas", "QuotaManager", "SampledRate"]

PRODUCE, FETCH, REQUEST = "producer_byte_rate", "consumer_byte_rate", "request_percentage"
# Quota keys AlterClientQuotas accepts (controller_mutation_rate is accepted and stored, not enforced).
QUOTA_KEYS = (PRODUCE, FETCH, REQUEST, "controller_mutation_rate")


class SampledRate:
    """Kafka's `Rate` over a `SampledStat`: the sum of the live samples divided by
    the time they span, counted as at least (samples - 1) whole windows."""

    def __init__(self, samples: int, window_ms: int) -> None:
        self.samples, self.window_ms = samples, window_ms
        self._starts: list[float] = []   # each sample's start time (ms), oldest first
        self._values: list[float] = []

    def record(self, value: float, now_ms: float) -> None:
        self._purge(now_ms)
        if not self._starts or now_ms - self._starts[-1] >= self.window_ms:
            self._starts.append(now_ms)
            self._values.append(0.0)
            if len(self._starts) > self.samples:
                del self._starts[0], self._values[0]
        self._values[-1] += value

    def _purge(self, now_ms: float) -> None:
        horizon = now_ms - self.samples * self.window_ms
        while self._starts and self._starts[0] < horizon:
            del self._starts[0], self._values[0]

    def window_size_ms(self, now_ms: float) -> float:
        self._purge(now_ms)
        elapsed = now_ms - (self._starts[0] if self._starts else now_ms)
        full = int(elapsed // self.window_ms)
        if full < self.samples - 1:
            elapsed += (self.samples - 1 - full) * self.window_ms
        return elapsed

    def measure(self, now_ms: float) -> float:
        """Per second."""
        window = self.window_size_ms(now_ms)
        return sum(self._values) / (window / 1000.0) if window > 0 else 0.0


@dataclass(frozen=True)
class _Quota:
    bound: float
    sensor_key: tuple[str, str, str]  # (kind, user, client-id) of the entity the quota comes from


class QuotaManager:
    """Quotas from the entity configs; sensors per (quota kind, entity)."""

    def __init__(self, samples: int = 11, window_seconds: int = 1) -> None:
        if samples < 2 or window_seconds < 1:
            raise SecurityConfigError("quota.window.num must be >= 2 and quota.window.size.seconds >= 1")
        self.samples, self.window_ms = samples, window_seconds * 1000
        self.max_throttle_ms = samples * self.window_ms
        self._configs: Mapping[EntityKey, Mapping[str, str]] = {}
        self._any: set[str] = set()  # quota kinds configured anywhere
        self._sensors: dict[tuple[str, str, str], SampledRate] = {}
        self._lock = threading.Lock()

    def update(self, configs: Mapping[EntityKey, Mapping[str, str]]) -> None:
        """New entity configs (called when the store changes)."""
        with self._lock:
            self._configs = configs
            self._any = {k for c in configs.values() for k in c if k in QUOTA_KEYS}
            self._sensors.clear()  # a changed quota starts a fresh measurement

    def _value(self, key: EntityKey, kind: str) -> float | None:
        raw = self._configs.get(key, {}).get(kind)
        if raw is None:
            return None
        try:
            return float(raw)
        except ValueError:
            return None

    def resolve(self, kind: str, user: str, client_id: str) -> _Quota | None:
        """The quota of this kind for (user, client id), by Kafka's precedence:
        user+client, user+default client, user, default user+client, default
        user+default client, default user, client, default client."""
        order: list[tuple[EntityKey, tuple[str, str]]] = [
            ((("user", user), ("client-id", client_id)), (user, client_id)),
            ((("user", user), ("client-id", None)), (user, client_id)),
            ((("user", user),), (user, "")),
            ((("user", None), ("client-id", client_id)), (user, client_id)),
            ((("user", None), ("client-id", None)), (user, client_id)),
            ((("user", None),), (user, "")),
            ((("client-id", client_id),), ("", client_id)),
            ((("client-id", None),), ("", client_id)),
        ]
        for key, (u, c) in order:
            v = self._value(key, kind)
            if v is not None:
                return _Quota(v, (kind, u, c))
        return None

    def record(self, kind: str, user: str, client_id: str, value: float, now_ms: float) -> int:
        """Records `value` (bytes, or percent-seconds of loop time) and returns the
        throttle time in ms (0: within quota or no quota)."""
        if kind not in self._any:
            return 0
        quota = self.resolve(kind, user, client_id)
        if quota is None or quota.bound <= 0:
            return 0
        with self._lock:
            sensor = self._sensors.get(quota.sensor_key)
            if sensor is None:
                sensor = self._sensors[quota.sensor_key] = SampledRate(self.samples, self.window_ms)
            sensor.record(value, now_ms)
            rate = sensor.measure(now_ms)
            if rate <= quota.bound:
                return 0
            throttle = (rate - quota.bound) / quota.bound * sensor.window_size_ms(now_ms)
        return int(min(round(throttle), self.max_throttle_ms))

    def enabled(self, kind: str) -> bool:
        return kind in self._any


class ConnectionQuotas:
    """Counts connections per IP address and in all; refuses those over the limits."""

    def __init__(self, per_ip: int, overrides: str, total: int) -> None:
        self.per_ip, self.total = per_ip, total
        self.overrides: dict[str, int] = {}
        for item in parse_list(overrides):
            host, sep, count = item.rpartition(":")
            try:
                self.overrides[host.strip()] = int(count)
                if not sep or not host.strip():
                    raise ValueError
            except ValueError:
                raise SecurityConfigError(f"max.connections.per.ip.overrides: {item!r} is not host:count") from None
        self.counts: dict[str, int] = {}
        self.open = 0

    def acquire(self, ip: str) -> str | None:
        """Counts a new connection; or returns why it is refused (then nothing is counted)."""
        limit = self.overrides.get(ip, self.per_ip)
        if self.counts.get(ip, 0) >= limit:
            return f"max.connections.per.ip={limit} reached for {ip}"
        if self.open >= self.total:
            return f"max.connections={self.total} reached"
        self.counts[ip] = self.counts.get(ip, 0) + 1
        self.open += 1
        return None

    def release(self, ip: str) -> None:
        n = self.counts.get(ip, 0) - 1
        if n > 0:
            self.counts[ip] = n
        else:
            self.counts.pop(ip, None)
        self.open -= 1
