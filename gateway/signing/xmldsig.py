"""The optional package-level edXML ``Signature`` (QCVN 102:2016 §1.5): produce it, verify it.

The VPCP SDK writes an XML-DSig-shaped element as the third child of ``edXMLHeader`` — but
**unprefixed, in the edXML namespace** instead of xmldsig's, with ``Reference URI=""`` and the
enveloped-signature transform, and ``KeyInfo/X509Data/(X509SubjectName, X509Certificate)``.

How we give that form a verifiable meaning: the signature is an ordinary enveloped XML-DSig
signature (computed by signxml over the whole package minus the signature) whose elements are
then *relabelled* from the xmldsig namespace into the edXML namespace. Verification relabels
them back (in a copy) and checks it as a standard signature: signxml here, ``xmlsec1`` in the
tests. Because the ``SignedInfo`` was canonicalised in the xmldsig namespace, the relabelling is
part of the format, and the SDK's own dummy signatures will (correctly) not verify.

Algorithms: we emit RSA-SHA256 / SHA-256 (signxml refuses SHA-1 for signing, rightly); the SDK
samples use SHA-1, which :func:`verify_edxml_signature` accepts and flags as weak.

Everything here works on lxml trees so it does not depend on the edXML model; untrusted bytes
go through :func:`gateway.xml.parse_xml` first.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml.algorithms import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
)
from signxml.exceptions import InvalidCertificate, InvalidDigest, InvalidInput, InvalidSignature
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from gateway.errors import EdxmlFormatError, SigningError
from gateway.signing.keys import PrivateKey
from gateway.xml import parse_xml

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
_E = f"{{{EDXML_NS}}}"


def _header(root: etree._Element) -> etree._Element:
    header = root.find(f"{_E}edXMLEnvelope/{_E}edXMLHeader")
    if header is None:
        raise EdxmlFormatError("not an edXML package: no edXML:edXMLEnvelope/edXML:edXMLHeader")
    return header


def _relabel(el: etree._Element, ns: str, nsmap: dict[str | None, str] | None) -> etree._Element:
    """Copy ``el``'s subtree with every element moved into ``ns`` (attributes, text, tails kept)."""
    local = etree.QName(el).localname
    tag = f"{{{ns}}}{local}"
    new = etree.Element(tag, nsmap=nsmap) if nsmap else etree.Element(tag)  # type: ignore[arg-type]
    for k, v in el.attrib.items():
        new.set(k, v)
    new.text = el.text
    for child in el:
        if not isinstance(child.tag, str):
            continue  # comments / processing instructions inside a signature are dropped
        sub = _relabel(child, ns, None)
        sub.tail = child.tail
        new.append(sub)
    return new


def _replace(old: etree._Element, new: etree._Element) -> None:
    new.tail = old.tail
    parent = old.getparent()
    assert parent is not None
    parent.replace(old, new)


def _find_signature(header: etree._Element) -> etree._Element | None:
    for child in header:
        if isinstance(child.tag, str) and etree.QName(child).localname == "Signature":
            return child
    return None


def sign_edxml(
    root: etree._Element,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
) -> etree._Element:
    """Return a signed copy of the package ``root`` with the SDK-form ``Signature`` in its header.

    ``key`` must be an already-loaded key object (parsing PEM on every call costs ~28 ms).
    Any existing header ``Signature`` is replaced.
    """
    doc = copy.deepcopy(root)
    header = _header(doc)
    old = _find_signature(header)
    placeholder = etree.Element(f"{{{DS_NS}}}Signature", nsmap={"ds": DS_NS}, Id="placeholder")
    if old is not None:
        _replace(old, placeholder)
    else:
        trace = header.find(f"{_E}TraceHeaderList")
        index = header.index(trace) + 1 if trace is not None else len(header)
        header.insert(index, placeholder)
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    certs = [c.public_bytes(serialization.Encoding.PEM).decode() for c in (certificate, *chain)]
    try:
        signed = signer.sign(doc, key=key, cert=certs)
    except (InvalidInput, ValueError, TypeError) as exc:
        raise SigningError(f"cannot sign the edXML package: {exc}") from exc
    header = _header(signed)
    ds_sig = signed.find(f".//{{{DS_NS}}}Signature")
    assert ds_sig is not None
    sdk_sig = _relabel(ds_sig, EDXML_NS, {None: EDXML_NS})  # unprefixed, like the SDK
    x509_data = sdk_sig.find(f"{_E}KeyInfo/{_E}X509Data")
    if x509_data is not None:  # the SDK puts the subject name before the certificate
        name = etree.Element(f"{_E}X509SubjectName")
        name.text = certificate.subject.rfc4514_string()
        x509_data.insert(0, name)
    # lxml re-prefixes a moved element with the nearest declaration of its namespace (here the
    # envelope's "edXML:"), so splice the unprefixed form in at the byte level and re-parse.
    marker = etree.ProcessingInstruction("lienthong-edxml-signature")
    _replace(ds_sig, marker)
    doc_bytes = etree.tostring(signed, encoding="UTF-8")
    marker_bytes = etree.tostring(marker)
    if doc_bytes.count(marker_bytes) != 1:
        raise SigningError("cannot place the edXML Signature (marker not unique)")
    sig_bytes = etree.tostring(sdk_sig)  # ASCII with character references: safe inside UTF-8
    return parse_xml(doc_bytes.replace(marker_bytes, sig_bytes), source="signed edXML")


@dataclass(frozen=True)
class XmlSignatureReport:
    """Verdict on the package-level signature; ``present=False`` when the package has none."""

    present: bool
    valid: bool
    reasons: tuple[str, ...] = ()
    signer_subject: str | None = None
    weak_algorithm: bool = False

    def to_dict(self) -> dict[str, object]:
        return {
            "present": self.present,
            "valid": self.valid,
            "reasons": list(self.reasons),
            "signer_subject": self.signer_subject,
            "weak_algorithm": self.weak_algorithm,
        }


def to_xmldsig_form(root: etree._Element) -> etree._Element:
    """A copy of the package whose header ``Signature`` is relabelled into the xmldsig namespace.

    This is what standard verifiers (xmlsec1, signxml) understand; see the module notes.
    """
    doc = copy.deepcopy(root)
    sig = _find_signature(_header(doc))
    if sig is not None and etree.QName(sig).namespace != DS_NS:
        _replace(sig, _relabel(sig, DS_NS, {"ds": DS_NS}))
    return doc


def _signer_subject(signature: etree._Element, key: bytes) -> str | None:
    """Subject of the KeyInfo certificate whose public key verified the signature."""
    import base64

    for el in signature.iter(f"{{{DS_NS}}}X509Certificate"):
        try:
            cert = x509.load_der_x509_certificate(base64.b64decode("".join((el.text or "").split())))
        except ValueError:
            continue
        pem = cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if pem.strip() == key.strip():
            return cert.subject.rfc4514_string()
    return None


_ACCEPTED = SignatureConfiguration(
    signature_methods=frozenset(
        {
            SignatureMethod.RSA_SHA256,
            SignatureMethod.RSA_SHA1,
            SignatureMethod.RSA_SHA384,
            SignatureMethod.RSA_SHA512,
        }
    ),
    digest_algorithms=frozenset(
        {DigestAlgorithm.SHA256, DigestAlgorithm.SHA1, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
    ),
)


def verify_edxml_signature(
    data: bytes | etree._Element, ca_pem_file: str | os.PathLike[str], *, source: str | None = None
) -> XmlSignatureReport:
    """Check the package's header ``Signature`` against the roots in the PEM bundle ``ca_pem_file``.

    Never raises on a bad signature; an unreadable package still raises the parser's
    :class:`~gateway.errors.XmlError`. The certificate chain is checked by cryptography's strict
    RFC 5280 verifier (via signxml), so intermediates must travel in ``KeyInfo``.
    """
    root = parse_xml(data, source=source) if isinstance(data, bytes) else data
    sig = _find_signature(_header(root))
    if sig is None:
        return XmlSignatureReport(present=False, valid=False, reasons=("no package-level Signature",))
    algos = " ".join(el.get("Algorithm", "") for el in sig.iter() if isinstance(el.tag, str))
    weak = "sha1" in algos.lower()
    mapped = to_xmldsig_form(root)
    try:
        result = XMLVerifier().verify(mapped, ca_pem_file=os.fspath(ca_pem_file), expect_config=_ACCEPTED)
    except InvalidDigest:
        return XmlSignatureReport(
            True,
            False,
            ("modified after signing: a signed element changed (digest mismatch)",),
            weak_algorithm=weak,
        )
    except InvalidCertificate as exc:
        return XmlSignatureReport(True, False, (f"untrusted root or unusable certificate: {exc}",), weak_algorithm=weak)
    except InvalidSignature as exc:
        return XmlSignatureReport(True, False, (f"invalid signature: {exc}",), weak_algorithm=weak)
    except (InvalidInput, etree.DocumentInvalid) as exc:  # signxml checks the Signature against the XML-DSig schema
        return XmlSignatureReport(True, False, (f"malformed signature: {exc}",), weak_algorithm=weak)
    results = result if isinstance(result, list) else [result]
    reasons: list[str] = []
    # Whole package = every Reference is the enveloping document (URI=""). signxml hands back the
    # referenced elements as detached copies, so their place in the tree cannot tell; read the URIs.
    uris = [el.get("URI") for el in sig.iter() if isinstance(el.tag, str) and etree.QName(el).localname == "Reference"]
    if not uris or any(uri != "" for uri in uris) or any(r.signed_xml is None for r in results):
        reasons.append("the signature does not cover the whole package")
    subject = _signer_subject(results[0].signature_xml, results[0].signature_key)
    return XmlSignatureReport(True, not reasons, tuple(reasons), signer_subject=subject, weak_algorithm=weak)
