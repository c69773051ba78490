"""Verify an edXML document package as a whole: one report listing every finding, one verdict.

Used by ``lienthong package verify`` and by the inbound exchange stage (the same function, so a
package the CLI calls invalid is never counted "ok" by the pipeline). What is checked:

* **The manifest.** Every ``Reference`` must have its file (a missing one makes the package
  unreadable: invalid); a file not listed in the manifest is reported, never silently ignored.
  QCVN 102 records no digest per file, so each file's SHA-256 is written into the report for
  audit, and only the package ``Signature`` (below) proves the set of files is the one sent.
* **PDF attachments**, recognised by their content (``%PDF-``), not by name or content type: each
  is verified by :func:`gateway.signing.verify.verify_pdf`; its verdict counts. A ``.pdf`` that
  is not a PDF, or a PDF disguised as ``.docx``/``.bin``, is reported.
* **The main document** (the first PDF) must carry a person's signature *and* the agency seal,
  the seal signed after it and placed over it (their widgets overlap on the same page). Roles
  come from the certificates (:mod:`gateway.signing.roles`), never from field names.
* **Other PDFs** (appendices) must carry the agency's signature whose stamp shows the header's
  number/notation (``Code``); an appendix stamped for another document number is invalid.
  Where the main document prints ``Số: …``, that number must be the header's ``Code``.
* **Non-PDF attachments** carry no signature of their own. Policy (``non_pdf``):
  ``package-signature`` (default) accepts them only when a valid package ``Signature`` covers
  them, else the package is *invalid*; ``reject`` always refuses them; ``allow`` only lists them.
* **The package-level edXML ``Signature``** (:mod:`gateway.signing.xmldsig`), when present, must
  verify against the trust roots; ``require_package_signature`` makes its absence invalid.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.edxml import EdocPackage, parse_package
from gateway.errors import GatewayError
from gateway.signing.profiles import TrustConfig
from gateway.signing.verify import SignatureReport, VerificationReport, verify_pdf
from gateway.signing.verify_checks import INDETERMINATE, INVALID, VALID, verdict_of
from gateway.signing.verify_checks import Finding as _Finding

NON_PDF_POLICIES = ("package-signature", "reject", "allow")
_NUMBER = re.compile(r"\d+\s*/\s*[0-9A-Za-zÀ-ỹĐđ][0-9A-Za-zÀ-ỹĐđ\-.]*")
_PRINTED_NUMBER = re.compile(r"Số\s*:\s*(\d+\s*/\s*[0-9A-Za-zÀ-ỹĐđ][0-9A-Za-zÀ-ỹĐđ\-.]*)")


@dataclass(frozen=True)
class PackagePolicy:
    """What a package must satisfy beyond each PDF's own signatures (see the module notes)."""

    non_pdf: str = "package-signature"
    require_package_signature: bool = False
    require_agency_seal: bool = True

    def __post_init__(self) -> None:
        if self.non_pdf not in NON_PDF_POLICIES:
            raise ValueError(f"non_pdf must be one of {', '.join(NON_PDF_POLICIES)}, got {self.non_pdf!r}")


@dataclass(frozen=True)
class PackageFinding:
    """One problem with the package; ``attachment`` names the file it concerns (None: the package)."""

    code: str
    severity: str
    message: str
    attachment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "message": self.message, "attachment": self.attachment}


@dataclass(frozen=True)
class AttachmentResult:
    """One file of the package: what it is, its digest, and its PDF report when it is a PDF."""

    name: str
    content_type: str
    sha256: str
    size: int
    kind: str  # "main", "appendix", "non-pdf"
    report: VerificationReport | None = None

    @property
    def valid(self) -> bool:
        return self.report.valid if self.report is not None else False

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"attachment": self.name, "content_type": self.content_type, "sha256": self.sha256,
                             "size": self.size, "kind": self.kind}
        if self.report is not None:
            d.update(self.report.to_dict())
        return d


@dataclass(frozen=True)
class PackageReport:
    """Everything found about one package; ``valid`` only when the verdict is valid."""

    source: str
    document_id: str | None
    code: str | None
    findings: tuple[PackageFinding, ...]
    attachments: tuple[AttachmentResult, ...] = ()
    xml_signature: dict[str, object] | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> str:
        return verdict_of([_Finding(f.code, f.severity, f.message) for f in self.findings])

    @property
    def valid(self) -> bool:
        return self.verdict == VALID

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "document_id": self.document_id,
            "code": self.code,
            "verdict": self.verdict,
            "valid": self.valid,
            "findings": [f.to_dict() for f in self.findings],
            "attachments": [a.to_dict() for a in self.attachments],
            "xml_signature": self.xml_signature,
            "warnings": list(self.warnings),
        }


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def _is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]


def _roles(report: VerificationReport, role: str) -> list[SignatureReport]:
    return [s for s in report.signatures if s.role == role]


def _overlap(a: SignatureReport, b: SignatureReport) -> bool:
    if a.page is None or a.page != b.page or a.rect is None or b.rect is None:
        return False
    return a.rect[0] < b.rect[2] and b.rect[0] < a.rect[2] and a.rect[1] < b.rect[3] and b.rect[1] < a.rect[3]


def _main_findings(name: str, report: VerificationReport, code: str, data: bytes) -> list[PackageFinding]:
    out: list[PackageFinding] = []
    seals, people = _roles(report, "agency"), _roles(report, "signer")
    if not seals:
        out.append(PackageFinding("no-agency-seal", INVALID, "the main document carries no agency seal signature "
                                  "(role decided from the certificate)", name))
    if not people:
        out.append(PackageFinding("no-leader-signature", INVALID,
                                  "the main document carries no personal signature of the leader", name))
    if seals and people:
        over = [(s, p) for s in seals for p in people
                if (s.signed_revision or 0) > (p.signed_revision or 0) and _overlap(s, p)]
        if not over:
            out.append(PackageFinding("seal-not-over-signature", INVALID,
                                      "the agency seal is not signed after and placed over the leader's signature",
                                      name))
    printed = _printed_number(data)
    if printed is not None and _norm(printed) != _norm(code):
        out.append(PackageFinding("header-code-mismatch", INVALID,
                                  f"the main document prints number {printed!r} but the package header's Code is "
                                  f"{code!r}", name))
    return out


def _printed_number(data: bytes) -> str | None:
    """The ``Số: …`` number printed on the first page of the signed document, if any."""
    try:
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(data)
        try:
            page = doc[0]
            text = page.get_textpage().get_text_range()
            page.close()
        finally:
            doc.close()
    except Exception:
        return None
    m = _PRINTED_NUMBER.search(str(text))
    return m.group(1) if m else None


def _appendix_findings(name: str, report: VerificationReport, code: str) -> list[PackageFinding]:
    seals = _roles(report, "agency")
    if not seals:
        return [PackageFinding("no-agency-seal", INVALID, "the attachment carries no agency signature", name)]
    out: list[PackageFinding] = []
    for seal in seals:
        text = seal.stamp_text or ""
        if _norm(code) in _norm(text):
            continue
        shown = _NUMBER.search(text)
        if shown:
            out.append(PackageFinding("attachment-for-other-document", INVALID,
                                      f"the attachment's stamp shows number {shown.group(0)!r} but the package "
                                      f"header's Code is {code!r}", name))
        else:
            out.append(PackageFinding("attachment-stamp-without-number", INVALID,
                                      f"the attachment's stamp does not show the header's number {code!r}", name))
    return out


def _xml_signature(data: bytes, trust: TrustConfig, source: str) -> dict[str, object]:
    from gateway.signing.xmldsig import verify_edxml_signature

    with tempfile.NamedTemporaryFile("wb", suffix=".pem", delete=False) as bundle:
        for root in trust.roots:
            bundle.write(root.read_bytes() + b"\n")
    try:
        return verify_edxml_signature(data, bundle.name, source=source).to_dict()
    finally:
        Path(bundle.name).unlink()


def verify_package_bytes(
    data: bytes,
    trust: TrustConfig,
    *,
    source: str = "<package>",
    policy: PackagePolicy | None = None,
    visual: bool = True,
) -> PackageReport:
    """The whole-package verdict for one edXML document package; never raises on bad content."""
    policy = policy or PackagePolicy()
    try:
        parsed = parse_package(data, source_name=source, check_schema=False)
    except GatewayError as exc:
        return PackageReport(source, None, None, (PackageFinding("unreadable", INVALID, f"package unreadable: {exc}"),))
    pkg = parsed.package
    if not isinstance(pkg, EdocPackage):
        return PackageReport(source, None, None,
                             (PackageFinding("not-a-document", INVALID, "a status package carries no documents"),))
    code = str(pkg.header.code)
    findings: list[PackageFinding] = []
    for warning in parsed.warnings:
        if "not listed in the manifest" in warning:
            findings.append(PackageFinding("not-in-manifest", INVALID, f"extra file: {warning}"))
    try:
        xml_sig: dict[str, object] | None = _xml_signature(data, trust, source)
    except (GatewayError, OSError) as exc:
        xml_sig = None
        findings.append(PackageFinding("package-signature-unchecked", INDETERMINATE,
                                       f"the package edXML Signature could not be checked: {exc}"))
    if xml_sig is not None and not xml_sig["present"]:
        if policy.require_package_signature:
            findings.append(PackageFinding("no-package-signature", INVALID, "the package has no edXML Signature"))
    elif xml_sig is not None and not xml_sig["valid"]:
        reasons = "; ".join(str(r) for r in xml_sig.get("reasons", []))  # type: ignore[attr-defined]
        findings.append(PackageFinding("package-signature", INVALID, f"package edXML Signature: {reasons}"))
    covered = bool(xml_sig and xml_sig["present"] and xml_sig["valid"])
    results: list[AttachmentResult] = []
    seen_main = False
    if not pkg.attachments:
        findings.append(PackageFinding("no-attachments", INVALID, "the package carries no document file"))
    for att in pkg.attachments:
        with att.payload.open() as f:
            content = f.read()
        digest, named_pdf = hashlib.sha256(content).hexdigest(), att.name.lower().endswith(".pdf")
        if not _is_pdf(content):
            results.append(AttachmentResult(att.name, att.content_type, digest, len(content), "non-pdf"))
            if named_pdf or att.content_type == "application/pdf":
                findings.append(PackageFinding("not-a-pdf", INVALID,
                                               "named or typed as PDF but its content is not a PDF", att.name))
            elif policy.non_pdf == "reject" or (policy.non_pdf == "package-signature" and not covered):
                why = "policy refuses non-PDF files" if policy.non_pdf == "reject" else \
                    "no valid package Signature covers it"
                findings.append(PackageFinding("unsigned-attachment", INVALID,
                                               f"non-PDF file carries no signature of its own and {why}", att.name))
            continue
        if not named_pdf:
            findings.append(PackageFinding("disguised-pdf", INVALID,
                                           f"a PDF named {att.name!r} (type {att.content_type}); verified as a PDF",
                                           att.name))
        report = verify_pdf(content, trust, source=f"{source}:{att.name}", visual=visual)
        kind = "appendix" if seen_main else "main"
        results.append(AttachmentResult(att.name, att.content_type, digest, len(content), kind, report))
        if report.verdict != VALID:
            why = "; ".join(dict.fromkeys(r for s in report.signatures for r in s.reasons)) or report.error or \
                "no signature"
            findings.append(PackageFinding("pdf-signature", report.verdict, f"PDF {report.verdict}: {why}", att.name))
        if policy.require_agency_seal:
            findings.extend(_appendix_findings(att.name, report, code) if seen_main
                            else _main_findings(att.name, report, code, content))
        seen_main = True
    if not seen_main and pkg.attachments:
        findings.append(PackageFinding("no-main-document", INVALID, "the package carries no PDF main document"))
    return PackageReport(source, pkg.header.document_id, code, tuple(findings), tuple(results), xml_sig,
                         parsed.warnings)


def verify_package_file(path: Path, trust: TrustConfig, **options: Any) -> PackageReport:
    """:func:`verify_package_bytes` on a file; an unreadable file is an invalid report."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return PackageReport(str(path), None, None,
                             (PackageFinding("unreadable", INVALID, f"cannot read: {exc.strerror}"),))
    return verify_package_bytes(data, trust, source=options.pop("source", path.name), **options)


def format_package_report(report: PackageReport) -> str:
    """Readable lines: verdict, then every finding, then each attachment's signatures."""
    lines = [f"{report.source}: {report.verdict.upper()} (document {report.document_id}, Code {report.code})"]
    for f in report.findings:
        where = f" [{f.attachment}]" if f.attachment else ""
        lines.append(f"  {f.severity}{where}: {f.message}")
    for att in report.attachments:
        verdict = att.report.verdict if att.report is not None else "no signature (non-PDF)"
        lines.append(f"  {att.kind} {att.name}: {verdict} sha256={att.sha256[:16]}…")
        for sig in att.report.signatures if att.report is not None else ():
            why = "ok" if sig.valid else f"{sig.verdict}: " + "; ".join(sig.reasons)
            lines.append(f"    {sig.field_name} ({sig.role}) {sig.signer_name or '?'}: {why}")
    if report.xml_signature is not None and report.xml_signature.get("present"):
        lines.append(f"  package Signature: {'valid' if report.xml_signature['valid'] else 'INVALID'}")
    return "\n".join(lines)


__all__ = [
    "INDETERMINATE",
    "NON_PDF_POLICIES",
    "AttachmentResult",
    "PackageFinding",
    "PackagePolicy",
    "PackageReport",
    "format_package_report",
    "verify_package_bytes",
    "verify_package_file",
]
