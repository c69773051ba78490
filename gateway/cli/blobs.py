"""``lienthong blobs check [--prune]``: orphaned blobs (in the store, not referenced by the ledger)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from gateway.config import load_settings


def register(subparsers: Any) -> None:
    bl = subparsers.add_parser("blobs", help="blob store maintenance", description="Blob store maintenance.")
    sub = bl.add_subparsers(dest="blobs_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "check",
        help="find blobs the ledger does not reference",
        description="List blobs of the hub's store that no ledger submission or message references (left by a "
        "crash between writing a blob and committing it). With --prune, remove those older than the grace "
        "period, recorded in the audit chain (event blobs.prune). Exit status 1 when orphans remain.",
    )
    p.add_argument("--data-dir", type=Path, help="data directory (default $LIENTHONG_DATA_DIR or ./var)")
    p.add_argument("--database-url", help="ledger database URL (default $LIENTHONG_DATABASE_URL or SQLite in data dir)")
    p.add_argument("--prune", action="store_true", help="remove orphans older than the grace period")
    p.add_argument("--grace-hours", type=float, default=24.0, help="minimum age of a pruned orphan (default 24)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from gateway.blobstore import BlobStore
    from gateway.ledger import Ledger
    from gateway.ledger.orphans import find_orphans, prune_orphans

    settings = load_settings(data_dir=args.data_dir, database_url=args.database_url)
    ledger = Ledger.open(settings)
    try:
        store = BlobStore(settings.blob_dir)
        removed = prune_orphans(ledger, store, grace_seconds=args.grace_hours * 3600) if args.prune else []
        left = find_orphans(ledger, store)
    finally:
        ledger.close()
    if args.json:
        print(json.dumps({
            "removed": [{"sha256": o.sha256, "size": o.size} for o in removed],
            "orphans": [{"sha256": o.sha256, "size": o.size, "age_hours": round(o.age_seconds / 3600, 2)}
                        for o in left],
        }, indent=2))  # fmt: skip
    else:
        for o in removed:
            print(f"removed  {o.sha256}  {o.size} bytes")
        for o in left:
            print(f"orphan   {o.sha256}  {o.size} bytes  {o.age_seconds / 3600:.1f} h old")
        pruned = f"; {len(removed)} removed" if args.prune else ""
        print(f"{len(left)} orphaned blob(s), {sum(o.size for o in left)} bytes{pruned}")
    return 1 if left else 0
