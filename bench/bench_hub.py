"""Benchmark: sendEdoc of valid ~50 KB packages against `lienthong serve --workers 2`, SQLite and PostgreSQL.

The load generator runs in a separate process (httpx async) at 1, 16 and 64 concurrent clients;
beside each run, in the same session, the floor: the same server answering a trivial endpoint
(``GET /ping``) at the same concurrency. Prints accepted packages/s, p50/p99 latency, errors and
the ratio to the floor. Usage::

    .venv/bin/python bench/bench_hub.py [--seconds 8] [--clients 1,16,64] [--backends sqlite,postgresql]

PostgreSQL is taken from $LIENTHONG_BENCH_DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test; a fresh schema is created and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYSTEM, SECRET, RECIPIENT_SYSTEM = "bench-h41", "bench-secret", "bench-g22"
MARK = "987654"


def template() -> bytes:
    from gateway.edxml import Organization, build_package
    from gateway.edxml.samples import sample_edoc

    pkg = build_package(sample_edoc(int(MARK), attachments=1, attachment_size=36_000,
                                    recipients=(Organization("000.00.00.G22"),)))
    assert pkg.count(MARK.encode()) >= 2
    return pkg


# -- load generator (separate process) ---------------------------------------------------------------

async def _load(url: str, clients: int, seconds: float, mode: str, offset: int) -> dict[str, object]:
    from gateway.transport.hmac_auth import sdk_file_hash, sign_headers

    base = template() if mode == "send" else b""
    latencies: list[float] = []
    errors = 0
    counter = [offset]
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def one_client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    if mode == "ping":
                        r = await http.get(f"{url}/ping")
                        good = r.status_code == 200
                    else:
                        counter[0] += 1
                        body = base.replace(MARK.encode(), f"{counter[0]:06d}".encode()[-6:].rjust(6, b"0"))
                        body = body.replace(b"UBND-VX</", f"UBND-VX-{counter[0]}</".encode(), 1)
                        headers = sign_headers(SYSTEM, SECRET, {"from": SYSTEM, "servicetype": "eDoc",
                                                                "messagetype": "edoc",
                                                                "hash-file": sdk_file_hash(body)},
                                               content_type="application/octet-stream")
                        r = await http.post(f"{url}/sendEdoc", content=body + b"\r\n",
                                            headers={k: v.encode("latin-1") for k, v in headers.items()})
                        good = r.status_code == 200 and r.json().get("status") == "OK"
                except httpx.HTTPError:
                    good = False
                latencies.append(time.perf_counter() - t0)
                if not good:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    ok = len(latencies) - errors

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")

    return {"requests": len(latencies), "ok": ok, "errors": errors, "per_second": ok / elapsed,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def run_load(url: str, clients: int, seconds: float, mode: str, offset: int) -> dict[str, object]:
    out = subprocess.run([sys.executable, __file__, "--load", url, str(clients), str(seconds), mode, str(offset)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- orchestration -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, db_url: str, port: int) -> subprocess.Popen[bytes]:
    from gateway.config import HubSettings
    from gateway.ledger import Ledger

    settings = HubSettings(data_dir=data_dir, database_url=db_url)
    led = Ledger.open(settings)
    led.add_system(SYSTEM, SECRET, ["000.00.00.H41"])
    led.add_system(RECIPIENT_SYSTEM, "x", ["000.00.00.G22"])
    led.close()
    env = {**os.environ, "LIENTHONG_DATA_DIR": str(data_dir), "LIENTHONG_DATABASE_URL": db_url}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--workers", "2", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=(data_dir / "serve.log").open("wb"), cwd=ROOT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start; see serve.log")


def bench_backend(name: str, db_url: str, clients: list[int], seconds: float, work: Path) -> list[dict[str, object]]:
    port = free_port()
    data = work / name
    data.mkdir()
    proc = start_server(data, db_url, port)
    url = f"http://127.0.0.1:{port}"
    rows: list[dict[str, object]] = []
    try:
        run_load(url, 4, 1.0, "send", 900_000)  # warm-up (connections, caches)
        for i, c in enumerate(clients):
            floor = run_load(url, c, seconds, "ping", 0)
            send = run_load(url, c, seconds, "send", (i + 1) * 100_000)
            rows.append({"backend": name, "clients": c, "floor": floor, "send": send})
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--backends", default="sqlite,postgresql")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                rows += bench_backend("sqlite", f"sqlite:///{work / 'bench.db'}", clients, args.seconds, work)
            elif backend == "postgresql":
                from sqlalchemy import create_engine, text
                from sqlalchemy.engine import make_url

                base = os.environ.get("LIENTHONG_BENCH_DATABASE_URL",
                                      "postgresql+psycopg://postgres@127.0.0.1:5432/test")
                schema = f"bench_{uuid.uuid4().hex[:8]}"
                engine = create_engine(base)
                with engine.begin() as conn:
                    conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
                try:
                    rows += bench_backend("postgresql", url.render_as_string(hide_password=False), clients,
                                          args.seconds, work)
                finally:
                    with engine.begin() as conn:
                        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(f"\nsendEdoc, ~{len(template()) // 1024} KB packages, lienthong serve --workers 2, {args.seconds:g} s per run, "
          f"{os.cpu_count()} CPUs (load generator on the same machine)")
    head = f"{'backend':<11}{'clients':>8} | {'accepted/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7} | " \
           f"{'floor/s':>8}{'p50 ms':>8}{'p99 ms':>8} | {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for r in rows:
        s, f = r["send"], r["floor"]
        assert isinstance(s, dict) and isinstance(f, dict)
        print(f"{r['backend']:<11}{r['clients']:>8} | {s['per_second']:>10.1f}{s['p50_ms']:>8.1f}{s['p99_ms']:>8.1f}"
              f"{s['errors']:>7} | {f['per_second']:>8.1f}{f['p50_ms']:>8.1f}{f['p99_ms']:>8.1f} | "
              f"{s['per_second'] / f['per_second']:>6.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        _, _, url, clients, seconds, mode, offset = sys.argv
        print(json.dumps(asyncio.run(_load(url, int(clients), float(seconds), mode, int(offset)))))
    else:
        main()
