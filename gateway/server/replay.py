"""What a valid SDK signature is allowed to do: operation binding, timestamp policy, replay cache.

The SDK's HMAC covers the ``XroadVnpt-*`` header set, **not** the path: a signed header set is
valid on every operation. Agency software commonly logs those headers, so the hub derives the
binding from what the SDK *does* sign (threat model in docs/hub.md, "Request binding"):

* **operation-specific signed keys** — sendEdoc needs ``hash-file`` (the SDK always adds it,
  and it binds the body: a header set signed for one package cannot carry another) and
  ``messagetype``; updateStatus needs ``docid`` and ``status``; getEdoc/downloadEdoc need
  ``docid``. A list call's headers replayed on /sendEdoc are therefore refused;
* **the replay cache** (:mod:`gateway.ledger.replay_cache`) — a state-changing signed request
  never takes effect twice: a repeated sendEdoc answers the recorded DocId, a repeated
  updateStatus is answered OK without a second effect, and a signature first seen on one
  operation is refused on another;
* **the timestamp** — the SDK stamps JVM-local time once per client *instance*. It is read at the
  system's own zone (``systems clock --utc-offset``, default the hub's), may not be ahead of the
  hub clock by more than the window, and may be at most ``max_age`` old (default: the window;
  ``systems clock --max-age`` for software that keeps one instance for hours) on **read-only**
  calls. State-changing calls bound to their content (the two keys above) are accepted with an
  older timestamp, because the replay cache, not the clock, protects them. The window therefore
  bounds how long a captured *read* request can be replayed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.config import HubSettings
from gateway.errors import RequestRefusedError
from gateway.ledger.replay_cache import Clock
from gateway.transport.hmac_auth import VerifiedRequest, parse_sdk_timestamp

STATE_CHANGING = frozenset({"sendEdoc", "updateStatus", "registerAgency", "deleteAgency"})
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "sendEdoc": ("hash-file", "messagetype"),
    "updateStatus": ("docid", "status"),
    "getEdoc": ("docid",),
    "downloadEdoc": ("docid",),
}


def check_binding(operation: str, request: VerifiedRequest) -> None:
    """Refuse a signed header set that lacks the keys the SDK signs for ``operation``."""
    missing = [k for k in REQUIRED_KEYS.get(operation, ()) if not request.get(k)]
    if missing:
        raise RequestRefusedError(
            f"{operation} needs the signed header(s) {', '.join(missing)} (the SDK always signs them for "
            f"{operation}); a header set signed for another operation is not accepted here",
            reason="unbound",
        )


def _zone_hint(skew_seconds: float, offset_minutes: int, system_id: str) -> tuple[str, bool]:
    """If the skew looks like a whole time-zone difference, say which zone the JVM seems to run in."""
    quarter = round(skew_seconds / 900)
    if quarter == 0 or abs(skew_seconds - quarter * 900) > 120 or abs(quarter) > 14 * 4:
        return "", False
    zone = offset_minutes - quarter * 15
    return (
        f"; the skew is a whole time-zone difference: if this system's JVM runs at UTC{zone / 60:+g}, "
        f"set `lienthong systems clock {system_id} --utc-offset {zone}`",
        True,
    )


def check_timestamp(
    operation: str, request: VerifiedRequest, clock: Clock, settings: HubSettings, now: datetime | None = None
) -> None:
    """Apply the timestamp policy above; raise :class:`RequestRefusedError` with the reason."""
    window = settings.timestamp_window_seconds
    if not window:
        return
    offset = clock.utc_offset_minutes if clock.utc_offset_minutes is not None else settings.timestamp_utc_offset_minutes
    raw = request.values["timestamp"]
    stamp = parse_sdk_timestamp(raw, offset)
    skew = ((now or datetime.now(UTC)) - stamp).total_seconds()
    where = f"read as UTC{offset / 60:+g}"
    if skew < -window:
        hint, zone = _zone_hint(skew, offset, request.system_id)
        raise RequestRefusedError(
            f"timestamp {raw} is {int(-skew)} s ahead of the hub clock (window {window} s, {where}){hint}",
            reason="timestamp_zone" if zone else "timestamp_future",
        )
    max_age = clock.max_age_seconds if clock.max_age_seconds is not None else window
    if skew <= max_age or operation in STATE_CHANGING:
        return
    hint, zone = _zone_hint(skew, offset, request.system_id)
    hint += (
        "; an SDK client instance keeps its first timestamp for its whole life: if this system keeps "
        f"one instance for long, set `lienthong systems clock {request.system_id} --max-age SECONDS`"
    )
    raise RequestRefusedError(
        f"timestamp {raw} is {int(skew)} s old (limit {max_age} s for {operation}, window {window} s, {where}){hint}",
        reason="timestamp_zone" if zone else "timestamp_old",
    )


def is_stale(request: VerifiedRequest, clock: Clock, settings: HubSettings, now: datetime | None = None) -> bool:
    """True when the timestamp is older than the window: only then can a sendEdoc be a late replay."""
    window = settings.timestamp_window_seconds
    if not window or request.timestamp is None:
        return False
    offset = clock.utc_offset_minutes if clock.utc_offset_minutes is not None else settings.timestamp_utc_offset_minutes
    stamp = parse_sdk_timestamp(request.values["timestamp"], offset)
    return ((now or datetime.now(UTC)) - stamp).total_seconds() > window


def replayed_elsewhere(operation: str, cached: tuple[str, str | None] | None) -> None:
    """Refuse a signature already used on a different state-changing operation."""
    if cached is not None and cached[0] != operation:
        raise RequestRefusedError(
            f"this signed request was already used for {cached[0]}; it is not accepted for {operation}",
            reason="replay_other_operation",
            http_status=409,
        )


__all__ = ["REQUIRED_KEYS", "STATE_CHANGING", "check_binding", "check_timestamp", "is_stale", "replayed_elsewhere"]
