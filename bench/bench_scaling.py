"""Benchmark: sendEdoc over N ``lienthong serve`` replicas sharing one database and one blob store.

The layout of docs/scaling.md on one machine: N server processes (``--workers 1`` each, started
with ``--no-migrate`` after one schema upgrade) over one PostgreSQL schema (or one SQLite file)
and one data directory. In the same run, first the baseline: one replica alone with all the
clients; then N replicas, the clients split evenly, one wrk per replica running at the same time
(a load balancer's even spread). Printed: accepted/s per replica, the total, the ratio total /
baseline, p50/p99 per replica, server CPU per accepted package, and the load average. No goal is
asserted: on a 2-core machine N > 2 replicas can only share the same two cores, so the ratio shows
the shared database and blob store cost nothing extra, not that throughput multiplies; that needs
more cores (docs/scaling.md). Correctness of the same layout is tests/server/test_hub_replicas.py.

Usage::

    .venv/bin/python bench/bench_scaling.py [--replicas 3] [--clients 48] [--seconds 5] [--backend postgresql]

PostgreSQL from $LIENTHONG_BENCH_DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test; a fresh schema is created and dropped).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_hub as hub  # noqa: E402


def start_replicas(data_dir: Path, db_url: str, count: int, timeout: float = 300.0) -> list[tuple[int, subprocess.Popen[bytes]]]:
    env = {**os.environ, "LIENTHONG_DATA_DIR": str(data_dir), "LIENTHONG_DATABASE_URL": db_url}
    out = []
    for n in range(count):
        port = hub.free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--workers", "1", "--port", str(port), "--no-migrate"],
            env=env, stdout=subprocess.DEVNULL, stderr=(data_dir / f"serve-{n}.log").open("wb"), cwd=ROOT,
        )
        out.append((port, proc))
    deadline = time.monotonic() + timeout
    for port, proc in out:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                stop(out)
                logs = "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(data_dir.glob("serve-*.log")))
                raise SystemExit(f"replica on port {port} did not start (exit {proc.poll()}); logs:\n{logs}")
            time.sleep(0.2)
    return out


def stop(replicas: list[tuple[int, subprocess.Popen[bytes]]]) -> None:
    for _port, proc in replicas:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for _port, proc in replicas:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def load(replicas: list[tuple[int, subprocess.Popen[bytes]]], clients: int, seconds: float, work: Path,
         offset: int, max_rate: float) -> list[dict[str, float]]:
    """One wrk per replica at the same time, ``clients`` split evenly; one result per replica."""
    parts = work / "parts.bin"
    hub.write_parts(parts)
    per = max(1, clients // len(replicas))
    files = []
    for n, (port, _proc) in enumerate(replicas):
        path = work / f"requests-{offset}-{n}.bin"
        hub.write_requests(path, port, int(max_rate * seconds / len(replicas)) + 100, offset + n * 100_000)
        files.append(path)
    results: list[dict[str, float]] = [{} for _ in replicas]

    def one(n: int) -> None:
        port, proc = replicas[n]
        results[n] = hub.run_wrk(f"http://127.0.0.1:{port}", per, seconds, files[n], parts, proc.pid)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(replicas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def run(db_url: str, args: argparse.Namespace, work: Path) -> None:
    from gateway.config import HubSettings
    from gateway.ledger import Ledger

    data = work / "data"
    data.mkdir()
    led = Ledger.open(HubSettings(data_dir=data, database_url=db_url))  # the one schema upgrade
    led.add_system(hub.SYSTEM, hub.SECRET, ["000.00.00.H41"])
    led.add_system(hub.RECIPIENT_SYSTEM, "x", ["000.00.00.G22"])
    led.close()
    rows: list[tuple[str, list[dict[str, float]]]] = []
    for count, label in ((1, "1 replica"), (args.replicas, f"{args.replicas} replicas")):
        replicas = start_replicas(data, db_url, count)
        try:
            load(replicas, 8, 1.0, work, 900_000 + 10_000 * count, args.max_rate)  # warm-up
            rows.append((label, load(replicas, args.clients, args.seconds, work, 1_000_000 * count, args.max_rate)))
        finally:
            stop(replicas)
    print(f"\nsendEdoc, ~{len(hub.template()) // 1024} KB packages, {args.backend}, {args.clients} clients in all, "
          f"{args.seconds:g} s, {os.cpu_count()} CPUs (wrk on the same machine); "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    base = sum(r["per_second"] for r in rows[0][1])
    for label, results in rows:
        total = sum(r["per_second"] for r in results)
        srv = sum(r["srv_cpu"] for r in results)
        errors = sum(r["errors"] for r in results)
        db = results[0]["db_cpu"]  # PostgreSQL's processes over the same interval (machine-wide: counted once)
        print(f"{label:<11} total {total:8.1f} accepted/s  ratio to 1 replica {total / base:5.2f}x  errors {errors:.0f}  "
              f"server CPU {10 * srv / max(total, 1e-9):5.2f} ms/pkg  PostgreSQL CPU {10 * db / max(total, 1e-9):5.2f} ms/pkg")
        for n, r in enumerate(results):
            flag = " (ran out of distinct packages: raise --max-rate)" if r["repeats"] else ""
            print(f"    replica {n}: {r['per_second']:8.1f} accepted/s  p50 {r['p50_ms']:6.1f} ms  "
                  f"p99 {r['p99_ms']:6.1f} ms  cpu {r['srv_cpu']:4.0f} % of a core{flag}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--clients", type=int, default=48)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--max-rate", type=float, default=1500.0, help="distinct packages prepared per second of run")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        work = Path(tmp)
        if args.backend == "sqlite":
            run(f"sqlite:///{work / 'bench.db'}", args, work)
            return
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        base = os.environ.get("LIENTHONG_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        engine = create_engine(base)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            run(make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
                .render_as_string(hide_password=False), args, work)
        finally:
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            engine.dispose()


if __name__ == "__main__":
    main()
