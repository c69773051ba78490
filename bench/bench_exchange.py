"""Benchmark: legacy documents through the outbound DAG (dag.test) and through ``lienthong exchange outbound``.

Each document is a QLVB legacy document with one PDF that gets the agency's Decree 30 signature
(stamping included), sent to a real hub (``lienthong serve`` on 127.0.0.1) and acknowledged to the
QLVB simulator. Both runs use the same code path (gateway.exchange.flows) on their own work
folders and simulators, in the same process run, so the ratio is measured under the same load.
Also measured: the legacy SOAP call overhead (an empty ``LayDanhSachVanBanChoGui``) over keep-alive.

    .venv/bin/python bench/bench_exchange.py [--docs 1000] [--large]   # --large = 5,000 documents

Goals: SOAP call < 2 ms; DAG wall time <= 1.2 x direct; direct >= 50 documents/s on 2 cores.
The machine may be shared (other jobs running): read the figures with the load average printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME = tempfile.mkdtemp(prefix="bench-exchange-")
os.environ.update({"AIRFLOW_HOME": f"{HOME}/airflow", "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                   "AIRFLOW__CORE__UNIT_TEST_MODE": "True", "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                   "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
                   "LIENTHONG_LEASE_DATABASE_URL": f"sqlite:///{HOME}/leases.db"})
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "dags")]

from exchange_kit import PROFILES, van_ban  # noqa: E402

from gateway.legacy_sim import QlvbSimulator  # noqa: E402

BIN = Path(sys.executable).with_name("lienthong")
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
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("hub did not start")


def soap_overhead(calls: int = 300) -> float:
    from gateway.adapters import AdapterRegistry
    from gateway.transport.soap import LegacySoapConnector

    with QlvbSimulator() as sim:
        connector = LegacySoapConnector(AdapterRegistry().get("qlvb_soap"), sim.endpoint)
        connector.pending()
        t = time.perf_counter()
        for _ in range(calls):
            connector.pending()
        connector.close()
        return (time.perf_counter() - t) / calls * 1000


def direct(hub_url: str, docs: list[bytes]) -> float:
    with QlvbSimulator() as sim:
        for d in docs:
            sim.queue(d)
        env = {**os.environ, "LIENTHONG_AXIS_URL": hub_url, "LIENTHONG_AXIS_SYSTEM_ID": NA[0],
               "LIENTHONG_AXIS_SECRET": NA[1]}
        t = time.perf_counter()
        done = subprocess.run([BIN, "exchange", "outbound", "--work", f"{HOME}/direct", "--legacy", sim.endpoint,
                               "--profile", "ubnd-thu-nghiem", "--profiles", str(PROFILES), "--json"],
                              env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout)["stages"]["send"]["ok"] == len(docs)
        assert len(sim.acknowledged) == len(docs)
        return wall


def dag_run(hub_url: str, docs: list[bytes]) -> float:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    db.resetdb()
    dag = DagBag(dag_folder=str(ROOT / "dags")).dags["lienthong_outbound_qlvb_soap"]
    with QlvbSimulator() as sim:
        for d in docs:
            sim.queue(d)
        host, port = hub_url.removeprefix("http://").split(":")
        os.environ["AIRFLOW_CONN_LIENTHONG_HUB"] = json.dumps(
            {"conn_type": "http", "host": host, "port": int(port), "login": NA[0], "password": NA[1]})
        os.environ["AIRFLOW_CONN_LIENTHONG_LEGACY"] = sim.endpoint
        t = time.perf_counter()
        run = dag.test(run_conf={"work_dir": f"{HOME}/dag", "signing_profiles": str(PROFILES)})
        wall = time.perf_counter() - t
        assert run.state == "success", run.state
        assert len(sim.acknowledged) == len(docs)
        return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--large", action="store_true", help="5,000 documents")
    args = parser.parse_args()
    n = 5000 if args.large else args.docs
    docs = [van_ban(100000 + i) for i in range(n)]
    hub, url = start_hub()
    try:
        soap = soap_overhead()
        t_direct = direct(url, docs)
        t_dag = dag_run(url, [van_ban(500000 + i) for i in range(n)])
    finally:
        hub.terminate()
        hub.wait(10)
    load = os.getloadavg()
    print(f"documents: {n} (one signed PDF each), cores: {os.cpu_count()}, load average {load[0]:.1f} "
          f"(shared machine: other jobs may be running)")
    print(f"legacy SOAP call overhead: {soap:.2f} ms/call (goal < 2 ms)")
    print(f"direct (lienthong exchange outbound): {t_direct:.1f} s, {n / t_direct:.1f} documents/s (goal >= 50/s)")
    print(f"DAG (dag.test, lienthong_outbound_qlvb_soap): {t_dag:.1f} s, {n / t_dag:.1f} documents/s")
    print(f"ratio DAG / direct: {t_dag / t_direct:.2f} (goal <= 1.2)")


if __name__ == "__main__":
    main()
