"""Regenerate the throwaway test PKI in this folder (or in another folder given as argument).

NOTHING made by this script may be used in production: every private key is written to disk
unencrypted or with a published passphrase.

Tree (all RSA-2048, SHA-256, fixed serial numbers and validity dates so reruns only change keys):

    root-ca                   "Lienthong Test Root CA"            (self-signed, trust anchor)
    └── intermediate-ca       "Lienthong Test Issuing CA"         (pathlen 0)
        ├── agency            agency seal certificate (UBND tỉnh Thử Nghiệm)
        ├── signer            person signer certificate (Nguyễn Văn An, Chủ tịch)
        ├── tsa               timestamp authority (critical EKU timeStamping)
        └── revoked           a person certificate listed in intermediate.crl
    untrusted-root-ca         a second, never-trusted root
    └── untrusted-signer      signs like a normal signer; must be reported "untrusted root"

Every certificate carries BasicConstraints, KeyUsage, SubjectKeyIdentifier and (non-roots)
AuthorityKeyIdentifier, because strict verifiers (cryptography's RFC 5280 verifier used by signxml,
NSS used by poppler's pdfsig) reject certificates without them. Leaves carry a CRL distribution
point so revocation checkers know which CRL covers them; nothing is ever fetched from it.

Also written: PKCS#12 bundles (passphrase in ``pkcs12-passphrase.txt``), chain files, the two CRLs,
a red seal PNG and a blue handwritten-signature PNG, both with transparent backgrounds.

Run: ``python certs.example/make_pki.py [OUTDIR]`` (about 1 s).
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PASSPHRASE = b"lienthong-test-only"
NOT_BEFORE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
NOT_AFTER = dt.datetime(2046, 1, 1, tzinfo=dt.UTC)
REVOKED_AT = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
CRL_BASE = "http://127.0.0.1/lienthong-test-pki/"


def _name(cn: str, org: str | None = None, **extra: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if "title" in extra:
        attrs.append(x509.NameAttribute(NameOID.TITLE, extra["title"]))
    if "uid" in extra:
        attrs.append(x509.NameAttribute(NameOID.USER_ID, extra["uid"]))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    serial: int,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None,
    *,
    ca: bool,
    path_len: int | None = None,
    eku: list[x509.ObjectIdentifier] | None = None,
    crl_name: str | None = None,
) -> x509.Certificate:
    issuer_name = issuer[0].subject if issuer else subject
    signing_key = issuer[1] if issuer else key
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        ku = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        ku = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    b = b.add_extension(ku, critical=True)
    if issuer:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False
        )
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    if crl_name:
        dp = x509.DistributionPoint([x509.UniformResourceIdentifier(CRL_BASE + crl_name)], None, None, None)
        b = b.add_extension(x509.CRLDistributionPoints([dp]), critical=False)
    return b.sign(signing_key, hashes.SHA256())


def _crl(
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey], revoked: list[x509.Certificate], number: int
) -> x509.CertificateRevocationList:
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer[0].subject)
        .last_update(NOT_BEFORE)
        .next_update(NOT_AFTER)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False
        )
    )
    for cert in revoked:
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(REVOKED_AT)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
        b = b.add_revoked_certificate(entry)
    return b.sign(issuer[1], hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _seal_png(path: Path) -> None:
    """A red round seal (ring, inner ring, star), transparent outside: stands in for a real seal scan."""
    from PIL import Image, ImageDraw

    size = 480
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    red = (218, 30, 40, 235)
    d.ellipse((8, 8, size - 8, size - 8), outline=red, width=18)
    d.ellipse((70, 70, size - 70, size - 70), outline=red, width=8)
    cx = cy = size / 2
    pts = []
    for i in range(10):
        r = 110 if i % 2 == 0 else 45
        a = -math.pi / 2 + i * math.pi / 5
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    d.polygon(pts, fill=red)
    for i in range(24):  # tick marks standing in for the seal's circular lettering
        a = i * 2 * math.pi / 24
        d.line(
            (cx + 175 * math.cos(a), cy + 175 * math.sin(a), cx + 200 * math.cos(a), cy + 200 * math.sin(a)),
            fill=red,
            width=10,
        )
    img.save(path, optimize=True)


def _signature_png(path: Path) -> None:
    """A blue handwritten-looking stroke on a transparent background."""
    from PIL import Image, ImageDraw

    w, h = 600, 240
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    blue = (20, 50, 200, 255)
    pts = [(40 + x, 130 - 70 * math.sin(x / 38.0) * math.exp(-x / 900.0)) for x in range(0, 520, 4)]
    d.line(pts, fill=blue, width=9, joint="curve")
    d.line([(90, 200), (520, 170)], fill=blue, width=6)
    img.save(path, optimize=True)


def make_pki(out: Path) -> None:
    """Write the whole test PKI into ``out`` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    root_key = _key()
    root = _cert(
        _name("Lienthong Test Root CA", "Lienthong Test PKI"), root_key, 1, None, ca=True, path_len=1
    )
    inter_key = _key()
    inter = _cert(
        _name("Lienthong Test Issuing CA", "Lienthong Test PKI"),
        inter_key,
        2,
        (root, root_key),
        ca=True,
        path_len=0,
        crl_name="root.crl",
    )
    issuing = (inter, inter_key)
    leaves: dict[str, tuple[x509.Certificate, rsa.RSAPrivateKey]] = {}
    specs: list[tuple[str, int, x509.Name, list[x509.ObjectIdentifier] | None]] = [
        ("agency", 0x1001, _name("UBND tỉnh Thử Nghiệm", "UBND tỉnh Thử Nghiệm"), None),
        (
            "signer",
            0x1002,
            _name("Nguyễn Văn An", "UBND tỉnh Thử Nghiệm", title="Chủ tịch", uid="CCCD:001080000001"),
            None,
        ),
        (
            "tsa",
            0x1003,
            _name("Lienthong Test TSA", "Lienthong Test PKI"),
            [ExtendedKeyUsageOID.TIME_STAMPING],
        ),
        (
            "revoked",
            0x1004,
            _name("Trần Thị Thu Hồi", "UBND tỉnh Thử Nghiệm", title="Phó Chủ tịch", uid="CCCD:001080000002"),
            None,
        ),
    ]
    for name, serial, subject, eku in specs:
        key = _key()
        leaves[name] = (
            _cert(subject, key, serial, issuing, ca=False, eku=eku, crl_name="intermediate.crl"),
            key,
        )

    rogue_key = _key()
    rogue = _cert(_name("Untrusted Root CA", "Nobody"), rogue_key, 1, None, ca=True, path_len=0)
    ukey = _key()
    leaves["untrusted-signer"] = (
        _cert(
            _name("Người Lạ", "Nobody", uid="CCCD:000000000000"), ukey, 0x2001, (rogue, rogue_key), ca=False
        ),
        ukey,
    )

    (out / "root-ca.pem").write_bytes(_pem(root))
    (out / "intermediate-ca.pem").write_bytes(_pem(inter))
    (out / "untrusted-root-ca.pem").write_bytes(_pem(rogue))
    _write_key(out / "root-ca.key.pem", root_key)
    _write_key(out / "intermediate-ca.key.pem", inter_key)
    _write_key(out / "untrusted-root-ca.key.pem", rogue_key)
    for name, (cert, key) in leaves.items():
        (out / f"{name}.pem").write_bytes(_pem(cert))
        _write_key(out / f"{name}.key.pem", key)
        issuer_pem = _pem(rogue) if name == "untrusted-signer" else _pem(inter) + _pem(root)
        (out / f"{name}.chain.pem").write_bytes(issuer_pem)
        cas = [rogue] if name == "untrusted-signer" else [inter, root]
        p12 = pkcs12.serialize_key_and_certificates(
            name.encode(), key, cert, cas, serialization.BestAvailableEncryption(PASSPHRASE)
        )
        (out / f"{name}.p12").write_bytes(p12)
    (out / "pkcs12-passphrase.txt").write_bytes(PASSPHRASE + b"\n")
    (out / "root.crl").write_bytes(_crl((root, root_key), [], 1).public_bytes(serialization.Encoding.DER))
    inter_crl = _crl(issuing, [leaves["revoked"][0]], 1)
    (out / "intermediate.crl").write_bytes(inter_crl.public_bytes(serialization.Encoding.DER))
    _seal_png(out / "seal.png")
    _signature_png(out / "signature.png")


if __name__ == "__main__":
    make_pki(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
