"""Broker configuration: Kafka's `server.properties` keys and defaults.

Only keys the broker acts on are accepted; an unknown key is an error naming
it (a typo should not be silently ignored). Values are parsed to the type of
their default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DAY_MS = 24 * 3600 * 1000

# Kafka key -> default. The broker reads these through BrokerConfig.get().
BROKER_DEFAULTS: dict[str, Any] = {
    "broker.id": 0,
    "num.partitions": 1,
    "default.replication.factor": 1,
    "auto.create.topics.enable": True,
    "delete.topic.enable": True,
    "message.max.bytes": 1048588,
    "socket.request.max.bytes": 104857600,
    # Kafka's default is -1 (no bound); pystream bounds what requests being received hold together.
    "queued.max.request.bytes": 104857600,
    # pystream's Prometheus endpoint (docs/operations.md): off while metrics.port is -1.
    "metrics.port": -1,
    "metrics.host": "127.0.0.1",
    "log.segment.bytes": 1073741824,
    "log.roll.ms": 7 * DAY_MS,
    "log.retention.ms": 7 * DAY_MS,
    "log.retention.bytes": -1,
    "log.retention.check.interval.ms": 300000,
    "log.index.interval.bytes": 4096,
    "log.index.size.max.bytes": 10485760,
    "log.flush.interval.messages": None,
    "log.flush.interval.ms": None,
    "log.flush.scheduler.interval.ms": 1000,
    "compression.type": "producer",
    "offsets.topic.num.partitions": 50,
    "offsets.retention.minutes": 10080,
    "group.initial.rebalance.delay.ms": 3000,
    "group.min.session.timeout.ms": 6000,
    "group.max.session.timeout.ms": 1800000,
    "connections.max.idle.ms": 600000,
    "max.incremental.fetch.session.cache.slots": 1000,
    "min.insync.replicas": 1,
    "unclean.leader.election.enable": False,
    # cluster mode (--zookeeper)
    "zookeeper.connect": "",
    "zookeeper.session.timeout.ms": 18000,
    "replica.lag.time.max.ms": 30000,
    "replica.fetch.wait.max.ms": 500,
    "offsets.topic.replication.factor": 3,
    "auto.leader.rebalance.enable": True,
    "leader.imbalance.check.interval.seconds": 300,
    "transactional.id.expiration.ms": 604800000,
    "producer.id.expiration.ms": 86400000,
    # ----- security: listeners, TLS, SASL, ACLs, quotas (read by pystream.security; docs/security.md) -----
    "listeners": "",                      # NAME://host:port,...; empty: one PLAINTEXT listener on --host/--port
    "advertised.listeners": "",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
    "inter.broker.listener.name": "",
    "security.inter.broker.protocol": "PLAINTEXT",
    "ssl.keystore.type": "PEM",           # PEM only: JKS/PKCS12 are not read (docs/security.md: converting)
    "ssl.keystore.location": "",
    "ssl.keystore.password": "",
    "ssl.key.password": "",
    "ssl.keystore.certificate.chain": "",
    "ssl.keystore.key": "",
    "ssl.truststore.type": "PEM",
    "ssl.truststore.location": "",
    "ssl.truststore.password": "",
    "ssl.truststore.certificates": "",
    "ssl.client.auth": "none",
    "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
    "ssl.protocol": "TLSv1.3",
    "ssl.cipher.suites": "",
    "ssl.endpoint.identification.algorithm": "https",
    "ssl.principal.mapping.rules": "DEFAULT",
    "sasl.enabled.mechanisms": "GSSAPI",  # Kafka's default; pystream supports PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    "sasl.mechanism.inter.broker.protocol": "GSSAPI",
    "sasl.jaas.config": "",
    "java.security.auth.login.config": "",  # a JAAS file (KafkaServer section), as the JVM property names it
    "sasl.server.max.receive.size": 524288,
    "connections.max.reauth.ms": 0,
    "connection.failed.authentication.delay.ms": 100,
    "connections.authentication.timeout.ms": 10000,  # pystream: TLS + SASL must finish within this
    "authorizer.class.name": "",
    "super.users": "",
    "allow.everyone.if.no.acl.found": False,
    "max.connections.per.ip": 2147483647,
    "max.connections.per.ip.overrides": "",
    "max.connections": 2147483647,
    "quota.window.num": 11,
    "quota.window.size.seconds": 1,
}

# Kafka's ".hours"/".minutes" spellings of the ms keys.
ALIASES: dict[str, tuple[str, int]] = {
    "log.roll.hours": ("log.roll.ms", 3600 * 1000),
    "log.retention.hours": ("log.retention.ms", 3600 * 1000),
    "log.retention.minutes": ("log.retention.ms", 60 * 1000),
}

# Keys a properties file may carry that this broker sets elsewhere (flags) or ignores knowingly.
IGNORED_KEYS = {"log.dirs", "log.dir", "num.network.threads", "num.io.threads",
                "socket.send.buffer.bytes", "socket.receive.buffer.bytes", "num.recovery.threads.per.data.dir",
                "transaction.state.log.replication.factor", "transaction.state.log.min.isr",
                "zookeeper.connection.timeout.ms"}


class ConfigError(ValueError):
    """A configuration key or value the broker cannot use."""


def _parse(key: str, raw: str, default: Any) -> Any:
    raw = raw.strip()
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            return raw.lower() == "true"
        if isinstance(default, int) or (default is None and key.startswith("log.flush")):
            return int(raw)
        return raw
    except ValueError:
        raise ConfigError(f"{key}={raw!r}: expected {type(default).__name__ if default is not None else 'int'}") from None


def load_properties(path: str | os.PathLike[str]) -> dict[str, str]:
    """Reads a Java-style .properties file (key=value or key: value, # and ! comments)."""
    out: dict[str, str] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        sep = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if sep < 0:
            raise ConfigError(f"{path}:{n}: expected key=value, got {line!r}")
        out[line[:sep].strip()] = line[sep + 1 :].strip()
    return out


@dataclass
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 9092
    data_dir: Path = Path("./pystream-data")
    values: dict[str, Any] = field(default_factory=lambda: dict(BROKER_DEFAULTS))

    @classmethod
    def from_sources(cls, host: str, port: int, data_dir: str | os.PathLike[str], properties: dict[str, str] | None = None,
                     overrides: dict[str, Any] | None = None) -> "BrokerConfig":
        cfg = cls(host=host, port=port, data_dir=Path(data_dir))
        for key, raw in (properties or {}).items():
            cfg.set_raw(key, raw)
        for key, value in (overrides or {}).items():
            if key not in BROKER_DEFAULTS:
                raise ConfigError(f"unknown broker config {key!r}")
            cfg.values[key] = value
        return cfg

    def set_raw(self, key: str, raw: str) -> None:
        if key in IGNORED_KEYS:
            return
        if key.startswith("listener.name."):  # per-listener security settings (pystream.security.listeners)
            self.values[key] = raw.strip()
            return
        if key in ALIASES:
            target, factor = ALIASES[key]
            self.values[target] = int(raw) * factor
            return
        if key not in BROKER_DEFAULTS:
            raise ConfigError(f"unknown broker config {key!r}")
        self.values[key] = _parse(key, raw, BROKER_DEFAULTS[key])

    def get(self, key: str) -> Any:
        return self.values[key]

    def topic_defaults(self) -> dict[str, Any]:
        """Each topic config's value when a topic does not set it (Kafka's topic names)."""
        v = self.values
        never = 9223372036854775807  # Kafka's Long.MAX_VALUE: "no flush policy"
        return {
            "segment.bytes": v["log.segment.bytes"],
            "segment.ms": v["log.roll.ms"],
            "segment.index.bytes": v["log.index.size.max.bytes"],
            "index.interval.bytes": v["log.index.interval.bytes"],
            "retention.ms": v["log.retention.ms"],
            "retention.bytes": v["log.retention.bytes"],
            "flush.messages": never if v["log.flush.interval.messages"] is None else v["log.flush.interval.messages"],
            "flush.ms": never if v["log.flush.interval.ms"] is None else v["log.flush.interval.ms"],
            "compression.type": v["compression.type"],
            "max.message.bytes": v["message.max.bytes"],
            "min.insync.replicas": v["min.insync.replicas"],
            "cleanup.policy": "delete",
        }

    def log_kwargs(self) -> dict[str, Any]:
        """`Log.open` keywords for every partition, from the broker's log.* keys
        (a topic's own config overrides them)."""
        v = self.values
        out: dict[str, Any] = {
            "segment_bytes": v["log.segment.bytes"],
            "segment_ms": v["log.roll.ms"],
            "retention_ms": v["log.retention.ms"],
            "retention_bytes": v["log.retention.bytes"],
            "index_interval_bytes": v["log.index.interval.bytes"],
            "segment_index_bytes": v["log.index.size.max.bytes"],
        }
        if v["log.flush.interval.messages"] is not None:
            out["flush_messages"] = v["log.flush.interval.messages"]
        if v["log.flush.interval.ms"] is not None:
            out["flush_ms"] = v["log.flush.interval.ms"]
        return out
