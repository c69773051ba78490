"""Trust anchors, intermediates and CRLs turned into pyHanko validation contexts.

Nothing is ever fetched from the network (``allow_fetching=False``): revocation data comes from
the configured CRL files and from validation data embedded in the PDF (its DSS, for B-LT).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import ValidationContext

from gateway.errors import ConfigurationError
from gateway.signing.keys import load_certificates
from gateway.signing.profiles import TrustConfig


def load_crls(paths: Iterable[Path]) -> list[asn1_crl.CertificateList]:
    """Read DER or PEM CRL files."""
    out: list[asn1_crl.CertificateList] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read CRL {path}: {exc.strerror}") from exc
        if data.lstrip().startswith(b"-----BEGIN"):
            from cryptography import x509

            try:
                data = x509.load_pem_x509_crl(data).public_bytes(serialization.Encoding.DER)
            except ValueError as exc:
                raise ConfigurationError(f"{path}: not a PEM CRL") from exc
        try:
            crl = asn1_crl.CertificateList.load(data)
            _ = crl.native  # parse fully now: a corrupt CRL is a configuration error, not a verify-time crash
        except ValueError as exc:
            raise ConfigurationError(f"{path}: not a DER CRL") from exc
        out.append(crl)
    return out


def _asn1(paths: Iterable[Path]) -> list[asn1_x509.Certificate]:
    return [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in load_certificates(paths)]


def validation_context(
    trust: TrustConfig,
    *,
    revocation_mode: str = "soft-fail",
    extra_certs: Iterable[asn1_x509.Certificate] = (),
    extra_crls: Iterable[asn1_crl.CertificateList] = (),
    extra_ocsps: Iterable[object] = (),
) -> ValidationContext:
    """A fresh context (they cache validation state, so use one per verification run).

    ``soft-fail`` still reports a certificate that a CRL lists as revoked; it only tolerates
    certificates for which no revocation data is available at all.
    """
    roots = _asn1(trust.roots)
    if not roots:
        raise ConfigurationError("no trust roots configured ([trust] roots)")
    return ValidationContext(
        trust_roots=roots,
        other_certs=[*_asn1(trust.intermediates), *extra_certs],
        crls=[*load_crls(trust.crls), *extra_crls],
        ocsps=list(extra_ocsps),
        allow_fetching=False,
        revocation_mode=revocation_mode,
    )
