"""Indexes for the operator console's searches (gateway/server/console/).

* ``messages.code`` (number/notation): exact and prefix search. On PostgreSQL the btree uses
  ``varchar_pattern_ops`` so ``LIKE '123/%'`` uses it whatever the database collation.
* ``messages.subject`` and ``messages.recipients``: substring search (``ILIKE '%…%'``). On
  PostgreSQL a GIN trigram index (``pg_trgm``) when the extension is available or can be created
  (it is "trusted" since PostgreSQL 13: the database owner may create it); it is installed in
  schema ``public`` so a per-schema test database never owns (and drops) it. Without ``pg_trgm``,
  and on SQLite, substring search is a scan bounded by the other filters (documented in
  docs/console.md): SQLite is for single-host installations with small ledgers.
* ``messages (state, id)`` and ``messages (sender, id)`` replace the single-column indexes on
  ``state`` and ``sender`` (every lookup by state or sender alone still uses them): the console's
  pages are "newest first" (``ORDER BY id DESC LIMIT n``), and with the id in the index a rare
  state (DEAD: 0.1 % of a million rows) is read directly instead of by walking the primary key
  backwards and filtering. Net zero index writes per message.
* ``attempts (outcome, reason)``: the overview's failures and refusals by reason.
* ``submissions (system_id, received_at)``: the systems page's "last seen".

Revision ID: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRGM_INDEXES = (("ix_messages_subject_trgm", "subject"), ("ix_messages_recipients_trgm", "recipients"))


def _trgm_schema(conn: sa.Connection) -> str | None:
    """The schema holding pg_trgm, installing it in ``public`` if possible; ``None`` if unavailable."""
    found = conn.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'pg_trgm'"
        )
    ).scalar_one_or_none()
    if found is not None:
        return str(found)
    available = conn.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first()
    if available is None:
        return None
    try:
        with conn.begin_nested():
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    except sa.exc.DBAPIError:
        return None  # no privilege: substring search falls back to a scan
    return "public"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("CREATE INDEX IF NOT EXISTS ix_messages_code ON messages (code varchar_pattern_ops)")
        schema = _trgm_schema(conn)
        if schema is not None:
            for name, column in TRGM_INDEXES:
                op.execute(
                    f'CREATE INDEX IF NOT EXISTS {name} ON messages USING gin ({column} "{schema}".gin_trgm_ops)'
                )
    else:
        op.create_index("ix_messages_code", "messages", ["code"])
    op.create_index("ix_messages_state_id", "messages", ["state", "id"])
    op.create_index("ix_messages_sender_id", "messages", ["sender", "id"])
    op.drop_index("ix_messages_state", table_name="messages")
    op.drop_index("ix_messages_sender", table_name="messages")
    op.create_index("ix_attempts_outcome_reason", "attempts", ["outcome", "reason"])
    op.create_index("ix_submissions_system_received", "submissions", ["system_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_submissions_system_received", table_name="submissions")
    op.drop_index("ix_attempts_outcome_reason", table_name="attempts")
    op.create_index("ix_messages_sender", "messages", ["sender"])
    op.create_index("ix_messages_state", "messages", ["state"])
    op.drop_index("ix_messages_sender_id", table_name="messages")
    op.drop_index("ix_messages_state_id", table_name="messages")
    if op.get_bind().dialect.name == "postgresql":
        for name, _ in TRGM_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_index("ix_messages_code", table_name="messages")
