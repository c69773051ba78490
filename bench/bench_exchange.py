"""Benchmark: legacy documents through ``lienthong exchange outbound`` and the outbound DAG (dag.test, LocalExecutor).

Each document is a QLVB legacy document with one PDF that gets the agency's Decree 30 signature
(stamping included), sent to a real hub (``lienthong serve`` on 127.0.0.1) and acknowledged to the
QLVB simulator (``lienthong legacy-sim``, its own process). Every path runs the same code
(gateway.exchange.flows) on its own work folder and simulator, in one bench run:

1. direct: ``lienthong exchange outbound`` (a child process);
2. ``dag.test()`` of ``lienthong_outbound_qlvb_soap`` in this process (``--no-dag-test`` leaves it out);
3. LocalExecutor: a real deployment (bench/airflow_local.py: api-server, scheduler, dag-processor,
   SQLite metadata, parallelism 4, scripts/airflow-local.env applied as airflow-standalone.sh applies
   it; ``--airflow-env NAME=VALUE`` overrides), the run triggered through the REST API and timed
   until the API reports it finished; started only after the other runs, so its idle processes do
   not load them;
4. direct again: the ratios divide by the mean of the two direct runs, which bracket the DAG runs.

Each path first runs 20 documents (start-up, printed apart). Also measured: the legacy SOAP call
overhead (an empty ``LayDanhSachVanBanChoGui``) over keep-alive.

    .venv/bin/python bench/bench_exchange.py [--docs 1000] [--large] [--tasks]   # --large = 5,000 documents

Goals (#10): SOAP call < 2 ms; DAG (LocalExecutor) wall time <= 1.2 x direct; direct >= 50
documents/s on 2 cores (= at most 40 ms of CPU per document over all processes); the last line
says which are met, and the exit status is 1 when one is not (``make bench`` reports it). CPU per document
is printed for the runner (the CLI process; this process for dag.test; every process of the
deployment under LocalExecutor), the hub and the simulator. ``--tasks`` prints the LocalExecutor
run's task instances (queued, start, end from the trigger) and its CPU by process. The machine
may be shared: read the figures with the load average printed. Figures: docs/airflow.md, "Benchmark".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
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


def local_deployment(hub_url: str, extra: dict[str, str], home: str) -> LocalAirflow:
    config = Path(HOME) / "exchanges.toml"
    config.write_text(LOCAL_CONFIG, encoding="utf-8")
    host, port = hub_url.removeprefix("http://").split(":")
    os.environ.pop("AIRFLOW_CONN_LIENTHONG_LEGACY", None)  # dag.test's: an env connection would win
    env = {"LIENTHONG_EXCHANGES": str(config), "AIRFLOW_CONN_LIENTHONG_HUB": json.dumps(
        {"conn_type": "http", "host": host, "port": int(port), "login": NA[0], "password": NA[1]}),
        **local_settings(), **extra}
    return LocalAirflow(Path(HOME) / home, ROOT / "dags", env)


def mean(a: Measured, b: Measured) -> Measured:
    return Measured((a.wall + b.wall) / 2, (a.runner_cpu + b.runner_cpu) / 2, (a.hub_cpu + b.hub_cpu) / 2,
                    (a.sim_cpu + b.sim_cpu) / 2)


@dataclass
class Round:
    """One LocalExecutor round: a fresh deployment, its start-up run, the measured run, and the
    direct runs before and after it (the ratio's baseline is their mean)."""

    start_up: float
    dag: Measured
    timing: RunTiming
    baseline: Measured

    @property
    def ratio(self) -> float:
        return self.dag.wall / self.baseline.wall


def local_rounds(hub: subprocess.Popen[bytes], url: str, n: int, before: Measured, repeat: int,
                 extra: dict[str, str]) -> list[Round]:
    """``repeat`` rounds, each bracketed by direct runs: direct, DAG, direct, DAG, direct, ...

    Each round starts its own deployment and stops it before the next direct run, so the
    deployment's idle processes never load a direct run, and a machine that got slower or faster
    meanwhile (a shared VM does) does not pass for the DAG's cost.
    """
    rounds = []
    for r in range(repeat):
        with local_deployment(url, extra, f"airflow-local-{r}") as airflow:
            airflow.unpause(DAG_ID)
            start_up, _ = local_run(airflow, hub, [van_ban(900000 + r * SMALL + i) for i in range(SMALL)],
                                    f"local-small-{r}")
            dag, timing = local_run(airflow, hub, [van_ban(1_000_000 * (r + 2) + i) for i in range(n)], f"local-{r}")
        after = direct(hub, url, [van_ban(1_000_000 * (r + 2) + 500_000 + i) for i in range(n)], f"direct-{r}")
        rounds.append(Round(start_up.wall, dag, timing, mean(before, after)))
        before = after
    return rounds


def per_document(name: str, m: Measured, n: int) -> str:
    return (f"{name}: {m.wall:.1f} s, {n / m.wall:.1f} documents/s; CPU per document: "
            f"{m.runner_cpu / n * 1000:.0f} ms runner + {m.hub_cpu / n * 1000:.0f} ms hub "
            f"(+ {m.sim_cpu / n * 1000:.0f} ms legacy simulator)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--large", action="store_true", help="5,000 documents (one LocalExecutor round unless --repeat)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="LocalExecutor rounds, each between two direct runs (default 3; 1 with --large)")
    parser.add_argument("--tasks", action="store_true", help="print the median round's task instances and CPU")
    parser.add_argument("--no-dag-test", action="store_true", help="leave out the dag.test runs")
    parser.add_argument("--airflow-env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the LocalExecutor deployment over scripts/airflow-local.env's, "
                             "e.g. AIRFLOW__CORE__EXECUTOR=LocalExecutor")
    args = parser.parse_args()
    # SIGTERM (a timeout, a kill) unwinds like an error: the hub, the simulators and the deployment stop
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    n = 5000 if args.large else args.docs
    repeat = args.repeat or (1 if args.large else 3)
    extra = dict(item.split("=", 1) for item in args.airflow_env)
    hub, url = start_hub()
    try:
        soap, soap_cpu = soap_overhead()
        # first with SMALL documents: what each path costs before its first document (the CLI's process
        # start and imports; for dag.test, Airflow's in-process execution API, built once per process as
        # a deployment builds it once at api-server start), printed apart; each LocalExecutor round
        # has its own start-up run
        d0 = direct(hub, url, [van_ban(700000 + i) for i in range(SMALL)], work="direct-small")
        g0 = None if args.no_dag_test else dag_run(hub, url, [van_ban(800000 + i) for i in range(SMALL)], "dag-small")
        g = None if args.no_dag_test else dag_run(hub, url, [van_ban(500000 + i) for i in range(n)])
        d = direct(hub, url, [van_ban(100000 + i) for i in range(n)])
        rounds = local_rounds(hub, url, n, d, repeat, extra)
    finally:
        hub.terminate()
        hub.wait(10)
    load = os.getloadavg()
    print(f"documents: {n} (one signed PDF each), cores: {os.cpu_count()}, load average {load[0]:.1f} "
          f"(shared machine: other jobs may be running)")
    print(f"legacy SOAP call overhead: {soap:.2f} ms/call wall, {soap_cpu:.2f} ms CPU (client + simulator) "
          f"(goal < 2 ms)")
    print(per_document("direct (lienthong exchange outbound), first run", d, n))
    print(f"direct documents/s goal >= 50 on 2 cores = at most {2000 / 50:.0f} ms CPU per document, all processes")
    if g is not None:
        print(per_document(f"DAG (dag.test, {DAG_ID})", g, n))
        first = rounds[0].baseline
        print(f"ratio DAG (dag.test) / direct: wall {g.wall / d.wall:.2f} (goal <= 1.2), "
              f"CPU (runner + hub) {(g.runner_cpu + g.hub_cpu) / (d.runner_cpu + d.hub_cpu):.2f} "
              f"(direct runs bracketing the first LocalExecutor round: {first.wall:.1f} s on average)")
    for i, r in enumerate(rounds):
        print(per_document(f"DAG (LocalExecutor round {i + 1}, REST trigger to finished run)", r.dag, n)
              + f"; direct around it {r.baseline.wall:.1f} s; ratio wall {r.ratio:.2f}, CPU (runner + hub) "
              f"{(r.dag.runner_cpu + r.dag.hub_cpu) / (r.baseline.runner_cpu + r.baseline.hub_cpu):.2f}")
    middle = sorted(rounds, key=lambda r: r.ratio)[len(rounds) // 2]
    print(f"ratio DAG (LocalExecutor) / direct, median of {len(rounds)} round(s): wall {middle.ratio:.2f} "
          f"(goal <= 1.2); rounds: {', '.join(f'{r.ratio:.2f}' for r in rounds)}")
    print(f"runs of {SMALL} documents first (start-up): direct {d0.wall:.1f} s, LocalExecutor "
          + ", ".join(f"{r.start_up:.1f}" for r in rounds) + " s"
          + ("" if g0 is None else f", DAG dag.test {g0.wall:.1f} s (the first dag.test in this process builds "
                                   "Airflow's in-process execution API)"))
    settings = {**local_settings(), **extra}
    print("LocalExecutor deployment (api-server, scheduler, dag-processor; SQLite metadata, parallelism 4): "
          + ", ".join(f"{k.removeprefix('AIRFLOW__')}={v}" for k, v in settings.items()))
    if args.tasks:
        print(f"LocalExecutor, median round, task instances (seconds from the trigger):\n{middle.timing.table()}")
    shutil.rmtree(HOME, ignore_errors=True)  # kept when a run failed, for its logs
    goals = {"SOAP call < 2 ms": soap < 2, "direct >= 50 documents/s": n / d.wall >= 50,
             "DAG (LocalExecutor, median round) <= 1.2x direct": middle.ratio <= 1.2}
    print("goals (#10): " + "; ".join(f"{k}: {'MET' if ok else 'NOT MET'}" for k, ok in goals.items()))
    if not all(goals.values()):
        raise SystemExit(1)  # make bench reports the miss


if __name__ == "__main__":
    main()
