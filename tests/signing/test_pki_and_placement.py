"""The test PKI script, placeholder search and the stamp geometry helpers."""

from __future__ import annotations

import importlib.util
import io
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from pyhanko.pdf_utils.reader import PdfFileReader

from gateway.signing.appearance import seal_box, text_width, top_right_box, vietnam_time_iso
from gateway.signing.placement import find_placeholder
from gateway.signing.testing import A4, make_sample_pdf

from .conftest import PKI


@pytest.fixture(scope="module")
def fresh_pki(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("make_pki", PKI / "make_pki.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path_factory.mktemp("pki")
    module.make_pki(out)
    return out


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_regenerated_pki_has_strict_verifier_extensions(fresh_pki):
    for name in ("root-ca", "intermediate-ca", "agency", "signer", "tsa", "revoked", "untrusted-signer"):
        cert = load(fresh_pki / f"{name}.pem")
        oids = {e.oid for e in cert.extensions}
        assert {ExtensionOID.KEY_USAGE, ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.SUBJECT_KEY_IDENTIFIER} <= oids
        if name not in ("root-ca",):
            assert ExtensionOID.AUTHORITY_KEY_IDENTIFIER in oids, name
    tsa_eku = load(fresh_pki / "tsa.pem").extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE)
    assert tsa_eku.critical and list(tsa_eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_regenerated_chain_verifies_and_crl_lists_the_revoked_cert(fresh_pki):
    import subprocess

    for leaf in ("agency", "signer", "tsa", "revoked"):
        ok = subprocess.run(
            [
                "openssl",
                "verify",
                "-CAfile",
                str(fresh_pki / "root-ca.pem"),
                "-untrusted",
                str(fresh_pki / "intermediate-ca.pem"),
                str(fresh_pki / f"{leaf}.pem"),
            ],
            capture_output=True,
            text=True,
        )
        assert ok.returncode == 0 and ": OK" in ok.stdout, ok.stdout + ok.stderr
    crl = x509.load_der_x509_crl((fresh_pki / "intermediate.crl").read_bytes())
    revoked = load(fresh_pki / "revoked.pem")
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(load(fresh_pki / "signer.pem").serial_number) is None
    assert crl.is_signature_valid(load(fresh_pki / "intermediate-ca.pem").public_key())


def test_placeholder_found_on_the_last_page():
    reader = PdfFileReader(io.BytesIO(make_sample_pdf(3, placeholder="[[KY_SO]]")))
    anchor = find_placeholder(reader, "[[KY_SO]]")
    assert anchor is not None and anchor.page == 2
    x0, y0, x1, y1 = anchor.rect
    assert x0 == pytest.approx(370) and y0 < 250 < y1 and x1 > x0
    assert find_placeholder(reader, "[[NOT_THERE]]") is None


def test_placeholder_in_tj_array_with_td_and_cm():
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.generic import pdf_name
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    w = PdfFileWriter(stream_xrefs=False)
    content = b"q 2 0 0 2 10 20 cm BT /F1 10 Tf 50 60 Td [(x) -20 (<<SIGN>>)] TJ ET Q"
    font = w.add_object(generic.DictionaryObject({pdf_name("/Type"): pdf_name("/Font")}))
    res = generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})})
    w.insert_page(PageObject(w.add_object(generic.StreamObject(stream_data=content)), A4, res))
    buf = io.BytesIO()
    w.write(buf)
    anchor = find_placeholder(PdfFileReader(io.BytesIO(buf.getvalue())), "<<SIGN>>")
    assert anchor is not None
    # origin: cm scales by 2 and shifts (10, 20); Td moves to (50, 60) in text space
    assert anchor.rect[1] < 2 * 60 + 20 < anchor.rect[3]
    assert anchor.rect[0] >= 2 * 50 + 10


def test_time_rendering_and_geometry():
    assert vietnam_time_iso(datetime(2026, 11, 27, 2, 15, 30, tzinfo=UTC)) == "2026-11-27T09:15:30+07:00"
    x0, y0, x1, y1 = seal_box((300, 100, 420, 160), 100, 100)
    assert x1 == 340 and x0 == 240 and (y0 + y1) / 2 == 130
    box = top_right_box(A4, ["123/QĐ-UBND", "2026-11-27T09:15:30+07:00"])
    assert box[2] <= A4[2] - 15 * 72 / 25.4 and box[1] >= A4[3] - 20 * 72 / 25.4
    assert text_width("ĐỨC") > text_width("DUC") * 0.9  # Vietnamese glyphs have real widths


def test_public_names_resolve():
    import gateway.signing as signing

    for name in signing.__all__:
        assert getattr(signing, name) is not None
    with pytest.raises(AttributeError):
        _ = signing.nope
