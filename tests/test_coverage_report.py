"""scripts/coverage_report.py, the end of `make coverage`: late data files are appended, never
substituted for the suite's data, and a data file without usable branch data is an error.

The data files are real coverage data (coverage's public ``CoverageData`` API), over real modules of
gateway/; the script runs as `make coverage` runs it, in a subprocess without the outer run's
coverage variables.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

from coverage import CoverageData

ROOT = Path(__file__).resolve().parents[1]
BUILD = str(ROOT / "gateway" / "edxml" / "build.py")
FILES = str(ROOT / "gateway" / "files.py")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    return {**env, **extra}


def _report(data_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "coverage_report.py"), str(data_file), *args],
                          cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)


def _chain(source: str, n: int) -> list[tuple[int, int]]:
    """Arcs through the first ``n`` top-level statements of ``source``: ``n`` lines executed."""
    lines = [node.lineno for node in ast.parse(Path(source).read_text(encoding="utf-8")).body[1 : n + 1]]
    return list(zip([-1, *lines], [*lines, -1], strict=True))


def _arcs(path: Path, arcs: dict[str, list[tuple[int, int]]]) -> None:
    data = CoverageData(str(path))
    data.add_arcs({f: set(a) for f, a in arcs.items()})
    data.write()


def _row(out: str, module: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(module))


def test_a_late_data_file_is_appended_to_the_suites_data(tmp_path: Path) -> None:
    main = tmp_path / ".coverage"
    _arcs(main, {BUILD: _chain(BUILD, 3)})  # what pytest-cov combined
    late = tmp_path / ".coverage.vm.pid4242.Xlate.abc"
    _arcs(late, {FILES: _chain(FILES, 2)})  # an orphaned process, after that combine
    done = _report(main, "--combine", "--settle", "0", "gateway/edxml/build.py", "gateway/files.py")
    assert done.returncode == 0, done.stderr
    assert "1 data file(s) written after pytest-cov's combine appended" in done.stdout
    # both survive: a plain `coverage combine` would have kept only the late file's gateway/files.py
    assert "(not measured)" not in done.stdout
    assert _row(done.stdout, "gateway/edxml/build.py").split()[1].startswith("3/")
    assert _row(done.stdout, "gateway/files.py").split()[1].startswith("2/")
    assert not late.exists()
    data = CoverageData(str(main))
    data.read()
    assert {BUILD, FILES} <= data.measured_files() and data.has_arcs()


def test_no_late_file_leaves_the_data_as_it_is(tmp_path: Path) -> None:
    main = tmp_path / ".coverage"
    _arcs(main, {BUILD: _chain(BUILD, 3)})
    done = _report(main, "--combine", "--settle", "0", "gateway/edxml/build.py")
    assert done.returncode == 0, done.stderr
    assert "0 data file(s) written after" in done.stdout
    assert _row(done.stdout, "gateway/edxml/build.py").split()[1].startswith("3/")


def test_line_data_without_branches_is_an_error_not_a_key_error(tmp_path: Path) -> None:
    main = tmp_path / ".coverage"
    data = CoverageData(str(main))
    data.add_lines({BUILD: {1, 3}})
    data.write()
    done = _report(main, "gateway/edxml/build.py")
    assert done.returncode == 2
    assert "line data only, no branch data" in done.stderr and "Traceback" not in done.stderr


def test_nothing_executed_says_no_data_was_measured(tmp_path: Path) -> None:
    main = tmp_path / ".coverage"
    data = CoverageData(str(main))
    data.add_arcs({})
    data.touch_files([BUILD, FILES])  # what a run that executed nothing of gateway/ leaves: files at 0 %
    data.write()
    done = _report(main, "gateway/edxml/build.py")
    assert done.returncode == 2
    assert "no data was measured" in done.stderr and "lists 2 files and none has an executed line" in done.stderr
    missing = _report(tmp_path / "absent" / ".coverage", "gateway/edxml/build.py")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_code_measured_in_another_checkout_is_refused(tmp_path: Path) -> None:
    main = tmp_path / ".coverage"
    _arcs(main, {str(tmp_path / "other" / "gateway" / "edxml" / "build.py"): [(-1, 1), (1, -1)]})
    done = _report(main, "gateway/edxml/build.py")
    assert done.returncode == 2
    assert "the code executed is elsewhere" in done.stderr and "another checkout" in done.stderr


def test_combine_waits_for_measured_processes_and_names_those_left_running(tmp_path: Path) -> None:
    main = tmp_path / ".coverage"
    _arcs(main, {BUILD: _chain(BUILD, 1)})
    late = tmp_path / ".coverage.vm.pid1.Xslow.abc"
    # a process of the measured run (COVERAGE_FILE names our data file) that writes its data at its end
    writer = ("import sys, time\nfrom coverage import CoverageData\ntime.sleep(float(sys.argv[1]))\n"
              f"d = CoverageData({str(late)!r}); d.add_arcs({{{FILES!r}: {{(-1, 1), (1, -1)}}}}); d.write()\n")
    quick = subprocess.Popen([sys.executable, "-c", writer, "1.5"], env=_env(COVERAGE_FILE=str(main)))
    slow = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=_env(COVERAGE_FILE=str(main)))
    try:
        started = time.monotonic()
        done = _report(main, "--combine", "--settle", "6", "gateway/edxml/build.py", "gateway/files.py")
        waited = time.monotonic() - started
    finally:
        slow.kill()
        slow.wait()
        quick.wait(30)
    assert done.returncode == 0, done.stderr
    assert f"pid {slow.pid} still running after 6 s, its data is not included" in done.stdout
    assert f"pid {quick.pid} " not in done.stdout
    assert waited >= 6
    # the quick one ended within the settle time: its file was written, then appended
    assert "1 data file(s) written after" in done.stdout and not late.exists()
    assert "(not measured)" not in done.stdout
