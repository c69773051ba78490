"""The tasks of the exchange DAGs: each resolves its settings, asks the hook for a context and calls
one step of :mod:`gateway.exchange.flows` (the code ``lienthong exchange`` runs directly).

Rules kept here so DAG files stay wiring only:

* XCom carries names (encoded ids), counts and the *attempt* token; packages stay in the work folder.
* ``list_documents`` draws a fresh attempt token every time it runs. Every stage task writes its
  full report (per-document outcome and error, and the token) to
  ``<work>/reports/<dag id>/<run id>/<task id>[.<map index>].json``; a stage task handed a batch
  from another attempt (a map index that became *removed* after a clear) skips instead of working
  on stale names, and ``summarize`` reads only the reports of the current attempt.
* A non-retryable :class:`GatewayError` fails the task at once (``AirflowFailException``, no
  retries); a retryable one is raised as is so Airflow's retries take it. Documents that failed
  with a retryable error make the task raise after the whole chunk was tried (report written
  first), so a retry only redoes them.
* ``summarize`` runs whatever happened upstream (``all_done``), writes ``summary.json`` and
  ``summary.md``, logs the Markdown, publishes it as the run note when an Airflow API connection
  is set (:mod:`.notes`), gives the run's leases back, and fails — so the run fails and the
  notifiers fire — when a chunk did not finish or more documents failed than tolerated.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from airflow.sdk import get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from gateway.airflow.hook import ExchangeSettings, LienthongHook
from gateway.errors import GatewayError, UpstreamUnavailableError

P = ParamSpec("P")
R = TypeVar("R")
Summary = dict[str, Any]
LIST_TASK = "list_documents"
log = logging.getLogger("lienthong.exchange")


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


def settings(spec: Mapping[str, Any] | None = None) -> ExchangeSettings:
    """Resolve the settings now: params, the DAG's config, Variables (one execution-API call each)."""
    return ExchangeSettings.resolve(_context().get("params") or {}, dag_defaults=(spec or {}).get("settings"))


def attempt_settings(spec: Mapping[str, Any]) -> ExchangeSettings:
    """The settings ``list_documents`` resolved for this attempt, so every task of a run works with
    the same ones (a Variable changed mid-run applies from the next run) and a task reads one XCom
    instead of a Variable per setting. Resolved afresh when the listing recorded none."""
    recorded = _context()["ti"].xcom_pull(task_ids=LIST_TASK, key="settings")
    return ExchangeSettings.from_snapshot(recorded) if recorded else settings(spec)


def _hook(spec: Mapping[str, Any]) -> LienthongHook:
    return LienthongHook(spec.get("hub_conn_id", "lienthong_hub"), spec.get("legacy_conn_id", "lienthong_legacy"))


def _holder() -> str:
    ctx = _context()
    return f"{ctx['ti'].dag_id}/{ctx['run_id']}"


def _report_dir(work: Path) -> Path:
    from gateway.exchange import safe_name

    ctx = _context()
    return work / "reports" / str(ctx["ti"].dag_id) / safe_name(str(ctx["run_id"]))


def _report_path(work: Path) -> Path:
    ti = _context()["ti"]
    index = getattr(ti, "map_index", -1)
    suffix = f".{index}" if index is not None and index >= 0 else ""
    return _report_dir(work) / f"{ti.task_id}{suffix}.json"


def finish(result: Any, work: Path, attempt: str | None = None) -> Summary:
    """Write the stage's full report, raise for retryable document failures, return the XCom summary."""
    from gateway.exchange.common import write_json

    task_id = str(_context()["ti"].task_id)
    write_json(_report_path(work), {**result.report.to_dict(), "names": result.names, "attempt": attempt,
                                    "task": task_id})
    summary: Summary = {**result.summary(), "attempt": attempt}
    if result.retryable_failures:
        raise UpstreamUnavailableError(
            f"{result.report.stage}: {result.retryable_failures} document(s) failed with a retryable error "
            f"(report {_report_path(work)}); the retry skips the {len(result.names)} done"
        )
    return summary


def names_of(batch: Mapping[str, Any] | Iterable[str]) -> list[str]:
    """The names a mapped task works on: a chunk or the summary of the previous stage."""
    if isinstance(batch, Mapping):
        return [str(n) for n in batch.get("names", [])]
    return [str(n) for n in batch]


def current_attempt() -> str | None:
    value = _context()["ti"].xcom_pull(task_ids=LIST_TASK, key="attempt")
    return str(value) if value else None


# -- the exchange flows ---------------------------------------------------------------------------


@task(task_id=LIST_TASK)
@fail_fast
def list_documents(spec: dict[str, Any]) -> list[Summary]:
    """List (and lease) what waits, in chunks: one mapped task instance per chunk and stage."""
    from gateway.exchange import chunked, flows

    flow = flows.FLOWS[spec["flow"]]
    s = settings(spec)
    ctx = _hook(spec).context(s, _holder(), legacy=flow.name == "outbound")
    try:
        names = flows.list_documents(ctx, flow)
    finally:
        if ctx.leases is not None:
            ctx.leases.close()
    attempt = uuid.uuid4().hex[:12]
    _context()["ti"].xcom_push(key="attempt", value=attempt)
    _context()["ti"].xcom_push(key="settings", value=s.snapshot())
    log.info("%s: %d document(s) listed and leased (attempt %s)", flow.name, len(names), attempt)
    return [{"attempt": attempt, "names": chunk} for chunk in chunked(names, s.chunk_size)]


@task
@fail_fast
def run_stage(batch: Summary, spec: dict[str, Any], stage: str) -> Summary:
    """One stage of the flow on one chunk (the previous stage's names)."""
    from gateway.exchange import flows

    attempt = current_attempt()
    if batch.get("attempt") != attempt:
        raise AirflowSkipException(
            f"batch from attempt {batch.get('attempt')} (a map index left over from before a clear); "
            f"this attempt is {attempt}")
    flow = flows.FLOWS[spec["flow"]]
    s = attempt_settings(spec)
    ctx = _hook(spec).context(s, _holder(), legacy=flow.name == "outbound")
    try:
        result = flows.run_stage(ctx, flow, flows.stage_of(flow, stage), names_of(batch))
    finally:
        if ctx.leases is not None:
            ctx.leases.close()
    return finish(result, s.work_dir, attempt)


@task(task_id="summarize", trigger_rule="all_done")
@fail_fast
def summarize(spec: dict[str, Any]) -> Summary:
    """The run's summary from the current attempt's reports; fails the run when it did not pass."""
    from gateway.airflow.notes import publish_note
    from gateway.exchange import flows, summary
    from gateway.exchange.common import read_json

    flow = flows.FLOWS[spec["flow"]]
    s = attempt_settings(spec)
    attempt = current_attempt()
    chunks = _context()["ti"].xcom_pull(task_ids=LIST_TASK) or []
    folder = _report_dir(s.work_dir)
    reports = [r for r in (read_json(p) for p in sorted(folder.glob("*.json")) if p.name != "summary.json")
               if attempt and r.get("attempt") == attempt]
    title = f"{_context()['ti'].dag_id} {flow.name} ({s.adapter})"
    run = summary.RunSummary.from_reports(title, reports)
    if attempt is None:
        raise AirflowFailException(f"{LIST_TASK} did not finish: nothing was listed, nothing to summarize")
    missing = {stage.task_id: len(chunks) - sum(1 for r in reports if r.get("task") == stage.task_id)
               for stage in flow.stages}
    missing = {k: v for k, v in missing.items() if v > 0}
    summary.write(run, folder, s.max_failed_documents)
    text = run.markdown(s.max_failed_documents)
    if missing:
        text += "\n\nUnfinished: " + ", ".join(f"{k} ({v} chunk(s))" for k, v in missing.items())
    log.warning("run summary\n%s", text) if missing or not run.passed(s.max_failed_documents) else \
        log.info("run summary\n%s", text)
    publish_note(text)
    ctx = _hook(spec).context(s, _holder(), legacy=flow.name == "outbound")
    try:
        flows.release(ctx, flow)
    finally:
        if ctx.leases is not None:
            ctx.leases.close()
    if missing:
        raise AirflowFailException(f"run incomplete: {', '.join(missing)} did not finish every chunk")
    if not run.passed(s.max_failed_documents):
        raise AirflowFailException(
            f"{run.verdict(s.max_failed_documents)} (tolerance max_failed_documents={s.max_failed_documents}): "
            + "; ".join(f"{f['id']} at {f['stage']}: {f['reason']}" for f in run.failures[:20]))
    return run.to_dict(s.max_failed_documents)


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
