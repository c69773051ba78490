"""``lienthong adapters list|check|test|new``, ``lienthong translate`` and ``lienthong legacy-sim``.

The integrator's toolkit: see what adapters were discovered and what is wrong with them, run
the contract kit, scaffold a new adapter from a legacy XSD/WSDL, translate batches either way
with a progress bar and a summary table, and run the simulated QLVB system for a demo.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.errors import GatewayError

if TYPE_CHECKING:  # the adapters framework (xmlschema, zeep) and rich load in the handlers
    from gateway.adapters import Adapter, AdapterRegistry, DocumentResult


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "adapters",
        help="list, check, test and scaffold legacy adapters",
        description="Adapters translate legacy XML dialects to and from edXML. They are found in "
        "adapters/*/adapter.toml (or LIENTHONG_ADAPTERS_DIR) and in the 'lienthong.adapters' entry-point group.",
    )
    sub = p.add_subparsers(dest="adapters_command", metavar="ACTION")
    q = sub.add_parser(
        "list",
        help="discovered adapters, versions, directions, transport, problems",
        description="List every adapter folder found, with the problem that stops it, if any.",
    )
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    q.set_defaults(handler=_list)
    q = sub.add_parser(
        "check",
        help="load adapters fully (manifest, mapping, schema paths) and dry-run the reverse direction",
        description="Load each adapter (or CODE) the way the gateway will, write the sample packages back "
        "through the reverse mapping, and look for values that cannot go back (code tables) or lose data "
        "(date-times into dates). Errors exit 1; warnings are printed.",
    )
    q.add_argument("code", nargs="?", help="one adapter code (default: all)")
    q.set_defaults(handler=_check)
    q = sub.add_parser(
        "test",
        help="run the contract kit on one or all adapters",
        description="Every *.in.xml translates, validates and equals its *.expected.edxml; the reverse "
        "direction round-trips; *.in.edxml gives *.expected.xml; *-N_errors.xml gives exactly N errors.",
    )
    q.add_argument("code", nargs="?", help="one adapter code (default: all)")
    q.add_argument("--update", action="store_true", help="write missing or changed expected files (review them)")
    q.set_defaults(handler=_test)
    q = sub.add_parser("new", help="scaffold an adapter folder from a legacy XSD or WSDL",
                       description="Create adapters/CODE with a manifest, the schema, a mapping skeleton listing "
                       "the legacy fields, an example fixture and a README.")  # fmt: skip
    q.add_argument("code", help="lower_snake code of the new adapter")
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--xsd", type=Path, help="the legacy XSD")
    src.add_argument("--wsdl", type=Path, help="the legacy WSDL (its XSD must sit beside it or be given with --xsd)")
    q.add_argument("--schema", type=Path, help="with --wsdl: the XSD the WSDL imports")
    q.add_argument("--element", help="the element holding one document: a global element or a path to a local "
                   "one, e.g. GoiVanBan/VanBan (default: the largest global element, or its repeated child)")
    q.add_argument("--dir", type=Path, help="where to create the folder (default: the adapters folder)")
    q.add_argument("--sample", type=Path, metavar="FILE", help="a real export: draft the mapping from it (each "
                   "proposed field with its reason and confidence) and keep it as the first fixture")
    q.set_defaults(handler=_new)
    from gateway.cli.adapters_review import register_diff

    register_diff(sub)
    p.set_defaults(handler=lambda a: (p.print_help(), 2)[1])

    p = subparsers.add_parser(
        "translate",
        help="translate legacy files to edXML packages (or back with --to-legacy)",
        description="Translate every document of every IN (files or folders) with adapter CODE into OUT_DIR. "
        "Legacy → edXML writes one validated .edxml per document; --to-legacy reads .edxml packages and "
        "writes legacy files (and their side files). A report.json and a summary table list ok/failed per "
        "document. Exit status 1 when any document failed.",
    )
    p.add_argument("--adapter", required=True, metavar="CODE")
    p.add_argument("paths", nargs="+", type=Path, metavar="IN… OUT_DIR")
    p.add_argument("--to-legacy", action="store_true", help="edXML packages → legacy documents")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--explain", type=int, nargs="?", const=1, metavar="N",
                   help="instead of translating, show for document N (default 1) of the one input where each "
                   "edXML field came from: legacy path, line, text, converter (OUT_DIR is not needed)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="with --explain: print JSON")
    p.set_defaults(handler=_translate)

    p = subparsers.add_parser(
        "legacy-sim",
        help="run the simulated QLVB legacy SOAP system (for demos)",
        description="Serve the qlvb_soap WSDL on 127.0.0.1 with a pending queue, an inbox and state reports. "
        "Documents given with --queue wait in the outgoing queue. Stops on Ctrl-C.",
    )
    p.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    p.add_argument("--queue", type=Path, nargs="*", default=[], metavar="VANBAN.xml")
    p.set_defaults(handler=_legacy_sim)


def _list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from gateway.adapters import discover
    from gateway.adapters.discovery import default_adapter_dirs

    found = discover()
    rows: list[dict[str, Any]] = [
        {
            "code": f.code,
            "version": f.manifest.version if f.manifest else None,
            "directions": sorted(f.manifest.directions) if f.manifest else [],
            "transport": f.manifest.transport.kind if f.manifest else None,
            "push": bool(f.manifest and f.manifest.can_push),
            "encoding": f.manifest.encoding if f.manifest else None,
            "origin": f.origin,
            "folder": str(f.folder),
            "problem": f.problem,
        }
        for f in found
    ]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        table = Table(title=f"adapters ({', '.join(str(d) for d in default_adapter_dirs())} + entry points)")
        for col in ("code", "version", "directions", "transport", "encoding", "origin", "problem"):
            table.add_column(col, overflow="fold")
        for r in rows:
            transport = f"{r['transport']}{' +push' if r['push'] else ''}" if r["transport"] else ""
            table.add_row(r["code"], str(r["version"] or ""), ", ".join(r["directions"]), transport,
                          r["encoding"] or "", r["origin"], r["problem"] or "")  # fmt: skip
        Console().print(table)
    return 1 if any(r["problem"] for r in rows) else 0


def _codes(registry: AdapterRegistry, code: str | None) -> list[str]:
    return [code] if code else registry.codes()


def _check(args: argparse.Namespace) -> int:
    from gateway.adapters import Adapter, discover
    from gateway.adapters.dry_run import dry_run

    bad = 0
    for f in discover():
        if args.code and f.code != args.code:
            continue
        if f.problem:
            print(f"FAIL {f.code}: {f.problem}")
            bad += 1
            continue
        try:
            assert f.manifest is not None
            adapter = Adapter(f.manifest)
            kinds = ", ".join(adapter.mapping.kinds)
            findings = dry_run(adapter)
        except GatewayError as exc:
            print(f"FAIL {f.code}: {exc}")
            bad += 1
            continue
        errors = [x for x in findings if x.level == "error"]
        print(f"{'FAIL' if errors else 'ok  '} {f.code} v{f.manifest.version}: {kinds}; {adapter.schema.path.name}")
        for finding in findings:
            print(f"       {finding}")
        bad += bool(errors)
    return 1 if bad else 0


def _test(args: argparse.Namespace) -> int:
    from gateway.adapters import AdapterRegistry, run_contract

    registry = AdapterRegistry()
    failed = 0
    total = 0
    for code in _codes(registry, args.code):
        for check in run_contract(registry.get(code), update=args.update):
            total += 1
            failed += not check.ok
            print(check)
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed or not total else 0


def _new(args: argparse.Namespace) -> int:
    from gateway.adapters.discovery import default_adapter_dirs
    from gateway.adapters.scaffold import scaffold

    xsd = args.xsd or args.schema
    if xsd is None and args.wsdl is not None:
        siblings = sorted(args.wsdl.parent.glob("*.xsd"))
        if len(siblings) != 1:
            print("lienthong adapters new: give the WSDL's schema with --schema FILE", file=sys.stderr)
            return 2
        xsd = siblings[0]
    root = args.dir or default_adapter_dirs()[0]
    folder = scaffold(args.code, xsd, root, wsdl=args.wsdl, element=args.element, sample=args.sample)
    print(f"created {folder}")
    if args.sample is not None:
        from gateway.adapters.scaffold import last_draft

        draft = last_draft(folder)
        rows = [(p.target, p.path, p.sample, p.confidence) for p in draft.fields]
        for name, (head, fields) in draft.groups.items():
            rows.append((f"{name} (group)", head.path, head.sample, head.confidence))
            rows += [(f"{name}.{p.target}", p.path, p.sample, p.confidence) for p in fields]
        width = max((len(r[0]) for r in rows), default=10)
        print(f"drafted {len(rows)} field(s) from {args.sample.name}; review mapping.toml (each line says why):")
        for target, path, sample, confidence in rows:
            print(f"  {target:<{width}}  {confidence:4.2f}  {path}  = {sample!r}")
    print(f"next: fill {folder / 'mapping.toml'}, put real documents in {folder / 'fixtures'}, "
          f"then run: lienthong adapters test {args.code} --update")  # fmt: skip
    return 0


def _inputs(paths: list[Path], patterns: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for pattern in patterns for p in path.rglob(pattern) if p.is_file())
        else:
            files.append(path)
    return files


def _write(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)


def _translate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from gateway.adapters import AdapterRegistry

    if args.explain is not None:
        from gateway.cli.adapters_review import explain

        if len(args.paths) != 1 or args.to_legacy:
            print("lienthong translate --explain: give exactly one legacy input (no OUT_DIR)", file=sys.stderr)
            return 2
        return explain(AdapterRegistry().get(args.adapter), args.paths[0], args.explain, args.json)
    if len(args.paths) < 2:
        print("lienthong translate: give at least one input and the output folder", file=sys.stderr)
        return 2
    *inputs, out_dir = args.paths
    adapter = AdapterRegistry().get(args.adapter)
    patterns = ("*.edxml",) if args.to_legacy else ("*.xml", "*.mime")
    files = _inputs(inputs, patterns)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, disable=args.quiet or len(files) < 2)  # fmt: skip
    with progress:
        task = progress.add_task(f"{adapter.code}", total=len(files))
        for path in files:
            if args.to_legacy:
                results.append(_to_legacy_one(adapter, path, out_dir))
            else:
                results += [_record(r, path, out_dir) for r in adapter.translate_files([path]).results]
            progress.advance(task)
    ok = sum(1 for r in results if r["ok"])
    _write(out_dir / "report.json", json.dumps({"adapter": adapter.code, "total": len(results), "ok": ok,
           "failed": len(results) - ok, "documents": results}, ensure_ascii=False, indent=2).encode())  # fmt: skip
    table = Table(title=f"{adapter.code}: {ok} ok, {len(results) - ok} failed of {len(results)}")
    for col in ("source", "#", "legacy id", "result"):
        table.add_column(col, overflow="fold")
    shown = [r for r in results if not r["ok"]][:50] + [r for r in results if r["ok"]][
        : max(0, 20 - (len(results) - ok))
    ]
    for r in shown:
        table.add_row(Path(r["source"]).name, str(r["index"]), r.get("legacy_id") or "",
                      r.get("output") if r["ok"] else _cell(r["errors"]))  # fmt: skip
    Console().print(table)
    return 0 if ok == len(results) and results else 1


def _cell(errors: list[str], shown: int = 5) -> str:
    """At most ``shown`` errors of one document, each clipped: the table stays cheap to render
    (rich folds every cell character by character; thousands of errors took minutes and GBs)."""
    from gateway.issues import clip

    cell = "; ".join(clip(e, 300) for e in errors[:shown])
    more = len(errors) - shown
    return cell + (f"; and {more} more (see report.json)" if more > 0 else "")


def _record(result: DocumentResult, path: Path, out_dir: Path) -> dict[str, Any]:
    entry: dict[str, Any] = {"source": str(path), "index": result.index, "legacy_id": result.legacy_id,
                             "ok": result.ok, "verdict": result.verdict, "errors": [str(e) for e in result.errors],
                             "warnings": [str(w) for w in result.warnings]}  # fmt: skip
    if result.ok and result.edxml is not None:
        name = f"{path.stem}.edxml" if result.index == 1 and not result.legacy_id else None
        name = name or f"{path.stem}-{result.index}.edxml"
        _write(out_dir / name, result.edxml)
        entry["output"] = name
        entry["document_id"] = result.document_id
    return entry


def _to_legacy_one(adapter: Adapter, path: Path, out_dir: Path) -> dict[str, Any]:
    from gateway.edxml import parse_package

    entry: dict[str, Any] = {"source": str(path), "index": 1, "ok": False, "errors": []}
    try:
        package = parse_package(path).package
        out = adapter.to_legacy(package)
    except GatewayError as exc:
        entry["errors"] = [str(exc)]
        return entry
    suffix = ".mime" if adapter.manifest.container == "mime" else ".xml"
    target = out_dir / (path.stem + suffix)
    if out.files:
        for rel, content in out.files.items():
            _write(out_dir / path.stem / rel, content)
        target = out_dir / path.stem / (path.stem + suffix)
    _write(target, out.data)
    entry.update(ok=True, output=str(target.relative_to(out_dir)))
    return entry


def _legacy_sim(args: argparse.Namespace) -> int:
    from gateway.legacy_sim import QlvbSimulator

    sim = QlvbSimulator(port=args.port)
    for path in args.queue:
        sim.queue(path.read_bytes())
    sim.start()
    print(f"QLVB simulator: endpoint {sim.endpoint}  WSDL {sim.wsdl_url}  ({len(sim.outgoing)} queued)")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # demo scripts stop it with kill PID
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
