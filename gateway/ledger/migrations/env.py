"""Alembic environment for the ledger, driven programmatically by :func:`gateway.ledger.db.upgrade`.

The engine comes from ``config.attributes["engine"]``; no alembic.ini and no URL in a file.
"""

from __future__ import annotations

from alembic import context

from gateway.ledger.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():  # pragma: no cover - we never generate SQL scripts offline
    raise SystemExit("the ledger migrations run online only (lienthong db upgrade)")
run_migrations_online()
