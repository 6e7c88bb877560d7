"""The SASL exchange of one connection (KIP-43, KIP-152, KIP-368).

States, as in Kafka's SaslServerAuthenticator:

* HANDSHAKE: only ApiVersions and SaslHandshake are answered; anything else
  closes the connection.
* AUTHENTICATE (after SaslHandshake v1): SaslAuthenticate requests carry the
  mechanism's tokens.
* RAW (after SaslHandshake v0): the next frames are bare tokens, answered by
  bare tokens (the pre-KIP-152 framing).
* DONE: authenticated; every request is served until the session expires
  (``connections.max.reauth.ms``): then a SaslHandshake starts a
  re-authentication, anything else closes the connection.

A failed exchange answers SASL_AUTHENTICATION_FAILED with a message and the
connection is closed (after ``connection.failed.authentication.delay.ms``);
the attempt is logged with the client's address.
"""

from __future__ import annotations

import enum
import logging
import time
from typing import Any

from pystream.errors import AuthenticationError
from pystream.protocol.error_codes import ErrorCode
from pystream.protocol.schema_data import ApiKey
from pystream.security.manager import SecurityManager
from pystream.security.principal import KafkaPrincipal, Session
from pystream.security.sasl import SaslServer

logger = logging.getLogger("pystream.server")

# Failed attempts are logged once per (address, user) per LOG_INTERVAL seconds, with the count of
# those not logged: a client retrying a wrong password every 50 ms does not flood the log.
LOG_INTERVAL = 10.0
_last_logged: dict[tuple[str, str | None], tuple[float, int]] = {}


class SaslState(enum.Enum):
    HANDSHAKE = "handshake"
    AUTHENTICATE = "authenticate"
    RAW = "raw"
    DONE = "done"
    FAILED = "failed"


class Authenticator:
    def __init__(self, security: SecurityManager, session: Session, peer: str) -> None:
        self.security = security
        self.session = session
        self.peer = peer
        self.mechanisms = security.mechanisms.get(session.listener, [])
        self.state = SaslState.HANDSHAKE
        self.server: SaslServer | None = None
        self.authenticated = False
        self.reauthenticating = False
        self.expires_at: float | None = None  # time.monotonic() when the session ends (KIP-368)
        self.close_after_response = False

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and time.monotonic() >= self.expires_at

    def allows(self, api_key: int) -> bool:
        """May a request with this key be served now (before or during authentication)?"""
        if self.state == SaslState.HANDSHAKE and not self.authenticated:
            return api_key in (ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE)
        if self.state == SaslState.AUTHENTICATE:
            return api_key == ApiKey.SASL_AUTHENTICATE or self.authenticated
        return self.authenticated

    # ----- SaslHandshake ---------------------------------------------------------------

    def handshake(self, mechanism: str, version: int) -> dict[str, Any]:
        resp = {"error_code": 0, "mechanisms": list(self.mechanisms)}
        if self.authenticated:
            # KIP-368: a handshake on an authenticated connection starts a re-authentication.
            if self.security.reauth_ms <= 0 or version < 1 or mechanism != self.session.mechanism:
                resp["error_code"] = ErrorCode.ILLEGAL_SASL_STATE
                return resp
            self.reauthenticating = True
        elif self.state != SaslState.HANDSHAKE:
            resp["error_code"] = ErrorCode.ILLEGAL_SASL_STATE
            self.close_after_response = True
            return resp
        if mechanism not in self.mechanisms:
            resp["error_code"] = ErrorCode.UNSUPPORTED_SASL_MECHANISM
            self._fail(f"unsupported SASL mechanism {mechanism!r} (enabled: {', '.join(self.mechanisms)})")
            return resp
        self.server = self.security.sasl_server(self.session.listener, mechanism)
        self.state = SaslState.AUTHENTICATE if version >= 1 else SaslState.RAW
        return resp

    # ----- tokens ------------------------------------------------------------------------

    def evaluate(self, token: bytes) -> tuple[bytes, bool]:
        """The mechanism's answer to a token, and whether the exchange is complete.
        Raises AuthenticationError (the connection is to be closed)."""
        if self.server is None or self.state not in (SaslState.AUTHENTICATE, SaslState.RAW):
            raise AuthenticationError("SaslAuthenticate before SaslHandshake")
        try:
            out = self.server.evaluate(token)
        except AuthenticationError as e:
            self._fail(str(e))
            raise
        if self.server.complete:
            self._complete()
        return out, self.server.complete

    def _complete(self) -> None:
        assert self.server is not None and self.server.user is not None
        principal = KafkaPrincipal.user(self.server.user)
        if self.reauthenticating and principal != self.session.principal:
            msg = f"cannot change principals during re-authentication ({self.session.principal} -> {principal})"
            self._fail(msg)
            raise AuthenticationError(msg)
        self.session.principal = principal
        self.session.mechanism = self.server.mechanism
        self.authenticated = True
        self.reauthenticating = False
        self.state = SaslState.DONE
        reauth = self.security.reauth_ms
        self.expires_at = time.monotonic() + reauth / 1000 if reauth > 0 else None
        logger.debug("authenticated %s from %s with %s", principal, self.peer, self.server.mechanism)

    @property
    def session_lifetime_ms(self) -> int:
        return self.security.reauth_ms if self.expires_at is not None else 0

    def _fail(self, why: str) -> None:
        self.state = SaslState.FAILED
        self.close_after_response = True
        user = getattr(self.server, "user", None) if self.server is not None else None
        now, ip = time.monotonic(), self.session.client_host
        key = (ip, user)
        last, suppressed = _last_logged.get(key, (float("-inf"), 0))
        if now - last < LOG_INTERVAL:
            _last_logged[key] = (last, suppressed + 1)
            return
        if len(_last_logged) > 10000:
            _last_logged.clear()
        _last_logged[key] = (now, 0)
        logger.warning("Failed authentication with %s (%s%s): %s%s", self.peer, self.server.mechanism if self.server else "SASL",
                       f", user {user!r}" if user else "", why,
                       f" ({suppressed} more such failures not logged)" if suppressed else "")
