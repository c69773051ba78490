"""The last runs of the exchange DAGs, read through Airflow's REST API (``/api/v2``, Airflow 3).

Configured by ``console.airflow_url`` (the api-server), ``airflow_username`` and
``airflow_password`` (or ``$LIENTHONG_AIRFLOW_PASSWORD``): the console asks ``/auth/token`` for a
JWT (Airflow 3's simple and FAB auth managers both serve it), lists the DAGs whose id starts with
``airflow_dag_prefix`` and reads each one's latest run. Unconfigured, the overview says so;
unreachable or refusing, it says why in one line. Results are cached for a few seconds so a busy
overview does not hammer Airflow. Links point into the Airflow UI (``airflow_ui_url``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from gateway.config import ConsoleSettings

CACHE_SECONDS = 15.0
TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class DagRun:
    dag_id: str
    run_id: str | None
    state: str | None
    start: str | None
    end: str | None
    dag_url: str
    run_url: str | None


@dataclass(frozen=True, slots=True)
class AirflowStatus:
    configured: bool
    runs: tuple[DagRun, ...] = ()
    error: str | None = None
    ui_url: str = ""


class AirflowReader:
    def __init__(self, settings: ConsoleSettings):
        self.settings = settings
        self._cache: tuple[float, AirflowStatus] | None = None
        self._lock = threading.Lock()

    def status(self) -> AirflowStatus:
        if not self.settings.airflow_url:
            return AirflowStatus(configured=False)
        with self._lock:
            if self._cache and self._cache[0] > time.monotonic():
                return self._cache[1]
        result = self._read()
        with self._lock:
            self._cache = (time.monotonic() + CACHE_SECONDS, result)
        return result

    def _read(self) -> AirflowStatus:
        base = self.settings.airflow_url.rstrip("/")
        ui = (self.settings.airflow_ui_url or base).rstrip("/")
        try:
            with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
                headers: dict[str, str] = {}
                if self.settings.airflow_username:
                    token = client.post(
                        "/auth/token",
                        json={"username": self.settings.airflow_username, "password": self.settings.airflow_password},
                    )
                    if token.status_code >= 400:
                        return AirflowStatus(True, error=f"login refused (HTTP {token.status_code})", ui_url=ui)
                    headers["Authorization"] = f"Bearer {token.json()['access_token']}"
                dags = client.get(
                    "/api/v2/dags",
                    params={"dag_id_pattern": self.settings.airflow_dag_prefix + "%", "limit": 100},
                    headers=headers,
                )
                if dags.status_code >= 400:
                    return AirflowStatus(True, error=f"/api/v2/dags answered HTTP {dags.status_code}", ui_url=ui)
                runs: list[DagRun] = []
                for dag in sorted(dags.json().get("dags", []), key=lambda d: str(d.get("dag_id"))):
                    dag_id = str(dag.get("dag_id"))
                    if not dag_id.startswith(self.settings.airflow_dag_prefix):
                        continue
                    got = client.get(
                        f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns",
                        params={"limit": 1, "order_by": "-run_after"},
                        headers=headers,
                    )
                    items = got.json().get("dag_runs", []) if got.status_code < 400 else []
                    dag_url = f"{ui}/dags/{quote(dag_id, safe='')}"
                    if not items:
                        runs.append(DagRun(dag_id, None, None, None, None, dag_url, None))
                        continue
                    run = items[0]
                    run_id = str(run.get("dag_run_id") or run.get("run_id") or "")
                    runs.append(
                        DagRun(
                            dag_id,
                            run_id,
                            run.get("state"),
                            run.get("start_date"),
                            run.get("end_date"),
                            dag_url,
                            f"{dag_url}/runs/{quote(run_id, safe='')}" if run_id else None,
                        )
                    )
                return AirflowStatus(True, tuple(runs), ui_url=ui)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            return AirflowStatus(True, error=f"{type(exc).__name__}: {str(exc)[:200]}", ui_url=ui)


__all__ = ["AirflowReader", "AirflowStatus", "DagRun"]
