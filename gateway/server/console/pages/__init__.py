"""One module per console page; each exposes ``router(console) -> APIRouter``."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

from gateway.ledger import audit
from gateway.server.console.web import Console


def record(console: Console, event: str, actor: str, **detail: Any) -> None:
    """One audit entry for an operator's console action (hash-chained with everything else)."""
    with console.hub.ledger.transaction() as s:
        audit.record(s, event, actor=actor, **detail)


async def record_async(console: Console, event: str, actor: str, **detail: Any) -> None:
    await run_in_threadpool(record, console, event, actor, **detail)


__all__ = ["record", "record_async"]
