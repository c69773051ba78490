"""Signing profiles: the example file loads; every mistake is reported with the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigurationError
from gateway.signing.profiles import (
    PadesLevel,
    Pkcs11KeyConfig,
    Pkcs12KeyConfig,
    ProfileKind,
    SecretRef,
    load_signing_settings,
)

GOOD = """
[trust]
roots = ["root-ca.pem"]
[profiles.a]
kind = "agency"
level = "B-B"
image = "seal.png"
[profiles.a.key]
source = "pkcs12"
path = "agency.p12"
passphrase_env = "P12_PASS"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "profiles.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_example_profiles_load(settings):
    agency = settings.profile("ubnd-thu-nghiem")
    assert agency.kind is ProfileKind.AGENCY and agency.level is PadesLevel.B_B
    assert isinstance(agency.key, Pkcs12KeyConfig) and agency.key.path.is_file()
    assert settings.profile("ubnd-thu-nghiem-bt").level is PadesLevel.B_T
    assert isinstance(settings.profile("ubnd-thu-nghiem-hsm").key, Pkcs11KeyConfig)
    assert all(p.is_file() for p in settings.trust.roots + settings.trust.crls)


def test_relative_paths_resolve_against_the_file(tmp_path):
    s = load_signing_settings(write(tmp_path, GOOD))
    assert s.profile("a").image == tmp_path / "seal.png"
    assert s.trust.roots == (tmp_path / "root-ca.pem",)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (GOOD.replace('level = "B-B"', 'level = "B-B"\nimage_widht_mm = 30'), "profiles.a.image_widht_mm"),
        (GOOD.replace('passphrase_env = "P12_PASS"', 'passphrase = "secret"'), "profiles.a.key.passphrase"),
        (GOOD.replace('roots = ["root-ca.pem"]', 'roots = ["root-ca.pem"]\ncrl = []'), "trust.crl"),
        (GOOD + "\n[extra]\nx = 1\n", "(top level).extra"),
    ],
)
def test_unknown_keys_are_rejected_with_key_and_file(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as err:
        load_signing_settings(path)
    assert key in str(err.value) and str(path) in str(err.value) and "unknown key" in str(err.value)


def test_the_inline_secret_value_never_reaches_the_message(tmp_path):
    path = write(tmp_path, GOOD.replace('passphrase_env = "P12_PASS"', 'passphrase = "hunter2-secret"'))
    with pytest.raises(ConfigurationError) as err:
        load_signing_settings(path)
    assert "hunter2-secret" not in str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('level = "B-B"', 'level = "B-T"'), "tsa_url: is required for level B-T"),
        (('level = "B-B"', 'level = "B-X"'), "level: must be one of B-B, B-T, B-LT"),
        (('kind = "agency"', 'kind = "robot"'), "kind: must be one of agency, person"),
        (('source = "pkcs12"', 'source = "smartcard"'), "source: must be pkcs12, pem or pkcs11"),
    ],
)
def test_bad_values_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigurationError, match=message):
        load_signing_settings(write(tmp_path, GOOD.replace(*change)))


def test_unknown_profile_lists_known_ones(settings):
    with pytest.raises(ConfigurationError, match=r"no signing profile 'nope'.*ubnd-thu-nghiem"):
        settings.profile("nope")


def test_missing_file_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("LIENTHONG_SIGNING_PROFILES", raising=False)
    with pytest.raises(ConfigurationError, match="LIENTHONG_SIGNING_PROFILES"):
        load_signing_settings()
    monkeypatch.setenv("LIENTHONG_SIGNING_PROFILES", str(write(tmp_path, GOOD)))
    assert "a" in load_signing_settings().profiles


def test_secret_ref_hides_value_and_reports_missing_env(monkeypatch):
    monkeypatch.setenv("SOME_PIN", "123456")
    ref = SecretRef(env="SOME_PIN")
    assert ref.resolve() == b"123456" and "123456" not in repr(ref)
    monkeypatch.delenv("SOME_PIN")
    with pytest.raises(ConfigurationError, match="SOME_PIN") as err:
        ref.resolve()
    assert "123456" not in str(err.value)
