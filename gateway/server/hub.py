"""The hub's business logic behind the axis API: accept packages, route them, serve the inboxes.

:meth:`HubService.accept_answer` is sendEdoc: check the file hash, parse and validate the package, check
that the sending system may speak for ``From``, refuse loops, store the bytes in the blob store,
append this hub's TraceHeader, and record one submission plus one delivery message per route in a
single ledger transaction. Only after that commit does the caller get its DocId, so an
acknowledged submission is always in the ledger (the crash-safety test kills the server mid-stream
to check exactly this). The same package sent again returns the same DocId.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from gateway.blobstore import BlobRef, BlobStore
from gateway.config import HubSettings
from gateway.edxml import EdocPackage, StatusPackage
from gateway.edxml.directory import Directory
from gateway.errors import AuthorizationError, GatewayError, NotFoundError, SchemaValidationError
from gateway.ledger import Ledger, State, SystemInfo, business
from gateway.ledger import replay_cache as signed_requests
from gateway.ledger.column_limits import check_package
from gateway.ledger.intake import Accepted, IntakeCommitter, RouteDraft, SubmissionDraft
from gateway.ledger.models import Message
from gateway.server import recipients as to_header
from gateway.server import sent_list as sent_rows
from gateway.server.airflow_events import AssetEventEmitter
from gateway.server.diskguard import disk_guard_for
from gateway.server.parse_budget import BudgetedParser
from gateway.server.replay import replayed_elsewhere
from gateway.server.routing import Route, Router
from gateway.server.trace import append_trace, hop_recipe, outbound_bytes
from gateway.transport.hmac_auth import VerifiedRequest, sdk_hex

log = logging.getLogger("lienthong.hub")

PREPARE_THREADS = 8
"""Worker threads per process that parse and store incoming packages (more only fight for the GIL)."""
TRANSPORT_STATUSES = {"done", "fail", "processing"}


@dataclass(frozen=True, slots=True)
class PreparedSubmission:
    """An edoc package that passed every check and whose bytes are stored, ready for the ledger."""

    draft: SubmissionDraft
    note: str = ""  # ErrorDesc of the OK answer (a partial send says who was left out)
    business: tuple[int, str | None, str | None] | None = None  # (type, target DocumentId, reason)


class OrganNotAllowedError(AuthorizationError):
    """The system is authenticated but not registered for the package's sender OrganId."""


class PayloadTooLargeError(GatewayError):
    """The request body is over the configured size limit."""


class BadRequestError(GatewayError):
    """A header or parameter the operation needs is missing or malformed."""


def vn_now(settings: HubSettings) -> datetime:
    """Naive local time in the configured zone (Vietnam by default), as packages carry it."""
    return (datetime.now(UTC) + timedelta(minutes=settings.timestamp_utc_offset_minutes)).replace(tzinfo=None)


def axis_time(value: datetime | None, settings: HubSettings) -> str:
    """Ledger UTC → ``dd/MM/yyyy HH:mm:ss`` local, the axis list format."""
    if value is None:
        return ""
    return (value + timedelta(minutes=settings.timestamp_utc_offset_minutes)).strftime("%d/%m/%Y %H:%M:%S")


def parse_axis_time(text: str | None, settings: HubSettings) -> datetime | None:
    if not text:
        return None
    try:
        local = datetime.strptime(text.strip(), "%d/%m/%Y %H:%M:%S")
    except ValueError as exc:
        raise BadRequestError(f"date {text!r} is not in the format dd/MM/yyyy HH:mm:ss") from exc
    return local - timedelta(minutes=settings.timestamp_utc_offset_minutes)


class HubService:
    #: how long a request waits for its group commit before it is answered "retry" (a stalled disk
    #: or a database lock held elsewhere must not hold clients and threads for ever)
    ledger_answer_timeout_s: float = 30.0

    def __init__(self, settings: HubSettings, ledger: Ledger, blobs: BlobStore, directory: Directory):
        self.settings = settings
        self.ledger = ledger
        self.blobs = blobs
        self.directory = directory
        self.router = Router(settings, ledger, directory)
        # Blobs are written without a per-file fsync; each group commit syncs them all at once first.
        self.intake = IntakeCommitter(ledger, before_commit=blobs.sync)
        self._prepare_executor: ThreadPoolExecutor | None = None
        self.parser = BudgetedParser(settings.limits)
        self.diskguard = disk_guard_for(settings)
        self.work_available = threading.Event()
        self.clocks = signed_requests.Clocks(ledger)  # per-system SDK timestamp reading
        self.refusals = signed_requests.RefusalCounter(ledger)  # refused requests per system/reason
        # asset events after a legacy push (``[airflow]`` in hub.toml), None when not configured
        self.asset_events = AssetEventEmitter.from_settings(settings.airflow)

    # -- sendEdoc ---------------------------------------------------------------------------------

    def accept_recorded(
        self, body: bytes, request: VerifiedRequest, system: SystemInfo, *, adapter: str | None = None
    ) -> Accepted:
        """Accept one package and say whether this call created the submission (legacy push receipts).

        The same package sent again returns the same DocId with ``created`` false."""
        prepared = self.prepare(body, request, system, adapter=adapter)
        if isinstance(prepared, Accepted):
            return prepared
        accepted = self._commit_business(prepared) or self.intake.submit(prepared.draft, self.ledger_answer_timeout_s)
        self.finish(prepared, accepted)
        return accepted

    async def accept_answer(self, body: bytes, request: VerifiedRequest, system: SystemInfo) -> tuple[str, str]:
        """sendEdoc for the event loop: CPU and fsync work in a small dedicated pool (few threads
        fighting for the GIL), then the group commit is awaited without holding a thread. Returns
        the DocId and the note for the answer's ErrorDesc (a partial send says who was left out)."""
        loop = asyncio.get_running_loop()
        prepared = await loop.run_in_executor(self._prepare_pool(), self.prepare, body, request, system)
        if isinstance(prepared, Accepted):
            return prepared.doc_id, ""
        if prepared.business is not None:  # rare: its own transaction, with its history row
            accepted = await loop.run_in_executor(self._prepare_pool(), self._commit_business, prepared)
            assert accepted is not None
        else:
            accepted = await self.intake.submit_async(prepared.draft, self.ledger_answer_timeout_s)
        if not accepted.created:
            await loop.run_in_executor(self._prepare_pool(), self._complete_routes, prepared, accepted)
        return self.finish(prepared, accepted), prepared.note

    def _commit_business(self, prepared: PreparedSubmission) -> Accepted | None:
        if prepared.business is None:
            return None
        kind, target, reason = prepared.business
        return business.record_business(
            self.ledger, prepared.draft, business_type=kind, target_document_id=target, reason=reason,
            signature=prepared.draft.signature,
        )

    def _complete_routes(self, prepared: PreparedSubmission, accepted: Accepted) -> None:
        """The same package again: add the recipients an earlier (partial) send left out."""
        added = business.add_missing_routes(self.ledger, accepted.doc_id, prepared.draft.routes, prepared.draft)
        if added:
            log.info("partial send completed", extra={"document_id": prepared.draft.document_id, "added": added})
            self.work_available.set()

    def _prepare_pool(self) -> ThreadPoolExecutor:
        if self._prepare_executor is None:
            self._prepare_executor = ThreadPoolExecutor(PREPARE_THREADS, thread_name_prefix="lienthong-prepare")
        return self._prepare_executor

    def close(self) -> None:
        """Stop the intake writer (after it committed what is queued) and the prepare threads."""
        self.intake.close()
        self.parser.close()
        if self.asset_events is not None:
            self.asset_events.close()
        if self._prepare_executor is not None:
            self._prepare_executor.shutdown(wait=True)

    def finish(self, prepared: PreparedSubmission, accepted: Accepted) -> str:
        """Log the outcome of a committed edoc submission and wake the delivery worker if needed."""
        routes = prepared.draft.routes
        log.info(
            "package %s",
            "accepted" if accepted.created else "already accepted (idempotent)",
            extra={
                "document_id": prepared.draft.document_id,
                "doc_id": accepted.doc_id,
                "system_id": prepared.draft.system_id,
                "routes": [f"{r.route}:{r.destination}" for r in routes],
            },
        )
        if accepted.created and any(r.route != "local" for r in routes):
            self.work_available.set()
        return accepted.doc_id

    def prepare(
        self, body: bytes, request: VerifiedRequest, system: SystemInfo, *, adapter: str | None = None
    ) -> PreparedSubmission | Accepted:
        """Check, parse, route and store one package; an edoc comes back as a draft for the group
        commit, a status package is recorded right away (it moves other messages).

        ``adapter`` names the legacy adapter the package was translated by (kept on its messages).
        """
        data = body[:-2] if body.endswith(b"\r\n") else body
        head = data[:4096].lstrip() or data.lstrip()[:4096]  # the checks only need the first bytes
        blank = not head
        if not blank and not head.removeprefix(b"\xef\xbb\xbf").startswith(b"<"):
            start = head[:5].removeprefix(b"\xef\xbb\xbf")
            raise SchemaValidationError(
                f"the body is not an XML document (it starts with {start!r}); sendEdoc expects the .edxml file"
            )
        declared = request.get("hash-file")
        digest = hashlib.sha256(data).digest()  # once: for hash-file and for the blob's name
        if declared is not None and declared.lower() != sdk_hex(digest):
            raise SchemaValidationError(
                "hash-file does not match the body (SHA-256 of the file without CRLF)"
            )
        if blank:
            raise SchemaValidationError("empty body: sendEdoc expects the .edxml file")
        source = f"sendEdoc from {system.system_id}"
        result = self.parser.parse(data, source)  # under max_parse_seconds (gateway/server/parse_budget.py)
        if result.schema_issues and self.settings.validate_packages:
            log.info(
                "package accepted with schema departures",
                extra={"system_id": system.system_id, "issues": [str(i) for i in result.schema_issues[:5]]},
            )
        pkg = result.package
        check_package(pkg)  # column lengths: a too-long field is refused alone, before any blob is written
        declared_type = (request.get("messagetype") or "").strip().lower()
        actual_type = "status" if isinstance(pkg, StatusPackage) else "edoc"
        if declared_type and declared_type != actual_type:
            raise SchemaValidationError(
                f"messagetype header says {declared_type!r} but the body is a {actual_type} package"
            )
        sender = pkg.from_.organ_id if isinstance(pkg, StatusPackage) else pkg.header.from_.organ_id
        if not system.may_send_as(sender):
            raise OrganNotAllowedError(
                f"system {system.system_id!r} is not registered for sender OrganId {sender!r}"
            )
        trace = pkg.trace.trace_headers if pkg.trace is not None else ()
        trace_ids = [t.organ_id for t in trace]
        self.router.check_loop(trace_ids)
        chosen = self._recipients(pkg, request, system, sender)
        recipients = list(chosen.chosen)
        routes = self.router.route(recipients, trace_ids)
        self.diskguard.check(len(data))  # refuse before the disk is full (a retryable 503)
        original = self.diskguard.guarded(self.blobs.put_bytes, data, sha256=digest)
        when = vn_now(self.settings)
        hop = hop_recipe(self.settings.node_id, when)
        outbound = append_trace(data, self.settings.node_id, when)  # = apply_recipe(data, hop), without its JSON
        out_sha, out_size = hashlib.sha256(outbound).hexdigest(), len(outbound)
        if isinstance(pkg, StatusPackage):
            self.blobs.sync()  # the status path commits on its own: make its blob durable first
            doc_id, created = self._accept_status(
                pkg, sender, system, routes, original, hop, out_sha, out_size, adapter, request.signature
            )
            log.info(
                "status package %s",
                "accepted" if created else "already accepted (idempotent)",
                extra={"document_id": pkg.response_for.document_id, "doc_id": doc_id, "system_id": system.system_id},
            )
            if created and any(r.kind != "local" for r in routes):
                self.work_available.set()
            return Accepted(doc_id, created)
        kind = int(pkg.business_type)
        biz = pkg.trace.business
        return PreparedSubmission(
            SubmissionDraft(
                idem_extra=business.idem_extra(kind),
                signature=request.signature or None,
                partial=(chosen.chosen, chosen.omitted) if chosen.partial else None,
                message_type="edoc",
                document_id=pkg.header.document_id,
                sender=sender,
                payload_sha256=original.sha256,
                payload_size=original.size,
                system_id=system.system_id,
                routes=tuple(RouteDraft(r.kind, r.destination, r.recipients) for r in routes),
                outbound_sha256=out_sha,
                outbound_size=out_size,
                trace_hop=hop,
                subject=pkg.header.subject,
                code=str(pkg.header.code),
                adapter=adapter,
                actor=system.system_id,
            ),
            note=to_header.partial_note(chosen) if chosen.partial else "",
            business=(kind, biz.document_id, biz.reason) if biz is not None and kind else None,
        )

    def _accept_status(
        self,
        pkg: StatusPackage,
        sender: str,
        system: SystemInfo,
        routes: Sequence[Route],
        original: BlobRef,
        hop: str,
        out_sha: str,
        out_size: int,
        adapter: str | None,
        signature: str,
    ) -> tuple[str, bool]:
        """Status packages also move other messages' business state, so they take the ORM path."""
        document_id, status_code = pkg.response_for.document_id, pkg.status_code.wire
        with self.ledger.transaction() as s:
            sub, created = self.ledger.find_or_create_submission(
                s,
                message_type="status",
                document_id=document_id,
                sender=sender,
                payload_sha256=original.sha256,
                payload_size=original.size,
                system_id=system.system_id,
                status_code=status_code,
                idem_extra=f"{status_code}|{pkg.timestamp.isoformat()}",
            )
            if created:
                signed_requests.record(s, system.system_id, signature, "sendEdoc", sub.doc_id)
                for route in routes:
                    self.ledger.add_message(
                        s,
                        direction="in" if route.kind == "local" else "out",
                        message_type="status",
                        document_id=document_id,
                        sender=sender,
                        recipients=route.recipients,
                        route=route.kind,
                        destination=route.destination,
                        payload_sha256=out_sha,
                        payload_size=out_size,
                        source_sha256=original.sha256,
                        trace_hop=hop,
                        state=State.QUEUED,
                        submission=sub,
                        subject=pkg.description,
                        code=pkg.response_for.code,
                        status_code=status_code,
                        adapter=adapter,
                        actor=system.system_id,
                    )
                self.ledger.apply_status(
                    s,
                    submission=sub,
                    document_id=document_id,
                    from_organ=sender,
                    status_code=status_code,
                    description=pkg.description,
                    event_time=pkg.timestamp.isoformat(sep=" "),
                    actor=system.system_id,
                )
            return sub.doc_id, created

    def _recipients(
        self, pkg: EdocPackage | StatusPackage, request: VerifiedRequest, system: SystemInfo, sender: str
    ) -> to_header.Recipients:
        """The package's recipients, narrowed by a signed ``to`` (:mod:`gateway.server.recipients`).

        A revocation/update/replacement also goes to everyone the document already went to (the
        document of its own DocumentId and the one its Bussiness/DocumentId names); a
        status 13 (the sender withdraws its own document: ResponseFor names the sender itself)
        goes to the original's recipients.
        """
        also: list[str] = []
        if isinstance(pkg, StatusPackage):
            own = [pkg.response_for.organ_id]
            if pkg.status_code.wire == "13":
                also = business.known_recipients(self.ledger, pkg.response_for.document_id, sender)
                if also and pkg.response_for.organ_id == sender:
                    own = also
        else:
            own = [o.organ_id for o in pkg.header.to]
            biz = pkg.trace.business
            if biz is not None and int(biz.doc_type):
                # the document it revokes/updates/replaces: the official samples reuse its DocumentId,
                # other senders name it only in Bussiness/DocumentId; either way its recipients get it
                for document_id in dict.fromkeys(d for d in (pkg.header.document_id, biz.document_id) if d):
                    known = business.known_recipients(self.ledger, document_id, sender)
                    also += [a for a in known if a not in also]
                own = own + [a for a in also if a not in own]
        relayed_status = isinstance(pkg, StatusPackage) and system.kind == "hub"
        return to_header.resolve(
            own,
            request.get("to"),
            self.directory,
            also_allowed=also,
            check=not relayed_status,
            flag_partial=system.kind == "agency",
        )

    # -- the receiving side -----------------------------------------------------------------------

    def inbox(
        self, system: SystemInfo, messagetype: str, from_date: str | None = None, to_date: str | None = None
    ) -> list[dict[str, Any]]:
        start = parse_axis_time(from_date, self.settings)
        end = parse_axis_time(to_date, self.settings)
        with self.ledger.reader() as s:
            q = select(Message).where(
                Message.route == "local",
                Message.destination == system.system_id,
                Message.message_type == messagetype,
                Message.transport_status != "done",
            )
            if start:
                q = q.where(Message.created_at >= start)
            if end:
                q = q.where(Message.created_at <= end)
            rows = s.execute(q.order_by(Message.id).limit(1000)).scalars().all()
        return [
            {
                "docId": m.doc_id,
                "serviceType": "eDoc",
                "messageType": m.message_type,
                "from": m.sender,
                "to": ",".join(json.loads(m.recipients)),
                "status": m.transport_status,
                "status_desc": m.state,
                "created_time": axis_time(m.created_at, self.settings),
                "updated_time": axis_time(m.updated_at, self.settings),
            }
            for m in rows
        ]

    def count_inbox(self, system: SystemInfo, messagetype: str) -> int:
        with self.ledger.reader() as s:
            return int(
                s.execute(
                    select(func.count())
                    .select_from(Message)
                    .where(
                        Message.route == "local",
                        Message.destination == system.system_id,
                        Message.message_type == messagetype,
                        Message.transport_status != "done",
                    )
                ).scalar_one()
            )

    def fetch(self, system: SystemInfo, doc_id: str) -> bytes:
        """getEdoc / downloadEdoc: the package bytes (with this hub's trace); first fetch → SENT."""
        with self.ledger.transaction() as s:
            msg = self._own(s, system, doc_id)
            if msg.state == State.QUEUED.value:
                self.ledger.transition(
                    s, msg, State.SENT, actor=system.system_id, reason="fetched by recipient"
                )
                msg.delivered_at = msg.updated_at
            where = (msg.payload_sha256, msg.source_sha256, msg.trace_hop)
        return outbound_bytes(self.blobs, *where)

    def fetch_base64(self, system: SystemInfo, doc_id: str) -> str:
        return base64.b64encode(self.fetch(system, doc_id)).decode("ascii")

    def update_status(
        self, system: SystemInfo, doc_id: str, status: str, description: str | None, signature: str
    ) -> None:
        """updateStatus; the same signed request again (the replay cache) has no second effect."""
        status = status.strip().lower()
        if status not in TRANSPORT_STATUSES:
            raise BadRequestError(f"status must be one of {sorted(TRANSPORT_STATUSES)}, not {status!r}")
        with self.ledger.transaction() as s:
            msg = self._own(s, system, doc_id)
            cached = signed_requests.seen(s, system.system_id, signature)
            if cached is not None:
                replayed_elsewhere("updateStatus", (cached.operation, cached.result))
                log.info("updateStatus replayed: no second effect", extra={"document_id": msg.document_id})
                return
            signed_requests.record(s, system.system_id, signature, "updateStatus", doc_id)
            msg.transport_status = status
            if status == "done":
                if msg.state == State.QUEUED.value:
                    self.ledger.transition(
                        s, msg, State.SENT, actor=system.system_id, reason="acknowledged unread"
                    )
                if msg.state == State.SENT.value:
                    self.ledger.transition(
                        s, msg, State.ACKNOWLEDGED, actor=system.system_id, reason="updateStatus done"
                    )
            from gateway.ledger import audit

            audit.record(
                s,
                "inbox.update_status",
                actor=system.system_id,
                message_id=msg.id,
                document_id=msg.document_id,
                status=status,
                description=description,
            )

    def _own(self, s: Any, system: SystemInfo, doc_id: str) -> Message:
        msg = s.execute(
            select(Message).where(Message.doc_id == doc_id).with_for_update()
        ).scalar_one_or_none()
        if msg is None or msg.route != "local" or msg.destination != system.system_id:
            raise NotFoundError(f"no document {doc_id!r} for system {system.system_id!r}")
        return msg  # type: ignore[no-any-return]

    def sent_list(
        self, system: SystemInfo, messagetype: str | None, doc_id: str | None
    ) -> list[dict[str, Any]]:
        """getSentEdocList: one row per recipient organisation (:mod:`gateway.server.sent_list`)."""
        return sent_rows.rows(self.ledger, self.settings, system.system_id, messagetype, doc_id)

    def agencies(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {
                "id": a.id or str(i + 1),
                "pid": a.pid or "",
                "code": a.code,
                "name": a.name,
                "mail": a.mail or "",
                "oldCode": a.old_code or "",
                "code102": a.old_code or a.code,
                "centerCode": self.directory.center_of(a.code) or "",
            }
            for i, a in enumerate(a for a in self.directory if not a.deleted)
        ]
        known = {a["code"] for a in out} | {a["oldCode"] for a in out if a["oldCode"]}
        for system in self.ledger.list_systems():
            if system.kind != "agency":
                continue
            for organ in system.organ_ids:
                if organ not in known and "*" not in organ:
                    known.add(organ)
                    out.append(
                        {
                            "id": len(out) + 1,
                            "pid": "",
                            "code": organ,
                            "name": system.name,
                            "mail": "",
                            "oldCode": "",
                            "code102": organ,
                            "centerCode": self.settings.node_id,
                        }
                    )
        return out


__all__ = ["BadRequestError", "HubService", "OrganNotAllowedError", "PayloadTooLargeError", "vn_now"]
