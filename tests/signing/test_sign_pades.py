"""Decree 30 appearances and PAdES levels, checked by our verifier AND by poppler's pdfsig and
mupdf's renderer (independent implementations)."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from gateway.errors import SignerUnavailableError, SigningError
from gateway.signing.appearance import MM, TOP_MARGIN_MM
from gateway.signing.placement import Anchor, signature_widgets
from gateway.signing.sign import DocumentSigner
from gateway.signing.verify import verify_pdf

from .conftest import pdfsig, stext_lines

ISO_VN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$"


@pytest.fixture(scope="module")
def main_signed(settings, sample_pdf) -> bytes:
    """Signer's handwritten signature at the placeholder, then the agency seal over it."""
    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as person:
        first = person.sign_main(sample_pdf)
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        return agency.sign_main(first)


def test_main_document_verifies_with_both_roles(main_signed, settings, tmp_path, nssdb):
    report = verify_pdf(main_signed, settings.trust)
    assert report.valid, report.to_dict()
    signer, agency = report.signatures
    assert (signer.role, agency.role) == ("signer", "agency")
    assert signer.coverage == "entire_revision" and "adds new signature 'CoQuan1'" in signer.changes_after_signing
    assert agency.coverage == "entire_file" and agency.pades_level == "B-B"
    assert signer.signer_name == "Nguyễn Văn An" and agency.signer_name == "UBND tỉnh Thử Nghiệm"

    out = tmp_path / "main.pdf"
    out.write_bytes(main_signed)
    sigs = pdfsig(out, nssdb)
    assert len(sigs) == 2
    for sig in sigs:
        assert sig["Signature Validation"] == "Signature is Valid."
        assert sig["Certificate Validation"] == "Certificate is Trusted."
        assert sig["Signature Type"] == "ETSI.CAdES.detached"
    assert "Total document signed" in sigs[1]


def test_seal_is_real_size_and_covers_left_third_of_signature(main_signed):
    widgets = {w.field_name: w for w in signature_widgets(PdfFileReader(io.BytesIO(main_signed)))}
    sig, seal = widgets["NguoiKy1"], widgets["CoQuan1"]
    assert sig.page == seal.page == 1  # the placeholder is on the last page
    sx0, sy0, sx1, sy1 = sig.rect
    x0, y0, x1, y1 = seal.rect
    assert x1 - x0 == pytest.approx(36 * MM, abs=1.0)  # seal drawn at its physical width
    assert sx1 - sx0 == pytest.approx(40 * MM, abs=1.0)
    assert x1 == pytest.approx(sx0 + (sx1 - sx0) / 3, abs=1.0)  # right edge at one third
    assert x0 < sx0  # the seal sits to the left
    assert (y0 + y1) / 2 == pytest.approx((sy0 + sy1) / 2, abs=1.0)


def test_agency_seal_without_signer_uses_caller_anchor(settings, sample_pdf):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        out = agency.sign_main(sample_pdf, anchor=Anchor(0, (300, 100, 450, 160)))
    (w,) = signature_widgets(PdfFileReader(io.BytesIO(out)))
    assert w.page == 0 and w.rect[2] == pytest.approx(350, abs=1.0)


def _stamp_lines(pdf: Path) -> list[dict]:
    lines, width = stext_lines(pdf)
    top_margin = TOP_MARGIN_MM * MM
    return [ln for ln in lines if ln["bbox"]["y"] + ln["bbox"]["h"] <= top_margin and ln["bbox"]["x"] > width / 2]


def test_attachment_stamp_text_position_and_size(settings, sample_pdf, tmp_path, nssdb):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        out = agency.sign_attachment(sample_pdf, reference="123/QĐ-UBND")
    path = tmp_path / "attachment.pdf"
    path.write_bytes(out)
    lines = _stamp_lines(path)
    assert lines[0]["text"] == "123/QĐ-UBND"
    assert len(lines) == 2
    import re

    assert re.match(ISO_VN, lines[1]["text"]), lines[1]["text"]
    for ln in lines:
        assert ln["font"]["size"] == 10
        assert ln["font"]["style"] == "normal" and ln["font"]["weight"] == "normal"
        assert ln["font"]["family"] == "serif"
    # the stamp's time is the signature's own signing time
    report = verify_pdf(out, settings.trust)
    assert report.valid and report.signatures[0].claimed_signing_time == lines[1]["text"]
    assert pdfsig(path, nssdb)[0]["Signature Validation"] == "Signature is Valid."


def test_copy_stamp_has_form_agency_and_time(settings, sample_pdf, tmp_path):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        out = agency.sign_copy(sample_pdf, copy_form="SAO Y")
    path = tmp_path / "copy.pdf"
    path.write_bytes(out)
    texts = [ln["text"] for ln in _stamp_lines(path)]
    assert texts[:2] == ["SAO Y", "UBND tỉnh Thử Nghiệm"]
    import re

    assert re.match(ISO_VN, texts[2])
    assert verify_pdf(out, settings.trust).valid


def test_pades_b_t_over_http_tsa(settings, sample_pdf, tsa, tmp_path, nssdb):
    before = tsa.requests
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=tsa.url) as agency:
        out = agency.sign_attachment(sample_pdf, reference="7/QĐ-UBND")
    assert tsa.requests == before + 1  # really went over HTTP
    (sig,) = verify_pdf(out, settings.trust).signatures
    assert sig.valid and sig.pades_level == "B-T" and sig.time_source == "timestamp"
    assert sig.timestamp_trusted is True
    path = tmp_path / "bt.pdf"
    path.write_bytes(out)
    assert pdfsig(path, nssdb)[0]["Signature Validation"] == "Signature is Valid."


def test_pades_b_lt_embeds_validation_data(settings, sample_pdf, tsa, tmp_path, nssdb):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-blt"), settings.trust, tsa_url=tsa.url) as agency:
        out = agency.sign_copy(sample_pdf)
    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(out)))
    assert len(dss.crls) >= 1 and len(list(dss.load_certs())) >= 2
    # the embedded CRLs alone let a verifier without CRL files check revocation
    bare = dataclasses.replace(settings.trust, crls=())
    (sig,) = verify_pdf(out, bare).signatures
    assert sig.valid and sig.pades_level == "B-LT"
    path = tmp_path / "blt.pdf"
    path.write_bytes(out)
    assert pdfsig(path, nssdb)[0]["Certificate Validation"] == "Certificate is Trusted."


def test_unreachable_tsa_is_retryable(settings, sample_pdf):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/tsa"
    with (
        DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=dead) as agency,
        pytest.raises(SignerUnavailableError) as err,
    ):
        agency.sign_attachment(sample_pdf, reference="1/QĐ")
    assert err.value.retryable


def test_no_anchor_and_not_a_pdf_are_precise_errors(settings, sample_pdf):
    from gateway.signing.testing import make_sample_pdf

    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as person:
        with pytest.raises(SigningError, match="placeholder text"):
            person.sign_main(make_sample_pdf(1, placeholder=None))
        with pytest.raises(SigningError, match="not a readable PDF"):
            person.sign_main(b"hello, not a pdf")
        with pytest.raises(SigningError, match="agency"):
            person.sign_attachment(sample_pdf, reference="1/QĐ")
