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

pyHanko and network errors are translated here, once, into :mod:`gateway.errors`.
"""

from __future__ import annotations

import io
from enum import StrEnum
from types import TracebackType
from typing import Any

from lxml import etree
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.stamp import BaseStampStyle
from pyhanko_certvalidator import ValidationContext

from gateway.errors import ConfigurationError, SignerUnavailableError, SigningError
from gateway.signing import appearance
from gateway.signing.keys import KeyHandle, open_key
from gateway.signing.placement import Anchor, find_placeholder, page_box, signature_widgets
from gateway.signing.profiles import PadesLevel, ProfileKind, SigningProfile, TrustConfig
from gateway.signing.trust import validation_context

DEFAULT_PLACEHOLDER = "[[CHU_KY]]"
AGENCY_FIELD_PREFIX = "CoQuan"
PERSON_FIELD_PREFIX = "NguoiKy"
#: Room for the CMS blob; generous enough for an RSA-4096 chain and a timestamp token, and given
#: explicitly so pyHanko does not sign twice to estimate it.
_RESERVED = {PadesLevel.B_B: 16384, PadesLevel.B_T: 32768, PadesLevel.B_LT: 32768}


def _integer_box(rect: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """pyHanko stores widget rectangles as integers; round the origin and keep the size exact to 1 pt."""
    x0, y0 = round(rect[0]), round(rect[1])
    return (x0, y0, x0 + round(rect[2] - rect[0]), y0 + round(rect[3] - rect[1]))


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
        self.key = key if key is not None else open_key(profile.key)
        self._style_cache: dict[str, BaseStampStyle] = {}
        url = tsa_url or profile.tsa_url
        if profile.level.needs_timestamp and not url:
            raise ConfigurationError(f"profile {profile.name}: level {profile.level.value} needs a tsa_url")
        self.timestamper = HTTPTimeStamper(url, timeout=10) if profile.level.needs_timestamp else None
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
        """Main document: signature image (person) or seal over the signer's image (agency)."""
        if self._image is None:
            raise ConfigurationError(f"profile {self.profile.name}: role main needs an image (seal or signature)")
        reader = self._reader(pdf)
        if anchor is None:
            anchor = self._find_anchor(reader, placeholder or DEFAULT_PLACEHOLDER)
        w, h = self._image.box.width, self._image.box.height
        if self.profile.kind is ProfileKind.AGENCY:
            rect = appearance.seal_box(anchor.rect, w, h)
        else:
            rect = appearance.centred_box(anchor.rect, w, h)
        style = self._style_cache.get("image")
        if style is None:
            style = self._style_cache["image"] = appearance.image_style(self._image)
        return self._sign(pdf, reader, style, anchor.page, rect, None)

    def sign_attachment(self, pdf: bytes, *, reference: str) -> bytes:
        """Separate attachment file: main document's number/notation + signing time, top right."""
        if not reference.strip():
            raise SigningError("an attachment stamp needs the main document's number and notation (--ref)")
        return self._sign_text(pdf, [reference, "0000-00-00T00:00:00+07:00"], "%(ref)s\n%(ts)s", {"ref": reference})

    def sign_copy(self, pdf: bytes, *, copy_form: str = "SAO Y", copying_agency: str | None = None) -> bytes:
        """Electronic copy: copy form, copying agency and signing time, top right."""
        agency = copying_agency or self.profile.agency_name or self.key.certificate.subject.native.get("common_name")
        if not agency:
            raise SigningError("a copy stamp needs the copying agency's name (profile agency_name)")
        lines = [copy_form, str(agency), "0000-00-00T00:00:00+07:00"]
        params = {"form": copy_form, "agency": str(agency)}
        return self._sign_text(pdf, lines, "%(form)s\n%(agency)s\n%(ts)s", params)

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
    def _sign_text(self, pdf: bytes, lines: list[str], template: str, params: dict[str, str]) -> bytes:
        if self.profile.kind is not ProfileKind.AGENCY:
            raise SigningError(
                f"profile {self.profile.name} is a person profile; attachment and copy stamps are the agency's"
            )
        reader = self._reader(pdf)
        rect = appearance.top_right_box(page_box(reader, 0), lines)
        style = self._style_cache.get(template)
        if style is None:
            style = self._style_cache[template] = appearance.text_style(template)
        return self._sign(pdf, reader, style, 0, rect, params)

    def _find_anchor(self, reader: PdfFileReader, placeholder: str) -> Anchor:
        if self.profile.kind is ProfileKind.AGENCY:
            widgets = [w for w in signature_widgets(reader) if w.signed and w.page is not None]
            persons = [w for w in widgets if w.field_name.startswith(PERSON_FIELD_PREFIX)]
            chosen = (persons or widgets)[-1:] if (persons or widgets) else []
            if chosen and chosen[0].page is not None:
                return Anchor(chosen[0].page, chosen[0].rect)
        found = find_placeholder(reader, placeholder)
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
        rect: tuple[float, float, float, float],
        text_params: dict[str, str] | None,
    ) -> bytes:
        name = self._field_name(reader)
        meta = signers.PdfSignatureMetadata(
            field_name=name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=self.profile.reason,
            location=self.profile.location,
            embed_validation_info=self._validation is not None,
            validation_context=self._validation,
        )
        pdf_signer = signers.PdfSigner(
            meta,
            signer=self.key.signer,
            timestamper=self.timestamper,
            stamp_style=style,
            new_field_spec=fields.SigFieldSpec(sig_field_name=name, on_page=page, box=_integer_box(rect)),
        )
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
