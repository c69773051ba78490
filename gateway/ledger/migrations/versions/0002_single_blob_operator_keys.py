"""Messages may point at the original blob plus a trace-hop recipe; operator API keys.

* ``messages.source_sha256`` / ``messages.trace_hop``: instead of a second, fsynced blob holding
  the outbound copy, a message can name the original blob and the TraceHeader this hub adds
  (JSON ``{"organ": ..., "at": ...}``); the outbound bytes are rebuilt on read and checked
  against ``payload_sha256``. Older rows (both NULL) keep pointing at a stored outbound blob.
* ``operator_keys``: operator API keys managed by ``lienthong operators``, stored as SHA-256.

Revision ID: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("trace_hop", sa.Text(), nullable=True))
    op.create_table(
        "operator_keys",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("key_hash"),
    )


def downgrade() -> None:
    op.drop_table("operator_keys")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("trace_hop")
        batch_op.drop_column("source_sha256")
