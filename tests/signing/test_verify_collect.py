"""Which signatures a report lists, and what it says about those that cannot be judged.

A verifier that drops a signature it cannot parse, or names the wrong field, or says nothing
about why, lets a reader believe a file carries fewer (or better) signatures than it does. These
tests pin the report's shape on the edges of :func:`gateway.signing.verify.verify_pdf`: empty
fields, unsupported or missing SubFilters, several broken fields in one file, a validation that
raises, unreadable widgets and a file with no signature at all.
"""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import SigFieldSpec, append_signature_field, enumerate_sig_fields

import gateway.signing.verify as verify_module
from gateway.signing.sign import DocumentSigner
from gateway.signing.verify import verify_pdf


@pytest.fixture(scope="module")
def person_signed(settings, sample_pdf) -> bytes:
    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as person:
        return person.sign_main(sample_pdf)


@pytest.fixture(scope="module")
def two_signed(settings, person_signed) -> bytes:
    """The person's signature, then the agency's seal in a later revision."""
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        return agency.sign_main(person_signed)


def _names(data: bytes) -> list[str]:
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    return [name for name, _value, _ref in enumerate_sig_fields(reader, filled_status=True)]


def _set_subfilter(data: bytes, field: str, subfilter: str | None) -> bytes:
    """A later revision that rewrites (or removes, with None) the /SubFilter of ``field``'s value."""
    w = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    for name, _value, field_ref in enumerate_sig_fields(w, filled_status=True):
        if name != field:
            continue
        value_ref = field_ref.get_object().raw_get("/V")
        sig = value_ref.get_object()
        if subfilter is None:
            del sig["/SubFilter"]
        else:
            sig["/SubFilter"] = generic.NameObject(subfilter)
        w.mark_update(value_ref)
        out = io.BytesIO()
        w.write(out)
        return out.getvalue()
    raise AssertionError(f"no filled field {field!r} in {_names(data)}")


def test_an_empty_signature_field_is_not_a_signature(person_signed, settings):
    # forms often carry a second, unsigned field for the next signer: it is not reported at all
    # (not as a broken signature), and the filled one keeps its verdict
    w = IncrementalPdfFileWriter(io.BytesIO(person_signed), strict=False)
    append_signature_field(w, SigFieldSpec("ChoKy2"))
    out = io.BytesIO()
    w.write(out)
    report = verify_pdf(out.getvalue(), settings.trust)
    assert [(s.field_name, s.verdict) for s in report.signatures] == [("NguoiKy1", "valid")]


@pytest.mark.parametrize(
    ("subfilter", "shown"),
    [
        ("/adbe.x509.rsa_sha1", "/adbe.x509.rsa_sha1"),  # a real, older SubFilter pyHanko does not validate
        # only a leading "/" is stripped before the lookup: these are not supported names
        ("/XXadbe.pkcs7.detached", "/XXadbe.pkcs7.detached"),
        ("/ETSI.CAdES.detachedX", "/ETSI.CAdES.detachedX"),
        (None, "(none)"),
    ],
)
def test_an_unsupported_or_missing_subfilter_is_named_in_the_reason(person_signed, settings, subfilter, shown):
    report = verify_pdf(_set_subfilter(person_signed, "NguoiKy1", subfilter), settings.trust)
    (sig,) = report.signatures
    assert (sig.field_name, sig.verdict, sig.valid) == ("NguoiKy1", "invalid", False)
    assert sig.reasons == (f"could not be validated: ValueError: unsupported SubFilter {shown}",)
    assert report.verdict == "invalid" and report.error is None


def test_a_broken_field_does_not_hide_the_fields_after_it(two_signed, settings):
    # both fields broken (the person's first in the form): each is reported under its own name
    assert _names(two_signed)[0] == "NguoiKy1"
    seal = _names(two_signed)[1]
    damaged = _set_subfilter(_set_subfilter(two_signed, "NguoiKy1", "/x.one"), seal, "/x.two")
    report = verify_pdf(damaged, settings.trust)
    assert [(s.field_name, s.reasons) for s in report.signatures] == [
        ("NguoiKy1", ("could not be validated: ValueError: unsupported SubFilter /x.one",)),
        (seal, ("could not be validated: ValueError: unsupported SubFilter /x.two",)),
    ]


def test_a_validation_that_raises_is_reported_for_that_signature_only(two_signed, settings, monkeypatch):
    """Fault injection: pyHanko raising on one signature (a bug or a CMS it cannot handle) makes
    that signature 'could not be validated', naming the field and the error; the other one is
    still judged."""
    real = verify_module.validate_pdf_signature

    def failing_for_the_person(embedded, *args, **kwargs):
        if embedded.field_name == "NguoiKy1":
            raise KeyError("no /Cert in the CMS")
        return real(embedded, *args, **kwargs)

    monkeypatch.setattr(verify_module, "validate_pdf_signature", failing_for_the_person)
    report = verify_pdf(two_signed, settings.trust)
    seal = _names(two_signed)[1]
    by_name = {s.field_name: s for s in report.signatures}
    assert sorted(by_name) == sorted(["NguoiKy1", seal])
    assert by_name["NguoiKy1"].reasons == ("could not be validated: KeyError: 'no /Cert in the CMS'",)
    assert by_name["NguoiKy1"].verdict == "invalid"
    assert by_name[seal].verdict == "valid", by_name[seal].reasons
    assert report.verdict == "invalid"


def test_unreadable_widgets_are_a_note_and_the_signature_is_still_judged(person_signed, settings, monkeypatch):
    """Fault injection: the widget annotations (where each stamp is drawn) only serve the visual
    and stamp checks; failing to read them is said in the notes, not turned into a crash."""

    def unreadable(_reader):
        raise ValueError("/Rect is not an array")

    monkeypatch.setattr(verify_module, "signature_widgets", unreadable)
    report = verify_pdf(person_signed, settings.trust)
    assert report.notes == ("signature widgets unreadable: /Rect is not an array",)
    (sig,) = report.signatures
    assert sig.field_name == "NguoiKy1" and sig.signature_value_ok and sig.intact


def test_a_file_with_no_signature_says_so_under_its_own_name(sample_pdf, settings):
    report = verify_pdf(sample_pdf, settings.trust, source="cong-van-12.pdf")
    assert report.source == "cong-van-12.pdf"
    assert report.notes == ("the file carries no signature",)
    assert report.signatures == () and report.verdict != "valid" and not report.valid
