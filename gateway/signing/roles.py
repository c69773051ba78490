"""Whose signature is this: the agency's seal or a person's? Decided by the certificate.

A field name (``CoQuan1``, ``NguoiKy1``) is chosen by whoever signs, so it proves nothing: a
personal certificate in a field named like the seal's is still a person's signature. The role
comes, in this order, from

1. the trust configuration (``[trust]`` of the signing profiles): an exact certificate listed in
   ``agency_certificates`` / ``person_certificates``, an issuing CA listed in ``agency_issuers`` /
   ``person_issuers`` (CAs that issue only seal or only personal certificates), or a
   certificatePolicies OID in ``agency_policy_oids`` / ``person_policy_oids``;
2. otherwise the certificate subject as its CA wrote it: a person identifier (UID such as
   ``CCCD:…``/``CMND:…``, title, given name/surname, pseudonym) means a person; an
   organisation certificate (common name equal to the organisation, no person attribute)
   means the agency;
3. otherwise ``unknown`` — never guessed from the field name.

``role_source`` in the report says which rule decided.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization

from gateway.signing.keys import load_certificates
from gateway.signing.profiles import TrustConfig

AGENCY, PERSON, UNKNOWN = "agency", "signer", "unknown"
_PERSON_ATTRIBUTES = ("user_id", "title", "given_name", "surname", "pseudonym")


@lru_cache(maxsize=64)
def _fingerprints(paths: tuple[Path, ...]) -> frozenset[str]:
    certs = load_certificates(paths) if paths else []
    return frozenset(hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest() for c in certs)


@lru_cache(maxsize=64)
def _subjects(paths: tuple[Path, ...]) -> frozenset[bytes]:
    certs = load_certificates(paths) if paths else []
    return frozenset(c.subject.public_bytes() for c in certs)


def _policies(cert: asn1_x509.Certificate) -> set[str]:
    value = cert.certificate_policies_value
    if value is None:
        return set()
    return {p["policy_identifier"].dotted for p in value}


def decide_role(cert: asn1_x509.Certificate | None, trust: TrustConfig) -> tuple[str, str]:
    """(role, what decided it) for a signer certificate; ``("unknown", …)`` when nothing does."""
    if cert is None:
        return UNKNOWN, "no signer certificate"
    fingerprint = hashlib.sha256(cert.dump()).hexdigest()
    if fingerprint in _fingerprints(trust.agency_certificates):
        return AGENCY, "trust configuration: agency_certificates"
    if fingerprint in _fingerprints(trust.person_certificates):
        return PERSON, "trust configuration: person_certificates"
    issuer = cert.issuer.dump()
    if issuer in _subjects(trust.agency_issuers):
        return AGENCY, "trust configuration: agency_issuers"
    if issuer in _subjects(trust.person_issuers):
        return PERSON, "trust configuration: person_issuers"
    policies = _policies(cert)
    if policies & set(trust.agency_policy_oids):
        return AGENCY, "trust configuration: agency_policy_oids"
    if policies & set(trust.person_policy_oids):
        return PERSON, "trust configuration: person_policy_oids"
    subject = cert.subject.native
    if any(k in subject for k in _PERSON_ATTRIBUTES):
        return PERSON, "certificate subject (person identifier)"
    cn, org = subject.get("common_name"), subject.get("organization_name")
    if cn and cn == org:
        return AGENCY, "certificate subject (organisation certificate)"
    return UNKNOWN, "neither the trust configuration nor the certificate subject names the role"
