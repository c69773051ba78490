"""Where the verifier takes its evidence from, on real signed files.

A signature is judged with the configured trust (roots, intermediates, CRLs) plus what the file
itself carries: the certificates, CRLs and OCSP responses of its DSS (PAdES B-LT) and the RFC 3161
token. These tests pin which evidence counts and for what: DSS material completes a chain and
answers revocation, in the first (hard-fail) validation and in the soft-fail retry that tells
"revocation data missing" apart from "chain broken"; the token's time, when trusted, is the time
the certificate is judged at; and each chain is built from its own evidence.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509 import ocsp
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from gateway.signing.profiles import TrustConfig
from gateway.signing.verify import SignatureReport, verify_pdf

from .pki_extra import PKI, days, issue, now, pyhanko_sign, tsa_eku

OCSP_URL = "http://127.0.0.1:9/ocsp"  # declared in the certificate, never fetched (allow_fetching=False)


def _asn1_cert(path: Path) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(pem.unarmor(path.read_bytes())[2])


def _crl(name: str) -> asn1_crl.CertificateList:
    return asn1_crl.CertificateList.load((PKI / name).read_bytes())


def _ocsp(cert_path: Path, *, revoked: bool = False) -> asn1_ocsp.OCSPResponse:
    """An OCSP response about ``cert_path`` signed by its issuer, the test issuing CA, itself."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    ca = x509.load_pem_x509_certificate((PKI / "intermediate-ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((PKI / "intermediate-ca.key.pem").read_bytes(), None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    t = now()
    status = ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert, issuer=ca, algorithm=hashes.SHA1(), cert_status=status, this_update=t - days(1),
        next_update=t + days(7), revocation_time=t - days(2) if revoked else None,
        revocation_reason=x509.ReasonFlags.key_compromise if revoked else None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, ca)
    der = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return asn1_ocsp.OCSPResponse.load(der)


def _with_dss(data: bytes, *, certs: tuple[str, ...] = (), ocsps: tuple = (), crls: tuple = ()) -> bytes:
    buf = io.BytesIO(data)
    DocumentSecurityStore.add_dss(buf, None, certs=[_asn1_cert(PKI / c) for c in certs], ocsps=list(ocsps),
                                  crls=list(crls))
    return buf.getvalue()


def _tsa(*, at: datetime | None = None, embed_issuer: bool = True, key_path: Path = PKI / "tsa.key.pem",
         cert_path: Path = PKI / "tsa.pem") -> DummyTimeStamper:
    """A TSA (by default the test PKI's trusted one) answering with ``at`` as its time when given."""
    key = serialization.load_pem_private_key(key_path.read_bytes(), None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    embed = [_asn1_cert(PKI / "intermediate-ca.pem")] if embed_issuer else []
    return DummyTimeStamper(tsa_cert=_asn1_cert(cert_path), tsa_key=asn1_keys.PrivateKeyInfo.load(key),
                            certs_to_embed=embed, fixed_dt=at)


def _only(data: bytes, trust: TrustConfig) -> SignatureReport:
    (sig,) = verify_pdf(data, trust, visual=False).signatures
    return sig


@pytest.fixture(scope="module")
def roots_only(settings) -> TrustConfig:
    return TrustConfig(roots=settings.trust.roots)


@pytest.fixture(scope="module")
def ocsp_signer(tmp_path_factory) -> tuple[Path, Path]:
    """(key, cert) of a person certificate whose AIA names an OCSP responder, under the issuing CA."""
    key, cert, _ = issue(tmp_path_factory.mktemp("ocsp"), "Co OCSP", not_before=now() - days(10),
                         not_after=now() + days(300), ocsp_url=OCSP_URL)
    return key, cert


def test_chain_and_revocation_data_carried_only_in_the_dss_are_used(ocsp_signer, roots_only, sample_pdf):
    """Only the root is configured; the CMS holds only the signer's certificate. The DSS carries the
    issuing CA (certificate), the signer's status (OCSP) and the CA's status (the root's CRL):
    each of the three is needed for a valid verdict with a checked revocation status."""
    key, cert = ocsp_signer
    bare = pyhanko_sign(sample_pdf, key, cert, (), box=None)
    assert [f.code for f in _only(bare, roots_only).findings] == ["untrusted"]  # nothing to build a chain with
    full = _with_dss(bare, certs=("intermediate-ca.pem",), ocsps=(_ocsp(cert),), crls=(_crl("root.crl"),))
    sig = _only(full, roots_only)
    assert sig.verdict == "valid", sig.reasons
    assert sig.revocation_checked and len(sig.chain) == 3 and sig.pades_level == "B-B"
    # without the OCSP response the signer's status is unknown: never valid
    no_ocsp = _with_dss(bare, certs=("intermediate-ca.pem",), crls=(_crl("root.crl"),))
    assert [f.code for f in _only(no_ocsp, roots_only).findings] == ["revocation-unknown"]


def test_an_issuing_ca_only_in_the_dss_still_lets_missing_revocation_data_be_named(roots_only, sample_pdf):
    """No revocation data anywhere, the issuing CA only in the DSS: the soft-fail retry must build
    the same chain (with the DSS certificates) to say that only revocation data is missing."""
    bare = pyhanko_sign(sample_pdf, PKI / "signer.key.pem", PKI / "signer.pem", (), box=None)
    sig = _only(_with_dss(bare, certs=("intermediate-ca.pem",)), roots_only)
    assert sig.verdict == "indeterminate" and not sig.revocation_checked
    assert [f.code for f in sig.findings] == ["revocation-unknown"]


@pytest.mark.parametrize("source", ["crl", "ocsp"])
def test_a_signer_revoked_by_the_files_own_data_is_never_called_merely_unchecked(
        source, settings, ocsp_signer, sample_pdf):
    """The signer is revoked by a CRL or an OCSP response in the DSS, while the issuing CA's own
    status is unknown (no root CRL): the hard-fail validation stops at the CA, and the soft-fail
    retry, which also reads the DSS, sees the revocation. So the chain is reported not trusted,
    never as 'only revocation data missing'."""
    trust = TrustConfig(roots=settings.trust.roots, intermediates=settings.trust.intermediates)
    if source == "crl":
        signed = pyhanko_sign(sample_pdf, PKI / "revoked.key.pem", PKI / "revoked.pem", (), box=None)
        data = _with_dss(signed, crls=(_crl("intermediate.crl"),))
    else:
        key, cert = ocsp_signer
        data = _with_dss(pyhanko_sign(sample_pdf, key, cert, (), box=None), ocsps=(_ocsp(cert, revoked=True),))
    sig = _only(data, trust)
    assert sig.verdict == "indeterminate" and not sig.valid and not sig.revocation_checked
    assert [f.code for f in sig.findings] == ["untrusted"], sig.reasons
    assert not any(r.startswith("revocation not checked") for r in sig.reasons)


def test_a_forged_certificate_is_a_broken_chain_not_missing_revocation_data(settings, sample_pdf, tmp_path):
    """A certificate naming the issuing CA as issuer but signed with another key. With no revocation
    data configured, the hard-fail validation fails in general terms; the soft-fail retry fails
    too (the chain really is broken), so the verdict names an untrusted chain and says revocation
    was not checked — not that revocation data alone is missing."""
    key, cert_path, chain = issue(tmp_path, "Gia Mao", not_before=now() - days(10), not_after=now() + days(300))
    real = x509.load_pem_x509_certificate(cert_path.read_bytes())
    builder = (x509.CertificateBuilder().subject_name(real.subject).issuer_name(real.issuer)
               .public_key(real.public_key()).serial_number(real.serial_number)
               .not_valid_before(real.not_valid_before_utc).not_valid_after(real.not_valid_after_utc))
    for ext in real.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert_path.write_bytes(builder.sign(forger, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    data = pyhanko_sign(sample_pdf, key, cert_path, (chain,), box=None)
    trust = TrustConfig(roots=settings.trust.roots, intermediates=settings.trust.intermediates)
    sig = _only(data, trust)
    assert sig.intact and sig.signature_value_ok and not sig.trusted
    assert sig.verdict == "indeterminate"
    assert sig.reasons == ("certificate chain not trusted (certificate chain general failure)",)
    assert sig.chain and not sig.revocation_checked  # a path was found, but it is not a checked one


def test_an_expired_certificate_is_judged_at_the_time_its_trusted_token_proves(tmp_path, settings, sample_pdf):
    """The certificate expired 30 days ago. A trusted token dated 60 days ago proves the signature
    existed while the certificate was valid: no validity finding (pyHanko's chain validation at
    the present time still leaves it indeterminate). A token dated 10 days ago proves the opposite,
    and the finding says which time it used."""
    key, cert, chain = issue(tmp_path, "Het Han Co Dau", not_before=now() - days(800), not_after=now() - days(30))
    before = _only(pyhanko_sign(sample_pdf, key, cert, (chain,), box=None, timestamper=_tsa(at=now() - days(60))),
                   settings.trust)
    assert before.time_source == "timestamp" and before.timestamp_trusted is True
    assert [f.code for f in before.findings] == ["expired-no-poe"] and before.verdict == "indeterminate"
    after = _only(pyhanko_sign(sample_pdf, key, cert, (chain,), box=None, timestamper=_tsa(at=now() - days(10))),
                  settings.trust)
    (late,) = [f for f in after.findings if f.code == "certificate-validity"]
    assert after.verdict == "invalid" and "expired on" in late.message
    assert late.message.endswith("— the timestamped signing time")


def test_certificates_inside_the_timestamp_token_do_not_complete_the_signers_chain(roots_only, sample_pdf):
    """The signer's CMS lacks its issuing CA; the TSA's token embeds it. The signer's chain and the
    token's chain are validated in separate contexts, each from its own evidence: the token is
    trusted, the signer's chain is not."""
    data = pyhanko_sign(sample_pdf, PKI / "signer.key.pem", PKI / "signer.pem", (), box=None, timestamper=_tsa())
    sig = _only(data, TrustConfig(roots=roots_only.roots, crls=(PKI / "intermediate.crl", PKI / "root.crl")))
    assert sig.timestamp_trusted is True and sig.time_source == "timestamp"
    assert [f.code for f in sig.findings] == ["untrusted"] and not sig.trusted


def test_the_stamps_printed_time_is_held_against_a_trusted_token_only(settings, sample_pdf, tmp_path):
    """pyHanko's stamp prints the signing time the signer claims. A token dated a day earlier
    contradicts it: from a trusted TSA that is a stamp-time finding; from an untrusted TSA the
    token proves nothing, so only its distrust is reported."""
    signer = (PKI / "signer.key.pem", PKI / "signer.pem", (PKI / "signer.chain.pem",))
    trusted = _only(pyhanko_sign(sample_pdf, *signer, timestamper=_tsa(at=now() - days(1))), settings.trust)
    assert trusted.stamp_time is not None and trusted.timestamp_trusted is True
    (contradiction,) = [f for f in trusted.findings if f.code == "stamp-time"]
    assert "but the timestamp token is" in contradiction.message and trusted.verdict == "invalid"
    key, cert, _ = issue(tmp_path, "Rogue TSA", not_before=now() - days(10), not_after=now() + days(300),
                         issuer="untrusted-root-ca", eku=tsa_eku(), eku_critical=True)
    rogue = _tsa(at=now() - days(1), embed_issuer=False, key_path=key, cert_path=cert)
    untrusted = _only(pyhanko_sign(sample_pdf, *signer, timestamper=rogue), settings.trust)
    assert untrusted.stamp_time is not None and untrusted.timestamp_trusted is False
    assert [f.code for f in untrusted.findings] == ["timestamp-untrusted"]


@pytest.fixture(scope="module")
def b_t(sample_pdf) -> bytes:
    """A B-T signature (trusted token), invisible, with its chain in the CMS."""
    return pyhanko_sign(sample_pdf, PKI / "signer.key.pem", PKI / "signer.pem", (PKI / "signer.chain.pem",),
                        box=None, timestamper=_tsa())


@pytest.mark.parametrize("kind", ["certs", "crls", "ocsps"])
def test_any_validation_data_in_the_dss_makes_a_timestamped_signature_b_lt(kind, b_t, settings):
    """B-LT is B-T plus validation data in the DSS: certificates alone, CRLs alone or OCSP
    responses alone each count."""
    assert _only(b_t, settings.trust).pades_level == "B-T"
    material = {"certs": {"certs": ("intermediate-ca.pem",)}, "crls": {"crls": (_crl("root.crl"),)},
                "ocsps": {"ocsps": (_ocsp(PKI / "signer.pem"),)}}[kind]
    sig = _only(_with_dss(b_t, **material), settings.trust)  # type: ignore[arg-type]
    assert sig.pades_level == "B-LT" and sig.verdict == "valid", sig.reasons


def test_an_unreadable_dss_is_a_note_and_the_signature_is_judged_without_it(b_t, settings):
    """A DSS whose certificate stream is not DER: the report notes it, the signature is verified
    with the configured trust alone (still valid, and B-T: no usable validation data)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    w = IncrementalPdfFileWriter(io.BytesIO(b_t))
    junk = w.add_object(generic.StreamObject(stream_data=b"not a certificate"))
    dss = generic.DictionaryObject({generic.NameObject("/Certs"): generic.ArrayObject([junk])})
    w.root[generic.NameObject("/DSS")] = w.add_object(dss)
    w.update_root()
    out = io.BytesIO()
    w.write(out)
    report = verify_pdf(out.getvalue(), settings.trust, visual=False)
    (note,) = report.notes
    assert note.startswith("embedded validation data (DSS) unreadable: ")
    (sig,) = report.signatures
    assert sig.verdict == "valid" and sig.pades_level == "B-T", sig.reasons
    assert report.source == "<bytes>"  # the default name of an unnamed input
