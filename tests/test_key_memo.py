"""tests/key_memo.py keeps the signing tests fast without changing what a key parse does."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

PKI = Path(__file__).resolve().parents[1] / "certs.example"


def test_the_same_bytes_give_the_same_key_object_once_installed():
    assert hasattr(serialization.load_pem_private_key, "__wrapped_parse__")  # tests/conftest.py installed it
    data = (PKI / "agency.key.pem").read_bytes()
    first = serialization.load_pem_private_key(data, None)
    assert serialization.load_pem_private_key(data, None) is first
    der = first.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    assert serialization.load_der_private_key(der, None).private_numbers() == first.private_numbers()


def test_failures_are_not_memoised_and_still_fail():
    data = (PKI / "agency.key.pem").read_bytes()
    serialization.load_pem_private_key(data, None)
    with pytest.raises(TypeError):  # an unencrypted key with a password: cryptography's own refusal
        serialization.load_pem_private_key(data, b"secret")
    damaged = data.replace(b"\n", b"\nA", 3)
    for _ in range(2):
        with pytest.raises(ValueError):
            serialization.load_pem_private_key(damaged, None)
