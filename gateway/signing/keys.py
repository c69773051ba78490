"""Key sources: turn a profile's key configuration into a pyHanko signer, loaded once and reused.

Three sources: a PKCS#12 file, a PEM/DER key with its certificate and chain, and a PKCS#11
token or HSM. File keys are parsed **once** into a cryptography key object and kept, because
pyHanko's ``SimpleSigner`` re-parses (and, with cryptography >= 42, re-validates) the RSA key on
every signature, which costs about 28 ms (toolchain-notes §3). PKCS#11 sessions are opened once
and closed with :meth:`KeyHandle.close`.

Secrets are resolved here and passed straight to the library; they never appear in an error
message: library errors are translated to the gateway tree with a generic, secret-free text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import cms
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.sign.attributes import CMSAttributeProvider, SigningCertificateV2Provider
from pyhanko.sign.general import simple_cms_attribute
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from gateway.errors import ConfigurationError, SignerUnavailableError, SigningError
from gateway.signing.profiles import KeyConfig, PemKeyConfig, Pkcs11KeyConfig, Pkcs12KeyConfig

log = logging.getLogger(__name__)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
    "sha1": hashes.SHA1,
}

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class _FrozenAttribute(CMSAttributeProvider):
    """A signed attribute that is the same in every signature of one certificate, built and parsed once."""

    def __init__(self, inner: CMSAttributeProvider):
        self.attribute_type = inner.attribute_type
        self._inner = inner
        self._attribute: cms.CMSAttribute | None = None

    async def get_attribute(self, dry_run: bool = False) -> cms.CMSAttribute | None:
        if self._attribute is None:
            built = await self._inner.get_attribute(dry_run=False)
            if built is None:
                return None
            self._attribute = cms.CMSAttribute.load(built.dump())
        return self._attribute


class CachedKeySigner(SimpleSigner):
    """A ``SimpleSigner`` that signs with a key object parsed once (RSA PKCS#1 v1.5 or ECDSA).

    It also keeps the CMS pieces that do not change between signatures, parsed from their DER.
    asn1crypto re-encodes a value *built* from Python objects at every ``dump()`` (its "mutated"
    flag is never cleared) and an encoding reads the contents of each level two or three times,
    so the signed attributes of one signature were encoded some 1,200 times: about 30 ms of the
    60 ms of CPU a B-B signature took. A value loaded from DER encodes as its cached bytes. Kept:

    * the ``signing-certificate-v2`` attribute (it depends only on :attr:`signing_cert`; a new
      certificate means a new signer, see :func:`open_key`, so it cannot go stale);
    * the whole signed-attribute set of each signature, assembled from parsed attributes and
      re-read from its DER, so hashing, the ``SignerInfo`` and the container do not encode it again.
    """

    def __init__(self, *, key: PrivateKey, signing_cert: asn1_x509.Certificate, chain: Iterable[Any]):
        der = key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        super().__init__(
            signing_cert=signing_cert,
            signing_key=asn1_keys.PrivateKeyInfo.load(der),
            cert_registry=SimpleCertificateStore.from_certs([signing_cert, *chain]),  # type: ignore[no-untyped-call]
        )
        self._key = key
        self._frozen: dict[bytes, _FrozenAttribute] = {}

    def _signed_attr_providers(self, *args: Any, **kwargs: Any) -> Iterable[CMSAttributeProvider]:
        for provider in super()._signed_attr_providers(*args, **kwargs):
            if type(provider) is SigningCertificateV2Provider:
                der = provider.signing_cert.dump()
                frozen = self._frozen.get(der)
                if frozen is None:
                    frozen = self._frozen[der] = _FrozenAttribute(provider)
                yield frozen
            else:
                yield provider

    async def signed_attrs(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        attr_settings: PdfCMSSignedAttributes | None = None,
        content_type: str = "data",
        use_pades: bool = False,
        timestamper: Any = None,
        dry_run: bool = False,
        is_pdf_sig: bool = True,
    ) -> cms.CMSAttributes:
        """pyHanko's signed attributes (same providers, same values), assembled from parsed parts.

        pyHanko's ``format_attributes`` rebuilds every attribute from its values, which undoes
        the frozen ones; here each attribute is kept as it came (or re-read from its DER once)
        and the SET OF is encoded once. Two attributes of one type are merged as pyHanko does.
        """
        providers = self._signed_attr_providers(
            data_digest=data_digest, digest_algorithm=digest_algorithm,
            attr_settings=attr_settings or PdfCMSSignedAttributes(), timestamper=timestamper,
            use_cades=use_pades, is_pdf_sig=is_pdf_sig,
        )
        found = [simple_cms_attribute("content_type", content_type),  # type: ignore[no-untyped-call]
                 simple_cms_attribute("message_digest", data_digest)]  # type: ignore[no-untyped-call]
        for provider in providers:
            attribute = await provider.get_attribute(dry_run=dry_run)
            if attribute is not None:
                found.append(attribute)
        types = [a["type"].dotted for a in found]
        if len(set(types)) != len(types):
            merged: dict[str, list[Any]] = {}
            for a in found:
                merged.setdefault(a["type"].dotted, []).extend(a["values"])
            found = [cms.CMSAttribute({"type": cms.CMSAttributeType(k), "values": v}) for k, v in merged.items()]
        parts = [a if isinstance(a, cms.CMSAttribute) and not a._is_mutated() else cms.CMSAttribute.load(a.dump())
                 for a in found]
        return cms.CMSAttributes.load(cms.CMSAttributes(parts).dump())

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        try:
            algo = _HASHES[digest_algorithm.lower()]()
        except KeyError:
            raise SigningError(f"unsupported digest algorithm {digest_algorithm}") from None
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), algo)
        return self._key.sign(data, ec.ECDSA(algo))


@dataclass
class KeyHandle:
    """A ready signer plus what must be released when done (a PKCS#11 session)."""

    signer: Signer
    certificate: asn1_x509.Certificate
    chain: tuple[asn1_x509.Certificate, ...] = ()
    private_key: PrivateKey | None = None  # only for file keys; used by the XML signature
    _session: Any = field(default=None, repr=False)

    def close(self) -> None:
        if self._session is not None:
            try:
                self._session.close()
            finally:
                self._session = None


def _to_asn1(cert: cx509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from exc


def load_certificates(paths: Iterable[Path]) -> list[cx509.Certificate]:
    """Read every certificate from PEM (possibly several per file) or DER files."""
    out: list[cx509.Certificate] = []
    for path in paths:
        data = _read(path, "certificate file")
        try:
            out.extend(
                cx509.load_pem_x509_certificates(data)
                if b"-----BEGIN" in data
                else [cx509.load_der_x509_certificate(data)]
            )
        except ValueError as exc:
            raise ConfigurationError(f"{path}: not a PEM or DER certificate") from exc
    return out


def _check_key(key: object, source: Path) -> PrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ConfigurationError(f"{source}: only RSA and EC keys are supported")
    return key


def _load_pkcs12(cfg: Pkcs12KeyConfig) -> KeyHandle:
    data = _read(cfg.path, "PKCS#12 file")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, cfg.passphrase.resolve())
    except ValueError as exc:
        # cryptography's message may say "invalid password"; it never contains the password.
        raise ConfigurationError(f"{cfg.path}: cannot open PKCS#12 (wrong passphrase or corrupt file)") from exc
    if key is None or cert is None:
        raise ConfigurationError(f"{cfg.path}: PKCS#12 holds no private key or no certificate")
    return _file_handle(_check_key(key, cfg.path), cert, extra)


def _load_pem(cfg: PemKeyConfig) -> KeyHandle:
    data = _read(cfg.key_path, "private key")
    secret = cfg.passphrase.resolve()
    try:
        if b"-----BEGIN" in data:
            key: object = serialization.load_pem_private_key(data, secret, unsafe_skip_rsa_key_validation=False)
        else:
            key = serialization.load_der_private_key(data, secret, unsafe_skip_rsa_key_validation=False)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{cfg.key_path}: cannot load private key (wrong passphrase or format)") from exc
    certs = load_certificates([cfg.cert_path])
    if not certs:
        raise ConfigurationError(f"{cfg.cert_path}: no certificate found")
    return _file_handle(_check_key(key, cfg.key_path), certs[0], load_certificates(cfg.chain_paths))


def _file_handle(key: PrivateKey, cert: cx509.Certificate, chain: Iterable[cx509.Certificate]) -> KeyHandle:
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise ConfigurationError(f"certificate {cert.subject.rfc4514_string()} does not match the private key")
    asn1_cert = _to_asn1(cert)
    asn1_chain = tuple(_to_asn1(c) for c in chain)
    return KeyHandle(
        signer=CachedKeySigner(key=key, signing_cert=asn1_cert, chain=asn1_chain),
        certificate=asn1_cert,
        chain=asn1_chain,
        private_key=key,
    )


def _load_pkcs11(cfg: Pkcs11KeyConfig) -> KeyHandle:
    from pkcs11 import exceptions as p11_exc
    from pyhanko.config.pkcs11 import TokenCriteria
    from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

    if not cfg.module.exists():
        raise ConfigurationError(f"PKCS#11 module {cfg.module} does not exist")
    pin = cfg.pin.resolve()
    try:
        session = open_pkcs11_session(
            str(cfg.module),
            slot_no=cfg.slot,
            token_criteria=TokenCriteria(label=cfg.token_label) if cfg.token_label else None,
            user_pin=pin.decode() if pin is not None else None,
        )
    except p11_exc.PinIncorrect as exc:
        raise ConfigurationError(f"PKCS#11 token {cfg.token_label or cfg.slot}: PIN rejected") from exc
    except (p11_exc.PKCS11Error, Exception) as exc:  # the token/HSM is absent or busy: retry later
        raise SignerUnavailableError(
            f"PKCS#11 token {cfg.token_label or cfg.slot} via {cfg.module} unavailable: {type(exc).__name__}"
        ) from exc
    signing_cert = None
    if cfg.cert_path is not None:
        signing_cert = _to_asn1(load_certificates([cfg.cert_path])[0])
    chain = tuple(_to_asn1(c) for c in load_certificates(cfg.chain_paths))
    try:
        signer = PKCS11Signer(
            session,
            cert_label=cfg.cert_label if signing_cert is None else None,
            signing_cert=signing_cert,
            key_label=cfg.key_label or cfg.cert_label,
            ca_chain=chain,
        )
        cert = signer.signing_cert  # forces the certificate lookup now, not at the first document
    except Exception as exc:
        session.close()
        raise ConfigurationError(
            f"PKCS#11 token {cfg.token_label or cfg.slot}: key {cfg.key_label!r} / certificate "
            f"{cfg.cert_label!r} not found or unusable ({type(exc).__name__})"
        ) from exc
    return KeyHandle(signer=signer, certificate=cert, chain=chain, _session=session)


def open_key(cfg: KeyConfig) -> KeyHandle:
    """Open the key a profile names; the caller keeps the handle for many documents."""
    if isinstance(cfg, Pkcs12KeyConfig):
        return _load_pkcs12(cfg)
    if isinstance(cfg, PemKeyConfig):
        return _load_pem(cfg)
    return _load_pkcs11(cfg)
