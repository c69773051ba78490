"""Inbound stages: hub → stored package → signature report → adapter → legacy system → status back.

Work folder (``<work>/inbound`` for documents, ``<work>/statuses`` for status packages), per hub
DocId encoded as NAME::

    NAME.edxml            the package as received (written before the hub is told ``done``)
    NAME.hub.json         receipt: updateStatus ``done`` sent to the hub
    NAME.verify.json      the whole-package verification report (verdict, findings, every file)
    NAME.rejected.json    refused because a signature is invalid (policy ``reject``)
    NAME.legacy.json      receipt: the legacy system accepted the document / status
    NAME.status.edxml     the status package answering the document (built once, sent as is)
    NAME.status.json      receipt: the hub accepted that status package
    NAME.<step>.error.json  why a step failed last time

Documents are acknowledged to the hub as soon as they are stored (the hub may forget them then);
status packages only after the legacy system took them, so a status is never lost in between.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.edxml import EdocPackage, Organization, StatusCode, StatusPackage, build_package, parse_package
from gateway.errors import EdxmlFormatError, GatewayError, Location, RemoteRefusalError, UpstreamUnavailableError
from gateway.exchange.common import (
    StageResult,
    clear_error,
    now_iso,
    original_id,
    read_json,
    record_error,
    safe_name,
    start,
    write_json,
)
from gateway.exchange.steps import answer_status
from gateway.files import write_atomic
from gateway.transport.axis import AxisClient

if TYPE_CHECKING:
    from gateway.exchange.sources import LegacyConnector
    from gateway.signing.profiles import TrustConfig


def _marker(folder: Path, name: str, step: str) -> Path:
    return folder / f"{name}.{step}.json"


def list_received(client: AxisClient, folder: Path, messagetype: str, *, finished_step: str) -> list[str]:
    """Names waiting on the hub plus those stored here whose last step (``finished_step``) is not done."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [safe_name(str(item["docId"])) for item in client.received_list(messagetype) if item.get("docId")]
    seen = set(names)
    for path in sorted(folder.glob("*.edxml")):
        name = path.name.removesuffix(".edxml")
        if name.endswith(".status") or name in seen:
            continue
        if not _marker(folder, name, finished_step).exists() and not _marker(folder, name, "rejected").exists():
            names.append(name)
            seen.add(name)
    return names


def receive(client: AxisClient, names: Sequence[str], folder: Path, *, acknowledge: bool = True) -> StageResult:
    """getEdoc → ``NAME.edxml`` (atomic), then (``acknowledge``) updateStatus ``done`` — only once stored."""
    result = start("receive")
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = folder / f"{name}.edxml"
        try:
            fresh = not target.exists()
            if fresh:
                data = client.get_edoc(original_id(name))
                try:
                    write_atomic(target, data, publish_now=True)  # durable before the hub hears "done"
                except OSError as exc:  # disk full, I/O error: not acknowledged, the batch goes on
                    raise GatewayError(f"cannot store the package: {exc.strerror}",
                                       location=Location(str(target)), retryable=True) from exc
            if acknowledge:
                hub_done(client, name, folder)
        except GatewayError as exc:
            result.add(name, "failed", **record_error(folder, name, "receive", exc))
            continue
        clear_error(folder, name, "receive")
        result.add(name, "ok" if fresh else "skipped")
    return result


def hub_done(client: AxisClient, name: str, folder: Path) -> bool:
    """updateStatus ``done`` unless already sent; True when sent now."""
    marker = _marker(folder, name, "hub")
    if marker.exists():
        return False
    client.update_status(original_id(name), "done")
    write_json(marker, {"status": "done", "at": now_iso()})
    return True


def _load(folder: Path, name: str) -> EdocPackage | StatusPackage:
    return parse_package(folder / f"{name}.edxml").package


def verify(names: Sequence[str], folder: Path, trust: TrustConfig, *, reject_invalid: bool = False) -> StageResult:
    """Write ``NAME.verify.json`` with every PDF's signature report; flag (or reject) invalid ones."""
    from gateway.signing.package_verify import verify_package_file  # pyHanko: only this stage needs it

    result = start("verify")
    for name in names:
        report_file = _marker(folder, name, "verify")
        if report_file.exists():
            known = read_json(report_file)["valid"]
            result.add(name, "skipped", carry=True, valid=known,
                       reason="verified before" + ("" if known else ", flagged"))
            continue
        try:
            pkg = _load(folder, name)
            if not isinstance(pkg, EdocPackage):
                raise EdxmlFormatError(f"{name}.edxml: a status package arrived in the document inbox")
            # the same whole-package verifier as `lienthong package verify` (gateway/signing/package_verify.py)
            report = verify_package_file(folder / f"{name}.edxml", trust, source=name)
        except GatewayError as exc:
            result.add(name, "failed", **record_error(folder, name, "verify", exc))
            continue
        valid = report.valid
        write_json(report_file, {**report.to_dict(), "document_id": pkg.header.document_id, "at": now_iso()})
        clear_error(folder, name, "verify")
        if not valid and reject_invalid:
            write_json(_marker(folder, name, "rejected"), {"reason": f"package verification: {report.verdict}",
                                                          "at": now_iso()})
        # an invalid or indeterminate package is never "ok": flagged, it goes on to the legacy system;
        # rejected, to the status stage (02)
        outcome = "ok" if valid else "rejected" if reject_invalid else "flagged"
        result.add(name, outcome, carry=True, valid=valid, verdict=report.verdict,
                   rejected=not valid and reject_invalid)
    return result


def deliver_to_legacy(connector: LegacyConnector, names: Sequence[str], folder: Path) -> StageResult:
    """Translate with the adapter and hand each document (or status) to the legacy system."""
    result = start("legacy")
    for name in names:
        receipt = _marker(folder, name, "legacy")
        if receipt.exists():
            result.add(name, "skipped")
            continue
        if _marker(folder, name, "rejected").exists():
            result.add(name, "skipped", rejected=True)
            continue
        try:
            pkg = _load(folder, name)
            answer = connector.deliver(pkg)
        except GatewayError as exc:
            result.add(name, "failed", **record_error(folder, name, "legacy", exc))
            continue
        clear_error(folder, name, "legacy")
        flagged = _flagged(folder, name)
        write_json(receipt, {"legacy_id": answer.legacy_id, "message": answer.message, "flagged": flagged,
                             "at": now_iso()})
        result.add(name, "ok", flagged=flagged)
    return result


def _flagged(folder: Path, name: str) -> bool:
    """True when the signature report says the document's signatures are not all valid."""
    report = _marker(folder, name, "verify")
    return report.exists() and not read_json(report)["valid"]


def send_status(
    client: AxisClient, names: Sequence[str], folder: Path, *, organ_ids: Sequence[str] = ()
) -> StageResult:
    """Answer each document through the hub: 01 when the legacy system has it, 02 when rejected.

    The status package is built once (``NAME.status.edxml``) and the same bytes are sent on every
    try, so the hub's idempotency makes a resend harmless. ``organ_ids`` picks which recipient of
    the document reports (default: its first recipient).
    """
    result = start("status")
    for name in names:
        receipt = _marker(folder, name, "status")
        if receipt.exists():
            result.add(name, "skipped")
            continue
        rejected = _marker(folder, name, "rejected").exists()
        if not rejected and not _marker(folder, name, "legacy").exists():
            result.add(name, "failed", carry=False, error="not delivered to the legacy system", retryable=False)
            continue
        package_file = folder / f"{name}.status.edxml"
        try:
            if not package_file.exists():
                pkg = _load(folder, name)
                assert isinstance(pkg, EdocPackage)  # verify refused anything else
                code = StatusCode.REJECTED if rejected else StatusCode.RECEIVED
                reason = "Chữ ký số không hợp lệ" if rejected else None
                status = answer_status(pkg, code, reporter=_reporter(pkg, organ_ids), description=reason)
                write_atomic(package_file, build_package(status), publish_now=True)  # resent byte for byte
            outcome = client.deliver(package_file.read_bytes(), messagetype="status")
            if outcome.result != "delivered":
                raise (RemoteRefusalError(outcome.error or "refused", code=outcome.reason)
                       if outcome.result == "refused" else UpstreamUnavailableError(outcome.error or "unknown"))
        except GatewayError as exc:
            result.add(name, "failed", **record_error(folder, name, "status", exc))
            continue
        clear_error(folder, name, "status")
        write_json(receipt, {"docId": outcome.doc_id, "code": "02" if rejected else "01", "at": now_iso()})
        result.add(name, "ok", code="02" if rejected else "01")
    return result


def _reporter(pkg: EdocPackage, organ_ids: Sequence[str]) -> Organization | None:
    for org in pkg.header.to:
        if org.organ_id in organ_ids:
            return org
    return None


def acknowledge_statuses(client: AxisClient, names: Sequence[str], folder: Path) -> StageResult:
    """updateStatus ``done`` for status packages the legacy system has taken."""
    result = start("ack")
    for name in names:
        if _marker(folder, name, "hub").exists():
            result.add(name, "skipped")
            continue
        if not _marker(folder, name, "legacy").exists():
            result.add(name, "failed", carry=False, error="not reported to the legacy system", retryable=False)
            continue
        try:
            hub_done(client, name, folder)
        except GatewayError as exc:
            result.add(name, "failed", **record_error(folder, name, "hub", exc))
            continue
        result.add(name, "ok")
    return result


__all__ = [
    "acknowledge_statuses",
    "deliver_to_legacy",
    "hub_done",
    "list_received",
    "receive",
    "send_status",
    "verify",
]
