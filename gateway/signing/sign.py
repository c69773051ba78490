"""Stamp and sign PDFs for one profile: the Decree 30 appearances as PAdES B-B, B-T or B-LT.

A :class:`DocumentSigner` opens the profile's key once and keeps it, its prepared image and its
timestamp client for every document it signs (cheap per document; see toolchain-notes §3).
Three roles:

* ``main``: a person profile puts the handwritten-signature image at the anchor; an agency profile
  puts the seal at its real size over the left third of the signer's image (the anchor is the
  signer's widget already in the file, a placeholder text, or a rectangle from the caller);
* ``attachment``: agency signature on a separate attachment file, no image, top-right text with the
  main document's number/notation and the signing time;
* ``copy``: electronic copy ("SAO Y", "SAO LỤC", "TRÍCH SAO"), top-right text with the copy form,
  the copying agency and the signing time.

Before anything is written the signer refuses unfit certificates and inputs whose existing
signatures do not verify (:mod:`gateway.signing.refusals`); every signature is made at one
:class:`~gateway.signing.clock.SigningClock` reading, shown on the stamp and checked against the
timestamp token (:mod:`gateway.signing.clock`); boxes follow the page as read
(:mod:`gateway.signing.geometry`).

pyHanko and network errors are translated here, once, into :mod:`gateway.errors`.
"""

from __future__ import annotations

import io
import math
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Any

from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.stamp import BaseStampStyle
from pyhanko_certvalidator import ValidationContext

from gateway.errors import ConfigurationError, SignerUnavailableError, SigningError
from gateway.signing import appearance
from gateway.signing.clock import TIMESTAMP_TOLERANCE, RecordingTimeStamper, SigningClock, within_tolerance
from gateway.signing.geometry import stamp_lines
from gateway.signing.keys import KeyHandle, open_key
from gateway.signing.placement import (
    Anchor,
    find_placeholder,
    find_placeholder_rendered,
    page_frame,
    signature_widgets,
)
from gateway.signing.profiles import PadesLevel, ProfileKind, SigningProfile, TrustConfig
from gateway.signing.refusals import (
    certificate_purpose_refusal,
    certificate_validity_refusal,
    existing_signatures_refusal,
)
from gateway.signing.trust import validation_context

DEFAULT_PLACEHOLDER = "[[CHU_KY]]"
AGENCY_FIELD_PREFIX = "CoQuan"
PERSON_FIELD_PREFIX = "NguoiKy"
#: Room for the CMS blob; generous enough for an RSA-4096 chain and a timestamp token, and given
#: explicitly so pyHanko does not sign twice to estimate it.
_RESERVED = {PadesLevel.B_B: 16384, PadesLevel.B_T: 32768, PadesLevel.B_LT: 32768}
#: Sizes the time line of a text stamp before the time is known (digits share one width).
_TIME_SAMPLE = "0000-00-00T00:00:00+07:00"
_TEXT_TEMPLATE = "%(body)s\n%(ts)s"

Rect = tuple[float, float, float, float]


def _widget_box(rect: Rect) -> Rect:
    """The widget rectangle as written: origin to 0.01 pt, whole-point size, never smaller.

    pyHanko builds the appearance's box from the widget size truncated to integers
    (``BoxConstraints``); a fractional size would scale the appearance down slightly.
    """
    x0, y0 = round(rect[0], 2), round(rect[1], 2)
    return (x0, y0, x0 + math.ceil(rect[2] - x0 - 1e-6), y0 + math.ceil(rect[3] - y0 - 1e-6))


def _union(*rects: Rect) -> Rect:
    return (min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects), max(r[3] for r in rects))


class _ClockedPdfSigner(signers.PdfSigner):
    """``PdfSigner`` that signs at a time given by the caller instead of reading the clock.

    pyHanko uses the session's ``system_time`` for the CMS signing-time, ``/M`` and the
    appearance's ``%(ts)s``; setting it from one :class:`SigningClock` reading makes all three
    the same instant (and, with a TSA, in the TSA's time).
    """

    signing_time: datetime | None = None

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        if self.signing_time is not None:
            session.system_time = self.signing_time
        return session


class Role(StrEnum):
    """Which Decree 30 appearance a signature gets."""

    MAIN = "main"
    ATTACHMENT = "attachment"
    COPY = "copy"


class DocumentSigner:
    """Signs any number of PDFs with one profile; use as a context manager to release tokens."""

    def __init__(
        self,
        profile: SigningProfile,
        trust: TrustConfig | None = None,
        *,
        tsa_url: str | None = None,
        key: KeyHandle | None = None,
    ):
        self.profile = profile
        self.trust = trust
        self.key = key if key is not None else open_key(profile.key)
        self.clock = SigningClock()
        try:
            self._refuse_unfit_certificate()
        except ConfigurationError:
            self.key.close()
            raise
        self._style_cache: dict[tuple[str, int], BaseStampStyle] = {}
        url = tsa_url or profile.tsa_url
        if profile.level.needs_timestamp and not url:
            raise ConfigurationError(f"profile {profile.name}: level {profile.level.value} needs a tsa_url")
        self.timestamper = RecordingTimeStamper(url, timeout=10) if profile.level.needs_timestamp and url else None
        self._validation: ValidationContext | None = None
        if profile.level is PadesLevel.B_LT:
            if trust is None or not trust.roots:
                raise ConfigurationError(
                    f"profile {profile.name}: level B-LT needs [trust] roots and CRLs to embed validation data"
                )
            self._validation = validation_context(trust, revocation_mode="hard-fail")
        self._image: appearance.PreparedImage | None = None
        if profile.image is not None:
            self._image = appearance.prepared_image(profile.image, profile.image_width_mm)

    # -- context management ------------------------------------------------------------------
    def close(self) -> None:
        self.key.close()
        if self.timestamper is not None:
            self.timestamper.close()  # the kept-alive TSA connections

    def __enter__(self) -> DocumentSigner:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- roles ---------------------------------------------------------------------------------
    def sign(self, pdf: bytes, role: Role | str = Role.MAIN, **options: Any) -> bytes:
        """Dispatch on ``role``; ``options`` are those of the role's own method."""
        role = Role(role)
        if role is Role.MAIN:
            return self.sign_main(pdf, **options)
        if role is Role.ATTACHMENT:
            return self.sign_attachment(pdf, **options)
        return self.sign_copy(pdf, **options)

    def sign_main(self, pdf: bytes, *, anchor: Anchor | None = None, placeholder: str | None = None) -> bytes:
        """Main document: signature image (person) or seal over the signer's image (agency).

        The image is laid out as the reader sees the page (rotation, visible box); when the
        anchor is a placeholder text, the appearance covers the placeholder's box in white.
        """
        if self._image is None:
            raise ConfigurationError(f"profile {self.profile.name}: role main needs an image (seal or signature)")
        reader = self._reader(pdf)
        self._refuse_unverified(pdf, reader)
        if anchor is None:
            anchor = self._find_anchor(pdf, reader, placeholder or DEFAULT_PLACEHOLDER)
        frame = page_frame(reader, anchor.page)
        w, h = self._image.box.width, self._image.box.height
        shown = frame.to_display(anchor.rect)
        if self.profile.kind is ProfileKind.AGENCY:
            rect = frame.to_user(appearance.seal_box(shown, w, h))
        else:
            rect = frame.to_user(appearance.centred_box(shown, w, h))
        cover = (anchor.placeholder,) if anchor.placeholder is not None else ()
        widget = _widget_box(_union(rect, *cover))
        style = appearance.image_style(self._image, rect, widget, rotation=frame.rotation, cover=cover)
        return self._sign(pdf, reader, style, anchor.page, widget, None)

    def sign_attachment(self, pdf: bytes, *, reference: str) -> bytes:
        """Separate attachment file: main document's number/notation + signing time, top right."""
        if not reference.strip():
            raise SigningError("an attachment stamp needs the main document's number and notation (--ref)")
        return self._sign_text(pdf, [reference])

    def sign_copy(self, pdf: bytes, *, copy_form: str = "SAO Y", copying_agency: str | None = None) -> bytes:
        """Electronic copy: copy form, copying agency and signing time, top right."""
        agency = copying_agency or self.profile.agency_name or self.key.certificate.subject.native.get("common_name")
        if not agency or not str(agency).strip():
            raise SigningError("a copy stamp needs the copying agency's name (profile agency_name)")
        if not copy_form.strip():
            raise SigningError("a copy stamp needs its copy form (SAO Y, SAO LỤC, TRÍCH SAO)")
        return self._sign_text(pdf, [copy_form, str(agency)])

    def sign_edxml(self, root: etree._Element) -> etree._Element:
        """The package-level edXML ``Signature`` with this profile's key (file keys only)."""
        from cryptography import x509 as cx509

        from gateway.signing.xmldsig import sign_edxml

        if self.key.private_key is None:
            raise SigningError(
                f"profile {self.profile.name}: the edXML package signature needs a file key, not a token"
            )
        cert = cx509.load_der_x509_certificate(self.key.certificate.dump())
        chain = [cx509.load_der_x509_certificate(c.dump()) for c in self.key.chain]
        roots_last = [c for c in chain if c.issuer != c.subject]  # roots are trust anchors, not sent
        return sign_edxml(root, self.key.private_key, cert, roots_last)

    # -- internals -----------------------------------------------------------------------------
    def _sign_text(self, pdf: bytes, paragraphs: list[str]) -> bytes:
        if self.profile.kind is not ProfileKind.AGENCY:
            raise SigningError(
                f"profile {self.profile.name} is a person profile; attachment and copy stamps are the agency's"
            )
        reader = self._reader(pdf)
        self._refuse_unverified(pdf, reader)
        frame = page_frame(reader, 0)
        lines = stamp_lines(paragraphs, _TIME_SAMPLE, frame, appearance.text_width)
        rect = _widget_box(appearance.top_right_box(frame, lines))
        key = (_TEXT_TEMPLATE, frame.rotation)
        style = self._style_cache.get(key)
        if style is None:
            style = self._style_cache[key] = appearance.text_style(_TEXT_TEMPLATE, frame.rotation)
        return self._sign(pdf, reader, style, 0, rect, {"body": "\n".join(lines[:-1])})

    # -- refusals ------------------------------------------------------------------------------
    def _refuse_unfit_certificate(self, at: datetime | None = None) -> None:
        cert = self.key.certificate
        error = certificate_purpose_refusal(self.profile.name, cert) if at is None else None
        if error is None:
            error = certificate_validity_refusal(self.profile.name, cert, self.key.chain, at or self.clock.now())
        if error is not None:
            raise error

    def _refuse_unverified(self, pdf: bytes, reader: PdfFileReader) -> None:
        try:
            count = sum(1 for _ in fields.enumerate_sig_fields(reader, filled_status=True))
        except (PdfError, ValueError, KeyError) as exc:
            raise SigningError(f"cannot read the signature fields of this PDF: {exc}") from exc
        error = existing_signatures_refusal(pdf, self.trust, self.profile.name, count)
        if error is not None:
            raise error

    def _find_anchor(self, pdf: bytes, reader: PdfFileReader, placeholder: str) -> Anchor:
        if self.profile.kind is ProfileKind.AGENCY:
            widgets = [w for w in signature_widgets(reader) if w.signed and w.page is not None]
            persons = [w for w in widgets if w.field_name.startswith(PERSON_FIELD_PREFIX)]
            chosen = (persons or widgets)[-1:] if (persons or widgets) else []
            if chosen and chosen[0].page is not None:
                return Anchor(chosen[0].page, chosen[0].rect)
        found = find_placeholder(reader, placeholder) or find_placeholder_rendered(pdf, placeholder)
        if found is None:
            raise SigningError(
                "no anchor for the signature: no signed signer widget and no placeholder text "
                f"{placeholder!r}; "
                "give a page and rectangle"
            )
        return found

    def _reader(self, pdf: bytes) -> PdfFileReader:
        try:
            return PdfFileReader(io.BytesIO(pdf), strict=False)
        except (PdfError, ValueError, KeyError) as exc:
            raise SigningError(f"input is not a readable PDF: {exc}") from exc

    def _field_name(self, reader: PdfFileReader) -> str:
        prefix = AGENCY_FIELD_PREFIX if self.profile.kind is ProfileKind.AGENCY else PERSON_FIELD_PREFIX
        taken = {name for name, _v, _r in fields.enumerate_sig_fields(reader, filled_status=None)}
        n = 1
        while f"{prefix}{n}" in taken:
            n += 1
        return f"{prefix}{n}"

    def _sign(
        self,
        pdf: bytes,
        reader: PdfFileReader,
        style: BaseStampStyle,
        page: int,
        rect: Rect,
        text_params: dict[str, str] | None,
    ) -> bytes:
        """Sign at one clock reading; with a TSA, check the token against it and redo once."""
        name = self._field_name(reader)
        moment = self.clock.now()
        self._refuse_unfit_certificate(moment)
        out = self._sign_once(pdf, style, page, rect, text_params, name, moment)
        token = self.timestamper.last if self.timestamper is not None else None
        if token is None:
            return out
        self.clock.learn(token)
        if within_tolerance(moment, token.gen_time):
            return out
        moment = self.clock.now()  # now in the TSA's time (offset just learnt): sign again, once
        self._refuse_unfit_certificate(moment)
        out = self._sign_once(pdf, style, page, rect, text_params, name, moment)
        token = self.timestamper.last if self.timestamper is not None else None
        if token is None or within_tolerance(moment, token.gen_time):
            if token is not None:
                self.clock.learn(token)
            return out
        gap = (token.gen_time - moment).total_seconds()
        raise SigningError(
            f"timestamp authority {self.timestamper.url if self.timestamper else ''}: its time "
            f"{token.gen_time.isoformat()} is {gap:+.0f} s from the signing time {moment.isoformat()} even after "
            f"adjusting to its clock (tolerance ±{TIMESTAMP_TOLERANCE.total_seconds():.0f} s); not signing"
        )

    def _sign_once(
        self,
        pdf: bytes,
        style: BaseStampStyle,
        page: int,
        rect: Rect,
        text_params: dict[str, str] | None,
        name: str,
        moment: datetime,
    ) -> bytes:
        meta = signers.PdfSignatureMetadata(
            field_name=name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=self.profile.reason,
            location=self.profile.location,
            embed_validation_info=self._validation is not None,
            validation_context=self._validation,
        )
        pdf_signer = _ClockedPdfSigner(
            meta,
            signer=self.key.signer,
            timestamper=self.timestamper,
            stamp_style=style,
            new_field_spec=fields.SigFieldSpec(sig_field_name=name, on_page=page, box=rect),  # type: ignore[arg-type]
        )
        pdf_signer.signing_time = moment
        if self.timestamper is not None:
            self.timestamper.forget()
        try:
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
            out = pdf_signer.sign_pdf(
                writer, bytes_reserved=_RESERVED[self.profile.level], appearance_text_params=text_params
            )
        except TimestampRequestError as exc:
            raise SignerUnavailableError(
                f"timestamp authority {self.timestamper.url if self.timestamper else ''} failed: {exc}"
            ) from exc
        except (OSError, TimeoutError) as exc:
            raise SignerUnavailableError(
                f"signing failed on I/O (token or TSA unreachable): {type(exc).__name__}"
            ) from exc
        except PyhankoSigningError as exc:
            raise SigningError(f"pyHanko could not sign: {exc}") from exc
        except PdfError as exc:
            raise SigningError(f"cannot sign this PDF: {exc}") from exc
        data: bytes = out.getvalue()
        return data
