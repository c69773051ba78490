"""A package is verified as a whole: every file, every signature, the stamps, the package Signature.

The same function serves ``lienthong package verify`` and the inbound stage; each attack on the
package below must give the exact verdict and finding."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from lxml import etree

from gateway.cli import main as cli
from gateway.edxml import Attachment, BytesPayload, Code, EdocPackage, build_package
from gateway.edxml.samples import sample_edoc
from gateway.signing.package_verify import PackagePolicy, verify_package_bytes
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import make_sample_pdf
from gateway.xml import parse_xml

from .pki_extra import PKI, pyhanko_sign

CODE = "77/UBND-VX"


@pytest.fixture(scope="module")
def signers(settings):
    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as person, \
            DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        yield person, agency


@pytest.fixture(scope="module")
def main_pdf(signers) -> bytes:
    person, agency = signers
    return agency.sign_main(person.sign_main(make_sample_pdf(2)))


@pytest.fixture(scope="module")
def appendix_pdf(signers) -> bytes:
    return signers[1].sign_attachment(make_sample_pdf(1, placeholder=None, number=1), reference=CODE)


def package(main: bytes, *others: tuple[str, str, bytes]) -> EdocPackage:
    pkg = sample_edoc(77, attachments=1)
    (first,) = pkg.attachments
    atts = [replace(first, payload=BytesPayload(main))]
    for i, (name, ctype, data) in enumerate(others):
        atts.append(Attachment(content_id=f"extra{i}", name=name, content_type=ctype, payload=BytesPayload(data)))
    return replace(pkg, attachments=tuple(atts))


def codes(report) -> list[str]:
    return [f.code for f in report.findings]


def sign_xml(signers, data: bytes) -> bytes:
    signed = signers[1].sign_edxml(parse_xml(data))
    return etree.tostring(signed, encoding="UTF-8", xml_declaration=True)


def test_a_complete_package_is_valid(main_pdf, appendix_pdf, settings):
    data = build_package(package(main_pdf, ("phu-luc.pdf", "application/pdf", appendix_pdf)))
    report = verify_package_bytes(data, settings.trust, source="ok.edxml")
    assert report.verdict == "valid" and report.valid and report.findings == ()
    assert [a.kind for a in report.attachments] == ["main", "appendix"]
    assert all(len(a.sha256) == 64 for a in report.attachments)


def test_main_document_without_the_seal(signers, settings):
    person_only = signers[0].sign_main(make_sample_pdf(2))
    report = verify_package_bytes(build_package(package(person_only)), settings.trust)
    assert report.verdict == "invalid" and codes(report) == ["no-agency-seal"]


def test_personal_certificate_in_a_field_named_like_the_seal(signers, settings):
    person = signers[0].sign_main(make_sample_pdf(2))
    fake_seal = pyhanko_sign(person, PKI / "signer.key.pem", PKI / "signer.pem", (PKI / "signer.chain.pem",),
                             field="CoQuan1", box=(330, 220, 430, 290))
    report = verify_package_bytes(build_package(package(fake_seal)), settings.trust)
    assert report.verdict == "invalid" and codes(report) == ["no-agency-seal"]
    roles = [s.role for s in report.attachments[0].report.signatures]
    assert roles == ["signer", "signer"]


def test_appendix_signed_for_another_document_number(main_pdf, signers, settings):
    other = signers[1].sign_attachment(make_sample_pdf(1, placeholder=None), reference="12/QĐ-UBND")
    report = verify_package_bytes(build_package(package(main_pdf, ("phu-luc.pdf", "application/pdf", other))),
                                  settings.trust)
    assert report.verdict == "invalid" and codes(report) == ["attachment-for-other-document"]
    assert "shows number '12/QĐ-UBND' but the package header's Code is '77/UBND-VX'" in report.findings[0].message


def test_header_number_edited(main_pdf, appendix_pdf, settings):
    pkg = package(main_pdf, ("phu-luc.pdf", "application/pdf", appendix_pdf))
    edited = replace(pkg, header=replace(pkg.header, code=Code("78", "UBND-VX")))
    report = verify_package_bytes(build_package(edited), settings.trust)
    assert report.verdict == "invalid" and codes(report) == ["attachment-for-other-document"]


def test_header_subject_edited_under_a_package_signature(main_pdf, appendix_pdf, signers, settings):
    data = sign_xml(signers, build_package(package(main_pdf, ("phu-luc.pdf", "application/pdf", appendix_pdf))))
    assert verify_package_bytes(data, settings.trust).verdict == "valid"
    subject = re.search(rb"<edXML:Subject>([^<]+)</edXML:Subject>", data)
    assert subject is not None
    tampered = data.replace(subject.group(0), b"<edXML:Subject>Other subject</edXML:Subject>", 1)
    report = verify_package_bytes(tampered, settings.trust)
    assert report.verdict == "invalid" and codes(report) == ["package-signature"]
    assert "modified after signing: a signed element changed" in report.findings[0].message


def test_attachment_removed(main_pdf, appendix_pdf, signers, settings):
    data = build_package(package(main_pdf, ("phu-luc.pdf", "application/pdf", appendix_pdf)))
    start = data.index(b"<Attachment>\n<ContentId>cid:extra0</ContentId>")
    end = data.index(b"</Attachment>", start) + len(b"</Attachment>")
    file_gone = data[:start] + data[end:]
    report = verify_package_bytes(file_gone, settings.trust)
    assert report.verdict == "invalid" and codes(report) == ["unreadable"]
    assert "has no AttachmentEncoded/Attachment with that ContentId" in report.findings[0].message
    # removed together with its manifest entry: only the package Signature can tell
    signed = sign_xml(signers, data)
    ref = re.search(rb"<edXML:Reference>\s*<edXML:ContentId>cid:extra0</edXML:ContentId>.*?</edXML:Reference>\s*", signed, re.S)
    assert ref is not None
    start = signed.index(b"<Attachment>\n<ContentId>cid:extra0</ContentId>")
    end = signed.index(b"</Attachment>", start) + len(b"</Attachment>")
    both_gone = signed[:start] + signed[end:]
    both_gone = both_gone.replace(ref.group(0), b"", 1)
    report = verify_package_bytes(both_gone, settings.trust)
    assert report.verdict == "invalid" and codes(report) == ["package-signature"]


def test_extra_file_not_in_the_manifest(main_pdf, appendix_pdf, settings):
    data = build_package(package(main_pdf, ("phu-luc.pdf", "application/pdf", appendix_pdf)))
    ref = re.search(rb"<edXML:Reference>\s*<edXML:ContentId>cid:extra0</edXML:ContentId>.*?</edXML:Reference>\s*", data, re.S)
    assert ref is not None
    report = verify_package_bytes(data.replace(ref.group(0), b"", 1), settings.trust)
    assert report.verdict == "invalid" and codes(report) == ["not-in-manifest"]


DOCX = b"PK\x03\x04 not signed at all"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_unsigned_file_added(main_pdf, signers, settings):
    data = build_package(package(main_pdf, ("bang-ke.docx", DOCX_TYPE, DOCX)))
    report = verify_package_bytes(data, settings.trust)
    assert report.verdict == "invalid" and codes(report) == ["unsigned-attachment"]
    assert "no valid package Signature covers it" in report.findings[0].message
    covered = sign_xml(signers, data)
    assert verify_package_bytes(covered, settings.trust).verdict == "valid"  # policy package-signature
    refused = verify_package_bytes(covered, settings.trust, policy=PackagePolicy(non_pdf="reject"))
    assert refused.verdict == "invalid" and codes(refused) == ["unsigned-attachment"]
    listed = verify_package_bytes(data, settings.trust, policy=PackagePolicy(non_pdf="allow"))
    assert listed.verdict == "valid" and [a.kind for a in listed.attachments] == ["main", "non-pdf"]


def test_appendix_renamed_to_docx_and_bin(main_pdf, appendix_pdf, settings):
    disguised = verify_package_bytes(build_package(package(main_pdf, ("phu-luc.docx", DOCX_TYPE, appendix_pdf))),
                                     settings.trust)
    assert disguised.verdict == "invalid" and codes(disguised) == ["disguised-pdf"]
    swapped = verify_package_bytes(
        build_package(package(main_pdf, ("phu-luc.bin", "application/octet-stream", b"\x00\x01 unsigned"))),
        settings.trust)
    assert swapped.verdict == "invalid" and codes(swapped) == ["unsigned-attachment"]
    fake = verify_package_bytes(build_package(package(main_pdf, ("phu-luc.pdf", "application/pdf", DOCX))),
                                settings.trust)
    assert fake.verdict == "invalid" and codes(fake) == ["not-a-pdf"]


def test_required_package_signature(main_pdf, settings):
    data = build_package(package(main_pdf))
    report = verify_package_bytes(data, settings.trust, policy=PackagePolicy(require_package_signature=True))
    assert report.verdict == "invalid" and codes(report) == ["no-package-signature"]


def test_indeterminate_pdf_makes_the_package_indeterminate(main_pdf, settings):
    from gateway.signing.profiles import TrustConfig

    bare = TrustConfig(roots=settings.trust.roots, intermediates=settings.trust.intermediates)
    report = verify_package_bytes(build_package(package(main_pdf)), bare)
    assert report.verdict == "indeterminate" and codes(report) == ["pdf-signature"]


def test_cli_package_sign_writes_the_xml_signature_and_verify_exit_codes(main_pdf, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    person_only_pkg = package(main_pdf)
    (src / "doc.edxml").write_bytes(build_package(person_only_pkg))
    profiles = tmp_path / "profiles.toml"
    text = (PKI / "profiles.toml").read_text(encoding="utf-8")
    text = text.replace('[profiles.ubnd-thu-nghiem]\nkind = "agency"',
                        '[profiles.ubnd-thu-nghiem]\nkind = "agency"\nxml_signature = true', 1)
    base = str(PKI) + "/"
    text = re.sub(r'"([A-Za-z0-9.-]+\.(?:pem|crl|p12|png|txt))"', lambda m: f'"{base}{m.group(1)}"', text)
    profiles.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    # the already-sealed main document gets another seal; what matters here is the package Signature
    assert cli(["package", "sign", str(src), "-o", str(out), "--profile", "ubnd-thu-nghiem",
                "--profiles", str(profiles)]) == 0
    signed = (out / "doc.edxml").read_bytes()
    assert b"<Signature xmlns=\"http://www.mic.gov.vn/TBT/QCVN_102_2016\"" in signed
    capsys.readouterr()
    code = cli(["package", "verify", str(out / "doc.edxml"), "--profiles", str(profiles), "--json"])
    import json

    (report,) = json.loads(capsys.readouterr().out)
    assert report["xml_signature"]["present"] and report["xml_signature"]["valid"]
    assert code == {"valid": 0, "invalid": 1, "indeterminate": 3}[report["verdict"]]
    tampered = tmp_path / "tampered.edxml"
    assert b"<edXML:Subject>" in signed
    tampered.write_bytes(signed.replace(b"<edXML:Subject>", b"<edXML:Subject>X", 1))
    assert cli(["package", "verify", str(tampered), "--profiles", str(profiles)]) == 1
    assert "package edXML Signature" in capsys.readouterr().out
