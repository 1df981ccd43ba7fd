"""Client trust: the files a user's tools need to verify our CA."""

from __future__ import annotations

from pathlib import Path

import certifi

BUNDLE_FILE = "ca-bundle.pem"


def write_ca_bundle(ca_cert: Path, data_dir: Path) -> Path:
    """Public roots plus our CA, for clients whose variable *replaces* their store.

    Python's ``SSL_CERT_FILE`` and ``REQUESTS_CA_BUNDLE`` replace the default roots, so
    pointing them at our CA alone would break every passthrough host.
    """
    bundle = data_dir / BUNDLE_FILE
    roots = Path(certifi.where()).read_text()
    replace_file(bundle, roots.rstrip("\n") + "\n" + ca_cert.read_text())
    return bundle


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, and not at all when it is already there.

    Clients read these files while a collector restarts; they must never see a
    half-written certificate.
    """
    if path.exists() and path.read_text() == text:
        return
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)
