"""Benchmark: legacy documents through the outbound DAG (dag.test) and through ``lienthong exchange outbound``.

Each document is a QLVB legacy document with one PDF that gets the agency's Decree 30 signature
(stamping included), sent to a real hub (``lienthong serve`` on 127.0.0.1) and acknowledged to the
QLVB simulator. Both runs use the same code path (gateway.exchange.flows) on their own work
folders and simulators, in the same process run, so the ratio is measured under the same load.
Also measured: the legacy SOAP call overhead (an empty ``LayDanhSachVanBanChoGui``) over keep-alive.

    .venv/bin/python bench/bench_exchange.py [--docs 1000] [--large]   # --large = 5,000 documents

Goals: SOAP call < 2 ms; DAG wall time <= 1.2 x direct; direct >= 50 documents/s on 2 cores
(= at most 40 ms of CPU per document over all processes). CPU per document is printed for the
runner (the CLI process, or this process for dag.test), the hub and the QLVB simulator (its own process).
The machine may be shared (other jobs running): read the figures with the load average printed.

Figures, session 10 (2026-12-04, quiet machine, ``--docs 1000``; details in docs/airflow.md, "Benchmark"):

    SOAP 0.74 ms wall / 0.72 ms CPU; direct 60.8 docs/s, CPU 12 + 4 hub ms/doc;
    DAG 56.2 docs/s, CPU 14 + 4 hub (+ 1 simulator) ms/doc; DAG/direct wall 1.08;
    start-up runs of 20 documents: direct 2.3 s, DAG 6.4 s
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOME = tempfile.mkdtemp(prefix="bench-exchange-")
os.environ.update({"AIRFLOW_HOME": f"{HOME}/airflow", "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                   "AIRFLOW__CORE__UNIT_TEST_MODE": "True", "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                   "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
                   "LIENTHONG_LEASE_DATABASE_URL": f"sqlite:///{HOME}/leases.db"})
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "dags")]

from airflow_local import LocalAirflow, RunTiming  # noqa: E402
from exchange_kit import PROFILES, van_ban  # noqa: E402

from gateway.legacy_sim import QlvbSimulator  # noqa: E402

BIN = Path(sys.executable).with_name("lienthong")
SMALL = 20  # documents of the start-up runs
DAG_ID = "lienthong_outbound_qlvb_soap"
LOCAL_ENV = ROOT / "scripts" / "airflow-local.env"  # what scripts/airflow-standalone.sh applies
NA = ("qlvb-nghean", "bench-secret-nghean")
AGENCIES = ('[{"id": 1, "code": "02.41.W00", "name": "LGSP tỉnh Nghệ An", "isAgency": false},'
            ' {"id": 10, "code": "000.00.00.G22", "name": "Văn phòng Chính phủ", "centerCode": "02.41.W00"},'
            ' {"id": 20, "code": "000.00.00.H41", "name": "UBND tỉnh Nghệ An", "centerCode": "02.41.W00"}]')


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_hub() -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    data = Path(HOME) / "hub"
    data.mkdir()
    (data / "agencies.json").write_text(AGENCIES, encoding="utf-8")
    (data / "hub.toml").write_text('node_id = "02.41.W00"\ndirectory_file = "agencies.json"\n', encoding="utf-8")
    subprocess.run([BIN, "systems", "add", "--data-dir", str(data), NA[0], "--organ", "000.00.00.H41",
                    "--secret", NA[1]], check=True, capture_output=True)
    subprocess.run([BIN, "systems", "add", "--data-dir", str(data), "vpcp", "--organ", "000.00.00.G22",
                    "--secret", "bench-vpcp"], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([BIN, "serve", "--data-dir", str(data), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=(data / "serve.log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("hub did not start")


def hub_log() -> str:
    """The end of the hub's log, for a failed run's message."""
    log = Path(HOME) / "hub" / "serve.log"
    return "\n--- hub log " + str(log) + ":\n" + (log.read_text(errors="replace")[-3000:] if log.exists() else "")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc: the hub is not our child yet)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Measured:
    """Wall seconds and CPU seconds of one run: the runner (the CLI, or dag.test in this process),
    the legacy simulator and the hub, each its own process."""

    wall: float
    runner_cpu: float
    hub_cpu: float
    sim_cpu: float


class LegacySystem:
    """The QLVB simulator in its own process (``lienthong legacy-sim``), as a legacy system is.

    In this process it would share the GIL with ``dag.test`` (which runs every task here) but not
    with the CLI (a child process): the two runs would not be compared on the same terms.
    """

    def __init__(self, docs: list[bytes], name: str):
        folder = Path(HOME) / f"queue-{name}"
        folder.mkdir()
        paths = []
        for i, doc in enumerate(docs):
            path = folder / f"{i:05d}.xml"
            path.write_bytes(doc)
            paths.append(str(path))
        self.proc = subprocess.Popen([BIN, "legacy-sim", "--queue", *paths], stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "QLVB simulator: endpoint URL  WSDL URL  (N queued)"
        if "endpoint " not in line:
            self.proc.kill()
            raise SystemExit(f"legacy-sim did not start: {line!r}")
        self.endpoint = line.split("endpoint ", 1)[1].split()[0]

    def pending(self) -> int:
        from gateway.adapters import AdapterRegistry
        from gateway.transport.soap import LegacySoapConnector

        connector = LegacySoapConnector(AdapterRegistry().get("qlvb_soap"), self.endpoint)
        try:
            return len(connector.pending())
        finally:
            connector.close()

    def __enter__(self) -> LegacySystem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def measure(hub: subprocess.Popen[bytes], sim: LegacySystem, run: Callable[[], None]) -> Measured:
    h, m, c, s = cpu_seconds(hub.pid), cpu_seconds(sim.proc.pid), children_cpu(), time.process_time()
    t = time.perf_counter()
    run()
    wall = time.perf_counter() - t
    runner = (children_cpu() - c) + (time.process_time() - s)
    return Measured(wall, runner, cpu_seconds(hub.pid) - h, cpu_seconds(sim.proc.pid) - m)


def soap_overhead(calls: int = 300) -> tuple[float, float]:
    """ms per empty ``LayDanhSachVanBanChoGui`` over keep-alive: wall, and CPU (client + simulator)."""
    from gateway.adapters import AdapterRegistry
    from gateway.transport.soap import LegacySoapConnector

    with QlvbSimulator() as sim:
        connector = LegacySoapConnector(AdapterRegistry().get("qlvb_soap"), sim.endpoint)
        for _ in range(20):
            connector.pending()
        t, c = time.perf_counter(), time.process_time()
        for _ in range(calls):
            connector.pending()
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        connector.close()
        return wall / calls * 1000, cpu / calls * 1000


def direct(hub: subprocess.Popen[bytes], hub_url: str, docs: list[bytes], work: str = "direct") -> Measured:
    with LegacySystem(docs, work) as sim:
        env = {**os.environ, "LIENTHONG_AXIS_URL": hub_url, "LIENTHONG_AXIS_SYSTEM_ID": NA[0],
               "LIENTHONG_AXIS_SECRET": NA[1]}
        out: list[subprocess.CompletedProcess[str]] = []
        took = measure(hub, sim, lambda: out.append(subprocess.run(
            [BIN, "exchange", "outbound", "--work", f"{HOME}/{work}", "--legacy", sim.endpoint,
             "--profile", "ubnd-thu-nghiem", "--profiles", str(PROFILES), "--json"],
            env=env, capture_output=True, text=True)))
        done = out[0]
        assert done.returncode == 0, done.stderr[-2000:] + hub_log()
        assert json.loads(done.stdout)["stages"]["send"]["ok"] == len(docs)
        assert sim.pending() == 0  # every document acknowledged
        return took


def dag_run(hub: subprocess.Popen[bytes], hub_url: str, docs: list[bytes], work: str = "dag") -> Measured:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.resetdb()
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["lienthong_outbound_qlvb_soap"]
    with LegacySystem(docs, work) as sim:
        host, port = hub_url.removeprefix("http://").split(":")
        os.environ["AIRFLOW_CONN_LIENTHONG_HUB"] = json.dumps(
            {"conn_type": "http", "host": host, "port": int(port), "login": NA[0], "password": NA[1]})
        os.environ["AIRFLOW_CONN_LIENTHONG_LEGACY"] = sim.endpoint
        runs: list[Any] = []
        took = measure(hub, sim, lambda: runs.append(
            dag.test(run_conf={"work_dir": f"{HOME}/{work}", "signing_profiles": str(PROFILES)})))
        assert runs[0].state == "success", runs[0].state
        assert sim.pending() == 0
        return took


LOCAL_CONFIG = ('[defaults]\nschedule = ""\n\n[[exchange]]\nadapter = "qlvb_soap"\nagency = "000.00.00.H41"\n'
                'legacy_conn_id = "lienthong_legacy"\nsigning_profile = "ubnd-thu-nghiem"\nflows = ["outbound"]\n')


def local_run(airflow: LocalAirflow, hub: subprocess.Popen[bytes], docs: list[bytes], work: str) -> tuple[Measured, RunTiming]:
    """The outbound DAG under LocalExecutor, triggered through the REST API (runner CPU: every
    Airflow process of the deployment, since their children's CPU is not ours to count)."""
    with LegacySystem(docs, work) as sim:
        host, port, path = sim.endpoint.removeprefix("http://").replace("/", ":", 1).split(":")
        airflow.set_connection("lienthong_legacy", conn_type="http", host=host, port=int(port), schema=path)
        runs: list[RunTiming] = []
        airflow_cpu = airflow.cpu_seconds()
        before = airflow.cpu_by_process()
        took = measure(hub, sim, lambda: runs.append(airflow.run(
            DAG_ID, {"work_dir": f"{HOME}/{work}", "signing_profiles": str(PROFILES)})))
        took.runner_cpu = airflow.cpu_seconds() - airflow_cpu
        runs[0].cpu = {k: v - before.get(k, 0.0) for k, v in airflow.cpu_by_process().items()}
        assert runs[0].state == "success", runs[0].table()
        assert sim.pending() == 0
        return took, runs[0]


def local_settings() -> dict[str, str]:
    """The LocalExecutor settings of scripts/airflow-local.env (``NAME=VALUE`` lines)."""
    lines = (line.strip() for line in LOCAL_ENV.read_text(encoding="utf-8").splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def local_deployment(hub_url: str, extra: dict[str, str]) -> LocalAirflow:
    config = Path(HOME) / "exchanges.toml"
    config.write_text(LOCAL_CONFIG, encoding="utf-8")
    host, port = hub_url.removeprefix("http://").split(":")
    os.environ.pop("AIRFLOW_CONN_LIENTHONG_LEGACY", None)  # dag.test's: an env connection would win
    env = {"LIENTHONG_EXCHANGES": str(config), "AIRFLOW_CONN_LIENTHONG_HUB": json.dumps(
        {"conn_type": "http", "host": host, "port": int(port), "login": NA[0], "password": NA[1]}),
        **local_settings(), **extra}
    return LocalAirflow(Path(HOME) / "airflow-local", ROOT / "dags", env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--large", action="store_true", help="5,000 documents")
    parser.add_argument("--tasks", action="store_true", help="print the LocalExecutor run's task instances")
    parser.add_argument("--no-dag-test", action="store_true", help="leave out the dag.test runs")
    parser.add_argument("--airflow-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the LocalExecutor deployment over scripts/airflow-local.env's, "
                             "e.g. AIRFLOW__CORE__EXECUTOR=LocalExecutor")
    args = parser.parse_args()
    n = 5000 if args.large else args.docs
    docs = [van_ban(100000 + i) for i in range(n)]
    hub, url = start_hub()
    try:
        soap, soap_cpu = soap_overhead()
        # first every path with SMALL documents: what each costs before its first document (the CLI's
        # process start and imports; for dag.test, Airflow's in-process execution API, built once per
        # process as a deployment builds it once at api-server start; under LocalExecutor the first
        # run after the DAGs were serialized), measured and printed apart
        d0 = direct(hub, url, [van_ban(700000 + i) for i in range(SMALL)], work="direct-small")
        g0 = None if args.no_dag_test else dag_run(hub, url, [van_ban(800000 + i) for i in range(SMALL)], "dag-small")
        d = direct(hub, url, docs)
        g = None if args.no_dag_test else dag_run(hub, url, [van_ban(500000 + i) for i in range(n)])
        # the deployment runs only now: its idle processes must not load the other runs
        extra = dict(item.split("=", 1) for item in args.airflow_env)
        with local_deployment(url, extra) as airflow:
            airflow.unpause(DAG_ID)
            l0, _ = local_run(airflow, hub, [van_ban(900000 + i) for i in range(SMALL)], "local-small")
            loc, timing = local_run(airflow, hub, [van_ban(300000 + i) for i in range(n)], "local")
    finally:
        hub.terminate()
        hub.wait(10)
    load = os.getloadavg()
    print(f"documents: {n} (one signed PDF each), cores: {os.cpu_count()}, load average {load[0]:.1f} "
          f"(shared machine: other jobs may be running)")
    print(f"legacy SOAP call overhead: {soap:.2f} ms/call wall, {soap_cpu:.2f} ms CPU (client + simulator) "
          f"(goal < 2 ms)")
    for name, m in (("direct (lienthong exchange outbound)", d), (f"DAG (dag.test, {DAG_ID})", g),
                    ("DAG (LocalExecutor, REST trigger to finished run)", loc)):
        if m is None:
            continue
        print(f"{name}: {m.wall:.1f} s, {n / m.wall:.1f} documents/s; CPU per document: "
              f"{m.runner_cpu / n * 1000:.0f} ms runner + {m.hub_cpu / n * 1000:.0f} ms hub "
              f"(+ {m.sim_cpu / n * 1000:.0f} ms legacy simulator)")
    print(f"direct documents/s goal >= 50 on 2 cores = at most {2000 / 50:.0f} ms CPU per document, all processes")
    for name, m in (("LocalExecutor", loc), ("dag.test", g)):
        if m is None:
            continue
        print(f"ratio DAG ({name}) / direct: wall {m.wall / d.wall:.2f} (goal <= 1.2), "
              f"CPU (runner + hub) {(m.runner_cpu + m.hub_cpu) / (d.runner_cpu + d.hub_cpu):.2f}")
    print(f"runs of {SMALL} documents first (start-up): direct {d0.wall:.1f} s, LocalExecutor {l0.wall:.1f} s"
          + ("" if g0 is None else f", DAG dag.test {g0.wall:.1f} s (the first dag.test in this process builds "
                                   "Airflow's in-process execution API)"))
    settings = {**local_settings(), **extra}
    print("LocalExecutor deployment (api-server, scheduler, dag-processor; SQLite metadata, parallelism 4): "
          + ", ".join(f"{k.removeprefix('AIRFLOW__')}={v}" for k, v in settings.items()))
    if args.tasks:
        print(f"LocalExecutor run, task instances (seconds from the trigger):\n{timing.table()}")
    shutil.rmtree(HOME, ignore_errors=True)  # kept when a run failed, for its logs


if __name__ == "__main__":
    main()
