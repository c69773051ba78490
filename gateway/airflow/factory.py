"""Build the exchange DAGs from :func:`gateway.airflow.specs.dag_specs`: the same wiring for every flow.

Each DAG: ``list_documents`` → one mapped task per stage of the flow (task ids from
:mod:`gateway.exchange.flows`) → ``summarize``. Scheduled on its cron *or* its Asset
(``AssetOrTimeSchedule``), so an asset event (a pushed or dropped batch) starts a run at once.
Parsing reads the adapter manifests and the config file only: no Connection, Variable or database.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import DAG, Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable, dag

from gateway.airflow import tasks
from gateway.airflow.defaults import DAG_KWARGS, DEFAULT_ARGS, exchange_params
from gateway.airflow.notify import ExchangeNotifier
from gateway.airflow.specs import DagSpec, dag_specs

TIMEZONE = "Asia/Ho_Chi_Minh"


def _doc(spec: DagSpec) -> str:
    from gateway.exchange.flows import FLOWS

    stages = " → ".join(f"`{s.task_id}[]`" for s in FLOWS[spec.flow].stages)
    return (f"**{spec.dag_id}**: {spec.flow} exchange of adapter `{spec.adapter}` ({spec.transport})"
            f"{' for ' + spec.agency if spec.agency else ''}.\n\n`list_documents` → {stages} → `summarize`.\n\n"
            f"Connections: hub `{spec.hub_conn_id}`, legacy `{spec.legacy_conn_id}`. Triggered every "
            f"`{spec.schedule or 'never (manual)'}` and by asset events on `{spec.asset_uri}`. "
            "The run note / summarize log lists every failed document; see docs/airflow.md.")


def _asset(spec: DagSpec) -> Asset:
    """The DAG's Asset; a watched file-drop inbox adds an ``AssetWatcher`` run by the triggerer."""
    if not spec.watch_root:
        return Asset(name=spec.asset_uri, uri=spec.asset_uri)
    from gateway.airflow.triggers import InboxTrigger, inbox_folder

    trigger = InboxTrigger(inbox_folder(spec.watch_root), spec.watch_pattern, spec.watch_seconds)
    return Asset(name=spec.asset_uri, uri=spec.asset_uri,
                 watchers=[AssetWatcher(name=f"{spec.dag_id}_inbox", trigger=trigger)])


def _schedule(spec: DagSpec) -> Any:
    asset = _asset(spec)
    if not spec.schedule:
        return [asset]
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(spec.schedule, timezone=TIMEZONE), assets=[asset])


def build_dag(spec: DagSpec, notifiers: Sequence[Any] = ()) -> DAG:
    """The DAG of one spec (wiring only: every task body is in :mod:`gateway.airflow.tasks`)."""
    from gateway.exchange.flows import FLOWS

    flow = FLOWS[spec.flow]
    task_spec = spec.task_spec()
    callbacks = [ExchangeNotifier(dag_defaults=task_spec["settings"]), *notifiers]
    kwargs = {**DAG_KWARGS, "default_args": {**DEFAULT_ARGS, "on_failure_callback": callbacks},
              "tags": [*DAG_KWARGS["tags"], spec.flow, spec.adapter]}

    @dag(dag_id=spec.dag_id, schedule=_schedule(spec), params=exchange_params(spec.flow), doc_md=_doc(spec),
         **kwargs)
    def exchange() -> None:
        batches = tasks.list_documents(task_spec)
        stage_tasks = []
        for stage in flow.stages:
            batches = tasks.run_stage.override(task_id=stage.task_id).partial(
                spec=task_spec, stage=stage.task_id).expand(batch=batches)
            stage_tasks.append(batches)
        stage_tasks >> tasks.summarize(task_spec)

    return exchange()


def build_dags(notifiers: Sequence[Any] = (), config: dict[str, Any] | None = None) -> dict[str, DAG]:
    """Every exchange DAG, by id (the DAG file puts them in its globals)."""
    return {spec.dag_id: build_dag(spec, notifiers) for spec in dag_specs(config)}


__all__ = ["build_dag", "build_dags"]
