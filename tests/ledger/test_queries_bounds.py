"""Operator queries: OrganId filters match literally, limits are positive, the delivery poll uses its index."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select, text

from gateway.cli import main
from gateway.errors import LedgerError
from gateway.ledger import Ledger
from gateway.ledger.intake import RouteDraft, SubmissionDraft, write_batch
from gateway.ledger.models import Message
from gateway.ledger.queries import list_messages

pytestmark = pytest.mark.db


def draft(n: int, recipient: str) -> SubmissionDraft:
    return SubmissionDraft(
        message_type="edoc", document_id=f"000.00.00.H41,2026/11/20,{n}/UBND", sender="000.00.00.H41",
        payload_sha256=f"{n:064x}", payload_size=1, system_id="sys-a",
        routes=(RouteDraft("local", "sys-b", (recipient,)),), outbound_sha256=f"{n:064x}", outbound_size=1,
    )


def test_organ_filter_escapes_like_wildcards(ledger: Ledger) -> None:
    write_batch(ledger, [draft(1, "000.00.00.G22"), draft(2, "000.00.00.G%2"), draft(3, "000_00.00.G23")])
    assert len(list_messages(ledger)) == 3
    for pattern in ("%", "_", '"', "000.00.00.G%", "000.00.00.G_2"):
        assert list_messages(ledger, organ=pattern) == [], pattern
    assert [m["recipients"] for m in list_messages(ledger, organ="000.00.00.G%2")] == [["000.00.00.G%2"]]
    assert len(list_messages(ledger, organ="000.00.00.H41")) == 3  # the sender
    with pytest.raises(LedgerError, match="positive"):
        list_messages(ledger, limit=-5)


def test_cli_refuses_a_negative_limit(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["messages", "list", "--data-dir", str(tmp_path), "--limit", "-5"])
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_delivery_poll_has_its_index(ledger: Ledger) -> None:
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(ledger.engine).get_indexes("messages")}
    assert indexes.get("ix_messages_claim") == ["route", "state", "next_attempt_at"]
    assert ledger.claim_due() == []  # nothing due: answered from the reader, no lease taken
    if ledger.engine.dialect.name == "sqlite":
        query = select(Message.id).where(
            Message.route.in_(("peer", "upstream")), Message.state.in_(("QUEUED", "FAILED")),
            Message.next_attempt_at <= text("'2030-01-01'"),
        )
        sql = str(query.compile(ledger.engine, compile_kwargs={"literal_binds": True}))
        with ledger.engine.connect() as conn:
            plan = " ".join(str(r) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        assert "ix_messages_claim" in plan, plan
