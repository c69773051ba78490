"""What the verification report says about a good signature, field by field.

Operators and the inbound stage read these fields (``lienthong verify --json``, the package
evidence): who signed, when and by what clock, which PAdES level, and, for a document timestamp
(PAdES B-LTA), that it is a timestamp and not a person's or an agency's signature. The attack
corpus proves the verdicts; these tests pin the report.
"""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper

from gateway.signing.profiles import TrustConfig
from gateway.signing.sign import DocumentSigner
from gateway.signing.verify import safe_stem, verify_pdf

from .pki_extra import PKI, pyhanko_sign


@pytest.fixture(scope="module")
def b_b(settings, sample_pdf) -> bytes:
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        return agency.sign_attachment(sample_pdf, reference="11/QĐ-UBND")


@pytest.fixture(scope="module")
def b_t(settings, sample_pdf, tsa) -> bytes:
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=tsa.url) as agency:
        return agency.sign_attachment(sample_pdf, reference="12/QĐ-UBND")


def _with_document_timestamp(data: bytes, tsa) -> bytes:  # type: ignore[no-untyped-def]
    out = PdfTimeStamper(tsa.stamper).timestamp_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), md_algorithm="sha256")
    return out.getvalue()


def test_a_b_b_signature_names_its_signer_and_its_claimed_time(b_b, settings) -> None:
    (sig,) = verify_pdf(b_b, settings.trust).signatures
    d = sig.to_dict()
    assert sig.valid and d["trusted"] is True and d["intact"] is True and d["signature_value_ok"] is True
    assert d["pades_level"] == "B-B" and d["subfilter"] == "ETSI.CAdES.detached" and d["digest_algorithm"] == "sha256"
    assert d["coverage"] == "entire_file"
    # which field, and where its stamp is (1-based page; the rectangle as a JSON list)
    assert d["field_name"] == "CoQuan1" and d["page"] == 1 and d["signed_revision"] == 2
    assert d["rect"] == list(sig.rect) and len(d["rect"]) == 4 and d["rect"][2] > d["rect"][0]
    assert d["role"] != "document-timestamp" and d["role_source"] != "document timestamp"
    assert d["signer_name"] and d["signer_name"] in d["signer_subject"]
    # the validation path, from the trust root down to the signer
    assert d["chain"][-1] == d["signer_subject"] and "Root CA" in d["chain"][0] and len(d["chain"]) == 3
    assert d["claimed_signing_time"] is not None and datetime.fromisoformat(d["claimed_signing_time"])
    assert d["timestamp_time"] is None and d["timestamp_trusted"] is None and d["time_source"] == "claimed"
    assert d["revocation_checked"] is True


def test_a_b_t_signature_takes_its_time_from_the_token(b_t, settings) -> None:
    (sig,) = verify_pdf(b_t, settings.trust).signatures
    d = sig.to_dict()
    assert sig.valid and d["pades_level"] == "B-T"
    assert d["timestamp_trusted"] is True and d["time_source"] == "timestamp"
    token = datetime.fromisoformat(d["timestamp_time"])
    claimed = datetime.fromisoformat(d["claimed_signing_time"])
    assert abs((token - claimed).total_seconds()) < 120


def test_a_document_timestamp_is_reported_as_one(b_t, settings, tsa) -> None:
    """A B-LTA document timestamp is a signature whose role is fixed (it names no person or agency),
    whose time is its own token's, and which leaves the signature before it valid."""
    data = _with_document_timestamp(b_t, tsa)
    report = verify_pdf(data, settings.trust)
    first, stamp = report.signatures
    assert first.valid, first.reasons  # a document timestamp is an acceptable later revision
    assert [c.kind for c in first.later_revisions] == ["document-timestamp"]
    assert "adds document timestamp" in first.changes_after_signing
    d = stamp.to_dict()
    assert stamp.valid, stamp.reasons
    assert (d["role"], d["role_source"], d["pades_level"]) == ("document-timestamp", "document timestamp", "B-LTA")
    assert d["subfilter"] == "ETSI.RFC3161"
    assert d["timestamp_trusted"] is True and d["time_source"] == "timestamp"
    assert datetime.fromisoformat(d["timestamp_time"]) >= datetime.fromisoformat(first.to_dict()["timestamp_time"])
    assert d["signer_name"] and "TSA" in d["signer_subject"].upper()
    assert report.valid


def test_a_non_pades_signature_has_no_pades_level(settings, sample_pdf) -> None:
    """adbe.pkcs7.detached (accepted, not PAdES): the level is absent (null), not an empty string."""
    data = pyhanko_sign(sample_pdf, PKI / "signer.key.pem", PKI / "signer.pem", (PKI / "signer.chain.pem",),
                        box=None, subfilter=SigSeedSubFilter.ADOBE_PKCS7_DETACHED)
    (sig,) = verify_pdf(data, settings.trust, visual=False).signatures
    assert sig.valid, sig.reasons
    assert sig.subfilter == "adbe.pkcs7.detached" and sig.to_dict()["pades_level"] is None


def test_a_document_timestamp_without_revocation_data_is_revocation_unknown(b_t, settings, tsa) -> None:
    """The TSA's chain without any CRL: the document timestamp is retried in soft-fail as a
    timestamp (not as a signature) and reported as lacking revocation data, never valid."""
    bare = TrustConfig(roots=settings.trust.roots, intermediates=settings.trust.intermediates)
    _, stamp = verify_pdf(_with_document_timestamp(b_t, tsa), bare, visual=False).signatures
    assert stamp.role == "document-timestamp" and stamp.verdict == "indeterminate"
    assert [f.code for f in stamp.findings] == ["revocation-unknown"] and not stamp.revocation_checked


def test_difference_image_names_trim_only_separators() -> None:
    """Names of difference images: unsafe characters become '_', only '_' is trimmed at the ends."""
    assert safe_stem("XX báo cáo X.pdf") == "XX_b_o_c_o_X.pdf"
    assert safe_stem("  đ  ") == "document" and safe_stem("a" * 100) == "a" * 80
