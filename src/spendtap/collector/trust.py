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
    bundle.write_text(roots.rstrip("\n") + "\n" + ca_cert.read_text())
    return bundle
