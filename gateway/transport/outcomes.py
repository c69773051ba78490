"""What an HTTP answer from an axis-compatible peer (or an intermediary in front of it) tells us.

A refusal must be *known* to be one: only the peer itself, answering the axis FAIL JSON, can
refuse a package. Proxies, load balancers and gateways in between answer things like a bare
``408 Request Timeout``, ``429``, ``502 Bad Gateway`` or an HTML error page, and such an answer
says nothing about whether the package reached the peer (a proxy can time out *after*
forwarding it). So:

* **retryable** (:data:`RETRYABLE_HTTP`: 408, 425, 429, 500, 502, 503, 504; connection resets and
  timeouts are classified by the client): try again later;
* **unknown** (any other answer that is not an axis JSON object: HTML, plain text, an empty body,
  JSON without ``status``): the package may have been stored upstream. Also retried; never DEAD
  at once. Re-delivery is safe because every hub deduplicates by idempotency key, and the bytes
  of every try are identical (tested in tests/server/test_hub_outcomes.py);
* **refused**: an axis JSON answer whose ``status`` is not ``OK``, or an OK without what the
  operation needs.

``Retry-After`` (delta-seconds or an HTTP-date, RFC 9110 §10.2.3) is read from any retryable or
unknown answer and honoured by the client's own retries and by the delivery worker's schedule.
"""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

import httpx

from gateway.errors import UpstreamUnavailableError

RETRYABLE_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 3600.0
"""A peer asking for more than an hour is taken at an hour (the operator can re-queue sooner)."""


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now (``None`` if absent or unreadable), capped at an hour."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(0.0, delta), MAX_RETRY_AFTER_SECONDS)


def unavailable(message: str, reason: str, response: httpx.Response | None = None) -> UpstreamUnavailableError:
    """A retryable/unknown outcome with its ``reason`` and the peer's ``Retry-After`` (if any)."""
    err = UpstreamUnavailableError(message)
    err.reason = reason  # type: ignore[attr-defined]
    err.retry_after = (  # type: ignore[attr-defined]
        retry_after_seconds(response.headers.get("retry-after")) if response is not None else None
    )
    return err


def check_status(op: str, url: str, response: httpx.Response) -> None:
    """Raise the retryable error for a status that says "not now" (whatever the body)."""
    if response.status_code in RETRYABLE_HTTP or response.status_code >= 500:
        raise unavailable(f"{op}: {url} answered HTTP {response.status_code}", f"http_{response.status_code}", response)


def axis_answer(op: str, response: httpx.Response) -> dict[str, Any]:
    """The answer as an axis JSON object, or the *unknown* outcome if it is not one."""
    try:
        answer = response.json()
    except ValueError as exc:
        kind = response.headers.get("content-type", "no content type").split(";", 1)[0]
        raise unavailable(
            f"{op}: the answer is not JSON (HTTP {response.status_code}, {kind}); outcome unknown",
            f"unparseable_http_{response.status_code}",
            response,
        ) from exc
    if not isinstance(answer, dict) or "status" not in answer:
        raise unavailable(
            f"{op}: the answer is not an axis answer (HTTP {response.status_code}); outcome unknown",
            f"unparseable_http_{response.status_code}",
            response,
        )
    return answer


__all__ = ["RETRYABLE_HTTP", "axis_answer", "check_status", "retry_after_seconds", "unavailable"]
