"""Certificates the committed test PKI does not have, issued inside the tests (never committed):
expired, not-yet-valid, SHA-1-era, a TSA under the untrusted root. Plus a signer that uses
pyHanko directly, so these tests do not depend on lienthong's own signing refusals."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.stamp import BaseStampStyle

PKI = Path(__file__).resolve().parents[2] / "certs.example"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # one key for every extra cert


def _load(name: str) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert = x509.load_pem_x509_certificate((PKI / f"{name}.pem").read_bytes())
    key = serialization.load_pem_private_key((PKI / f"{name}.key.pem").read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return cert, key


def issue(
    tmp: Path,
    cn: str,
    *,
    not_before: datetime,
    not_after: datetime,
    issuer: str = "intermediate-ca",
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = False,
    ocsp_url: str | None = None,
) -> tuple[Path, Path, Path]:
    """(key, cert, chain) PEM files of a new person-like certificate issued by ``issuer``;
    ``ocsp_url`` declares an OCSP responder (AIA) so that validators look for OCSP responses."""
    ca_cert, ca_key = _load(issuer)
    name = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"), x509.NameAttribute(NameOID.USER_ID, "CCCD:1"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(ca_cert.subject)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    if ocsp_url:
        aia = x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))
        builder = builder.add_extension(x509.AuthorityInformationAccess([aia]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    stem = tmp / cn.replace(" ", "-")
    key_path, cert_path, chain_path = stem.with_suffix(".key.pem"), stem.with_suffix(".pem"), stem.with_suffix(".chain.pem")
    key_path.write_bytes(_KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    chain_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path, chain_path


def now() -> datetime:
    return datetime.now(UTC)


def tsa_eku() -> list[x509.ObjectIdentifier]:
    return [ExtendedKeyUsageOID.TIME_STAMPING]


def pyhanko_sign(
    pdf: bytes,
    key: Path,
    cert: Path,
    chain: tuple[Path, ...] = (),
    *,
    field: str = "NguoiKy1",
    box: tuple[int, int, int, int] | None = (360, 230, 460, 280),
    page: int = -1,
    md: str = "sha256",
    stamp: BaseStampStyle | None = None,
    timestamper: object | None = None,
    certify: bool = False,
    docmdp: object | None = None,
    subfilter: fields.SigSeedSubFilter = fields.SigSeedSubFilter.PADES,
) -> bytes:
    """Sign with pyHanko itself (no lienthong policy), in a new visible field by default."""
    signer = signers.SimpleSigner.load(str(key), str(cert), ca_chain_files=tuple(str(c) for c in chain))
    assert signer is not None
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm=md, subfilter=subfilter,
                                        certify=certify, **({"docmdp_permissions": docmdp} if docmdp else {}))
    w = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    spec = fields.SigFieldSpec(field, on_page=page, box=box) if box else None
    pdf_signer = signers.PdfSigner(meta, signer, stamp_style=stamp, timestamper=timestamper, new_field_spec=spec)
    out = pdf_signer.sign_pdf(w)
    return out.getvalue()


def days(n: int) -> timedelta:
    return timedelta(days=n)
