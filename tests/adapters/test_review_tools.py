"""Reviewing a mapping on real traffic: ``adapters diff`` (shadow runs) and ``translate --explain``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gateway.adapters.adapter import Adapter
from gateway.adapters.explain import explain_bytes
from gateway.adapters.manifest import load_manifest
from gateway.adapters.shadow import diff_corpus, earlier_adapter
from gateway.cli import main

ROOT = Path(__file__).resolve().parents[2]
QLVB = ROOT / "adapters" / "qlvb_soap"
CORPUS = sorted((QLVB / "fixtures").glob("*.in.xml"))


def _copy(tmp_path: Path, name: str = "qlvb_soap") -> Path:
    folder = tmp_path / name
    shutil.copytree(QLVB, folder)
    return folder


def _change_subject_path(folder: Path) -> None:
    mapping = folder / "mapping.toml"
    text = mapping.read_text(encoding="utf-8")
    assert '"subject" = "TrichYeu"' in text
    mapping.write_text(text.replace('"subject" = "TrichYeu"', '"subject" = "NoiDung"'), encoding="utf-8")


def test_diff_reports_exactly_the_field_a_mapping_change_alters(tmp_path: Path) -> None:
    before = Adapter(load_manifest(QLVB))
    folder = _copy(tmp_path)
    _change_subject_path(folder)
    after = Adapter(load_manifest(folder))
    diffs = diff_corpus(after, before, CORPUS)
    changed = [d for d in diffs if d.changed]
    assert changed, "the change must show on the corpus"
    assert {c.field for d in changed for c in d.changes} == {"subject"}
    d = changed[0]
    assert d.before == d.after == "valid"
    assert d.changes[0].before != d.changes[0].after
    unchanged = Adapter(load_manifest(_copy(tmp_path, "same")))
    assert not [x for x in diff_corpus(unchanged, before, CORPUS) if x.changed]


def test_diff_against_a_git_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    folder = repo / "adapters" / "qlvb_soap"
    shutil.copytree(QLVB, folder)
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "v1"], check=True)
    _change_subject_path(folder)
    current = Adapter(load_manifest(folder))
    earlier, keep = earlier_adapter(current, "HEAD")
    try:
        diffs = diff_corpus(current, earlier, CORPUS)
    finally:
        keep.cleanup()
    assert {c.field for d in diffs for c in d.changes} == {"subject"}
    with pytest.raises(Exception, match="cannot read adapter"):
        earlier_adapter(current, "no-such-revision")


def test_diff_cli_prints_fields_and_writes_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    root = tmp_path / "adapters"
    folder = _copy(root)
    _change_subject_path(folder)
    monkeypatch.setenv("LIENTHONG_ADAPTERS_DIR", str(root))
    report = tmp_path / "diff.json"
    rc = main(["adapters", "diff", "qlvb_soap", "--against", str(QLVB), *map(str, CORPUS), "--json", str(report)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "subject:" in out and "differ from" in out
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["changed"] >= 1 and data["diffs"][0]["changes"][0]["field"] == "subject"


def test_explain_names_path_line_text_and_converter() -> None:
    adapter = Adapter(load_manifest(QLVB))
    path = QLVB / "fixtures" / "cong_van_nfd.in.xml"
    rows = {r.target: r for r in explain_bytes(adapter, path.read_bytes(), source=str(path), base_dir=path.parent)}
    date_row = rows["promulgation.date"]
    assert date_row.legacy_path == "NgayBanHanh" and date_row.line and date_row.converter.startswith("date(")
    assert date_row.source == "path" and date_row.value == "2024-05-06"
    organ = rows["from.organ_id"]
    assert organ.converter == "organ" and organ.legacy_text == "UBND-NA" and organ.value == "000.00.00.H41"
    assert any(k.startswith("to[1].") for k in rows)


def test_explain_cli(capsys: pytest.CaptureFixture[str]) -> None:
    path = QLVB / "fixtures" / "cong_van_nfd.in.xml"
    assert main(["translate", "--adapter", "qlvb_soap", "--explain", "1", str(path)]) == 0
    out = capsys.readouterr().out
    assert "promulgation.date" in out and "NgayBanHanh line" in out and "via date(" in out
    assert main(["translate", "--adapter", "qlvb_soap", "--explain", "9", str(path)]) == 2
