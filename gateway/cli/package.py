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
        "time (role attachment); with the profile's xml_signature = true the package also gets the edXML "
        "Signature. Writes OUT_DIR/<same name>; existing outputs are skipped; a package that "
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
        help="verify packages as a whole: every file, every signature, the package Signature",
        description="One report per package: every manifest file accounted for (PDFs verified, non-PDF "
        "files per --non-pdf, extra files reported), the main document's agency seal over the leader's "
        "signature, attachment stamps showing the header's Code, the edXML package Signature. Exit "
        "status 0 all valid, 1 any invalid, 3 otherwise indeterminate.",
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--profiles", type=Path, help="take [trust] from this profiles TOML")
    p.add_argument("--json", action="store_true")
    p.add_argument("--non-pdf", choices=["package-signature", "reject", "allow"], default="package-signature",
                   help="policy for non-PDF attachments (default: accepted only under a valid package Signature)")
    p.add_argument("--require-package-signature", action="store_true",
                   help="a package without the edXML Signature is invalid")
    p.add_argument("--no-visual", action="store_true", help="skip the rendered-page comparison")
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
        report = stamp_folder(args.inputs, args.output, signer, placeholder=args.placeholder,
                              xml_signature=profile.xml_signature)
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        for item in report.items:
            detail = item.get("error") or item.get("output", "")
            print(f"{item['outcome']:8s} {item['source']}  {detail}")
        print(report.summary())
    return 1 if report.failed else 0


def _verify(args: argparse.Namespace) -> int:
    from gateway.cli.signing import overall_exit
    from gateway.signing.package_verify import PackagePolicy, format_package_report, verify_package_file
    from gateway.signing.profiles import load_signing_settings

    settings = load_signing_settings(args.profiles)
    policy = PackagePolicy(non_pdf=args.non_pdf, require_package_signature=args.require_package_signature)
    reports = [verify_package_file(path, settings.trust, policy=policy, visual=not args.no_visual)
               for path in args.files]
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        print("\n".join(format_package_report(r) for r in reports))
    return overall_exit(r.verdict for r in reports)


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
