"""``lienthong sign`` and ``lienthong verify``: Decree 30 PDF signatures from the command line.

``sign`` takes one PDF or a folder of PDFs (batch, with a progress bar; one bad file never stops
the others) and signs them with a profile from the signing profiles file. ``verify`` prints a
readable report per file, or JSON with ``--json``; its exit status is 0 only if every file has
at least one signature and all of them are valid, 1 if any is invalid, 3 if the worst is
indeterminate (never 0: an indeterminate signature is not a valid one).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError, GatewayError
from gateway.signing.profiles import TrustConfig, load_signing_settings


def _quiet_libraries(args: argparse.Namespace) -> None:
    # pyHanko logs full tracebacks for every untrusted chain; the report already says why.
    if not getattr(args, "debug", False):
        for name in ("pyhanko", "pyhanko_certvalidator"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _rect(text: str) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x0,y0,x1,y1 in points, got {text!r}") from None
    if x1 <= x0 or y1 <= y0:
        raise argparse.ArgumentTypeError("rectangle must have x1 > x0 and y1 > y0")
    return (x0, y0, x1, y1)


def register(subparsers: Any) -> None:
    """Add the ``sign`` and ``verify`` subcommands."""
    sign = subparsers.add_parser(
        "sign",
        help="stamp and sign PDFs with a signing profile (Decree 30 appearance, PAdES)",
        description="Sign one PDF, or every *.pdf in a folder, with the key, image and PAdES level of a "
        "signing profile. Roles: main (signature image / seal over the signer's image), attachment "
        "(top-right number/notation + time) and copy (top-right copy form, agency, time). Stamps follow the "
        "page as read (CropBox, /Rotate). Refuses, with the reason: CA, TSA, expired or not-yet-valid "
        "certificates, and any input whose existing signatures do not verify against the profiles' [trust].",
    )
    sign.add_argument("input", type=Path, help="a PDF file, or a folder of PDFs for a batch")
    sign.add_argument("-o", "--output", type=Path, required=True, help="output PDF (or folder for a batch)")
    sign.add_argument("--profile", required=True, help="profile name in the profiles file")
    sign.add_argument("--profiles", help="signing profiles TOML (default: $LIENTHONG_SIGNING_PROFILES)")
    sign.add_argument(
        "--role", choices=["main", "attachment", "copy"], default="main", help="appearance (default main)"
    )
    sign.add_argument(
        "--ref",
        help='main document number/notation for --role attachment, e.g. "123/QĐ-UBND" '
        "(wrapped to at most 2 lines; longer is refused)",
    )
    sign.add_argument("--copy-form", default="SAO Y", help='copy form for --role copy (default "SAO Y")')
    sign.add_argument("--copy-agency", help="copying agency for --role copy (default: profile agency_name)")
    sign.add_argument("--page", type=int, help="1-based page of the anchor rectangle (with --rect)")
    sign.add_argument("--rect", type=_rect, help="anchor rectangle x0,y0,x1,y1 in points (with --page)")
    sign.add_argument("--placeholder", help="placeholder text marking the signature slot (default [[CHU_KY]])")
    sign.add_argument("--tsa-url", help="override the profile's timestamp authority URL")
    sign.set_defaults(handler=_sign)

    verify = subparsers.add_parser(
        "verify",
        help="verify the signatures of PDFs and print a report",
        description="Check every signature: integrity, every later revision and what the pages show, "
        "chain to the trust roots, revocation (CRLs and embedded validation data), certificate purpose, "
        "time and stamp time, and agency/signer role (from the certificate). Exit status: 0 all valid, "
        "1 some invalid, 3 none invalid but some indeterminate (e.g. revocation not checked).",
    )
    verify.add_argument("pdfs", nargs="+", type=Path, help="PDF files to verify")
    verify.add_argument(
        "--profiles", help="take [trust] from this profiles TOML (default: $LIENTHONG_SIGNING_PROFILES)"
    )
    verify.add_argument("--trust-root", action="append", type=Path, default=[], help="trusted root PEM (repeatable)")
    verify.add_argument("--intermediate", action="append", type=Path, default=[], help="intermediate CA PEM")
    verify.add_argument("--crl", action="append", type=Path, default=[], help="CRL file (DER or PEM)")
    verify.add_argument("--json", action="store_true", help="print the reports as JSON")
    verify.add_argument(
        "--no-visual", action="store_true", help="skip rendering the pages to compare signed and final revisions"
    )
    verify.add_argument(
        "--diff-dir", type=Path, help="write a PNG of every visible change after signing into this folder"
    )
    verify.set_defaults(handler=_verify)


def _sign_options(args: argparse.Namespace) -> dict[str, Any]:
    from gateway.signing.placement import Anchor

    if args.role == "attachment":
        if not args.ref:
            raise ConfigurationError("--role attachment needs --ref with the main document's number/notation")
        return {"reference": args.ref}
    if args.role == "copy":
        return {"copy_form": args.copy_form, "copying_agency": args.copy_agency}
    if (args.page is None) != (args.rect is None):
        raise ConfigurationError("--page and --rect go together")
    options: dict[str, Any] = {"placeholder": args.placeholder}
    if args.rect is not None:
        options["anchor"] = Anchor(args.page - 1, args.rect)
    return options


def _sign(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from gateway.signing.sign import DocumentSigner

    _quiet_libraries(args)
    settings = load_signing_settings(args.profiles)
    profile = settings.profile(args.profile)
    options = _sign_options(args)
    batch = args.input.is_dir()
    if batch:
        inputs = sorted(p for p in args.input.iterdir() if p.suffix.lower() == ".pdf" and p.is_file())
        args.output.mkdir(parents=True, exist_ok=True)
        targets = [(p, args.output / p.name) for p in inputs]
    else:
        targets = [(args.input, args.output)]
    failures = 0
    with (
        DocumentSigner(profile, settings.trust, tsa_url=args.tsa_url) as signer,
        Progress(transient=True, disable=not batch or not sys.stderr.isatty()) as progress,
    ):
        task = progress.add_task("signing", total=len(targets))
        for src, dst in targets:
            try:
                dst.write_bytes(signer.sign(src.read_bytes(), args.role, **options))
            except (GatewayError, OSError) as exc:
                failures += 1
                print(f"{src}: error: {exc}", file=sys.stderr)
                if not batch:
                    return 2 if isinstance(exc, GatewayError) and not exc.retryable else 1
            progress.advance(task)
    if batch:
        print(f"signed {len(targets) - failures} of {len(targets)} PDFs into {args.output}")
    else:
        print(f"signed {args.input} -> {args.output}")
    return 1 if failures else 0


def _trust(args: argparse.Namespace) -> TrustConfig:
    if args.trust_root:
        return TrustConfig(roots=tuple(args.trust_root), intermediates=tuple(args.intermediate), crls=tuple(args.crl))
    trust = load_signing_settings(args.profiles).trust
    return TrustConfig(
        roots=trust.roots,
        intermediates=trust.intermediates + tuple(args.intermediate),
        crls=trust.crls + tuple(args.crl),
    )


def _verify(args: argparse.Namespace) -> int:
    from gateway.signing.verify import VerificationReport, format_report, verify_pdf

    _quiet_libraries(args)
    trust = _trust(args)
    reports: list[VerificationReport] = []
    for path in args.pdfs:
        try:
            data = path.read_bytes()
        except OSError as exc:
            reports.append(VerificationReport(source=str(path), error=f"cannot read: {exc.strerror}"))
            continue
        reports.append(verify_pdf(data, trust, source=str(path), visual=not args.no_visual, diff_dir=args.diff_dir))
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        print("\n".join(format_report(r) for r in reports))
    return overall_exit(r.verdict for r in reports)


def overall_exit(verdicts: Any) -> int:
    """0 when every verdict is valid, 1 when any is invalid, else 3 (indeterminate)."""
    from gateway.signing.verify import EXIT_CODES

    seen = set(verdicts)
    worst = "invalid" if "invalid" in seen or not seen else "indeterminate" if "indeterminate" in seen else "valid"
    return EXIT_CODES[worst]
