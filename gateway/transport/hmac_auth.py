"""The axis (VDXP) request signature, exactly as the official VPCP Java SDK 2.0.1 produces it.

Client side, :func:`sign_headers` turns a header map into the ``XroadVnpt-*`` headers; server side,
:func:`verify_headers` checks them. The scheme (shared/docs/edxml-qcvn102.md §6.1, §6.2a):

* every signed value travels twice: as its own ``XroadVnpt-<name>`` header and inside the compact
  JSON of ``XroadVnpt-sign-header`` (``{"XroadVnpt-<name>":"<value>",...}``);
* ``XroadVnpt-sign-header-key`` lists the names in the JSON's order, joined with ``;``;
* ``XroadVnpt-hash-header`` is lowercase hex HMAC-SHA256 (key = the system's secret, UTF-8) over the
  exact ``sign-header`` string;
* ``timestamp`` is ``ddMMyyyy'T'HHmmss+SSSS`` where ``SSSS`` is milliseconds, not a zone;
* ``hash-file`` (sendEdoc) is SHA-256 of the file without the trailing CRLF, each byte written with
  Java's ``Integer.toHexString`` (no zero padding).

Names keep their case on the wire (``docId`` on getEdoc, ``docid`` on updateStatus); the verifier
compares names case-insensitively and trusts only what the HMAC covers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from gateway.errors import AuthorizationError

PREFIX = "XroadVnpt-"
SIGN_HEADER = PREFIX + "sign-header"
SIGN_HEADER_KEY = PREFIX + "sign-header-key"
HASH_HEADER = PREFIX + "hash-header"
VERSION_HEADER = PREFIX + "version"
SDK_VERSION = "3.0.201608"
SDK_USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"


_UNPADDED_HEX = tuple(format(b, "x") for b in range(256))


def sdk_file_hash(data: bytes) -> str:
    """SHA-256 written as the SDK writes it: ``Integer.toHexString(b & 0xFF)`` per byte, unpadded."""
    return sdk_hex(hashlib.sha256(data).digest())


def sdk_hex(digest: bytes) -> str:
    """A digest in the SDK's unpadded hex (for callers that already hashed the bytes)."""
    return "".join(map(_UNPADDED_HEX.__getitem__, digest))


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def format_sdk_timestamp(moment: datetime, utc_offset_minutes: int = 420) -> str:
    """Render ``moment`` as the SDK does (local wall time of the given offset, milliseconds after ``+``)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone(timedelta(minutes=utc_offset_minutes))).replace(tzinfo=None)
    return moment.strftime("%d%m%YT%H%M%S") + f"+{moment.microsecond // 1000:04d}"


def parse_sdk_timestamp(text: str, utc_offset_minutes: int = 420) -> datetime:
    """Read ``27112026T165411+0683`` as an aware datetime in the configured zone (default UTC+7)."""
    stamp, _, fraction = text.strip().partition("+")
    try:
        naive = datetime.strptime(stamp, "%d%m%YT%H%M%S")
        millis = int(fraction) if fraction else 0
    except ValueError as exc:
        raise AuthorizationError(f"timestamp {text!r} is not in the SDK format ddMMyyyyTHHmmss+SSSS") from exc
    zone = timezone(timedelta(minutes=utc_offset_minutes))
    return naive.replace(tzinfo=zone) + timedelta(milliseconds=millis % 10000)


def sign_headers(
    system_id: str,
    secret: str,
    values: Mapping[str, str],
    *,
    content_type: str = "application/json",
    timestamp: str | None = None,
) -> dict[str, str]:
    """HTTP headers for one request: the signed ``XroadVnpt-*`` set plus the SDK's fixed ones.

    ``values`` is the per-call header object (``from``, ``to``, ``docId`` ...); ``timestamp``,
    ``systemid`` and ``Content-Type`` are added as the SDK does.
    """
    signed: dict[str, str] = {
        "timestamp": timestamp or format_sdk_timestamp(datetime.now(UTC)),
        "systemid": system_id,
        "Content-Type": content_type,
    }
    signed.update({k: str(v) for k, v in values.items()})
    headers = {f"{PREFIX}{name}": value for name, value in signed.items()}
    sign_json = json.dumps(headers, ensure_ascii=False, separators=(",", ":"))
    headers[SIGN_HEADER_KEY] = ";".join(signed)
    headers[SIGN_HEADER] = sign_json
    headers[HASH_HEADER] = hmac_hex(secret, sign_json.encode("utf-8"))
    headers[VERSION_HEADER] = SDK_VERSION
    headers["Content-Type"] = content_type
    headers["User-Agent"] = SDK_USER_AGENT
    return {k: _header_safe(v) for k, v in headers.items()}


def _header_safe(value: str) -> str:
    """HTTP header values travel as bytes; send UTF-8 and let the peer decode them as latin-1."""
    return value.encode("utf-8").decode("latin-1")


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """What the signature vouches for: the system and its signed values (names lower-cased)."""

    system_id: str
    values: Mapping[str, str]
    timestamp: datetime | None
    signature: str = ""
    """The HMAC (``XroadVnpt-hash-header``): the identity of this signed request in the replay cache."""

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.values.get(name.lower(), default)


SecretLookup = Callable[[str], "str | None"]


def verify_headers(
    headers: Mapping[str, str],
    secret_for: SecretLookup,
    *,
    now: datetime | None = None,
    window_seconds: int | None = 900,
    utc_offset_minutes: int = 420,
) -> VerifiedRequest:
    """Check an incoming request's signature; raise :class:`AuthorizationError` saying why it fails.

    ``headers`` must be case-insensitive (Starlette's are); values as received (latin-1 text).
    ``secret_for(system_id)`` returns the system's secret or ``None`` for an unknown system.
    A signed ``timestamp`` and ``XroadVnpt-sign-header-key`` are always required (the SDK always
    sends both). ``window_seconds=None`` leaves the timestamp's age to the caller (the hub applies
    its per-system policy, :mod:`gateway.server.replay`); ``0`` disables the age check.
    Two signed names that differ only in case (``docId`` and ``docid``, which a reused SDK
    instance sends together) must carry the same value, else the request is refused.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    sign_raw = lower.get(SIGN_HEADER.lower())
    given_hash = lower.get(HASH_HEADER.lower())
    if not sign_raw or not given_hash:
        raise AuthorizationError("missing XroadVnpt-sign-header or XroadVnpt-hash-header")
    sign_bytes = sign_raw.encode("latin-1", errors="replace")
    try:
        signed_obj = json.loads(sign_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuthorizationError("XroadVnpt-sign-header is not a JSON object") from exc
    if not isinstance(signed_obj, dict):
        raise AuthorizationError("XroadVnpt-sign-header is not a JSON object")
    values: dict[str, str] = {}
    conflicts: list[str] = []
    for key, value in signed_obj.items():
        if (
            not isinstance(key, str)
            or not key.lower().startswith(PREFIX.lower())
            or not isinstance(value, str)
        ):
            raise AuthorizationError(f"XroadVnpt-sign-header entry {key!r} is not an XroadVnpt-* string")
        name = key[len(PREFIX) :].lower()
        if name in values and values[name] != value:
            conflicts.append(name)
        values[name] = value
    system_id = values.get("systemid")
    if not system_id:
        raise AuthorizationError("the signed headers carry no systemid")
    secret = secret_for(system_id)
    if secret is None:
        raise AuthorizationError(f"unknown system {system_id!r}")
    expected = hmac_hex(secret, sign_bytes)
    if not hmac.compare_digest(expected, given_hash.strip().lower()):
        raise AuthorizationError(f"bad signature (XroadVnpt-hash-header) for system {system_id!r}")
    if conflicts:  # checked after the HMAC, so the refusal is attributed to a verified system
        raise AuthorizationError(
            f"the signed headers carry {conflicts[0]!r} twice with different values (names differing only "
            "in case, as a reused SDK instance sends them): refused as ambiguous"
        )
    listed = lower.get(SIGN_HEADER_KEY.lower())
    if listed is None:
        raise AuthorizationError("missing XroadVnpt-sign-header-key (the SDK always sends it)")
    names = {n.strip().lower().removeprefix(PREFIX.lower()) for n in listed.split(";") if n.strip()}
    if names != set(values):
        raise AuthorizationError("XroadVnpt-sign-header-key does not list exactly the signed names")
    for name, value in values.items():
        sent = lower.get((PREFIX + name).lower())
        if sent is not None and sent != _header_safe(value):
            raise AuthorizationError(f"header {PREFIX}{name} differs from its signed value")
    if not values.get("timestamp"):
        raise AuthorizationError("the signed headers carry no timestamp")
    stamp = parse_sdk_timestamp(values["timestamp"], utc_offset_minutes)
    if window_seconds:
        current = now or datetime.now(UTC)
        skew = abs((current - stamp).total_seconds())
        if skew > window_seconds:
            raise AuthorizationError(
                f"timestamp {values['timestamp']} is {int(skew)} s away from the hub clock "
                f"(window {window_seconds} s, read as UTC{utc_offset_minutes / 60:+g})"
            )
    return VerifiedRequest(system_id=system_id, values=values, timestamp=stamp, signature=expected)


__all__ = [
    "HASH_HEADER",
    "SIGN_HEADER",
    "SIGN_HEADER_KEY",
    "VerifiedRequest",
    "format_sdk_timestamp",
    "hmac_hex",
    "parse_sdk_timestamp",
    "sdk_file_hash",
    "sign_headers",
    "verify_headers",
]
