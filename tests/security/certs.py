"""Real certificates for the security tests, made with the `cryptography` package:
a CA, a server certificate for 127.0.0.1 / localhost, client certificates, and a
second, untrusted CA with its own certificates."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str, ou: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pystream tests")]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _pem_key(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


@dataclass
class Issued:
    """A certificate and its key, as files: `cert` (certificate only), `key`, `pem` (chain + key in one file, Kafka's PEM keystore)."""

    cert: Path
    key: Path
    pem: Path
    subject: str


class CA:
    def __init__(self, directory: Path, name: str) -> None:
        self.dir = directory
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                                  key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                  encipher_only=False, decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = directory / f"{name}.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, cn: str, *, server: bool = False, ou: str | None = None, password: bytes | None = None) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        b = (x509.CertificateBuilder().subject_name(_name(cn, ou)).issuer_name(self.cert.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        stem = self.dir / f"{self.name}-{cn}"
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = _pem_key(key, password)
        paths = Issued(stem.with_suffix(".crt"), stem.with_suffix(".key"), stem.with_suffix(".pem"),
                       ",".join(f"{k}={v}" for k, v in (("CN", cn), ("OU", ou), ("O", "pystream tests"), ("C", "US")) if v))
        paths.cert.write_bytes(cert_pem)
        paths.key.write_bytes(key_pem)
        paths.pem.write_bytes(cert_pem + key_pem)
        return paths


@dataclass
class Pki:
    ca: CA
    server: Issued
    alice: Issued        # a client certificate: CN=alice
    service: Issued      # CN=ingest,OU=ServiceUsers (for mapping rules)
    rogue_ca: CA         # not trusted by the broker
    rogue_client: Issued
    rogue_server: Issued


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca, rogue = CA(directory, "ca"), CA(directory, "rogue-ca")
    return Pki(ca, ca.issue("broker", server=True), ca.issue("alice"), ca.issue("ingest", ou="ServiceUsers"),
               rogue, rogue.issue("mallory"), rogue.issue("broker", server=True))
