"""``lienthong validate | inspect | extract``: look at edXML packages from the command line."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from gateway.edxml import EdocPackage, ParseResult, StatusPackage, parse_package
from gateway.edxml.build import format_date, format_datetime
from gateway.edxml.measure import DigestOnlyStore
from gateway.errors import GatewayError, SchemaValidationError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "validate",
        help="check edXML packages: valid / accepted with warnings / invalid",
        description="Check each FILE against the lenient reader and the strict QCVN 102:2016 profile. "
        "Exit status 0 when every file is usable (valid or accepted with warnings), 1 otherwise.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object per file (a JSON array)")
    p.add_argument("--strict", action="store_true", help="treat warnings and profile departures as invalid")
    p.set_defaults(handler=_validate)

    p = subparsers.add_parser(
        "inspect",
        help="print a readable summary of one package",
        description="Summarise a document or status package: sender, recipients, number and notation, "
        "dates, subject, signer, business type, attachments (name, type, size, sha256), status details.",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(handler=_inspect)

    p = subparsers.add_parser(
        "extract",
        help="write a package's attachments into a folder",
        description="Decode every attachment of FILE (unzipping one-entry ZIPs) into DIR, named by "
        "AttachmentName made safe: folder parts, control characters and reserved device names removed, "
        "long names shortened keeping the extension, and attachments sharing a name told apart as "
        "'name (2).pdf' (each change is reported). Existing files are not overwritten unless --force is "
        "given. Exit status 1 when any attachment was not written.",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.set_defaults(handler=_extract)


def _verdict(path: Path, strict: bool) -> dict[str, Any]:
    try:
        result = parse_package(path, store=DigestOnlyStore())
    except SchemaValidationError as exc:
        return {
            "file": str(path),
            "verdict": "invalid",
            "error": exc.message,
            "issues": [{"line": i.line, "path": i.path, "message": i.message} for i in exc.issues],
        }
    except GatewayError as exc:
        loc = exc.location
        where = ", ".join(x for x in (f"line {loc.line}" if loc and loc.line else "", loc.path if loc else "") if x)
        return {
            "file": str(path),
            "verdict": "invalid",
            "error": f"{exc.message}" + (f" ({where})" if where else ""),
            "error_type": type(exc).__name__,
            "issues": [],
        }
    verdict = "valid" if result.strictly_valid else "accepted with warnings"
    if strict and not result.strictly_valid:
        verdict = "invalid"
    kind = "status" if isinstance(result.package, StatusPackage) else "edoc"
    return {
        "file": str(path),
        "verdict": verdict,
        "kind": kind,
        "warnings": list(result.warnings),
        "issues": [{"line": i.line, "path": i.path, "message": i.message} for i in result.schema_issues],
    }


def _validate(args: argparse.Namespace) -> int:
    reports = [_verdict(p, args.strict) for p in args.files]
    if args.json:
        print(json.dumps(reports, ensure_ascii=False, indent=2))
    else:
        for r in reports:
            print(f"{r['file']}: {r['verdict']}" + (f" ({r['kind']})" if "kind" in r else ""))
            if r.get("error"):
                print(f"  error: {r['error']}")
            for w in r.get("warnings", []):
                print(f"  warning: {w}")
            for i in r["issues"]:
                where = ", ".join(x for x in (f"line {i['line']}" if i["line"] else "", i["path"] or "") if x)
                label = "profile" if r["verdict"] != "invalid" or "kind" in r else "issue"
                print(f"  {label}: {where + ': ' if where else ''}{i['message']}")
    return 0 if all(r["verdict"] != "invalid" for r in reports) else 1


def summarise(result: ParseResult) -> dict[str, Any]:
    """A JSON-friendly summary of a parsed package (used by ``inspect`` and the hub's operator API)."""
    pkg = result.package
    if isinstance(pkg, StatusPackage):
        return {
            "kind": "status",
            "from": {"organ_id": pkg.from_.organ_id, "name": pkg.from_.organ_name},
            "status_code": pkg.status_code.wire,
            "status_vi": pkg.status_code.label_vi,
            "status_en": pkg.status_code.label_en,
            "description": pkg.description,
            "timestamp": format_datetime(pkg.timestamp),
            "response_for": {
                "organ_id": pkg.response_for.organ_id,
                "code": pkg.response_for.code,
                "document_id": pkg.response_for.document_id,
                "promulgation_date": format_date(pkg.response_for.promulgation_date)
                if pkg.response_for.promulgation_date
                else None,
            },
            "staff": None
            if pkg.staff_info is None
            else {"department": pkg.staff_info.department, "staff": pkg.staff_info.staff},
            "warnings": list(result.warnings),
        }
    assert isinstance(pkg, EdocPackage)
    h = pkg.header
    business = pkg.trace.business
    return {
        "kind": "edoc",
        "document_id": h.document_id,
        "from": {"organ_id": h.from_.organ_id, "name": h.from_.organ_name},
        "to": [{"organ_id": t.organ_id, "name": t.organ_name} for t in h.to],
        "code": str(h.code),
        "document_type": h.document_type.type_name,
        "promulgation_date": format_date(h.promulgation_info.promulgation_date),
        "place": h.promulgation_info.place,
        "due_date": format_date(h.due_date) if h.due_date else None,
        "subject": h.subject,
        "signer": " ".join(x for x in (h.signer_info.competence, h.signer_info.position, h.signer_info.full_name) if x),
        "priority": h.other_info.priority.name.lower(),
        "business_type": pkg.business_type.name.lower(),
        "business_target": business.document_id if business else None,
        "trace": [
            {"organ_id": t.organ_id, "timestamp": format_datetime(t.timestamp)} for t in pkg.trace.trace_headers
        ],
        "attachments": [
            {
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "sha256": a.sha256,
                "zipped_in_transit": a.transfer_zipped,
            }
            for a in pkg.attachments
        ],
        "package_signature": pkg.signature_xml is not None,
        "warnings": list(result.warnings),
    }


def _inspect(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="lienthong-inspect-") as tmp:
        result = parse_package(args.file, store=_store(Path(tmp)))
        info = summarise(result)
    if args.json:
        print(json.dumps(info, ensure_ascii=False, indent=2))
        return 0
    out = sys.stdout
    if info["kind"] == "status":
        out.write(f"Status package  {args.file}\n")
        out.write(f"  from          {info['from']['organ_id']}  {info['from']['name'] or ''}\n")
        out.write(f"  status        {info['status_code']}  {info['status_vi']} ({info['status_en']})\n")
        out.write(f"  time          {info['timestamp']}\n")
        rf = info["response_for"]
        out.write(f"  about         {rf['document_id']}  ({rf['code']}, {rf['organ_id']})\n")
        if info["description"]:
            out.write(f"  description   {info['description']}\n")
        if info["staff"]:
            out.write(f"  staff         {info['staff']['staff'] or ''}, {info['staff']['department'] or ''}\n")
    else:
        out.write(f"Document package  {args.file}\n")
        out.write(f"  document id   {info['document_id']}\n")
        out.write(f"  from          {info['from']['organ_id']}  {info['from']['name'] or ''}\n")
        for t in info["to"]:
            out.write(f"  to            {t['organ_id']}  {t['name'] or ''}\n")
        out.write(f"  number        {info['code']}  ({info['document_type']})\n")
        out.write(f"  issued        {info['promulgation_date']}  {info['place'] or ''}\n")
        if info["due_date"]:
            out.write(f"  due           {info['due_date']}\n")
        out.write(f"  subject       {info['subject']}\n")
        out.write(f"  signer        {info['signer']}\n")
        out.write(f"  priority      {info['priority']}\n")
        target = f" -> {info['business_target']}" if info["business_target"] else ""
        out.write(f"  business      {info['business_type']}{target}\n")
        for t in info["trace"]:
            out.write(f"  hop           {t['timestamp']}  {t['organ_id'] or '-'}\n")
        for a in info["attachments"]:
            z = " (zipped in transit)" if a["zipped_in_transit"] else ""
            out.write(f"  attachment    {a['name']}  {a['content_type']}  {a['size']} bytes{z}\n")
            out.write(f"                sha256 {a['sha256']}\n")
    for w in info["warnings"]:
        out.write(f"  warning       {w}\n")
    return 0


def _store(root: Path) -> Any:
    from gateway.blobstore import BlobStore

    return BlobStore(root)


def _extract(args: argparse.Namespace) -> int:
    """Write every attachment under a safe, unique name; report each rename and each failure.

    One attachment that cannot be written (an existing file without ``--force``, a file system
    error) is reported and the others are still written; the exit status is then 1.
    """
    from gateway.edxml.names import unique_names

    args.dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="lienthong-extract-") as tmp:
        result = parse_package(args.file, store=_store(Path(tmp)))
        pkg = result.package
        if not isinstance(pkg, EdocPackage):
            print(f"{args.file}: a status package has no attachments", file=sys.stderr)
            return 1
        for att, safe in zip(pkg.attachments, unique_names([a.name for a in pkg.attachments]), strict=True):
            target = args.dir / safe.name
            for change in safe.changes:
                print(f"{target}: name changed from {safe.original!r}: {change}", file=sys.stderr)
            if target.exists() and not args.force:
                print(f"{target}: exists, not written (use --force to overwrite)", file=sys.stderr)
                failures += 1
                continue
            try:
                with att.payload.open() as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except OSError as exc:
                print(f"{target}: cannot write: {exc.strerror}", file=sys.stderr)
                target.unlink(missing_ok=True)
                failures += 1
                continue
            print(f"{target}  {att.size} bytes  sha256 {att.sha256}")
    return 1 if failures else 0
