"""A client's security settings: how pystream's own clients (the CLI tools and
the brokers' replica fetchers) connect to a secured listener.

`ClientSecurity.from_properties` reads Kafka client keys (the file given to
`--command-config`, as Kafka's tools take it): ``security.protocol``,
``ssl.truststore.location``, ``ssl.keystore.location``, ``ssl.key.password``,
``ssl.endpoint.identification.algorithm``, ``sasl.mechanism``,
``sasl.jaas.config``; librdkafka's spellings are accepted too
(``ssl.ca.location``, ``ssl.certificate.location`` + ``ssl.key.location``,
``sasl.username`` / ``sasl.password``).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pystream.errors import SecurityConfigError
from pystream.security.listeners import SECURITY_PROTOCOLS, ProtocolFlags
from pystream.security.sasl import SaslClient, check_mechanisms, new_client, parse_jaas
from pystream.security.tls import client_context

__all__ = ["ClientSecurity", "PLAINTEXT"]


@dataclass(frozen=True)
class ClientSecurity(ProtocolFlags):
    protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    check_hostname: bool = True
    mechanism: str | None = None
    username: str | None = None
    password: str | None = None

    def sasl_client(self) -> SaslClient:
        assert self.mechanism and self.username is not None and self.password is not None
        return new_client(self.mechanism, self.username, self.password)

    @classmethod
    def from_properties(cls, props: Mapping[str, Any]) -> ClientSecurity:
        protocol = str(props.get("security.protocol", "PLAINTEXT")).strip().upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise SecurityConfigError(f"security.protocol={protocol}: one of {', '.join(SECURITY_PROTOCOLS)}")
        ctx, check = None, True
        if protocol in ("SSL", "SASL_SSL"):
            values = dict(props)
            if "ssl.ca.location" in props and "ssl.truststore.location" not in props:
                values["ssl.truststore.location"] = props["ssl.ca.location"]
            ctx, check = client_context(values)
            cert, key = props.get("ssl.certificate.location"), props.get("ssl.key.location")
            if cert:
                try:
                    ctx.load_cert_chain(str(cert), str(key) if key else None, password=props.get("ssl.key.password") or None)
                except (ssl.SSLError, OSError) as e:
                    raise SecurityConfigError(f"ssl.certificate.location={cert}: cannot load ({e})") from None
        mechanism = username = password = None
        if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
            mechanism = check_mechanisms([str(props.get("sasl.mechanism") or props.get("sasl.mechanisms") or "GSSAPI")],
                                         "sasl.mechanism")[0]
            username, password = props.get("sasl.username"), props.get("sasl.password")
            if props.get("sasl.jaas.config"):
                entries = parse_jaas(str(props["sasl.jaas.config"]))
                if entries:
                    username = entries[0].username or username
                    password = entries[0].password or password
            if username is None or password is None:
                raise SecurityConfigError(f"security.protocol={protocol} needs a user name and password: sasl.jaas.config "
                                          "(username=\"...\" password=\"...\") or sasl.username and sasl.password")
        return cls(protocol, ctx, check, mechanism, username, password)

    @classmethod
    def from_file(cls, path: str) -> ClientSecurity:
        """A Kafka client properties file (``key=value`` lines, ``#`` comments)."""
        props: dict[str, str] = {}
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise SecurityConfigError(f"{path}: {e.strerror or e}") from None
        for line in text.splitlines():
            line = line.strip()
            if not line or line[0] in "#!":
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise SecurityConfigError(f"{path}: expected key=value, got {line!r}")
            props[key.strip()] = value.strip()
        return cls.from_properties(props)


PLAINTEXT = ClientSecurity()
