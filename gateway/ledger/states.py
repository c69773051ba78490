"""The message state machine: which state may follow which, and nothing else.

Transport states track a delivery duty::

    RECEIVED → TRANSLATED → SIGNED → QUEUED → SENT → ACKNOWLEDGED
        (any of the first four) → FAILED → QUEUED (retry) ... → DEAD → QUEUED (operator re-queue)

Business states come from status packages sent back by the recipient (QCVN 102 codes)::

    S01 received → S02 rejected | S03 accepted → S04 assigned → S05 processing → S06 finished
    any business state → S13 withdrawal requested → S15 change accepted | S16 change refused

A business state may follow SENT or ACKNOWLEDGED (a forwarded delivery is never acknowledged by
the remote reader, only accepted by the next hop). Codes may skip steps (03 → 06 is allowed), but
never go back. :func:`check_transition` raises :class:`IllegalTransitionError` for anything else.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.errors import IllegalTransitionError


class State(StrEnum):
    RECEIVED = "RECEIVED"
    TRANSLATED = "TRANSLATED"
    SIGNED = "SIGNED"
    QUEUED = "QUEUED"
    SENT = "SENT"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    FAILED = "FAILED"
    DEAD = "DEAD"
    S01_RECEIVED = "S01_RECEIVED"
    S02_REJECTED = "S02_REJECTED"
    S03_ACCEPTED = "S03_ACCEPTED"
    S04_ASSIGNED = "S04_ASSIGNED"
    S05_PROCESSING = "S05_PROCESSING"
    S06_FINISHED = "S06_FINISHED"
    S13_WITHDRAWAL_REQUESTED = "S13_WITHDRAWAL_REQUESTED"
    S15_CHANGE_ACCEPTED = "S15_CHANGE_ACCEPTED"
    S16_CHANGE_REJECTED = "S16_CHANGE_REJECTED"

    @property
    def is_business(self) -> bool:
        return self.value.startswith("S") and self.value[1:3].isdigit()


BUSINESS_BY_CODE: dict[str, State] = {s.value[1:3]: s for s in State if s.is_business}
"""Status-package code ("01") → business state."""

_BUSINESS_ORDER = ["01", "03", "04", "05", "06"]


def _business_next(code: str) -> set[State]:
    nxt: set[State] = {State.S13_WITHDRAWAL_REQUESTED}
    if code == "01":
        nxt.add(State.S02_REJECTED)
    if code in _BUSINESS_ORDER:
        later = _BUSINESS_ORDER[_BUSINESS_ORDER.index(code) + 1 :]
        nxt.update(BUSINESS_BY_CODE[c] for c in later)
    if code == "13":
        nxt = {State.S15_CHANGE_ACCEPTED, State.S16_CHANGE_REJECTED}
    if code in {"15", "16"}:
        nxt = set()
    if code == "02":
        nxt = {State.S13_WITHDRAWAL_REQUESTED}
    return nxt


_ALL_BUSINESS = set(BUSINESS_BY_CODE.values())

TRANSITIONS: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset({State.TRANSLATED, State.SIGNED, State.QUEUED, State.FAILED, State.DEAD}),
    State.TRANSLATED: frozenset({State.SIGNED, State.QUEUED, State.FAILED, State.DEAD}),
    State.SIGNED: frozenset({State.QUEUED, State.FAILED, State.DEAD}),
    State.QUEUED: frozenset({State.SENT, State.FAILED, State.DEAD}),
    State.FAILED: frozenset({State.QUEUED, State.DEAD}),
    State.DEAD: frozenset({State.QUEUED}),
    State.SENT: frozenset({State.ACKNOWLEDGED, State.FAILED, *_ALL_BUSINESS}),
    State.ACKNOWLEDGED: frozenset(_ALL_BUSINESS),
    **{s: frozenset(_business_next(s.value[1:3])) for s in _ALL_BUSINESS},
}


def can_transition(current: State | str, new: State | str) -> bool:
    return State(new) in TRANSITIONS[State(current)]


def check_transition(current: State | str, new: State | str, *, what: str = "message") -> State:
    """Return ``State(new)`` if the machine allows ``current → new``; raise otherwise."""
    try:
        cur, nxt = State(current), State(new)
    except ValueError as exc:
        raise IllegalTransitionError(f"{what}: unknown state in {current!r} → {new!r}") from exc
    if nxt not in TRANSITIONS[cur]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[cur])) or "none (final)"
        raise IllegalTransitionError(f"{what}: {cur.value} → {nxt.value} is not allowed (allowed: {allowed})")
    return nxt


def retryable_states() -> tuple[State, ...]:
    """States an operator may retry or re-queue from."""
    return (State.FAILED, State.DEAD)


__all__ = ["BUSINESS_BY_CODE", "TRANSITIONS", "State", "can_transition", "check_transition"]
