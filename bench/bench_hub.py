"""Benchmark: sendEdoc of valid ~50 KB packages against `lienthong serve --workers 2`, SQLite and PostgreSQL.

The load generator is wrk (Debian package ``wrk``) driven by ``bench/wrk_hub.lua``: this script
pre-computes, just before each run, one distinct package per request with the SDK's HMAC headers
(fresh ``timestamp``, so the hub's default 900 s window is respected) and wrk replays them from C,
so the generator is not the bottleneck. Each row is measured at 1, 16 and 64 concurrent clients;
beside it, in the same session, the floor: the same server answering a trivial endpoint
(``GET /ping``) at the same concurrency. Printed per run: accepted packages/s, p50/p99 latency,
errors (non-200, a FAIL answer, socket errors, timeouts), the ratio to the floor, and where the
CPU went (% of one core: the generator, the server's processes, and the whole machine over its
cores, so load from other jobs on a shared box is visible). Usage::

    .venv/bin/python bench/bench_hub.py [--seconds 5] [--clients 1,16,64] [--backends sqlite,postgresql] [--hostile] [--ports 18610-18619]

``--hostile`` adds, per backend, 63 clean clients alone and then beside one hostile client (over-long
DocumentId/Code, a lying hash-file, 20,000 junk attributes): the clean clients' accepted/s and p99
should stay within 10 % (issue #14).

PostgreSQL is taken from $LIENTHONG_BENCH_DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/test; a fresh schema is created and dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
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
LUA = ROOT / "bench" / "wrk_hub.lua"

SYSTEM, SECRET, RECIPIENT_SYSTEM = "bench-h41", "bench-secret", "bench-g22"
MARK = b"987654"
TICK = os.sysconf("SC_CLK_TCK")


def template() -> bytes:
    from gateway.edxml import Organization, build_package
    from gateway.edxml.samples import sample_edoc

    pkg = build_package(sample_edoc(int(MARK), attachments=1, attachment_size=36_000,
                                    recipients=(Organization("000.00.00.G22"),)))
    assert pkg.count(MARK) >= 2
    return pkg


def template_parts() -> tuple[list[bytes], list[int]]:
    """The package (plus the SDK's trailing CRLF) cut at its variable places, and each gap's kind.

    Kind 2 = the 6-digit mark (DocumentId number, code number, content ids), kind 1 = the
    notation suffix; together they make every request a different document.
    """
    tpl = template().replace(b"UBND-VX</", b"UBND-VX-\x01</", 1).replace(MARK, b"\x02") + b"\r\n"
    pieces = re.split(rb"([\x01\x02])", tpl)
    return pieces[0::2], [p[0] for p in pieces[1::2]]


def fill(kinds: list[int], n: int) -> list[str]:
    return [f"{n % 1_000_000:06d}" if k == 2 else str(n) for k in kinds]


def _record(data: bytes) -> bytes:
    return str(len(data)).encode() + b"\n" + data


def write_requests(path: Path, port: int, count: int, offset: int) -> None:
    """``count`` distinct signed sendEdoc requests (head + gap values) for wrk_hub.lua."""
    from gateway.transport.hmac_auth import sdk_file_hash, sign_headers

    parts, kinds = template_parts()
    with path.open("wb") as out:
        for i in range(count):
            values = fill(kinds, offset + i)
            body = b"".join(p + (values[j].encode() if j < len(values) else b"") for j, p in enumerate(parts))
            headers = sign_headers(SYSTEM, SECRET, {"from": SYSTEM, "servicetype": "eDoc", "messagetype": "edoc",
                                                    "hash-file": sdk_file_hash(body[:-2])},
                                   content_type="application/octet-stream")
            head = f"POST /sendEdoc HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            head += f"Content-Length: {len(body)}\r\n\r\n"
            out.write(_record(head.encode("latin-1")) + _record("\t".join(values).encode()))


def write_parts(path: Path) -> None:
    parts, _ = template_parts()
    path.write_bytes(b"".join(_record(p) for p in parts))


# -- CPU accounting ---------------------------------------------------------------------------------

def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime+stime ticks) of a process, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by ``root`` and all its descendants (the uvicorn workers)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (st := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = st
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        todo += [p for p, (ppid, _) in table.items() if ppid == pid]
    return total / TICK


def postgres_cpu() -> float:
    """CPU seconds used so far by the PostgreSQL server processes on this machine (0 if none)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
            fields = text.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / TICK


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return float(sum(fields) - idle), float(sum(fields))


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# -- one run -----------------------------------------------------------------------------------------

def run_wrk(url: str, clients: int, seconds: float, requests: Path | None, parts: Path,
            server_pid: int) -> dict[str, float]:
    threads = 1 if clients < 4 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(LUA),
           url, "--", str(parts), str(requests) if requests else "ping", str(threads)]
    gen0, srv0, db0 = children_cpu(), tree_cpu(server_pid), postgres_cpu()
    (busy0, all0), t0 = machine_busy(), time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    gen, srv, db = children_cpu() - gen0, tree_cpu(server_pid) - srv0, postgres_cpu() - db0
    busy1, all1 = machine_busy()
    res = json.loads(out.stdout.strip().splitlines()[-1])
    errors = res["bad_answers"] + res["connect"] + res["read"] + res["write"] + res["timeout"]
    ok = res["requests"] - res["bad_answers"]
    cores = os.cpu_count() or 1
    return {"per_second": ok / (res["duration_us"] / 1e6), "p50_ms": res["p50_us"] / 1000,
            "p99_ms": res["p99_us"] / 1000, "errors": errors, "repeats": res["repeats"],
            "gen_cpu": 100 * gen / wall, "srv_cpu": 100 * srv / wall, "db_cpu": 100 * db / wall,
            "machine": 100 * cores * (busy1 - busy0) / max(1.0, all1 - all0)}


# -- orchestration -----------------------------------------------------------------------------------

PORTS: list[int] = []
"""Ports to use, in turn, before asking the kernel for a free one (``--ports 18610-18619``)."""


def free_port() -> int:
    if PORTS:
        return PORTS.pop(0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(data_dir: Path, db_url: str, port: int, workers: int,
                 timeout: float | None = None) -> subprocess.Popen[bytes]:
    if timeout is None:  # a saturated shared box can need minutes to import the app in every worker
        timeout = float(os.environ.get("LIENTHONG_BENCH_START_TIMEOUT", "300"))
    from gateway.config import HubSettings
    from gateway.ledger import Ledger

    settings = HubSettings(data_dir=data_dir, database_url=db_url)
    led = Ledger.open(settings)
    led.add_system(SYSTEM, SECRET, ["000.00.00.H41"])
    led.add_system(RECIPIENT_SYSTEM, "x", ["000.00.00.G22"])
    led.close()
    env = {**os.environ, "LIENTHONG_DATA_DIR": str(data_dir), "LIENTHONG_DATABASE_URL": db_url}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--workers", str(workers), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=(data_dir / "serve.log").open("wb"), cwd=ROOT)
    deadline = time.monotonic() + timeout  # uvicorn restarts slow workers on a loaded box
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.terminate()  # SIGTERM: uvicorn stops its workers too (SIGKILL left them orphaned)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    raise SystemExit("server did not start; see serve.log")


def bench_backend(name: str, db_url: str, args: argparse.Namespace, work: Path) -> list[dict[str, object]]:
    port = free_port()
    data = work / name
    data.mkdir()
    proc = start_server(data, db_url, port, args.workers)
    url = f"http://127.0.0.1:{port}"
    parts, reqs = work / "parts.bin", work / "requests.bin"
    write_parts(parts)
    rows: list[dict[str, object]] = []
    try:
        write_requests(reqs, port, 400, 900_000)
        run_wrk(url, 8, 1.0, reqs, parts, proc.pid)  # warm-up (connections, caches, JIT of the SQL)
        for i, c in enumerate(args.clients):
            floor = run_wrk(url, c, args.seconds, None, parts, proc.pid)
            write_requests(reqs, port, int(args.max_rate * args.seconds) + 100, (i + 1) * 100_000)
            send = run_wrk(url, c, args.seconds, reqs, parts, proc.pid)
            rows.append({"backend": name, "clients": c, "floor": floor, "send": send})
            print(f"  {name} {c}: {send}", file=sys.stderr)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    return rows


# -- hostile neighbour (issue #14): 1 client in 64 sends packages meant to hurt -------------------------

def hostile_bodies() -> list[tuple[str, bytes]]:
    """Packages a hostile client sends: over-long fields (they used to poison a whole group commit on
    PostgreSQL), a lying hash-file, and a header element with 20,000 junk attributes."""
    from dataclasses import replace

    from gateway.edxml import Organization, build_package
    from gateway.edxml.model import Code
    from gateway.edxml.samples import sample_edoc

    e = sample_edoc(555_000, attachments=1, recipients=(Organization("000.00.00.G22"),))
    long_id = build_package(replace(e, header=replace(e.header, document_id=e.header.document_id + "x" * 600)))
    long_code = build_package(replace(e, header=replace(e.header, code=Code("9" * 300, "UBND"))))
    junk = " ".join(f'j{i}="x"' for i in range(20_000))
    plain = build_package(sample_edoc(555_001, attachments=1, recipients=(Organization("000.00.00.G22"),)))
    attrs = plain.replace(b"<edXML:Subject>", f"<edXML:Subject {junk}>".encode(), 1)
    return [("long DocumentId", long_id), ("long Code", long_code), ("junk attributes", attrs), ("bad hash", plain)]


def hostile_client(url: str, stop: threading.Event, counts: dict[str, int]) -> None:
    from gateway.transport.hmac_auth import sdk_file_hash, sign_headers

    bodies = hostile_bodies()
    with httpx.Client(timeout=60) as client:
        i = 0
        while not stop.is_set():
            kind, body = bodies[i % len(bodies)]
            i += 1
            digest = sdk_file_hash(body) if kind != "bad hash" else "0" * 64
            headers = sign_headers(SYSTEM, SECRET, {"from": SYSTEM, "servicetype": "eDoc", "messagetype": "edoc",
                                                    "hash-file": digest}, content_type="application/octet-stream")
            try:
                r = client.post(f"{url}/sendEdoc", content=body + b"\r\n", headers=headers)
                key = f"{kind}: HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                key = f"{kind}: {type(exc).__name__}"
            counts[key] = counts.get(key, 0) + 1


def bench_hostile(name: str, db_url: str, args: argparse.Namespace, work: Path) -> None:
    """63 clean wrk clients alone, then the same with 1 hostile client beside them; ratios printed."""
    port = free_port()
    data = work / f"{name}-hostile"
    data.mkdir()
    proc = start_server(data, db_url, port, args.workers)
    url = f"http://127.0.0.1:{port}"
    parts, reqs = work / "parts.bin", work / "requests.bin"
    write_parts(parts)
    try:
        write_requests(reqs, port, 400, 800_000)
        run_wrk(url, 8, 1.0, reqs, parts, proc.pid)
        write_requests(reqs, port, int(args.max_rate * args.seconds) + 100, 810_000)
        clean = run_wrk(url, 63, args.seconds, reqs, parts, proc.pid)
        write_requests(reqs, port, int(args.max_rate * args.seconds) + 100, 820_000)
        stop, counts = threading.Event(), {}
        t = threading.Thread(target=hostile_client, args=(url, stop, counts), daemon=True)
        t.start()
        time.sleep(0.5)
        hostile = run_wrk(url, 63, args.seconds, reqs, parts, proc.pid)
        stop.set()
        t.join(60)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    rate = hostile["per_second"] / max(clean["per_second"], 1e-9)
    p99 = hostile["p99_ms"] / max(clean["p99_ms"], 1e-9)
    print(f"\nhostile neighbour, {name}: 63 clean clients alone vs beside 1 hostile client ({args.seconds:g} s each)")
    print(f"  clean    : {clean['per_second']:.1f}/s p99 {clean['p99_ms']:.1f} ms errors {clean['errors']}")
    print(f"  +hostile : {hostile['per_second']:.1f}/s p99 {hostile['p99_ms']:.1f} ms errors {hostile['errors']}")
    print(f"  ratios   : accepted/s {rate:.3f}, p99 {p99:.3f} (goal: within 10 %: "
          f"{'met' if rate >= 0.9 and p99 <= 1.1 else 'NOT met'}); hostile answers {counts}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--clients", default="1,16,64")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--workers", type=int, default=2, help="lienthong serve --workers")
    ap.add_argument("--max-rate", type=float, default=1500.0,
                    help="distinct packages prepared per second of run (a run that needs more is flagged)")
    ap.add_argument("--hostile", action="store_true",
                    help="also run 63 clean clients with and without 1 hostile client (issue #14)")
    ap.add_argument("--ports", default="", help="a range such as 18610-18619 for the servers started (default: any free)")
    args = ap.parse_args()
    if args.ports:
        low, high = (int(x) for x in args.ports.split("-"))
        PORTS.extend(range(low, high + 1))
    args.clients = [int(c) for c in args.clients.split(",")]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="bench-hub-") as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            if backend == "sqlite":
                rows += bench_backend("sqlite", f"sqlite:///{work / 'bench.db'}", args, work)
                if args.hostile:
                    bench_hostile("sqlite", f"sqlite:///{work / 'hostile.db'}", args, work)
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
                    rows += bench_backend("postgresql", url.render_as_string(hide_password=False), args, work)
                    if args.hostile:
                        with engine.begin() as conn:
                            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                        bench_hostile("postgresql", url.render_as_string(hide_password=False), args, work)
                finally:
                    with engine.begin() as conn:
                        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    print(f"\nsendEdoc, ~{len(template()) // 1024} KB packages, lienthong serve --workers {args.workers}, "
          f"{args.seconds:g} s per run, {os.cpu_count()} CPUs; generator wrk on the same machine")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (uptime)")
    print("srv ms/pkg: server CPU time per accepted package (the figure least affected by other load)")
    print("cpu columns: % of one core used by the generator / the server processes / PostgreSQL / the whole "
          "machine (all cores; what the first three do not explain is other load on the box)")
    head = (f"{'backend':<11}{'clients':>8} | {'accepted/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'errors':>7} "
            f"{'cpu gen/srv/db/all':>19} | {'floor/s':>8}{'p50 ms':>8}{'p99 ms':>8} {'cpu gen/srv/db/all':>19} | "
            f"{'ratio':>6} {'srv ms/pkg':>10}")
    print(head)
    print("-" * len(head))
    for r in rows:
        s, f = r["send"], r["floor"]
        assert isinstance(s, dict) and isinstance(f, dict)
        flag = " (ran out of distinct packages: raise --max-rate)" if s["repeats"] else ""
        print(f"{r['backend']:<11}{r['clients']:>8} | {s['per_second']:>10.1f}{s['p50_ms']:>8.1f}{s['p99_ms']:>8.1f}"
              f"{s['errors']:>7} {s['gen_cpu']:>4.0f}/{s['srv_cpu']:>4.0f}/{s['db_cpu']:>4.0f}/{s['machine']:>4.0f} | "
              f"{f['per_second']:>8.1f}{f['p50_ms']:>8.1f}{f['p99_ms']:>8.1f} "
              f"{f['gen_cpu']:>4.0f}/{f['srv_cpu']:>4.0f}/{f['db_cpu']:>4.0f}/{f['machine']:>4.0f} | "
              f"{s['per_second'] / f['per_second']:>6.3f} {10 * s['srv_cpu'] / max(s['per_second'], 1e-9):>10.2f}{flag}")


if __name__ == "__main__":
    main()
