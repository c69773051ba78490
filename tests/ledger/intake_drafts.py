"""The submission draft the intake tests commit: one local route, from H41 to G22."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gateway.ledger.intake import RouteDraft, SubmissionDraft

H41 = "000.00.00.H41"


def draft(n: int, sha: str | None = None, **changes: Any) -> SubmissionDraft:
    """Draft number ``n`` (its DocumentId and hashes follow from ``n``), with ``changes`` applied."""
    base = SubmissionDraft(
        message_type="edoc",
        document_id=f"{H41},2026/12/02,{n}/UBND",
        sender=H41,
        payload_sha256=sha or f"{n:064x}",
        payload_size=100,
        system_id="sys-a",
        routes=(RouteDraft("local", "sys-b", ("000.00.00.G22",)),),
        outbound_sha256=f"{n + 10**6:064x}",
        outbound_size=120,
        actor="sys-a",
    )
    return replace(base, **changes) if changes else base
