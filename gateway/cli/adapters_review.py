"""``lienthong adapters diff`` and ``lienthong translate --explain``: reviewing a mapping on real traffic.

Kept apart from ``gateway.cli.adapters`` (the everyday toolkit) because both are for reviewing
a mapping rather than running it: a shadow run of a corpus against an earlier version, and the
field-by-field provenance of one document.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register_diff(sub: Any) -> None:
    q = sub.add_parser(
        "diff",
        help="translate a corpus with the current mapping and an earlier one; print per-field differences",
        description="Shadow run before a switch: every document of CORPUS (files or folders of recorded legacy "
        "traffic or fixtures) is translated with adapter CODE as it is now and as it was at --against (a git "
        "revision of this repository, e.g. HEAD~1 or main, or another adapter folder). Prints each changed "
        "document with the fields that differ (before → after) and writes --json REPORT. Exit 1 when any "
        "document changed.",
    )
    q.add_argument("code", help="the adapter code")
    q.add_argument("--against", required=True, metavar="REV|DIR", help="git revision or adapter folder")
    q.add_argument("corpus", nargs="+", type=Path, metavar="CORPUS")
    q.add_argument("--json", type=Path, metavar="REPORT", help="also write the report as JSON")
    q.set_defaults(handler=_diff)


def _corpus(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".xml", ".mime"))
        else:
            files.append(path)
    return files


def _diff(args: argparse.Namespace) -> int:
    from gateway.adapters import AdapterRegistry
    from gateway.adapters.shadow import diff_corpus, earlier_adapter

    current = AdapterRegistry().get(args.code)
    earlier, keep = earlier_adapter(current, args.against)
    try:
        diffs = diff_corpus(current, earlier, _corpus(args.corpus))
    finally:
        if keep is not None:
            keep.cleanup()
    changed = [d for d in diffs if d.changed]
    for d in changed:
        who = f"{Path(d.source).name}#{d.index}" + (f" ({d.legacy_id})" if d.legacy_id else "")
        outcome = d.after if d.before == d.after else f"{d.before} → {d.after}"
        print(f"{who}: {outcome}")
        for c in d.changes:
            print(f"    {c.field}: {c.before!r} → {c.after!r}")
        for e in d.errors_after if d.before != d.after else []:
            print(f"    error now: {e}")
    print(f"{args.code}: {len(changed)} of {len(diffs)} document(s) differ from {args.against}")
    if args.json:
        report = {"adapter": args.code, "against": args.against, "documents": len(diffs),
                  "changed": len(changed), "diffs": [d.as_dict() for d in changed]}  # fmt: skip
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 1 if changed else 0


def explain(adapter: Any, path: Path, index: int, as_json: bool) -> int:
    """Print where every edXML field of document ``index`` of ``path`` came from."""
    from gateway.adapters.explain import explain_bytes

    rows = explain_bytes(adapter, path.read_bytes(), source=str(path), index=index, base_dir=path.parent)
    if as_json:
        print(json.dumps([r.as_dict() for r in rows], ensure_ascii=False, indent=2))
        return 0
    print(f"{adapter.code}: {path.name}, document {index} (paths relative to the document element)")
    width = max((len(r.target) for r in rows), default=10)
    for r in rows:
        value = "(absent)" if r.source == "missing" else repr(r.value) if r.value is not None else "None"
        if r.source == "error":
            value = "ERROR"
        origin = {"constant": "constant", "default": f"default (nothing at {r.legacy_path})"}.get(
            r.source, f"{r.legacy_path}" + (f" line {r.line}" if r.line else "")
        )
        if r.source == "alternative path":
            origin += " [alternative path]"
        conv = f" via {r.converter}" if r.source in ("path", "alternative path", "error") else ""
        text = f" from {r.legacy_text!r}" if r.legacy_text is not None and r.legacy_text != r.value else ""
        note = f"  ({r.note})" if r.note else ""
        print(f"  {r.target:<{width}} = {value}  ← {origin}{text}{conv}{note}")
    return 1 if any(r.source == "error" for r in rows) else 0


__all__ = ["explain", "register_diff"]
