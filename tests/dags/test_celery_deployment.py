"""Scale-out, proven: the outbound DAG on CeleryExecutor, the way docs/deployment.md sets it up.

Real parts only: ``airflow db migrate`` into a PostgreSQL database created for this test, then
``airflow scheduler``, ``dag-processor``, ``api-server`` and one ``celery worker`` as processes on
127.0.0.1 (free ports, log servers moved off 8793/8794), Redis on 127.0.0.1:6379 (a db number and a
queue name of this test's own), the hub under uvicorn and the QLVB simulator in this process. The
DAG is unpaused and triggered through the REST API; the documents must arrive in the hub.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from exchange_kit import G22, H41, PROFILES, van_ban
from sqlalchemy import create_engine, text

from gateway.transport.axis import AxisClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("LIENTHONG_CELERY_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = "redis://127.0.0.1:6379/5"
DAG_ID = "lienthong_outbound_qlvb_soap"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def metadata_db() -> Iterator[str]:
    name = f"af_celery_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield PG.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def test_outbound_dag_on_celery_workers(hub, legacy_sim, metadata_db: str, lease_database: str,
                                        tmp_path: Path) -> None:
    hub.ledger.add_system("qlvb-nghean", "secret-nghean", [H41], name="QLVB UBND tỉnh Nghệ An")
    hub.ledger.add_system("vpcp", "secret-vpcp", [G22], name="VPCP")
    for number in (301, 302, 303):
        legacy_sim.queue(van_ban(number))
    api_port = free_port()
    config = tmp_path / "exchanges.toml"  # no cron: unpausing must not start a scheduled run beside ours
    config.write_text('[defaults]\nschedule = ""\n\n[[exchange]]\nadapter = "qlvb_soap"\n'
                      'legacy_conn_id = "lienthong_legacy"\nsigning_profile = "ubnd-thu-nghiem"\n'
                      'flows = ["outbound"]\n', encoding="utf-8")
    host, port = hub.url.removeprefix("http://").split(":")
    env = {**os.environ,
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_db,
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_db,
           "AIRFLOW__CELERY__BROKER_URL": REDIS, "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_db,
           "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"lienthong_test_{uuid.uuid4().hex[:8]}",
           "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(api_port),
           "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
           "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex, "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2", "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
           "AIRFLOW__CORE__PARALLELISM": "4", "LIENTHONG_EXCHANGES": str(config),
           # a loaded CI machine answers the execution API slowly: wait longer before giving up
           "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60", "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
           "AIRFLOW_CONN_LIENTHONG_HUB": json.dumps({"conn_type": "http", "host": host, "port": int(port),
                                                    "login": "qlvb-nghean", "password": "secret-nghean"}),
           "AIRFLOW_CONN_LIENTHONG_LEGACY": legacy_sim.endpoint,
           "LIENTHONG_LEASE_DATABASE_URL": lease_database}
    airflow = str(Path(sys.executable).with_name("airflow"))
    migrated = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=180)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = []
    for name, args in (("api-server", ["api-server"]), ("scheduler", ["scheduler"]),
                       ("dag-processor", ["dag-processor"]),
                       ("worker", ["celery", "worker", "--concurrency", "2",
                                   "--queues", env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]])):
        out = (logs / f"{name}.log").open("wb")
        procs.append(subprocess.Popen([airflow, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True))
    api = f"http://127.0.0.1:{api_port}"
    try:
        headers = _wait_for_api(api)
        _wait(lambda: httpx.get(f"{api}/api/v2/dags/{DAG_ID}", headers=headers).status_code == 200, 150,
              "the dag-processor to serialize the DAGs", logs)
        httpx.patch(f"{api}/api/v2/dags/{DAG_ID}", json={"is_paused": False}, headers=headers).raise_for_status()
        run = httpx.post(f"{api}/api/v2/dags/{DAG_ID}/dagRuns", headers=headers, json={
            "logical_date": None, "conf": {"work_dir": str(tmp_path / "work"), "signing_profiles": str(PROFILES)}})
        run.raise_for_status()
        run_id = run.json()["dag_run_id"]
        state: dict[str, str] = {}

        def finished() -> bool:
            got = httpx.get(f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", headers=headers).json()
            state["state"] = got["state"]
            return got["state"] in ("success", "failed")

        _wait(finished, 240, "the run to finish", logs)
        assert state["state"] == "success", _tail(logs)
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
    assert sorted(legacy_sim.acknowledged) == ["QLVB-301", "QLVB-302", "QLVB-303"]
    with AxisClient(hub.url, "vpcp", "secret-vpcp", retries=0) as vpcp:
        assert len(vpcp.received_list("edoc")) == 3  # delivered by the Celery worker, signed, once each


def _wait_for_api(api: str) -> dict[str, str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            token = httpx.get(f"{api}/auth/token", timeout=5)
            if token.status_code in (200, 201):
                return {"Authorization": f"Bearer {token.json()['access_token']}"}
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError("the api-server did not start")


def _wait(check, seconds: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}\n{_tail(logs)}")


def _tail(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in sorted(logs.glob("*.log")))
