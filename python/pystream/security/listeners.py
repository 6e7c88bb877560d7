"""Listeners: Kafka's ``listeners``, ``advertised.listeners``,
``listener.security.protocol.map``, ``inter.broker.listener.name`` and
``security.inter.broker.protocol``, and per-listener settings
(``listener.name.<name>.<key>`` overrides ``<key>``).

``--host/--port`` are the short form of one PLAINTEXT listener: they are used
when ``listeners`` is not set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pystream.errors import SecurityConfigError

__all__ = ["Endpoint", "ListenerConfig", "ProtocolFlags", "SECURITY_PROTOCOLS", "listener_setting", "parse_list"]

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
DEFAULT_PROTOCOL_MAP = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"


def parse_list(raw: Any) -> list[str]:
    """A Kafka list value: comma separated, blanks dropped (a list passes through)."""
    if raw is None:
        return []
    if isinstance(raw, (list, tuple)):
        return [str(x).strip() for x in raw if str(x).strip()]
    return [s.strip() for s in str(raw).split(",") if s.strip()]


class ProtocolFlags:
    """`tls` and `sasl` of anything with a security `protocol` (listeners, clients)."""

    protocol: str

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")


@dataclass(frozen=True)
class Endpoint(ProtocolFlags):
    """One listener: its name, where it listens (host "" = every interface) and its security protocol."""

    name: str
    host: str
    port: int
    protocol: str

    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}://{host}:{self.port}"

    def with_port(self, port: int) -> Endpoint:
        return Endpoint(self.name, self.host, port, self.protocol)


def parse_protocol_map(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in parse_list(raw):
        name, sep, proto = item.partition(":")
        name, proto = name.strip().upper(), proto.strip().upper()
        if not sep or not name or proto not in SECURITY_PROTOCOLS:
            raise SecurityConfigError(f"listener.security.protocol.map: {item!r} is not NAME:PROTOCOL "
                                      f"with PROTOCOL one of {', '.join(SECURITY_PROTOCOLS)}")
        out[name] = proto
    return out


def parse_endpoints(raw: str, protocols: Mapping[str, str], key: str) -> list[Endpoint]:
    """``NAME://host:port,...`` -> endpoints; names must be in the protocol map and unique."""
    out: list[Endpoint] = []
    for item in parse_list(raw):
        name, sep, rest = item.partition("://")
        name = name.strip().upper()
        if not sep or not name:
            raise SecurityConfigError(f"{key}: {item!r} is not NAME://host:port")
        if rest.startswith("["):
            host, _, port_s = rest[1:].partition("]")
            port_s = port_s.lstrip(":")
        else:
            host, _, port_s = rest.rpartition(":")
        try:
            port = int(port_s)
            if not 0 <= port <= 65535:
                raise ValueError
        except ValueError:
            raise SecurityConfigError(f"{key}: {item!r} has no valid port") from None
        if name not in protocols:
            raise SecurityConfigError(f"{key}: listener {name} has no security protocol; add {name}:<protocol> to "
                                      "listener.security.protocol.map")
        if any(e.name == name for e in out):
            raise SecurityConfigError(f"{key}: listener {name} is given twice")
        out.append(Endpoint(name, host, port, protocols[name]))
    return out


def listener_setting(values: Mapping[str, Any], listener: str | None, key: str, default: Any = None) -> Any:
    """A setting for one listener: ``listener.name.<listener lower-case>.<key>`` if set, else ``key``."""
    if listener:
        v = values.get(f"listener.name.{listener.lower()}.{key}")
        if v not in (None, ""):
            return v
    v = values.get(key, default)
    return default if v is None else v


@dataclass(frozen=True)
class ListenerConfig:
    """What the broker listens on, what it advertises, and which listener brokers use between themselves."""

    listeners: list[Endpoint]
    advertised: list[Endpoint]
    inter_broker: str  # a listener name

    @classmethod
    def from_values(cls, values: Mapping[str, Any], host: str, port: int) -> ListenerConfig:
        protocols = parse_protocol_map(values.get("listener.security.protocol.map") or DEFAULT_PROTOCOL_MAP)
        raw = values.get("listeners") or ""
        listeners = (parse_endpoints(raw, protocols, "listeners") if parse_list(raw)
                     else [Endpoint("PLAINTEXT", host, port, protocols.get("PLAINTEXT", "PLAINTEXT"))])
        bound = [(e.host, e.port) for e in listeners if e.port]
        if len(set(bound)) != len(bound):
            raise SecurityConfigError(f"listeners: two listeners on the same address ({raw})")
        adv_raw = values.get("advertised.listeners") or ""
        advertised = parse_endpoints(adv_raw, protocols, "advertised.listeners") if parse_list(adv_raw) else []
        names = [e.name for e in listeners]
        for e in advertised:
            if e.name not in names:
                raise SecurityConfigError(f"advertised.listeners: {e.name} is not one of listeners ({', '.join(names)})")
        # A listener not in advertised.listeners is advertised as it listens.
        advertised = [next((a for a in advertised if a.name == e.name), e) for e in listeners]
        ib_name = (values.get("inter.broker.listener.name") or "").strip().upper()
        ib_proto = (values.get("security.inter.broker.protocol") or "PLAINTEXT").strip().upper()
        if ib_name:
            if ib_name not in names:
                raise SecurityConfigError(f"inter.broker.listener.name={ib_name} is not one of listeners ({', '.join(names)})")
        else:
            if ib_proto not in SECURITY_PROTOCOLS:
                raise SecurityConfigError(f"security.inter.broker.protocol={ib_proto} is not one of {', '.join(SECURITY_PROTOCOLS)}")
            match = [e.name for e in listeners if e.protocol == ib_proto]
            if not match:
                if values.get("zookeeper.connect"):
                    raise SecurityConfigError(f"security.inter.broker.protocol={ib_proto}: no listener uses it "
                                              f"({', '.join(e.url() for e in listeners)}); set inter.broker.listener.name")
                match = [listeners[0].name]  # a single broker has no inter-broker traffic
            ib_name = match[0]
        return cls(listeners, advertised, ib_name)

    def advertised_for(self, name: str) -> Endpoint:
        return next(e for e in self.advertised if e.name == name)

    @property
    def inter_broker_endpoint(self) -> Endpoint:
        return self.advertised_for(self.inter_broker)
