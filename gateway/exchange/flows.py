"""The exchanges as data: which stages run in which order, shared by the CLI, the demo and the DAGs.

A :class:`Flow` is a listing step plus an ordered tuple of :class:`Stage` s. ``lienthong exchange``
calls :func:`run_flow` (list → chunks → every stage per chunk → summary); the generated Airflow
DAGs (:mod:`gateway.airflow.factory`) make one task of the listing step and one mapped task of
each stage, and every task body calls :func:`list_documents` or :func:`run_stage` here. So the
direct run and the orchestrated run execute the same code on the same work folder.

Every run leases what it listed (:mod:`.leases`); each stage renews the leases of its chunk first
and leaves out (``skipped``, "lease held by …") any document another run took over meanwhile.
Every stage logs each document it fails or skips, by name and id, on the ``lienthong.exchange``
logger (the Airflow task log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.exchange import inbound, outbound
from gateway.exchange.common import StageResult, chunked, original_id, start
from gateway.exchange.leases import LeaseStore, new_holder
from gateway.exchange.summary import RunSummary
from gateway.files import batched_dir_sync
from gateway.transport.axis import AxisClient

if TYPE_CHECKING:
    from gateway.exchange.sources import LegacyConnector
    from gateway.signing.profiles import TrustConfig
    from gateway.signing.sign import DocumentSigner

log = logging.getLogger("lienthong.exchange")


@dataclass
class ExchangeContext:
    """Everything a stage needs, with the clients built on demand (each stage opens and closes its own).

    ``legacy_endpoint`` and ``hub_endpoint`` name the queues in lease keys; ``holder`` is the run
    (an Airflow ``dag_id/run_id``, or a CLI call) that owns the leases.
    """

    work_dir: Path
    adapter: str
    open_legacy: Callable[[], LegacyConnector]
    open_hub: Callable[[], AxisClient]
    open_signer: Callable[[], DocumentSigner]
    open_trust: Callable[[], TrustConfig]
    legacy_endpoint: str = ""
    hub_endpoint: str = ""
    placeholder: str | None = None
    reject_invalid: bool = False
    organ_ids: tuple[str, ...] = ()
    chunk_size: int = 500
    send_concurrency: int = outbound.DEFAULT_SEND_CONCURRENCY  # sendEdoc calls in flight
    max_documents: int | None = None
    max_failed: int = 0
    leases: LeaseStore | None = None
    holder: str = field(default_factory=new_holder)


@dataclass(frozen=True)
class Stage:
    task_id: str
    run: Callable[[ExchangeContext, list[str]], StageResult]
    report: str  # the stage name its reports carry (shorter than the task id)


@dataclass(frozen=True)
class Flow:
    name: str
    list: Callable[[ExchangeContext], list[str]]
    stages: tuple[Stage, ...]
    source: Callable[[ExchangeContext], str]  # the queue, for lease keys


# -- stage bodies ---------------------------------------------------------------------------------


def _with_legacy(ctx: ExchangeContext, fn: Callable[[LegacyConnector], StageResult]) -> StageResult:
    connector = ctx.open_legacy()
    try:
        return fn(connector)
    finally:
        connector.close()


def _with_hub(ctx: ExchangeContext, fn: Callable[[AxisClient], StageResult]) -> StageResult:
    with ctx.open_hub() as client:
        return fn(client)


def _out(ctx: ExchangeContext) -> outbound.OutboundFolders:
    return outbound.OutboundFolders(ctx.work_dir)


def _inbox(ctx: ExchangeContext, kind: str) -> Path:
    return ctx.work_dir / ("inbound" if kind == "edoc" else "statuses")


def _stamp(ctx: ExchangeContext, names: list[str]) -> StageResult:
    with ctx.open_signer() as signer:
        return outbound.stamp(names, _out(ctx), signer, placeholder=ctx.placeholder)


def _list_outbound(ctx: ExchangeContext) -> list[str]:
    connector = ctx.open_legacy()
    try:
        return outbound.list_pending(connector, limit=ctx.max_documents)
    finally:
        connector.close()


def _list_hub(kind: str) -> Callable[[ExchangeContext], list[str]]:
    def list_received(ctx: ExchangeContext) -> list[str]:
        with ctx.open_hub() as client:
            names = inbound.list_received(client, _inbox(ctx, kind), kind,
                                          finished_step="status" if kind == "edoc" else "hub")
        return names[: ctx.max_documents] if ctx.max_documents else names
    return list_received


OUTBOUND = Flow("outbound", _list_outbound, (
    Stage("fetch_translate", lambda c, n: _with_legacy(
        c, lambda x: outbound.fetch_and_translate(x, n, _out(c))), "fetch"),
    Stage("stamp", _stamp, "stamp"),
    Stage("deliver", lambda c, n: _with_hub(
        c, lambda h: outbound.deliver(h, n, _out(c), concurrency=c.send_concurrency)), "send"),
    Stage("acknowledge", lambda c, n: _with_legacy(c, lambda x: outbound.acknowledge(x, n, _out(c))), "ack"),
), source=lambda c: f"legacy:{c.adapter}:{c.legacy_endpoint}")

INBOUND = Flow("inbound", _list_hub("edoc"), (
    Stage("receive", lambda c, n: _with_hub(c, lambda h: inbound.receive(h, n, _inbox(c, "edoc"))), "receive"),
    Stage("verify_signatures", lambda c, n: inbound.verify(n, _inbox(c, "edoc"), c.open_trust(),
                                                            reject_invalid=c.reject_invalid), "verify"),
    Stage("deliver_to_legacy", lambda c, n: _with_legacy(c, lambda x: inbound.deliver_to_legacy(
        x, n, _inbox(c, "edoc"))), "legacy"),
    Stage("send_status", lambda c, n: _with_hub(c, lambda h: inbound.send_status(
        h, n, _inbox(c, "edoc"), organ_ids=c.organ_ids)), "status"),
), source=lambda c: f"hub:{c.hub_endpoint}:edoc")

STATUSES = Flow("statuses", _list_hub("status"), (
    Stage("receive", lambda c, n: _with_hub(c, lambda h: inbound.receive(h, n, _inbox(c, "status"),
                                                                         acknowledge=False)), "receive"),
    Stage("deliver_to_legacy", lambda c, n: _with_legacy(c, lambda x: inbound.deliver_to_legacy(
        x, n, _inbox(c, "status"))), "legacy"),
    Stage("acknowledge", lambda c, n: _with_hub(c, lambda h: inbound.acknowledge_statuses(
        h, n, _inbox(c, "status"))), "ack"),
), source=lambda c: f"hub:{c.hub_endpoint}:status")

FLOWS: dict[str, Flow] = {f.name: f for f in (OUTBOUND, INBOUND, STATUSES)}


def stage_of(flow: Flow, task_id: str) -> Stage:
    for stage in flow.stages:
        if stage.task_id == task_id:
            return stage
    raise KeyError(f"flow {flow.name} has no stage {task_id}")


# -- the steps every runner takes ------------------------------------------------------------------


def list_documents(ctx: ExchangeContext, flow: Flow) -> list[str]:
    """The listing step, then the leases: only what this run now holds is returned."""
    names = flow.list(ctx)
    if ctx.leases is None or not names:
        return names
    held = ctx.leases.acquire(flow.source(ctx), names, ctx.holder)
    for name in sorted(set(names) - set(held)):
        log.warning("%s: %s (%s) skipped: leased by another run", flow.name, name, original_id(name))
    return held


def run_stage(ctx: ExchangeContext, flow: Flow, stage: Stage, names: Sequence[str]) -> StageResult:
    """Renew the leases of ``names``, run the stage on those still held, log every failure and skip."""
    names = list(names)
    lost: list[str] = []
    if ctx.leases is not None and names:
        held = set(ctx.leases.renew(flow.source(ctx), names, ctx.holder))
        lost = [n for n in names if n not in held]
        names = [n for n in names if n in held]
    with batched_dir_sync():  # every folder the stage wrote is fsynced once, before it returns
        result = stage.run(ctx, names) if names else start(stage.report)
    for name in lost:
        result.add(name, "skipped", carry=False, reason="lease held by another run")
    log_outcomes(result)
    return result


def log_outcomes(result: StageResult) -> None:
    """One log line per document that failed, was skipped or flagged; one line of totals."""
    stage = result.report.stage
    for item in result.report.items:
        name, outcome = str(item["source"]), str(item["outcome"])
        if outcome == "ok":
            continue
        why = item.get("error") or item.get("reason") or ("already done" if outcome == "skipped" else "")
        level = logging.WARNING if outcome in ("failed", "flagged", "rejected") else logging.INFO
        retry = " (retryable)" if item.get("retryable") else ""
        log.log(level, "%s: %s %s (id %s)%s%s", stage, outcome, name, original_id(name),
                f": {why}" if why else "", retry)
    log.warning("%s", result.report.summary()) if result.report.failed else log.info("%s", result.report.summary())


def release(ctx: ExchangeContext, flow: Flow) -> int:
    """Give back every lease this run holds on the flow's queue (at the end of a run)."""
    if ctx.leases is None:
        return 0
    return ctx.leases.release(flow.source(ctx), ctx.holder)


def run_flow(ctx: ExchangeContext, flow: Flow, *, progress: Callable[[StageResult], None] | None = None
             ) -> tuple[RunSummary, list[dict[str, Any]]]:
    """The whole exchange directly: list, then every stage per chunk; returns the summary and reports."""
    reports: list[dict[str, Any]] = []
    try:
        for chunk in chunked(list_documents(ctx, flow), ctx.chunk_size):
            names = chunk
            for stage in flow.stages:
                result = run_stage(ctx, flow, stage, names)
                reports.append({**result.report.to_dict(), "names": result.names})
                if progress is not None:
                    progress(result)
                names = result.names
    finally:
        release(ctx, flow)
    return RunSummary.from_reports(f"{flow.name} ({ctx.adapter})", reports), reports


__all__ = ["FLOWS", "INBOUND", "OUTBOUND", "STATUSES", "ExchangeContext", "Flow", "Stage", "list_documents",
           "log_outcomes", "release", "run_flow", "run_stage", "stage_of"]
