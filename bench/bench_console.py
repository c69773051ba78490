"""Benchmark: the console's documents search and journey page over 1,000,000 ledger messages (PostgreSQL).

A fresh schema in $LIENTHONG_BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
is migrated to 0002, filled with ``INSERT … SELECT … FROM generate_series`` (messages with varied
numbers, subjects, senders, recipients, states and dates over a year; one audit entry per message;
attempts and status events for a tenth), then migrated to head (the console's indexes of migration
0005 are built here, and their build time is printed) and ANALYZEd. A real hub (uvicorn on
127.0.0.1, in this process) serves the console; the script logs in with an operator key and times
full HTTP page loads (render included): searches by number, number prefix, DocumentId, subject
text (trigram), sender + state, recipient, a date range, state DEAD, a deep keyset page, and
journey pages of random documents. Baseline in the same run: ``GET /ping`` on the same server.

    .venv/bin/python bench/bench_console.py [--rows 1000000] [--runs 30] [--keep]

Goals: documents page p95 < 200 ms, journey page p95 < 100 ms. The machine is shared with other
jobs: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "server"))

FILL = """
INSERT INTO messages (id, doc_id, direction, message_type, document_id, sender, recipients, route, destination,
    state, attempts, payload_sha256, payload_size, subject, code, status_code, transport_status,
    created_at, updated_at, delivered_at)
SELECT g, md5('m' || g)::uuid::text, 'out', CASE WHEN g % 10 = 0 THEN 'status' ELSE 'edoc' END,
    '000.00.' || lpad((g % 97)::text, 2, '0') || '.H41,2026/01/01,' || g || '/QĐ-UBND',
    '000.00.' || lpad((g % 97)::text, 2, '0') || '.H41',
    '["000.00.00.G' || lpad((g % 53)::text, 2, '0') || '"]',
    CASE WHEN g % 3 = 0 THEN 'local' ELSE 'upstream' END,
    CASE WHEN g % 3 = 0 THEN 'sys-' || (g % 53) ELSE 'upstream' END,
    (ARRAY['ACKNOWLEDGED','S03_ACCEPTED','SENT','QUEUED','S06_FINISHED','S05_PROCESSING','FAILED','ACKNOWLEDGED',
           'SENT','ACKNOWLEDGED'])[g % 10 + 1],
    1, md5('p' || g) || md5('q' || g), 50000,
    'V/v ' || (ARRAY['triển khai','báo cáo','kế hoạch','hướng dẫn','tổng kết','đề nghị','thông báo','chỉ đạo'])[g % 8 + 1]
        || ' ' || (ARRAY['liên thông văn bản','chuyển đổi số','cải cách hành chính','phòng chống thiên tai',
                         'ngân sách nhà nước','an toàn thông tin','y tế cơ sở','giáo dục phổ thông',
                         'đất đai','giao thông nông thôn','nước sạch'])[g % 11 + 1]
        || ' năm ' || (2020 + g % 7) || ' đợt ' || (g % 13),
    g || '/' || (ARRAY['QĐ-UBND','UBND-VX','BC-STC','KH-SNV','CV-VPCP'])[g % 5 + 1],
    CASE WHEN g % 10 = 0 THEN '03' ELSE NULL END, 'done',
    timestamp '2026-12-01 00:00' - ((:rows - g) * interval '31 seconds'),
    timestamp '2026-12-01 00:00' - ((:rows - g) * interval '31 seconds') + interval '5 minutes',
    timestamp '2026-12-01 00:00' - ((:rows - g) * interval '31 seconds') + interval '2 seconds'
FROM generate_series(1, :rows) g
"""
DEAD = "UPDATE messages SET state = 'DEAD', last_error = 'refused by the next hop' WHERE id % 1000 = 7"
AUDIT = """
INSERT INTO audit_entries (seq, at, actor, event, message_id, document_id, detail, prev_hash, hash)
SELECT g, timestamp '2026-12-01 00:00' - ((:rows - g) * interval '31 seconds'), 'hub', 'message.created', g,
    '000.00.' || lpad((g % 97)::text, 2, '0') || '.H41,2026/01/01,' || g || '/QĐ-UBND',
    '{"state":"QUEUED"}', md5('h' || (g - 1)) || md5('i' || (g - 1)), md5('h' || g) || md5('i' || g)
FROM generate_series(1, :rows) g
"""
ATTEMPTS = """
INSERT INTO attempts (message_id, number, started_at, finished_at, outcome, reason, error, remote_doc_id)
SELECT g, 1, timestamp '2026-12-01', timestamp '2026-12-01',
    CASE WHEN g % 1000 = 7 THEN 'refused' ELSE 'delivered' END,
    CASE WHEN g % 1000 = 7 THEN 'http_403' ELSE NULL END, NULL, md5('r' || g)::uuid::text
FROM generate_series(1, :rows, 10) g
"""
STATUSES = """
INSERT INTO status_events (document_id, from_organ, status_code, description, event_time, received_at)
SELECT '000.00.' || lpad((g % 97)::text, 2, '0') || '.H41,2026/01/01,' || g || '/QĐ-UBND', '000.00.00.G22', '03',
    'Đã tiếp nhận', '2026-11-21 08:30:00', timestamp '2026-12-01'
FROM generate_series(1, :rows, 10) g
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--keep", action="store_true", help="keep the schema (printed) instead of dropping it")
    args = ap.parse_args()

    from hubkit import running_hubs

    from gateway.config import HubSettings
    from gateway.ledger.db import make_engine, upgrade
    from gateway.ledger.operators import add_key

    base = os.environ.get("LIENTHONG_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = f"bench_console_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    print(f"schema {schema}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (machine shared with other jobs)")
    try:
        engine = make_engine(url)
        upgrade(engine, "0002")
        t0 = time.perf_counter()
        with engine.begin() as c:
            for sql in (FILL, DEAD, AUDIT, ATTEMPTS, STATUSES):
                c.execute(text(sql), {"rows": args.rows})
            c.execute(text("UPDATE audit_head SET seq = :rows"), {"rows": args.rows})
            c.execute(text("SELECT setval(pg_get_serial_sequence('messages', 'id'), :rows)"), {"rows": args.rows})
        print(f"fixture: {args.rows:,} messages, {args.rows:,} audit entries, {args.rows // 10:,} attempts and "
              f"statuses in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        upgrade(engine, "head")
        print(f"migration 0005 (console indexes) on the filled ledger: {time.perf_counter() - t0:.1f} s")
        with engine.begin() as c:
            c.execute(text("ANALYZE"))
            trgm = c.execute(text("SELECT count(*) FROM pg_indexes WHERE schemaname = :s AND indexname LIKE '%trgm'"),
                             {"s": schema}).scalar_one()
        print(f"trigram indexes: {trgm} (pg_trgm {'used' if trgm else 'NOT available: substring search scans'})")
        engine.dispose()

        with tempfile.TemporaryDirectory() as tmp:
            settings = HubSettings(data_dir=Path(tmp), database_url=url, node_id="BENCH.W00")
            with running_hubs(settings) as (hub,):
                key = add_key(hub.ledger, "bench")
                c = httpx.Client(base_url=hub.url, headers={"Accept": "text/html"}, timeout=60)
                form = c.get("/console/login").text
                csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
                assert c.post("/console/login", data={"csrf": csrf, "key": key}).status_code == 303
                rnd = random.Random(7)
                n = args.rows

                def rid() -> int:
                    return rnd.randint(1, n)

                searches = {
                    "number (exact)": lambda: {"number": f"{(g := rid())}/" + ["QĐ-UBND", "UBND-VX", "BC-STC", "KH-SNV", "CV-VPCP"][g % 5]},
                    "number (prefix)": lambda: {"number": str(rid())},
                    "DocumentId": lambda: {"document_id": f"000.00.{(g := rid()) % 97:02d}.H41,2026/01/01,{g}/QĐ-UBND", "type": ""},
                    "subject text": lambda: {"subject": rnd.choice(["phòng chống thiên", "an toàn thông tin", "nước sạch năm 2023", "cải cách"])},
                    "subject, rare": lambda: {"subject": f"đợt {rnd.randint(0, 12)} xyz"},
                    "sender + state": lambda: {"sender": f"000.00.{rnd.randint(0, 96):02d}.H41", "state": "S03_ACCEPTED"},
                    "recipient": lambda: {"recipient": f"000.00.00.G{rnd.randint(0, 52):02d}"},
                    "date range": lambda: {"since": "2026-06-01", "until": "2026-06-07"},
                    "date range + subject": lambda: {"since": "2026-03-01", "until": "2026-03-31", "subject": "nước sạch"},
                    "state DEAD": lambda: {"state": "DEAD", "type": ""},
                    "deep keyset page": lambda: {"before": rid()},
                    "no filter": lambda: {},
                }

                def timed(path: str, params: dict | None = None) -> float:
                    t = time.perf_counter()
                    r = c.get(path, params=params)
                    elapsed = (time.perf_counter() - t) * 1000
                    assert r.status_code == 200, (path, params, r.status_code)
                    return elapsed

                floor = [timed("/ping") for _ in range(args.runs)]
                print(f"\nbaseline GET /ping: p50 {statistics.median(floor):.1f} ms, p95 {pct(floor, 0.95):.1f} ms")
                print(f"\n{'documents page':<22} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  ×floor(p50)")
                all95 = []
                for name, make in searches.items():
                    timed("/console/documents", make())  # warm the plan cache
                    samples = [timed("/console/documents", make()) for _ in range(args.runs)]
                    all95.append(pct(samples, 0.95))
                    print(f"{name:<22} {statistics.median(samples):8.1f} {pct(samples, 0.95):8.1f} {max(samples):8.1f}"
                          f"  {statistics.median(samples) / statistics.median(floor):6.1f}")
                journeys = []
                for _ in range(args.runs):
                    doc = c.get("/console/documents", params={"before": rid(), "limit": 1, "type": ""}).text
                    link = re.search(r'href="(/console/documents/[^"?]+)" class="doc-link"', doc).group(1)
                    journeys.append(timed(link))
                print(f"{'journey page':<22} {statistics.median(journeys):8.1f} {pct(journeys, 0.95):8.1f} "
                      f"{max(journeys):8.1f}  {statistics.median(journeys) / statistics.median(floor):6.1f}")
                print(f"\nworst documents p95 {max(all95):.1f} ms (goal < 200), journey p95 {pct(journeys, 0.95):.1f} ms "
                      f"(goal < 100); load average now {os.getloadavg()[0]:.1f}")
    finally:
        if not args.keep:
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
