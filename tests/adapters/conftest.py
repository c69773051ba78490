from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"


@pytest.fixture
def qlvb_copy(tmp_path: Path) -> Path:
    """A private copy of the qlvb_soap folder a test may break."""
    dst = tmp_path / "qlvb_soap"
    shutil.copytree(ADAPTERS / "qlvb_soap", dst)
    return dst


@pytest.fixture
def cong_van() -> bytes:
    return (ADAPTERS / "qlvb_soap" / "fixtures" / "cong_van.in.xml").read_bytes()
