"""``lienthong sign`` / ``lienthong verify`` end to end (in-process, through the real parser)."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.cli import main
from gateway.signing.testing import make_sample_pdf

from .conftest import PKI

PROFILES = str(PKI / "profiles.toml")


def test_sign_person_then_agency_then_verify_json(tmp_path, capsys):
    src = tmp_path / "doc.pdf"
    src.write_bytes(make_sample_pdf(2))
    step1, step2 = tmp_path / "s1.pdf", tmp_path / "s2.pdf"
    assert main(["sign", str(src), "--profiles", PROFILES, "--profile", "nguyen-van-an", "-o", str(step1)]) == 0
    assert main(["sign", str(step1), "--profiles", PROFILES, "--profile", "ubnd-thu-nghiem", "-o", str(step2)]) == 0
    capsys.readouterr()
    assert main(["verify", str(step2), "--profiles", PROFILES, "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["valid"] and [s["role"] for s in report["signatures"]] == ["signer", "agency"]


def test_attachment_needs_ref_and_errors_are_one_line(tmp_path, capsys):
    src = tmp_path / "a.pdf"
    src.write_bytes(make_sample_pdf(1))
    code = main(
        [
            "sign",
            str(src),
            "--profiles",
            PROFILES,
            "--profile",
            "ubnd-thu-nghiem",
            "--role",
            "attachment",
            "-o",
            str(tmp_path / "o.pdf"),
        ]
    )
    assert code == 2 and "--ref" in capsys.readouterr().err


def test_batch_folder_keeps_going_after_a_bad_file(tmp_path, capsys):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    for i in range(3):
        (inbox / f"d{i}.pdf").write_bytes(make_sample_pdf(2, number=i))
    (inbox / "broken.pdf").write_bytes(b"not a pdf at all")
    code = main(
        [
            "sign",
            str(inbox),
            "--profiles",
            PROFILES,
            "--profile",
            "ubnd-thu-nghiem",
            "--role",
            "attachment",
            "--ref",
            "9/QĐ-UBND",
            "-o",
            str(outbox),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1 and "broken.pdf" in captured.err and "signed 3 of 4" in captured.out
    assert sorted(p.name for p in outbox.iterdir()) == ["d0.pdf", "d1.pdf", "d2.pdf"]
    assert main(["verify", *map(str, sorted(outbox.iterdir())), "--profiles", PROFILES]) == 0
    assert capsys.readouterr().out.count(": VALID") == 3


def test_verify_text_report_for_untrusted_signature(tmp_path, capsys):
    src = tmp_path / "doc.pdf"
    src.write_bytes(make_sample_pdf(1))
    out = tmp_path / "u.pdf"
    assert main(["sign", str(src), "--profiles", PROFILES, "--profile", "untrusted-signer", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--trust-root", str(PKI / "root-ca.pem")]) == 3
    captured = capsys.readouterr()
    assert "INDETERMINATE" in captured.out and "untrusted root" in captured.out
    assert "Traceback" not in captured.err


def test_explicit_anchor(tmp_path):
    src = tmp_path / "doc.pdf"
    src.write_bytes(make_sample_pdf(2, placeholder=None))
    out = tmp_path / "o.pdf"
    args = [
        "sign",
        str(src),
        "--profiles",
        PROFILES,
        "--profile",
        "ubnd-thu-nghiem",
        "--page",
        "1",
        "--rect",
        "300,100,450,160",
        "-o",
        str(out),
    ]
    assert main(args) == 0 and Path(out).stat().st_size > src.stat().st_size
