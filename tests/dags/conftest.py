"""Airflow test set-up: a fresh AIRFLOW_HOME and metadata DB per session, and real parts to run against.

The environment variables are set at import time, before anything imports airflow (Airflow reads
its configuration once, on first import). The hub runs in-thread under uvicorn on 127.0.0.1 (the
hub tests' kit), the legacy QLVB system is the simulator from gateway.legacy_sim; connections
reach the DAGs through AIRFLOW_CONN_* variables, as they would in a deployment without a DB.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_HOME = tempfile.mkdtemp(prefix="lienthong-airflow-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
sys.path.insert(0, str(ROOT / "tests" / "server"))
sys.path.insert(0, str(ROOT / "tests"))

import shutil  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
from db_fixtures import make_database_url, migrated_sqlite  # noqa: E402, F401  (ledgers on PostgreSQL in make test-pg)

from gateway.config import HubSettings  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> Iterator[None]:
    from airflow.utils import db

    db.resetdb()
    yield
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture
def hub_settings(tmp_path: Path, make_database_url) -> HubSettings:  # noqa: F811
    """The settings of the test hub: its own ledger (SQLite, or a PostgreSQL schema in make test-pg)."""
    directory = tmp_path / "hub-agencies.json"
    directory.write_text(
        '[{"id": 1, "code": "02.41.W00", "name": "LGSP tỉnh Nghệ An", "isAgency": false},'
        ' {"id": 10, "code": "000.00.00.G22", "name": "Văn phòng Chính phủ", "centerCode": "02.41.W00"},'
        ' {"id": 20, "code": "000.00.00.H41", "name": "UBND tỉnh Nghệ An", "centerCode": "02.41.W00"}]',
        encoding="utf-8",
    )
    return HubSettings(data_dir=tmp_path / "hub", database_url=make_database_url("hub"),
                       node_id="02.41.W00", directory_file=directory, delivery_poll_seconds=0.1)


@pytest.fixture
def hub(hub_settings: HubSettings):
    """One real hub on 127.0.0.1 with its own ledger."""
    from hubkit import running_hubs

    with running_hubs(hub_settings) as (running,):
        yield running


@pytest.fixture
def legacy_sim():
    from gateway.legacy_sim import QlvbSimulator

    with QlvbSimulator() as sim:
        yield sim


@pytest.fixture(autouse=True)
def lease_database(make_database_url, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    """Every test's runs lease documents in a database of their own (never ./var)."""
    url = make_database_url("leases")
    monkeypatch.setenv("LIENTHONG_LEASE_DATABASE_URL", url)
    return url
