"""``lienthong serve | db | systems | operators | messages | send | receive | audit``: the hub and its client side.

Ledger commands read the hub settings (``--data-dir``/``--database-url`` or ``LIENTHONG_DATA_DIR``
/ ``LIENTHONG_DATABASE_URL``, plus ``<data dir>/hub.toml``). ``send`` and ``receive`` are plain
axis clients usable against any axis-compatible endpoint (this hub, another hub, the national
axis); their credentials come from options or ``LIENTHONG_AXIS_URL``, ``LIENTHONG_AXIS_SYSTEM_ID``
and ``LIENTHONG_AXIS_SECRET`` (prefer the environment for the secret: options show up in ``ps``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.config import HubSettings, load_settings
from gateway.errors import ConfigurationError
from gateway.files import write_atomic

WORKER_STARTUP_SECONDS = 120
"""How long uvicorn waits for a worker process to answer its health check (its default is 5 s).
A worker importing the app on a saturated machine (load 13 on 2 cores) needed more than 30 s:
each new worker was killed before it could serve and replaced, forever, so a 2-worker hub ran
on one (bench/soak_hub.py, #14)."""

if TYPE_CHECKING:
    from gateway.ledger import Ledger
    from gateway.transport.axis import AxisClient


def _settings(args: argparse.Namespace) -> HubSettings:
    return load_settings(data_dir=getattr(args, "data_dir", None), database_url=getattr(args, "database_url", None))


def _ledger(args: argparse.Namespace) -> Ledger:
    from gateway.ledger import Ledger

    return Ledger.open(_settings(args))


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


# -- serve / db --------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway.ledger.db import make_engine, upgrade
    from gateway.ledger.secrets import SecretBox
    from gateway.server.logs import UVICORN_LOG_CONFIG

    settings = _settings(args)
    # workers are separate processes: hand them the resolved locations through the environment
    os.environ["LIENTHONG_DATA_DIR"] = str(settings.data_dir)
    os.environ["LIENTHONG_DATABASE_URL"] = settings.database_url
    SecretBox.from_key_file(settings.key_file)
    if not args.no_migrate:
        engine = make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
        upgrade(engine)
        engine.dispose()
    uvicorn.run("gateway.server.app:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_config=UVICORN_LOG_CONFIG, access_log=False, timeout_graceful_shutdown=5,
                timeout_worker_healthcheck=WORKER_STARTUP_SECONDS)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from gateway.ledger.db import current_revision, make_engine, upgrade

    settings = _settings(args)
    engine = make_engine(settings.database_url, synchronous=settings.sqlite_synchronous)
    upgrade(engine)
    print(f"ledger schema at revision {current_revision(engine)}")
    engine.dispose()
    return 0


# -- systems -----------------------------------------------------------------------------------------


def cmd_systems_add(args: argparse.Namespace) -> int:
    from gateway.ledger.secrets import generate_secret

    secret = args.secret or os.environ.get("LIENTHONG_NEW_SYSTEM_SECRET") or generate_secret()
    ledger = _ledger(args)
    try:
        ledger.add_system(args.system_id, secret, args.organ, name=args.name or "", kind=args.kind)
    finally:
        ledger.close()
    print(f"system {args.system_id} added for {', '.join(args.organ)}")
    if not (args.secret or os.environ.get("LIENTHONG_NEW_SYSTEM_SECRET")):
        print(f"secret (shown once, give it to the system's operator): {secret}")
    return 0


def cmd_systems_list(args: argparse.Namespace) -> int:
    ledger = _ledger(args)
    try:
        systems = ledger.list_systems()
    finally:
        ledger.close()
    for s in systems:
        print(f"{s.system_id}\t{s.kind}\t{'active' if s.active else 'inactive'}\t{','.join(s.organ_ids)}\t{s.name}")
    return 0


def cmd_systems_rotate(args: argparse.Namespace) -> int:
    from gateway.ledger.secrets import generate_secret

    secret = args.secret or generate_secret()
    ledger = _ledger(args)
    try:
        ledger.rotate_secret(args.system_id, secret)
    finally:
        ledger.close()
    print(f"secret of {args.system_id} rotated")
    if not args.secret:
        print(f"new secret (shown once): {secret}")
    return 0


def cmd_systems_clock(args: argparse.Namespace) -> int:
    from gateway.ledger.replay_cache import Clocks

    ledger = _ledger(args)
    try:
        if not any(info.system_id == args.system_id for info in ledger.list_systems()):
            print(f"error: no system {args.system_id!r}", file=sys.stderr)
            return 2
        Clocks(ledger).set(
            args.system_id, utc_offset_minutes=args.utc_offset, max_age_seconds=args.max_age, actor="operator"
        )
    finally:
        ledger.close()
    zone = "hub default" if args.utc_offset is None else f"UTC{args.utc_offset / 60:+g}"
    age = "hub window" if args.max_age is None else f"{args.max_age} s"
    print(f"system {args.system_id}: timestamps read at {zone}, read calls accepted up to {age} old")
    return 0


# -- operator keys -----------------------------------------------------------------------------------


def cmd_operators_add(args: argparse.Namespace) -> int:
    from gateway.ledger.operators import add_key

    ledger = _ledger(args)
    try:
        key = add_key(ledger, args.name)
    finally:
        ledger.close()
    print(f"operator key {args.name} added")
    print(f"key (shown once, send it as X-API-Key): {key}")
    return 0


def cmd_operators_list(args: argparse.Namespace) -> int:
    from gateway.ledger.operators import list_keys

    ledger = _ledger(args)
    try:
        keys = list_keys(ledger)
    finally:
        ledger.close()
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M:%S}Z" if k.revoked_at else "active"
        print(f"{k.name}\t{state}\tcreated {k.created_at:%Y-%m-%d %H:%M:%S}Z\tsha256 {k.hash_prefix}…")
    return 0


def cmd_operators_revoke(args: argparse.Namespace) -> int:
    from gateway.ledger.operators import revoke_key

    ledger = _ledger(args)
    try:
        revoke_key(ledger, args.name)
    finally:
        ledger.close()
    print(f"operator key {args.name} revoked (running hubs refuse it within a few seconds)")
    return 0


# -- messages ----------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (``--limit -5`` is an error, not "every row")."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def cmd_messages_list(args: argparse.Namespace) -> int:
    from gateway.ledger.queries import list_messages

    ledger = _ledger(args)
    try:
        rows = list_messages(ledger, document_id=args.document_id, organ=args.organ, state=args.state,
                             limit=args.limit)
    finally:
        ledger.close()
    if args.json:
        _print_json(rows)
        return 0
    for m in rows:
        print(f"{m['docId']}\t{m['state']}\t{m['messageType']}\t{m['route']}:{m['destination']}\t"
              f"{m['sender']} → {','.join(m['recipients'])}\t{m['documentId']}")
    return 0


def cmd_messages_show(args: argparse.Namespace) -> int:
    from gateway.ledger.queries import message_timeline

    ledger = _ledger(args)
    try:
        _print_json(message_timeline(ledger, args.doc_id))
    finally:
        ledger.close()
    return 0


def cmd_messages_retry(args: argparse.Namespace) -> int:
    ledger = _ledger(args)
    try:
        msg = ledger.requeue(args.doc_id, reason=args.reason, actor=f"cli:{os.environ.get('USER', 'operator')}")
    finally:
        ledger.close()
    print(f"{msg.doc_id} is {msg.state} again; a running hub delivers it on its next pass")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from gateway.ledger import verify_chain

    ledger = _ledger(args)
    try:
        with ledger.reader() as s:
            report = verify_chain(s)
    finally:
        ledger.close()
    if report.ok:
        print(f"audit chain OK: {report.entries} entries, head {report.head_seq} {report.head_hash}")
        if args.expect_head and args.expect_head != report.head_hash:
            print(f"but the head hash differs from the expected {args.expect_head}", file=sys.stderr)
            return 1
        return 0
    print(f"audit chain BROKEN ({len(report.problems)} problems):", file=sys.stderr)
    for problem in report.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1


# -- client side -------------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> AxisClient:
    from gateway.transport.axis import AxisClient

    url = args.url or os.environ.get("LIENTHONG_AXIS_URL")
    system_id = args.system_id or os.environ.get("LIENTHONG_AXIS_SYSTEM_ID")
    secret = args.secret or os.environ.get("LIENTHONG_AXIS_SECRET")
    if not (url and system_id and secret):
        raise ConfigurationError("give --url, --system-id and --secret (or LIENTHONG_AXIS_URL, "
                                 "LIENTHONG_AXIS_SYSTEM_ID, LIENTHONG_AXIS_SECRET)")
    return AxisClient(url, system_id, secret, timeout=args.timeout, retries=args.retries)


def cmd_send(args: argparse.Namespace) -> int:
    data = Path(args.file).read_bytes()
    with _client(args) as client:
        outcome = client.deliver(data, messagetype=args.messagetype, to=args.to or None)
    if outcome.result == "delivered":
        print(f"delivered: DocId {outcome.doc_id}")
        return 0
    print(f"{outcome.result}: {outcome.error}", file=sys.stderr)
    return 1 if outcome.result == "refused" else 3


def cmd_receive(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    with _client(args) as client:
        for item in client.received_list(args.messagetype):
            doc_id = str(item["docId"])
            data = client.get_edoc(doc_id)
            target = out / f"{doc_id}.edxml"
            write_atomic(target, data)  # stored durably before updateStatus done
            if not args.no_ack:
                client.update_status(doc_id, "done")
            print(f"{doc_id}\tfrom {item.get('from')}\t{target}")
            count += 1
    print(f"{count} {args.messagetype} package(s) received")
    return 0


def _db_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="data directory (default $LIENTHONG_DATA_DIR or ./var)")
    p.add_argument("--database-url", help="ledger database URL (default $LIENTHONG_DATABASE_URL or SQLite in data dir)")


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="axis endpoint base URL ($LIENTHONG_AXIS_URL)")
    p.add_argument("--system-id", help="this system's id ($LIENTHONG_AXIS_SYSTEM_ID)")
    p.add_argument("--secret", help="this system's secret (prefer $LIENTHONG_AXIS_SECRET)")
    p.add_argument("--timeout", type=float, default=30.0, help="per-request timeout in seconds")
    p.add_argument("--retries", type=int, default=3, help="retries for timeouts, 5xx and dropped connections")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("serve", help="run the axis-compatible hub server",
                              description="Run the hub (axis API, operator API at /docs, /healthz, /metrics). "
                              "Migrates the ledger first unless --no-migrate.")
    _db_options(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--no-migrate", action="store_true", help="do not upgrade the ledger schema at start")
    p.set_defaults(handler=cmd_serve)

    db = subparsers.add_parser("db", help="ledger database maintenance", description="Ledger database maintenance.")
    dbs = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    p = dbs.add_parser("upgrade", help="apply ledger migrations", description="Bring the ledger schema up to date.")
    _db_options(p)
    p.set_defaults(handler=cmd_db_upgrade)

    sy = subparsers.add_parser("systems", help="connected systems (HMAC credentials)",
                               description="Register the systems that connect to this hub.")
    sys_sub = sy.add_subparsers(dest="systems_command", metavar="ACTION", required=True)
    p = sys_sub.add_parser("add", help="register a system", description="Register a system; prints a new secret "
                           "unless --secret or $LIENTHONG_NEW_SYSTEM_SECRET gives one.")
    _db_options(p)
    p.add_argument("system_id")
    p.add_argument("--organ", action="append", required=True,
                   help="OrganId the system may send as (repeat; patterns like '*.H41' allowed, '*' = any)")
    p.add_argument("--name", help="display name")
    p.add_argument("--kind", choices=["agency", "hub"], default="agency",
                   help="agency software (its organs are served here) or another hub")
    p.add_argument("--secret", help="use this secret instead of generating one")
    p.set_defaults(handler=cmd_systems_add)
    p = sys_sub.add_parser("list", help="list systems", description="List registered systems (no secrets).")
    _db_options(p)
    p.set_defaults(handler=cmd_systems_list)
    p = sys_sub.add_parser("rotate-secret", help="give a system a new secret", description="Rotate a secret.")
    _db_options(p)
    p.add_argument("system_id")
    p.add_argument("--secret", help="use this secret instead of generating one")
    p.set_defaults(handler=cmd_systems_rotate)
    p = sys_sub.add_parser(
        "clock", help="how to read a system's SDK timestamps",
        description="The SDK stamps requests with the JVM's local time, once per client instance. Set the "
                    "zone the system's JVM runs in and how old an instance's timestamp may be on read calls "
                    "(state-changing calls are protected by body binding and the replay cache, not by age). "
                    "Options left out reset to the hub defaults.")
    _db_options(p)
    p.add_argument("system_id")
    p.add_argument("--utc-offset", type=int, metavar="MINUTES",
                   help="the JVM's UTC offset in minutes (0 for a JVM in UTC; default: the hub's, 420)")
    p.add_argument("--max-age", type=int, metavar="SECONDS",
                   help="oldest timestamp accepted on read calls (a long-lived SDK instance; default: the window)")
    p.set_defaults(handler=cmd_systems_clock)

    op = subparsers.add_parser("operators", help="operator API keys (stored hashed in the ledger)",
                               description="Create, list and revoke the keys of the operator API (X-API-Key).")
    op_sub = op.add_subparsers(dest="operators_command", metavar="ACTION", required=True)
    p = op_sub.add_parser("add", help="create a key (printed once)",
                          description="Create an operator API key; only its SHA-256 is stored.")
    _db_options(p)
    p.add_argument("name", help="who or what uses the key (appears in the audit trail)")
    p.set_defaults(handler=cmd_operators_add)
    p = op_sub.add_parser("list", help="list keys (names and digest prefixes, never keys)",
                          description="List operator keys.")
    _db_options(p)
    p.set_defaults(handler=cmd_operators_list)
    p = op_sub.add_parser("revoke", help="revoke a key", description="Revoke an operator key by name.")
    _db_options(p)
    p.add_argument("name")
    p.set_defaults(handler=cmd_operators_revoke)

    ms = subparsers.add_parser("messages", help="inspect and retry ledger messages",
                               description="Inspect and retry ledger messages.")
    ms_sub = ms.add_subparsers(dest="messages_command", metavar="ACTION", required=True)
    p = ms_sub.add_parser("list", help="list messages", description="List messages, newest first.")
    _db_options(p)
    p.add_argument("--document-id")
    p.add_argument("--organ", help="sender or recipient OrganId")
    p.add_argument("--state")
    p.add_argument("--limit", type=_positive_int, default=50, help="at most this many rows (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_messages_list)
    p = ms_sub.add_parser("show", help="one message's timeline", description="Print a message's full timeline.")
    _db_options(p)
    p.add_argument("doc_id")
    p.set_defaults(handler=cmd_messages_show)
    p = ms_sub.add_parser("retry", help="re-queue a FAILED or DEAD message",
                          description="Re-queue a FAILED or DEAD message; the reason is audited.")
    _db_options(p)
    p.add_argument("doc_id")
    p.add_argument("--reason", required=True, help="why (kept in the audit trail)")
    p.set_defaults(handler=cmd_messages_retry)

    p = subparsers.add_parser("send", help="send a package to an axis-compatible endpoint",
                              description="sendEdoc FILE with the SDK's signed headers, retrying safely.")
    _client_options(p)
    p.add_argument("file", help=".edxml package")
    p.add_argument("--to", action="append", help="recipient OrganId (repeat; default: the package's To)")
    p.add_argument("--messagetype", choices=["edoc", "status"], default="edoc")
    p.set_defaults(handler=cmd_send)

    p = subparsers.add_parser("receive", help="fetch received packages from an axis-compatible endpoint",
                              description="getReceivedEdocList → getEdoc → save → updateStatus done.")
    _client_options(p)
    p.add_argument("--out", default=".", help="folder for the .edxml files")
    p.add_argument("--messagetype", choices=["edoc", "status"], default="edoc")
    p.add_argument("--no-ack", action="store_true", help="do not call updateStatus done")
    p.set_defaults(handler=cmd_receive)

    au = subparsers.add_parser("audit", help="audit trail", description="Audit trail tools.")
    au_sub = au.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = au_sub.add_parser("verify", help="verify the hash chain",
                          description="Walk the audit chain; exit 1 if any entry was edited or deleted.")
    _db_options(p)
    p.add_argument("--expect-head", help="head hash recorded earlier (detects a rewritten tail)")
    p.set_defaults(handler=cmd_audit_verify)
