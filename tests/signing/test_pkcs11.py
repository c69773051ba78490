"""The PKCS#11 key source signs through SoftHSM2 with the test agency key imported into a fresh token."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.errors import ConfigurationError
from gateway.signing.sign import DocumentSigner
from gateway.signing.verify import verify_pdf

from .conftest import need, pdfsig

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "246810"


@pytest.fixture(scope="module")
def softhsm_token(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    if not MODULE.exists():
        pytest.fail(f"{MODULE} missing: install softhsm2 (scripts/apt-packages.txt)")
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    mp = pytest.MonkeyPatch()
    mp.setenv("SOFTHSM2_CONF", str(conf))
    mp.setenv("LIENTHONG_TEST_TOKEN_PIN", PIN)
    util = need("softhsm2-util")
    subprocess.run(
        [util, "--init-token", "--free", "--label", "lienthong-test", "--so-pin", "13579", "--pin", PIN],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            util,
            "--import",
            str(pki / "agency.key.pem"),
            "--token",
            "lienthong-test",
            "--label",
            "agency",
            "--id",
            "01",
            "--pin",
            PIN,
        ],
        check=True,
        capture_output=True,
    )
    der = home / "agency.der"
    cert = x509.load_pem_x509_certificate((pki / "agency.pem").read_bytes())
    der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    subprocess.run(
        [
            need("pkcs11-tool"),
            "--module",
            str(MODULE),
            "--token-label",
            "lienthong-test",
            "--login",
            "--pin",
            PIN,
            "--write-object",
            str(der),
            "--type",
            "cert",
            "--label",
            "agency",
            "--id",
            "01",
        ],
        check=True,
        capture_output=True,
    )
    yield str(conf)
    mp.undo()


def test_sign_through_softhsm_and_verify(softhsm_token, settings, sample_pdf, tmp_path, nssdb):
    profile = settings.profile("ubnd-thu-nghiem-hsm")
    with DocumentSigner(profile) as signer:
        assert signer.key.private_key is None  # the key never leaves the token
        first = signer.sign_attachment(sample_pdf, reference="45/QĐ-UBND")
        second = signer.sign_copy(sample_pdf)  # the session stays open for several documents
    for out in (first, second):
        (sig,) = verify_pdf(out, settings.trust).signatures
        assert sig.valid and sig.signer_name == "UBND tỉnh Thử Nghiệm", sig.reasons
    path = tmp_path / "hsm.pdf"
    path.write_bytes(first)
    assert pdfsig(path, nssdb)[0]["Signature Validation"] == "Signature is Valid."


def test_wrong_pin_is_a_configuration_error_without_the_pin(softhsm_token, settings, monkeypatch):
    monkeypatch.setenv("LIENTHONG_TEST_TOKEN_PIN", "999999")
    with pytest.raises(ConfigurationError, match="PIN rejected") as err:
        DocumentSigner(settings.profile("ubnd-thu-nghiem-hsm"), settings.trust)
    assert "999999" not in str(err.value) and PIN not in str(err.value)
