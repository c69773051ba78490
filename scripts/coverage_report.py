"""Branch coverage of chosen modules from a coverage data file (used by ``make coverage``).

Prints, per module, lines and branches covered and the branch percentage, and flags modules under
the goal (95 % of branches). Reads coverage's own JSON report, so it depends on no private API.

With ``--require-measured MODULE:FUNCTION`` (``make coverage`` passes ``gateway/cli/hub.py:cmd_serve``
on a whole-suite run) it fails when that function has no line covered: only the ``lienthong serve``
subprocesses run it, so 0 lines means the subprocess measurement did not take effect (the hook not started, or a process
ending on SIGTERM without saving its data: see ``sigterm = true`` in ``[tool.coverage.run]``).

Usage: ``python scripts/coverage_report.py DATA_FILE [--require-measured MODULE:FUNCTION] MODULE...``
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

GOAL = 95.0


def main(argv: list[str]) -> int:
    data_file, *modules = argv
    required: list[str] = []
    while "--require-measured" in modules:
        at = modules.index("--require-measured")
        required.append(modules[at + 1])
        del modules[at : at + 2]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        subprocess.run([sys.executable, "-m", "coverage", "json", "-q", f"--data-file={data_file}", "-o", str(out),
                        f"--include={','.join(modules + [r.partition(':')[0] for r in required])}"], check=True)
        files = json.loads(out.read_text())["files"]
    print(f"{'module':34} {'lines':>11} {'branches':>11} {'branch %':>8}")
    for module in modules:
        s = files.get(module, {}).get("summary")
        if s is None:
            print(f"{module:34} {'(not measured)':>11}")
            continue
        nb, cb = s["num_branches"], s["covered_branches"]
        pct = 100.0 * cb / nb if nb else 100.0
        lines = f"{s['covered_lines']}/{s['num_statements']}"
        print(f"{module:34} {lines:>11} {f'{cb}/{nb}':>11} {pct:7.1f}%" + ("" if pct >= GOAL else "  < goal"))
    rc = 0
    for spec in required:
        module, _, function = spec.partition(":")
        summary = files.get(module, {}).get("functions", {}).get(function, {}).get("summary", {})
        covered = summary.get("covered_lines", 0)
        print(f"subprocess measurement: {spec} has {covered} lines covered (only `lienthong serve` runs it)")
        if not covered:
            print("  ERROR: the subprocesses the tests start were not measured", file=sys.stderr)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
