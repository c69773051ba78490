"""The tasks of the exchange DAGs: each resolves its settings, asks the hook for its clients and
calls one stage of :mod:`gateway.exchange`.

Rules kept here so DAG files stay wiring only:

* XCom carries names (encoded ids) and counts; packages stay in the work folder.
* The full report of every task (per-document outcome and error) is written to
  ``<work>/reports/<dag id>/<run id>/<task id>[.<map index>].json``.
* A non-retryable :class:`GatewayError` fails the task at once (``AirflowFailException``, no
  retries); a retryable one is raised as is so Airflow's retries take it. Documents that failed
  with a retryable error make the task raise after the whole chunk was tried, so a retry only
  redoes them (everything done is skipped).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from airflow.sdk import get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from gateway.airflow.hook import ExchangeSettings, LienthongHook
from gateway.errors import GatewayError, UpstreamUnavailableError

P = ParamSpec("P")
R = TypeVar("R")
Summary = dict[str, Any]


def fail_fast(fn: Callable[P, R]) -> Callable[P, R]:
    """Map the gateway's ``retryable`` flag onto Airflow: retry, or fail without retrying."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except GatewayError as exc:
            if exc.retryable:
                raise
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    return wrapper


def _context() -> Mapping[str, Any]:
    return get_current_context()


def settings() -> ExchangeSettings:
    return ExchangeSettings.resolve(_context().get("params") or {})


def _report_path(work: Path) -> Path:
    from gateway.exchange import safe_name

    ctx = _context()
    ti = ctx["ti"]
    run_id = safe_name(str(ctx["run_id"]))
    index = getattr(ti, "map_index", -1)
    suffix = f".{index}" if index is not None and index >= 0 else ""
    return work / "reports" / str(ti.dag_id) / run_id / f"{ti.task_id}{suffix}.json"


def finish(result: Any, work: Path) -> Summary:
    """Write the stage's full report, raise for retryable document failures, return the XCom summary."""
    from gateway.exchange.common import write_json

    write_json(_report_path(work), {**result.report.to_dict(), "names": result.names})
    summary: Summary = result.summary()
    if result.retryable_failures:
        raise UpstreamUnavailableError(
            f"{result.report.stage}: {result.retryable_failures} document(s) failed with a retryable error "
            f"(report {_report_path(work)}); the retry skips the {len(result.names)} done"
        )
    return summary


def names_of(batch: Mapping[str, Any] | Iterable[str]) -> list[str]:
    """The names a mapped task works on: a chunk (list) or the summary of the previous stage."""
    if isinstance(batch, Mapping):
        return [str(n) for n in batch.get("names", [])]
    return [str(n) for n in batch]


def totals(*stages: Iterable[Summary]) -> Summary:
    """Add up the summaries of mapped stage tasks (names dropped) and write the run's summary file."""
    from gateway.exchange.common import now_iso, write_json

    out: dict[str, dict[str, int]] = {}
    for summaries in stages:
        for s in summaries or []:
            t = out.setdefault(str(s["stage"]), {"ok": 0, "skipped": 0, "failed": 0, "chunks": 0})
            for key in ("ok", "skipped", "failed"):
                t[key] += int(s.get(key, 0))
            t["chunks"] += 1
    work = settings().work_dir
    write_json(_report_path(work).parent / "summary.json", {"at": now_iso(), "stages": out})
    return {"stages": out}


# -- outbound ------------------------------------------------------------------------------------


@task(task_id="list_pending")
@fail_fast
def outbound_list_pending() -> list[list[str]]:
    """Names of the legacy system's waiting documents, in chunks (one mapped task each)."""
    from gateway.exchange import chunked
    from gateway.exchange.outbound import list_pending

    s = settings()
    connector = LienthongHook().legacy_connector(s.adapter)
    try:
        names = list_pending(connector, limit=s.max_documents)
    finally:
        connector.close()
    return chunked(names, s.chunk_size)


@task(task_id="fetch_translate")
@fail_fast
def outbound_fetch_translate(chunk: list[str]) -> Summary:
    from gateway.exchange.outbound import OutboundFolders, fetch_and_translate

    s = settings()
    connector = LienthongHook().legacy_connector(s.adapter)
    try:
        result = fetch_and_translate(connector, names_of(chunk), OutboundFolders(s.work_dir))
    finally:
        connector.close()
    return finish(result, s.work_dir)


@task(task_id="stamp")
@fail_fast
def outbound_stamp(batch: Summary) -> Summary:
    from gateway.exchange.outbound import OutboundFolders, stamp

    s = settings()
    with LienthongHook().signer(s) as signer:
        result = stamp(names_of(batch), OutboundFolders(s.work_dir), signer, placeholder=s.placeholder)
    return finish(result, s.work_dir)


@task(task_id="deliver")
@fail_fast
def outbound_deliver(batch: Summary) -> Summary:
    from gateway.exchange.outbound import OutboundFolders, deliver

    s = settings()
    with LienthongHook().get_conn() as client:
        result = deliver(client, names_of(batch), OutboundFolders(s.work_dir))
    return finish(result, s.work_dir)


@task(task_id="acknowledge")
@fail_fast
def outbound_acknowledge(batch: Summary) -> Summary:
    from gateway.exchange.outbound import OutboundFolders, acknowledge

    s = settings()
    connector = LienthongHook().legacy_connector(s.adapter)
    try:
        result = acknowledge(connector, names_of(batch), OutboundFolders(s.work_dir))
    finally:
        connector.close()
    return finish(result, s.work_dir)


@task(task_id="summarize", trigger_rule="none_failed")
@fail_fast
def summarize(*stages: Iterable[Summary]) -> Summary:
    """Totals per stage for the run (also written to ``summary.json`` beside the task reports)."""
    return totals(*stages)


# -- inbound documents and statuses ---------------------------------------------------------------


def _inbox(s: ExchangeSettings, kind: str) -> Path:
    return s.work_dir / ("inbound" if kind == "edoc" else "statuses")


@task(task_id="list_received")
@fail_fast
def list_received(messagetype: str) -> list[list[str]]:
    """DocIds waiting on the hub plus unfinished local ones, in chunks."""
    from gateway.exchange import chunked
    from gateway.exchange.inbound import list_received as pending

    s = settings()
    finished = "status" if messagetype == "edoc" else "hub"
    with LienthongHook().get_conn() as client:
        names = pending(client, _inbox(s, messagetype), messagetype, finished_step=finished)
    return chunked(names[: s.max_documents] if s.max_documents else names, s.chunk_size)


@task(task_id="receive")
@fail_fast
def receive(chunk: list[str], messagetype: str) -> Summary:
    """getEdoc and store; documents are acknowledged (``done``) at once, statuses after reporting."""
    from gateway.exchange.inbound import receive as fetch

    s = settings()
    with LienthongHook().get_conn() as client:
        result = fetch(client, names_of(chunk), _inbox(s, messagetype), acknowledge=messagetype == "edoc")
    return finish(result, s.work_dir)


@task(task_id="verify_signatures")
@fail_fast
def verify_signatures(batch: Summary) -> Summary:
    from gateway.exchange.inbound import verify

    s = settings()
    trust = LienthongHook().trust(s)
    result = verify(names_of(batch), _inbox(s, "edoc"), trust, reject_invalid=s.reject_invalid_signatures)
    return finish(result, s.work_dir)


@task(task_id="deliver_to_legacy")
@fail_fast
def deliver_to_legacy(batch: Summary, messagetype: str) -> Summary:
    """Adapter to_legacy + the legacy system's receive (documents) or report-state (statuses) operation."""
    from gateway.exchange.inbound import deliver_to_legacy as hand_over

    s = settings()
    connector = LienthongHook().legacy_connector(s.adapter)
    try:
        result = hand_over(connector, names_of(batch), _inbox(s, messagetype))
    finally:
        connector.close()
    return finish(result, s.work_dir)


@task(task_id="send_status")
@fail_fast
def send_status(batch: Summary) -> Summary:
    """Status 01 (or 02 for a rejected document) back through the hub."""
    from gateway.exchange.inbound import send_status as answer

    s = settings()
    with LienthongHook().get_conn() as client:
        result = answer(client, names_of(batch), _inbox(s, "edoc"), organ_ids=s.organ_ids)
    return finish(result, s.work_dir)


@task(task_id="acknowledge")
@fail_fast
def acknowledge_statuses(batch: Summary) -> Summary:
    from gateway.exchange.inbound import acknowledge_statuses as ack

    s = settings()
    with LienthongHook().get_conn() as client:
        result = ack(client, names_of(batch), _inbox(s, "status"))
    return finish(result, s.work_dir)


# -- directory ---------------------------------------------------------------------------------------


@task(task_id="fetch_agency_lists")
@fail_fast
def fetch_agency_lists() -> dict[str, int]:
    from gateway.exchange.directory import fetch_lists

    s = settings()
    with LienthongHook().get_conn() as client:
        return fetch_lists(client, s.work_dir)


@task(task_id="publish_directory")
@fail_fast
def publish_directory(counts: dict[str, int]) -> dict[str, Any]:
    """Merge, check and atomically replace the directory file (``counts`` orders it after the fetch)."""
    from gateway.exchange.directory import publish

    s = settings()
    return publish(s.work_dir, s.directory_target, min_ratio=s.directory_min_ratio)
