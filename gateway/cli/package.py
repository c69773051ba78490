"""``lienthong package sign | verify | status``: the pipeline steps on edXML packages.

Signing pulls in pyHanko (about half a second); it is imported inside the handlers so that
every other ``lienthong`` command starts without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gateway.edxml import EdocPackage, Organization, StaffInfo, StatusCode, build_package, parse_package
from gateway.errors import ConfigurationError
from gateway.files import write_atomic


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "package",
        help="pipeline steps on edXML packages: sign, verify, status",
        description="Steps between the adapters and the hub: stamp the agency signature on a package's "
        "PDFs, verify an inbound package's PDF signatures, answer a document with a status package.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser(
        "sign",
        help="stamp the agency's Decree 30 signature on every PDF of the packages",
        description="For each document package in IN (files or folders of .edxml): the first PDF gets the "
        "seal over the signer's signature (role main), every other PDF the top-right number/notation and "
        "time (role attachment). Writes OUT_DIR/<same name>; existing outputs are skipped; a package that "
        "fails gets OUT_DIR/<name>.stamp.error.json and the batch goes on. Exit status 1 if any failed.",
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="IN")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT_DIR")
    p.add_argument("--profile", required=True, help="signing profile name (an agency profile)")
    p.add_argument("--profiles", type=Path, help="signing profiles TOML (default $LIENTHONG_SIGNING_PROFILES)")
    p.add_argument("--placeholder", help="text marking the signature slot on the main document (default [[CHU_KY]])")
    p.add_argument("--tsa-url", help="timestamp authority URL for B-T/B-LT profiles (overrides the profile)")
    p.add_argument("--json", action="store_true", help="print the stage report as JSON")
    p.set_defaults(handler=_sign)

    p = actions.add_parser(
        "verify",
        help="verify the signatures of every PDF in packages",
        description="Report every PDF signature of each package: integrity, coverage, chain to the trust "
        "roots, revocation, time, agency/signer role. Exit status 0 only when every PDF carries at least "
        "one signature and all are valid.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--profiles", type=Path, help="take [trust] from this profiles TOML")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=_verify)

    p = actions.add_parser(
        "status",
        help="make the status package that answers a document package",
        description="Build the status package (01 received, 02 rejected, 03 accepted, 04 assigned, "
        "05 processing, 06 finished, 13 withdrawal, 15/16 change accepted/rejected) about FILE.",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--code", required=True, help="status code, e.g. 03")
    p.add_argument("--from-organ", help="reporting OrganId (default: the first recipient; the sender for 13)")
    p.add_argument("--from-name", help="reporting organisation's name")
    p.add_argument("--description", help="free text (reason, comment); default the code's label")
    p.add_argument("--staff", help="person who acted")
    p.add_argument("--department", help="that person's department")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT")
    p.set_defaults(handler=_status)


def _sign(args: argparse.Namespace) -> int:
    from gateway.exchange.steps import stamp_folder
    from gateway.signing.profiles import load_signing_settings
    from gateway.signing.sign import DocumentSigner

    settings = load_signing_settings(args.profiles)
    profile = settings.profile(args.profile)
    with DocumentSigner(profile, settings.trust, tsa_url=args.tsa_url) as signer:
        report = stamp_folder(args.inputs, args.output, signer, placeholder=args.placeholder)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for item in report.items:
            detail = item.get("error") or item.get("output", "")
            print(f"{item['outcome']:8s} {item['source']}  {detail}")
        print(report.summary())
    return 1 if report.failed else 0


def _verify(args: argparse.Namespace) -> int:
    from gateway.exchange.steps import verify_package
    from gateway.signing.profiles import load_signing_settings

    settings = load_signing_settings(args.profiles)
    all_valid = True
    out: list[dict[str, Any]] = []
    for path in args.files:
        pkg = parse_package(path).package
        if not isinstance(pkg, EdocPackage):
            raise ConfigurationError(f"{path}: a status package carries no PDFs to verify")
        results = verify_package(pkg, settings.trust, source=path.name)
        if not results:
            all_valid = False
        for r in results:
            all_valid &= r.report.valid
            out.append({"package": str(path), **r.to_dict()})
            if not args.json:
                verdict = "valid" if r.report.valid else "INVALID"
                print(f"{path.name}: {r.name}: {verdict}")
                for sig in r.report.signatures:
                    why = "; ".join(sig.reasons) or "ok"
                    print(f"    {sig.field_name} ({sig.role}) {sig.signer_name or '?'}: {why}")
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0 if all_valid else 1


def _status(args: argparse.Namespace) -> int:
    from gateway.exchange.steps import answer_status

    pkg = parse_package(args.file).package
    if not isinstance(pkg, EdocPackage):
        raise ConfigurationError(f"{args.file}: a status answers a document package, not a status package")
    try:
        code = StatusCode.from_wire(args.code)
    except ValueError:
        raise ConfigurationError(f"--code {args.code!r}: expected one of 01-06, 13, 15, 16") from None
    reporter = Organization(args.from_organ, args.from_name) if args.from_organ else None
    staff = StaffInfo(args.department, args.staff) if args.staff or args.department else None
    status = answer_status(pkg, code, reporter=reporter, description=args.description, staff=staff)
    write_atomic(args.output, build_package(status))
    print(f"{args.output}: status {code.wire} ({code.label_vi}) about {pkg.header.document_id}", file=sys.stderr)
    return 0
