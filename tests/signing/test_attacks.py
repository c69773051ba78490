"""The attack corpus: each file is built here, verified by lienthong (exact verdict and reason)
and by poppler's pdfsig beside it. lienthong must be at least as strict as pdfsig everywhere;
where pdfsig is weaker the test records it (see the table in docs/signing.md)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers as pyhanko_signers
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko.stamp import TextStampStyle

from gateway.signing.profiles import TrustConfig
from gateway.signing.sign import DocumentSigner
from gateway.signing.verify import SignatureReport, verify_pdf

from . import attacks as A
from .conftest import pdfsig
from .pki_extra import PKI, days, issue, now, pyhanko_sign, tsa_eku

TEXT_AREA = (60.0, 560.0, 540.0, 740.0)  # body text of page 1
W, H = TEXT_AREA[2] - TEXT_AREA[0], TEXT_AREA[3] - TEXT_AREA[1]
PDFSIG_RESULTS: dict[str, tuple[str, str]] = {}  # case -> (pdfsig's verdict, lienthong's verdict)


@pytest.fixture(scope="module")
def person_signed(settings, sample_pdf) -> bytes:
    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as person:
        return person.sign_main(sample_pdf)


def _first(data: bytes, trust: TrustConfig, **kw: object) -> SignatureReport:
    return verify_pdf(data, trust, **kw).signatures[0]  # type: ignore[arg-type]


def _codes(sig: SignatureReport) -> set[str]:
    return {f.code for f in sig.findings}


def _beside_pdfsig(case: str, data: bytes, verdict: str, tmp_path: Path, nssdb: str) -> str:
    """Run pdfsig on the same file; lienthong may never be the more lenient of the two."""
    path = tmp_path / f"{case}.pdf"
    path.write_bytes(data)
    sigs = pdfsig(path, nssdb)
    first = sigs[0] if sigs else {}
    ok = first.get("Signature Validation") == "Signature is Valid." and \
        first.get("Certificate Validation") == "Certificate is Trusted."
    whole = first.get("Total document signed") == "Total document signed"
    theirs = "valid" if ok and whole else "valid (partial coverage)" if ok else "not valid"
    PDFSIG_RESULTS[case] = (theirs, verdict)
    if theirs == "not valid":
        assert verdict != "valid", f"{case}: pdfsig refuses but lienthong accepts"
    return theirs


SHADOW = {
    "shadow-hide": lambda s: A.add_widget_field(s, name="Hide", rect=TEXT_AREA, ops=A.cover_ops(W, H)),
    "shadow-replace": lambda s: A.add_widget_field(
        s, name="Replace", rect=TEXT_AREA, ops=b"0 g BT /F1 30 Tf 20 80 Td (KHONG DONG Y) Tj ET"),
    "shadow-hide-and-replace": lambda s: A.add_widget_field(
        s, name="HideReplace", rect=TEXT_AREA, ops=A.cover_ops(W, H, "Noi dung da thay doi")),
}


@pytest.mark.parametrize("case", sorted(SHADOW))
def test_shadow_attacks_are_modified_after_signing(case, person_signed, settings, tmp_path, nssdb):
    attacked = SHADOW[case](person_signed)
    sig = _first(attacked, settings.trust, diff_dir=tmp_path / "diff")
    assert sig.verdict == "invalid" and not sig.valid
    field = {"shadow-hide": "Hide", "shadow-replace": "Replace", "shadow-hide-and-replace": "HideReplace"}[case]
    assert f"modified after signing: revision 3 creates or fills form fields {field!r} " \
        "(their widgets draw on the page)" in sig.reasons
    (visible,) = [f for f in sig.findings if f.code == "visible-change"]
    assert "visible change on page 1, area" in visible.message
    assert list((tmp_path / "diff").glob("*.p1.png"))  # the difference picture was written
    _beside_pdfsig(case, attacked, sig.verdict, tmp_path, nssdb)


def test_form_field_fill_with_covering_appearance(settings, sample_pdf, tmp_path, nssdb):
    with_form = A.add_text_field(sample_pdf, name="GhiChu", rect=TEXT_AREA)
    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as person:
        signed = person.sign_main(with_form)
    assert _first(signed, settings.trust).valid  # an empty field in the signed file is fine
    filled = A.fill_text_field(signed, name="GhiChu", value="x", ops=A.cover_ops(W, H, "Da huy"))
    sig = _first(filled, settings.trust)
    assert sig.verdict == "invalid"
    assert "modified after signing: revision 4 creates or fills form fields 'GhiChu' " \
        "(their widgets draw on the page)" in sig.reasons
    assert "visible-change" in _codes(sig)
    _beside_pdfsig("form-fill", filled, sig.verdict, tmp_path, nssdb)


def test_annotation_overlay(person_signed, settings, tmp_path, nssdb):
    attacked = A.add_annotation(person_signed, rect=TEXT_AREA, ops=A.cover_ops(W, H, "Sua doi"))
    sig = _first(attacked, settings.trust)
    assert sig.verdict == "invalid"
    assert "modified after signing: revision 3 changes annotation FreeText, appearance or form XObject, " \
        "page object" in sig.reasons
    _beside_pdfsig("annotation-overlay", attacked, sig.verdict, tmp_path, nssdb)


def test_signature_appearance_swap(person_signed, settings, tmp_path, nssdb):
    attacked = A.swap_signature_appearance(person_signed, field_name="NguoiKy1", ops=A.cover_ops(113, 45, "X"))
    sig = _first(attacked, settings.trust)
    assert sig.verdict == "invalid"
    assert "modified after signing: revision 3 changes appearance or form XObject, widget/field 'NguoiKy1'" \
        in sig.reasons
    assert any(f.code == "visible-change" and "page 2" in f.message for f in sig.findings)
    _beside_pdfsig("signature-appearance-swap", attacked, sig.verdict, tmp_path, nssdb)


def test_incremental_page_replacement(person_signed, settings, tmp_path, nssdb):
    attacked = A.replace_page_content(person_signed, ops=b"BT /F1 24 Tf 80 700 Td (QUYET DINH KHAC) Tj ET")
    sig = _first(attacked, settings.trust)
    assert sig.verdict == "invalid"
    assert "modified after signing: revision 3 changes content stream, page object" in sig.reasons
    _beside_pdfsig("page-replacement", attacked, sig.verdict, tmp_path, nssdb)


def test_optional_content_added_after_signing(person_signed, settings, tmp_path, nssdb):
    attacked = A.add_ocg(person_signed)
    sig = _first(attacked, settings.trust)
    assert sig.verdict == "invalid"
    assert "modified after signing: revision 3 changes document catalog, optional content (layers)" in sig.reasons
    _beside_pdfsig("ocg", attacked, sig.verdict, tmp_path, nssdb)


def test_seal_over_the_signers_image_is_accepted(person_signed, settings, tmp_path, nssdb):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        sealed = agency.sign_main(person_signed)
    person, seal = verify_pdf(sealed, settings.trust).signatures
    assert (person.verdict, seal.verdict) == ("valid", "valid")
    assert [c.kind for c in person.later_revisions] == ["signature"] and person.visual_differences == ()
    assert _beside_pdfsig("seal-over-signature", sealed, "valid", tmp_path, nssdb) == "valid (partial coverage)"


def test_second_valid_signer_who_paints_over_the_first(person_signed, settings, tmp_path, nssdb):
    white = PdfImage(Image.new("RGB", (200, 100), "white"))
    style = TextStampStyle(stamp_text="Da duyet", background=white, background_opacity=1.0, border_width=0)
    # a big agency widget over the person's signature and the text around it
    over = pyhanko_sign(person_signed, PKI / "agency.key.pem", PKI / "agency.pem", (PKI / "agency.chain.pem",),
                        field="CoQuan1", box=(300, 150, 560, 330), stamp=style)
    person, agency = verify_pdf(over, settings.trust).signatures
    assert agency.verdict == "valid"  # the painter's own signature is fine …
    assert person.verdict == "invalid"  # … but it hides what the first signer signed
    (hidden,) = [f for f in person.findings if f.code == "visible-change"]
    assert "page 2" in hidden.message and "signed content hidden under signature 'CoQuan1'" in hidden.message
    _beside_pdfsig("second-signer-paints-over", over, person.verdict, tmp_path, nssdb)


def test_a_valid_signature_followed_by_a_later_signature_that_does_not_verify_is_not_valid(
        person_signed, settings, tmp_path, nssdb):
    """The later signature is invisible and adds nothing else: only its own verdict can taint the first."""
    later = pyhanko_sign(person_signed, PKI / "agency.key.pem", PKI / "agency.pem", (PKI / "agency.chain.pem",),
                         field="CoQuan1", box=None)
    assert [s.verdict for s in verify_pdf(later, settings.trust).signatures] == ["valid", "valid"]
    broken = _flip_signature_value(later)  # the later signature's CMS value, one byte
    person, agency = verify_pdf(broken, settings.trust).signatures
    assert agency.verdict == "invalid"
    assert person.verdict == "invalid"
    (tainted,) = [f for f in person.findings if f.code == "later-signature-not-valid"]
    assert tainted.severity == "invalid" and "'CoQuan1' whose verdict is invalid" in tainted.message
    _beside_pdfsig("valid-then-broken-later-signature", broken, person.verdict, tmp_path, nssdb)


def _flip_signature_value(data: bytes) -> bytes:
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    value = reader.embedded_signatures[-1].signer_info["signature"].native
    hexed = value.hex().encode()
    at = data.lower().index(hexed) + 40
    flipped = b"0" if data[at:at + 1] != b"0" else b"1"
    return data[:at] + flipped + data[at + 1:]


def test_flipped_byte_in_the_cms_signature_value(person_signed, settings, tmp_path, nssdb):
    attacked = _flip_signature_value(person_signed)
    sig = _first(attacked, settings.trust)
    assert sig.verdict == "invalid" and sig.intact and not sig.signature_value_ok
    assert "signature value does not verify with the signer's public key" in sig.reasons
    _beside_pdfsig("cms-signature-value-flipped", attacked, sig.verdict, tmp_path, nssdb)


def test_malformed_signature_is_invalid(person_signed, settings):
    start = person_signed.index(b"/Contents <") + len(b"/Contents <")
    end = person_signed.index(b">", start)
    garbage = person_signed[:start] + b"30" + b"ff" * ((end - start - 2) // 2) + person_signed[end:]
    report = verify_pdf(garbage, settings.trust)
    assert report.verdict == "invalid" and not report.valid and report.error is None
    (sig,) = report.signatures
    assert sig.field_name == "NguoiKy1" and sig.verdict == "invalid" and not sig.valid
    assert [(f.code, f.severity) for f in sig.findings] == [("malformed", "invalid")]
    assert sig.reasons[0].startswith("could not be validated: ")


def test_revoked_signer_with_and_without_revocation_data(settings, sample_pdf, tmp_path, nssdb):
    with DocumentSigner(settings.profile("revoked-signer"), settings.trust) as s:
        out = s.sign_main(sample_pdf)
    with_crl = _first(out, settings.trust)
    assert with_crl.verdict == "invalid" and with_crl.revoked and with_crl.revocation_checked
    assert any(r.startswith("certificate revoked (on ") and "key_compromise" in r for r in with_crl.reasons)
    bare = TrustConfig(roots=settings.trust.roots, intermediates=settings.trust.intermediates)
    without = _first(out, bare)
    assert without.verdict == "indeterminate" and not without.valid and not without.revocation_checked
    assert [f.code for f in without.findings] == ["revocation-unknown"]
    assert without.reasons[0].startswith("revocation not checked")
    _beside_pdfsig("revoked-with-crl", out, with_crl.verdict, tmp_path, nssdb)


def test_valid_signer_without_revocation_data_is_indeterminate(person_signed, settings):
    bare = TrustConfig(roots=settings.trust.roots, intermediates=settings.trust.intermediates)
    sig = _first(person_signed, bare)
    assert sig.verdict == "indeterminate" and not sig.valid and sig.revoked is False
    assert [f.code for f in sig.findings] == ["revocation-unknown"]


def test_expired_and_not_yet_valid_certificates(settings, sample_pdf, tmp_path, nssdb):
    k, c, ch = issue(tmp_path, "Het Han", not_before=now() - days(800), not_after=now() - days(30))
    expired = _first(pyhanko_sign(sample_pdf, k, c, (ch,)), settings.trust)
    assert expired.verdict == "invalid"
    assert any(f.code == "certificate-validity" and "expired on" in f.message and "claimed signing time" in f.message
               for f in expired.findings)
    k, c, ch = issue(tmp_path, "Chua Hieu Luc", not_before=now() + days(30), not_after=now() + days(800))
    future = _first(pyhanko_sign(sample_pdf, k, c, (ch,)), settings.trust)
    assert future.verdict == "invalid"
    assert any(f.code == "certificate-validity" and "is not yet valid at" in f.message for f in future.findings)


@pytest.mark.parametrize(
    ("who", "needle"),
    [("intermediate-ca", "is a CA certificate (cA=TRUE)"), ("tsa", "is a timestamping (TSA) certificate")],
)
def test_ca_and_tsa_certificates_as_signers(who, needle, settings, sample_pdf, tmp_path, nssdb):
    chain = () if who == "intermediate-ca" else (PKI / "tsa.chain.pem",)
    data = pyhanko_sign(sample_pdf, PKI / f"{who}.key.pem", PKI / f"{who}.pem", chain)
    sig = _first(data, settings.trust)
    assert sig.verdict == "invalid"
    assert any(f.code == "certificate-purpose" and needle in f.message for f in sig.findings), sig.reasons
    _beside_pdfsig(f"{who}-as-signer", data, sig.verdict, tmp_path, nssdb)


def test_sha1_signature(settings, sample_pdf, tmp_path, nssdb):
    k, c, ch = issue(tmp_path, "Sha Mot", not_before=now() - days(10), not_after=now() + days(300))
    data = pyhanko_sign(sample_pdf, k, c, (ch,), md="sha1")
    sig = _first(data, settings.trust)
    assert sig.verdict == "invalid" and sig.digest_algorithm == "sha1"
    assert "weak digest algorithm sha1 (SHA-256 or better required)" in sig.reasons
    assert "weak-algorithm" in _codes(sig)
    _beside_pdfsig("sha1", data, sig.verdict, tmp_path, nssdb)


def test_untrusted_timestamp_token(settings, sample_pdf, tmp_path):
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization

    key, cert, _ = issue(tmp_path, "Rogue TSA", not_before=now() - days(10), not_after=now() + days(300),
                         issuer="untrusted-root-ca", eku=tsa_eku(), eku_critical=True)
    der_key = serialization.load_pem_private_key(key.read_bytes(), None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    from cryptography import x509 as cx509

    tsa_cert = asn1_x509.Certificate.load(
        cx509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER))
    stamper = DummyTimeStamper(tsa_cert=tsa_cert, tsa_key=asn1_keys.PrivateKeyInfo.load(der_key))
    data = pyhanko_sign(sample_pdf, PKI / "signer.key.pem", PKI / "signer.pem", (PKI / "signer.chain.pem",),
                        timestamper=stamper)
    sig = _first(data, settings.trust)
    assert sig.pades_level == "B-T" and sig.time_source == "claimed" and sig.timestamp_trusted is False
    assert sig.verdict == "indeterminate"
    assert [f.code for f in sig.findings] == ["timestamp-untrusted"]


def _flip_timestamp_token_signature(data: bytes) -> bytes:
    """Flip one hex digit of the signature inside the RFC 3161 token (an unsigned attribute of the
    CMS: outside the document digest and the signer's signature, so only the token breaks)."""
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    attrs = reader.embedded_signatures[-1].signer_info["unsigned_attrs"]
    (token,) = [a["values"][0] for a in attrs if a["type"].native == "signature_time_stamp_token"]
    hexed = token["content"]["signer_infos"][0]["signature"].native.hex().encode()
    at = data.lower().index(hexed) + 40
    flipped = b"0" if data[at:at + 1] != b"0" else b"1"
    return data[:at] + flipped + data[at + 1:]


def test_timestamp_token_that_does_not_verify_is_invalid(settings, sample_pdf, tsa):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=tsa.url) as agency:
        stamped = agency.sign_attachment(sample_pdf, reference="6/QĐ-UBND")
    good = _first(stamped, settings.trust, visual=False)
    assert good.verdict == "valid" and good.time_source == "timestamp" and good.timestamp_trusted is True
    sig = _first(_flip_timestamp_token_signature(stamped), settings.trust, visual=False)
    assert sig.intact and sig.signature_value_ok  # the document's own signature still verifies
    assert sig.verdict == "invalid" and sig.timestamp_trusted is False and sig.time_source == "claimed"
    assert "signature timestamp token does not verify" in sig.reasons
    assert [f.code for f in sig.findings if f.code.startswith("timestamp")] == ["timestamp-invalid"]


def test_docmdp_no_changes_then_a_later_signature(settings, sample_pdf, monkeypatch):
    certified = pyhanko_sign(sample_pdf, PKI / "signer.key.pem", PKI / "signer.pem", (PKI / "signer.chain.pem",),
                             certify=True, docmdp=MDPPerm.NO_CHANGES)
    assert _first(certified, settings.trust).verdict == "valid"
    # an attacker's tool ignores the certification (pyHanko itself would refuse)
    monkeypatch.setattr(pyhanko_signers.PdfSigner, "_enforce_certification_constraints", lambda self, reader: None)
    later = pyhanko_sign(certified, PKI / "agency.key.pem", PKI / "agency.pem", (PKI / "agency.chain.pem",),
                         field="CoQuan1", box=(330, 220, 430, 290))
    author, agency = verify_pdf(later, settings.trust).signatures
    assert agency.verdict == "valid"
    assert author.verdict == "invalid"
    assert "modified after signing (changes not permitted by the document's certification)" in author.reasons


def test_unanalysable_later_revision_is_invalid(person_signed, settings, monkeypatch):
    from types import SimpleNamespace

    from gateway.signing import revisions

    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        sealed = agency.sign_main(person_signed)

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("cannot compare")

    # only lienthong's revision-by-revision comparison fails; pyHanko's own analysis still runs
    monkeypatch.setattr(revisions, "DEFAULT_DIFF_POLICY", SimpleNamespace(apply=broken))
    person = verify_pdf(sealed, settings.trust, visual=False).signatures[0]
    assert person.verdict == "invalid"
    assert "modified after signing: revision 3 could not be analysed (RuntimeError: cannot compare)" in person.reasons


def test_revisions_that_cannot_even_be_listed_make_every_earlier_signature_invalid(
        person_signed, settings, monkeypatch):
    """If the revision-by-revision classification itself fails (not one revision's comparison:
    listing them), each revision after the first signed one is 'unanalysed', so the signatures
    before it are invalid, the newest one is unaffected, and a note says why."""
    from gateway.signing import revisions

    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        sealed = agency.sign_main(person_signed)

    def broken(*_a: object, **_k: object) -> None:
        raise RuntimeError("xref table unreadable")

    monkeypatch.setattr(revisions, "classify_revision", broken)
    report = verify_pdf(sealed, settings.trust, visual=False)
    assert report.notes == ("revisions could not be listed: xref table unreadable",)
    person, seal = report.signatures
    assert [c.to_dict() for c in person.later_revisions] == [
        {"revision": 3, "kind": "unanalysed", "description": "could not be analysed", "signature_field": None,
         "acceptable": False}]
    assert person.verdict == "invalid"
    assert [(f.code, f.message) for f in person.findings if f.code == "unanalysed"] == [
        ("unanalysed", "modified after signing: revision 3 could not be analysed")]
    assert seal.verdict == "valid" and seal.later_revisions == ()


def test_stamp_claiming_a_time_before_the_certificate_existed(settings, sample_pdf):
    style = TextStampStyle(stamp_text="123/QD-UBND\n2019-05-01T08:00:00+07:00", border_width=0)
    data = pyhanko_sign(sample_pdf, PKI / "agency.key.pem", PKI / "agency.pem", (PKI / "agency.chain.pem",),
                        field="CoQuan1", box=(418, 800, 539, 828), page=0, stamp=style)
    sig = _first(data, settings.trust)
    assert sig.stamp_time == "2019-05-01T08:00:00+07:00"
    assert sig.verdict == "invalid"
    messages = [f.message for f in sig.findings if f.code == "stamp-time"]
    assert any("outside the signer certificate's validity" in m for m in messages)
    assert any("but the signing time written in the signature is" in m for m in messages)


def test_stamp_time_of_our_own_attachment_stamp_matches(settings, sample_pdf, tsa):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), tsa_url=tsa.url) as agency:
        data = agency.sign_attachment(sample_pdf, reference="5/QĐ-UBND")
    sig = _first(data, settings.trust)
    assert sig.verdict == "valid", sig.reasons
    assert sig.stamp_text is not None and "5/QĐ-UBND" in sig.stamp_text and sig.stamp_time is not None


def test_role_comes_from_the_certificate_not_the_field_name(settings, sample_pdf):
    data = pyhanko_sign(sample_pdf, PKI / "signer.key.pem", PKI / "signer.pem", (PKI / "signer.chain.pem",),
                        field="CoQuan1")
    sig = _first(data, settings.trust)
    assert sig.role == "signer" and sig.role_source == "certificate subject (person identifier)"
    listed = TrustConfig(roots=settings.trust.roots, intermediates=settings.trust.intermediates,
                         crls=settings.trust.crls, agency_certificates=(PKI / "signer.pem",))
    assert _first(data, listed).role == "agency"  # the trust configuration decides first


def test_pdfsig_comparison_recorded():
    """Runs last in this module: every case above ran pdfsig; print the table for docs/signing.md."""
    assert PDFSIG_RESULTS, "no pdfsig comparison was recorded"
    for case, (theirs, ours) in sorted(PDFSIG_RESULTS.items()):
        print(f"| {case} | {theirs} | {ours} |")
        if theirs == "not valid":
            assert ours != "valid"


def test_cli_trust_root_without_crl_is_indeterminate_and_diff_dir(person_signed, tmp_path, capsys):
    from gateway.cli import main as cli

    plain = tmp_path / "signed.pdf"
    plain.write_bytes(person_signed)
    roots = ["--trust-root", str(PKI / "root-ca.pem"), "--intermediate", str(PKI / "intermediate-ca.pem")]
    assert cli(["verify", str(plain), *roots]) == 3
    out = capsys.readouterr().out
    assert f"{plain}: INDETERMINATE" in out and "revocation not checked" in out and "VALID\n" not in out
    assert cli(["verify", str(plain), *roots, "--crl", str(PKI / "intermediate.crl"),
                "--crl", str(PKI / "root.crl")]) == 0
    capsys.readouterr()
    attacked = tmp_path / "shadow.pdf"
    attacked.write_bytes(SHADOW["shadow-hide-and-replace"](person_signed))
    diffs = tmp_path / "diffs"
    assert cli(["verify", str(attacked), "--profiles", str(PKI / "profiles.toml"), "--diff-dir", str(diffs)]) == 1
    out = capsys.readouterr().out
    (png,) = diffs.glob("*.png")
    assert png.name == "shadow.pdf.NguoiKy1.p1.png" and f"difference image: {png}" in out
    assert Image.open(png).size[0] > 100
