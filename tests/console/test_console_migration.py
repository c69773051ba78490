"""Migration 0005: the console's indexes exist, the searches can use them, and it downgrades cleanly."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from gateway.ledger.db import alembic_config, current_revision, upgrade

pytestmark = pytest.mark.db


def _indexes(engine, table: str) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes(table)}


def test_indexes_created_used_and_dropped(ledger) -> None:
    engine = ledger.engine
    scripts = ScriptDirectory.from_config(alembic_config(engine))
    assert current_revision(engine) == scripts.get_current_head()
    assert "ix_messages_code" in _indexes(engine, "messages")
    assert "ix_attempts_outcome_reason" in _indexes(engine, "attempts")
    assert "ix_submissions_system_received" in _indexes(engine, "submissions")
    if engine.dialect.name == "postgresql":
        assert {"ix_messages_subject_trgm", "ix_messages_recipients_trgm"} <= _indexes(engine, "messages")
        with engine.connect() as conn:
            conn.execute(text("SET enable_seqscan = off"))
            for where, index in (("subject ILIKE '%liên thông%'", "ix_messages_subject_trgm"),
                                 ("recipients LIKE '%\"000.00.00.G22\"%'", "ix_messages_recipients_trgm"),
                                 ("code LIKE '123/%'", "ix_messages_code")):
                plan = "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN SELECT id FROM messages WHERE {where}")))
                assert index in plan, plan
    below = scripts.get_revision("0005").down_revision
    command.downgrade(alembic_config(engine), str(below))
    assert current_revision(engine) == below
    assert "ix_messages_code" not in _indexes(engine, "messages")
    upgrade(engine, "head")
    assert "ix_messages_code" in _indexes(engine, "messages")
