"""The exchange stages as plain functions: stamp, verify, answer with a status, and batch them.

These are the steps between the adapters (legacy XML ⇄ edXML) and the hub (sendEdoc/receive),
written as functions over packages and folders so the CLI, scripts and orchestration (Airflow
tasks) all call the same code. Folder stages are idempotent — an output that exists is skipped —
and a failure in one package is recorded beside it (``NAME.<step>.error.json``) without stopping the
rest of the batch. Error files follow the one convention of the exchange layer:
``NAME.<step>.error.json`` beside the step's output, NAME being the package file's stem.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.edxml import (
    Attachment,
    BytesPayload,
    EdocPackage,
    Organization,
    Package,
    ResponseFor,
    StaffInfo,
    StatusCode,
    StatusPackage,
    build_package,
    parse_package,
)
from gateway.errors import ConfigurationError, GatewayError, SigningError
from gateway.files import write_atomic

if TYPE_CHECKING:
    from gateway.signing.profiles import TrustConfig
    from gateway.signing.sign import DocumentSigner
    from gateway.signing.verify import VerificationReport

VIETNAM = timezone(timedelta(hours=7))
PDF = "application/pdf"


def _is_pdf(att: Attachment) -> bool:
    return att.content_type == PDF or att.name.lower().endswith(".pdf")


def stamp_package(pkg: EdocPackage, signer: DocumentSigner, *, placeholder: str | None = None) -> EdocPackage:
    """Put the agency's Decree 30 signature on every PDF of a document package.

    The first PDF is the main document: the seal goes over the left third of the signer's
    signature (found from an existing signature, else the placeholder text). Every other PDF is
    a separate attachment: top-right number/notation of the main document and the signing time.
    Other files are left as they are. Raises SigningError naming the file that could not be signed.
    """
    pdfs = [a for a in pkg.attachments if _is_pdf(a)]
    if not pdfs:
        raise SigningError(f"package {pkg.header.document_id}: no PDF attachment to sign")
    reference = str(pkg.header.code)
    signed: list[Attachment] = []
    for att in pkg.attachments:
        if not _is_pdf(att):
            signed.append(att)
            continue
        with att.payload.open() as f:
            data = f.read()
        try:
            if att is pdfs[0]:
                out = signer.sign_main(data, placeholder=placeholder)
            else:
                out = signer.sign_attachment(data, reference=reference)
        except GatewayError as exc:
            raise SigningError(f"{att.name}: {exc}") from exc
        signed.append(replace(att, payload=BytesPayload(out), content_type=PDF, transfer_zipped=False))
    return replace(pkg, attachments=tuple(signed))


@dataclass(frozen=True)
class AttachmentVerification:
    """The verification report of one PDF attachment of a package."""

    name: str
    report: VerificationReport

    def to_dict(self) -> dict[str, Any]:
        return {"attachment": self.name, **self.report.to_dict()}


def verify_package(pkg: EdocPackage, trust: TrustConfig, *, source: str = "<package>") -> list[AttachmentVerification]:
    """Verify the signatures of every PDF attachment; reports, never raises on a bad signature."""
    from gateway.signing.verify import verify_pdf  # here: a stage that does not verify need not load pyHanko

    results: list[AttachmentVerification] = []
    for att in pkg.attachments:
        if not _is_pdf(att):
            continue
        with att.payload.open() as f:
            data = f.read()
        results.append(AttachmentVerification(att.name, verify_pdf(data, trust, source=f"{source}:{att.name}")))
    return results


def answer_status(
    doc: EdocPackage,
    code: StatusCode,
    *,
    reporter: Organization | None = None,
    description: str | None = None,
    staff: StaffInfo | None = None,
    now: datetime | None = None,
) -> StatusPackage:
    """The status package a recipient sends about ``doc`` (01 received, 03 accepted, …).

    ``reporter`` defaults to the first recipient (the original sender for 13, a withdrawal).
    """
    h = doc.header
    if reporter is None:
        reporter = h.from_ if code == StatusCode.CANCELLATION else h.to[0]
    moment = (now or datetime.now(VIETNAM)).astimezone(VIETNAM).replace(tzinfo=None, microsecond=0)
    return StatusPackage(
        from_=reporter,
        response_for=ResponseFor(h.from_.organ_id, str(h.code), h.document_id, h.promulgation_info.promulgation_date),
        status_code=code,
        timestamp=moment,
        description=description or code.label_vi,
        staff_info=staff,
    )


# -- folder stages --------------------------------------------------------------------------------


@dataclass
class StageReport:
    """What one batch stage did: per input, ``ok`` / ``skipped`` / ``failed`` with the reason."""

    stage: str
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, source: Path, outcome: str, **details: Any) -> None:
        self.items.append({"source": source.name, "outcome": outcome, **details})

    def count(self, outcome: str) -> int:
        return sum(1 for i in self.items if i["outcome"] == outcome)

    @property
    def failed(self) -> int:
        return self.count("failed")

    def summary(self) -> str:
        return f"{self.stage}: {self.count('ok')} ok, {self.count('skipped')} skipped, {self.failed} failed"

    def counts(self) -> dict[str, int]:
        """ok / skipped / failed, plus any other outcome a stage uses (``flagged``, ``rejected``)."""
        out = {"ok": 0, "skipped": 0, "failed": 0}
        for item in self.items:
            out[item["outcome"]] = out.get(item["outcome"], 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, **self.counts(), "items": self.items}


def package_files(inputs: Iterable[Path]) -> list[Path]:
    """Expand folders into their ``*.edxml`` files (sorted); keep files as given."""
    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            files.extend(sorted(item.glob("*.edxml")))
        elif item.exists():
            files.append(item)
        else:
            raise ConfigurationError(f"{item}: no such file or folder")
    return files


def run_stage(
    stage: str,
    inputs: Iterable[Path],
    out_dir: Path,
    work: Callable[[Package, Path], Package],
    *,
    progress: Callable[[Path], None] | None = None,
    finish: Callable[[bytes], bytes] | None = None,
) -> StageReport:
    """Apply ``work`` to every package in ``inputs``, writing results into ``out_dir``.

    ``finish`` transforms the built package bytes last (e.g. adds the package-level Signature).

    Outputs that already exist are skipped (reruns are cheap and safe); a failing package gets
    ``NAME.<stage>.error.json`` in ``out_dir`` (NAME = the input's stem) and the batch goes on.
    """
    report = StageReport(stage)
    out_dir.mkdir(parents=True, exist_ok=True)
    for src in package_files(inputs):
        target = out_dir / src.name
        error_file = out_dir / f"{src.stem}.{stage}.error.json"
        if target.exists():
            report.add(src, "skipped", output=str(target))
            continue
        try:
            pkg = parse_package(src).package
            out = build_package(work(pkg, src))
            write_atomic(target, finish(out) if finish is not None else out)
        except GatewayError as exc:
            write_atomic(error_file, json.dumps(
                {"source": str(src), "stage": stage, "error": str(exc), "type": type(exc).__name__,
                 "retryable": exc.retryable}, ensure_ascii=False, indent=2).encode())
            report.add(src, "failed", error=str(exc), retryable=exc.retryable)
        else:
            error_file.unlink(missing_ok=True)
            report.add(src, "ok", output=str(target))
        if progress is not None:
            progress(src)
    return report


def stamp_folder(
    inputs: Iterable[Path], out_dir: Path, signer: DocumentSigner, *, placeholder: str | None = None,
    progress: Callable[[Path], None] | None = None, xml_signature: bool = False,
) -> StageReport:
    """Stage: stamp every document package of ``inputs`` (status packages pass through unchanged).

    With ``xml_signature`` (the profile's ``xml_signature = true``) each package also gets the
    package-level edXML ``Signature`` made with the same key, over the stamped package.
    """

    def work(pkg: Package, _src: Path) -> Package:
        return stamp_package(pkg, signer, placeholder=placeholder) if isinstance(pkg, EdocPackage) else pkg

    def sign_xml(data: bytes) -> bytes:
        from lxml import etree

        from gateway.xml import parse_xml

        signed = signer.sign_edxml(parse_xml(data, source="stamped package"))
        return bytes(etree.tostring(signed, encoding="UTF-8", xml_declaration=True))

    return run_stage("stamp", inputs, out_dir, work, progress=progress, finish=sign_xml if xml_signature else None)
