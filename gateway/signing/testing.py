# mypy: disable-error-code="no-untyped-call"
# (this module drives pyHanko's untyped PDF writer and CMS helpers directly)
"""Test and demo helpers: sample A4 PDFs and a local RFC 3161 timestamp authority over HTTP.

Used by tests/signing, bench/bench_signing.py and demos; never by production code paths.
The TSA wraps pyHanko's ``DummyTimeStamper`` (a real RFC 3161 responder signing with the test
PKI's TSA key) in a stdlib ``ThreadingHTTPServer`` bound to 127.0.0.1 on a free port, so B-T
signing goes over real HTTP with :class:`~gateway.signing.tsa_client.PooledHTTPTimeStamper`.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from asn1crypto import algos, cms, core, keys, tsp, x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import general
from pyhanko.sign.general import simple_cms_attribute
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

A4 = (0.0, 0.0, 595.28, 841.89)


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _display_matrix(media_box: tuple[float, float, float, float], rotate: int) -> bytes:
    """``cm`` operator drawing display-space content (bottom-up, as read) upright on a rotated page."""
    from gateway.signing.geometry import PageFrame

    frame = PageFrame(media_box, rotate % 360)
    _w, h = frame.display_size

    def user(xd: float, yd: float) -> tuple[float, float]:
        x0, y0, _x1, _y1 = frame.to_user((xd, h - yd, xd, h - yd))
        return x0, y0

    ox, oy = user(0, 0)
    ax, ay = user(1, 0)
    bx, by = user(0, 1)
    return b"%g %g %g %g %g %g cm" % (ax - ox, ay - oy, bx - ox, by - oy, ox, oy)


def make_sample_pdf(
    pages: int = 2,
    *,
    title: str = "QUYET DINH",
    placeholder: str | None = "[[CHU_KY]]",
    number: int = 0,
    media_box: tuple[float, float, float, float] = A4,
    crop_box: tuple[float, float, float, float] | None = None,
    rotate: int = 0,
) -> bytes:
    """A small document in Times-Roman with a signature placeholder on the last page.

    The layout follows Decree 30 loosely: title, body lines, then the signer block (title line,
    placeholder, name line) at the bottom right of the last page. ``media_box``, ``crop_box`` and
    ``rotate`` give other page shapes; the content is then drawn so that it reads upright on the
    page as displayed (like a scanner's rotated output), placeholder included.
    """
    w = PdfFileWriter(stream_xrefs=False)
    font = generic.DictionaryObject(
        {
            pdf_name("/Type"): pdf_name("/Font"),
            pdf_name("/Subtype"): pdf_name("/Type1"),
            pdf_name("/BaseFont"): pdf_name("/Times-Roman"),
            pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
        }
    )
    font_ref = w.add_object(font)
    visible = crop_box or media_box
    from gateway.signing.geometry import PageFrame

    _dw, dh = PageFrame(visible, rotate % 360).display_size
    top = dh - 82
    for p in range(pages):
        ops = [b"q " + _display_matrix(visible, rotate)]
        ops.append(b"BT /F1 14 Tf 230 %g Td (" % top + _escape(title) + b") Tj ET")
        ops.append(b"BT /F1 13 Tf 70 %g Td 16 TL" % (top - 40))
        for i in range(20):
            ops.append(b"(" + _escape(f"Document {number}, page {p + 1}, line {i + 1}: noi dung van ban.") + b") '")
        ops.append(b"ET")
        if p == pages - 1:
            ops.append(b"BT /F1 13 Tf 1 0 0 1 360 300 Tm (CHU TICH) Tj ET")
            if placeholder:
                ops.append(b"BT /F1 13 Tf 1 0 0 1 370 250 Tm (" + _escape(placeholder) + b") Tj ET")
            ops.append(b"BT /F1 13 Tf 1 0 0 1 350 180 Tm (Nguyen Van An) Tj ET")
        ops.append(b"Q")
        stream = generic.StreamObject(stream_data=b"\n".join(ops))
        resources = generic.DictionaryObject({pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font_ref})})
        page = PageObject(contents=w.add_object(stream), media_box=list(media_box), resources=resources)
        if crop_box is not None:
            page[pdf_name("/CropBox")] = generic.ArrayObject(generic.FloatObject(v) for v in crop_box)
        if rotate:
            page[pdf_name("/Rotate")] = generic.NumberObject(rotate)
        w.insert_page(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


class CachedKeyTimeStamper(DummyTimeStamper):
    """``DummyTimeStamper`` that builds what does not change between tokens once.

    pyHanko's test responder re-parses its key and rebuilds the signing-certificate attribute and
    the signer identifier from the parsed certificate for every token (≈ 13 ms of CPU in
    asn1crypto). The benchmark's TSA shares the two cores with the signers it serves, so its cost
    is kept to the token's own work: TSTInfo, one digest, one RSA signature. The tokens are the
    same as pyHanko's (same attributes, same order, same certificates).
    """

    def __init__(self, tsa_cert: x509.Certificate, tsa_key: rsa.RSAPrivateKey, chain: list[x509.Certificate]):
        der = tsa_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        super().__init__(
            tsa_cert=tsa_cert,
            tsa_key=keys.PrivateKeyInfo.load(der),
            certs_to_embed=SimpleCertificateStore.from_certs(chain),
        )
        self._key = tsa_key

        def frozen(attr: cms.CMSAttribute) -> cms.CMSAttribute:
            return cms.CMSAttribute.load(attr.dump())  # loaded values dump their bytes as read

        self._content_type = frozen(simple_cms_attribute("content_type", "tst_info"))
        self._signing_certificate = frozen(
            simple_cms_attribute("signing_certificate", general.as_signing_certificate(self.tsa_cert))
        )
        sid = cms.SignerIdentifier(
            {"issuer_and_serial_number": cms.IssuerAndSerialNumber(
                {"issuer": self.tsa_cert.issuer, "serial_number": self.tsa_cert.serial_number}
            )}
        )
        self._sid = cms.SignerIdentifier.load(sid.dump())
        certs: set[x509.Certificate] = set(self.certs_to_embed)
        certs.add(self.tsa_cert)
        self._embedded = [x509.Certificate.load(c.dump()) for c in certs]

    def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str, dt: datetime) -> tuple[bytes, cms.CMSAttributes]:
        h = get_pyca_cryptography_hash(md_algorithm)
        from cryptography.hazmat.primitives import hashes

        md = hashes.Hash(h)
        md.update(tst_info_data)
        attrs = cms.CMSAttributes(
            [
                self._content_type,
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                self._signing_certificate,
                simple_cms_attribute("message_digest", md.finalize()),
            ]
        )
        return self._key.sign(attrs.dump(), padding.PKCS1v15(), get_pyca_cryptography_hash(md_algorithm.upper())), attrs

    def _build_signed_data(
        self, tst_info_data: bytes, md_algorithm: str, signature: bytes, signed_attrs: cms.CMSAttributes
    ) -> dict[str, object]:
        digest_algorithm = algos.DigestAlgorithm({"algorithm": md_algorithm})
        sig_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": self._sid,
                "digest_algorithm": digest_algorithm,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
                "signed_attrs": signed_attrs,
                "signature": signature,
            }
        )
        return {
            "version": "v3",
            "digest_algorithms": cms.DigestAlgorithms((digest_algorithm,)),
            "encap_content_info": cms.EncapsulatedContentInfo(
                {"content_type": cms.ContentType("tst_info"), "content": cms.ParsableOctetString(tst_info_data)}
            ),
            "certificates": self._embedded,
            "signer_infos": [sig_info],
        }


def _load_tsa(pki_dir: Path) -> CachedKeyTimeStamper:
    from cryptography import x509 as cx509

    def asn1(c: cx509.Certificate) -> x509.Certificate:
        return x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))

    cert = cx509.load_pem_x509_certificate((pki_dir / "tsa.pem").read_bytes())
    key = serialization.load_pem_private_key((pki_dir / "tsa.key.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    chain = [asn1(c) for c in cx509.load_pem_x509_certificates((pki_dir / "tsa.chain.pem").read_bytes())]
    return CachedKeyTimeStamper(asn1(cert), key, chain)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True


class LocalTimestampAuthority:
    """RFC 3161 over HTTP/1.1 (kept-alive connections) on 127.0.0.1 (free port); ``url`` is set once started.

    ``with LocalTimestampAuthority(Path("certs.example")) as tsa: ... tsa.url ...``

    Counters for tests: ``requests`` (answered), ``connections`` (accepted). Faults for tests:
    :meth:`drop_connections` closes every open client connection (a TSA restart or a middlebox
    timing out idle connections); ``hang_up_next = n`` reads the next ``n`` requests and closes
    the connection without answering; ``fail_next = n`` answers the next ``n`` with HTTP 500.
    """

    def __init__(self, pki_dir: Path, host: str = "127.0.0.1", *, clock: Callable[[], datetime] | None = None):
        """``clock`` replaces the TSA's time source (tests of a TSA whose clock differs from ours)."""
        self.stamper = _load_tsa(pki_dir)
        self.requests = 0
        self.connections = 0
        self.hang_up_next = 0
        self.fail_next = 0
        self.clock = clock
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        stamper, owner = self.stamper, self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The status line + headers and the body are two writes: with Nagle's algorithm on a
            # kept-alive connection the body would wait for the client's delayed ACK (≈ 40 ms).
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with owner._lock:
                    owner.connections += 1
                    owner._open.add(self.connection)

            def finish(self) -> None:
                with owner._lock:
                    owner._open.discard(self.connection)
                super().finish()

            def _take(self, fault: str) -> bool:
                with owner._lock:
                    if getattr(owner, fault) > 0:
                        setattr(owner, fault, getattr(owner, fault) - 1)
                        return True
                return False

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self._take("hang_up_next"):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                failing = self._take("fail_next")
                try:
                    if failing:
                        raise RuntimeError("fault injected by the test")
                    req = tsp.TimeStampReq.load(body)
                    if owner.clock is not None:
                        stamper.fixed_dt = owner.clock()
                    resp = stamper.request_tsa_response(req).dump()
                    status = 200
                except Exception:
                    resp, status = b"bad timestamp request", 500 if failing else 400
                with owner._lock:
                    owner.requests += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/timestamp-reply" if status == 200 else "text/plain")
                self.send_header("Content-Length", str(len(resp)))
                self.end_headers()
                self.wfile.write(resp)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        self.server = _Server((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/tsa"
        self._thread = threading.Thread(target=self.server.serve_forever, name="local-tsa", daemon=True)

    def drop_connections(self) -> int:
        """Close every open client connection from the server side; how many were open."""
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        return len(conns)

    def start(self) -> LocalTimestampAuthority:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close the kept-alive connections (their threads would serve on)."""
        self.server.shutdown()
        self.server.server_close()
        self.drop_connections()

    def __enter__(self) -> LocalTimestampAuthority:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
