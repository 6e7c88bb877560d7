"""SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), as Kafka speaks them.

The server never stores a password: a credential is (salt, StoredKey,
ServerKey, iterations), where SaltedPassword = PBKDF2(password, salt,
iterations), StoredKey = H(HMAC(SaltedPassword, "Client Key")) and ServerKey =
HMAC(SaltedPassword, "Server Key"). Kafka's AlterUserScramCredentials carries
(salt, SaltedPassword, iterations) from the client; the broker derives the
keys and forgets SaltedPassword.

`ScramServer` and `ScramClient` are the two sides of one exchange as state
machines: each `evaluate(token)` takes the peer's message and returns the next
one. No channel binding (gs2 header ``n,,`` or ``y,,``), no extensions other
than ignoring unknown ones; ``tokenauth`` (delegation tokens) is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from pystream.errors import AuthenticationError

__all__ = ["MECHANISMS", "MIN_ITERATIONS", "MAX_ITERATIONS", "ScramClient", "ScramCredential", "ScramServer",
           "mechanism_id", "mechanism_name", "salted_password"]

# Kafka's mechanism ids in DescribeUserScramCredentials / AlterUserScramCredentials, and hash per mechanism.
MECHANISMS = {"SCRAM-SHA-256": (1, "sha256"), "SCRAM-SHA-512": (2, "sha512")}
MIN_ITERATIONS, MAX_ITERATIONS = 4096, 16384  # what Kafka accepts
DEFAULT_ITERATIONS = 4096

AUTH_FAILED = "Authentication failed during authentication due to invalid credentials with SASL mechanism {}"


def mechanism_name(mechanism_id: int) -> str:
    for name, (i, _) in MECHANISMS.items():
        if i == mechanism_id:
            return name
    raise ValueError(f"unknown SCRAM mechanism id {mechanism_id} (1: SCRAM-SHA-256, 2: SCRAM-SHA-512)")


def mechanism_id(name: str) -> int:
    try:
        return MECHANISMS[name.upper()][0]
    except KeyError:
        raise ValueError(f"unknown SCRAM mechanism {name!r} (SCRAM-SHA-256 or SCRAM-SHA-512)") from None


def _hash(mechanism: str) -> str:
    return MECHANISMS[mechanism][1]


def _hmac(h: str, key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, h).digest()


def salted_password(mechanism: str, password: str, salt: bytes, iterations: int) -> bytes:
    """Hi(password, salt, i) = PBKDF2-HMAC-H (RFC 5802 2.2)."""
    return hashlib.pbkdf2_hmac(_hash(mechanism), password.encode(), salt, iterations)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


@dataclass(frozen=True)
class ScramCredential:
    """What the server keeps for one user and mechanism."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int

    @classmethod
    def from_salted_password(cls, mechanism: str, salted: bytes, salt: bytes, iterations: int) -> ScramCredential:
        h = _hash(mechanism)
        client_key = _hmac(h, salted, b"Client Key")
        return cls(salt, hashlib.new(h, client_key).digest(), _hmac(h, salted, b"Server Key"), iterations)

    @classmethod
    def from_password(cls, mechanism: str, password: str, iterations: int = DEFAULT_ITERATIONS,
                      salt: bytes | None = None) -> ScramCredential:
        salt = salt if salt is not None else secrets.token_bytes(32)
        return cls.from_salted_password(mechanism, salted_password(mechanism, password, salt, iterations), salt, iterations)

    def to_kafka(self) -> str:
        """Kafka's persisted form (ZooKeeper /config/users/<name>)."""
        return (f"salt={_b64(self.salt)},stored_key={_b64(self.stored_key)},"
                f"server_key={_b64(self.server_key)},iterations={self.iterations}")

    @classmethod
    def from_kafka(cls, text: str) -> ScramCredential:
        fields = dict(item.split("=", 1) for item in text.split(",") if "=" in item)
        try:
            return cls(_unb64(fields["salt"]), _unb64(fields["stored_key"]), _unb64(fields["server_key"]),
                       int(fields["iterations"]))
        except (KeyError, ValueError) as e:
            raise ValueError(f"malformed SCRAM credential ({e})") from None

    def verify_password(self, mechanism: str, password: str) -> bool:
        """True if `password` is the one this credential was made from (used by PLAIN)."""
        other = ScramCredential.from_password(mechanism, password, self.iterations, self.salt)
        return hmac.compare_digest(other.stored_key, self.stored_key)


def _escape_name(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


def _unescape_name(name: str) -> str:
    if "=" in name.replace("=3D", "").replace("=2C", ""):
        raise AuthenticationError("invalid SCRAM user name encoding")
    return name.replace("=2C", ",").replace("=3D", "=")


def _attributes(message: str) -> dict[str, str]:
    """``a=1,b=2`` -> {a: 1, b: 2} (RFC 5802 section 5; Kafka's extensions have longer names)."""
    out: dict[str, str] = {}
    for item in message.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise AuthenticationError(f"invalid SCRAM message attribute {item[:40]!r}")
        out.setdefault(key, value)
    return out


class ScramServer:
    """The server side of one SCRAM exchange.

    `lookup(user)` returns the user's credential for this mechanism or None.
    An unknown user goes through the exchange with a made-up credential and
    fails at the proof, like a wrong password (the answer does not reveal
    which users exist).
    """

    def __init__(self, mechanism: str, lookup: Callable[[str], ScramCredential | None]) -> None:
        self.mechanism = mechanism
        self.lookup = lookup
        self.complete = False
        self.user: str | None = None
        self._step = 0
        self._h = _hash(mechanism)
        self._credential: ScramCredential | None = None
        self._known = False
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._gs2 = ""

    def _fail(self, why: str) -> AuthenticationError:
        return AuthenticationError(AUTH_FAILED.format(self.mechanism) + (f" ({why})" if why else ""))

    def evaluate(self, token: bytes) -> bytes:
        try:
            text = token.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail("message is not UTF-8") from None
        if self._step == 0:
            return self._client_first(text)
        if self._step == 1:
            return self._client_final(text)
        raise AuthenticationError("unexpected SCRAM message after the exchange completed")

    def _client_first(self, text: str) -> bytes:
        parts = text.split(",", 2)
        if len(parts) != 3 or parts[0] not in ("n", "y") or (parts[1] and not parts[1].startswith("a=")):
            if parts and parts[0].startswith("p="):
                raise self._fail("channel binding is not supported")
            raise self._fail("invalid client-first message")
        self._gs2 = f"{parts[0]},{parts[1]},"
        self._client_first_bare = parts[2]
        attrs = _attributes(parts[2])
        if "m" in attrs or "n" not in attrs or "r" not in attrs or not attrs["r"]:
            raise self._fail("invalid client-first message")
        if attrs.get("tokenauth", "").lower() == "true":
            raise self._fail("delegation tokens are not supported")
        user = _unescape_name(attrs["n"])
        if parts[1] and _unescape_name(parts[1][2:]) != user:
            raise self._fail("authorization id differs from the user name")
        self.user = user
        cred = self.lookup(user)
        self._known = cred is not None
        if cred is None:  # made-up but stable per name, so probing shows nothing
            salt = hashlib.sha256(b"pystream-unknown-user:" + user.encode()).digest()
            cred = ScramCredential(salt, secrets.token_bytes(64), secrets.token_bytes(64), DEFAULT_ITERATIONS)
        self._credential = cred
        self._nonce = attrs["r"] + secrets.token_urlsafe(24)
        self._server_first = f"r={self._nonce},s={_b64(cred.salt)},i={cred.iterations}"
        self._step = 1
        return self._server_first.encode()

    def _client_final(self, text: str) -> bytes:
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        if not sep:
            raise self._fail("client-final message has no proof")
        attrs = _attributes(without_proof)
        # Kafka checks endsWith, not equality: librdkafka 2.0 repeats its own nonce in front.
        if not attrs.get("r", "").endswith(self._nonce):
            raise self._fail("nonce mismatch")
        try:
            if _unb64(attrs.get("c", "")) != self._gs2.encode():
                raise self._fail("channel binding mismatch")
            proof = _unb64(proof_b64)
        except ValueError:
            raise self._fail("invalid base64") from None
        cred = self._credential
        assert cred is not None
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        client_signature = _hmac(self._h, cred.stored_key, auth_message)
        if len(proof) != len(client_signature):
            raise self._fail("")
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
        if not self._known or not hmac.compare_digest(hashlib.new(self._h, client_key).digest(), cred.stored_key):
            raise self._fail("")
        self.complete = True
        self._step = 2
        return f"v={_b64(_hmac(self._h, cred.server_key, auth_message))}".encode()


class ScramClient:
    """The client side (inter-broker connections and the CLI)."""

    def __init__(self, mechanism: str, user: str, password: str, nonce: str | None = None) -> None:
        self.mechanism = mechanism.upper()
        if self.mechanism not in MECHANISMS:
            raise ValueError(f"unknown SCRAM mechanism {mechanism!r}")
        self.user, self.password = user, password
        self._h = _hash(self.mechanism)
        self._nonce = nonce or secrets.token_urlsafe(24)
        self._client_first_bare = f"n={_escape_name(user)},r={self._nonce}"
        self._server_signature = b""
        self.complete = False
        self._step = 0

    def initial(self) -> bytes:
        self._step = 1
        return f"n,,{self._client_first_bare}".encode()

    def evaluate(self, challenge: bytes) -> bytes | None:
        text = challenge.decode("utf-8", "replace")
        if self._step == 1:
            attrs = _attributes(text)
            if "e" in attrs:
                raise AuthenticationError(f"SCRAM server error: {attrs['e']}")
            nonce, salt, iterations = attrs.get("r", ""), attrs.get("s", ""), int(attrs.get("i", "0") or 0)
            if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
                raise AuthenticationError("SCRAM server nonce does not extend the client nonce")
            if iterations < MIN_ITERATIONS:
                raise AuthenticationError(f"SCRAM iteration count {iterations} is below {MIN_ITERATIONS}")
            salted = salted_password(self.mechanism, self.password, _unb64(salt), iterations)
            without_proof = f"c={_b64(b'n,,')},r={nonce}"
            auth_message = f"{self._client_first_bare},{text},{without_proof}".encode()
            client_key = _hmac(self._h, salted, b"Client Key")
            signature = _hmac(self._h, hashlib.new(self._h, client_key).digest(), auth_message)
            proof = bytes(a ^ b for a, b in zip(client_key, signature))
            self._server_signature = _hmac(self._h, _hmac(self._h, salted, b"Server Key"), auth_message)
            self._step = 2
            return f"{without_proof},p={_b64(proof)}".encode()
        if self._step == 2:
            attrs = _attributes(text)
            if "e" in attrs:
                raise AuthenticationError(f"SCRAM server error: {attrs['e']}")
            if not hmac.compare_digest(_unb64(attrs.get("v", "")), self._server_signature):
                raise AuthenticationError("SCRAM server signature does not verify: not the broker we trust")
            self.complete = True
            self._step = 3
            return None
        raise AuthenticationError("unexpected SCRAM challenge")
