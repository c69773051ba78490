"""The message ledger: submissions, delivery messages and their state machine, hash-chained audit.

Public surface: :class:`Ledger` (open it with :meth:`Ledger.open`), :class:`State`,
:func:`verify_chain` and the models.
"""

from gateway.ledger.audit import ChainReport, verify_chain
from gateway.ledger.states import State, can_transition, check_transition
from gateway.ledger.store import Ledger, SystemInfo, idempotency_key

__all__ = [
    "ChainReport",
    "Ledger",
    "State",
    "SystemInfo",
    "can_transition",
    "check_transition",
    "idempotency_key",
    "verify_chain",
]
