"""Client trust files (case T06): verification stays on, passthrough hosts keep working."""

from __future__ import annotations

import re
from pathlib import Path

import certifi

from spendtap.collector.trust import replace_file, write_ca_bundle
from spendtap.simulator.certs import TestPKI

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "-----BEGIN CERTIFICATE-----"


def test_bundle_holds_every_public_root_and_our_ca(
    tmp_path: Path, pki: TestPKI
) -> None:
    bundle = write_ca_bundle(pki.ca_cert, tmp_path).read_text()

    public = Path(certifi.where()).read_text().count(BEGIN)
    assert bundle.count(BEGIN) == public + 1
    assert bundle.rstrip().endswith(pki.ca_cert.read_text().strip())


def test_trust_files_are_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "ca-cert.pem"
    replace_file(target, "first")
    replace_file(target, "second")

    assert target.read_text() == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["ca-cert.pem"]


def test_no_document_tells_anyone_to_turn_verification_off() -> None:
    insecure = re.compile(
        r"verify\s*=\s*False|NODE_TLS_REJECT_UNAUTHORIZED\s*=\s*0|--insecure\b|"
        r"ssl_insecure|PYTHONHTTPSVERIFY\s*=\s*0|curl -k\b",
        re.IGNORECASE,
    )
    docs = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    for doc in docs:
        assert not insecure.search(doc.read_text()), doc
