"""Shared fixtures for the signing tests: the committed test PKI, profiles, a local TSA over HTTP,
an NSS database trusting the test root (for poppler's pdfsig) and helpers to run the independent
verifiers (pdfsig, mutool)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.signing.profiles import SigningSettings, load_signing_settings
from gateway.signing.testing import LocalTimestampAuthority, make_sample_pdf

PKI = Path(__file__).resolve().parents[2] / "certs.example"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:  # a missing tool is a broken CI image, not a reason to skip silently
        pytest.fail(f"{tool} is not installed (see scripts/apt-packages.txt)")
    return path


@pytest.fixture(scope="session")
def pki() -> Path:
    return PKI


@pytest.fixture(scope="session")
def settings() -> SigningSettings:
    return load_signing_settings(PKI / "profiles.toml")


@pytest.fixture(scope="session")
def tsa() -> Iterator[LocalTimestampAuthority]:
    with LocalTimestampAuthority(PKI) as server:
        yield server


@pytest.fixture(scope="session")
def sample_pdf() -> bytes:
    return make_sample_pdf(2)


@pytest.fixture(scope="session")
def nssdb(tmp_path_factory: pytest.TempPathFactory) -> str:
    certutil = need("certutil")
    d = tmp_path_factory.mktemp("nss")
    subprocess.run([certutil, "-N", "-d", f"sql:{d}", "--empty-password"], check=True)
    subprocess.run(
        [
            certutil,
            "-A",
            "-d",
            f"sql:{d}",
            "-n",
            "lienthong-test-root",
            "-t",
            "CT,C,C",
            "-i",
            str(PKI / "root-ca.pem"),
        ],
        check=True,
    )
    return f"sql:{d}"


def pdfsig(pdf: Path, nssdir: str) -> list[dict[str, str]]:
    """Run poppler's pdfsig and parse each signature block into a dict."""
    out = subprocess.run(
        [need("pdfsig"), "-nssdir", nssdir, str(pdf)], capture_output=True, text=True, check=False
    ).stdout
    sigs: list[dict[str, str]] = []
    for line in out.splitlines():
        if line.startswith("Signature #"):
            sigs.append({})
        elif line.strip().startswith("- ") and sigs:
            key, _, value = line.strip()[2:].partition(":")
            sigs[-1][key.strip()] = value.strip() if value else key.strip()
    return sigs


def stext_lines(pdf: Path, page: int = 1) -> tuple[list[dict[str, object]], float]:
    """Lines mutool renders on ``page`` (widget appearances included): bbox (top-left origin), font, text."""
    out = pdf.with_suffix(".json")
    subprocess.run(
        [need("mutool"), "draw", "-q", "-F", "stext.json", "-o", str(out), str(pdf), str(page)],
        check=True,
        capture_output=True,
    )
    data = json.loads(out.read_text(encoding="utf-8"))
    lines = [line for block in data["pages"][0]["blocks"] for line in block.get("lines", [])]
    return lines, 595.28
