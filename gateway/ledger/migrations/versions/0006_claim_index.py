"""Index for the delivery worker's lease query (``Ledger.claim_due``).

``claim_due`` looks for peer/upstream messages that are QUEUED or FAILED and due. With only
``ix_messages_due (state, next_attempt_at)`` it walked every QUEUED message, including all local
inbox messages nobody had collected yet: at 50,000 uncollected messages one poll took 65-95 ms on
SQLite, inside a write transaction, so each poll of each worker stalled the intake's group commit
and sendEdoc's p99 grew with the ledger. ``ix_messages_claim (route, state, next_attempt_at)``
lets the query read only the due rows of the two delivery routes.

Revision ID: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_claim", "messages", ["route", "state", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_messages_claim", table_name="messages")
