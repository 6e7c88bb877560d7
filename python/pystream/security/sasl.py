"""SASL mechanisms as state machines, and JAAS-style configuration.

Server side: `new_server(mechanism, credentials)` gives a `SaslServer`; the
connection feeds it the client's tokens (`evaluate`) until `complete`; an
`AuthenticationError` ends the exchange (its message goes to the client).
Client side: `new_client(mechanism, user, password)` for inter-broker
connections and the CLI.

Mechanisms: PLAIN (RFC 4616) and SCRAM-SHA-256 / SCRAM-SHA-512. GSSAPI
(Kerberos) and OAUTHBEARER are not supported.

JAAS: Kafka's ``sasl.jaas.config`` value, e.g.
``org.apache.kafka.common.security.plain.PlainLoginModule required
username="admin" password="admin-secret" user_alice="alice-secret";`` gives the
broker's own credentials (``username``/``password``, for inter-broker
connections) and PLAIN users (``user_<name>="<password>"``). A JAAS file with a
``KafkaServer { ... };`` section (``java.security.auth.login.config``) is read
the same way.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pystream.errors import AuthenticationError, SecurityConfigError
from pystream.security.scram import MECHANISMS as SCRAM_MECHANISMS
from pystream.security.scram import ScramClient, ScramCredential, ScramServer

__all__ = ["SUPPORTED_MECHANISMS", "JaasEntry", "PlainClient", "PlainServer", "SaslClient", "SaslServer",
           "new_client", "new_server", "parse_jaas"]

SUPPORTED_MECHANISMS = ("PLAIN", *SCRAM_MECHANISMS)


class SaslServer(Protocol):
    mechanism: str
    complete: bool
    user: str | None  # the authenticated user once complete

    def evaluate(self, token: bytes) -> bytes: ...


class SaslClient(Protocol):
    mechanism: str
    complete: bool

    def initial(self) -> bytes: ...
    def evaluate(self, challenge: bytes) -> bytes | None: ...


class Credentials(Protocol):
    """What a SASL server asks of the credential store."""

    def scram(self, mechanism: str, user: str) -> ScramCredential | None: ...
    def check_plain(self, user: str, password: str) -> bool: ...


class PlainServer:
    """SASL/PLAIN: one message ``authzid NUL user NUL password``."""

    mechanism = "PLAIN"

    def __init__(self, check: Callable[[str, str], bool]) -> None:
        self.check = check
        self.complete = False
        self.user: str | None = None

    def evaluate(self, token: bytes) -> bytes:
        if self.complete:
            raise AuthenticationError("unexpected SASL/PLAIN message after authentication")
        parts = token.split(b"\0")
        if len(parts) != 3:
            raise AuthenticationError(f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(parts)}")
        try:
            authzid, user, password = (p.decode("utf-8") for p in parts)
        except UnicodeDecodeError:
            raise AuthenticationError("Invalid SASL/PLAIN response: not UTF-8") from None
        if not user:
            raise AuthenticationError("Authentication failed: username not specified")
        if not password:
            raise AuthenticationError("Authentication failed: password not specified")
        if not self.check(user, password):
            raise AuthenticationError("Authentication failed: Invalid username or password")
        if authzid and authzid != user:
            raise AuthenticationError("Authentication failed: Client requested an authorization id that is different from username")
        self.user = user
        self.complete = True
        return b""


class PlainClient:
    mechanism = "PLAIN"

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user, password
        self.complete = False

    def initial(self) -> bytes:
        return f"\0{self.user}\0{self.password}".encode()

    def evaluate(self, challenge: bytes) -> bytes | None:
        self.complete = True
        return None


def new_server(mechanism: str, credentials: Credentials) -> SaslServer:
    if mechanism == "PLAIN":
        return PlainServer(credentials.check_plain)
    if mechanism in SCRAM_MECHANISMS:
        return ScramServer(mechanism, lambda user: credentials.scram(mechanism, user))
    raise AuthenticationError(f"unsupported SASL mechanism {mechanism}")


def new_client(mechanism: str, user: str, password: str) -> SaslClient:
    mechanism = mechanism.upper()
    if mechanism == "PLAIN":
        return PlainClient(user, password)
    if mechanism in SCRAM_MECHANISMS:
        return ScramClient(mechanism, user, password)
    raise SecurityConfigError(f"SASL mechanism {mechanism} is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")


def check_mechanisms(names: list[str], key: str) -> list[str]:
    """Upper-cased mechanisms; an unsupported one is a configuration error that says what is."""
    out = [n.upper() for n in names]
    bad = [n for n in out if n not in SUPPORTED_MECHANISMS]
    if bad:
        raise SecurityConfigError(f"{key}: {', '.join(bad)} not supported; pystream supports "
                                  f"{', '.join(SUPPORTED_MECHANISMS)} (GSSAPI/Kerberos and OAUTHBEARER are not)")
    return out


# ---------------------------------------------------------------------------
# JAAS

@dataclass
class JaasEntry:
    """One login module entry: its class and options."""

    module: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def username(self) -> str | None:
        return self.options.get("username")

    @property
    def password(self) -> str | None:
        return self.options.get("password")

    def plain_users(self) -> dict[str, str]:
        """``user_<name>="<password>"`` options: PLAIN users known to the broker."""
        return {k[5:]: v for k, v in self.options.items() if k.startswith("user_") and len(k) > 5}

    def check_plain(self, user: str, password: str) -> bool | None:
        """True/False if `user` is one of this entry's PLAIN users, None if it is not."""
        expected = self.plain_users().get(user)
        if expected is None:
            return None
        return hmac.compare_digest(expected.encode(), password.encode())


_TOKEN = re.compile(r'\s*(?:"((?:\\.|[^"\\])*)"|([^\s=;{}"]+)|(=)|(;)|(\{)|(\}))', re.S)


def _tokens(text: str) -> list[tuple[str, str]]:
    text = re.sub(r"//[^\n]*|/\*.*?\*/", " ", text, flags=re.S)
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SecurityConfigError(f"JAAS config: cannot parse near {text[pos:pos + 40]!r}")
        if m.group(1) is not None:
            out.append(("str", re.sub(r"\\(.)", r"\1", m.group(1))))
        elif m.group(2) is not None:
            out.append(("word", m.group(2)))
        else:
            out.append(("sym", m.group(0).strip()))
        pos = m.end()
    return out


def _entries(tokens: list[tuple[str, str]], pos: int, end_sym: str | None) -> tuple[list[JaasEntry], int]:
    entries = []
    while pos < len(tokens) and tokens[pos] != ("sym", end_sym or ""):
        kind, module = tokens[pos]
        if kind != "word" or pos + 1 >= len(tokens) or tokens[pos + 1][0] != "word":
            raise SecurityConfigError("JAAS config: expected `<LoginModule class> required|requisite|sufficient|optional`")
        entry = JaasEntry(module)
        pos += 2
        while pos < len(tokens) and tokens[pos] != ("sym", ";"):
            if pos + 2 >= len(tokens) or tokens[pos + 1] != ("sym", "=") or tokens[pos][0] != "word":
                raise SecurityConfigError(f"JAAS config: expected key=value in the options of {module}")
            entry.options[tokens[pos][1]] = tokens[pos + 2][1]
            pos += 3
        if pos >= len(tokens):
            raise SecurityConfigError(f"JAAS config: the entry of {module} does not end with ';'")
        entries.append(entry)
        pos += 1
    return entries, pos


def parse_jaas(text: str) -> list[JaasEntry]:
    """A ``sasl.jaas.config`` value: one or more login module entries."""
    entries, pos = _entries(_tokens(text), 0, None)
    return entries


def parse_jaas_file(path: str) -> dict[str, list[JaasEntry]]:
    """A JAAS file: ``Section { entries };`` ... -> section name -> entries."""
    try:
        tokens = _tokens(Path(path).read_text())
    except OSError as e:
        raise SecurityConfigError(f"JAAS file {path}: {e.strerror or e}") from None
    out: dict[str, list[JaasEntry]] = {}
    pos = 0
    while pos < len(tokens):
        if tokens[pos][0] != "word" or pos + 1 >= len(tokens) or tokens[pos + 1] != ("sym", "{"):
            raise SecurityConfigError(f"JAAS file {path}: expected `SectionName {{`")
        name = tokens[pos][1]
        entries, pos = _entries(tokens, pos + 2, "}")
        if pos >= len(tokens):
            raise SecurityConfigError(f"JAAS file {path}: section {name} is not closed")
        pos += 1
        if pos < len(tokens) and tokens[pos] == ("sym", ";"):
            pos += 1
        out[name] = entries
    return out
