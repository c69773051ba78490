"""The stored package behind a journey: its Business block, its attachments, their signature reports.

The hub keeps one blob per package, the original as received (``submissions.payload_sha256``).
The console parses it on demand and verifies every PDF attachment with
:func:`gateway.signing.verify.verify_pdf` against the hub's trust settings (the ``[trust]`` table of
the signing profiles file given as ``console.signing_profiles`` or ``$LIENTHONG_SIGNING_PROFILES``).
Without a profiles file the report says so instead of guessing. Results are cached per blob
digest (the blob is immutable, and the trust settings are fixed for the process), so a journey
page pays the verification once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from gateway.blobstore import BlobStore
from gateway.config import HubSettings
from gateway.edxml import EdocPackage, StatusPackage, parse_package
from gateway.errors import GatewayError
from gateway.signing.profiles import PROFILES_ENV, SigningSettings, TrustConfig, load_signing_settings
from gateway.signing.verify import VerificationReport, verify_pdf

CACHE_ENTRIES = 256
PDF = "application/pdf"


def profiles_path(settings: HubSettings) -> Path | None:
    configured = settings.console.signing_profiles
    if configured is not None:
        return configured
    env = os.environ.get(PROFILES_ENV)
    return Path(env) if env else None


def load_profiles(settings: HubSettings) -> tuple[SigningSettings | None, str | None]:
    """The signing settings, or ``(None, why)`` when none are configured or the file is broken."""
    path = profiles_path(settings)
    if path is None:
        return None, None
    try:
        return load_signing_settings(path), None
    except GatewayError as exc:
        return None, str(exc)


@dataclass(frozen=True, slots=True)
class AttachmentInfo:
    index: int
    name: str
    content_type: str
    size: int
    is_pdf: bool
    report: VerificationReport | None = None


@dataclass(frozen=True, slots=True)
class PackageEvidence:
    """What the console shows of one stored package."""

    sha256: str
    kind: str = ""  # edoc | status | "" (unreadable)
    business_type: int | None = None
    business_target: str | None = None
    business_reason: str | None = None
    attachments: tuple[AttachmentInfo, ...] = ()
    problem: str | None = None  # missing blob, unreadable package
    trust_configured: bool = False
    notes: tuple[str, ...] = field(default=())


def _is_pdf(name: str, content_type: str) -> bool:
    return content_type == PDF or name.lower().endswith(".pdf")


class EvidenceCache:
    """Parses and verifies stored packages once per blob digest (LRU, thread-safe)."""

    def __init__(self, blobs: BlobStore, settings: HubSettings):
        self.blobs = blobs
        self.settings = settings
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, PackageEvidence] = OrderedDict()
        self._trust: tuple[TrustConfig | None, str | None] | None = None

    def trust(self) -> tuple[TrustConfig | None, str | None]:
        if self._trust is None:
            profiles, problem = load_profiles(self.settings)
            self._trust = (profiles.trust if profiles else None, problem)
        return self._trust

    def evidence(self, sha256: str) -> PackageEvidence:
        with self._lock:
            hit = self._cache.get(sha256)
            if hit is not None:
                self._cache.move_to_end(sha256)
                return hit
        found = self._compute(sha256)
        with self._lock:
            self._cache[sha256] = found
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return found

    def package_bytes(self, sha256: str) -> bytes:
        with self.blobs.open(sha256) as fh:
            return fh.read()

    def attachment_bytes(self, sha256: str, index: int) -> tuple[str, str, bytes]:
        """``(name, content type, bytes)`` of attachment ``index`` of the stored package."""
        pkg = parse_package(self.package_bytes(sha256), source_name=f"blob {sha256[:12]}").package
        if not isinstance(pkg, EdocPackage) or not 0 <= index < len(pkg.attachments):
            raise IndexError(index)
        att = pkg.attachments[index]
        with att.payload.open() as f:
            return att.name, att.content_type, f.read()

    def _compute(self, sha256: str) -> PackageEvidence:
        trust, trust_problem = self.trust()
        notes = (trust_problem,) if trust_problem else ()
        try:
            data = self.package_bytes(sha256)
        except (GatewayError, OSError):
            return PackageEvidence(sha256, problem="package_missing", trust_configured=trust is not None, notes=notes)
        try:
            pkg = parse_package(data, source_name=f"blob {sha256[:12]}", check_schema=False).package
        except GatewayError as exc:
            return PackageEvidence(sha256, problem=str(exc), trust_configured=trust is not None, notes=notes)
        if isinstance(pkg, StatusPackage):
            return PackageEvidence(sha256, kind="status", trust_configured=trust is not None, notes=notes)
        business = pkg.trace.business if pkg.trace is not None else None
        infos: list[AttachmentInfo] = []
        for i, att in enumerate(pkg.attachments):
            with att.payload.open() as f:
                body = f.read()
            pdf = _is_pdf(att.name, att.content_type)
            report = verify_pdf(body, trust, source=att.name) if pdf and trust is not None else None
            infos.append(AttachmentInfo(i, att.name, att.content_type, len(body), pdf, report))
        return PackageEvidence(
            sha256,
            kind="edoc",
            business_type=int(business.doc_type) if business is not None else None,
            business_target=business.document_id if business is not None else None,
            business_reason=business.reason if business is not None else None,
            attachments=tuple(infos),
            trust_configured=trust is not None,
            notes=notes,
        )


__all__ = ["AttachmentInfo", "EvidenceCache", "PackageEvidence", "load_profiles", "profiles_path"]
