"""Replay cache, per-system clocks, business-operation history, refusal counters (issue #9).

* ``signed_requests``: every state-changing signed request by (system, HMAC) — the replay cache;
* ``system_clocks``: per-system JVM zone and instance lifetime for the SDK ``timestamp``;
* ``business_operations``: revocations / updates / replacements of a document, in order;
* ``refusal_counts``: refused axis requests per system and reason (``/metrics``).

Revision ID: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "signed_requests",
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("result", sa.String(length=64), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("system_id", "signature"),
    )
    op.create_table(
        "system_clocks",
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=True),
        sa.Column("max_age_seconds", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("system_id"),
    )
    op.create_table(
        "business_operations",
        sa.Column("id", _ID, nullable=False),
        sa.Column("submission_id", _ID, nullable=False),
        sa.Column("document_id", sa.String(length=512), nullable=False),
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("business_type", sa.Integer(), nullable=False),
        sa.Column("target_document_id", sa.String(length=512), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("submission_id"),
    )
    op.create_index("ix_business_operations_document_id", "business_operations", ["document_id"])
    op.create_table(
        "refusal_counts",
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=48), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("system_id", "reason"),
    )


def downgrade() -> None:
    op.drop_table("refusal_counts")
    op.drop_index("ix_business_operations_document_id", table_name="business_operations")
    op.drop_table("business_operations")
    op.drop_table("system_clocks")
    op.drop_table("signed_requests")
