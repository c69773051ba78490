"""What the signer refuses to do, before anything is written: the checks and their messages.

* **Certificates unfit to sign** (:func:`certificate_purpose_refusal`, :func:`certificate_validity_refusal`):
  a CA's key, a timestamping (TSA) certificate, a certificate without digitalSignature or
  nonRepudiation, one restricted to other purposes, and (at the signing time) an expired or
  not-yet-valid signer or chain certificate. This holds at every PAdES level: at B-B nobody else
  would ever check it before the document leaves. The policy is the one the verifier applies
  (:mod:`gateway.signing.cert_policy`).
* **Signatures that do not verify** (:func:`existing_signatures_refusal`): a new signature (the
  agency's seal above all) vouches for what is already signed in the file, so every signature
  already there must verify with :func:`gateway.signing.verify.verify_pdf` against the profile
  file's ``[trust]``: revoked, untrusted, tampered, modified after signing, or *indeterminate*
  (revocation unknown, no trust anchor) are all refusals. There is deliberately no override: an
  operator who cannot get revocation data for a leader's certificate must fix the trust
  configuration (CRLs), not seal blind.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asn1crypto import x509 as asn1_x509

from gateway.errors import ConfigurationError, GatewayError, SigningError
from gateway.signing.cert_policy import purpose_problems, validity_problems
from gateway.signing.profiles import TrustConfig


def certificate_purpose_refusal(profile: str, cert: asn1_x509.Certificate) -> ConfigurationError | None:
    """The error for a signer certificate that may never sign a document, else ``None``."""
    problems = purpose_problems(cert)
    if not problems:
        return None
    return ConfigurationError(f"profile {profile}: refusing to sign: {'; '.join(problems)}")


def certificate_validity_refusal(
    profile: str, cert: asn1_x509.Certificate, chain: tuple[asn1_x509.Certificate, ...], at: datetime
) -> ConfigurationError | None:
    """The error when the signer's or a chain certificate is not valid at ``at``, else ``None``."""
    problems = validity_problems(cert, at)
    for ca in chain:
        problems.extend(f"issuing {p}" for p in validity_problems(ca, at))
    if not problems:
        return None
    return ConfigurationError(
        f"profile {profile}: refusing to sign at {at.isoformat()}: {'; '.join(problems)}"
    )


def _outcome(sig: Any) -> str:
    outcome = getattr(sig, "outcome", None)  # valid / invalid / indeterminate (ETSI EN 319 102-1)
    if isinstance(outcome, str):
        return outcome
    return "indeterminate" if getattr(sig, "indeterminate", False) else "invalid"


def existing_signatures_refusal(
    pdf: bytes, trust: TrustConfig | None, profile: str, count: int
) -> GatewayError | None:
    """The error when any of the ``count`` signatures already in ``pdf`` does not verify."""
    if count == 0:
        return None
    if trust is None or not trust.roots:
        return ConfigurationError(
            f"profile {profile}: the document already carries {count} signature(s); signing over them "
            "needs [trust] roots (and CRLs) in the profiles file to verify them first"
        )
    from gateway.signing.verify import verify_pdf

    report = verify_pdf(pdf, trust, source="input")
    if report.error:
        return SigningError(f"refusing to sign: the existing signatures cannot be checked: {report.error}")
    problems: list[str] = []
    for sig in report.signatures:
        if sig.valid:
            continue
        who = f" by {sig.signer_name}" if sig.signer_name else ""
        reasons = "; ".join(sig.reasons) or "not valid"
        problems.append(f"signature field {sig.field_name!r}{who} is {_outcome(sig)}: {reasons}")
    if not problems and report.valid:
        return None
    if not problems:
        problems.append("the verifier does not accept the document: " + "; ".join(report.notes))
    return SigningError("refusing to sign over signatures that do not verify: " + " | ".join(problems))

