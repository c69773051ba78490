"""Database fixtures shared by the ledger and server tests: SQLite by default, PostgreSQL on request.

Set ``LIENTHONG_TEST_DATABASE_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
to run every ``@pytest.mark.db`` test against PostgreSQL: each test gets a fresh schema (selected
with ``search_path`` in the URL, so subprocesses inherit it) that is dropped afterwards.

On SQLite each database starts as a copy of one file migrated to the head once per session:
running the 30-odd migrations cost most of every test's set-up (and of every mutant's run in
``make mutation``). Migrating a database from scratch is still what the session's first step
does, and tests/ledger/test_migrations_from_scratch.py does it on purpose.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.config import HubSettings
from gateway.ledger import Ledger
from gateway.ledger.db import make_engine, upgrade

PG_ENV = "LIENTHONG_TEST_DATABASE_URL"


def _pg_schema_url(base: str, schema: str) -> str:
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite ledger migrated to the head, as a single self-contained file (no WAL beside it)."""
    work = tmp_path_factory.mktemp("migrated")
    engine = make_engine(f"sqlite:///{work / 'work.db'}")
    upgrade(engine)
    engine.dispose()
    template = work / "template.db"
    with sqlite3.connect(work / "work.db") as source, sqlite3.connect(template) as copy:
        source.backup(copy)
    return template


@pytest.fixture
def make_database_url(tmp_path: Path, migrated_sqlite: Path) -> Iterator[Callable[[str], str]]:
    """Factory: one independent database per name (several hubs in one test need several)."""
    base = os.environ.get(PG_ENV)
    schemas: list[str] = []

    def make(name: str = "ledger") -> str:
        if not base:
            path = tmp_path / (name + ".db")
            if not path.exists():
                shutil.copyfile(migrated_sqlite, path)
            return f"sqlite:///{path}"
        schema = f"t_{name.replace('-', '_')}_{uuid.uuid4().hex[:10]}"
        engine = create_engine(base)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
        schemas.append(schema)
        return _pg_schema_url(base, schema)

    yield make
    if base and schemas:
        engine = create_engine(base)
        with engine.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture
def database_url(make_database_url: Callable[[str], str]) -> str:
    return make_database_url("ledger")


@pytest.fixture
def hub_settings(tmp_path: Path, database_url: str) -> HubSettings:
    return HubSettings(data_dir=tmp_path / "data", database_url=database_url, node_id="TEST.W00")


@pytest.fixture
def ledger(hub_settings: HubSettings) -> Iterator[Ledger]:
    led = Ledger.open(hub_settings)
    yield led
    led.close()
