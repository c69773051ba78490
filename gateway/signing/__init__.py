"""PDF stamping and signing (Decree 30/2020 appearance, PAdES B-B/B-T/B-LT), verification reports,
key sources (PKCS#12, PEM, PKCS#11) and the package-level edXML ``Signature``.

The public names below load lazily so that importing :mod:`gateway.signing.profiles` (the CLI does
it at start-up) does not pull in pyHanko. See docs/signing.md.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Anchor": "gateway.signing.placement",
    "DocumentSigner": "gateway.signing.sign",
    "KeyHandle": "gateway.signing.keys",
    "PadesLevel": "gateway.signing.profiles",
    "ProfileKind": "gateway.signing.profiles",
    "Role": "gateway.signing.sign",
    "SignatureReport": "gateway.signing.verify",
    "SigningProfile": "gateway.signing.profiles",
    "SigningSettings": "gateway.signing.profiles",
    "TrustConfig": "gateway.signing.profiles",
    "VerificationReport": "gateway.signing.verify",
    "XmlSignatureReport": "gateway.signing.xmldsig",
    "format_report": "gateway.signing.verify",
    "load_signing_settings": "gateway.signing.profiles",
    "open_key": "gateway.signing.keys",
    "sign_edxml": "gateway.signing.xmldsig",
    "verify_edxml_signature": "gateway.signing.xmldsig",
    "verify_pdf": "gateway.signing.verify",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gateway.signing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
