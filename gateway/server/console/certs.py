"""Expiry of the signing profiles' certificates (the overview's "certificate expiry" table).

Read from the profiles file the hub is configured with: a PEM profile's ``cert_path`` and chain,
a PKCS#12 file (opened with its configured passphrase, which is never shown or logged), a PKCS#11
profile's ``cert_path`` when one is given (a certificate that lives only on the token is reported
as such, the console does not log in to tokens). The trust roots and intermediates are listed too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from gateway.errors import GatewayError
from gateway.signing.profiles import Pkcs11KeyConfig, Pkcs12KeyConfig, SigningSettings

WARN_DAYS = 30


@dataclass(frozen=True, slots=True)
class CertExpiry:
    owner: str  # profile name or "trust root" / "intermediate"
    subject: str
    not_after: datetime | None
    problem: str | None = None

    @property
    def days_left(self) -> int | None:
        if self.not_after is None:
            return None
        return (self.not_after - datetime.now(UTC).replace(tzinfo=None)).days

    @property
    def warn(self) -> bool:
        days = self.days_left
        return days is not None and days < WARN_DAYS


def _load(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def _row(owner: str, cert: x509.Certificate) -> CertExpiry:
    return CertExpiry(owner, cert.subject.rfc4514_string(), cert.not_valid_after_utc.replace(tzinfo=None))


def _problem(owner: str, message: str) -> CertExpiry:
    return CertExpiry(owner, "", None, problem=message)


def certificate_expiry(settings: SigningSettings) -> list[CertExpiry]:
    """One row per certificate (profiles first, then trust anchors), soonest expiry first per group."""
    rows: list[CertExpiry] = []
    for name, profile in sorted(settings.profiles.items()):
        key = profile.key
        try:
            if isinstance(key, Pkcs12KeyConfig):
                secret = key.passphrase.resolve()
                _, cert, _chain = pkcs12.load_key_and_certificates(key.path.read_bytes(), secret)
                rows.append(
                    _row(name, cert) if cert is not None else _problem(name, "no certificate in the PKCS#12 file")
                )
            elif isinstance(key, Pkcs11KeyConfig):
                if key.cert_path is None:
                    rows.append(_problem(name, "certificate on the PKCS#11 token (not read by the console)"))
                else:
                    rows.append(_row(name, _load(key.cert_path)[0]))
            else:
                rows.append(_row(name, _load(key.cert_path)[0]))
        except (OSError, ValueError, GatewayError) as exc:
            rows.append(_problem(name, f"cannot read the certificate: {type(exc).__name__}"))
    for owner, paths in (("trust root", settings.trust.roots), ("intermediate", settings.trust.intermediates)):
        for path in paths:
            try:
                rows.extend(_row(owner, c) for c in _load(path))
            except (OSError, ValueError) as exc:
                rows.append(_problem(owner, f"{path.name}: {type(exc).__name__}"))
    return rows


__all__ = ["CertExpiry", "certificate_expiry"]
