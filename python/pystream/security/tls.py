"""TLS contexts from Kafka's ``ssl.*`` settings, with Python's `ssl` module.

Keystores and truststores are PEM files (Kafka's ``ssl.keystore.type=PEM``):
``ssl.keystore.location`` holds the certificate chain and the private key
(``ssl.key.password`` if the key is encrypted), ``ssl.truststore.location``
the trusted CA certificates; or inline, ``ssl.keystore.certificate.chain`` +
``ssl.keystore.key`` and ``ssl.truststore.certificates``.

JKS and PKCS12 stores are NOT read. Convert a Java keystore once::

    keytool -importkeystore -srckeystore server.keystore.jks -destkeystore server.p12 -deststoretype PKCS12
    openssl pkcs12 -in server.p12 -nodes -out server.pem          # chain + key, one PEM file
    keytool -exportcert -rfc -keystore truststore.jks -alias CARoot -file ca.pem   # a truststore

``ssl.client.auth`` = none | requested | required (mutual TLS),
``ssl.enabled.protocols`` (TLSv1.2,TLSv1.3 by default), ``ssl.cipher.suites``
(OpenSSL names; TLS 1.3 suites are OpenSSL's defaults),
``ssl.endpoint.identification.algorithm`` (https: clients check the host name).
"""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pystream.errors import SecurityConfigError
from pystream.security.listeners import listener_setting, parse_list

__all__ = ["CONVERT_HINT", "client_context", "server_context"]

CONVERT_HINT = ("pystream reads PEM key and trust stores only (JKS and PKCS12 are not read); convert with "
                "`keytool -importkeystore -srckeystore X.jks -destkeystore X.p12 -deststoretype PKCS12` then "
                "`openssl pkcs12 -in X.p12 -nodes -out X.pem` (see docs/security.md)")

_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def _get(values: Mapping[str, Any], listener: str | None, key: str) -> str:
    return str(listener_setting(values, listener, key, "") or "").strip()


def _check_store_type(values: Mapping[str, Any], listener: str | None, key: str) -> None:
    kind = _get(values, listener, key).upper() or "PEM"
    if kind != "PEM":
        raise SecurityConfigError(f"{key}={kind}: {CONVERT_HINT}")


def _check_pem_file(path: str, key: str) -> None:
    try:
        head = Path(path).read_bytes()[:4096]
    except OSError as e:
        raise SecurityConfigError(f"{key}={path}: {e.strerror or e}") from None
    if b"-----BEGIN" not in head:
        kind = "a JKS keystore" if head[:4] == b"\xfe\xed\xfe\xed" else "not a PEM file"
        raise SecurityConfigError(f"{key}={path}: {kind}; {CONVERT_HINT}")


def _load_keystore(ctx: ssl.SSLContext, values: Mapping[str, Any], listener: str | None, required: bool) -> bool:
    """Loads the certificate chain and key; False when none is configured (and not required)."""
    _check_store_type(values, listener, "ssl.keystore.type")
    location = _get(values, listener, "ssl.keystore.location")
    chain = _get(values, listener, "ssl.keystore.certificate.chain")
    inline_key = _get(values, listener, "ssl.keystore.key")
    password = _get(values, listener, "ssl.key.password") or _get(values, listener, "ssl.keystore.password") or None
    if location:
        _check_pem_file(location, "ssl.keystore.location")
        try:
            ctx.load_cert_chain(location, password=password)
        except (ssl.SSLError, OSError) as e:
            raise SecurityConfigError(f"ssl.keystore.location={location}: cannot load the certificate chain and "
                                      f"private key ({e}); the file must hold both, in PEM") from None
        return True
    if chain or inline_key:
        if not (chain and inline_key):
            raise SecurityConfigError("ssl.keystore.certificate.chain and ssl.keystore.key go together")
        # The ssl module loads keys from files only: a private temporary file, removed at once.
        fd, tmp = tempfile.mkstemp(prefix="pystream-key-", suffix=".pem")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(chain.strip() + "\n" + inline_key.strip() + "\n")
            ctx.load_cert_chain(tmp, password=password)
        except ssl.SSLError as e:
            raise SecurityConfigError(f"ssl.keystore.certificate.chain / ssl.keystore.key: cannot load ({e})") from None
        finally:
            os.unlink(tmp)
        return True
    if required:
        raise SecurityConfigError(f"listener {listener or ''}: TLS needs ssl.keystore.location "
                                  "(a PEM file with the broker's certificate chain and private key)")
    return False


def _load_truststore(ctx: ssl.SSLContext, values: Mapping[str, Any], listener: str | None) -> bool:
    _check_store_type(values, listener, "ssl.truststore.type")
    location = _get(values, listener, "ssl.truststore.location")
    inline = _get(values, listener, "ssl.truststore.certificates")
    try:
        if location:
            _check_pem_file(location, "ssl.truststore.location")
            ctx.load_verify_locations(cafile=location)
            return True
        if inline:
            ctx.load_verify_locations(cadata=inline)
            return True
    except (ssl.SSLError, OSError) as e:
        raise SecurityConfigError(f"ssl.truststore: cannot load the CA certificates ({e})") from None
    return False


def _protocols(ctx: ssl.SSLContext, values: Mapping[str, Any], listener: str | None) -> None:
    enabled = parse_list(listener_setting(values, listener, "ssl.enabled.protocols", "TLSv1.2,TLSv1.3"))
    unknown = [p for p in enabled if p not in _VERSIONS]
    if unknown or not enabled:
        raise SecurityConfigError(f"ssl.enabled.protocols: {', '.join(unknown) or '(empty)'} not one of {', '.join(_VERSIONS)}")
    versions = sorted(_VERSIONS[p] for p in enabled)
    ctx.minimum_version, ctx.maximum_version = versions[0], versions[-1]
    ciphers = parse_list(listener_setting(values, listener, "ssl.cipher.suites", ""))
    if ciphers:
        try:
            ctx.set_ciphers(":".join(ciphers))
        except ssl.SSLError:
            raise SecurityConfigError(f"ssl.cipher.suites: none of {', '.join(ciphers)} is an OpenSSL cipher name "
                                      "(pystream takes OpenSSL names, e.g. ECDHE-RSA-AES256-GCM-SHA384)") from None


def server_context(values: Mapping[str, Any], listener: str) -> ssl.SSLContext:
    """The TLS context of an SSL or SASL_SSL listener."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _protocols(ctx, values, listener)
    _load_keystore(ctx, values, listener, required=True)
    auth = (_get(values, listener, "ssl.client.auth") or "none").lower()
    if auth not in _CLIENT_AUTH:
        raise SecurityConfigError(f"ssl.client.auth={auth}: expected none, requested or required")
    has_trust = _load_truststore(ctx, values, listener)
    if auth != "none" and not has_trust:
        raise SecurityConfigError(f"ssl.client.auth={auth} needs ssl.truststore.location (the CAs that sign client certificates)")
    ctx.verify_mode = _CLIENT_AUTH[auth]
    return ctx


def client_context(values: Mapping[str, Any], listener: str | None = None) -> tuple[ssl.SSLContext, bool]:
    """A client's TLS context (inter-broker traffic, the CLI): the truststore
    (the system's CAs when none is set), a keystore for mutual TLS if one is
    set. Returns (context, check_hostname)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _protocols(ctx, values, listener)
    if not _load_truststore(ctx, values, listener):
        ctx.load_default_certs()
    _load_keystore(ctx, values, listener, required=False)
    # Kafka's default "https" checks the broker's host name against its certificate; "" does not.
    check = str(listener_setting(values, listener, "ssl.endpoint.identification.algorithm", "https")).strip().lower() == "https"
    ctx.check_hostname = check
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx, check
