"""``lienthong exchange outbound | inbound | statuses``: one exchange run, directly, without Airflow.

For small sites (one agency, a cron job): the same flows the generated DAGs run
(:mod:`gateway.exchange.flows`), on the same work folder layout, with the same leases, so a cron
run and an Airflow run never take the same document. Prints the run summary (Markdown, or JSON
with ``--json``) and exits 1 when more documents failed than ``--max-failed`` allows.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError


def register(subparsers: Any) -> None:
    group = subparsers.add_parser(
        "exchange",
        help="run one exchange directly (no Airflow): outbound, inbound or statuses",
        description="The exchange the Airflow DAGs run, as one direct run: outbound = legacy queue -> adapter "
        "-> agency signature -> hub -> acknowledgement; inbound = hub -> store -> verify -> legacy system -> "
        "status 01/02; statuses = status packages -> legacy system -> done. State lives in --work, so a "
        "rerun skips what is done; documents are leased so concurrent runs never take the same one.",
    )
    flows = group.add_subparsers(dest="flow", metavar="FLOW", required=True)
    for name in ("outbound", "inbound", "statuses"):
        p = flows.add_parser(name, help=f"one {name} run")
        p.add_argument("--work", type=Path, required=True, help="work folder (state, reports, summaries)")
        p.add_argument("--adapter", default="qlvb_soap", help="adapter code of the legacy system (default qlvb_soap)")
        p.add_argument("--legacy", required=name != "inbound",
                       help="legacy SOAP endpoint URL, or the file-drop folder of a file-drop adapter")
        p.add_argument("--url", help="hub base URL ($LIENTHONG_AXIS_URL)")
        p.add_argument("--system-id", help="this system's id at the hub ($LIENTHONG_AXIS_SYSTEM_ID)")
        p.add_argument("--secret", help="this system's secret (prefer $LIENTHONG_AXIS_SECRET)")
        p.add_argument("--chunk-size", type=int, default=500, help="documents per chunk (default 500)")
        p.add_argument("--max-documents", type=int, help="take at most this many documents")
        if name == "outbound":
            p.add_argument("--send-concurrency", type=int,
                           help="sendEdoc calls in flight at once (default 4)")
        p.add_argument("--max-failed", type=int, default=0,
                       help="documents that may fail permanently before the run fails (default 0)")
        p.add_argument("--lease-db", help="lease database URL (default $LIENTHONG_LEASE_DATABASE_URL, "
                       "$LIENTHONG_DATABASE_URL, else SQLite in $LIENTHONG_DATA_DIR)")
        p.add_argument("--lease-minutes", type=int, default=60, help="lease lifetime (default 60)")
        p.add_argument("--profiles", type=Path, help="signing profiles TOML (default $LIENTHONG_SIGNING_PROFILES)")
        if name == "outbound":
            p.add_argument("--profile", required=True, help="agency signing profile that stamps outgoing PDFs")
            p.add_argument("--placeholder", help="text marking the signature slot on the main PDF")
        if name == "inbound":
            p.add_argument("--reject-invalid", action="store_true",
                           help="answer status 02 instead of delivering documents whose signatures are not valid")
            p.add_argument("--organ", action="append", default=[], help="our OrganId (repeat), picks who answers 01")
        p.add_argument("--json", action="store_true", help="print the summary as JSON")
        p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from gateway.adapters import AdapterRegistry
    from gateway.exchange import flows, summary
    from gateway.exchange.common import write_json
    from gateway.exchange.leases import LeaseStore, default_lease_url, new_holder
    from gateway.exchange.outbound import DEFAULT_SEND_CONCURRENCY
    from gateway.exchange.sources import open_connector
    from gateway.signing.profiles import load_signing_settings
    from gateway.signing.sign import DocumentSigner
    from gateway.transport.axis import AxisClient

    url = args.url or os.environ.get("LIENTHONG_AXIS_URL")
    system_id = args.system_id or os.environ.get("LIENTHONG_AXIS_SYSTEM_ID")
    secret = args.secret or os.environ.get("LIENTHONG_AXIS_SECRET")
    if not (url and system_id and secret):
        raise ConfigurationError("the hub: --url, --system-id and --secret (or $LIENTHONG_AXIS_*) are required")
    send_concurrency = getattr(args, "send_concurrency", None)
    if send_concurrency is not None and send_concurrency < 1:
        raise ConfigurationError(f"--send-concurrency must be at least 1, not {send_concurrency}")
    adapter = AdapterRegistry().get(args.adapter)
    legacy = str(args.legacy or "")

    def open_legacy() -> Any:
        if not legacy:
            raise ConfigurationError("--legacy is required to hand documents to the legacy system")
        return open_connector(adapter, legacy)

    def open_signer() -> DocumentSigner:
        signing = load_signing_settings(args.profiles)
        return DocumentSigner(signing.profile(args.profile), signing.trust)

    leases = LeaseStore(args.lease_db or default_lease_url(), ttl=timedelta(minutes=args.lease_minutes))
    ctx = flows.ExchangeContext(
        work_dir=args.work, adapter=args.adapter, open_legacy=open_legacy,
        open_hub=lambda: AxisClient(url, system_id, secret),
        open_signer=open_signer, open_trust=lambda: load_signing_settings(args.profiles).trust,
        legacy_endpoint=legacy if legacy.startswith(("http:", "https:")) else f"file://{Path(legacy).resolve()}",
        hub_endpoint=f"{url.rstrip('/')}#{system_id}",
        placeholder=getattr(args, "placeholder", None), reject_invalid=getattr(args, "reject_invalid", False),
        organ_ids=tuple(getattr(args, "organ", ())), chunk_size=args.chunk_size, max_documents=args.max_documents,
        send_concurrency=DEFAULT_SEND_CONCURRENCY if send_concurrency is None else send_concurrency,
        max_failed=args.max_failed, leases=leases, holder=new_holder("cli"))
    flow = flows.FLOWS[args.flow]
    try:
        run, reports = flows.run_flow(ctx, flow)
    finally:
        leases.close()
    run.title = f"lienthong exchange {flow.name} ({args.adapter})"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = args.work / "reports" / f"cli_{flow.name}" / stamp
    for i, report in enumerate(reports):
        write_json(folder / f"{i:04d}.{report['stage']}.json", report)
    summary.write(run, folder, args.max_failed)
    if args.json:
        print(json.dumps(run.to_dict(args.max_failed), ensure_ascii=False, indent=2))
    else:
        print(run.markdown(args.max_failed))
        print(f"\nreports: {folder}")
    if not run.passed(args.max_failed):
        print(f"exchange {flow.name}: {run.verdict(args.max_failed)}", file=sys.stderr)
        return 1
    return 0
