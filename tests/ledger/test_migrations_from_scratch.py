"""The migrations, run from an empty database, build exactly the schema the models describe; a ledger
already at the head is opened without running Alembic, one below it is still migrated.

Every other test starts from a copy of one migrated file (tests/db_fixtures.py), so this is where
migrating from nothing is checked on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from gateway.errors import LedgerError
from gateway.ledger import db
from gateway.ledger.db import alembic_config, current_revision, head_revision, make_engine, upgrade
from gateway.ledger.models import Base

pytestmark = pytest.mark.db


def _trigram_index(difference: tuple[object, ...]) -> bool:
    """PostgreSQL's trigram indexes exist only where pg_trgm is available: the migration owns them."""
    return difference[0] == "remove_index" and str(getattr(difference[1], "name", "")).endswith("_trgm")


def test_migrating_an_empty_database_builds_the_schema_of_the_models(database_url: str, tmp_path: Path) -> None:
    # on SQLite a new file, not the fixtures' migrated copy; on PostgreSQL the fixtures' new, empty schema
    url = f"sqlite:///{tmp_path / 'empty.db'}" if database_url.startswith("sqlite") else database_url
    engine = make_engine(url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            differences = [d for d in compare_metadata(MigrationContext.configure(conn), Base.metadata)
                           if not _trigram_index(d)]
        assert differences == [], f"the migrations and gateway/ledger/models.py disagree: {differences}"
    finally:
        engine.dispose()


def test_a_ledger_at_the_head_is_opened_without_running_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    try:
        upgrade(engine)
        calls: list[str] = []
        monkeypatch.setattr(db.command, "upgrade", lambda _cfg, revision: calls.append(revision))
        upgrade(engine)
        assert calls == []
        # one revision below the head: Alembic runs again
        below = ScriptDirectory.from_config(alembic_config()).get_revision(head_revision()).down_revision
        monkeypatch.undo()
        command.downgrade(alembic_config(engine), str(below))
        monkeypatch.setattr(db.command, "upgrade", lambda _cfg, revision: calls.append(revision))
        upgrade(engine)
        assert calls == ["head"]
        monkeypatch.undo()
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_a_database_error_while_checking_the_revision_is_a_ledger_error(tmp_path: Path) -> None:
    folder = tmp_path / "not-a-db"
    folder.mkdir()
    engine = make_engine(f"sqlite:///{folder}")  # a directory: SQLite cannot open it
    try:
        with pytest.raises(LedgerError, match="database migration failed"):
            upgrade(engine)
    finally:
        engine.dispose()
