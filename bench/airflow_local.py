"""An Airflow deployment on LocalExecutor for the benchmarks: real processes on 127.0.0.1.

``airflow db migrate`` into a SQLite metadata file, then ``api-server``, ``scheduler`` and
``dag-processor`` as processes (what ``airflow standalone`` starts, minus the triggerer: the
bench's DAGs have no deferrable tasks or watchers), with a real user (simple auth manager,
password file) and the log servers on free ports. Runs are triggered through the REST API, the
way an operator or a push does, and timed from the trigger until the API reports the run finished.
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

USER = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunTiming:
    """One DAG run: wall seconds from the trigger to the API saying it finished, and per task
    instance (task id with map index) its queued → start → end times relative to the trigger."""

    state: str
    wall: float
    tasks: list[tuple[str, float, float, float]]
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by process title, filled by the caller

    def table(self) -> str:
        rows = [f"    {'task':24} {'queued':>7} {'start':>7} {'end':>7} {'ran':>6}"]
        for name, queued, start, end in sorted(self.tasks, key=lambda t: (t[2], t[0])):
            rows.append(f"    {name:24} {queued:7.1f} {start:7.1f} {end:7.1f} {end - start:6.1f}")
        rows += [f"    CPU {title}: {seconds:.1f} s" for title, seconds in sorted(self.cpu.items(), key=lambda c: -c[1])]
        return "\n".join(rows)


class LocalAirflow:
    """Context manager: the deployment up on entry (DAGs serialized), every process stopped on exit."""

    def __init__(self, home: Path, dags: Path, env: Mapping[str, str], parallelism: int = 4):
        """``env`` is applied last: it may set the executor and any other setting."""
        self.home = home
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        password = "bench-" + uuid.uuid4().hex[:12]
        home.mkdir(parents=True, exist_ok=True)
        (home / "passwords.json").write_text(json.dumps({USER: password}), encoding="utf-8")
        self._login = {"username": USER, "password": password}
        self.env = {**os.environ,
                    "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
                    "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                    "AIRFLOW__CORE__UNIT_TEST_MODE": "False", "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
                    "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(self.port),
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api}/execution/",
                    "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex, "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO", **env}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.headers: dict[str, str] = {}

    def __enter__(self) -> LocalAirflow:
        airflow = str(Path(sys.executable).with_name("airflow"))
        done = subprocess.run([airflow, "db", "migrate"], env=self.env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise SystemExit(f"airflow db migrate failed:\n{done.stderr[-3000:]}")
        logs = self.home / "process-logs"
        logs.mkdir(exist_ok=True)
        for name in ("api-server", "scheduler", "dag-processor"):
            out = (logs / f"{name}.log").open("wb")
            self.procs.append(subprocess.Popen([airflow, name], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                               start_new_session=True))
        try:
            self._wait(self._logged_in, 180, "the api-server")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def cpu_seconds(self) -> float:
        """CPU seconds of the deployment so far: every living process of its sessions (each was
        started in its own), with the CPU of the children they reaped (finished task processes)."""
        return sum(self.cpu_by_process().values())

    def cpu_by_process(self) -> dict[str, float]:
        """:meth:`cpu_seconds` by process title (LocalExecutor's workers carry their finished task
        processes' CPU; api-server workers are summed under one title)."""
        sessions = {p.pid for p in self.procs}
        out: dict[str, float] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                title = (stat.parent / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if int(fields[3]) in sessions:
                title = " ".join(title.split()[:3])[:60]
                out[title] = out.get(title, 0.0) + sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        return out

    def _logged_in(self) -> bool:
        try:
            token = httpx.post(f"{self.api}/auth/token", json=self._login, timeout=5)
        except httpx.HTTPError:
            return False
        if token.status_code not in (200, 201):
            return False
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        return True

    def _wait(self, check: Callable[[], bool], seconds: float, what: str, every: float = 0.5) -> None:
        deadline = time.monotonic() + seconds
        while not check():
            dead = [p for p in self.procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
                                  for p in sorted((self.home / "process-logs").glob("*.log")))
                raise SystemExit(f"waiting for {what}: {'a process exited' if dead else 'timed out'}\n{tails}")
            time.sleep(every)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        answer = httpx.request(method, f"{self.api}/api/v2/{path}", headers=self.headers, timeout=30, **kw)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def unpause(self, dag_id: str) -> None:
        def serialized() -> bool:
            return httpx.get(f"{self.api}/api/v2/dags/{dag_id}", headers=self.headers, timeout=10).status_code == 200

        self._wait(serialized, 180, f"the dag-processor to serialize {dag_id}")
        self.request("PATCH", f"dags/{dag_id}", json={"is_paused": False})

    def set_connection(self, conn_id: str, **fields: Any) -> None:
        with contextlib.suppress(httpx.HTTPStatusError):
            self.request("DELETE", f"connections/{conn_id}")
        self.request("POST", "connections", json={"connection_id": conn_id, **fields})

    def run(self, dag_id: str, conf: Mapping[str, Any], timeout: float = 1800) -> RunTiming:
        """Trigger a run, wait for it (polling every 0.1 s) and collect its task instances' times."""
        started = time.time()
        t = time.perf_counter()
        run_id = self.request("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": dict(conf)})[
            "dag_run_id"]
        state: dict[str, str] = {}

        def finished() -> bool:
            state["state"] = self.request("GET", f"dags/{dag_id}/dagRuns/{run_id}")["state"]
            return state["state"] in ("success", "failed")

        self._wait(finished, timeout, f"run {run_id}", every=0.1)
        wall = time.perf_counter() - t
        listed = self.request("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        return RunTiming(state["state"], wall, [_timing(ti, started) for ti in listed["task_instances"]])


def _timing(ti: Mapping[str, Any], origin: float) -> tuple[str, float, float, float]:
    from datetime import datetime

    def rel(key: str) -> float:
        value = ti.get(key)
        return datetime.fromisoformat(value).timestamp() - origin if value else float("nan")

    index = ti.get("map_index", -1)
    name = ti["task_id"] + (f"[{index}]" if index is not None and index >= 0 else "")
    return name, rel("queued_when"), rel("start_date"), rel("end_date")
