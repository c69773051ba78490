"""The package-level edXML Signature: SDK form, our verifier, xmlsec1 as the independent one."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml.signer import XMLSigner

from gateway.errors import EdxmlFormatError, SigningError, XmlError, XmlLimitError
from gateway.signing import xmldsig
from gateway.signing.xmldsig import (
    DS_NS,
    EDXML_NS,
    XmlSignatureReport,
    sign_edxml,
    to_xmldsig_form,
    verify_edxml_signature,
)
from gateway.xml import parse_xml

from .conftest import need

E = f"{{{EDXML_NS}}}"


def build_package() -> etree._Element:
    """A small edXML package built with lxml directly (shared doc §1.2 / §1.4)."""
    root = etree.Element(f"{E}edXML", nsmap={None: EDXML_NS})
    env = etree.SubElement(root, f"{E}edXMLEnvelope", nsmap={"edXML": EDXML_NS})
    header = etree.SubElement(env, f"{E}edXMLHeader")
    mh = etree.SubElement(header, f"{E}MessageHeader")
    frm = etree.SubElement(mh, f"{E}From")
    etree.SubElement(frm, f"{E}OrganId").text = "000.00.00.H99"
    etree.SubElement(frm, f"{E}OrganName").text = "UBND tỉnh Thử Nghiệm"
    to = etree.SubElement(mh, f"{E}To")
    etree.SubElement(to, f"{E}OrganId").text = "000.00.00.G22"
    etree.SubElement(mh, f"{E}DocumentId").text = "000.00.00.H99,2026/11/27,123/QĐ-UBND"
    code = etree.SubElement(mh, f"{E}Code")
    etree.SubElement(code, f"{E}CodeNumber").text = "123"
    etree.SubElement(code, f"{E}CodeNotation").text = "QĐ-UBND"
    etree.SubElement(mh, f"{E}Subject").text = "Về việc thử nghiệm chữ ký"
    trace = etree.SubElement(header, f"{E}TraceHeaderList")
    th = etree.SubElement(trace, f"{E}TraceHeader")
    etree.SubElement(th, f"{E}OrganId").text = "000.00.00.H99"
    etree.SubElement(th, f"{E}Timestamp").text = "2026/11/27 09:15:30"
    body = etree.SubElement(env, f"{E}edXMLBody")
    man = etree.SubElement(body, f"{E}edXMLManifest", version="1.0")
    ref = etree.SubElement(man, f"{E}Reference")
    etree.SubElement(ref, f"{E}ContentId").text = "cid:1"
    enc = etree.SubElement(root, f"{E}AttachmentEncoded")
    att = etree.SubElement(enc, f"{E}Attachment")
    etree.SubElement(att, f"{E}ContentId").text = "cid:1"
    etree.SubElement(att, f"{{{EDXML_NS}}}ContentTransferEncoded", nsmap={"edXML": EDXML_NS}).text = "JVBERi0xLjcK"
    return root


@pytest.fixture(scope="module")
def agency_key(pki: Path):
    key = serialization.load_pem_private_key((pki / "agency.key.pem").read_bytes(), None)
    cert = x509.load_pem_x509_certificate((pki / "agency.pem").read_bytes())
    chain = x509.load_pem_x509_certificates((pki / "intermediate-ca.pem").read_bytes())
    return key, cert, chain


@pytest.fixture(scope="module")
def signed_bytes(agency_key) -> bytes:
    key, cert, chain = agency_key
    return etree.tostring(sign_edxml(build_package(), key, cert, chain), xml_declaration=True, encoding="UTF-8")


def test_sdk_form(signed_bytes):
    root = parse_xml(signed_bytes)
    header = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    names = [etree.QName(c).localname for c in header]
    assert names == ["MessageHeader", "TraceHeaderList", "Signature"]  # third child
    sig = header[2]
    assert sig.tag == f"{E}Signature" and sig.prefix is None  # unprefixed, edXML namespace
    assert not any(isinstance(el.tag, str) and DS_NS in el.tag for el in sig.iter())
    ref = sig.find(f"{E}SignedInfo/{E}Reference")
    assert ref.get("URI") == ""
    transforms = [t.get("Algorithm") for t in ref.iterfind(f"{E}Transforms/{E}Transform")]
    assert transforms[0] == "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
    assert sig.find(f"{E}SignedInfo/{E}CanonicalizationMethod").get("Algorithm") == (
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
    )
    x509_data = [etree.QName(c).localname for c in sig.find(f"{E}KeyInfo/{E}X509Data")]
    assert x509_data[0] == "X509SubjectName" and "X509Certificate" in x509_data
    assert sig.findtext(f"{E}SignatureValue").strip()


def test_verifies_with_our_verifier(signed_bytes, pki):
    report = verify_edxml_signature(signed_bytes, pki / "root-ca.pem")
    assert report.present and report.valid, report.reasons
    assert "UBND" in report.signer_subject and not report.weak_algorithm


def test_verifies_with_xmlsec1_after_namespace_mapping(signed_bytes, pki, tmp_path):
    mapped = tmp_path / "mapped.xml"
    mapped.write_bytes(etree.tostring(to_xmldsig_form(parse_xml(signed_bytes)), xml_declaration=True, encoding="UTF-8"))
    cmd = [
        need("xmlsec1"),
        "--verify",
        "--trusted-pem",
        str(pki / "root-ca.pem"),
        "--untrusted-pem",
        str(pki / "intermediate-ca.pem"),
        str(mapped),
    ]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stderr, ok.stderr
    # and xmlsec1 sees the tampering too
    tampered = mapped.read_bytes().replace("thử nghiệm chữ ký".encode(), "thử nghiệm chữ kí".encode())
    mapped.write_bytes(tampered)
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode != 0


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("000.00.00.G22", "000.00.00.G23"),  # recipient
        ("Về việc thử nghiệm chữ ký", "Về việc khác"),  # subject
        ("JVBERi0xLjcK", "JVBERi0xLjgK"),  # attachment payload (outside the envelope)
        ('version="1.0"', 'version="2.0"'),  # an attribute
    ],
)
def test_tampering_any_signed_element_is_detected(signed_bytes, pki, old, new):
    assert old.encode() in signed_bytes
    tampered = signed_bytes.replace(old.encode(), new.encode(), 1)
    report = verify_edxml_signature(tampered, pki / "root-ca.pem")
    assert report.present and not report.valid
    assert report.reasons[0].startswith("modified after signing")


def test_untrusted_root_and_missing_signature(signed_bytes, pki):
    report = verify_edxml_signature(signed_bytes, pki / "untrusted-root-ca.pem")
    assert not report.valid and "untrusted" in report.reasons[0]
    unsigned = etree.tostring(build_package())
    none = verify_edxml_signature(unsigned, pki / "root-ca.pem")
    assert not none.present and not none.valid


def test_resigning_replaces_the_old_signature(signed_bytes, agency_key, pki):
    key, cert, chain = agency_key
    again = sign_edxml(parse_xml(signed_bytes), key, cert, chain)
    header = again.find(f"{E}edXMLEnvelope/{E}edXMLHeader")
    assert [etree.QName(c).localname for c in header].count("Signature") == 1
    assert verify_edxml_signature(again, pki / "root-ca.pem").valid


def test_document_signer_signs_packages_with_the_profile_key(settings, pki):
    from gateway.signing.sign import DocumentSigner

    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as signer:
        signed = signer.sign_edxml(build_package())
    report = verify_edxml_signature(etree.tostring(signed), pki / "root-ca.pem")
    assert report.valid and "UBND" in report.signer_subject


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


# -- rules found by make mutation (each test names the behaviour it protects) ---------------------

def _header_of(root: etree._Element) -> etree._Element:
    return root.find(f"{E}edXMLEnvelope/{E}edXMLHeader")


def test_signature_is_placed_right_after_the_trace_headers(agency_key, pki):
    key, cert, chain = agency_key
    root = build_package()
    _header_of(root).append(etree.Comment(" sender's note after the trace headers "))
    signed = sign_edxml(root, key, cert, chain)
    kinds = [etree.QName(c).localname if isinstance(c.tag, str) else "comment" for c in _header_of(signed)]
    assert kinds == ["MessageHeader", "TraceHeaderList", "Signature", "comment"]
    assert verify_edxml_signature(signed, pki / "root-ca.pem").valid


def test_without_trace_headers_the_signature_ends_the_header(agency_key, pki):
    key, cert, chain = agency_key
    root = build_package()
    header = _header_of(root)
    header.remove(header.find(f"{E}TraceHeaderList"))
    header.append(etree.Comment(" last "))
    signed = sign_edxml(root, key, cert, chain)
    kinds = [etree.QName(c).localname if isinstance(c.tag, str) else "comment" for c in _header_of(signed)]
    assert kinds == ["MessageHeader", "comment", "Signature"]
    assert verify_edxml_signature(signed, pki / "root-ca.pem").valid


def test_signing_leaves_the_callers_tree_untouched(agency_key):
    key, cert, chain = agency_key
    root = build_package()
    before = etree.tostring(root)
    sign_edxml(root, key, cert, chain)
    assert etree.tostring(root) == before


def test_signature_names_its_algorithms_and_the_signer(signed_bytes, agency_key):
    _, cert, _ = agency_key
    sig = _header_of(parse_xml(signed_bytes))[2]
    assert sig.find(f"{E}SignedInfo/{E}SignatureMethod").get("Algorithm") == (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    assert sig.find(f"{E}SignedInfo/{E}Reference/{E}DigestMethod").get("Algorithm") == (
        "http://www.w3.org/2001/04/xmlenc#sha256")
    assert sig.findtext(f"{E}KeyInfo/{E}X509Data/{E}X509SubjectName") == cert.subject.rfc4514_string()


def test_a_package_already_carrying_the_placement_marker_is_refused(agency_key):
    key, cert, chain = agency_key
    root = build_package()
    _header_of(root).append(etree.ProcessingInstruction("lienthong-edxml-signature"))
    with pytest.raises(SigningError, match=r"^cannot place the edXML Signature \(marker not unique\)$"):
        sign_edxml(root, key, cert, chain)


def test_a_key_that_cannot_make_the_signature_is_a_signing_error(agency_key):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    _, cert, chain = agency_key
    with pytest.raises(SigningError, match=r"^cannot sign the edXML package: .+"):
        sign_edxml(build_package(), ed25519.Ed25519PrivateKey.generate(), cert, chain)


def test_the_signed_package_is_reread_under_the_input_limits_naming_it(agency_key):
    key, cert, chain = agency_key
    root = build_package()
    subject = root.find(f"{E}edXMLEnvelope/{E}edXMLHeader/{E}MessageHeader/{E}Subject")
    for n in range(300):  # over max_attributes: a tree no sender could have sent us
        subject.set(f"a{n}", "x")
    with pytest.raises(XmlLimitError, match="signed edXML"):
        sign_edxml(root, key, cert, chain)


def test_an_unreadable_package_is_refused_naming_its_source(pki):
    with pytest.raises(XmlError, match=r"pkg-17\.edxml"):
        verify_edxml_signature(b"<edXML", pki / "root-ca.pem", source="pkg-17.edxml")


def test_a_package_without_signature_reports_exactly_that(pki):
    report = verify_edxml_signature(etree.tostring(build_package()), pki / "root-ca.pem")
    assert report == XmlSignatureReport(present=False, valid=False, reasons=("no package-level Signature",))
    assert report.present is False and report.valid is False
    assert report.to_dict() == {"present": False, "valid": False, "reasons": ["no package-level Signature"],
                                "signer_subject": None, "weak_algorithm": False}


def test_report_serialises_every_field(signed_bytes, pki):
    report = verify_edxml_signature(signed_bytes, pki / "root-ca.pem")
    assert report.to_dict() == {"present": True, "valid": True, "reasons": [], "signer_subject": report.signer_subject,
                                "weak_algorithm": False}
    assert report.signer_subject and "UBND" in report.signer_subject


def test_the_signer_is_the_keyinfo_certificate_holding_the_verifying_key(agency_key):
    _, cert, chain = agency_key
    der = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    pem_key = cert.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    ds = f"{{{DS_NS}}}"
    sig = etree.Element(f"{ds}Signature")
    etree.SubElement(sig, f"{ds}Object").text = der  # not a KeyInfo certificate: ignored
    assert xmldsig._signer_subject(sig, pem_key) is None
    etree.SubElement(sig, f"{ds}X509Certificate").text = "bm90IGEgY2VydGlmaWNhdGU="  # unreadable: skipped
    other = chain[0].public_bytes(serialization.Encoding.DER)
    etree.SubElement(sig, f"{ds}X509Certificate").text = base64.b64encode(other).decode()  # another key
    etree.SubElement(sig, f"{ds}X509Certificate").text = der
    assert xmldsig._signer_subject(sig, pem_key) == cert.subject.rfc4514_string()


# -- a SHA-1 signature as the SDK's samples carry, made by xmlsec1 (signxml refuses to sign SHA-1) -------

SHA1_TEMPLATE = """<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope><edXMLHeader>
    <MessageHeader><Subject>Thu nghiem SHA-1</Subject></MessageHeader>
    <TraceHeaderList/>
    <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
        <ds:SignatureMethod Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"/>
        <ds:Reference URI="">
          <ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>
          <ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>
          <ds:DigestValue/>
        </ds:Reference>
      </ds:SignedInfo>
      <ds:SignatureValue/>
      <ds:KeyInfo><ds:X509Data/></ds:KeyInfo>
    </ds:Signature>
  </edXMLHeader></edXMLEnvelope></edXML>
"""


@pytest.fixture(scope="module")
def sha1_sdk(pki, tmp_path_factory) -> bytes:
    """An indented package signed RSA-SHA1 by xmlsec1, then written in the SDK's form (unprefixed,
    edXML namespace): whitespace inside SignedInfo and around the Signature is signed too."""
    d = tmp_path_factory.mktemp("sha1")
    (d / "tpl.xml").write_text(SHA1_TEMPLATE, encoding="utf-8")
    keys = ",".join(str(pki / n) for n in ("agency.key.pem", "agency.pem", "intermediate-ca.pem"))
    subprocess.run([need("xmlsec1"), "--sign", "--privkey-pem", keys, "--output", str(d / "signed.xml"),
                    str(d / "tpl.xml")], check=True, capture_output=True)
    signed = (d / "signed.xml").read_bytes()
    opening = b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
    assert opening in signed
    return signed.replace(opening, b"<Signature>").replace(b"<ds:", b"<").replace(b"</ds:", b"</")


def test_an_sdk_form_sha1_signature_verifies_and_is_flagged_weak(sha1_sdk, pki):
    report = verify_edxml_signature(sha1_sdk, pki / "root-ca.pem")
    assert report.present is True and report.valid is True and report.reasons == ()
    assert report.weak_algorithm is True and "UBND" in (report.signer_subject or "")


def test_a_comment_inside_the_signature_does_not_hide_what_follows_it(sha1_sdk, pki):
    commented = sha1_sdk.replace(b"<KeyInfo>", b"<KeyInfo><!-- certificates follow -->", 1)
    assert commented != sha1_sdk
    assert verify_edxml_signature(commented, pki / "root-ca.pem").valid is True


def test_a_weak_algorithm_is_reported_whatever_else_is_wrong(sha1_sdk, pki):
    tampered = verify_edxml_signature(sha1_sdk.replace(b"SHA-1</Subject>", b"SHA-2</Subject>"), pki / "root-ca.pem")
    assert (tampered.present, tampered.valid, tampered.weak_algorithm) == (True, False, True)
    assert tampered.reasons == ("modified after signing: a signed element changed (digest mismatch)",)
    untrusted = verify_edxml_signature(sha1_sdk, pki / "untrusted-root-ca.pem")
    assert (untrusted.present, untrusted.valid, untrusted.weak_algorithm) == (True, False, True)
    assert untrusted.reasons[0].startswith("untrusted root or unusable certificate: ")
    m = re.search(rb"<SignatureValue>([^<]+)</SignatureValue>", sha1_sdk)
    assert m is not None
    raw = bytearray(base64.b64decode(b"".join(m.group(1).split())))
    raw[10] ^= 0x01
    flipped = verify_edxml_signature(sha1_sdk.replace(m.group(1), base64.b64encode(bytes(raw)), 1), pki / "root-ca.pem")
    assert (flipped.present, flipped.valid, flipped.weak_algorithm) == (True, False, True)
    assert flipped.reasons[0].startswith("invalid signature: ")


def test_a_signature_without_signature_value_is_malformed_not_a_crash(sha1_sdk, pki):
    broken = re.sub(rb"<SignatureValue>.*?</SignatureValue>", b"", sha1_sdk, flags=re.S)
    report = verify_edxml_signature(broken, pki / "root-ca.pem")
    assert (report.present, report.valid, report.weak_algorithm) == (True, False, True)
    assert len(report.reasons) == 1 and report.reasons[0].startswith("malformed signature: ")


def test_a_package_without_signature_maps_to_an_unchanged_copy():
    root = build_package()
    mapped = to_xmldsig_form(root)
    assert mapped is not root and etree.tostring(mapped) == etree.tostring(root)


def test_a_document_that_is_not_an_edxml_package_is_a_format_error(pki):
    with pytest.raises(EdxmlFormatError, match=r"^not an edXML package: no edXML:edXMLEnvelope/edXML:edXMLHeader$"):
        verify_edxml_signature(f'<edXML xmlns="{EDXML_NS}"/>'.encode(), pki / "root-ca.pem")
