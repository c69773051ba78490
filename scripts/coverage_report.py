"""Branch coverage of chosen modules from a coverage data file (used by ``make coverage``).

Prints, per module, lines and branches covered and the branch percentage, and flags modules under
the goal (95 % of branches). Reads coverage's own JSON report, so it depends on no private API.

Usage: ``python scripts/coverage_report.py DATA_FILE MODULE...``
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
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        subprocess.run([sys.executable, "-m", "coverage", "json", "-q", f"--data-file={data_file}", "-o", str(out),
                        f"--include={','.join(modules)}"], check=True)
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
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
