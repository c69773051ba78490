"""Client for the national axis (VDXP) and every axis-compatible hub, over httpx.

It speaks the official SDK's protocol (signed ``XroadVnpt-*`` headers, see
:mod:`gateway.transport.hmac_auth`) with what the SDK lacks: timeouts, retries with exponential
backoff and jitter for retryable failures only (timeouts, dropped connections, 408, 425, 429, 5xx,
honouring ``Retry-After``; see :mod:`gateway.transport.outcomes`: an answer that is not axis JSON is
*unknown*, never a refusal), the same body and DocumentId on every retry, and
:meth:`AxisClient.deliver`, which never raises for a transport problem but returns a
:class:`DeliveryOutcome` (delivered / refused / unknown) for the ledger to record. httpx
exceptions are translated into the gateway's tree here and nowhere else.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import httpx

from gateway.errors import (
    GatewayError,
    RemoteRefusalError,
    TransportError,
    TransportTimeoutError,
    UpstreamUnavailableError,
)
from gateway.transport.hmac_auth import format_sdk_timestamp, sdk_file_hash, sign_headers
from gateway.transport.outcomes import axis_answer, check_status

T = TypeVar("T")
Outcome = Literal["delivered", "refused", "unknown"]


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What happened to one package: ``unknown`` means it may or may not have arrived (retry it)."""

    result: Outcome
    doc_id: str | None = None
    reason: str | None = None
    error: str | None = None
    tries: int = 1
    retry_after: float | None = None  # seconds the peer asked us to wait (``Retry-After``)


def _reason(exc: GatewayError) -> str:
    if isinstance(exc, TransportTimeoutError):
        return "timeout"
    if isinstance(exc, RemoteRefusalError):
        return f"refused:{exc.code}" if exc.code else "refused"
    return getattr(exc, "reason", None) or "unavailable"


class AxisClient:
    """One connected system talking to one axis-compatible endpoint."""

    def __init__(
        self,
        base_url: str,
        system_id: str,
        secret: str,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        utc_offset_minutes: int = 420,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.base_url = base_url.rstrip("/")
        self.system_id = system_id
        self._secret = secret
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.utc_offset_minutes = utc_offset_minutes
        self._sleep = sleep
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AxisClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AxisClient({self.base_url!r}, system_id={self.system_id!r})"

    # -- one request ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        op: str,
        values: dict[str, str],
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        stamp = format_sdk_timestamp(datetime.now(UTC), self.utc_offset_minutes)
        headers = sign_headers(
            self.system_id, self._secret, values, content_type=content_type, timestamp=stamp
        )
        raw_headers = {k.encode("ascii"): v.encode("latin-1") for k, v in headers.items()}
        url = f"{self.base_url}/{op}"
        try:
            response = self._http.request(method, url, headers=raw_headers, content=body)
        except httpx.TimeoutException as exc:
            raise TransportTimeoutError(f"{op}: {url} did not answer in time ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            err = UpstreamUnavailableError(f"{op}: connection to {url} failed ({type(exc).__name__})")
            err.reason = "connection"  # type: ignore[attr-defined]
            raise err from exc
        check_status(op, url, response)  # 408, 425, 429, 5xx: retryable (gateway/transport/outcomes.py)
        return response

    def _json(self, op: str, response: httpx.Response) -> dict[str, Any]:
        answer = axis_answer(op, response)  # not an axis JSON object: outcome unknown, never a refusal
        if str(answer.get("status", "")).upper() != "OK" or response.status_code >= 400:
            code = str(answer.get("ErrorCode") or response.status_code)
            desc = str(answer.get("ErrorDesc") or "no description")
            raise RemoteRefusalError(f"{op} refused (ErrorCode {code}): {desc}", code=code)
        return answer

    def _retrying(self, fn: Callable[[], T]) -> tuple[T, int]:
        """Run ``fn``; retry retryable errors with exponential backoff and full jitter."""
        tries = 0
        while True:
            tries += 1
            try:
                return fn(), tries
            except GatewayError as exc:
                if not exc.retryable or tries > self.retries:
                    exc.tries = tries  # type: ignore[attr-defined]
                    raise
                delay = min(self.backoff_max, self.backoff_base * (2 ** (tries - 1)))
                wait = random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not crypto
                asked = getattr(exc, "retry_after", None)
                if asked is not None:
                    if asked > self.backoff_max:  # longer than we wait here: leave it to the caller
                        exc.tries = tries  # type: ignore[attr-defined]
                        raise
                    wait = max(wait, asked)
                self._sleep(wait)

    def _call(self, method: str, op: str, values: dict[str, str], **kw: Any) -> dict[str, Any]:
        answer, _ = self._retrying(lambda: self._json(op, self._request(method, op, values, **kw)))
        return answer

    # -- operations -------------------------------------------------------------------------------

    def send_edoc(self, data: bytes, *, messagetype: str = "edoc", to: Sequence[str] | None = None) -> str:
        """sendEdoc with retries; returns the DocId. Raises on refusal or when retries are exhausted."""
        doc_id, _ = self._retrying(lambda: self.send_edoc_once(data, messagetype=messagetype, to=to))
        return doc_id

    def deliver(
        self, data: bytes, *, messagetype: str = "edoc", to: Sequence[str] | None = None
    ) -> DeliveryOutcome:
        """sendEdoc that reports instead of raising: delivered, refused, or unknown (retry later)."""
        tries_box = [0]

        def once() -> str:
            tries_box[0] += 1
            return self.send_edoc_once(data, messagetype=messagetype, to=to)

        try:
            doc_id, tries = self._retrying(once)
        except RemoteRefusalError as exc:
            return DeliveryOutcome("refused", reason=_reason(exc), error=str(exc), tries=tries_box[0])
        except TransportError as exc:
            return DeliveryOutcome(
                "unknown",
                reason=_reason(exc),
                error=str(exc),
                tries=tries_box[0],
                retry_after=getattr(exc, "retry_after", None),
            )
        return DeliveryOutcome("delivered", doc_id=doc_id, tries=tries)

    def send_edoc_once(
        self, data: bytes, *, messagetype: str = "edoc", to: Sequence[str] | None = None
    ) -> str:
        values = {
            "from": self.system_id,
            "servicetype": "eDoc",
            "messagetype": messagetype,
            "hash-file": sdk_file_hash(data),
        }
        if to:
            values["to"] = json.dumps(list(to), separators=(",", ":"))
        answer = self._json(
            "sendEdoc",
            self._request(
                "POST", "sendEdoc", values, body=data + b"\r\n", content_type="application/octet-stream"
            ),
        )
        doc_id = answer.get("DocId")
        if not doc_id:
            raise UpstreamUnavailableError("sendEdoc: OK answer without DocId")
        return str(doc_id)

    def received_list(
        self, messagetype: str = "edoc", *, from_date: str | None = None, to_date: str | None = None
    ) -> list[dict[str, Any]]:
        values = {"servicetype": "eDoc", "messagetype": messagetype}
        if from_date:
            values["fromDate"] = from_date
        if to_date:
            values["toDate"] = to_date
        return list(self._call("POST", "getReceivedEdocList", values, body=b"").get("data") or [])

    def get_edoc(self, doc_id: str) -> bytes:
        data = self._call("POST", "getEdoc", {"docId": doc_id}, body=b"{}").get("data")
        try:
            return base64.b64decode(str(data or ""), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise UpstreamUnavailableError("getEdoc: data is not base64") from exc

    def download_edoc(self, doc_id: str) -> bytes:
        def once() -> bytes:
            response = self._request("GET", "downloadEdoc", {"docId": doc_id})
            if response.status_code >= 400 or response.headers.get("content-type", "").startswith(
                "application/json"
            ):
                self._json("downloadEdoc", response)
            return response.content

        content, _ = self._retrying(once)
        return content

    def update_status(self, doc_id: str, status: str, description: str | None = None) -> None:
        values = {"docid": doc_id, "status": status}
        if description:
            values["description"] = description
        self._call("POST", "updateStatus", values, body=b"{}")

    def sent_list(self, messagetype: str = "edoc", doc_id: str | None = None) -> list[dict[str, Any]]:
        values = {"servicetype": "eDoc", "messagetype": messagetype}
        if doc_id:
            values["docId"] = doc_id
        return list(self._call("POST", "getSentEdocList", values, body=b"{}").get("data") or [])

    def count_received(self, messagetype: str = "edoc") -> int:
        op = "countReceiveStatus" if messagetype == "status" else "countReceiveEdoc"
        return int(self._call("GET", op, {}).get("count") or 0)

    def agencies(self) -> list[dict[str, Any]]:
        """getAgenciesList: ``id, pid, code, name, mail, oldCode``."""
        return self._list("getAgenciesList")

    def agencies_qd20(self) -> list[dict[str, Any]]:
        """getAgenciesListQD20: ``code, code102``."""
        return self._list("getAgenciesListQD20")

    def synchronize_unit(self) -> list[dict[str, Any]]:
        """getSynchronizeUnit: the full list with ``centerCode``, ``deleted``, ``version``…"""
        return self._list("getSynchronizeUnit")

    def _list(self, op: str) -> list[dict[str, Any]]:
        data = self._call("POST", op, {}, body=b"{}").get("data") or []
        if not isinstance(data, list):
            raise RemoteRefusalError(f"{op}: the answer's data is not a list")
        return list(data)


__all__ = ["AxisClient", "DeliveryOutcome"]
