"""Scale-out, proven: the outbound DAG on CeleryExecutor, the way docs/deployment.md sets it up.

Real parts only: ``airflow db migrate`` into a PostgreSQL database created for this test, then
``airflow scheduler``, ``dag-processor``, ``triggerer``, ``api-server`` and one ``celery worker`` as
processes on 127.0.0.1 (free ports, log servers moved off 8793/8794), Redis on 127.0.0.1:6379 (a db
number and a queue name of this test's own), the hub under uvicorn and the QLVB simulator in this
process. The api-server has a real user (simple auth manager, password file), as in production.

In that one deployment, in turn:

1. the outbound DAG is unpaused and triggered through the REST API; the good documents must arrive
   in the hub, and the run note (set by ``summarize`` through ``lienthong_airflow_api``) must name the
   failed one with its legacy id, stage and reason;
2. a batch pushed to the hub's ``/legacy/qlvb_soap`` makes the hub post the asset event: a new run of
   ``lienthong_outbound_qlvb_soap`` (``asset_triggered``) without any schedule;
3. a file written into a watched file-drop inbox starts ``lienthong_outbound_flat_xml_export``
   (the ``InboxTrigger`` asset watcher, run by the triggerer).
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
from hubkit import running_hubs
from sqlalchemy import create_engine, text
from test_hub_legacy_push import SNV, STC, _push

from gateway.config import AirflowEventSettings
from gateway.transport.axis import AxisClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
ROOT = Path(__file__).resolve().parents[2]
PG = os.environ.get("LIENTHONG_CELERY_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS = "redis://127.0.0.1:6379/5"
DAG_ID = "lienthong_outbound_qlvb_soap"
DROP_DAG_ID = "lienthong_outbound_flat_xml_export"
FLAT = ROOT / "adapters" / "flat_xml_export" / "fixtures" / "cong_van_1258.in.xml"
USER, PASSWORD = "lienthong", "af-" + uuid.uuid4().hex[:12]


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


def test_outbound_dag_on_celery_workers(hub_settings, legacy_sim, metadata_db: str, lease_database: str,
                                        tmp_path: Path) -> None:
    api_port = free_port()
    secret = tmp_path / "airflow-password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    events = AirflowEventSettings(url=f"http://127.0.0.1:{api_port}", username=USER, password_file=secret,
                                  retries=10, retry_backoff_seconds=1.0)
    with running_hubs(hub_settings.with_(airflow=events)) as (hub,):
        _deployment(hub, legacy_sim, metadata_db, lease_database, tmp_path, api_port)


def _deployment(hub, legacy_sim, metadata_db: str, lease_database: str, tmp_path: Path, api_port: int) -> None:
    hub.ledger.add_system("qlvb-nghean", "secret-nghean", [H41], name="QLVB UBND tỉnh Nghệ An")
    hub.ledger.add_system("vpcp", "secret-vpcp", [G22], name="VPCP")
    hub.ledger.add_system("snv", "pw-snv", [SNV])
    hub.ledger.add_system("stc", "pw-stc", [STC])
    for number in (301, 302, 303):
        legacy_sim.queue(van_ban(number))
    legacy_sim.queue(van_ban(304, sender="KHONG-RO"))  # unknown agency code: fails, tolerated, in the note
    drop = tmp_path / "drop"
    config = tmp_path / "exchanges.toml"  # no cron: unpausing must not start a scheduled run beside ours
    config.write_text('[defaults]\nschedule = ""\n\n[[exchange]]\nadapter = "qlvb_soap"\n'
                      'legacy_conn_id = "lienthong_legacy"\nsigning_profile = "ubnd-thu-nghiem"\n'
                      'flows = ["outbound"]\nmax_failed_documents = 1\n\n'
                      f'[[exchange]]\nadapter = "flat_xml_export"\nflows = ["outbound"]\n'
                      f'inbox_root = "{drop}"\nwatch_seconds = 1.0\n', encoding="utf-8")
    passwords = tmp_path / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}), encoding="utf-8")
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
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
           "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
           "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2", "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
           "AIRFLOW__CORE__PARALLELISM": "4", "LIENTHONG_EXCHANGES": str(config),
           # a loaded CI machine answers the execution API slowly: wait longer before giving up
           "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60", "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
           "AIRFLOW_CONN_LIENTHONG_HUB": json.dumps({"conn_type": "http", "host": host, "port": int(port),
                                                    "login": "qlvb-nghean", "password": "secret-nghean"}),
           "AIRFLOW_CONN_LIENTHONG_LEGACY": legacy_sim.endpoint,
           "AIRFLOW_CONN_LIENTHONG_LEGACY_FLAT_XML_EXPORT": json.dumps({"conn_type": "fs",
                                                                       "extra": {"path": str(drop)}}),
           # the run note: summarize PATCHes the run through the api-server as this user
           "AIRFLOW_CONN_LIENTHONG_AIRFLOW_API": json.dumps({"conn_type": "http", "host": "127.0.0.1",
                                                            "port": api_port, "login": USER,
                                                            "password": PASSWORD}),
           "LIENTHONG_LEASE_DATABASE_URL": lease_database}
    airflow = str(Path(sys.executable).with_name("airflow"))
    migrated = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True, timeout=180)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = []
    for name, args in (("api-server", ["api-server"]), ("scheduler", ["scheduler"]),
                       ("dag-processor", ["dag-processor"]), ("triggerer", ["triggerer"]),
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

        _wait(finished, 540, "the run to finish", logs)
        assert state["state"] == "success", _tail(logs)
        note = httpx.get(f"{api}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", headers=headers).json()["note"] or ""
        failed_row = next((line for line in note.splitlines() if "QLVB-304" in line), "")
        # one row per failed document: name, legacy id, stage, reason
        assert failed_row.startswith("| QLVB-304 | QLVB-304 | fetch |") and "'KHONG-RO'" in failed_row, note
        assert "succeeded within tolerance (1)" in note.splitlines()[0], note

        # 2. a legacy push to the hub starts the adapter's outbound DAG at once (no schedule at all)
        assert [r.ChapNhan for r in _push(hub, "qlvb-nghean", "secret-nghean", timeout=180)] == [True, False, True]
        _wait(lambda: _runs(api, headers, DAG_ID, "asset_triggered"), 180, "the push's asset-triggered run", logs)
        assert hub.app.state.hub.asset_events.counters.sent == 1

        # 3. a complete file in the watched inbox starts the file-drop DAG (the triggerer's watcher)
        httpx.patch(f"{api}/api/v2/dags/{DROP_DAG_ID}", json={"is_paused": False},
                    headers=headers).raise_for_status()
        assert _runs(api, headers, DROP_DAG_ID) == []
        (drop / "inbox").mkdir(parents=True, exist_ok=True)
        part = drop / "inbox" / "cong-van-1258.xml.part"  # written, then renamed: the drop convention
        part.write_bytes(FLAT.read_bytes())
        part.rename(drop / "inbox" / "cong-van-1258.xml")
        _wait(lambda: _runs(api, headers, DROP_DAG_ID, "asset_triggered"), 180, "the inbox watcher's run", logs)
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


def _runs(api: str, headers: dict[str, str], dag_id: str, run_type: str | None = None) -> list[dict]:
    got = httpx.get(f"{api}/api/v2/dags/{dag_id}/dagRuns", headers=headers).json()["dag_runs"]
    return [r for r in got if run_type is None or r["run_type"] == run_type]


def _wait_for_api(api: str) -> dict[str, str]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            token = httpx.post(f"{api}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=5)
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
