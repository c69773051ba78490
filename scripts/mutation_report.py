"""Print the mutation score per module from mutmut's result files (written by scripts/mutation.py).

mutmut stores one ``mutants/<source path>.meta`` JSON per mutated file, mapping each mutant's name
to the exit code of its test run (1: a test failed, the mutant is killed; 0: every test passed, it
survived; 33: no test executes it; timeouts and type-check rejections count as killed). Mutants
listed in tests/mutation/equivalent.toml — reviewed, each with the reason no test can tell it from
the original — are left out of the score (and, while their fingerprint matches the reviewed one,
not run: scripts/mutation_equivalents.py); entries to look at again are named.
Score = killed / (all − equivalent − not yet checked).

Usage: ``python scripts/mutation_report.py [MODULE ...] [--survivors]``; exit 1 when a module that was
run scores below the goal (90 %).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

from mutation_equivalents import EQUIVALENT_FILE, reviewed, still_reviewed

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "mutation"
MODULES_FILE = ROOT / "tests" / "mutation" / "modules.toml"
GOAL = 90.0

KILLED_CODES = {1, 3, 36, 37, 24, -24, 152, 255, -9, -11}  # failed test, pytest error, timeout, type check
SURVIVED_CODES = {0}
NO_TESTS_CODES = {5, 33}


def equivalent() -> dict[str, dict[str, str]]:
    return reviewed() if EQUIVALENT_FILE.exists() else {}


def results(module: str) -> dict[str, int | None] | None:
    slug = module.removesuffix(".py").replace("/", ".")
    meta = WORK / slug / "mutants" / (module + ".meta")
    if not meta.exists():
        return None
    return dict(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])


def classify(code: int | None) -> str:
    if code is None:
        return "unchecked"
    if code in KILLED_CODES:
        return "killed"
    if code in SURVIVED_CODES:
        return "survived"
    if code in NO_TESTS_CODES:
        return "no tests"
    return "suspicious"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*")
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    args = parser.parse_args(argv)
    chosen = args.modules or list(tomllib.loads(MODULES_FILE.read_text(encoding="utf-8"))["modules"])
    equiv = equivalent()
    below = []
    print(f"{'module':34} {'mutants':>7} {'killed':>6} {'surv.':>5} {'untested':>8} {'equiv.':>6} {'score':>7}")
    for module in chosen:
        codes = results(module)
        if codes is None:
            print(f"{module:34} {'(not run)':>7}")
            continue
        counts: Counter[str] = Counter()
        survivors = []
        to_review = []
        mutants_dir = WORK / module.removesuffix(".py").replace("/", ".") / "mutants"
        for name, code in sorted(codes.items()):
            kind = classify(code)
            if name in equiv and kind == "killed":
                to_review.append((name, "listed as equivalent but a test kills it: remove the entry"))
            elif name in equiv:
                kind = "equivalent"
                if not still_reviewed(mutants_dir, name, equiv):
                    to_review.append((name, "its function changed since the review (or no fingerprint)"))
            counts[kind] += 1
            if kind in ("survived", "no tests", "suspicious"):
                survivors.append((name, kind))
        scored = sum(counts.values()) - counts["equivalent"] - counts["unchecked"]
        score = 100.0 * counts["killed"] / scored if scored else 0.0
        flag = "" if score >= GOAL else "  < goal"
        if score < GOAL:
            below.append(module)
        print(f"{module:34} {len(codes):7} {counts['killed']:6} {counts['survived']:5} "
              f"{counts['no tests']:8} {counts['equivalent']:6} {score:6.1f}%{flag}"
              + (f"  ({counts['unchecked']} unchecked)" if counts["unchecked"] else ""))
        if args.survivors:
            for name, kind in survivors:
                print(f"    {kind:10} {name}")
        for name, why in to_review:
            print(f"    review: {name}: {why} (scripts/mutation_equivalents.py review {module})")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
