"""Exchange leases: a document taken from a legacy queue belongs to one run until the lease expires.

* ``exchange_leases``: (source, item) → holder and expiry, written by :mod:`gateway.exchange.leases`
  so two DAG runs, two work folders or a DAG run and ``lienthong exchange`` never work on the same
  document at once, on one host or several (PostgreSQL).

Revision ID: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "exchange_leases",
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("item", sa.String(length=512), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "item"),
    )
    op.create_index("ix_exchange_leases_expires_at", "exchange_leases", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_exchange_leases_expires_at", table_name="exchange_leases")
    op.drop_table("exchange_leases")
