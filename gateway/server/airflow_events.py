"""Tell Airflow at once that a legacy system pushed a batch: an asset event per configured Asset.

After a push to ``/legacy/{adapter}`` has been stored (the group commit returned, so the documents
are durable), the hub posts ``POST /api/v2/assets/events`` to Airflow's api-server for each URI of
``[airflow] assets`` (``{adapter}`` filled in), so the DAG scheduled on that Asset starts without
waiting for its cron. Airflow 3.3's endpoint wants the numeric ``asset_id``: it is looked up once by
URI (``GET /api/v2/assets?uri_pattern=…``, exact match kept) and cached. The bearer token comes from
the api-server's ``POST /auth/token`` (username/password of an Airflow user); it is cached and
fetched again once when Airflow answers 401 (expired token).

None of this is on the push's critical path: :meth:`AssetEventEmitter.notify` only queues; one
daemon thread posts, retries a failure with exponential backoff (``retries`` times) and then gives
up, logging and counting it. A failing or absent Airflow never fails or slows a push: the DAG's
cron is the fallback. The password is never logged (errors name only the HTTP status or the
exception type).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway.config import AirflowEventSettings
from gateway.errors import ConfigurationError, TransportError

log = logging.getLogger("lienthong.airflow_events")


class AssetEventClient:
    """The three api-server calls, synchronous (the emitter's thread runs them)."""

    def __init__(self, url: str, username: str, password: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.Client(base_url=url.rstrip("/"), timeout=timeout)
        self._username = username
        self._password = password
        self._token: str | None = None
        self._asset_ids: dict[str, int] = {}
        self.token_requests = 0
        self.lookups = 0

    def close(self) -> None:
        self._http.close()

    def _fetch_token(self) -> str:
        self.token_requests += 1
        got = self._http.post("/auth/token", json={"username": self._username, "password": self._password})
        if got.status_code not in (200, 201):
            raise TransportError(f"Airflow refused the credentials of {self._username!r}: HTTP {got.status_code}",
                                 retryable=got.status_code >= 500)
        try:
            return str(got.json()["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError("Airflow's /auth/token answer has no access_token") from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One authenticated call; a 401 (expired token) fetches a new token and tries once more."""
        for attempt in (0, 1):
            if self._token is None:
                self._token = self._fetch_token()
            answer = self._http.request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
            if answer.status_code == 401 and attempt == 0:
                self._token = None
                continue
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def asset_id(self, uri: str) -> int:
        """The Asset's id by its exact URI (cached). An unknown URI is a :class:`ConfigurationError`."""
        if uri in self._asset_ids:
            return self._asset_ids[uri]
        self.lookups += 1
        answer = self._request("GET", "/api/v2/assets", params={"uri_pattern": uri, "limit": 100})
        _raise_for(answer, f"asset lookup {uri}")
        for asset in answer.json().get("assets", []):
            if asset.get("uri") == uri:  # uri_pattern is a substring match: keep the exact one only
                self._asset_ids[uri] = int(asset["id"])
                return self._asset_ids[uri]
        raise ConfigurationError(f"Airflow knows no asset {uri!r} (is the DAG scheduled on it parsed?)")

    def post_event(self, uri: str, extra: dict[str, Any]) -> dict[str, Any]:
        """Post one asset event; returns Airflow's answer (``created_dagruns`` etc.)."""
        asset_id = self.asset_id(uri)
        answer = self._request("POST", "/api/v2/assets/events", json={"asset_id": asset_id, "extra": extra})
        if answer.status_code == 404:  # the asset was re-created under a new id: look it up again next time
            self._asset_ids.pop(uri, None)
        _raise_for(answer, f"asset event {uri}")
        body = answer.json()
        return body if isinstance(body, dict) else {}


def _raise_for(answer: httpx.Response, what: str) -> None:
    if answer.status_code >= 400:
        raise TransportError(f"{what}: Airflow answered HTTP {answer.status_code}",
                             retryable=answer.status_code >= 500 or answer.status_code in (404, 408, 429))


@dataclass
class EventCounters:
    """What the emitter did since start (shown by ``/metrics``)."""

    queued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    last_error: str = field(default="")


class AssetEventEmitter:
    """Queues pushes and posts their asset events from one daemon thread, with retries."""

    def __init__(self, settings: AirflowEventSettings, *, max_queue: int = 1000) -> None:
        self.settings = settings
        self.counters = EventCounters()
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(max_queue)
        self._client = AssetEventClient(settings.url, settings.username, settings.secret(),
                                        timeout=settings.timeout_seconds)
        self._idle = threading.Condition()
        self._busy = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lienthong-asset-events", daemon=True)
        self._thread.start()

    @classmethod
    def from_settings(cls, settings: AirflowEventSettings) -> AssetEventEmitter | None:
        return cls(settings) if settings.enabled else None

    def notify(self, adapter: str, extra: dict[str, Any]) -> None:
        """Queue the events of one stored push (returns at once; a full queue drops and counts)."""
        for template in self.settings.assets:
            uri = template.format(adapter=adapter)
            try:
                with self._idle:
                    self._queue.put_nowait((uri, {**extra, "adapter": adapter}))
                    self._busy += 1
                self.counters.queued += 1
            except queue.Full:
                self.counters.dropped += 1
                log.warning("asset event for %s dropped: queue full (the DAG's schedule will pick it up)", uri)

    def wait_idle(self, timeout: float) -> bool:
        """Block until every queued event was sent or given up (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Give queued events a short chance, then stop the thread."""
        self.wait_idle(timeout)
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._deliver(*item)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _deliver(self, uri: str, extra: dict[str, Any]) -> None:
        delay = self.settings.retry_backoff_seconds
        for attempt in range(self.settings.retries + 1):
            try:
                answer = self._client.post_event(uri, extra)
            except (TransportError, ConfigurationError, httpx.HTTPError, ValueError) as exc:
                reason = str(exc) if isinstance(exc, TransportError | ConfigurationError) else type(exc).__name__
                self.counters.last_error = reason
                retryable = not isinstance(exc, ConfigurationError) and getattr(exc, "retryable", True)
                if attempt < self.settings.retries and retryable and not self._stop.is_set():
                    self.counters.retried += 1
                    log.warning("asset event for %s not posted (%s); retry %d in %.1f s", uri, reason,
                                attempt + 1, delay)
                    self._stop.wait(delay)
                    delay = min(delay * 2, 60.0)
                    continue
                self.counters.failed += 1
                log.error("asset event for %s given up after %d attempt(s): %s (the DAG's schedule is the "
                          "fallback)", uri, attempt + 1, reason)
                return
            self.counters.sent += 1
            runs = [r.get("dag_run_id") for r in answer.get("created_dagruns", []) if isinstance(r, dict)]
            log.info("asset event posted for %s", uri, extra={"asset_uri": uri, "created_dagruns": runs})
            return


__all__ = ["AssetEventClient", "AssetEventEmitter", "EventCounters"]
