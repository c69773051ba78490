"""The checks behind a signature verdict (verify_checks, and verify's reading of pyHanko's diff),
fed pyHanko-shaped evidence directly.

The attack corpus (test_attacks.py) shows each verdict on real files; these tests pin every rule
one by one — which evidence gives which finding code, severity and words — so that weakening one
rule (a dropped reason, a wrong severity, a swapped condition) fails a test that says which rule
broke. Each evidence object has exactly the attributes the check reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.diff_analysis.policy_api import DiffResult, SuspiciousModification
from pyhanko.sign.validation.status import SignatureCoverageLevel

from gateway.signing import verify_checks as checks
from gateway.signing.verify import VerificationReport, _broken, _pyhanko_diff
from gateway.signing.verify_checks import Finding

from .conftest import PKI

VN = checks.VIETNAM


def _cert(name: str) -> asn1_x509.Certificate:
    data = (PKI / f"{name}.pem").read_bytes()
    _, _, der = pem.unarmor(data)
    return asn1_x509.Certificate.load(der)


SIGNER = _cert("signer")
NOT_BEFORE = SIGNER["tbs_certificate"]["validity"]["not_before"].native
NOT_AFTER = SIGNER["tbs_certificate"]["validity"]["not_after"].native
INSIDE = NOT_BEFORE + (NOT_AFTER - NOT_BEFORE) / 2


def _codes(found: list[Finding]) -> list[tuple[str, str]]:
    return [(f.code, f.severity) for f in found]


# -- verdicts ----------------------------------------------------------------------------------

def test_the_verdict_is_the_worst_finding() -> None:
    bad, unsure = Finding("x", "invalid", "m"), Finding("y", "indeterminate", "m")
    assert checks.verdict_of([]) == "valid"
    assert checks.verdict_of([unsure]) == "indeterminate"
    assert checks.verdict_of([unsure, bad]) == "invalid" and checks.verdict_of((bad, unsure)) == "invalid"


def test_finding_serialises_every_field() -> None:
    assert Finding("c", "invalid", "m").to_dict() == {"code": "c", "severity": "invalid", "message": "m"}


def test_times_are_reported_in_vietnam_time() -> None:
    assert checks.iso(None) is None
    assert checks.iso(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T07:00:00+07:00"


# -- integrity and signature value -----------------------------------------------------------------

def test_changed_signed_bytes_are_a_digest_mismatch() -> None:
    found = checks.integrity_findings(SimpleNamespace(intact=False, valid=False))
    assert _codes(found) == [("digest-mismatch", "invalid")]
    assert found[0].message.startswith("modified after signing")


def test_a_signature_value_that_does_not_verify_is_invalid() -> None:
    found = checks.integrity_findings(SimpleNamespace(intact=True, valid=False))
    assert _codes(found) == [("signature-value", "invalid")]
    assert found[0].message == "signature value does not verify with the signer's public key"


def test_intact_and_verifying_bytes_give_no_finding() -> None:
    assert checks.integrity_findings(SimpleNamespace(intact=True, valid=True)) == []


# -- chain and revocation --------------------------------------------------------------------------

def _trust(indic: Any = None, *, path: Any = "path", details: Any = None, intact: bool = True,
           valid: bool = True) -> SimpleNamespace:
    return SimpleNamespace(revocation_details=details, trust_problem_indic=indic, validation_path=path,
                           intact=intact, valid=valid)


@pytest.mark.parametrize("ca", [False, True])
def test_revocation_details_name_who_was_revoked_when_and_why(ca: bool) -> None:
    details = SimpleNamespace(ca_revoked=ca, revocation_date=datetime(2026, 3, 1, 1, 0, tzinfo=UTC),
                              revocation_reason=asn1_crl.CRLReason("key_compromise"))
    (finding,) = checks.trust_findings(_trust(AdESIndeterminate.REVOKED_NO_POE, details=details))
    who = "issuing CA certificate" if ca else "certificate"
    assert (finding.code, finding.severity) == ("revoked", "invalid")
    assert finding.message == f"{who} revoked (on 2026-03-01T08:00:00+07:00, reason key_compromise)"


def test_a_trusted_chain_gives_no_finding() -> None:
    assert checks.trust_findings(_trust()) == []
    assert checks.trust_findings(_trust(path=None, intact=False)) == []  # integrity reports that one
    assert checks.trust_findings(_trust(path=None, valid=False)) == []


def test_a_verifying_signature_without_a_validation_path_is_untrusted() -> None:
    found = checks.trust_findings(_trust(path=None))
    assert _codes(found) == [("untrusted", "indeterminate")]
    assert found[0].message == "untrusted root: no chain to a configured trust root"


@pytest.mark.parametrize("indic", [AdESFailure.REVOKED, AdESIndeterminate.REVOKED_NO_POE,
                                   AdESIndeterminate.REVOKED_CA_NO_POE])
def test_revoked_indications_are_invalid(indic: Any) -> None:
    assert _codes(checks.trust_findings(_trust(indic))) == [("revoked", "invalid")]
    assert checks.trust_findings(_trust(indic))[0].message == "certificate revoked"


@pytest.mark.parametrize("indic", [AdESIndeterminate.TRY_LATER, AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE,
                                   AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED])
def test_missing_revocation_data_is_indeterminate_never_valid(indic: Any) -> None:
    found = checks.trust_findings(_trust(indic))
    assert _codes(found) == [("revocation-unknown", "indeterminate")]
    assert found[0].message.startswith("revocation not checked: no CRL or OCSP response")


def test_a_chain_trusted_only_without_revocation_data_is_revocation_unknown() -> None:
    found = checks.trust_findings(_trust(AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE), revocation_unknown=True)
    assert _codes(found) == [("revocation-unknown", "indeterminate")]
    assert checks.trust_findings(_trust(), revocation_unknown=True) == []  # nothing wrong: nothing to report


def test_no_chain_to_a_root_is_untrusted() -> None:
    found = checks.trust_findings(_trust(AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND))
    assert _codes(found) == [("untrusted", "indeterminate")]
    assert found[0].message.startswith("untrusted root")


@pytest.mark.parametrize("indic", [AdESIndeterminate.EXPIRED, AdESIndeterminate.OUT_OF_BOUNDS_NO_POE])
def test_an_expired_certificate_without_proof_of_time_is_indeterminate(indic: Any) -> None:
    found = checks.trust_findings(_trust(indic))
    assert _codes(found) == [("expired-no-poe", "indeterminate")]
    assert found[0].message.startswith("certificate expired at validation time")


@pytest.mark.parametrize("indic", [AdESIndeterminate.NOT_YET_VALID, AdESFailure.NOT_YET_VALID])
def test_a_certificate_not_yet_valid_is_invalid(indic: Any) -> None:
    found = checks.trust_findings(_trust(indic))
    assert _codes(found) == [("not-yet-valid", "invalid")]
    assert found[0].message == "certificate not yet valid at signing time"


def test_any_other_chain_problem_is_named_and_indeterminate() -> None:
    found = checks.trust_findings(_trust(AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE))
    assert _codes(found) == [("untrusted", "indeterminate")]
    assert found[0].message == "certificate chain not trusted (chain constraints failure)"


# -- the signer's certificate ----------------------------------------------------------------------

def test_a_signature_naming_no_certificate_is_malformed() -> None:
    found = checks.certificate_findings(None, INSIDE, True)
    assert _codes(found) == [("malformed", "invalid")]
    assert found[0].message == "the signature names no signer certificate"


def test_a_fit_certificate_inside_its_validity_gives_no_finding() -> None:
    assert checks.certificate_findings(SIGNER, INSIDE, True) == []
    assert checks.certificate_findings(SIGNER, None, False) == []  # no time known: nothing to compare


@pytest.mark.parametrize(("proven", "which"), [(True, "timestamped"), (False, "claimed")])
def test_an_expired_certificate_is_invalid_at_the_signing_time(proven: bool, which: str) -> None:
    found = checks.certificate_findings(SIGNER, NOT_AFTER + timedelta(days=1), proven)
    assert _codes(found) == [("certificate-validity", "invalid")]
    assert "expired on" in found[0].message and found[0].message.endswith(f"— the {which} signing time")
    early = checks.certificate_findings(SIGNER, NOT_BEFORE - timedelta(days=1), proven)
    assert _codes(early) == [("certificate-validity", "invalid")] and "not yet valid" in early[0].message


@pytest.mark.parametrize(("name", "needle"), [("intermediate-ca", "is a CA certificate"),
                                              ("tsa", "is a timestamping (TSA) certificate")])
def test_a_certificate_unfit_to_sign_documents_is_invalid(name: str, needle: str) -> None:
    found = checks.certificate_findings(_cert(name), None, False)
    assert found and all((f.code, f.severity) == ("certificate-purpose", "invalid") for f in found)
    assert any(needle in f.message for f in found)


# -- the signature timestamp -----------------------------------------------------------------------

def test_no_signature_timestamp_gives_no_finding() -> None:
    assert checks.timestamp_findings(None) == []
    assert checks.timestamp_findings(SimpleNamespace(intact=True, valid=True, trusted=True)) == []


@pytest.mark.parametrize(("intact", "valid"), [(False, True), (True, False), (False, False)])
def test_a_timestamp_token_that_does_not_verify_is_invalid(intact: bool, valid: bool) -> None:
    found = checks.timestamp_findings(SimpleNamespace(intact=intact, valid=valid, trusted=True))
    assert _codes(found) == [("timestamp-invalid", "invalid")]
    assert found[0].message == "signature timestamp token does not verify"


def test_a_timestamp_from_an_untrusted_tsa_is_indeterminate() -> None:
    found = checks.timestamp_findings(SimpleNamespace(intact=True, valid=True, trusted=False))
    assert _codes(found) == [("timestamp-untrusted", "indeterminate")]
    assert found[0].message == "signature timestamp untrusted (TSA certificate has no chain to a trust root)"


# -- the time printed on the stamp -----------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123/QĐ-UBND\n2026-11-27T16:54:11+07:00", datetime(2026, 11, 27, 16, 54, 11, tzinfo=VN)),
        ("2026-11-27 16:54", datetime(2026, 11, 27, 16, 54, tzinfo=VN)),  # no zone: Vietnam time
        ("2026-11-27T09:54:11Z", datetime(2026, 11, 27, 9, 54, 11, tzinfo=UTC)),
        ("2026-11-27 09:54:11 UTC", datetime(2026, 11, 27, 9, 54, 11, tzinfo=UTC)),
        ("2026-11-27T09:54 GMT", datetime(2026, 11, 27, 9, 54, tzinfo=UTC)),
        ("2026-11-27T11:54:11+0200", datetime(2026, 11, 27, 11, 54, 11, tzinfo=timezone(timedelta(hours=2)))),
        ("2026-11-27T04:24:11-05:30", datetime(2026, 11, 27, 4, 24, 11, tzinfo=timezone(-timedelta(hours=5, minutes=30)))),
        ("Ký ngày 27/11/2026 16:54:11", datetime(2026, 11, 27, 16, 54, 11, tzinfo=VN)),
        ("27.11.2026, 16:54", datetime(2026, 11, 27, 16, 54, tzinfo=VN)),
        ("16:54:11, ngày 27/11/2026", datetime(2026, 11, 27, 16, 54, 11, tzinfo=VN)),
        ("16:54 27-11-2026", datetime(2026, 11, 27, 16, 54, tzinfo=VN)),
    ],
)
def test_stamp_times_are_read_in_every_printed_form(text: str, expected: datetime) -> None:
    shown = checks.stamp_time(text)
    assert shown == expected and shown is not None and shown.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("text", ["123/QĐ-UBND", "2026-13-45T10:00", "99/99/2026 10:00", "10:00 31/02/2026", ""])
def test_a_stamp_without_a_real_time_shows_none(text: str) -> None:
    assert checks.stamp_time(text) is None


def test_a_stamp_time_matching_the_signature_gives_no_finding() -> None:
    moment = datetime(2026, 11, 27, 9, 54, tzinfo=UTC)
    tol = checks.STAMP_TIME_TOLERANCE  # exactly at the tolerance on either side is still a match
    assert checks.stamp_time_findings("2026-11-27 16:54:00", None, moment + tol, moment - tol) == (moment, [])
    inside = INSIDE.astimezone(VN).replace(microsecond=0)
    text = inside.strftime("%Y-%m-%d %H:%M:%S")
    assert checks.stamp_time_findings(text, SIGNER, inside, inside) == (inside, [])
    assert checks.stamp_time_findings("no time here", SIGNER, moment, moment) == (None, [])


def test_a_stamp_time_away_from_the_signature_or_its_token_is_invalid() -> None:
    moment = datetime(2026, 11, 27, 9, 54, tzinfo=UTC)
    late = moment + checks.STAMP_TIME_TOLERANCE + timedelta(seconds=1)
    _, found = checks.stamp_time_findings("2026-11-27 16:54:00", None, late, None)
    assert _codes(found) == [("stamp-time", "invalid")]
    assert found[0].message == ("the stamp shows 2026-11-27T16:54:00+07:00 but the signing time written in the "
                                "signature is 2026-11-27T16:56:01+07:00 (tolerance 120 s)")
    _, found = checks.stamp_time_findings("2026-11-27 16:54:00", None, None, moment - timedelta(hours=1))
    assert [f.message.split(" but the ")[1].split(" is ")[0] for f in found] == ["timestamp token"]
    _, both = checks.stamp_time_findings("2026-11-27 16:54:00", None, late, late)
    assert len(both) == 2


def test_a_stamp_time_outside_the_certificate_validity_is_invalid() -> None:
    before = (NOT_BEFORE - timedelta(days=2)).astimezone(VN)
    _, found = checks.stamp_time_findings(before.strftime("%Y-%m-%d %H:%M:%S"), SIGNER, None, None)
    assert _codes(found) == [("stamp-time", "invalid")]
    assert found[0].message == (f"the stamp shows {checks.iso(before.replace(microsecond=0))}, outside the signer "
                                f"certificate's validity ({checks.iso(NOT_BEFORE)} to {checks.iso(NOT_AFTER)})")
    after = (NOT_AFTER + timedelta(days=2)).astimezone(VN)
    _, found = checks.stamp_time_findings(after.strftime("%Y-%m-%d %H:%M:%S"), SIGNER, None, None)
    assert _codes(found) == [("stamp-time", "invalid")]
    edge = NOT_AFTER.astimezone(VN)
    assert checks.stamp_time_findings(edge.strftime("%Y-%m-%d %H:%M:%S"), SIGNER, None, None)[1] == []


# -- pyHanko's opinion of later changes (verify._pyhanko_diff) ------------------------------------

def _diff_status(coverage: Any, diff: Any = None, docmdp_ok: Any = None) -> SimpleNamespace:
    return SimpleNamespace(coverage=coverage, diff_result=diff, docmdp_ok=docmdp_ok)


FILE, REVISION = SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION


def test_a_signature_over_the_entire_file_needs_no_diff() -> None:
    assert _pyhanko_diff(_diff_status(FILE), None) == []
    assert _pyhanko_diff(_diff_status(FILE, docmdp_ok=True), "level") == []


def test_later_revisions_pyhanko_could_not_analyse_are_invalid() -> None:
    found = _pyhanko_diff(_diff_status(REVISION, None), None)
    assert _codes(found) == [("pyhanko-diff", "invalid")]
    assert found[0].message == "modified after signing (later revisions not analysed)"


def test_suspicious_later_changes_are_invalid_with_pyhankos_first_line() -> None:
    found = _pyhanko_diff(_diff_status(REVISION, SuspiciousModification("page tree changed\nmore")), None)
    assert _codes(found) == [("pyhanko-diff", "invalid")]
    assert found[0].message == "modified after signing (page tree changed)"
    (empty,) = _pyhanko_diff(_diff_status(REVISION, SuspiciousModification("")), None)
    assert empty.message == "modified after signing (no detail)"


@pytest.mark.parametrize("level", [ModificationLevel.NONE, ModificationLevel.LTA_UPDATES,
                                   ModificationLevel.FORM_FILLING])
def test_form_filling_or_less_is_left_to_the_revision_analysis(level: ModificationLevel) -> None:
    assert _pyhanko_diff(_diff_status(REVISION, DiffResult(level, set())), None) == []


@pytest.mark.parametrize(("level", "words"), [(ModificationLevel.ANNOTATIONS, "annotations"),
                                              (ModificationLevel.OTHER, "other")])
def test_changes_beyond_form_filling_are_invalid(level: ModificationLevel, words: str) -> None:
    found = _pyhanko_diff(_diff_status(REVISION, DiffResult(level, set())), None)
    assert _codes(found) == [("pyhanko-diff", "invalid")]
    assert found[0].message == f"modified after signing ({words})"


def test_changes_the_certification_does_not_permit_are_invalid() -> None:
    ok = DiffResult(ModificationLevel.NONE, set())
    found = _pyhanko_diff(_diff_status(REVISION, ok, docmdp_ok=False), "no-changes")
    assert _codes(found) == [("docmdp", "invalid")]
    assert found[0].message == "modified after signing (changes not permitted by the document's certification)"
    assert _pyhanko_diff(_diff_status(REVISION, ok, docmdp_ok=False), None) == []  # not a certified document
    assert _pyhanko_diff(_diff_status(REVISION, ok, docmdp_ok=None), "no-changes") == []
    assert _pyhanko_diff(_diff_status(FILE, docmdp_ok=False), "no-changes") == [found[0]]


# -- a signature that cannot be parsed (verify._broken) and the report's JSON form --------------------

def test_a_malformed_signature_is_reported_invalid_with_nothing_vouched_for() -> None:
    report = _broken("NguoiKy1", "ValueError: bad CMS")
    assert (report.field_name, report.role, report.verdict, report.valid) == ("NguoiKy1", "unknown", "invalid", False)
    assert (report.intact, report.signature_value_ok, report.trusted, report.revoked) == (False, False, False, False)
    assert (report.coverage, report.changes_after_signing) == ("unclear", "unknown")
    assert report.signer_name is None and report.signer_subject is None
    assert report.reasons == ("could not be validated: ValueError: bad CMS",)
    assert _codes(list(report.findings)) == [("malformed", "invalid")]


def test_reports_serialise_every_field() -> None:
    sig = _broken("NguoiKy1", "ValueError: bad CMS")
    d = sig.to_dict()
    assert set(d) == set(sig.__dataclass_fields__)
    assert d["reasons"] == ["could not be validated: ValueError: bad CMS"] and d["chain"] == []
    assert d["findings"] == [{"code": "malformed", "severity": "invalid",
                              "message": "could not be validated: ValueError: bad CMS"}]
    assert d["later_revisions"] == [] and d["visual_differences"] == [] and d["rect"] is None
    assert d["verdict"] == "invalid" and d["role"] == "unknown" and d["signed_revision"] is None
    whole = VerificationReport(source="a.pdf", signatures=(sig,), notes=("n",), diff_images=("p.png",)).to_dict()
    assert whole == {"source": "a.pdf", "valid": False, "verdict": "invalid", "error": None, "notes": ["n"],
                     "diff_images": ["p.png"], "signatures": [d]}


def test_the_cli_text_names_the_proven_time_the_stamp_time_and_the_level() -> None:
    from dataclasses import replace

    from gateway.signing.verify import format_report

    base = _broken("NguoiKy1", "ValueError: bad CMS")
    stamped = replace(base, time_source="timestamp", timestamp_time="T1", claimed_signing_time="C1", stamp_time="S1",
                      subfilter="ETSI.CAdES.detached")
    lines = format_report(VerificationReport(source="a.pdf", signatures=(stamped,))).split("\n")
    assert lines[0] == "a.pdf: INVALID"
    assert "    time (timestamp): T1; stamp shows S1" in lines
    assert "    level: ETSI.CAdES.detached; coverage: unclear; trusted: False; revocation checked: False" in lines
    claimed = replace(base, claimed_signing_time="C1", timestamp_time="T1", pades_level="B-T", subfilter="x")
    lines = format_report(VerificationReport(source="a.pdf", signatures=(claimed,))).split("\n")
    assert "    time (claimed): C1" in lines
    assert "    level: B-T; coverage: unclear; trusted: False; revocation checked: False" in lines


def test_difference_image_names_are_file_safe() -> None:
    from gateway.signing.verify import safe_stem

    assert safe_stem("__Quyết định số 12/QĐ.pdf__") == "Quy_t_nh_s_12_Q_.pdf"
    assert safe_stem("a..b-c_d") == "a..b-c_d"
    assert safe_stem("x" * 100) == "x" * 80
    assert safe_stem("ệ") == "document" and safe_stem("") == "document"
