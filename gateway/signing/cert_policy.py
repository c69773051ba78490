"""Which certificates may sign a document: one policy for the signer (refuse) and the verifier (report).

A certificate's purpose is stated by the certificate itself, not by the field or file it is used
from: a CA's key (BasicConstraints cA=TRUE) signs certificates, a TSA's key (EKU timeStamping,
critical per RFC 3161) signs timestamp tokens, and neither may put its name under an official
decision. A document signer needs the key usage digitalSignature or nonRepudiation (RFC 5280
§4.2.1.3; ETSI EN 319 412-2 asks nonRepudiation for qualified signatures, Vietnamese CAs issue
both) and, when the certificate restricts its extended key usage, a purpose that covers documents.
Validity is checked at the moment that matters: the signing time for the signer, the proven
(timestamped) or claimed time for the verifier.

:func:`signer_certificate_problems` returns plain-language problems, each naming the certificate;
an empty list means the certificate may sign. Callers decide what a problem means: the signer
refuses (``SigningError``), the verifier reports the signature as invalid.
"""

from __future__ import annotations

from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509

# Extended key usages that cover signing documents. A certificate without the EKU extension is
# unrestricted (RFC 5280); one that lists only purposes outside this set is refused.
DOCUMENT_SIGNING_EKUS: frozenset[str] = frozenset(
    {
        "any_extended_key_usage",  # 2.5.29.37.0
        "email_protection",  # S/MIME and, by long practice, document signing
        "client_auth",  # Vietnamese public CAs issue signing certificates with clientAuth
        "1.3.6.1.5.5.7.3.36",  # id-kp-documentSigning (RFC 9336)
        "1.2.840.113583.1.1.5",  # Adobe Authentic Documents Trust
        "1.3.6.1.4.1.311.10.3.12",  # Microsoft document signing
        "1.3.6.1.4.1.311.80.1",  # Microsoft document encryption/signing (Office)
    }
)

SIGNING_KEY_USAGES: frozenset[str] = frozenset({"digital_signature", "non_repudiation"})


def describe_certificate(cert: asn1_x509.Certificate) -> str:
    """A short human name for messages: the subject's common name, else the whole subject."""
    subject = cert.subject.native
    name = subject.get("common_name") if isinstance(subject, dict) else None
    if isinstance(name, list):
        name = name[0] if name else None
    text = str(name) if name else cert.subject.human_friendly
    return f"'{text}' (serial {cert.serial_number:x})"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def validity_problems(cert: asn1_x509.Certificate, at: datetime) -> list[str]:
    """Problems with the certificate's validity window at ``at`` (naive datetimes are UTC)."""
    moment = _aware(at)
    who = describe_certificate(cert)
    not_before = cert["tbs_certificate"]["validity"]["not_before"].native
    not_after = cert["tbs_certificate"]["validity"]["not_after"].native
    if moment < not_before:
        return [f"certificate {who} is not yet valid at {moment.isoformat()} (valid from {not_before.isoformat()})"]
    if moment > not_after:
        return [f"certificate {who} expired on {not_after.isoformat()} (checked at {moment.isoformat()})"]
    return []


def purpose_problems(cert: asn1_x509.Certificate) -> list[str]:
    """Problems with what the certificate is for: CA, TSA-only, key usage, extended key usage."""
    who = describe_certificate(cert)
    problems: list[str] = []
    basic = cert.basic_constraints_value
    if basic is not None and basic["ca"].native:
        problems.append(f"certificate {who} is a CA certificate (cA=TRUE); a CA key cannot sign documents")
    key_usage = cert.key_usage_value
    if key_usage is None:
        problems.append(f"certificate {who} has no key usage extension; digitalSignature or nonRepudiation is required")
    elif not (set(key_usage.native) & SIGNING_KEY_USAGES):
        usages = ", ".join(sorted(key_usage.native)) or "none"
        problems.append(
            f"certificate {who} is not for signing: key usage is {usages} (digitalSignature or nonRepudiation required)"
        )
    eku = cert.extended_key_usage_value
    if eku is not None:
        purposes = {str(p) for p in eku.native}
        eku_critical = any(
            ext["extn_id"].native == "extended_key_usage" and ext["critical"].native
            for ext in cert["tbs_certificate"]["extensions"]
        )
        if "time_stamping" in purposes and (eku_critical or not purposes & DOCUMENT_SIGNING_EKUS):
            problems.append(f"certificate {who} is a timestamping (TSA) certificate; it cannot sign documents")
        elif not purposes & DOCUMENT_SIGNING_EKUS:
            listed = ", ".join(sorted(purposes))
            problems.append(f"certificate {who} is restricted to {listed}; none of these covers document signing")
    return problems


def signer_certificate_problems(cert: asn1_x509.Certificate, at: datetime | None = None) -> list[str]:
    """Every reason ``cert`` may not sign a document (at ``at``, when given); empty when it may."""
    problems = purpose_problems(cert)
    if at is not None:
        problems.extend(validity_problems(cert, at))
    return problems
