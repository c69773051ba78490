"""Verify every signature in a PDF and say, in plain words, what is wrong with it.

:func:`verify_pdf` returns a :class:`VerificationReport` with one :class:`SignatureReport` per
signature; it never raises on a bad signature or a broken file (the pipeline stores the report,
the CLI prints it). Each signature gets one of three verdicts (ETSI EN 319 102-1): ``valid``,
``invalid`` or ``indeterminate``, with every :class:`~gateway.signing.verify_checks.Finding`
that led there. What is checked:

* integrity and the signature value (pyHanko), SHA-1 and other weak algorithms;
* every revision added after the signature (:mod:`gateway.signing.revisions`): only validation
  data, document timestamps and new signatures that verify themselves are acceptable;
* what the pages look like (:mod:`gateway.signing.visual`): pixels outside later signatures'
  rectangles must be those of the signed revision, and later signatures may not erase signed ink;
* chain to the configured roots and revocation (``hard-fail``: no revocation data for a
  certificate means *indeterminate*, never valid), the certificate's purpose and validity at
  the (timestamped or claimed) signing time (:mod:`gateway.signing.cert_policy`);
* the signature timestamp, DocMDP (certification) permissions;
* the time printed on the stamp against the signature's time and timestamp;
* the role, from the certificate and the trust configuration (:mod:`gateway.signing.roles`).
"""

# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.diff_analysis.policy_api import DiffResult, SuspiciousModification
from pyhanko.sign.fields import SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.validation import EmbeddedPdfSignature, validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.status import SignatureCoverageLevel

from gateway.signing import verify_checks as checks
from gateway.signing.placement import signature_widgets
from gateway.signing.profiles import TrustConfig
from gateway.signing.revisions import RevisionChange, classify_after
from gateway.signing.roles import decide_role
from gateway.signing.trust import validation_context
from gateway.signing.verify_checks import INDETERMINATE, INVALID, Finding

_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "partial",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
_WEAK_DIGESTS = {"md5", "sha1"}
_SUBFILTERS = {str(v.value).lstrip("/") for v in SigSeedSubFilter}
#: exit status of ``lienthong verify`` / ``package verify`` per overall verdict (see docs/signing.md)
EXIT_CODES = {"valid": 0, "invalid": 1, "indeterminate": 3}


@dataclass(frozen=True)
class SignatureReport:
    """The verdict on one signature with every finding (empty when valid)."""

    field_name: str
    role: str  # "agency", "signer", "document-timestamp" or "unknown"
    valid: bool  # True only when verdict == "valid"
    reasons: tuple[str, ...]
    intact: bool
    signature_value_ok: bool
    trusted: bool
    revoked: bool
    coverage: str  # entire_file | entire_revision | partial | unclear
    changes_after_signing: str  # plain description of later revisions
    signer_name: str | None
    signer_subject: str | None
    chain: tuple[str, ...] = ()
    claimed_signing_time: str | None = None
    timestamp_time: str | None = None
    timestamp_trusted: bool | None = None
    time_source: str = "claimed"  # "timestamp" when a valid RFC 3161 token dates the signature
    pades_level: str | None = None  # B-B, B-T, B-LT, B-LTA, or None for non-PAdES subfilters
    subfilter: str | None = None
    verdict: str = "invalid"  # valid | invalid | indeterminate
    findings: tuple[Finding, ...] = ()
    role_source: str = ""
    revocation_checked: bool = False
    signed_revision: int | None = None  # 1-based
    later_revisions: tuple[RevisionChange, ...] = ()
    visual_differences: tuple[dict[str, object], ...] = ()
    page: int | None = None  # 1-based page of the widget, None when invisible
    rect: tuple[float, float, float, float] | None = None
    stamp_text: str | None = None
    stamp_time: str | None = None
    digest_algorithm: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["reasons"] = list(self.reasons)
        d["chain"] = list(self.chain)
        d["findings"] = [f.to_dict() for f in self.findings]
        d["later_revisions"] = [r.to_dict() for r in self.later_revisions]
        d["visual_differences"] = list(self.visual_differences)
        d["rect"] = list(self.rect) if self.rect else None
        return d


@dataclass(frozen=True)
class VerificationReport:
    """All signatures of one PDF; ``verdict`` is the worst of them (no signature: invalid)."""

    source: str
    signatures: tuple[SignatureReport, ...] = ()
    error: str | None = None  # the file itself could not be read as a PDF
    notes: tuple[str, ...] = field(default=())
    diff_images: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        if self.error is not None or not self.signatures:
            return INVALID
        verdicts = {s.verdict for s in self.signatures}
        return INVALID if INVALID in verdicts else INDETERMINATE if INDETERMINATE in verdicts else "valid"

    @property
    def valid(self) -> bool:
        return self.verdict == "valid"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "valid": self.valid,
            "verdict": self.verdict,
            "error": self.error,
            "notes": list(self.notes),
            "diff_images": list(self.diff_images),
            "signatures": [s.to_dict() for s in self.signatures],
        }


def _dss_material(reader: PdfFileReader) -> tuple[list[Any], list[Any], list[Any], bool]:
    """Certificates, CRLs and OCSP responses from the PDF's DSS (the B-LT validation data)."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return [], [], [], False
    certs = list(dss.load_certs())
    crls = [asn1_crl.CertificateList.load(ref.get_object().data) for ref in dss.crls]
    ocsps = [asn1_ocsp.OCSPResponse.load(ref.get_object().data) for ref in dss.ocsps]
    return certs, crls, ocsps, bool(certs or crls or ocsps)


def _pyhanko_diff(status: Any, docmdp_level: Any) -> list[Finding]:
    """pyHanko's overall judgement of later changes, kept as a second opinion."""
    if status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        return [Finding("coverage", INVALID, "not covering the whole file")]
    found: list[Finding] = []
    diff = status.diff_result
    if status.coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        if isinstance(diff, SuspiciousModification):
            found.append(Finding("pyhanko-diff", INVALID, f"modified after signing ({_first_line(str(diff))})"))
        elif isinstance(diff, DiffResult):
            if diff.modification_level > ModificationLevel.FORM_FILLING:
                level = diff.modification_level.name.lower().replace("_", " ")
                found.append(Finding("pyhanko-diff", INVALID, f"modified after signing ({level})"))
        else:
            found.append(Finding("pyhanko-diff", INVALID, "modified after signing (later revisions not analysed)"))
    if status.docmdp_ok is False and docmdp_level is not None:
        found.append(Finding("docmdp", INVALID,
                             "modified after signing (changes not permitted by the document's certification)"))
    return found


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"


@dataclass
class _Draft:
    """A signature's evidence while the verdicts of later signatures are not yet known."""

    embedded: Any
    status: Any
    findings: list[Finding]
    values: dict[str, Any]
    signed_revision: int
    end: int  # end of the signed bytes: the signed revision as a file
    is_doc_ts: bool


def _evaluate(embedded: Any, trust: TrustConfig, dss: tuple[list[Any], list[Any], list[Any], bool]) -> _Draft:
    name = str(embedded.field_name)
    subfilter = str(embedded.sig_object.get("/SubFilter", "")).lstrip("/") or None
    is_doc_ts = str(embedded.sig_object.get("/Type", "")) == "/DocTimeStamp"
    cert = embedded.signer_cert
    certs, crls, ocsps, has_dss = dss

    def ctx() -> Any:
        return validation_context(trust, revocation_mode="hard-fail", extra_certs=certs, extra_crls=crls,
                                  extra_ocsps=ocsps)

    if is_doc_ts:
        status: Any = validate_pdf_timestamp(embedded, validation_context=ctx())
    else:
        status = validate_pdf_signature(embedded, ctx(), ts_validation_context=ctx())
    revocation_unknown = False
    if (not status.trusted and status.intact and status.valid
            and status.trust_problem_indic == AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE):
        # hard-fail reports missing revocation data as a general chain failure; if soft-fail
        # trusts the same chain, the only thing missing is revocation information
        retry_ctx = validation_context(trust, revocation_mode="soft-fail", extra_certs=certs, extra_crls=crls,
                                       extra_ocsps=ocsps)
        retry = (validate_pdf_timestamp(embedded, validation_context=retry_ctx) if is_doc_ts
                 else validate_pdf_signature(embedded, retry_ctx, ts_validation_context=retry_ctx))
        revocation_unknown = bool(retry.trusted) and not retry.revoked
    found = checks.integrity_findings(status)
    digest = str(embedded.md_algorithm).lower().replace("-", "") if embedded.md_algorithm else None
    if digest in _WEAK_DIGESTS:
        found.append(Finding("weak-algorithm", INVALID, f"weak digest algorithm {digest} (SHA-256 or better required)"))
    found.extend(_pyhanko_diff(status, embedded.docmdp_level))
    trust_found = checks.trust_findings(status, revocation_unknown=revocation_unknown)
    found.extend(trust_found)

    ts_time = ts_ok = None
    ts_status = getattr(status, "timestamp_validity", None)
    if is_doc_ts:
        ts_time, ts_ok = status.timestamp, status.trusted
    elif ts_status is not None:
        ts_time, ts_ok = ts_status.timestamp, ts_status.intact and ts_status.valid and ts_status.trusted
        found.extend(checks.timestamp_findings(ts_status))
    claimed = getattr(status, "signer_reported_dt", None)
    if not is_doc_ts:
        proven = bool(ts_ok)
        found.extend(checks.certificate_findings(cert, ts_time if proven else claimed, proven))
    level = None
    if subfilter == "ETSI.CAdES.detached":
        level = "B-B" if ts_status is None else ("B-LT" if has_dss else "B-T")
    elif is_doc_ts:
        level = "B-LTA"
    path = status.validation_path
    subject = cert.subject if cert is not None else None
    role, role_source = ("document-timestamp", "document timestamp") if is_doc_ts else decide_role(cert, trust)
    unchecked = ("revocation-unknown", "untrusted")
    revocation_checked = path is not None and not any(f.code in unchecked for f in trust_found)
    byte_range = [int(v) for v in embedded.sig_object["/ByteRange"]]
    values = {
        "field_name": name,
        "role": role,
        "role_source": role_source,
        "intact": bool(status.intact),
        "signature_value_ok": bool(status.valid),
        "trusted": bool(status.trusted),
        "revoked": bool(status.revoked),
        "revocation_checked": revocation_checked,
        "coverage": _COVERAGE.get(status.coverage, "unclear"),
        "signer_name": subject.native.get("common_name") if subject is not None else None,
        "signer_subject": subject.human_friendly if subject is not None else None,
        "chain": tuple(c.subject.human_friendly for c in path) if path is not None else (),
        "claimed_signing_time": checks.iso(claimed),
        "timestamp_time": checks.iso(ts_time),
        "timestamp_trusted": ts_ok,
        "time_source": "timestamp" if ts_ok else "claimed",
        "pades_level": level,
        "subfilter": subfilter,
        "digest_algorithm": digest,
    }
    values["_claimed"], values["_token"], values["_cert"] = claimed, ts_time if ts_ok else None, cert
    return _Draft(embedded, status, found, values, int(embedded.signed_revision), byte_range[2] + byte_range[3],
                  is_doc_ts)


def _broken(field_name: str, message: str) -> SignatureReport:
    finding = Finding("malformed", INVALID, f"could not be validated: {message}")
    return SignatureReport(
        field_name=field_name,
        role="unknown",
        valid=False,
        reasons=(finding.message,),
        intact=False,
        signature_value_ok=False,
        trusted=False,
        revoked=False,
        coverage="unclear",
        changes_after_signing="unknown",
        signer_name=None,
        signer_subject=None,
        verdict=INVALID,
        findings=(finding,),
    )


def verify_pdf(
    data: bytes,
    trust: TrustConfig,
    *,
    source: str = "<bytes>",
    visual: bool = True,
    diff_dir: Path | None = None,
) -> VerificationReport:
    """Verify every signature in ``data``; never raises on bad signatures or unreadable files.

    ``visual`` renders each signed revision and the final file and compares the pixels (see
    :mod:`gateway.signing.visual`); ``diff_dir`` writes a PNG of each visible difference there.
    """
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded_all, broken_list = _collect(reader)
    except Exception as exc:  # any parse failure is a verdict about the file, not a crash
        return VerificationReport(source=source, error=f"not a readable PDF: {exc}")
    notes: list[str] = []
    try:
        dss = _dss_material(reader)
    except Exception as exc:
        dss = ([], [], [], False)
        notes.append(f"embedded validation data (DSS) unreadable: {exc}")
    if not embedded_all and not broken_list:
        return VerificationReport(source=source, notes=(*notes, "the file carries no signature"))
    drafts: list[_Draft] = []
    for embedded in embedded_all:
        try:
            drafts.append(_evaluate(embedded, trust, dss))
        except Exception as exc:  # a malformed signature must not hide the others
            broken_list.append(_broken(str(embedded.field_name), f"{type(exc).__name__}: {exc}"))
    try:
        widgets = {w.field_name: w for w in signature_widgets(reader)}
    except Exception as exc:
        widgets = {}
        notes.append(f"signature widgets unreadable: {exc}")
    changes = _classify(reader, drafts, notes)
    from gateway.signing.verify_finish import finish_drafts  # visual + stamp checks, split out for size

    reports, images = finish_drafts(data, drafts, changes, widgets, visual=visual, diff_dir=diff_dir, source=source)
    return VerificationReport(source=source, signatures=(*reports, *broken_list), notes=tuple(notes),
                              diff_images=images)


def _collect(reader: PdfFileReader) -> tuple[list[Any], list[SignatureReport]]:
    """Every filled signature field: parsed ones in signing order, and a report for each that
    cannot even be parsed (pyHanko's own list drops unknown SubFilters and fails on a bad CMS)."""
    good: list[Any] = []
    bad: list[SignatureReport] = []
    for name, _value, field_ref in enumerate_sig_fields(reader, filled_status=True):
        try:
            embedded = EmbeddedPdfSignature(reader, field_ref.get_object(), name)
            subfilter = str(embedded.sig_object.get("/SubFilter", ""))
            if subfilter.lstrip("/") not in _SUBFILTERS:
                raise ValueError(f"unsupported SubFilter {subfilter or '(none)'}")
        except Exception as exc:
            bad.append(_broken(str(name), f"{type(exc).__name__}: {exc}"))
            continue
        good.append(embedded)
    good.sort(key=lambda e: e.signed_revision)
    return good, bad


def _classify(reader: PdfFileReader, drafts: list[_Draft], notes: list[str]) -> dict[int, RevisionChange]:
    if not drafts:
        return {}
    signed = {d.signed_revision: (str(d.embedded.field_name), d.is_doc_ts) for d in drafts}
    try:
        return classify_after(reader, min(signed), signed)
    except Exception as exc:
        notes.append(f"revisions could not be listed: {exc}")
        total = reader.xrefs.total_revisions
        return {r: RevisionChange(r, "unanalysed", "could not be analysed") for r in range(min(signed) + 1, total)}


def format_report(report: VerificationReport) -> str:
    """Readable multi-line text for the CLI; the head is VALID, INVALID or INDETERMINATE."""
    lines = [f"{report.source}: {report.verdict.upper()}"]
    if report.error:
        lines.append(f"  error: {report.error}")
    lines.extend(f"  note: {n}" for n in report.notes)
    for s in report.signatures:
        lines.append(f"  [{s.field_name}] {s.role} ({s.role_source}) — {s.verdict}")
        lines.append(f"    signer: {s.signer_subject}")
        lines.append(f"    level: {s.pades_level or s.subfilter}; coverage: {s.coverage}; trusted: {s.trusted}; "
                     f"revocation checked: {s.revocation_checked}")
        when = s.timestamp_time if s.time_source == "timestamp" else s.claimed_signing_time
        lines.append(f"    time ({s.time_source}): {when}" + (f"; stamp shows {s.stamp_time}" if s.stamp_time else ""))
        lines.append(f"    after signing: {s.changes_after_signing}")
        lines.extend(f"    {f.severity}: {f.message}" for f in s.findings)
    lines.extend(f"  difference image: {p}" for p in report.diff_images)
    return "\n".join(lines)


def safe_stem(text: str) -> str:
    """A file-name-safe version of ``text`` (for difference images)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "document"
