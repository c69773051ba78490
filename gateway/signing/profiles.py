"""Per-agency signing profiles and trust settings, loaded from a TOML file into frozen dataclasses.

A profile says which key signs (PKCS#12 file, PEM key + chain, or a PKCS#11 token), which image
shows (seal or handwritten signature), which PAdES level to produce and which timestamp authority
to ask. Every ``from_config`` rejects unknown keys with a :class:`ConfigurationError` naming the
key and the file, so a typo never silently falls back to a default.

Secrets (PKCS#12 passphrases, token PINs) are never written in the profile itself: a
:class:`SecretRef` names an environment variable or a file holding them, and its ``repr`` never
shows the value.

File layout (see ``certs.example/profiles.toml``)::

    [trust]                       # what inbound signatures are verified against
    roots = ["root-ca.pem"]
    intermediates = ["intermediate-ca.pem"]
    crls = ["intermediate.crl", "root.crl"]

    [profiles.ubnd-thu-nghiem]    # one table per agency or person
    kind = "agency"               # agency (seal) | person (handwritten signature)
    level = "B-T"                 # B-B | B-T | B-LT
    tsa_url = "http://tsa.example/"
    image = "seal.png"
    image_width_mm = 36
    [profiles.ubnd-thu-nghiem.key]
    source = "pkcs12"             # pkcs12 | pem | pkcs11
    path = "agency.p12"
    passphrase_file = "pkcs12-passphrase.txt"

Relative paths are resolved against the TOML file's folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError
from gateway.files import read_toml

PROFILES_ENV = "LIENTHONG_SIGNING_PROFILES"


class PadesLevel(StrEnum):
    """PAdES baseline levels the gateway produces (ETSI EN 319 142-1)."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"

    @property
    def needs_timestamp(self) -> bool:
        return self is not PadesLevel.B_B


class ProfileKind(StrEnum):
    """Whose signature a profile produces: the agency's (seal) or a person's (signature image)."""

    AGENCY = "agency"
    PERSON = "person"


class _Reader:
    """Pulls typed values out of one TOML table and complains precisely (file + dotted key)."""

    def __init__(self, table: Mapping[str, Any], where: str, source: str, base: Path):
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{source}: {where} must be a table")
        self.table = table
        self.where = where
        self.source = source
        self.base = base

    def error(self, key: str, message: str) -> ConfigurationError:
        return ConfigurationError(f"{self.source}: {self.where}.{key}: {message}")

    def reject_unknown(self, allowed: set[str]) -> None:
        for key in self.table:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                raise self.error(key, f"unknown key (allowed here: {known})")

    def str_(self, key: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.table.get(key, default)
        if value is None:
            if required:
                raise self.error(key, "is required")
            return None
        if not isinstance(value, str) or (required and not value):
            raise self.error(key, f"must be a non-empty string, got {value!r}")
        return value

    def number(self, key: str, default: float) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise self.error(key, f"must be a positive number, got {value!r}")
        return float(value)

    def bool_(self, key: str, default: bool) -> bool:
        value = self.table.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, got {value!r}")
        return value

    def path(self, key: str, *, required: bool = False) -> Path | None:
        value = self.str_(key, required=required)
        return None if value is None else (self.base / value)

    def paths(self, key: str) -> tuple[Path, ...]:
        value = self.table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "must be a list of file paths")
        return tuple(self.base / v for v in value)

    def enum(self, key: str, enum: type[Enum], default: Enum) -> Any:
        raw = self.table.get(key, default.value)
        try:
            return enum(raw)
        except ValueError:
            choices = ", ".join(str(m.value) for m in enum)
            raise self.error(key, f"must be one of {choices}, got {raw!r}") from None

    def sub(self, key: str) -> _Reader:
        value = self.table.get(key)
        if not isinstance(value, Mapping):
            raise self.error(key, "must be a table")
        return _Reader(value, f"{self.where}.{key}", self.source, self.base)


@dataclass(frozen=True)
class SecretRef:
    """Where a passphrase or PIN comes from: an environment variable or a file (first line).

    The value is read only when a key is opened and is never part of ``repr`` or any message.
    """

    env: str | None = None
    file: Path | None = None

    def __repr__(self) -> str:
        return f"SecretRef(env={self.env!r}, file={str(self.file) if self.file else None!r})"

    @property
    def configured(self) -> bool:
        return self.env is not None or self.file is not None

    def resolve(self) -> bytes | None:
        """Return the secret, ``None`` if none is configured; errors never include the value."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ConfigurationError(f"environment variable {self.env} (a signing secret) is not set")
            return value.encode()
        if self.file is not None:
            try:
                return self.file.read_bytes().splitlines()[0] if self.file.stat().st_size else b""
            except OSError as exc:
                raise ConfigurationError(f"cannot read secret file {self.file}: {exc.strerror}") from exc
        return None

    @classmethod
    def from_reader(cls, r: _Reader, prefix: str) -> SecretRef:
        env = r.str_(f"{prefix}_env")
        file = r.path(f"{prefix}_file")
        if env and file:
            raise r.error(f"{prefix}_env", f"give either {prefix}_env or {prefix}_file, not both")
        return cls(env=env, file=file)


@dataclass(frozen=True)
class Pkcs12KeyConfig:
    """A PKCS#12 (.p12/.pfx) file holding key, certificate and chain."""

    path: Path
    passphrase: SecretRef = field(default_factory=SecretRef)


@dataclass(frozen=True)
class PemKeyConfig:
    """A PEM/DER private key, its certificate and optional chain files."""

    key_path: Path
    cert_path: Path
    chain_paths: tuple[Path, ...] = ()
    passphrase: SecretRef = field(default_factory=SecretRef)


@dataclass(frozen=True)
class Pkcs11KeyConfig:
    """A key on a PKCS#11 token or HSM (USB tokens, SoftHSM2 in tests)."""

    module: Path
    token_label: str | None = None
    slot: int | None = None
    key_label: str | None = None
    cert_label: str | None = None
    cert_path: Path | None = None
    chain_paths: tuple[Path, ...] = ()
    pin: SecretRef = field(default_factory=SecretRef)


KeyConfig = Pkcs12KeyConfig | PemKeyConfig | Pkcs11KeyConfig


def _key_from_config(r: _Reader) -> KeyConfig:
    source = r.str_("source", required=True)
    if source == "pkcs12":
        r.reject_unknown({"source", "path", "passphrase_env", "passphrase_file"})
        path = r.path("path", required=True)
        assert path is not None
        return Pkcs12KeyConfig(path=path, passphrase=SecretRef.from_reader(r, "passphrase"))
    if source == "pem":
        r.reject_unknown({"source", "key_path", "cert_path", "chain_paths", "passphrase_env", "passphrase_file"})
        key_path, cert_path = r.path("key_path", required=True), r.path("cert_path", required=True)
        assert key_path is not None and cert_path is not None
        return PemKeyConfig(
            key_path=key_path,
            cert_path=cert_path,
            chain_paths=r.paths("chain_paths"),
            passphrase=SecretRef.from_reader(r, "passphrase"),
        )
    if source == "pkcs11":
        allowed = {"source", "module", "token_label", "slot", "key_label", "cert_label", "cert_path"}
        r.reject_unknown(allowed | {"chain_paths", "pin_env", "pin_file"})
        module = r.str_("module", required=True)
        assert module is not None
        slot = r.table.get("slot")
        if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int)):
            raise r.error("slot", f"must be an integer, got {slot!r}")
        token_label = r.str_("token_label")
        if token_label is None and slot is None:
            raise r.error("token_label", "give token_label or slot to choose the token")
        key_label, cert_label = r.str_("key_label"), r.str_("cert_label")
        if key_label is None and cert_label is None:
            raise r.error("key_label", "give key_label and/or cert_label to choose the key")
        return Pkcs11KeyConfig(
            module=Path(module),
            token_label=token_label,
            slot=slot,
            key_label=key_label,
            cert_label=cert_label,
            cert_path=r.path("cert_path"),
            chain_paths=r.paths("chain_paths"),
            pin=SecretRef.from_reader(r, "pin"),
        )
    raise r.error("source", f"must be pkcs12, pem or pkcs11, got {source!r}")


@dataclass(frozen=True)
class SigningProfile:
    """How one agency (or one person) signs: key, image, PAdES level, timestamp authority.

    ``image_width_mm`` is the physical width the image is drawn at (a seal at its real size);
    the height follows the image's aspect ratio. ``xml_signature`` asks the pipeline to add the
    package-level edXML ``Signature`` element with the same key.
    """

    name: str
    kind: ProfileKind
    key: KeyConfig
    level: PadesLevel = PadesLevel.B_B
    tsa_url: str | None = None
    image: Path | None = None
    image_width_mm: float = 36.0
    reason: str | None = None
    location: str | None = None
    agency_name: str | None = None
    xml_signature: bool = False

    @classmethod
    def from_config(cls, name: str, table: Mapping[str, Any], *, source: str, base: Path) -> SigningProfile:
        r = _Reader(table, f"profiles.{name}", source, base)
        r.reject_unknown(
            {
                "kind",
                "key",
                "level",
                "tsa_url",
                "image",
                "image_width_mm",
                "reason",
                "location",
                "agency_name",
                "xml_signature",
            }
        )
        level = r.enum("level", PadesLevel, PadesLevel.B_B)
        tsa_url = r.str_("tsa_url")
        if level.needs_timestamp and not tsa_url:
            raise r.error("tsa_url", f"is required for level {level.value}")
        return cls(
            name=name,
            kind=r.enum("kind", ProfileKind, ProfileKind.AGENCY),
            key=_key_from_config(r.sub("key")),
            level=level,
            tsa_url=tsa_url,
            image=r.path("image"),
            image_width_mm=r.number("image_width_mm", 36.0),
            reason=r.str_("reason"),
            location=r.str_("location"),
            agency_name=r.str_("agency_name"),
            xml_signature=r.bool_("xml_signature", False),
        )


@dataclass(frozen=True)
class TrustConfig:
    """Trust anchors, extra intermediates and CRLs used to verify signatures (ours and inbound)."""

    roots: tuple[Path, ...] = ()
    intermediates: tuple[Path, ...] = ()
    crls: tuple[Path, ...] = ()
    # How the verifier tells an agency seal certificate from a person's (gateway/signing/roles.py):
    # exact certificates, issuing CAs that only issue one kind, certificatePolicies OIDs.
    agency_certificates: tuple[Path, ...] = ()
    person_certificates: tuple[Path, ...] = ()
    agency_issuers: tuple[Path, ...] = ()
    person_issuers: tuple[Path, ...] = ()
    agency_policy_oids: tuple[str, ...] = ()
    person_policy_oids: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, table: Mapping[str, Any], *, source: str, base: Path) -> TrustConfig:
        r = _Reader(table, "trust", source, base)
        role_paths = ("agency_certificates", "person_certificates", "agency_issuers", "person_issuers")
        oids = ("agency_policy_oids", "person_policy_oids")
        r.reject_unknown({"roots", "intermediates", "crls", *role_paths, *oids})
        extra: dict[str, Any] = {k: r.paths(k) for k in role_paths}
        for key in oids:
            value = table.get(key, [])
            if not isinstance(value, list) or not all(
                isinstance(v, str) and all(part.isdigit() for part in v.split(".")) for v in value
            ):
                raise r.error(key, "must be a list of dotted OIDs, e.g. [\"1.2.3.4\"]")
            extra[key] = tuple(value)
        return cls(roots=r.paths("roots"), intermediates=r.paths("intermediates"), crls=r.paths("crls"), **extra)


@dataclass(frozen=True)
class SigningSettings:
    """The whole profiles file: trust settings plus every named profile."""

    trust: TrustConfig
    profiles: Mapping[str, SigningProfile]
    source: str = "<memory>"

    def profile(self, name: str) -> SigningProfile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ConfigurationError(f"{self.source}: no signing profile {name!r} (known: {known})") from None

    @classmethod
    def from_config(cls, data: Mapping[str, Any], *, source: str, base: Path) -> SigningSettings:
        top = _Reader(data, "(top level)", source, base)
        top.reject_unknown({"trust", "profiles"})
        trust = TrustConfig.from_config(data.get("trust", {}), source=source, base=base)
        raw_profiles = data.get("profiles", {})
        if not isinstance(raw_profiles, Mapping):
            raise top.error("profiles", "must be a table of profiles")
        profiles = {
            name: SigningProfile.from_config(name, table, source=source, base=base)
            for name, table in raw_profiles.items()
        }
        return cls(trust=trust, profiles=profiles, source=source)


def load_signing_settings(path: str | os.PathLike[str] | None = None) -> SigningSettings:
    """Load the profiles file given, or the one named by ``$LIENTHONG_SIGNING_PROFILES``."""
    chosen = path if path is not None else os.environ.get(PROFILES_ENV)
    if not chosen:
        raise ConfigurationError(f"no signing profiles file: pass --profiles or set {PROFILES_ENV}")
    file = Path(chosen)
    data = read_toml(file, "signing profiles")
    return SigningSettings.from_config(data, source=str(file), base=file.resolve().parent)
