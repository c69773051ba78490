"""One clock reading per signature: the stamp shows exactly the CMS signing-time (and /M); with a
TSA the time is the TSA's (learnt from its tokens) and the token lies within the documented
tolerance, or the signature is redone once, or refused."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from gateway.errors import SigningError
from gateway.signing.appearance import vietnam_time_iso
from gateway.signing.clock import TIMESTAMP_TOLERANCE, token_gen_time
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import LocalTimestampAuthority

from .conftest import PKI, need


def signed_times(pdf: bytes) -> tuple[datetime, datetime | None, str]:
    """(signed claimed time, timestamp genTime or None, the raw /M) of the last signature.

    PAdES forbids the CMS signing-time attribute (ETSI EN 319 142-1 §5.3): the claimed time is the
    signature dictionary's /M, inside the signed byte range.
    """
    sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[-1]
    signer_info = sig.signer_info
    assert not any(a["type"].native == "signing_time" for a in signer_info["signed_attrs"])
    signing_time = sig.self_reported_timestamp
    assert signing_time is not None
    gen = None
    for attr in signer_info["unsigned_attrs"] or []:
        if attr["type"].native == "signature_time_stamp_token":
            gen = token_gen_time(attr["values"][0])
    return signing_time, gen, str(sig.sig_object["/M"])


def stamp_time(pdf: bytes, tmp_path: Path) -> str:
    src = tmp_path / "t.pdf"
    src.write_bytes(pdf)
    text = subprocess.run(
        [need("mutool"), "draw", "-q", "-F", "txt", "-o", "-", str(src), "1"], capture_output=True, text=True, check=True
    ).stdout
    (line,) = [ln.strip() for ln in text.splitlines() if ln.strip().endswith("+07:00")]
    return line


def _pdf_date(moment: datetime) -> str:
    return "D:" + moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def test_b_b_stamp_time_is_the_cms_signing_time(settings, sample_pdf, tmp_path):
    with DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        out = agency.sign_attachment(sample_pdf, reference="1/QĐ")
    signing_time, gen, m = signed_times(out)
    assert gen is None
    assert stamp_time(out, tmp_path) == vietnam_time_iso(signing_time)
    assert m.startswith(_pdf_date(signing_time))  # /M: the same reading


def test_b_t_stamp_time_matches_signing_time_and_token(settings, sample_pdf, tsa, tmp_path):
    before = tsa.requests
    with DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), settings.trust, tsa_url=tsa.url) as agency:
        out = agency.sign_copy(sample_pdf)
    assert tsa.requests == before + 1  # in tolerance at once: no redo
    signing_time, gen, _m = signed_times(out)
    assert gen is not None and abs(gen - signing_time) <= TIMESTAMP_TOLERANCE
    assert stamp_time(out, tmp_path) == vietnam_time_iso(signing_time)


def test_tsa_clock_ahead_is_learnt_and_the_stamp_shows_tsa_time(settings, sample_pdf, tmp_path):
    skew = timedelta(minutes=10)
    with (
        LocalTimestampAuthority(PKI, clock=lambda: datetime.now(UTC) + skew) as fast_tsa,
        DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), settings.trust, tsa_url=fast_tsa.url) as agency,
    ):
        first = agency.sign_attachment(sample_pdf, reference="1/QĐ")
        assert fast_tsa.requests == 2  # the first token was 10 min off: offset learnt, signed again
        second = agency.sign_attachment(sample_pdf, reference="2/QĐ")
        assert fast_tsa.requests == 3  # the learnt offset holds: one request
    for out in (first, second):
        signing_time, gen, _m = signed_times(out)
        assert gen is not None and abs(gen - signing_time) <= TIMESTAMP_TOLERANCE
        assert signing_time - datetime.now(UTC) > skew - timedelta(minutes=1)  # TSA time, not ours
        assert stamp_time(out, tmp_path) == vietnam_time_iso(signing_time)
    assert agency.clock.offset == pytest.approx(skew, abs=timedelta(seconds=5))


def test_tsa_whose_clock_jumps_is_refused(settings, sample_pdf):
    jumps = count(1)
    with (
        LocalTimestampAuthority(PKI, clock=lambda: datetime.now(UTC) + next(jumps) * timedelta(hours=1)) as bad_tsa,
        DocumentSigner(settings.profile("ubnd-thu-nghiem-bt"), settings.trust, tsa_url=bad_tsa.url) as agency,
        pytest.raises(SigningError, match=r"tolerance ±30 s.*not signing") as err,
    ):
        agency.sign_attachment(sample_pdf, reference="1/QĐ")
    assert bad_tsa.requests == 2 and "timestamp authority" in str(err.value)
