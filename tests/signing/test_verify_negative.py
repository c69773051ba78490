"""Each way a signature goes bad is reported invalid with the right reason, and nothing raises."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.validation.status import SignatureCoverageLevel

from gateway.signing.sign import DocumentSigner
from gateway.signing.verify import _pyhanko_diff, format_report, verify_pdf

from .conftest import pdfsig


@pytest.fixture(scope="module")
def signed(settings, sample_pdf) -> bytes:
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        return agency.sign_attachment(sample_pdf, reference="123/QĐ-UBND")


def test_flipped_byte_is_modified_after_signing(signed, settings, tmp_path, nssdb):
    at = signed.index(b"line 7")  # inside the first page's content stream: still a parseable PDF
    tampered = signed[:at] + b"X" + signed[at + 1 :]
    (sig,) = verify_pdf(tampered, settings.trust).signatures
    assert not sig.valid and not sig.intact
    assert any(r.startswith("modified after signing") for r in sig.reasons)
    path = tmp_path / "flipped.pdf"
    path.write_bytes(tampered)
    assert pdfsig(path, nssdb)[0]["Signature Validation"] != "Signature is Valid."


def test_incremental_update_changing_page_content(signed, settings):
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    page_ref = w.find_page_for_modification(0)[0]
    evil = w.add_object(generic.StreamObject(stream_data=b"BT /F1 40 Tf 100 400 Td (PAID) Tj ET"))
    w.add_stream_to_page(0, evil)
    w.update_container(page_ref.get_object())
    out = io.BytesIO()
    w.write(out)
    report = verify_pdf(out.getvalue(), settings.trust)
    (sig,) = report.signatures
    assert sig.intact  # the signed revision itself is untouched
    assert not sig.valid and sig.coverage == "entire_revision"
    assert any(r.startswith("modified after signing") for r in sig.reasons), sig.reasons
    assert "revision 3: changes content stream, page object" in sig.changes_after_signing
    # the revision-by-revision analysis itself refuses the change (not only pyHanko's coarse opinion)
    (own,) = [f for f in sig.findings if f.code == "modified-after-signing"]
    assert own.severity == "invalid" and own.message.startswith("modified after signing: revision 3 changes ")
    assert [c.acceptable for c in sig.later_revisions] == [False]


def test_revoked_certificate(settings, sample_pdf):
    with DocumentSigner(settings.profile("revoked-signer"), settings.trust) as s:
        out = s.sign_main(sample_pdf)
    (sig,) = verify_pdf(out, settings.trust).signatures
    assert sig.intact and sig.signature_value_ok
    assert not sig.valid and sig.revoked
    assert any(r.startswith("certificate revoked") for r in sig.reasons), sig.reasons
    assert "key_compromise" in " ".join(sig.reasons)


def test_untrusted_root(settings, sample_pdf, tmp_path, nssdb):
    with DocumentSigner(settings.profile("untrusted-signer"), settings.trust) as s:
        out = s.sign_main(sample_pdf)
    (sig,) = verify_pdf(out, settings.trust).signatures
    assert sig.intact and not sig.trusted and not sig.valid
    assert sig.reasons == ("untrusted root: no chain to a configured trust root",)
    assert sig.verdict == "indeterminate"  # ETSI: no chain to a trust anchor is not proof of forgery
    path = tmp_path / "untrusted.pdf"
    path.write_bytes(out)
    assert pdfsig(path, nssdb)[0]["Certificate Validation"] != "Certificate is Trusted."


def test_trailing_bytes_without_a_revision_are_reported_but_harmless(signed, settings):
    # bytes appended after %%EOF that form no revision: the signature no longer spans the file,
    # but nothing in the document changed, so pyHanko's diff analysis (and we) accept it
    (sig,) = verify_pdf(signed + b"\n% appended comment\n", settings.trust).signatures
    assert sig.coverage == "entire_revision" and sig.valid
    assert sig.changes_after_signing == "none: the signature covers the whole file"


def test_a_damaged_xref_entry_in_a_later_revision_is_read_leniently(signed, settings):
    """pyHanko's strict reader refuses an xref entry with an unknown marker; the verifier reads
    files leniently (as viewers do) so such a file still gets a verdict on its signature, not
    'not a readable PDF'."""
    w = IncrementalPdfFileWriter(io.BytesIO(signed))
    w.add_object(generic.DictionaryObject({generic.NameObject("/Note"): generic.TextStringObject("x")}))
    out = io.BytesIO()
    w.write(out)
    data = out.getvalue()
    end = data.rindex(b" n \n", 0, data.rindex(b"trailer"))  # the new object's entry, 'n' -> 'x'
    damaged = data[:end] + b" x \n" + data[end + 4 :]
    report = verify_pdf(damaged, settings.trust)
    assert report.error is None
    (sig,) = report.signatures
    assert sig.verdict == "valid" and sig.later_revisions[0].kind == "validation-data", sig.reasons

@pytest.mark.parametrize("level", [SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START, SignatureCoverageLevel.UNCLEAR])
def test_partial_coverage_maps_to_not_covering_the_whole_file(level):
    # a ByteRange that stops before its revision's end cannot be produced without breaking the
    # digest, so the mapping from pyHanko's coverage level is checked directly
    status = SimpleNamespace(coverage=level, diff_result=None, docmdp_ok=None)
    (finding,) = _pyhanko_diff(status, None)
    assert (finding.code, finding.severity, finding.message) == ("coverage", "invalid", "not covering the whole file")


def test_unreadable_and_unsigned_files_give_reports(settings, sample_pdf):
    broken = verify_pdf(b"%PDF-1.7 garbage", settings.trust, source="broken.pdf")
    assert not broken.valid and broken.error and "not a readable PDF" in broken.error
    unsigned = verify_pdf(sample_pdf, settings.trust, source="plain.pdf")
    assert not unsigned.valid and unsigned.signatures == () and "no signature" in unsigned.notes[0]
    text = format_report(broken)
    assert "INVALID" in text and "broken.pdf" in text


def test_report_serialises(signed, settings):
    import json

    d = verify_pdf(signed, settings.trust, source="x.pdf").to_dict()
    again = json.loads(json.dumps(d))
    assert again["valid"] is True and again["signatures"][0]["role"] == "agency"
    assert again["signatures"][0]["chain"][0].startswith("Common Name: Lienthong Test Root CA")
