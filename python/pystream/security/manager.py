"""`SecurityManager`: one broker's security, built from its configuration.

It holds the listeners and their TLS contexts, the SASL mechanisms and
credentials, the authorizer (``authorizer.class.name``; None: everything is
allowed), the client quotas and the connection limits. The stores (ACLs,
entity configs) are files in the data directory on a single broker; a cluster
replaces them with ZooKeeper-backed ones (`use_stores`) before `start`.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pystream.errors import SecurityConfigError
from pystream.security.authorizer import AUTHORIZER_CLASSES, AclAuthorizer
from pystream.security.client import ClientSecurity
from pystream.security.listeners import Endpoint, ListenerConfig, listener_setting, parse_list
from pystream.security.principal import SslPrincipalMapper, parse_principals
from pystream.security.quotas import ConnectionQuotas, QuotaManager
from pystream.security.sasl import JaasEntry, SaslServer, check_mechanisms, new_server, parse_jaas, parse_jaas_file
from pystream.security.scram import MECHANISMS as SCRAM_MECHANISMS
from pystream.security.scram import ScramCredential
from pystream.security.stores import ACL_FILE, ENTITY_FILE, AclStore, EntityConfigStore, EntityKey, FileAclStore, FileEntityConfigStore
from pystream.security.tls import client_context, server_context

__all__ = ["SecurityManager"]

logger = logging.getLogger("pystream.security")


def _int(values: Mapping[str, Any], key: str, default: int) -> int:
    raw = values.get(key, default)
    try:
        return int(raw if raw not in (None, "") else default)
    except (TypeError, ValueError):
        raise SecurityConfigError(f"{key}={raw!r}: expected an integer") from None


def _bool(values: Mapping[str, Any], key: str, default: bool) -> bool:
    raw = values.get(key, default)
    if isinstance(raw, bool):
        return raw
    if str(raw).strip().lower() not in ("true", "false"):
        raise SecurityConfigError(f"{key}={raw!r}: expected true or false")
    return str(raw).strip().lower() == "true"


class _ListenerCredentials:
    """What a SASL server on one listener checks passwords and SCRAM proofs against."""

    def __init__(self, manager: SecurityManager, listener: str) -> None:
        self.manager, self.listener = manager, listener

    def scram(self, mechanism: str, user: str) -> ScramCredential | None:
        return self.manager.scram_credential(mechanism, user)

    def check_plain(self, user: str, password: str) -> bool:
        """The listener's JAAS ``user_<name>`` entries first, then the SCRAM credentials."""
        entry = self.manager.jaas_entry(self.listener, "PLAIN")
        if entry is not None:
            verdict = entry.check_plain(user, password)
            if verdict is not None:
                return verdict
        for mechanism in SCRAM_MECHANISMS:
            cred = self.manager.scram_credential(mechanism, user)
            if cred is not None:
                return cred.verify_password(mechanism, password)
        return False


class SecurityManager:
    def __init__(self, values: Mapping[str, Any], data_dir: Path, host: str = "127.0.0.1", port: int = 9092) -> None:
        self.values = values
        self.listeners = ListenerConfig.from_values(values, host, port)
        self.ssl_contexts: dict[str, ssl.SSLContext] = {e.name: server_context(values, e.name) for e in self.listeners.listeners if e.tls}
        self.mechanisms: dict[str, list[str]] = {}
        for e in self.listeners.listeners:
            if e.sasl:
                key = "sasl.enabled.mechanisms"
                names = check_mechanisms(parse_list(listener_setting(values, e.name, key, "GSSAPI")), key)
                if not names:
                    raise SecurityConfigError(f"listener {e.name} ({e.protocol}) needs sasl.enabled.mechanisms "
                                              "(PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
                self.mechanisms[e.name] = names
        self.principal_mappers = {e.name: SslPrincipalMapper(str(listener_setting(values, e.name, "ssl.principal.mapping.rules", "DEFAULT")))
                                  for e in self.listeners.listeners if e.tls}
        jaas_path = str(values.get("java.security.auth.login.config") or "")
        self._jaas_file = parse_jaas_file(jaas_path) if jaas_path else {}
        self._jaas: dict[tuple[str, str], JaasEntry | None] = {}
        for e in self.listeners.listeners:  # parse now: a bad value is a start-up error
            for m in self.mechanisms.get(e.name, []):
                self.jaas_entry(e.name, m)
        self.reauth_ms = _int(values, "connections.max.reauth.ms", 0)
        self.failed_auth_delay_ms = _int(values, "connection.failed.authentication.delay.ms", 100)
        self.auth_timeout_ms = _int(values, "connections.authentication.timeout.ms", 10000)
        self.max_receive_before_auth = _int(values, "sasl.server.max.receive.size", 524288)
        self.entity_store: EntityConfigStore = FileEntityConfigStore(data_dir / ENTITY_FILE)
        self.acl_store: AclStore = FileAclStore(data_dir / ACL_FILE)
        cls_name = str(values.get("authorizer.class.name") or "").strip()
        self.authorizer: AclAuthorizer | None = None
        if cls_name:
            if cls_name not in AUTHORIZER_CLASSES:
                raise SecurityConfigError(f"authorizer.class.name={cls_name}: pystream's ACL authorizer answers to "
                                          f"{', '.join(AUTHORIZER_CLASSES)}; other authorizers are not supported")
            self.authorizer = AclAuthorizer(self.acl_store, parse_principals(str(values.get("super.users") or ""), "super.users"),
                                            _bool(values, "allow.everyone.if.no.acl.found", False))
        self.quotas = QuotaManager(_int(values, "quota.window.num", 11), _int(values, "quota.window.size.seconds", 1))
        self.connections = ConnectionQuotas(_int(values, "max.connections.per.ip", 2147483647),
                                            str(values.get("max.connections.per.ip.overrides") or ""),
                                            _int(values, "max.connections", 2147483647))
        self.entities: Mapping[EntityKey, Mapping[str, str]] = {}
        self._inter_broker: ClientSecurity | None = None

    # ----- stores --------------------------------------------------------------------

    def use_stores(self, entities: EntityConfigStore, acls: AclStore) -> None:
        """Cluster mode: ZooKeeper-backed stores instead of the data-directory files (before `start`)."""
        self.entity_store, self.acl_store = entities, acls
        if self.authorizer is not None:
            self.authorizer.use_store(acls)

    def start(self) -> None:
        """Loads ACLs and entity configs and follows their changes (blocking)."""
        self.entity_store.subscribe(self.reload_entities)
        self.reload_entities()
        if self.authorizer is not None:
            self.authorizer.start()

    def reload_entities(self) -> None:
        self.entities = self.entity_store.load()
        self.quotas.update(self.entities)

    # ----- credentials -----------------------------------------------------------------

    def scram_credential(self, mechanism: str, user: str) -> ScramCredential | None:
        raw = self.entities.get((("user", user),), {}).get(mechanism)
        if raw is None:
            return None
        try:
            return ScramCredential.from_kafka(raw)
        except ValueError:
            logger.warning("ignoring the malformed %s credential of user %r", mechanism, user)
            return None

    def jaas_entry(self, listener: str, mechanism: str) -> JaasEntry | None:
        """The JAAS entry for a listener and mechanism: ``listener.name.<l>.<mech>.sasl.jaas.config``,
        then ``sasl.jaas.config``, then the JAAS file's ``<l>.KafkaServer`` / ``KafkaServer`` sections."""
        key = (listener, mechanism)
        if key in self._jaas:
            return self._jaas[key]
        raw = listener_setting(self.values, listener, f"{mechanism.lower()}.sasl.jaas.config", "") or self.values.get("sasl.jaas.config") or ""
        entries = parse_jaas(str(raw)) if raw else (self._jaas_file.get(f"{listener.lower()}.KafkaServer")
                                                    or self._jaas_file.get("KafkaServer") or [])
        want = "plain" if mechanism == "PLAIN" else "scram"
        entry = next((e for e in entries if want in e.module.lower()), entries[0] if entries else None)
        self._jaas[key] = entry
        return entry

    def sasl_server(self, listener: str, mechanism: str) -> SaslServer:
        return new_server(mechanism, _ListenerCredentials(self, listener))

    # ----- listeners ------------------------------------------------------------------

    def inter_broker_security(self) -> ClientSecurity:
        """How this broker connects to others (its replica fetchers)."""
        if self._inter_broker is None:
            ep: Endpoint = self.listeners.inter_broker_endpoint
            ctx, check = (client_context(self.values, ep.name) if ep.tls else (None, True))
            mechanism = user = password = None
            if ep.sasl:
                mechanism = str(self.values.get("sasl.mechanism.inter.broker.protocol") or "GSSAPI").upper()
                check_mechanisms([mechanism], "sasl.mechanism.inter.broker.protocol")
                if mechanism not in self.mechanisms.get(ep.name, []):
                    raise SecurityConfigError(f"sasl.mechanism.inter.broker.protocol={mechanism} is not enabled on the "
                                              f"inter-broker listener {ep.name} (sasl.enabled.mechanisms)")
                entry = self.jaas_entry(ep.name, mechanism)
                if entry is None or entry.username is None or entry.password is None:
                    raise SecurityConfigError(f"inter-broker {mechanism} on listener {ep.name}: the JAAS config needs "
                                              "username=\"...\" password=\"...\" (the broker's own credentials)")
                user, password = entry.username, entry.password
            self._inter_broker = ClientSecurity(ep.protocol, ctx, check, mechanism, user, password)
        return self._inter_broker
