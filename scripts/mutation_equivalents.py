"""Reviewed equivalent mutants: their fingerprints, and a mutmut run that does not retest them.

An equivalent mutant (no test can tell it from the original) survives by definition, and a
survivor is the most expensive mutant there is: mutmut runs every test of the subset that executes
its function (verify.py: about 17 s of tests each, for 28 equivalents). tests/mutation/equivalent.toml
lists each one with the reason it is equivalent and the **fingerprint** of the mutant that was
reviewed: a hash of the mutated function as mutmut generated it (its body, under a neutral name).

- ``run`` (what scripts/mutation.py calls instead of ``python -m mutmut run``) runs mutmut with the
  not-yet-tested mutants whose fingerprint matches their reviewed entry left out. They stay
  "not checked" in mutmut's files and the report counts them as equivalent. A mutant whose function
  changed since the review, or an entry without a fingerprint, is tested like any other mutant.
- ``review MODULE`` prints each listed equivalent of MODULE with its diff, its reason and whether
  its fingerprint is current; ``review MODULE --write`` records the current fingerprints (after the
  diffs were read against the reasons: that is the review).

The hook is one function of mutmut's (``collect_source_file_mutation_data``), wrapped, so a
mutmut upgrade that renames it fails loudly here rather than silently testing everything.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import hashlib
import re
import sys
import tomllib
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENT_FILE = ROOT / "tests" / "mutation" / "equivalent.toml"
WORK = ROOT / "var" / "mutation"
_NAME = re.compile(r"^(?P<module>[\w.]+?)\.(?P<func>xǁ.+|x_.+)$")


def split_name(mutant: str) -> tuple[str, str]:
    """``gateway.server.hub.xǁHubServiceǁinbox__mutmut_38`` → (``gateway/server/hub.py``, the def's name)."""
    m = _NAME.match(mutant)
    if m is None:
        raise ValueError(f"not a mutmut mutant name: {mutant!r}")
    return m["module"].replace(".", "/") + ".py", m["func"]


@cache
def _functions(mutants_file: Path) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    tree = ast.parse(mutants_file.read_text(encoding="utf-8"))
    return {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "__mutmut_" in node.name
    }


def _source(mutants_dir: Path, source_file: str, func: str) -> str | None:
    node = _functions(mutants_dir / source_file).get(func)
    if node is None:
        return None
    renamed = ast.parse(ast.unparse(node)).body[0]
    assert isinstance(renamed, ast.FunctionDef | ast.AsyncFunctionDef)
    renamed.name = "f"  # the fingerprint says what the mutant does, not which number mutmut gave it
    return ast.unparse(renamed)


def fingerprint(mutants_dir: Path, mutant: str) -> str | None:
    """A hash of the mutated function as generated in ``mutants_dir``; None when it is not there."""
    source_file, func = split_name(mutant)
    text = _source(mutants_dir, source_file, func)
    return None if text is None else hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def diff(mutants_dir: Path, mutant: str) -> str:
    """The mutation as a unified diff against the original function."""
    source_file, func = split_name(mutant)
    orig = _source(mutants_dir, source_file, func.rsplit("__mutmut_", 1)[0] + "__mutmut_orig") or ""
    mutated = _source(mutants_dir, source_file, func) or ""
    return "\n".join(difflib.unified_diff(orig.splitlines(), mutated.splitlines(), lineterm="", n=1))


def reviewed() -> dict[str, dict[str, str]]:
    """Each listed equivalent: its reason and (when recorded) the fingerprint that was reviewed."""
    data = tomllib.loads(EQUIVALENT_FILE.read_text(encoding="utf-8"))
    out: dict[str, dict[str, str]] = {}
    for entry in data.get("equivalent", []):
        if not str(entry.get("reason", "")).strip():
            raise SystemExit(f"{EQUIVALENT_FILE}: mutant {entry.get('mutant')!r} is listed without a reason")
        out[str(entry["mutant"])] = {k: str(v) for k, v in entry.items() if k != "mutant"}
    return out


def still_reviewed(mutants_dir: Path, mutant: str, entries: dict[str, dict[str, str]]) -> bool:
    """True when ``mutant`` is listed and is still the very mutant that was reviewed."""
    recorded = entries.get(mutant, {}).get("fingerprint")
    return recorded is not None and recorded == fingerprint(mutants_dir, mutant)


def skip_reviewed(
    collect: Callable[..., tuple[list[tuple[Any, str, int | None]], dict[str, Any]]],
    mutants_dir: Path,
    entries: dict[str, dict[str, str]],
    report: Callable[[str], None] = print,
) -> Callable[..., tuple[list[tuple[Any, str, int | None]], dict[str, Any]]]:
    """Wrap mutmut's ``collect_source_file_mutation_data``: leave out untested reviewed equivalents."""

    def wrapped(**kwargs: Any) -> tuple[list[tuple[Any, str, int | None]], dict[str, Any]]:
        mutants, by_path = collect(**kwargs)
        kept = [m for m in mutants if m[2] is not None or not still_reviewed(mutants_dir, m[1], entries)]
        skipped = len(mutants) - len(kept)
        if skipped:
            report(f"    {skipped} reviewed equivalent mutants not run (tests/mutation/equivalent.toml)")
        return kept, by_path

    return wrapped


def run(argv: list[str]) -> int:
    """``mutmut run ARGV`` in the current directory (a module's work dir), reviewed equivalents left out."""
    import mutmut.__main__ as mutmut_main

    original = mutmut_main.collect_source_file_mutation_data  # AttributeError: mutmut changed, see the doc
    mutmut_main.collect_source_file_mutation_data = skip_reviewed(original, Path("mutants"), reviewed())
    try:
        mutmut_main.cli(["run", *argv], standalone_mode=False)
    except SystemExit as exc:  # mutmut's own exit(1) on a failed clean run
        return int(exc.code or 0)
    return 0


def _write_fingerprints(prints: dict[str, str]) -> None:
    """Set ``fingerprint = "…"`` under each ``mutant = "NAME"`` line of equivalent.toml (comments
    kept; entries not in ``prints`` keep the fingerprint they have)."""
    prints = {
        **{name: e["fingerprint"] for name, e in reviewed().items() if "fingerprint" in e},
        **prints,
    }
    out: list[str] = []
    lines = iter(EQUIVALENT_FILE.read_text(encoding="utf-8").splitlines())
    for line in lines:
        if line.startswith("fingerprint = "):
            continue  # rewritten below, after its mutant line
        out.append(line)
        m = re.fullmatch(r'mutant = "(.+)"', line)
        if m and m[1] in prints:
            out.append(f'fingerprint = "{prints[m[1]]}"')
    EQUIVALENT_FILE.write_text("\n".join(out) + "\n", encoding="utf-8")


def review(module: str, write: bool) -> int:
    slug = module.removesuffix(".py").replace("/", ".")
    mutants_dir = WORK / slug / "mutants"
    if not (mutants_dir / module).exists():
        print(f"{mutants_dir / module} does not exist: run `make mutation MODULES={module}` first", file=sys.stderr)
        return 2
    entries = reviewed()
    prints = {}
    stale = 0
    for name in sorted(n for n in entries if n.startswith(slug + ".")):
        current = fingerprint(mutants_dir, name)
        recorded = entries[name].get("fingerprint")
        state = "missing" if current is None else "current" if current == recorded else "NOT REVIEWED"
        stale += state != "current"
        print(f"== {name} [{state}]\n   reason: {entries[name]['reason']}\n{diff(mutants_dir, name)}\n")
        if current is not None:
            prints[name] = current
    print(f"{stale} of {sum(n.startswith(slug + '.') for n in entries)} entries of {module} not current")
    if write:
        _write_fingerprints(prints)
        print(f"fingerprints written to {EQUIVALENT_FILE.relative_to(ROOT)}")
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["run"]:
        return run(args[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="mutmut run, reviewed equivalents left out (arguments go to mutmut)")
    rev = sub.add_parser("review", help="show the listed equivalents of a module with their diffs")
    rev.add_argument("module")
    rev.add_argument("--write", action="store_true", help="record the current fingerprints")
    ns = parser.parse_args(args)
    return review(ns.module, ns.write)


if __name__ == "__main__":
    raise SystemExit(main())
