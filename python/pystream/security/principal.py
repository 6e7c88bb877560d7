"""Principals: who a connection is (Kafka's `KafkaPrincipal`), and how a TLS
client certificate's subject becomes one (`ssl.principal.mapping.rules`).

A SASL connection's principal is ``User:<authenticated user name>``; an SSL
connection with a client certificate is ``User:<mapped subject DN>``; any
other connection is ``User:ANONYMOUS``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pystream.errors import AuthenticationError, SecurityConfigError

__all__ = ["ANONYMOUS", "KafkaPrincipal", "Session", "SslPrincipalMapper", "subject_dn"]

USER_TYPE = "User"


@dataclass(frozen=True)
class KafkaPrincipal:
    """``type:name``, e.g. ``User:alice``. Principals compare by both parts."""

    type: str
    name: str

    def __str__(self) -> str:
        return f"{self.type}:{self.name}"

    @classmethod
    def parse(cls, text: str) -> KafkaPrincipal:
        """``"User:alice"`` -> KafkaPrincipal("User", "alice"); ValueError without a type."""
        kind, sep, name = text.partition(":")
        if not sep or not kind or not name:
            raise ValueError(f"principal {text!r} is not of the form Type:name (e.g. User:alice)")
        return cls(kind, name)

    @classmethod
    def user(cls, name: str) -> KafkaPrincipal:
        return cls(USER_TYPE, name)


ANONYMOUS = KafkaPrincipal(USER_TYPE, "ANONYMOUS")

# ---------------------------------------------------------------------------
# Certificate subject -> RFC 2253 distinguished name, as Java's X500Principal.getName() prints it

# Attribute names Python's ssl module reports -> the keywords RFC 2253 (and Java) print.
_RFC2253_KEYWORDS = {
    "commonName": "CN", "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST",
    "organizationName": "O", "organizationalUnitName": "OU", "streetAddress": "STREET",
    "domainComponent": "DC", "userId": "UID",
}
# Attributes Java prints by OID with the value's DER encoding (#hex): OID, DER string tag.
_OID_ATTRIBUTES = {"emailAddress": ("1.2.840.113549.1.9.1", 0x16)}


def _escape(value: str) -> str:
    """RFC 2253 section 2.4 escaping."""
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (ch == "#" and i == 0) or (ch == " " and (i == 0 or i == len(value) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _der_hex(value: str, tag: int) -> str:
    data = value.encode()
    n = len(data)
    length = bytes([n]) if n < 0x80 else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    return "#" + (bytes([tag]) + length + data).hex()


def subject_dn(peercert: dict[str, Any]) -> str:
    """The subject of a certificate as `ssl.SSLSocket.getpeercert()` returns it, in
    RFC 2253 form as Kafka (Java's X500Principal.getName()) prints it: the most
    specific RDN first, e.g. ``CN=alice,OU=eng,O=Example,C=US``."""
    rdns = []
    for rdn in reversed(peercert.get("subject", ())):
        parts = []
        for attr, value in rdn:
            if attr in _RFC2253_KEYWORDS:
                parts.append(f"{_RFC2253_KEYWORDS[attr]}={_escape(value)}")
            elif attr in _OID_ATTRIBUTES:
                oid, tag = _OID_ATTRIBUTES[attr]
                parts.append(f"{oid}={_der_hex(value, tag)}")
            else:
                parts.append(f"{attr}={_escape(value)}")
        rdns.append("+".join(parts))
    return ",".join(rdns)


# ---------------------------------------------------------------------------
# ssl.principal.mapping.rules (Kafka's SslPrincipalMapper)

# One rule: DEFAULT, or RULE:pattern/replacement/[LU] where / and \ are escaped with \.
_RULE = re.compile(r"\s*(DEFAULT|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?))\s*(?:,\s*|$)")


@dataclass(frozen=True)
class _Rule:
    default: bool
    pattern: re.Pattern[str] | None = None
    replacement: str = ""
    case: str = ""

    def apply(self, dn: str) -> str | None:
        if self.default:
            return dn
        assert self.pattern is not None
        if self.pattern.fullmatch(dn) is None:
            return None
        out = self.pattern.sub(self.replacement, dn)
        return out.lower() if self.case == "L" else out.upper() if self.case == "U" else out


def _java_replacement(text: str) -> str:
    """Java's Matcher.replaceAll syntax ($1, \\$) -> Python's re.sub syntax (\\g<1>)."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append("\\\\" if nxt == "\\" else nxt)
            i += 2
        elif ch == "$" and i + 1 < len(text) and text[i + 1].isdigit():
            j = i + 1
            while j < len(text) and text[j].isdigit():
                j += 1
            out.append(f"\\g<{text[i + 1:j]}>")
            i = j
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class SslPrincipalMapper:
    """Maps a certificate subject DN to a user name with Kafka's rules, e.g.
    ``RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L,DEFAULT``: the first rule whose
    pattern matches the whole DN gives the name; DEFAULT keeps the DN as is.
    No matching rule: authentication fails (as in Kafka)."""

    def __init__(self, rules: str = "DEFAULT") -> None:
        self.text = rules
        self.rules = self._parse(rules)

    @staticmethod
    def _parse(text: str) -> list[_Rule]:
        rules, pos, text = [], 0, text.strip()
        while pos < len(text):
            m = _RULE.match(text, pos)
            if m is None or m.end() == pos:
                raise SecurityConfigError(f"ssl.principal.mapping.rules: cannot parse {text[pos:]!r} "
                                          "(expected DEFAULT or RULE:pattern/replacement/[LU], comma separated)")
            if m.group(1) == "DEFAULT":
                rules.append(_Rule(True))
            else:
                pattern = m.group(2).replace("\\/", "/")
                try:
                    compiled = re.compile(pattern)
                except re.error as e:
                    raise SecurityConfigError(f"ssl.principal.mapping.rules: bad pattern {pattern!r}: {e}") from None
                rules.append(_Rule(False, compiled, _java_replacement(m.group(3).replace("\\/", "/")), m.group(4)))
            pos = m.end()
        return rules or [_Rule(True)]

    def name(self, dn: str) -> str:
        for rule in self.rules:
            out = rule.apply(dn)
            if out is not None:
                return out
        raise AuthenticationError(f"no ssl.principal.mapping.rules rule applies to {dn!r}")


def parse_principals(text: str, what: str) -> set[KafkaPrincipal]:
    """``User:a;User:b`` (Kafka's super.users syntax) -> principals."""
    out = set()
    for item in (s.strip() for s in text.split(";")):
        if item:
            try:
                out.add(KafkaPrincipal.parse(item))
            except ValueError as e:
                raise SecurityConfigError(f"{what}: {e}") from None
    return out


@dataclass
class Session:
    """Who is on one connection, and through which listener (the handlers read it;
    re-authentication updates it in place)."""

    principal: KafkaPrincipal = ANONYMOUS
    client_host: str = ""
    listener: str = "PLAINTEXT"
    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
