from __future__ import annotations

import ipaddress
import socket
import ssl
import stat
import threading
from pathlib import Path

from cryptography import x509

from spendtap.simulator.certs import TestPKI, make_test_pki


def _sans(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = set(san.get_values_for_type(x509.DNSName))
    return names | {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_certificate_names_both_providers_localhost_and_loopback_ip(
    tmp_path: Path,
) -> None:
    pki = make_test_pki(tmp_path)

    assert _sans(pki.leaf_cert) == {
        "api.anthropic.com",
        "api.openai.com",
        "localhost",
        "127.0.0.1",
    }


def test_loopback_is_an_ip_address_entry_not_a_dns_name(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path)
    cert = x509.load_pem_x509_certificate(pki.leaf_cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value

    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1")
    ]


def test_key_files_are_private(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path)

    assert _mode(pki.leaf_key) == 0o600
    assert _mode(tmp_path / "ca-key.pem") == 0o600


def test_leaf_is_signed_by_the_ca(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    leaf = x509.load_pem_x509_certificate(pki.leaf_cert.read_bytes())

    leaf.verify_directly_issued_by(ca)  # raises when not


def test_valid_files_are_reused_unchanged(tmp_path: Path) -> None:
    first = make_test_pki(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.iterdir()}

    second = make_test_pki(tmp_path)

    assert second == first
    assert {p: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_new_host_reissues_the_leaf_under_the_same_ca(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path, ["api.anthropic.com"])
    ca_before = pki.ca_cert.read_bytes()

    again = make_test_pki(tmp_path, ["api.anthropic.com", "api.mistral.ai"])

    assert again.ca_cert.read_bytes() == ca_before
    assert _sans(again.leaf_cert) == {"api.anthropic.com", "api.mistral.ai"}


def test_a_damaged_leaf_is_replaced(tmp_path: Path) -> None:
    pki = make_test_pki(tmp_path)
    pki.leaf_cert.write_text("not a certificate")

    make_test_pki(tmp_path)

    assert "api.openai.com" in _sans(pki.leaf_cert)


def test_a_client_trusting_the_ca_accepts_the_provider_name_by_sni(
    tmp_path: Path,
) -> None:
    pki = make_test_pki(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(pki.leaf_cert, pki.leaf_key)
    client_ctx = ssl.create_default_context(cafile=str(pki.ca_cert))

    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        accepted = threading.Thread(target=_handshake_once, args=(listener, server_ctx))
        accepted.start()
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            client_ctx.wrap_socket(raw, server_hostname="api.anthropic.com") as tls,
        ):
            peer = tls.getpeercert()
        accepted.join(5)

    assert peer is not None
    assert ("DNS", "api.anthropic.com") in peer["subjectAltName"]


def _handshake_once(listener: socket.socket, ctx: ssl.SSLContext) -> None:
    conn, _ = listener.accept()
    with ctx.wrap_socket(conn, server_side=True):
        pass


def test_pki_class_is_not_collected_as_a_test() -> None:
    assert TestPKI.__test__ is False
