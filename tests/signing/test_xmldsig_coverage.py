"""The package Signature must cover the whole package and its value must verify."""

from __future__ import annotations

import base64
import re

from lxml import etree
from signxml.signer import XMLSigner

from gateway.signing import xmldsig
from gateway.signing.xmldsig import sign_edxml, verify_edxml_signature

from .test_xmldsig import E, agency_key, build_package, signed_bytes  # noqa: F401 (fixtures)


def test_flipped_signature_value_is_invalid(signed_bytes, pki):
    m = re.search(rb"<SignatureValue>([^<]+)</SignatureValue>", signed_bytes)
    assert m is not None
    raw = bytearray(base64.b64decode(b"".join(m.group(1).split())))
    raw[10] ^= 0x01
    tampered = signed_bytes.replace(m.group(1), base64.b64encode(bytes(raw)), 1)
    report = verify_edxml_signature(tampered, pki / "root-ca.pem")
    assert report.present and not report.valid
    assert report.reasons[0].startswith("invalid signature")


def test_signature_over_only_the_message_header_is_refused(agency_key, pki, monkeypatch):
    key, cert, chain = agency_key

    class HeaderOnly(XMLSigner):
        def sign(self, data, **kw):  # type: ignore[no-untyped-def]
            return super().sign(data, reference_uri="#mh", **kw)

    root = build_package()
    root.find(f"{E}edXMLEnvelope/{E}edXMLHeader/{E}MessageHeader").set("Id", "mh")
    monkeypatch.setattr(xmldsig, "XMLSigner", HeaderOnly)
    partial = etree.tostring(sign_edxml(root, key, cert, chain))
    report = verify_edxml_signature(partial, pki / "root-ca.pem")
    assert report.present and not report.valid
    assert report.reasons == ("the signature does not cover the whole package",)
