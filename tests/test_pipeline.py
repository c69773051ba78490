"""The pipeline steps between adapters and hub: stamping packages, verifying them, answering with statuses."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from gateway.cli import main as cli
from gateway.edxml import (
    BytesPayload,
    EdocPackage,
    StatusCode,
    StatusPackage,
    build_package,
    parse_package,
    validate_bytes,
)
from gateway.edxml.samples import sample_edoc
from gateway.errors import SigningError
from gateway.exchange.steps import answer_status, stamp_folder, stamp_package, verify_package
from gateway.signing.profiles import SigningSettings, load_signing_settings
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import make_sample_pdf

PKI = Path(__file__).resolve().parents[1] / "certs.example"


@pytest.fixture(scope="module")
def settings() -> SigningSettings:
    return load_signing_settings(PKI / "profiles.toml")


@pytest.fixture(scope="module")
def signed_by_person(settings: SigningSettings) -> bytes:
    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as person:
        return person.sign_main(make_sample_pdf(2))


def real_package(main_pdf: bytes, number: int = 77) -> EdocPackage:
    pkg = sample_edoc(number, attachments=2)
    main, appendix = pkg.attachments
    return replace(pkg, attachments=(
        replace(main, payload=BytesPayload(main_pdf)),
        replace(appendix, payload=BytesPayload(make_sample_pdf(1, placeholder=None))),
    ))


def test_stamp_package_signs_main_and_attachment(settings: SigningSettings, signed_by_person: bytes) -> None:
    pkg = real_package(signed_by_person)
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        stamped = stamp_package(pkg, agency)
    validate_bytes(build_package(stamped))
    results = verify_package(stamped, settings.trust)
    assert [r.name for r in results] == [a.name for a in pkg.attachments]
    main, appendix = (r.report for r in results)
    assert main.valid and appendix.valid
    assert sorted(s.role for s in main.signatures) == ["agency", "signer"]
    assert [s.role for s in appendix.signatures] == ["agency"]
    # The unsigned original fails verification: the report says so instead of raising.
    assert not verify_package(pkg, settings.trust)[1].report.valid


def test_stamp_package_without_pdf_is_a_clear_error(settings: SigningSettings) -> None:
    pkg = sample_edoc(attachments=0)
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency, \
            pytest.raises(SigningError, match="no PDF attachment"):
        stamp_package(pkg, agency)


def test_stamp_folder_isolates_failures_and_skips_done_work(
    tmp_path: Path, settings: SigningSettings, signed_by_person: bytes
) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.edxml").write_bytes(build_package(real_package(signed_by_person, 1)))
    (inbox / "b-no-pdf.edxml").write_bytes(build_package(sample_edoc(2, attachments=0)))
    (inbox / "c.edxml").write_bytes(build_package(real_package(signed_by_person, 3)))
    out = tmp_path / "out"
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        first = stamp_folder([inbox], out, agency)
        second = stamp_folder([inbox], out, agency)
    assert (first.count("ok"), first.failed) == (2, 1)
    error = json.loads((out / "b-no-pdf.stamp.error.json").read_text())
    assert "no PDF attachment" in error["error"] and error["stage"] == "stamp"
    assert not (out / "b-no-pdf.edxml").exists()
    assert (second.count("skipped"), second.failed) == (2, 1)  # the bad one is retried, the good ones kept


def test_answer_status_refers_to_the_document() -> None:
    doc = sample_edoc()
    status = answer_status(doc, StatusCode.ACCEPTED, now=datetime(2026, 11, 27, 10, 0, 0).astimezone())
    assert status.from_ == doc.header.to[0]
    assert status.response_for.document_id == doc.header.document_id
    assert status.response_for.code == "2440/UBND-VX"
    assert status.description == "Đã tiếp nhận"
    withdrawal = answer_status(doc, StatusCode.CANCELLATION)
    assert withdrawal.from_ == doc.header.from_
    validate_bytes(build_package(status))


def test_cli_package_status_and_sign(tmp_path: Path, signed_by_person: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "doc.edxml"
    src.write_bytes(build_package(real_package(signed_by_person)))
    out = tmp_path / "status.edxml"
    assert cli(["package", "status", str(src), "--code", "05", "--staff", "Lê Văn B", "-o", str(out)]) == 0
    status = parse_package(out).package
    assert isinstance(status, StatusPackage) and status.status_code == StatusCode.PROCESSING
    assert status.staff_info is not None and status.staff_info.staff == "Lê Văn B"
    assert cli(["package", "status", str(src), "--code", "14", "-o", str(out)]) == 2
    assert "expected one of 01-06, 13, 15, 16" in capsys.readouterr().err

    profiles = str(PKI / "profiles.toml")
    signed = tmp_path / "signed"
    assert cli(["package", "sign", str(src), "-o", str(signed), "--profile", "ubnd-thu-nghiem", "--profiles", profiles]) == 0
    assert cli(["package", "verify", str(signed / "doc.edxml"), "--profiles", profiles]) == 0
    assert cli(["package", "verify", str(src), "--profiles", profiles]) == 1  # appendix not signed yet
