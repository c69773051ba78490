"""Outbound stages: legacy system → adapter → agency signature → hub → acknowledgement to the legacy system.

Work folder (``<work>/outbound``)::

    translated/NAME.edxml            the adapter's package for legacy document NAME (an encoded legacy id)
    translated/NAME.fetch.error.json why fetching or translating it failed
    signed/NAME.edxml                the package with the agency signature (``gateway.exchange.steps.stamp_folder``)
    signed/NAME.stamp.error.json     why stamping failed
    signed/NAME.send.json            receipt: the hub accepted it (its DocId); never sent again
    signed/NAME.ack.json             receipt: the legacy system was told it left

Idempotent delivery: the signed bytes are written once and reused, so sending them again after
a lost answer gives the hub the same DocumentId with the same payload, which it deduplicates.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.errors import (
    AuthorizationError,
    ConfigurationError,
    GatewayError,
    MappingError,
    RemoteRefusalError,
    UpstreamUnavailableError,
)
from gateway.exchange.common import (
    StageResult,
    clear_error,
    now_iso,
    original_id,
    record_error,
    safe_name,
    start,
    write_json,
)
from gateway.exchange.steps import stamp_folder
from gateway.files import write_atomic
from gateway.transport.axis import AxisClient, DeliveryOutcome

if TYPE_CHECKING:
    from gateway.exchange.sources import LegacyConnector
    from gateway.signing.sign import DocumentSigner


@dataclass(frozen=True)
class OutboundFolders:
    """The outbound part of a work folder."""

    root: Path

    @property
    def translated(self) -> Path:
        return self.root / "outbound" / "translated"

    @property
    def signed(self) -> Path:
        return self.root / "outbound" / "signed"

    def make(self) -> OutboundFolders:
        for folder in (self.translated, self.signed):
            folder.mkdir(parents=True, exist_ok=True)
        return self

    def sent(self, name: str) -> Path:
        return self.signed / f"{name}.send.json"

    def acked(self, name: str) -> Path:
        return self.signed / f"{name}.ack.json"


def list_pending(connector: LegacyConnector, *, limit: int | None = None) -> list[str]:
    """Work names of the documents waiting in the legacy system's outgoing queue."""
    return [safe_name(legacy_id) for legacy_id in connector.pending(limit)]


def fetch_and_translate(connector: LegacyConnector, names: Sequence[str], folders: OutboundFolders) -> StageResult:
    """Fetch each document and translate it with the adapter into ``translated/NAME.edxml``.

    A document already delivered is not fetched again. A translation that differs from the one
    on disk (the legacy system corrected it) replaces it and drops the stale signed copy.
    """
    result = start("fetch")
    folders.make()
    for name in names:
        if folders.sent(name).exists():
            result.add(name, "skipped", reason="already delivered")
            continue
        try:
            docs = connector.fetch(original_id(name))
        except GatewayError as exc:
            result.add(name, "failed", **record_error(folders.translated, name, "fetch", exc))
            continue
        doc = docs[0] if len(docs) == 1 else None
        if doc is None or not doc.ok or doc.edxml is None:
            problem: GatewayError = (
                doc.errors[0].to_exception() if doc is not None and doc.errors
                else MappingError(f"legacy document {original_id(name)}: expected one translated document, "
                                  f"got {len(docs)}")
            )
            errors = [e.as_dict() for d in docs for e in d.errors]
            result.add(name, "failed", **record_error(folders.translated, name, "fetch", problem, errors=errors))
            continue
        clear_error(folders.translated, name, "fetch")
        target = folders.translated / f"{name}.edxml"
        if target.exists() and target.read_bytes() == doc.edxml:
            result.add(name, "skipped", document_id=doc.document_id)
            continue
        write_atomic(target, doc.edxml)
        stale = folders.signed / f"{name}.edxml"
        stale.unlink(missing_ok=True)
        (folders.signed / f"{name}.stamp.error.json").unlink(missing_ok=True)
        result.add(name, "ok", document_id=doc.document_id)
    return result


def stamp(names: Sequence[str], folders: OutboundFolders, signer: DocumentSigner, *,
          placeholder: str | None = None) -> StageResult:
    """Put the agency signature on ``translated/NAME.edxml`` → ``signed/NAME.edxml`` (existing ones kept)."""
    folders.make()
    result = start("stamp")
    inputs = [folders.translated / f"{n}.edxml" for n in names if (folders.translated / f"{n}.edxml").exists()]
    report = stamp_folder(inputs, folders.signed, signer, placeholder=placeholder) if inputs else None
    for item in report.items if report else []:
        name = item["source"].removesuffix(".edxml")
        details = {k: v for k, v in item.items() if k not in ("source", "outcome", "output")}
        result.add(name, item["outcome"], **details)
    return result


#: sendEdoc calls in flight at once: the hub answers after its group commit, so sequential sends
#: spend most of their time waiting (measured: 7 of 20 ms per document against a local hub), and a
#: remote hub's round trip is paid per document. Four keep that wait overlapped without crowding
#: the peer; ``--send-concurrency`` / ``send_concurrency`` change it.
DEFAULT_SEND_CONCURRENCY = 4


def deliver(client: AxisClient, names: Sequence[str], folders: OutboundFolders, *,
            concurrency: int = DEFAULT_SEND_CONCURRENCY) -> StageResult:
    """sendEdoc every signed package not yet accepted; record the DocId as its receipt.

    Up to ``concurrency`` packages are in flight at once; the outcomes are recorded in the order of
    ``names``. A refused package fails alone; a package whose fate is unknown (timeout, 5xx) is a
    retryable failure, sent again with the same bytes next time. Wrong hub credentials stop the
    batch: nothing more is sent, the receipts of what was accepted meanwhile are still written,
    then :class:`AuthorizationError` is raised.
    """
    if concurrency < 1:
        raise ConfigurationError(f"send concurrency must be at least 1, not {concurrency}")
    result = start("send")
    done = {n for n in names if folders.sent(n).exists()}
    to_send = [n for n in names if n not in done and (folders.signed / f"{n}.edxml").exists()]
    outcomes = _send_all(client, to_send, folders, concurrency)
    unsent = set(to_send) - set(outcomes)  # left out once the credentials were refused
    refused_credentials: DeliveryOutcome | None = None
    for name in names:
        if name not in outcomes:
            if name in done:
                result.add(name, "skipped")
            elif name in unsent:
                continue  # the batch stops with AuthorizationError below
            else:
                result.add(name, "failed", carry=False, error="no signed package", retryable=False)
            continue
        outcome = outcomes[name]
        if outcome.result == "delivered":
            clear_error(folders.signed, name, "send")
            write_json(folders.sent(name), {"docId": outcome.doc_id, "at": now_iso(), "tries": outcome.tries})
            result.add(name, "ok", doc_id=outcome.doc_id)
            continue
        if outcome.reason in ("refused:401",):
            refused_credentials = refused_credentials or outcome
            continue
        exc: GatewayError = (
            RemoteRefusalError(outcome.error or "refused", code=outcome.reason)
            if outcome.result == "refused"
            else UpstreamUnavailableError(outcome.error or "delivery outcome unknown")
        )
        result.add(name, "failed", **record_error(folders.signed, name, "send", exc, reason=outcome.reason))
    if refused_credentials is not None:
        raise AuthorizationError(f"the hub refused this system's credentials: {refused_credentials.error}")
    return result


def _send_all(client: AxisClient, names: Sequence[str], folders: OutboundFolders,
              concurrency: int) -> dict[str, DeliveryOutcome]:
    """The outcome of each package sent; none is sent once the hub has refused the credentials.

    Each worker reads its own package, so at most ``concurrency`` packages are in memory.
    """
    stop = threading.Event()

    def send(name: str) -> tuple[str, DeliveryOutcome | None]:
        if stop.is_set():
            return name, None
        outcome = client.deliver((folders.signed / f"{name}.edxml").read_bytes(), messagetype="edoc")
        if outcome.reason == "refused:401":
            stop.set()
        return name, outcome

    if concurrency == 1 or len(names) <= 1:
        pairs = [send(n) for n in names]
    else:
        with ThreadPoolExecutor(min(concurrency, len(names)), thread_name_prefix="lienthong-send") as pool:
            pairs = list(pool.map(send, names))
    return {name: outcome for name, outcome in pairs if outcome is not None}


def acknowledge(connector: LegacyConnector, names: Sequence[str], folders: OutboundFolders) -> StageResult:
    """Tell the legacy system each delivered document has left (it drops it from its queue).

    ``names`` come from this run's listing, so a document with an acknowledgement receipt that the
    legacy system lists again (the acknowledgement was lost, or the queue was restored) is
    acknowledged again rather than skipped forever.
    """
    result = start("ack")
    for name in names:
        again = folders.acked(name).exists()
        if not folders.sent(name).exists():
            result.add(name, "failed", carry=False, error="not delivered", retryable=False)
            continue
        try:
            answer = connector.acknowledge(original_id(name))
        except GatewayError as exc:
            result.add(name, "failed", **record_error(folders.signed, name, "ack", exc))
            continue
        clear_error(folders.signed, name, "ack")
        write_json(folders.acked(name), {"accepted": answer.accepted, "message": answer.message, "at": now_iso()})
        # not accepted = no longer in the legacy queue (acknowledged by an earlier, interrupted run)
        result.add(name, "ok" if answer.accepted else "skipped", legacy_message=answer.message,
                   **({"reacknowledged": True} if again else {}))
    return result


__all__ = ["DEFAULT_SEND_CONCURRENCY", "OutboundFolders", "acknowledge", "deliver", "fetch_and_translate",
           "list_pending", "stamp"]
