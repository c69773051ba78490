"""The documents page's search over the ledger's messages, newest first, keyset-paginated.

One row per delivery message (a document sent to three routes is three rows, each with its own
state). Filters combine with AND: number/notation (exact, or every notation of that number when
no ``/`` is given), DocumentId (exact), subject text (case-insensitive substring), sender
(exact OrganId), recipient (an OrganId of the recipient list), state, message type and a date
range in Vietnam days. Pages are keyset (``id < before``) so page 1000 costs what page 1 does;
with a date range the order is ``(created_at, id)`` descending and the keyset follows it, so the
created_at index bounds the scan (ordered by id alone, PostgreSQL would walk the primary key from
the newest row back to the range, half a million rows for a week in the middle of the year);
``limit + 1`` rows are read to know whether a next page exists, no total is counted.

Indexes (migration 0005): ``messages.code`` for the number, trigram GIN indexes on subject and
recipients on PostgreSQL; see the migration for the SQLite fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Engine, Select, event, func, literal, or_, select, tuple_

from gateway.ledger.models import Message
from gateway.ledger.states import State
from gateway.ledger.store import Ledger
from gateway.server.console.i18n import vn_day_start_utc

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
STATES = tuple(s.value for s in State)


SQLITE_CASEFOLD = "lt_casefold"


def install_sqlite_casefold(engine: Engine) -> None:
    """SQLite's ``lower()`` folds ASCII only; register a Unicode casefold for subject searches
    ("LIÊN THÔNG" finds "liên thông"). Pooled connections are dropped so every one has it."""
    if engine.dialect.name != "sqlite":
        return

    def on_connect(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.create_function(
            SQLITE_CASEFOLD, 1, lambda v: v.casefold() if isinstance(v, str) else v, deterministic=True
        )

    event.listen(engine, "connect", on_connect)
    engine.dispose()


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text.strip() else None
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class DocumentQuery:
    number: str = ""
    document_id: str = ""
    subject: str = ""
    sender: str = ""
    recipient: str = ""
    state: str = ""
    type: str = "edoc"
    since: str = ""  # yyyy-mm-dd, a Vietnam day (the browser's date input)
    until: str = ""
    before: int | None = None
    limit: int = PAGE_SIZE

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> DocumentQuery:
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = params.get(f.name)
            if raw is None:
                continue
            raw = raw.strip()[:512]
            if f.name in {"before", "limit"}:
                try:
                    values[f.name] = int(raw) if raw else None
                except ValueError:
                    continue
            else:
                values[f.name] = raw
        if values.get("limit") is None:
            values.pop("limit", None)
        q = cls(**values)
        limit = max(1, min(q.limit, MAX_PAGE_SIZE))
        state = q.state.upper() if q.state.upper() in STATES else ""
        kind = q.type if q.type in {"edoc", "status", ""} else "edoc"  # "" = any type (kept in links)
        return replace(q, limit=limit, state=state, type=kind)

    @property
    def by_time(self) -> bool:
        return bool(_day(self.since) or _day(self.until))

    def statement(self, dialect: str = "postgresql", before_at: datetime | None = None) -> Select[Any]:
        """The SELECT of this search; ``before_at`` is the created_at of row ``before`` (time order)."""
        q = select(Message)
        if self.number:
            if "/" in self.number:
                q = q.where(Message.code == self.number)
            else:
                q = q.where(
                    or_(Message.code == self.number, Message.code.like(_like_escape(self.number) + "/%", escape="\\"))
                )
        if self.document_id:
            q = q.where(Message.document_id == self.document_id)
        if self.subject:
            pattern = "%" + _like_escape(self.subject) + "%"
            if dialect == "sqlite":
                q = q.where(getattr(func, SQLITE_CASEFOLD)(Message.subject).like(pattern.casefold(), escape="\\"))
            else:
                q = q.where(Message.subject.ilike(pattern, escape="\\"))
        if self.sender:
            q = q.where(Message.sender == self.sender)
        if self.recipient:
            q = q.where(Message.recipients.like('%"' + _like_escape(self.recipient) + '"%', escape="\\"))
        if self.state:
            q = q.where(Message.state == self.state)
        if self.type:
            q = q.where(Message.message_type == self.type)
        since, until = _day(self.since), _day(self.until)
        if since:
            q = q.where(Message.created_at >= vn_day_start_utc(since))
        if until:
            q = q.where(Message.created_at < vn_day_start_utc(until + timedelta(days=1)))
        if self.by_time:
            if self.before is not None and before_at is not None:
                q = q.where(
                    Message.created_at <= before_at,
                    tuple_(Message.created_at, Message.id)
                    < tuple_(literal(before_at, Message.created_at.type), literal(self.before, Message.id.type)),
                )
            return q.order_by(Message.created_at.desc(), Message.id.desc()).limit(self.limit + 1)
        if self.before is not None:
            q = q.where(Message.id < self.before)
        return q.order_by(Message.id.desc()).limit(self.limit + 1)

    def params(self, **changes: Any) -> str:
        """The query string of this search (with ``changes``), for the next-page link."""
        q = replace(self, **changes)
        out = {f.name: getattr(q, f.name) for f in fields(q)}
        return urlencode(
            {
                k: v
                for k, v in out.items()
                if (v not in (None, "") or k == "type") and not (k == "limit" and v == PAGE_SIZE)
            }
        )


@dataclass(frozen=True, slots=True)
class DocumentRow:
    id: int
    doc_id: str
    message_type: str
    code: str
    subject: str
    document_id: str
    sender: str
    recipients: str
    route: str
    destination: str
    state: str
    status_code: str
    created_at: datetime


def search_documents(ledger: Ledger, query: DocumentQuery) -> tuple[list[DocumentRow], int | None]:
    """The page of rows and the ``before`` of the next page (``None`` on the last page)."""
    with ledger.reader() as s:
        before_at = None
        if query.by_time and query.before is not None:
            before_at = s.execute(select(Message.created_at).where(Message.id == query.before)).scalar_one_or_none()
        rows = s.execute(query.statement(ledger.read_engine.dialect.name, before_at)).scalars().all()
        out = [
            DocumentRow(
                m.id,
                m.doc_id,
                m.message_type,
                m.code or "",
                m.subject or "",
                m.document_id,
                m.sender,
                ", ".join(_recipients(m.recipients)),
                m.route,
                m.destination,
                m.state,
                m.status_code or "",
                m.created_at,
            )
            for m in rows
        ]
    more = len(out) > query.limit
    out = out[: query.limit]
    return out, (out[-1].id if more and out else None)


def _recipients(raw: str) -> list[str]:
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


__all__ = ["PAGE_SIZE", "STATES", "DocumentQuery", "DocumentRow", "install_sqlite_casefold", "search_documents"]
