"""A throw-away PKI for the provider simulator: one CA and one server certificate.

The collector trusts the CA through a file and routes the provider host names to the
simulator, so the server certificate names those hosts (and 127.0.0.1 for clients that
are pointed at the simulator directly). Files already in the directory are reused
while they are still valid and cover the hosts asked for.

    ca.pem        the CA certificate (give this to clients)
    ca-key.pem    the CA key (0600), kept so a new server certificate can be issued
    server.pem    the server certificate, signed by the CA
    server-key.pem the server key (0600)
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

DEFAULT_HOSTS: tuple[str, ...] = (
    "api.anthropic.com",
    "api.openai.com",
    "localhost",
    "127.0.0.1",
)

CA_CERT_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
LEAF_CERT_FILE = "server.pem"
LEAF_KEY_FILE = "server-key.pem"

CA_LIFETIME = datetime.timedelta(days=3650)
LEAF_LIFETIME = datetime.timedelta(days=397)
#: A certificate closer than this to its end is replaced.
RENEW_MARGIN = datetime.timedelta(days=2)
BACKDATE = datetime.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TestPKI:
    """Paths of the simulator's CA certificate and its server certificate and key."""

    __test__: ClassVar[bool] = False  # not a pytest test class despite the name

    ca_cert: Path
    leaf_cert: Path
    leaf_key: Path


def make_test_pki(directory: Path, hosts: Sequence[str] = DEFAULT_HOSTS) -> TestPKI:
    """Create (or reuse) a CA and a server certificate for ``hosts`` in ``directory``.

    ``hosts`` are DNS names or IP addresses. The key files are written 0600.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    ca = _load_valid_ca(directory, now)
    if ca is None:
        ca = _write_new_ca(directory, now)
        log.info("simulator.pki.ca_created dir=%s", directory)

    pki = TestPKI(
        ca_cert=directory / CA_CERT_FILE,
        leaf_cert=directory / LEAF_CERT_FILE,
        leaf_key=directory / LEAF_KEY_FILE,
    )
    if not _leaf_is_valid(pki, ca[0], hosts, now):
        _write_new_leaf(pki, ca, hosts, now)
        log.info("simulator.pki.leaf_created dir=%s hosts=%d", directory, len(hosts))
    return pki


def _load_valid_ca(
    directory: Path, now: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    cert = _read_cert(directory / CA_CERT_FILE)
    key = _read_ec_key(directory / CA_KEY_FILE)
    if cert is None or key is None:
        return None
    if not _same_public_key(cert, key) or not _in_validity(cert, now):
        return None
    return cert, key


def _leaf_is_valid(
    pki: TestPKI,
    ca_cert: x509.Certificate,
    hosts: Sequence[str],
    now: datetime.datetime,
) -> bool:
    cert = _read_cert(pki.leaf_cert)
    key = _read_ec_key(pki.leaf_key)
    if cert is None or key is None:
        return False
    if not _same_public_key(cert, key) or not _in_validity(cert, now):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return _names_cover(cert, hosts)


def _write_new_ca(
    directory: Path, now: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "spendtap simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "spendtap simulator test CA"),
        ]
    )
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    _write_key(directory / CA_KEY_FILE, key)
    _write_cert(directory / CA_CERT_FILE, cert)
    return cert, key


def _write_new_leaf(
    pki: TestPKI,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    hosts: Sequence[str],
    now: datetime.datetime,
) -> None:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    first = hosts[0] if hosts else "localhost"
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, first)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + LEAF_LIFETIME, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(x509.SubjectAlternativeName(_general_names(hosts)), False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(pki.leaf_key, key)
    _write_cert(pki.leaf_cert, cert)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _general_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _names_cover(cert: x509.Certificate, hosts: Sequence[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    present = set(san.value.get_values_for_type(x509.DNSName))
    present.update(str(ip) for ip in san.value.get_values_for_type(x509.IPAddress))
    wanted = {str(name.value) for name in _general_names(hosts)}
    return wanted <= present


def _in_validity(cert: x509.Certificate, now: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= now < cert.not_valid_after_utc - RENEW_MARGIN


def _same_public_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    return cert.public_key() == key.public_key()


def _read_cert(path: Path) -> x509.Certificate | None:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _read_ec_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    _write_file(path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_file(path, pem, mode=0o600)


def _write_file(path: Path, data: bytes, *, mode: int) -> None:
    """Write through a temporary file so a reader never sees half a PEM file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
