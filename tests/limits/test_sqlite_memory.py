"""SQLite's memory per process is bounded by ``sqlite_heap_limit_bytes``, whatever the pool holds.

Each pooled SQLite connection keeps a page cache of up to ``cache_size`` (2 MB) and never gives it
back; a hub worker with two engines of up to 15 connections each grew with the ledger in the
session-4 soak. The soft heap limit is process-wide, so each case runs in a fresh Python process
(the limit of this test process is left alone) and reads SQLite's own counter
(``sqlite3_memory_used``, the same figure ``/metrics`` reports as ``lienthong_sqlite_heap_bytes``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

MiB = 1024 * 1024

# Fills a ledger database with 40 MB of rows, then reads random rows through 10 connections
# held at once from the ledger's read engine (each would cache up to 2 MB), and prints what
# SQLite holds.
_WORKLOAD = r"""
import json, random, sys
from pathlib import Path
from sqlalchemy import text
from gateway.config import HubSettings
from gateway.ledger import Ledger
from gateway.server.process_metrics import _sqlite_memory_used

data, limit = Path(sys.argv[1]), int(sys.argv[2])
ledger = Ledger.open(HubSettings(data_dir=data, sqlite_heap_limit_bytes=limit))
with ledger.engine.begin() as conn:
    conn.exec_driver_sql("CREATE TABLE filler (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v BLOB)")
    conn.execute(text("INSERT INTO filler (k, v) VALUES (:k, randomblob(400))"),
                 [{"k": f"{i:08d}-{random.random()}"} for i in range(100_000)])
keys = [k for (k,) in ledger.engine.connect().exec_driver_sql("SELECT k FROM filler").all()]
held = [ledger.read_engine.connect() for _ in range(10)]
for conn in held:
    for k in random.sample(keys, 4000):
        conn.execute(text("SELECT v FROM filler WHERE k = :k"), {"k": k}).one()
used = _sqlite_memory_used()()
pragma = held[0].exec_driver_sql("PRAGMA soft_heap_limit").scalar_one()
print(json.dumps({"used": used, "pragma": pragma}))
"""


def _run(tmp_path: Path, limit: int) -> dict[str, int]:
    data = tmp_path / f"limit-{limit}"
    out = subprocess.run([sys.executable, "-c", _WORKLOAD, str(data), str(limit)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("limit", [4 * MiB, 16 * MiB])
def test_sqlite_memory_stays_under_the_configured_soft_limit(tmp_path: Path, limit: int) -> None:
    result = _run(tmp_path, limit)
    assert result["pragma"] == limit
    assert result["used"] <= limit * 1.1, f"SQLite holds {result['used'] / MiB:.1f} MiB over a {limit / MiB:.0f} MiB limit"


def test_without_a_limit_the_same_reads_hold_a_cache_per_connection(tmp_path: Path) -> None:
    """The workload above does need the limit: unbounded, ten caches hold well over 16 MiB."""
    result = _run(tmp_path, 0)
    assert result["pragma"] == 0
    assert result["used"] > 16 * MiB


def test_a_negative_limit_is_refused_with_the_setting_named() -> None:
    from gateway.config import HubSettings
    from gateway.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="sqlite_heap_limit_bytes must be >= 0"):
        HubSettings(sqlite_heap_limit_bytes=-1)


def test_the_setting_default_is_the_engine_default() -> None:
    """hub.toml's default and make_engine's (used by the CLI's own engines) are one figure."""
    from gateway.config import HubSettings
    from gateway.ledger.db import DEFAULT_SQLITE_HEAP_LIMIT

    assert HubSettings().sqlite_heap_limit_bytes == DEFAULT_SQLITE_HEAP_LIMIT == 16 * MiB
