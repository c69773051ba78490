"""Mutation testing of the security-critical modules with mutmut, one module at a time (``make mutation``).

mutmut 3 copies the source tree and the tests into ``./mutants``, rewrites every function of the
mutated files into a trampoline that dispatches to the original or to one mutant, runs the
selected tests once to learn which tests execute which function ("stats"), then runs, for each
mutant, only those tests (``-x``: the first failure kills it). Its configuration is the
``[tool.mutmut]`` table of the ``pyproject.toml`` of the directory it runs in, so this script gives
each module its own work directory, ``var/mutation/<module>/``, whose ``pyproject.toml`` is the
project's with ``only_mutate`` set to that module and ``pytest_add_cli_args_test_selection`` to the
tests guarding it (tests/mutation/modules.toml). Each directory keeps mutmut's cache: a rerun only
tests mutants of functions that changed.

Usage: ``python scripts/mutation.py [MODULE ...] [--max-children N] [--report-only]``.
The per-module score is printed by scripts/mutation_report.py at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MODULES_FILE = ROOT / "tests" / "mutation" / "modules.toml"
WORK = ROOT / "var" / "mutation"
# read-only trees the code or the tests open relative to the package (symlinked, copied by mutmut)
LINKED = ("gateway", "tests", "schemas", "adapters", "dags", "certs.example")


def slug(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def modules() -> dict[str, list[str]]:
    data = tomllib.loads(MODULES_FILE.read_text(encoding="utf-8"))
    return {name: list(spec["tests"]) for name, spec in data["modules"].items()}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(value)


def prepare(module: str, tests: list[str]) -> Path:
    """The module's work directory: links to the tree, a pyproject.toml with its mutmut table."""
    work = WORK / slug(module)
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = work / name
        if not link.is_symlink() and (ROOT / name).exists():
            link.symlink_to(ROOT / name)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    base = tomllib.loads(text)["tool"]["mutmut"]
    table = {**base, "only_mutate": [module], "pytest_add_cli_args_test_selection": tests}
    head, sep, _ = text.partition("[tool.mutmut]")
    assert sep, "pyproject.toml has no [tool.mutmut] table"
    tail = text.split("[tool.mutmut]", 1)[1]
    rest = tail[tail.find("\n[") :] if "\n[" in tail else ""
    body = "\n".join(f"{k} = {_toml_value(v)}" for k, v in table.items())
    (work / "pyproject.toml").write_text(f"{head}[tool.mutmut]\n{body}\n{rest}", encoding="utf-8")
    # a changed test or source file is picked up by mutmut's own change detection; the copies of
    # tests/ and the non-Python trees are refreshed here (mutmut never overwrites an existing copy)
    for name in ("tests", "schemas", "adapters", "dags", "certs.example"):
        shutil.rmtree(work / "mutants" / name, ignore_errors=True)
    return work


def run(module: str, tests: list[str], max_children: int) -> int:
    work = prepare(module, tests)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("LIENTHONG_TEST_DATABASE_URL", None)  # SQLite: one schema per test would be too slow here
    # a mutant that makes a test's wait hang fails it after 5 s, not at mutmut's timeout (tests/patience.py)
    env.setdefault("LIENTHONG_TEST_PATIENCE_S", "5")
    started = time.monotonic()
    print(f"== {module}: mutmut run with {' '.join(tests)}", flush=True)
    log = work / "mutmut.log"
    with log.open("w") as out:
        # mutmut run, the reviewed equivalent mutants left out (scripts/mutation_equivalents.py)
        runner = [sys.executable, str(ROOT / "scripts" / "mutation_equivalents.py"), "run"]
        rc = subprocess.call([*runner, "--max-children", str(max_children)],
                             cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT)
    print(f"   done in {time.monotonic() - started:.0f} s (exit {rc}; log {log.relative_to(ROOT)})", flush=True)
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="module paths (default: every module of modules.toml)")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutant workers (default 1)")
    parser.add_argument("--report-only", action="store_true", help="print the last scores, run nothing")
    args = parser.parse_args(argv)
    known = modules()
    chosen = args.modules or list(known)
    unknown = [m for m in chosen if m not in known]
    if unknown:
        parser.error(f"not in {MODULES_FILE.relative_to(ROOT)}: {', '.join(unknown)}")
    failed = []
    if not args.report_only:
        for module in chosen:
            if run(module, known[module], args.max_children) != 0:
                failed.append(module)
    sys.path.insert(0, str(ROOT / "scripts"))
    from mutation_report import main as report

    rc = report(chosen)
    if failed:
        print(f"mutmut failed for: {', '.join(failed)} (see their mutmut.log)", file=sys.stderr)
        return 2
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
