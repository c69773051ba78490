"""Branch coverage of chosen modules from a coverage data file (used by ``make coverage``).

Prints, per module, lines and branches covered and the branch percentage, and flags modules under
the goal (95 % of branches). Reads coverage's own JSON report and its public ``CoverageData`` API,
so it depends on no private API.

``--combine`` first folds the data files written *after* pytest-cov's own combine into the data
file, appending to it. pytest-cov (``Central.finish``) combines every ``.coverage.*`` present when
the test loop ends into ``.coverage`` and deletes them; a process that outlives its test (an
orphaned sandbox worker of a SIGKILLed ``lienthong serve``, a server terminated but not waited for)
writes its own file later. A plain ``coverage combine`` would then *replace* the suite's data with
those stragglers alone (it only appends with ``--append``): that was the session-4 defect, a
whole-suite TOTAL of 0.0 %. Before combining, it waits (``--settle`` seconds, default 30) for the
processes still carrying ``COVERAGE_FILE=<data file>`` in their environment (pytest's descendants)
to end, and names those that do not.

The data file is checked before any report: no measured file with executed code, or line data
without branch data, is an error (exit 2) with a message saying so, not a report of zeros.

With ``--require-measured MODULE:FUNCTION`` (``make coverage`` passes ``gateway/cli/hub.py:cmd_serve``
on a whole-suite run) it fails when that function has no line covered: only the ``lienthong serve``
subprocesses run it, so 0 lines means the subprocess measurement did not take effect (the hook not started, or a process
ending on SIGTERM without saving its data: see ``sigterm = true`` in ``[tool.coverage.run]``).

Usage: ``python scripts/coverage_report.py DATA_FILE [--combine] [--settle S]
[--require-measured MODULE:FUNCTION] MODULE...``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 95.0
SOURCE = Path(__file__).resolve().parents[1] / "gateway"


def _pop_flag(args: list[str], flag: str) -> bool:
    if flag in args:
        args.remove(flag)
        return True
    return False


def _pop_values(args: list[str], option: str) -> list[str]:
    values = []
    while option in args:
        at = args.index(option)
        if at + 1 >= len(args):
            raise SystemExit(f"{option} needs a value")
        values.append(args[at + 1])
        del args[at : at + 2]
    return values


def measuring_processes(data_file: Path) -> list[tuple[int, str]]:
    """Processes (pid, command line) whose environment names ``data_file`` as ``COVERAGE_FILE``."""
    marker = f"COVERAGE_FILE={data_file}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if stat.rpartition(")")[2].split()[0] == "Z":  # a zombie has saved whatever it was going to save
            continue
        found.append((int(entry.name), cmdline))
    return found


def combine_late_files(data_file: Path, settle: float) -> int:
    """Wait for measured processes to end, then append the parallel data files to ``data_file``.

    Returns the number of files combined."""
    import coverage

    deadline = time.monotonic() + settle
    while (alive := measuring_processes(data_file)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, cmdline in alive:
        print(f"coverage: pid {pid} still running after {settle:g} s, its data is not included: {cmdline[:160]}")
    late = sorted(data_file.parent.glob(data_file.name + ".*"))
    if not late:
        return 0
    cov = coverage.Coverage(data_file=str(data_file))
    cov.load()  # append: never start from an empty file (what `coverage combine` without --append does)
    cov.combine([str(p) for p in late], strict=False)  # an unreadable file is warned about and left in place
    cov.save()
    return len(late)


def check_data(data_file: Path) -> str | None:
    """A sentence saying why ``data_file`` holds no usable branch data, or None when it does."""
    import coverage

    if not data_file.exists():
        return f"no coverage data: {data_file} does not exist"
    data = coverage.CoverageData(str(data_file))
    data.read()
    files = data.measured_files()
    executed = [f for f in files if data.lines(f)]
    if not executed:
        return (f"no data was measured: {data_file} lists {len(files)} files and none has an executed line "
                "(tests not run under coverage, or a data file replaced by an empty one)")
    ours = [f for f in executed if Path(f).is_relative_to(SOURCE)]
    if not ours:
        return (f"no data was measured for {SOURCE}: the code executed is elsewhere ({executed[0]}, ...); "
                "is .venv's editable install pointing at another checkout? (run make setup here)")
    if not data.has_arcs():
        return (f"{data_file} holds line data only, no branch data ({len(executed)} files executed): "
                "run with --cov-branch / branch = true")
    return None


def main(argv: list[str]) -> int:
    data_file, *modules = argv
    data_path = Path(data_file).resolve()
    combine = _pop_flag(modules, "--combine")
    settle = float((_pop_values(modules, "--settle") or ["30"])[-1])
    required = _pop_values(modules, "--require-measured")
    if combine:
        n = combine_late_files(data_path, settle)
        print(f"coverage: {n} data file(s) written after pytest-cov's combine appended")
    problem = check_data(data_path)
    if problem is not None:
        print(f"ERROR: {problem}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "coverage.json"
        subprocess.run([sys.executable, "-m", "coverage", "json", "-q", f"--data-file={data_path}", "-o", str(out),
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
