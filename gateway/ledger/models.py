"""SQLAlchemy models of the ledger: systems, submissions, messages, attempts, status events, audit.

Vocabulary:

* a **submission** is one package as it arrived (through sendEdoc, an adapter or the CLI); its
  idempotency key (type, DocumentId, sender, and for statuses the code and event time) is unique,
  so the same package arriving twice is one submission and a different payload under the same key
  is a conflict;
* a **message** is one delivery duty derived from a submission: to a local system's inbox, to a
  downstream hub, or upstream. It carries the state machine (:mod:`gateway.ledger.states`),
  attempts, next attempt time and the axis docIds;
* the **audit trail** is append-only and hash-chained (:mod:`gateway.ledger.audit`).

All datetimes are naive UTC; package dates/times (Vietnam local) are kept as text where stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class System(Base):
    """A connected system (agency software or another hub) that authenticates with HMAC."""

    __tablename__ = "systems"

    system_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(16), default="agency")  # agency | hub
    organ_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of ids / fnmatch patterns
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Submission(Base):
    """One accepted package, unique by its idempotency key."""

    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_system_received", "system_id", "received_at"),)  # migration 0005

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(36), unique=True)
    idem_key: Mapped[str] = mapped_column(String(64), unique=True)
    message_type: Mapped[str] = mapped_column(String(8))
    document_id: Mapped[str] = mapped_column(String(512), index=True)
    sender: Mapped[str] = mapped_column(String(64), index=True)
    status_code: Mapped[str | None] = mapped_column(String(2))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    payload_size: Mapped[int] = mapped_column(BigInteger)
    system_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime, index=True)


class Message(Base):
    """One delivery duty with its own state machine."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_due", "state", "next_attempt_at"),
        Index("ix_messages_inbox", "route", "destination", "message_type", "transport_status"),
        Index("ix_messages_claim", "route", "state", "next_attempt_at"),  # migration 0006
        # migration 0005 (the console's searches); on PostgreSQL also two trigram indexes where
        # pg_trgm is available, which only the migration knows how to create
        Index("ix_messages_state_id", "state", "id"),
        Index("ix_messages_sender_id", "sender", "id"),
        Index("ix_messages_code", "code", postgresql_ops={"code": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(36), unique=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"), index=True)
    direction: Mapped[str] = mapped_column(String(8))  # in | out
    message_type: Mapped[str] = mapped_column(String(8))  # edoc | status
    document_id: Mapped[str] = mapped_column(String(512), index=True)
    sender: Mapped[str] = mapped_column(String(64))
    recipients: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of OrganIds
    route: Mapped[str] = mapped_column(String(16))  # local | peer | upstream
    destination: Mapped[str] = mapped_column(String(64))  # system id, peer code or "upstream"
    adapter: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(24))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    remote_doc_id: Mapped[str | None] = mapped_column(String(64))
    payload_sha256: Mapped[str] = mapped_column(String(64))  # the bytes to deliver
    payload_size: Mapped[int] = mapped_column(BigInteger, default=0)
    # When set, the bytes to deliver are the blob ``source_sha256`` with the TraceHeader described
    # by ``trace_hop`` (JSON) spliced in, rebuilt on read; else the blob ``payload_sha256`` itself.
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    trace_hop: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(String(255))
    status_code: Mapped[str | None] = mapped_column(String(2))
    transport_status: Mapped[str] = mapped_column(String(16), default="pending")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)


class Attempt(Base):
    """One try to deliver a message, with its outcome: delivered, refused or unknown."""

    __tablename__ = "attempts"
    __table_args__ = (Index("ix_attempts_outcome_reason", "outcome", "reason"),)  # migration 0005

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime] = mapped_column(DateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    remote_doc_id: Mapped[str | None] = mapped_column(String(64))


class StatusEvent(Base):
    """A status package (01-06, 13, 15, 16) reported about a document."""

    __tablename__ = "status_events"
    __table_args__ = (UniqueConstraint("submission_id", name="uq_status_events_submission"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    document_id: Mapped[str] = mapped_column(String(512), index=True)
    from_organ: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[str] = mapped_column(String(2))
    description: Mapped[str | None] = mapped_column(Text)
    event_time: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(DateTime)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))


class OperatorKey(Base):
    """An operator API key (``lienthong operators add``), kept only as its SHA-256."""

    __tablename__ = "operator_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class AuditEntry(Base):
    """One link of the hash chain; ``hash`` covers ``prev_hash`` and every other column."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(48))
    message_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    document_id: Mapped[str | None] = mapped_column(String(512), index=True)
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row that serialises appends (locked FOR UPDATE) and anchors the chain's tail."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class SignedRequest(Base):
    """Replay cache: every state-changing signed request seen, by its HMAC (never expires).

    A long-lived SDK instance resends one timestamp for hours, so the clock cannot tell a replay
    from a new call; the signature can: the same signature on a state-changing operation never
    has a second effect, and a signature first seen on one operation is refused on another.
    """

    __tablename__ = "signed_requests"

    system_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    operation: Mapped[str] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(String(64))  # DocId for sendEdoc
    seen_at: Mapped[datetime] = mapped_column(DateTime)


class SystemClock(Base):
    """Per-system reading of the SDK ``timestamp`` (JVM zone, how long one instance lives)."""

    __tablename__ = "system_clocks"

    system_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    utc_offset_minutes: Mapped[int | None] = mapped_column(Integer)
    max_age_seconds: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class BusinessOperation(Base):
    """One revocation / update / replacement (Bussiness types 1-3) of a document, in arrival order."""

    __tablename__ = "business_operations"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), unique=True)
    document_id: Mapped[str] = mapped_column(String(512), index=True)
    sender: Mapped[str] = mapped_column(String(64))
    business_type: Mapped[int] = mapped_column(Integer)
    target_document_id: Mapped[str | None] = mapped_column(String(512))
    reason: Mapped[str | None] = mapped_column(Text)
    recipients: Mapped[str] = mapped_column(Text, default="[]")
    recorded_at: Mapped[datetime] = mapped_column(DateTime)


class RefusalCount(Base):
    """Refused axis requests per system and reason (``lienthong_refusals_total`` in /metrics)."""

    __tablename__ = "refusal_counts"

    system_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(48), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_at: Mapped[datetime] = mapped_column(DateTime)
class ExchangeLease(Base):
    """A document taken from a legacy queue (or a hub inbox) by one exchange run, until ``expires_at``.

    ``source`` names the queue (adapter and endpoint), ``item`` the document in it, ``holder`` the
    run (DAG id + run id, or the CLI call) that works on it. A lease that outlives a crashed run
    is taken over once it expired (:mod:`gateway.exchange.leases`).
    """

    __tablename__ = "exchange_leases"

    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    item: Mapped[str] = mapped_column(String(512), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)


__all__ = [
    "Attempt",
    "AuditEntry",
    "AuditHead",
    "Base",
    "BusinessOperation",
    "ExchangeLease",
    "Message",
    "OperatorKey",
    "RefusalCount",
    "SignedRequest",
    "StatusEvent",
    "Submission",
    "System",
    "SystemClock",
]
