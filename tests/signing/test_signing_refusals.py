"""What the signer refuses, at every PAdES level: certificates unfit to sign (expired, not yet
valid, CA, TSA) and sealing over signatures that do not verify (revoked, untrusted, tampered,
modified after signing). Each refusal names the certificate or the signature field and why."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from gateway.cli import main
from gateway.errors import ConfigurationError, SigningError
from gateway.signing.keys import CachedKeySigner, KeyHandle
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import make_sample_pdf

from .conftest import PKI


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _intermediate() -> tuple[x509.Certificate, object]:
    cert = x509.load_pem_x509_certificate((PKI / "intermediate-ca.pem").read_bytes())
    key = serialization.load_pem_private_key((PKI / "intermediate-ca.key.pem").read_bytes(), None)
    return cert, key


def make_signer_cert(name: str, not_before: datetime, not_after: datetime) -> KeyHandle:
    """A document-signing certificate from the test intermediate CA with the given validity."""
    ca_cert, ca_key = _intermediate()
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return _handle(key, cert, [ca_cert])


def _handle(key, cert: x509.Certificate, chain: list[x509.Certificate]) -> KeyHandle:
    asn1_chain = [_asn1(c) for c in chain]
    signer = CachedKeySigner(key=key, signing_cert=_asn1(cert), chain=asn1_chain)
    return KeyHandle(signer=signer, certificate=_asn1(cert), chain=tuple(asn1_chain), private_key=key)


def _pem_handle(stem: str) -> KeyHandle:
    key = serialization.load_pem_private_key((PKI / f"{stem}.key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((PKI / f"{stem}.pem").read_bytes())
    chain_file = PKI / f"{stem}.chain.pem"
    chain = x509.load_pem_x509_certificates(chain_file.read_bytes()) if chain_file.exists() else []
    return _handle(key, cert, chain)


NOW = datetime.now(UTC)


@pytest.mark.parametrize("profile", ["ubnd-thu-nghiem", "ubnd-thu-nghiem-bt", "nguyen-van-an"])
@pytest.mark.parametrize(
    ("window", "needle"),
    [
        ((NOW - timedelta(days=400), NOW - timedelta(days=1)), "expired on"),
        ((NOW + timedelta(days=1), NOW + timedelta(days=400)), "not yet valid"),
    ],
)
def test_expired_and_not_yet_valid_certificates_are_refused(profile, window, needle, settings, tsa):
    key = make_signer_cert(f"Test {needle}", *window)
    before = tsa.requests
    with pytest.raises(ConfigurationError) as err:
        DocumentSigner(settings.profile(profile), settings.trust, tsa_url=tsa.url, key=key)
    message = str(err.value)
    assert needle in message and f"'Test {needle}'" in message and profile in message
    assert tsa.requests == before  # refused before anything was sent anywhere


@pytest.mark.parametrize(
    ("stem", "needle"),
    [("intermediate-ca", "is a CA certificate"), ("root-ca", "is a CA certificate"), ("tsa", r"timestamping \(TSA\)")],
)
@pytest.mark.parametrize("profile", ["ubnd-thu-nghiem", "ubnd-thu-nghiem-bt"])
def test_ca_and_tsa_certificates_are_refused_at_every_level(stem, needle, profile, settings, tsa):
    with pytest.raises(ConfigurationError, match=needle) as err:
        DocumentSigner(settings.profile(profile), settings.trust, tsa_url=tsa.url, key=_pem_handle(stem))
    assert "refusing to sign" in str(err.value) and "serial" in str(err.value)


def test_validity_is_checked_again_at_each_signing_time(settings, sample_pdf):
    key = make_signer_cert("Short Lived", NOW - timedelta(days=1), NOW + timedelta(days=2))
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust, key=key) as agency:
        agency.sign_attachment(sample_pdf, reference="1/QĐ")  # fine today
        agency.clock.offset = timedelta(days=3)  # the same long-running signer, three days later
        with pytest.raises(ConfigurationError, match=r"'Short Lived'.* expired on"):
            agency.sign_attachment(sample_pdf, reference="2/QĐ")


def test_expired_issuing_ca_is_refused(settings):
    ca_cert, _ca_key = _intermediate()
    key = make_signer_cert("Leaf", NOW - timedelta(days=1), NOW + timedelta(days=30))
    late = NOW + timedelta(days=365 * 40)  # past the intermediate's own validity
    assert ca_cert.not_valid_after_utc < late
    with pytest.raises(ConfigurationError, match=r"issuing certificate .*expired"):
        DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust, key=key)._refuse_unfit_certificate(late)


# -- sealing over signatures that do not verify -------------------------------------------------
def _person_signed(settings, profile: str) -> bytes:
    with DocumentSigner(settings.profile(profile), settings.trust) as person:
        return person.sign_main(make_sample_pdf(2))


@pytest.fixture(scope="module")
def agency(settings):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as signer:
        yield signer


def test_valid_leader_signature_is_sealed(settings, agency):
    from gateway.signing.verify import verify_pdf

    sealed = agency.sign_main(_person_signed(settings, "nguyen-van-an"))
    assert verify_pdf(sealed, settings.trust).valid


@pytest.mark.parametrize(
    ("profile", "reason"),
    [("revoked-signer", "certificate revoked"), ("untrusted-signer", "untrusted root")],
)
@pytest.mark.parametrize("role", ["main", "attachment", "copy"])
def test_sealing_over_revoked_or_untrusted_signature_is_refused(profile, reason, role, settings, agency):
    signed = _person_signed(settings, profile)
    options = {"attachment": {"reference": "1/QĐ"}}.get(role, {})
    with pytest.raises(SigningError) as err:
        agency.sign(signed, role, **options)
    message = str(err.value)
    assert "refusing to sign over signatures that do not verify" in message
    assert "'NguoiKy1'" in message and reason in message


def test_sealing_over_tampered_signature_is_refused(settings, agency):
    signed = _person_signed(settings, "nguyen-van-an")
    at = signed.index(b"line 7")  # inside the signed page content
    tampered = signed[:at] + b"X" + signed[at + 1 :]
    with pytest.raises(SigningError, match=r"'NguoiKy1'.*modified after signing"):
        agency.sign_main(tampered)


def test_sealing_over_document_modified_after_signing_is_refused(settings, agency):
    signed = _person_signed(settings, "nguyen-van-an")
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page_ref = w.find_page_for_modification(0)[0]
    evil = w.add_object(generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 400 Td (PAID) Tj ET"))
    w.add_stream_to_page(0, evil)
    w.update_container(page_ref.get_object())
    out = io.BytesIO()
    w.write(out)
    with pytest.raises(SigningError, match=r"'NguoiKy1'.*modified after signing"):
        agency.sign_main(out.getvalue())


def test_signing_over_signatures_without_trust_is_a_configuration_error(settings):
    signed = _person_signed(settings, "nguyen-van-an")
    bare = dataclasses.replace(settings.trust, roots=())
    for trust in (None, bare):
        with (
            DocumentSigner(settings.profile("ubnd-thu-nghiem"), trust) as agency,
            pytest.raises(ConfigurationError, match=r"already carries 1 signature.*\[trust\]"),
        ):
            agency.sign_main(signed)


def test_cli_refuses_and_names_the_field(settings, tmp_path: Path, capsys):
    src = tmp_path / "revoked.pdf"
    src.write_bytes(_person_signed(settings, "revoked-signer"))
    out = tmp_path / "sealed.pdf"
    profiles = str(PKI / "profiles.toml")
    code = main(["sign", str(src), "--profiles", profiles, "--profile", "ubnd-thu-nghiem", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert "'NguoiKy1'" in err and "revoked" in err
