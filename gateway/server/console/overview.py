"""The overview page's figures, read from the ledger (so every worker process shows the same).

Documents today (since midnight, Vietnam time) by state and by sending agency; delivery latency
(acceptance to delivery) over the most recent deliveries; failed attempts by reason; dead
letters; refused deliveries by destination and reason; connected systems' last activity.
Requests the hub itself refused (bad signature, stale timestamp, unknown recipient, …) come from
the per-system refusal counters the axis API keeps in the ledger (``refusal_counts``, the same
numbers as ``lienthong_refusals_total`` in ``/metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from gateway.ledger.models import Attempt, Message, RefusalCount, Submission
from gateway.ledger.states import State
from gateway.ledger.store import Ledger
from gateway.server.console.i18n import vn_day_start_utc, vn_today

LATENCY_WINDOW = 1000
TOP = 20


@dataclass(frozen=True, slots=True)
class Latency:
    count: int
    p50: float | None
    p95: float | None
    max: float | None


@dataclass
class Overview:
    today_by_state: list[tuple[str, int]]
    today_by_agency: list[tuple[str, int]]
    latency: Latency
    failures_by_reason: list[tuple[str, int]]
    dead_letters: int
    failed: int
    refused: list[tuple[str, str, int]]
    hub_refused: list[tuple[str, str, int, datetime]]


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def load_overview(ledger: Ledger) -> Overview:
    since = vn_day_start_utc(vn_today())
    with ledger.reader() as s:
        today = (Message.created_at >= since, Message.message_type == "edoc")
        by_state = s.execute(select(Message.state, func.count()).where(*today).group_by(Message.state)).all()
        by_agency = s.execute(
            select(Message.sender, func.count())
            .where(*today)
            .group_by(Message.sender)
            .order_by(func.count().desc())
            .limit(TOP)
        ).all()
        recent = s.execute(
            select(Message.created_at, Message.delivered_at)
            .where(Message.delivered_at.is_not(None))
            .order_by(Message.id.desc())
            .limit(LATENCY_WINDOW)
        ).all()
        failures = s.execute(
            select(Attempt.reason, func.count())
            .where(Attempt.outcome != "delivered")
            .group_by(Attempt.reason)
            .order_by(func.count().desc())
            .limit(TOP)
        ).all()
        counts = dict(
            s.execute(
                select(Message.state, func.count())
                .where(Message.state.in_((State.DEAD.value, State.FAILED.value)))
                .group_by(Message.state)
            ).all()
        )
        refused = s.execute(
            select(Message.destination, Attempt.reason, func.count())
            .join(Message, Message.id == Attempt.message_id)
            .where(Attempt.outcome == "refused")
            .group_by(Message.destination, Attempt.reason)
            .order_by(func.count().desc())
            .limit(TOP)
        ).all()
        hub_refused = s.execute(
            select(RefusalCount.system_id, RefusalCount.reason, RefusalCount.count, RefusalCount.last_at)
            .order_by(RefusalCount.count.desc())
            .limit(TOP)
        ).all()
    seconds = [max(0.0, (d - c).total_seconds()) for c, d in recent if d is not None and c is not None]
    return Overview(
        today_by_state=sorted(((str(a), int(b)) for a, b in by_state), key=lambda r: -r[1]),
        today_by_agency=[(str(a), int(b)) for a, b in by_agency],
        latency=Latency(
            len(seconds), _percentile(seconds, 0.5), _percentile(seconds, 0.95), max(seconds, default=None)
        ),
        failures_by_reason=[(str(r or "unknown"), int(c)) for r, c in failures],
        dead_letters=int(counts.get(State.DEAD.value, 0)),
        failed=int(counts.get(State.FAILED.value, 0)),
        refused=[(str(d), str(r or "refused"), int(c)) for d, r, c in refused],
        hub_refused=[(str(sy), str(r), int(c), at) for sy, r, c, at in hub_refused],
    )


@dataclass(frozen=True, slots=True)
class SystemRow:
    system_id: str
    name: str
    kind: str
    organ_ids: tuple[str, ...]
    active: bool
    last_seen: datetime | None
    submissions: int
    inbox: int
    refused: int


def load_systems(ledger: Ledger) -> list[SystemRow]:
    """Connected systems with their last submission, pending inbox and refused deliveries to them."""
    systems = ledger.list_systems()
    with ledger.reader() as s:
        seen: dict[str, Any] = {
            str(sid): (last, int(n))
            for sid, last, n in s.execute(
                select(Submission.system_id, func.max(Submission.received_at), func.count()).group_by(
                    Submission.system_id
                )
            ).all()
        }
        fetched = dict(
            s.execute(
                select(Message.destination, func.max(Message.delivered_at))
                .where(Message.route == "local", Message.delivered_at.is_not(None))
                .group_by(Message.destination)
            ).all()
        )
        inbox = dict(
            s.execute(
                select(Message.destination, func.count())
                .where(Message.route == "local", Message.transport_status != "done")
                .group_by(Message.destination)
            ).all()
        )
        refused = dict(
            s.execute(
                select(Message.destination, func.count())
                .select_from(Attempt)
                .join(Message, Message.id == Attempt.message_id)
                .where(Attempt.outcome == "refused")
                .group_by(Message.destination)
            ).all()
        )
    out: list[SystemRow] = []
    for info in systems:
        last, n = seen.get(info.system_id, (None, 0))
        pulled = fetched.get(info.system_id)
        last_seen = max((t for t in (last, pulled) if t is not None), default=None)
        out.append(
            SystemRow(
                info.system_id,
                info.name,
                info.kind,
                info.organ_ids,
                info.active,
                last_seen,
                n,
                int(inbox.get(info.system_id, 0)),
                int(refused.get(info.system_id, 0)),
            )
        )
    return out


__all__ = ["Latency", "Overview", "SystemRow", "load_overview", "load_systems"]
