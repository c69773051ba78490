"""The one certificate-purpose policy shared by the signer and the verifier, on the test PKI's real certificates."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyhanko.keys import load_cert_from_pemder

from gateway.signing.cert_policy import signer_certificate_problems

CERTS = Path(__file__).resolve().parents[2] / "certs.example"


@pytest.mark.parametrize("name", ["agency.pem", "signer.pem"])
def test_document_signing_certificates_pass(name: str) -> None:
    cert = load_cert_from_pemder(str(CERTS / name))
    assert signer_certificate_problems(cert, datetime.now(UTC)) == []


@pytest.mark.parametrize(
    ("name", "needle"),
    [("root-ca.pem", "CA certificate"), ("intermediate-ca.pem", "CA certificate"), ("tsa.pem", "timestamping (TSA)")],
)
def test_ca_and_tsa_certificates_are_refused(name: str, needle: str) -> None:
    problems = signer_certificate_problems(load_cert_from_pemder(str(CERTS / name)))
    assert any(needle in p for p in problems), problems


def test_validity_window_is_checked_at_the_given_moment() -> None:
    cert = load_cert_from_pemder(str(CERTS / "signer.pem"))
    not_before = cert["tbs_certificate"]["validity"]["not_before"].native
    not_after = cert["tbs_certificate"]["validity"]["not_after"].native
    before = signer_certificate_problems(cert, not_before.replace(year=not_before.year - 1))
    after = signer_certificate_problems(cert, not_after.replace(year=not_after.year + 1))
    assert len(before) == 1 and "not yet valid" in before[0]
    assert len(after) == 1 and "expired" in after[0]
