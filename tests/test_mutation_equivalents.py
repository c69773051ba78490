"""scripts/mutation_equivalents.py: a reviewed equivalent mutant is left out of a mutmut run only while
it is the very mutant that was reviewed, and the hook works with the mutmut the lock installs.

The last test runs the real mutmut on a two-function project in a temporary directory."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import mutation_equivalents as eq  # noqa: E402

MUTANTS = '''
def x_half__mutmut_orig(n):
    return n // 2
def x_half__mutmut_1(n):
    return n / 2
def x_half__mutmut_2(n):
    return n // 3
'''


def _mutants_dir(tmp_path: Path, text: str = MUTANTS) -> Path:
    d = tmp_path / "mutants"
    (d / "pkg").mkdir(parents=True)
    (d / "pkg" / "calc.py").write_text(text, encoding="utf-8")
    eq._functions.cache_clear()
    return d


def test_a_fingerprint_names_the_mutation_not_its_number_or_its_layout(tmp_path: Path) -> None:
    d = _mutants_dir(tmp_path)
    one, two = eq.fingerprint(d, "pkg.calc.x_half__mutmut_1"), eq.fingerprint(d, "pkg.calc.x_half__mutmut_2")
    assert one and two and one != two
    assert eq.fingerprint(d, "pkg.calc.x_half__mutmut_9") is None  # no such mutant (any more)
    # the same mutation under another number, formatted otherwise, is the same mutant
    renumbered = _mutants_dir(tmp_path / "b", "def x_half__mutmut_7(n):\n    return (n  /  2)\n")
    assert eq.fingerprint(renumbered, "pkg.calc.x_half__mutmut_7") == one
    assert "-    return n // 2\n+    return n / 2" in eq.diff(d, "pkg.calc.x_half__mutmut_1")


def test_only_untested_mutants_still_matching_their_review_are_left_out(tmp_path: Path) -> None:
    d = _mutants_dir(tmp_path)
    entries = {
        "pkg.calc.x_half__mutmut_1": {"reason": "r", "fingerprint": eq.fingerprint(d, "pkg.calc.x_half__mutmut_1") or ""},
        "pkg.calc.x_half__mutmut_2": {"reason": "r", "fingerprint": "0" * 16},  # reviewed another mutation
        "pkg.calc.x_half__mutmut_3": {"reason": "r"},  # never fingerprinted
    }
    mutants: list[tuple[Any, str, int | None]] = [
        (None, "pkg.calc.x_half__mutmut_1", None),
        (None, "pkg.calc.x_half__mutmut_2", None),
        (None, "pkg.calc.x_half__mutmut_3", None),
        (None, "pkg.calc.x_other__mutmut_1", None),
    ]
    said: list[str] = []
    wrapped = eq.skip_reviewed(lambda **kw: (list(mutants), {"k": kw}), d, entries, said.append)
    kept, by_path = wrapped(mutant_names=())
    assert [name for _, name, _ in kept] == [
        "pkg.calc.x_half__mutmut_2", "pkg.calc.x_half__mutmut_3", "pkg.calc.x_other__mutmut_1"
    ]
    assert by_path == {"k": {"mutant_names": ()}}
    assert said == ["    1 reviewed equivalent mutants not run (tests/mutation/equivalent.toml)"]
    # a result already recorded passes through (mutmut keeps it), whatever the entry says
    done: list[tuple[Any, str, int | None]] = [(None, "pkg.calc.x_half__mutmut_1", 0)]
    assert eq.skip_reviewed(lambda **kw: (done, {}), d, entries, said.append)()[0] == done


def test_writing_fingerprints_keeps_comments_and_replaces_old_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "equivalent.toml"
    toml.write_text(textwrap.dedent('''\
        # why these are equivalent
        [[equivalent]]
        mutant = "pkg.calc.x_half__mutmut_1"
        fingerprint = "old"
        reason = "a"

        [[equivalent]]
        mutant = "pkg.calc.x_half__mutmut_2"
        reason = "b"

        [[equivalent]]
        mutant = "pkg.other.x_f__mutmut_1"
        fingerprint = "kept"
        reason = "another module's entry"
        '''), encoding="utf-8")
    monkeypatch.setattr(eq, "EQUIVALENT_FILE", toml)
    eq._write_fingerprints({"pkg.calc.x_half__mutmut_1": "new1", "pkg.calc.x_half__mutmut_2": "new2"})
    assert eq.reviewed() == {
        "pkg.calc.x_half__mutmut_1": {"reason": "a", "fingerprint": "new1"},
        "pkg.calc.x_half__mutmut_2": {"reason": "b", "fingerprint": "new2"},
        "pkg.other.x_f__mutmut_1": {"reason": "another module's entry", "fingerprint": "kept"},
    }
    assert toml.read_text(encoding="utf-8").startswith("# why these are equivalent\n")


def test_the_real_mutmut_leaves_the_reviewed_mutant_untested_and_tests_the_rest(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "pkg" / "calc.py").write_text("def double(n):\n    return n * 2\n", encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text(
        "from pkg.calc import double\n\ndef test_double():\n    assert double(3) == 6\n", encoding="utf-8"
    )
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent('''\
        [tool.mutmut]
        source_paths = ["pkg"]
        pytest_add_cli_args = ["-p", "no:cacheprovider", "-o", "addopts="]
        '''), encoding="utf-8")
    toml = tmp_path / "equivalent.toml"
    toml.write_text("", encoding="utf-8")
    driver = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import mutation_equivalents as m; "
        "m.EQUIVALENT_FILE = Path(sys.argv[2]); sys.exit(m.run(['--max-children', '1']))"
    )

    def mutmut_run() -> dict[str, int | None]:
        proc = subprocess.run([sys.executable, "-c", driver, str(ROOT / "scripts"), str(toml)],
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        meta = json.loads((tmp_path / "mutants" / "pkg" / "calc.py.meta").read_text(encoding="utf-8"))
        return dict(meta["exit_code_by_key"])

    first = mutmut_run()  # nothing reviewed yet: every mutant is tested
    assert first and all(code is not None for code in first.values()), first
    # review one mutant, forget every result: the next run tests all but that one
    name = sorted(first)[0]
    print_ = eq.fingerprint(tmp_path / "mutants", name)
    toml.write_text(f'[[equivalent]]\nmutant = "{name}"\nfingerprint = "{print_}"\nreason = "test"\n', encoding="utf-8")
    meta_file = tmp_path / "mutants" / "pkg" / "calc.py.meta"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    meta["exit_code_by_key"] = dict.fromkeys(meta["exit_code_by_key"])
    meta_file.write_text(json.dumps(meta), encoding="utf-8")
    second = mutmut_run()
    assert second[name] is None
    assert all(code is not None for other, code in second.items() if other != name), second
