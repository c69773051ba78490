"""Constants shared by the console tests (imported by name: several test folders have a conftest)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "certs.example" / "profiles.toml"
ARTIFACTS = ROOT / "var" / "test-artifacts" / "console"
H41, G22, UNKNOWN = "000.00.00.H41", "000.00.00.G22", "000.00.00.Z99"
XSS_SUBJECT = '<script>alert("xss")</script>"><img src=x onerror=alert(1)>'
