"""Verify every signature in an inbound PDF and say, in plain words, what is wrong with it.

:func:`verify_pdf` returns a :class:`VerificationReport` with one :class:`SignatureReport` per
signature; it never raises on a bad signature or a broken file (the pipeline stores the report,
the CLI prints it). Each signature is checked for integrity (do the signed bytes match), coverage
(whole file or not, and what later revisions changed), the signer's chain to the configured trust
roots, time (timestamp token or the signer's claimed time), revocation (configured CRLs plus the
validation data embedded in the PDF's DSS) and its role: the agency's seal signature or the
signer's personal one.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.diff_analysis.policy_api import DiffResult, SuspiciousModification
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.status import SignatureCoverageLevel

from gateway.signing.appearance import vietnam_time_iso
from gateway.signing.profiles import TrustConfig
from gateway.signing.sign import AGENCY_FIELD_PREFIX, PERSON_FIELD_PREFIX
from gateway.signing.trust import validation_context

_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire_file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire_revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "partial",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
_ALLOWED_LATER = {ModificationLevel.NONE, ModificationLevel.LTA_UPDATES, ModificationLevel.FORM_FILLING}


@dataclass(frozen=True)
class SignatureReport:
    """The verdict on one signature, with every reason it is not acceptable (empty when valid)."""

    field_name: str
    role: str  # "agency", "signer", "document-timestamp" or "unknown"
    valid: bool
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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reasons"] = list(self.reasons)
        d["chain"] = list(self.chain)
        return d


@dataclass(frozen=True)
class VerificationReport:
    """All signatures of one PDF. ``valid`` needs at least one signature and all of them valid."""

    source: str
    signatures: tuple[SignatureReport, ...] = ()
    error: str | None = None  # the file itself could not be read as a PDF
    notes: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return self.error is None and bool(self.signatures) and all(s.valid for s in self.signatures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "valid": self.valid,
            "error": self.error,
            "notes": list(self.notes),
            "signatures": [s.to_dict() for s in self.signatures],
        }


def _iso(moment: datetime | None) -> str | None:
    return vietnam_time_iso(moment) if moment is not None else None


def _role(field_name: str, cert: asn1_x509.Certificate | None, is_doc_ts: bool) -> str:
    if is_doc_ts:
        return "document-timestamp"
    if field_name.startswith(AGENCY_FIELD_PREFIX):
        return "agency"
    if field_name.startswith(PERSON_FIELD_PREFIX):
        return "signer"
    if cert is None:
        return "unknown"
    subject = cert.subject.native
    # Personal certificates from Vietnamese CAs carry a person identifier (CMND/CCCD in UID),
    # a title or given/surname; organisation certificates name the organisation as CN.
    if any(k in subject for k in ("user_id", "title", "given_name", "surname", "pseudonym")):
        return "signer"
    if subject.get("common_name") and subject.get("common_name") == subject.get("organization_name"):
        return "agency"
    return "unknown"


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


def _changes(status: Any) -> tuple[str, str | None]:
    """(description of later revisions, reason if they are not acceptable)."""
    coverage = status.coverage
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return "none: the signature covers the whole file", None
    diff = status.diff_result
    if isinstance(diff, SuspiciousModification):
        return f"later revision modifies the document: {diff}", f"modified after signing ({diff})"
    if isinstance(diff, DiffResult):
        level = diff.modification_level
        fields_changed = ", ".join(sorted(diff.changed_form_fields)) or "none"
        text = f"later revisions: {level.name.lower().replace('_', ' ')} (form fields changed: {fields_changed})"
        if level not in _ALLOWED_LATER:
            return text, f"modified after signing ({level.name.lower().replace('_', ' ')})"
        if status.docmdp_ok is False:
            return text, "modified after signing (changes not permitted by the document's certification)"
        return text, None
    if coverage != SignatureCoverageLevel.ENTIRE_REVISION:
        return "unknown", "not covering the whole file"
    return "later revisions could not be analysed", "modified after signing (later revisions not analysed)"


def _trust_reasons(status: Any) -> list[str]:
    reasons: list[str] = []
    details = status.revocation_details
    if details is not None:
        who = "issuing CA certificate" if details.ca_revoked else "certificate"
        reasons.append(f"{who} revoked (on {_iso(details.revocation_date)}, reason {details.revocation_reason.native})")
        return reasons
    indic = status.trust_problem_indic
    if indic is None and status.validation_path is None and status.intact and status.valid:
        indic = AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND
    if indic in (AdESFailure.REVOKED, AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE):
        reasons.append("certificate revoked")
    elif indic == AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
        reasons.append("untrusted root: no chain to a configured trust root")
    elif indic in (AdESIndeterminate.EXPIRED, AdESIndeterminate.OUT_OF_BOUNDS_NO_POE):
        reasons.append("certificate expired at validation time")
    elif indic in (AdESIndeterminate.NOT_YET_VALID, AdESFailure.NOT_YET_VALID):
        reasons.append("certificate not yet valid at signing time")
    elif indic is not None:
        reasons.append(f"certificate chain not trusted ({indic.name.lower().replace('_', ' ')})")
    return reasons


def _report_one(
    embedded: Any, trust: TrustConfig, dss: tuple[list[Any], list[Any], list[Any], bool]
) -> SignatureReport:
    name = str(embedded.field_name)
    subfilter = str(embedded.sig_object.get("/SubFilter", "")).lstrip("/") or None
    is_doc_ts = str(embedded.sig_object.get("/Type", "")) == "/DocTimeStamp"
    cert = embedded.signer_cert
    certs, crls, ocsps, has_dss = dss

    def ctx() -> Any:
        return validation_context(trust, extra_certs=certs, extra_crls=crls, extra_ocsps=ocsps)

    if is_doc_ts:
        status: Any = validate_pdf_timestamp(embedded, validation_context=ctx())
    else:
        status = validate_pdf_signature(embedded, ctx(), ts_validation_context=ctx())
    reasons: list[str] = []
    if not status.intact:
        reasons.append("modified after signing (the signed bytes no longer match the signature's digest)")
    elif not status.valid:
        reasons.append("signature value does not verify with the signer's public key")
    changes, change_reason = _changes(status)
    if change_reason and change_reason not in reasons:
        reasons.append(change_reason)
    reasons.extend(_trust_reasons(status))

    ts_time = ts_ok = None
    ts_status = getattr(status, "timestamp_validity", None)
    if is_doc_ts:
        ts_time, ts_ok = status.timestamp, status.trusted
    elif ts_status is not None:
        ts_time, ts_ok = ts_status.timestamp, ts_status.intact and ts_status.valid and ts_status.trusted
        if not ts_ok:
            reasons.append("signature timestamp invalid or untrusted")
    level = None
    if subfilter == "ETSI.CAdES.detached":
        level = "B-B" if ts_status is None else ("B-LT" if has_dss else "B-T")
    elif is_doc_ts:
        level = "B-LTA"
    path = status.validation_path
    chain = tuple(c.subject.human_friendly for c in path) if path is not None else ()
    subject = cert.subject if cert is not None else None
    return SignatureReport(
        field_name=name,
        role=_role(name, cert, is_doc_ts),
        valid=not reasons,
        reasons=tuple(reasons),
        intact=bool(status.intact),
        signature_value_ok=bool(status.valid),
        trusted=bool(status.trusted),
        revoked=bool(status.revoked),
        coverage=_COVERAGE.get(status.coverage, "unclear"),
        changes_after_signing=changes,
        signer_name=subject.native.get("common_name") if subject is not None else None,
        signer_subject=subject.human_friendly if subject is not None else None,
        chain=chain,
        claimed_signing_time=_iso(getattr(status, "signer_reported_dt", None)),
        timestamp_time=_iso(ts_time),
        timestamp_trusted=ts_ok,
        time_source="timestamp" if ts_ok else "claimed",
        pades_level=level,
        subfilter=subfilter,
    )


def _broken(embedded: Any, message: str) -> SignatureReport:
    return SignatureReport(
        field_name=str(getattr(embedded, "field_name", "?")),
        role="unknown",
        valid=False,
        reasons=(f"could not be validated: {message}",),
        intact=False,
        signature_value_ok=False,
        trusted=False,
        revoked=False,
        coverage="unclear",
        changes_after_signing="unknown",
        signer_name=None,
        signer_subject=None,
    )


def verify_pdf(data: bytes, trust: TrustConfig, *, source: str = "<bytes>") -> VerificationReport:
    """Verify every signature in ``data``; never raises on bad signatures or unreadable files."""
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded_all = list(reader.embedded_signatures)
    except Exception as exc:  # any parse failure is a verdict about the file, not a crash
        return VerificationReport(source=source, error=f"not a readable PDF: {exc}")
    try:
        dss = _dss_material(reader)
    except Exception as exc:
        dss = ([], [], [], False)
        notes: tuple[str, ...] = (f"embedded validation data (DSS) unreadable: {exc}",)
    else:
        notes = ()
    if not embedded_all:
        return VerificationReport(source=source, notes=(*notes, "the file carries no signature"))
    reports: list[SignatureReport] = []
    for embedded in embedded_all:
        try:
            reports.append(_report_one(embedded, trust, dss))
        except Exception as exc:  # a malformed signature must not hide the others
            reports.append(_broken(embedded, f"{type(exc).__name__}: {exc}"))
    return VerificationReport(source=source, signatures=tuple(reports), notes=notes)


def format_report(report: VerificationReport) -> str:
    """Readable multi-line text for the CLI."""
    head = "VALID" if report.valid else "NOT VALID"
    lines = [f"{report.source}: {head}"]
    if report.error:
        lines.append(f"  error: {report.error}")
    lines.extend(f"  note: {n}" for n in report.notes)
    for s in report.signatures:
        lines.append(f"  [{s.field_name}] {s.role}: {'valid' if s.valid else 'INVALID'}")
        lines.append(f"    signer: {s.signer_subject}")
        lines.append(f"    level: {s.pades_level or s.subfilter}; coverage: {s.coverage}; trusted: {s.trusted}")
        when = s.timestamp_time if s.time_source == "timestamp" else s.claimed_signing_time
        lines.append(f"    time ({s.time_source}): {when}")
        lines.append(f"    after signing: {s.changes_after_signing}")
        lines.extend(f"    reason: {r}" for r in s.reasons)
    return "\n".join(lines)
