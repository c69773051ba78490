"""The delivery loop: forwards queued messages to downstream hubs and upstream, exactly once.

Each server process runs one :class:`DeliveryWorker` thread. Messages are *leased* in the ledger
before they are sent (:meth:`Ledger.claim_due`), so two processes never send the same message at
the same time; a process killed mid-send leaves a lease that simply expires. Every try sends the
very same bytes (the original with this hub's TraceHeader, rebuilt and checked against its hash) under the same
DocumentId, so a receiver that saw an earlier try answers with the same DocId instead of storing
a second copy: an ``unknown`` outcome (timeout, dropped connection, 408/425/429/5xx, or an answer
that is not axis JSON, e.g. a proxy's HTML page) is therefore safe to retry, no sooner than a
``Retry-After`` the peer sent (:mod:`gateway.transport.outcomes`). ``refused`` (the peer's own
FAIL JSON) goes straight to DEAD; ``unknown`` backs off exponentially with jitter until
``delivery_max_attempts``, then DEAD. Operators re-queue DEAD messages with a recorded reason.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from datetime import timedelta

from gateway.blobstore import BlobStore
from gateway.config import HubSettings, RemoteHubSettings
from gateway.errors import GatewayError
from gateway.ledger import Ledger, business
from gateway.ledger.audit import utcnow
from gateway.ledger.models import Message
from gateway.server.trace import outbound_bytes
from gateway.transport.axis import AxisClient, DeliveryOutcome

log = logging.getLogger("lienthong.delivery")


class DeliveryWorker:
    def __init__(
        self, settings: HubSettings, ledger: Ledger, blobs: BlobStore, wake: threading.Event | None = None
    ):
        self.settings = settings
        self.ledger = ledger
        self.blobs = blobs
        self.wake = wake or threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clients: dict[str, AxisClient] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="lienthong-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for client in self._clients.values():
            client.close()

    def remote_for(self, msg: Message) -> RemoteHubSettings | None:
        if msg.route == "upstream":
            return self.settings.upstream
        for peer in self.settings.peers:
            if peer.code == msg.destination:
                return peer
        return None

    def _client(self, remote: RemoteHubSettings) -> AxisClient:
        key = f"{remote.url}|{remote.system_id}"
        if key not in self._clients:
            self._clients[key] = AxisClient(
                remote.url,
                remote.system_id,
                remote.secret,
                timeout=self.settings.client_timeout_seconds,
                retries=self.settings.client_retries,
                backoff_base=min(0.2, self.settings.delivery_backoff_base_seconds),
                backoff_max=2.0,
                utc_offset_minutes=self.settings.timestamp_utc_offset_minutes,
            )
        return self._clients[key]

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except GatewayError as exc:
                log.error("delivery loop error: %s", exc, extra={"document_id": None})
                worked = 0
            if not worked:
                self.wake.wait(self.settings.delivery_poll_seconds)
                self.wake.clear()

    def run_once(self, limit: int = 10) -> int:
        """Deliver up to ``limit`` due messages; returns how many were tried."""
        ids = self.ledger.claim_due(
            limit=limit, lease_seconds=max(60.0, self.settings.client_timeout_seconds * 4)
        )
        for mid in ids:
            if self._stop.is_set():
                break
            self.deliver(mid)
        return len(ids)

    def deliver(self, message_id: int) -> DeliveryOutcome:
        with self.ledger.reader() as s:
            msg = s.get(Message, message_id)
            assert msg is not None
            s.expunge(msg)
        if business.must_wait(self.ledger, msg):  # an earlier message of this document goes first
            business.postpone(self.ledger, message_id, min(1.0, self.settings.delivery_poll_seconds))
            return DeliveryOutcome("unknown", reason="waiting_for_earlier", error=None)
        started = utcnow()
        remote = self.remote_for(msg)
        if remote is None:
            outcome = DeliveryOutcome(
                "refused",
                reason="no_remote",
                error=f"no configured hub for route {msg.route}:{msg.destination}",
            )
        else:
            try:
                data = outbound_bytes(self.blobs, msg.payload_sha256, msg.source_sha256, msg.trace_hop)
            except GatewayError as exc:
                outcome = DeliveryOutcome("unknown", reason="blob", error=str(exc))
            else:
                outcome = self._client(remote).deliver(
                    data, messagetype=msg.message_type, to=json.loads(msg.recipients)
                )
        attempt_no = msg.attempts + 1
        dead = outcome.result == "unknown" and attempt_no >= self.settings.delivery_max_attempts
        delay = min(
            self.settings.delivery_backoff_max_seconds,
            self.settings.delivery_backoff_base_seconds * 2 ** (attempt_no - 1),
        )
        wait = random.uniform(delay / 2, delay)  # noqa: S311 - jitter
        if outcome.retry_after is not None:  # the peer said when: not sooner (outcomes.py caps it)
            wait = max(wait, outcome.retry_after)
        next_at = utcnow() + timedelta(seconds=wait)
        self.ledger.record_attempt(
            message_id,
            outcome=outcome.result,
            started_at=started,
            reason=outcome.reason,
            error=outcome.error,
            remote_doc_id=outcome.doc_id,
            next_attempt_at=next_at,
            dead=dead,
        )
        level = logging.INFO if outcome.result == "delivered" else logging.WARNING
        log.log(
            level,
            "delivery %s to %s:%s",
            outcome.result,
            msg.route,
            msg.destination,
            extra={
                "document_id": msg.document_id,
                "doc_id": msg.doc_id,
                "attempt": attempt_no,
                "reason": outcome.reason,
                "remote_doc_id": outcome.doc_id,
            },
        )
        return outcome


__all__ = ["DeliveryWorker"]
