"""The CMS pieces :class:`~gateway.signing.keys.CachedKeySigner` keeps between signatures.

It assembles the signed attributes from parsed parts instead of pyHanko's own assembly (five
times cheaper: asn1crypto re-encodes built values at every read). The bytes must be exactly what
pyHanko would sign, for every certificate the signer is given, and a kept part must never carry
over to another certificate.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from asn1crypto import cms
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.signers.pdf_cms import Signer

from gateway.signing.keys import CachedKeySigner, open_key
from gateway.signing.profiles import load_signing_settings
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import make_sample_pdf
from gateway.signing.verify import verify_pdf

from .conftest import PKI


def _pyhanko_attrs(signer: CachedKeySigner, digest: bytes, *, pades: bool) -> bytes:
    """The signed attributes pyHanko itself assembles for the same certificate and digest."""
    plain = SimpleSigner(signing_cert=signer.signing_cert, signing_key=signer.signing_key,
                         cert_registry=signer.cert_registry)
    return bytes(asyncio.run(Signer.signed_attrs(plain, digest, "sha256", use_pades=pades)).dump())


def _ours(signer: CachedKeySigner, digest: bytes, *, pades: bool) -> bytes:
    return bytes(asyncio.run(signer.signed_attrs(digest, "sha256", use_pades=pades)).dump())


@pytest.mark.parametrize("profile", ["ubnd-thu-nghiem", "nguyen-van-an"])
@pytest.mark.parametrize("pades", [True, False])
def test_signed_attributes_are_byte_identical_to_pyhanko(profile: str, pades: bool) -> None:
    signer = open_key(load_signing_settings(PKI / "profiles.toml").profile(profile).key).signer
    assert isinstance(signer, CachedKeySigner)
    for n in range(3):  # the first signature builds the kept parts, the next ones reuse them
        digest = hashlib.sha256(b"document %d" % n).digest()
        if not pades:  # CAdES adds signing-time at the current second: compare within one second
            for _ in range(3):
                ours, theirs = _ours(signer, digest, pades=False), _pyhanko_attrs(signer, digest, pades=False)
                if ours == theirs:
                    break
        else:
            ours, theirs = _ours(signer, digest, pades=True), _pyhanko_attrs(signer, digest, pades=True)
        assert ours == theirs
        assert digest in ours


def test_kept_signing_certificate_attribute_follows_the_certificate() -> None:
    settings = load_signing_settings(PKI / "profiles.toml")
    agency = open_key(settings.profile("ubnd-thu-nghiem").key).signer
    person = open_key(settings.profile("nguyen-van-an").key).signer
    assert isinstance(agency, CachedKeySigner) and isinstance(person, CachedKeySigner)
    digest = hashlib.sha256(b"same document").digest()

    def cert_hash(der: bytes) -> bytes:
        attrs = cms.CMSAttributes.load(der)
        value = next(a["values"][0] for a in attrs if a["type"].native == "signing_certificate_v2")
        return bytes(value["certs"][0]["cert_hash"].native)

    a1, p1 = _ours(agency, digest, pades=True), _ours(person, digest, pades=True)
    assert cert_hash(a1) == hashlib.sha256(agency.signing_cert.dump()).digest()
    assert cert_hash(p1) == hashlib.sha256(person.signing_cert.dump()).digest()
    # and again after both signers have kept their part
    assert cert_hash(_ours(agency, digest, pades=True)) != cert_hash(_ours(person, digest, pades=True))


def test_signatures_made_with_kept_parts_verify() -> None:
    settings = load_signing_settings(PKI / "profiles.toml")
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as signer:
        for n in range(3):
            report = verify_pdf(signer.sign_main(make_sample_pdf(1, number=n)), settings.trust)
            assert report.valid, report.to_dict()
