"""The ledger service: the one place that reads and writes submissions, messages and their history.

Every write goes through :meth:`Ledger.transaction`, which chains the audit entries queued during
the transaction and commits them atomically with the change they describe. SQLAlchemy errors are
translated into :class:`LedgerError` here and nowhere else.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from gateway.config import HubSettings
from gateway.errors import ConflictError, LedgerError, NotFoundError
from gateway.ledger import audit
from gateway.ledger.audit import utcnow
from gateway.ledger.db import is_sqlite, make_engine, upgrade
from gateway.ledger.models import Attempt, Message, StatusEvent, Submission, System
from gateway.ledger.secrets import SecretBox
from gateway.ledger.states import BUSINESS_BY_CODE, State, can_transition, check_transition


@dataclass(frozen=True, slots=True)
class SystemInfo:
    """A connected system without its secret."""

    system_id: str
    name: str
    kind: str
    organ_ids: tuple[str, ...]
    active: bool

    def may_send_as(self, organ_id: str) -> bool:
        """True if this system is registered for ``organ_id`` (patterns like ``*.H41`` allowed)."""
        return any(fnmatch.fnmatchcase(organ_id, pattern) for pattern in self.organ_ids)

    def serves_directly(self, organ_id: str) -> bool:
        """Agency systems serve the exact ids they list (patterns only authorise senders)."""
        return self.kind == "agency" and organ_id in self.organ_ids


def idempotency_key(message_type: str, document_id: str, sender: str, extra: str = "") -> str:
    """Same package = same type, DocumentId and sender (status: also the code and event time)."""
    return hashlib.sha256("\x1f".join((message_type, document_id, sender, extra)).encode("utf-8")).hexdigest()


def new_doc_id() -> str:
    return str(uuid.uuid4())


class Ledger:
    """Submissions, delivery messages, attempts, status events, systems and the audit chain."""

    def __init__(
        self, engine: Engine, *, read_engine: Engine | None = None, secret_box: SecretBox | None = None
    ):
        self.engine = engine
        self.read_engine = read_engine or engine
        self._write = sessionmaker(engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)
        self.secret_box = secret_box
        self._secret_cache: dict[str, tuple[float, str | None, SystemInfo | None]] = {}
        self._agencies_cache: tuple[float, list[SystemInfo]] | None = None
        self._cache_lock = threading.Lock()

    @classmethod
    def open(cls, settings: HubSettings, *, migrate: bool = True, pool_size: int = 5) -> Ledger:
        """Open the ledger of ``settings`` (migrating the schema first unless ``migrate`` is false)."""
        url = settings.database_url
        limit = settings.sqlite_heap_limit_bytes
        engine = make_engine(
            url, synchronous=settings.sqlite_synchronous, immediate=True, pool_size=pool_size, sqlite_heap_limit=limit
        )
        read_engine = (
            make_engine(url, synchronous=settings.sqlite_synchronous, immediate=False, sqlite_heap_limit=limit)
            if is_sqlite(url)
            else engine
        )
        if migrate:
            upgrade(engine)
        return cls(engine, read_engine=read_engine, secret_box=SecretBox.from_key_file(settings.key_file))

    def close(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()

    # -- sessions ---------------------------------------------------------------------------------

    @contextmanager
    def transaction(self, *, retries: int = 5) -> Iterator[Session]:
        """A write transaction; audit entries recorded on it are chained and committed with it."""
        session = self._write()
        try:
            yield session
            audit.flush_pending(session)
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise LedgerError(f"ledger constraint violated: {_short(exc)}") from exc
        except OperationalError as exc:
            session.rollback()
            raise LedgerError(f"ledger database unavailable: {_short(exc)}", retryable=True) from exc
        except SQLAlchemyError as exc:
            session.rollback()
            raise LedgerError(f"ledger error: {_short(exc)}") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            audit.discard_pending(session)
            session.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core write transaction (bulk paths such as :mod:`gateway.ledger.intake`); errors translated."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise LedgerError(f"ledger constraint violated: {_short(exc)}") from exc
        except OperationalError as exc:
            raise LedgerError(f"ledger database unavailable: {_short(exc)}", retryable=True) from exc
        except SQLAlchemyError as exc:
            raise LedgerError(f"ledger error: {_short(exc)}") from exc

    @contextmanager
    def reader(self) -> Iterator[Session]:
        session = self._read()
        try:
            yield session
        except SQLAlchemyError as exc:
            raise LedgerError(f"ledger read failed: {_short(exc)}", retryable=True) from exc
        finally:
            session.close()  # rolls back without expiring what was read

    def ping(self) -> None:
        with self.reader() as s:
            s.execute(select(1))

    # -- systems ----------------------------------------------------------------------------------

    def _box(self) -> SecretBox:
        if self.secret_box is None:
            raise LedgerError("this ledger was opened without a secret key; system secrets are unavailable")
        return self.secret_box

    def add_system(
        self, system_id: str, secret: str, organ_ids: Sequence[str], *, name: str = "", kind: str = "agency"
    ) -> None:
        if kind not in {"agency", "hub"}:
            raise LedgerError(f"system kind must be 'agency' or 'hub', not {kind!r}")
        now = utcnow()
        with self.transaction() as s:
            if s.get(System, system_id) is not None:
                raise ConflictError(
                    f"system {system_id!r} already exists (use rotate-secret to change its secret)"
                )
            s.add(
                System(
                    system_id=system_id,
                    name=name,
                    kind=kind,
                    organ_ids=json.dumps(list(organ_ids)),
                    secret_ciphertext=self._box().encrypt(secret),
                    active=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            audit.record(
                s, "system.added", actor="operator", system_id=system_id, kind=kind, organ_ids=list(organ_ids)
            )
        self._forget(system_id)

    def rotate_secret(self, system_id: str, secret: str) -> None:
        with self.transaction() as s:
            row = s.get(System, system_id)
            if row is None:
                raise NotFoundError(f"no system {system_id!r}")
            row.secret_ciphertext = self._box().encrypt(secret)
            row.updated_at = utcnow()
            audit.record(s, "system.secret_rotated", actor="operator", system_id=system_id)
        self._forget(system_id)

    def list_systems(self) -> list[SystemInfo]:
        with self.reader() as s:
            return [_info(r) for r in s.execute(select(System).order_by(System.system_id)).scalars()]

    def system_credentials(self, system_id: str, *, ttl: float = 5.0) -> tuple[str | None, SystemInfo | None]:
        """The decrypted secret and info of an active system (cached briefly), or ``(None, None)``."""
        with self._cache_lock:
            hit = self._secret_cache.get(system_id)
        if hit and hit[0] > time.monotonic():
            return hit[1], hit[2]
        with self.reader() as s:
            row = s.get(System, system_id)
            secret = self._box().decrypt(row.secret_ciphertext) if row is not None and row.active else None
            info = _info(row) if row is not None and row.active else None
        with self._cache_lock:
            self._secret_cache[system_id] = (time.monotonic() + ttl, secret, info)
        return secret, info

    def cached_credentials(self, system_id: str) -> tuple[str | None, SystemInfo | None] | None:
        """What :meth:`system_credentials` would return, if it is cached and fresh; never touches the DB.

        Lets the server check a signature on its event loop without a thread hop in the common case.
        """
        with self._cache_lock:
            hit = self._secret_cache.get(system_id)
        if hit and hit[0] > time.monotonic():
            return hit[1], hit[2]
        return None

    def _forget(self, system_id: str) -> None:
        with self._cache_lock:
            self._secret_cache.pop(system_id, None)
            self._agencies_cache = None

    def local_system_for(self, organ_id: str) -> SystemInfo | None:
        """The agency system that serves ``organ_id`` directly, if any."""
        for info in self._agency_systems():
            if info.serves_directly(organ_id):
                return info
        return None

    def _agency_systems(self, *, ttl: float = 5.0) -> list[SystemInfo]:
        with self._cache_lock:
            cached = self._agencies_cache
        if cached and cached[0] > time.monotonic():
            return cached[1]
        systems = [i for i in self.list_systems() if i.active and i.kind == "agency"]
        with self._cache_lock:
            self._agencies_cache = (time.monotonic() + ttl, systems)
        return systems

    # -- submissions and messages -----------------------------------------------------------------

    def find_or_create_submission(
        self,
        s: Session,
        *,
        message_type: str,
        document_id: str,
        sender: str,
        payload_sha256: str,
        payload_size: int,
        system_id: str,
        status_code: str | None = None,
        idem_extra: str = "",
    ) -> tuple[Submission, bool]:
        """Return ``(submission, created)``; same key and payload → the existing one, else conflict."""
        key = idempotency_key(message_type, document_id, sender, idem_extra)
        existing = s.execute(select(Submission).where(Submission.idem_key == key)).scalar_one_or_none()
        if existing is None:
            sub = Submission(
                doc_id=new_doc_id(),
                idem_key=key,
                message_type=message_type,
                document_id=document_id,
                sender=sender,
                status_code=status_code,
                payload_sha256=payload_sha256,
                payload_size=payload_size,
                system_id=system_id,
                received_at=utcnow(),
            )
            try:
                with s.begin_nested():
                    s.add(sub)
                    s.flush()
                return sub, True
            except IntegrityError:
                existing = s.execute(select(Submission).where(Submission.idem_key == key)).scalar_one()
        if existing.payload_sha256 != payload_sha256:
            raise ConflictError(
                f"{message_type} {document_id!r} from {sender} was already received with different content "
                f"(DocId {existing.doc_id}); send a new DocumentId or an update (Bussiness type 2)"
            )
        return existing, False

    def add_message(
        self,
        s: Session,
        *,
        direction: str,
        message_type: str,
        document_id: str,
        sender: str,
        recipients: Sequence[str],
        route: str,
        destination: str,
        payload_sha256: str,
        payload_size: int,
        state: State = State.RECEIVED,
        submission: Submission | None = None,
        subject: str | None = None,
        code: str | None = None,
        status_code: str | None = None,
        adapter: str | None = None,
        actor: str = "hub",
        source_sha256: str | None = None,
        trace_hop: str | None = None,
    ) -> Message:
        """Add one delivery message (and its audit entry) to the transaction ``s``.

        With ``trace_hop`` the payload is the blob ``source_sha256`` plus that TraceHeader, rebuilt
        on read and checked against ``payload_sha256`` (one blob per package instead of two).
        """
        now = utcnow()
        msg = Message(
            doc_id=new_doc_id(),
            submission_id=submission.id if submission else None,
            direction=direction,
            message_type=message_type,
            document_id=document_id,
            sender=sender,
            recipients=json.dumps(list(recipients)),
            route=route,
            destination=destination,
            adapter=adapter,
            state=state.value,
            attempts=0,
            next_attempt_at=now if state == State.QUEUED else None,
            payload_sha256=payload_sha256,
            payload_size=payload_size,
            source_sha256=source_sha256 if trace_hop else None,
            trace_hop=trace_hop,
            subject=subject,
            code=code,
            status_code=status_code,
            transport_status="pending",
            created_at=now,
            updated_at=now,
        )
        s.add(msg)
        s.flush()
        audit.record(
            s,
            "message.created",
            actor=actor,
            message_id=msg.id,
            document_id=document_id,
            doc_id=msg.doc_id,
            state=state.value,
            route=route,
            destination=destination,
            recipients=list(recipients),
            payload_sha256=payload_sha256,
        )
        return msg

    def transition(
        self, s: Session, msg: Message, new: State, *, actor: str = "hub", reason: str = "", **detail: Any
    ) -> None:
        """Move ``msg`` to ``new`` if the state machine allows it (raises otherwise) and audit it."""
        old = msg.state
        check_transition(old, new, what=f"message {msg.doc_id}")
        msg.state = new.value
        msg.updated_at = utcnow()
        audit.record(
            s,
            "message.state",
            actor=actor,
            message_id=msg.id,
            document_id=msg.document_id,
            doc_id=msg.doc_id,
            **{"from": old, "to": new.value},
            reason=reason,
            **detail,
        )

    def get_message(self, s: Session, doc_id: str, *, for_update: bool = False) -> Message:
        q = select(Message).where(Message.doc_id == doc_id)
        if for_update:
            q = q.with_for_update()
        msg = s.execute(q).scalar_one_or_none()
        if msg is None:
            raise NotFoundError(f"no message with docId {doc_id!r}")
        return msg

    # -- status packages --------------------------------------------------------------------------

    def apply_status(
        self,
        s: Session,
        *,
        submission: Submission,
        document_id: str,
        from_organ: str,
        status_code: str,
        description: str | None,
        event_time: str,
        actor: str,
    ) -> list[str]:
        """Record a status event and move the matching delivery messages' business state.

        A status that the state machine does not allow (an old code arriving late) is still recorded
        as an event, with a note in the audit trail; returns the docIds whose state changed.
        """
        s.add(
            StatusEvent(
                document_id=document_id,
                from_organ=from_organ,
                status_code=status_code,
                description=description,
                event_time=event_time,
                received_at=utcnow(),
                submission_id=submission.id,
            )
        )
        audit.record(
            s,
            "status.received",
            actor=actor,
            document_id=document_id,
            from_organ=from_organ,
            status_code=status_code,
            event_time=event_time,
        )
        target = BUSINESS_BY_CODE.get(status_code)
        changed: list[str] = []
        if target is None:
            return changed
        rows = s.execute(
            select(Message)
            .where(Message.document_id == document_id, Message.message_type == "edoc")
            .with_for_update()
        ).scalars()
        for msg in rows:
            if status_code != "13" and from_organ not in json.loads(msg.recipients):
                continue
            if can_transition(msg.state, target):
                self.transition(s, msg, target, actor=actor, reason=f"status {status_code} from {from_organ}")
                msg.status_code = status_code
                changed.append(msg.doc_id)
            else:
                audit.record(
                    s,
                    "status.not_applied",
                    actor=actor,
                    message_id=msg.id,
                    document_id=document_id,
                    state=msg.state,
                    status_code=status_code,
                )
        return changed

    # -- delivery ---------------------------------------------------------------------------------

    def claim_due(
        self, *, routes: Sequence[str] = ("peer", "upstream"), limit: int = 20, lease_seconds: float = 120.0
    ) -> list[int]:
        """Lease up to ``limit`` due messages so that exactly one worker process delivers each."""
        now = utcnow()
        due = select(Message.id).where(
            Message.route.in_(routes),  # ix_messages_claim (route, state, next_attempt_at), migration 0006
            Message.state.in_((State.QUEUED.value, State.FAILED.value)),
            Message.next_attempt_at <= now,
            or_(Message.lease_until.is_(None), Message.lease_until < now),
        )
        with self.reader() as r:  # nothing due (the usual poll): do not take the writer lock at all
            if r.execute(due.limit(1)).first() is None:
                return []
        with self.transaction() as s:
            ids = s.execute(due.order_by(Message.next_attempt_at).limit(limit)).scalars().all()
            claimed: list[int] = []
            for mid in ids:
                res = s.execute(
                    update(Message)
                    .where(Message.id == mid, or_(Message.lease_until.is_(None), Message.lease_until < now))
                    .values(lease_until=now + timedelta(seconds=lease_seconds))
                )
                if res.rowcount:  # type: ignore[attr-defined]
                    claimed.append(mid)
            return claimed

    def record_attempt(
        self,
        message_id: int,
        *,
        outcome: str,
        started_at: datetime,
        reason: str | None,
        error: str | None,
        remote_doc_id: str | None,
        next_attempt_at: datetime | None,
        dead: bool = False,
    ) -> Message:
        """Store one attempt's outcome and move the message: SENT, FAILED (retry later) or DEAD."""
        with self.transaction() as s:
            msg = s.execute(select(Message).where(Message.id == message_id).with_for_update()).scalar_one()
            msg.attempts += 1
            s.add(
                Attempt(
                    message_id=msg.id,
                    number=msg.attempts,
                    started_at=started_at,
                    finished_at=utcnow(),
                    outcome=outcome,
                    reason=reason,
                    error=error,
                    remote_doc_id=remote_doc_id,
                )
            )
            audit.record(
                s,
                "delivery.attempt",
                actor="delivery",
                message_id=msg.id,
                document_id=msg.document_id,
                number=msg.attempts,
                outcome=outcome,
                reason=reason,
                remote_doc_id=remote_doc_id,
            )
            msg.lease_until = None
            msg.last_error = error
            if outcome == "delivered":
                if msg.state == State.FAILED.value:
                    self.transition(s, msg, State.QUEUED, actor="delivery", reason="retry succeeded")
                self.transition(s, msg, State.SENT, actor="delivery", reason="accepted by the next hop")
                msg.remote_doc_id = remote_doc_id
                msg.delivered_at = utcnow()
                msg.next_attempt_at = None
            elif dead or outcome == "refused":
                self.transition(s, msg, State.DEAD, actor="delivery", reason=reason or outcome)
                msg.next_attempt_at = None
            else:
                if msg.state != State.FAILED.value:
                    self.transition(s, msg, State.FAILED, actor="delivery", reason=reason or outcome)
                msg.next_attempt_at = next_attempt_at
            return msg

    def requeue(self, doc_id: str, *, reason: str, actor: str) -> Message:
        """Operator retry of a FAILED or DEAD message; the reason goes into the audit trail."""
        if not reason.strip():
            raise LedgerError("a reason is required to retry or re-queue a message")
        with self.transaction() as s:
            msg = self.get_message(s, doc_id, for_update=True)
            self.transition(s, msg, State.QUEUED, actor=actor, reason=reason, operator_action="requeue")
            msg.next_attempt_at = utcnow()
            msg.lease_until = None
            return msg

    def queue_depth(self) -> int:
        with self.reader() as s:
            return int(
                s.execute(
                    select(func.count())
                    .select_from(Message)
                    .where(
                        Message.state.in_((State.QUEUED.value, State.FAILED.value)), Message.route != "local"
                    )
                ).scalar_one()
            )


def _info(row: System) -> SystemInfo:
    return SystemInfo(row.system_id, row.name, row.kind, tuple(json.loads(row.organ_ids)), bool(row.active))


def _short(exc: SQLAlchemyError) -> str:
    """The driver's first line, without SQL text or parameters (which may hold payload data)."""
    orig = getattr(exc, "orig", None)
    text = str(orig) if orig is not None else type(exc).__name__
    return text.splitlines()[0][:200] if text else type(exc).__name__


__all__ = ["Ledger", "SystemInfo", "idempotency_key", "new_doc_id"]
