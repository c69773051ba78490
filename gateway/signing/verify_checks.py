"""The individual checks behind a signature verdict, each turning evidence into :class:`Finding`\\ s.

ETSI EN 319 102-1 gives a signature one of three outcomes: TOTAL-PASSED (valid), TOTAL-FAILED
(invalid: the evidence shows the signature is bad) and INDETERMINATE (the evidence needed to
decide is missing: no chain to a trust anchor, revocation status unknown, no proof of time for
an expired certificate, a timestamp that cannot be checked). Every finding carries its severity;
the verdict is the worst of them. Findings also carry a stable ``code`` for programs and tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate

from gateway.signing.appearance import vietnam_time_iso
from gateway.signing.cert_policy import purpose_problems, validity_problems

INVALID, INDETERMINATE = "invalid", "indeterminate"
VALID = "valid"
#: how far the time printed on a stamp may be from the signature's own time (and its timestamp)
STAMP_TIME_TOLERANCE = timedelta(seconds=120)
VIETNAM = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class Finding:
    """One reason a signature is not simply valid."""

    code: str
    severity: str  # "invalid" | "indeterminate"
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "severity": self.severity, "message": self.message}


def verdict_of(findings: tuple[Finding, ...] | list[Finding]) -> str:
    if any(f.severity == INVALID for f in findings):
        return INVALID
    if findings:
        return INDETERMINATE
    return VALID


def iso(moment: datetime | None) -> str | None:
    return vietnam_time_iso(moment) if moment is not None else None


def integrity_findings(status: Any) -> list[Finding]:
    if not status.intact:
        return [Finding("digest-mismatch", INVALID,
                        "modified after signing (the signed bytes no longer match the signature's digest)")]
    if not status.valid:
        return [Finding("signature-value", INVALID, "signature value does not verify with the signer's public key")]
    return []


_REVOCATION_UNKNOWN = {
    AdESIndeterminate.TRY_LATER,
    AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE,
    AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED,
}


def trust_findings(status: Any, *, revocation_unknown: bool = False) -> list[Finding]:
    """Chain and revocation, from pyHanko's status (validated with revocation ``hard-fail``);
    ``revocation_unknown``: the chain is trusted in soft-fail mode, only revocation data is missing."""
    details = status.revocation_details
    if details is not None:
        who = "issuing CA certificate" if details.ca_revoked else "certificate"
        when = iso(details.revocation_date)
        return [Finding("revoked", INVALID,
                        f"{who} revoked (on {when}, reason {details.revocation_reason.native})")]
    indic = status.trust_problem_indic
    if indic is None and status.validation_path is None and status.intact and status.valid:
        indic = AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND
    if indic is None:
        return []
    if revocation_unknown:
        indic = AdESIndeterminate.TRY_LATER
    if indic in (AdESFailure.REVOKED, AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE):
        return [Finding("revoked", INVALID, "certificate revoked")]
    if indic == AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND:
        return [Finding("untrusted", INDETERMINATE, "untrusted root: no chain to a configured trust root")]
    if indic in _REVOCATION_UNKNOWN:
        return [Finding("revocation-unknown", INDETERMINATE,
                        "revocation not checked: no CRL or OCSP response covers the signer's chain "
                        "(configure [trust] crls or embed validation data, B-LT)")]
    if indic in (AdESIndeterminate.EXPIRED, AdESIndeterminate.OUT_OF_BOUNDS_NO_POE):
        return [Finding("expired-no-poe", INDETERMINATE,
                        "certificate expired at validation time and no timestamp proves the signature existed before")]
    if indic in (AdESIndeterminate.NOT_YET_VALID, AdESFailure.NOT_YET_VALID):
        return [Finding("not-yet-valid", INVALID, "certificate not yet valid at signing time")]
    name = indic.name.lower().replace("_", " ")
    return [Finding("untrusted", INDETERMINATE, f"certificate chain not trusted ({name})")]


def certificate_findings(cert: Any, at: datetime | None, proven: bool) -> list[Finding]:
    """Purpose (CA, TSA, key usage, EKU) and validity at the signing time (proven or claimed)."""
    if cert is None:
        return [Finding("malformed", INVALID, "the signature names no signer certificate")]
    found = [Finding("certificate-purpose", INVALID, p) for p in purpose_problems(cert)]
    if at is not None:
        which = "timestamped" if proven else "claimed"
        for problem in validity_problems(cert, at):
            found.append(Finding("certificate-validity", INVALID, f"{problem} — the {which} signing time"))
    return found


def timestamp_findings(ts_status: Any) -> list[Finding]:
    if ts_status is None:
        return []
    if not (ts_status.intact and ts_status.valid):
        return [Finding("timestamp-invalid", INVALID, "signature timestamp token does not verify")]
    if not ts_status.trusted:
        return [Finding("timestamp-untrusted", INDETERMINATE,
                        "signature timestamp untrusted (TSA certificate has no chain to a trust root)")]
    return []


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:?\d{2}| ?UTC| ?GMT)?")
_VN = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?,?\s*(?:ngày\s*)?(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")
_VN_DATE_FIRST = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})[ ,]+(\d{1,2}):(\d{2})(?::(\d{2}))?")


def _zone(text: str | None) -> timezone:
    if not text:
        return VIETNAM
    if text.strip() in ("Z", "UTC", "GMT"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0)))


def stamp_time(text: str) -> datetime | None:
    """The time printed on a stamp: ISO 8601 (offset optional, Vietnam time assumed) or
    ``dd/mm/yyyy hh:mm[:ss]`` / ``hh:mm[:ss] dd/mm/yyyy``; None when the stamp shows no time."""
    try:
        m = _ISO.search(text)
        if m:
            y, mo, d, h, mi, s = (int(g or 0) for g in m.groups()[:6])
            return datetime(y, mo, d, h, mi, s, tzinfo=_zone(m.group(7)))
        m = _VN_DATE_FIRST.search(text)
        if m:
            d, mo, y, h, mi, s = (int(g or 0) for g in m.groups())
            return datetime(y, mo, d, h, mi, s, tzinfo=VIETNAM)
        m = _VN.search(text)
        if m:
            h, mi, s, d, mo, y = (int(g or 0) for g in m.groups())
            return datetime(y, mo, d, h, mi, s, tzinfo=VIETNAM)
    except ValueError:
        return None
    return None


def stamp_time_findings(
    text: str, cert: Any, claimed: datetime | None, token_time: datetime | None
) -> tuple[datetime | None, list[Finding]]:
    """Compare the stamp's visible time with the signature's own time and its timestamp token."""
    shown = stamp_time(text)
    if shown is None:
        return None, []
    found: list[Finding] = []
    if cert is not None:
        not_before = cert["tbs_certificate"]["validity"]["not_before"].native
        not_after = cert["tbs_certificate"]["validity"]["not_after"].native
        if shown < not_before or shown > not_after:
            found.append(Finding("stamp-time", INVALID,
                                 f"the stamp shows {iso(shown)}, outside the signer certificate's validity "
                                 f"({iso(not_before)} to {iso(not_after)})"))
    tol = int(STAMP_TIME_TOLERANCE.total_seconds())
    for label, moment in (("signing time written in the signature", claimed), ("timestamp token", token_time)):
        if moment is not None and abs(shown - moment) > STAMP_TIME_TOLERANCE:
            found.append(Finding("stamp-time", INVALID,
                                 f"the stamp shows {iso(shown)} but the {label} is {iso(moment)} "
                                 f"(tolerance {tol} s)"))
    return shown, found
