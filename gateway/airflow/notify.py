"""The notifier every exchange task carries: a failed task (a failed run) reaches an operator.

:class:`ExchangeNotifier` is an Airflow notifier (``airflow.sdk.BaseNotifier``) wired as the
``on_failure_callback`` of every task of the generated DAGs (``gateway.airflow.defaults``). When
the run's summary exists (the summarize task failed because documents failed) it sends that
Markdown; otherwise the task and its error. It POSTs JSON to the http connection
``lienthong_notify`` (host/port/*schema* = the webhook URL; ``extra.headers`` added to the request)
— a chat webhook, an alerting gateway — and logs the message in any case. Any other Airflow
notifier (``SmtpNotifier`` from apache-airflow-providers-smtp, Slack, …) can be added beside it:
``build_dags(notifiers=[...])`` in ``dags/lienthong_exchanges.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from airflow.sdk import BaseHook, BaseNotifier

from gateway.airflow.hook import ExchangeSettings, base_url

NOTIFY_CONN_ID = "lienthong_notify"
log = logging.getLogger("lienthong.exchange")


class ExchangeNotifier(BaseNotifier):
    """Send the failed run's summary (or the failed task's error) to a webhook and the log."""

    template_fields = ("conn_id",)

    def __init__(self, conn_id: str = NOTIFY_CONN_ID, dag_defaults: dict[str, Any] | None = None):
        super().__init__()
        self.conn_id = conn_id
        self.dag_defaults = dict(dag_defaults or {})

    def message(self, context: Any) -> dict[str, Any]:
        from gateway.exchange import safe_name

        ti = context["ti"]
        dag_id, run_id = str(ti.dag_id), str(context.get("run_id"))
        text = f"{dag_id} {run_id}: task {ti.task_id} failed: {context.get('exception')}"
        try:
            settings = ExchangeSettings.resolve(context.get("params") or {}, dag_defaults=self.dag_defaults)
            md = settings.work_dir / "reports" / dag_id / safe_name(run_id) / "summary.md"
            if ti.task_id == "summarize" and md.exists():
                text = md.read_text(encoding="utf-8")
        except Exception as exc:  # the notice must go out even when the settings are broken
            log.debug("no run summary for the notice: %s", type(exc).__name__)
        return {"dag_id": dag_id, "run_id": run_id, "task_id": str(ti.task_id), "text": text}

    def notify(self, context: Any) -> None:
        body = self.message(context)
        log.warning("lienthong notice: %s", body["text"])
        try:
            conn = BaseHook.get_connection(self.conn_id)
        except Exception:
            return  # no webhook configured: the log line is the notice
        url = base_url(conn.host, conn.port, conn.schema, conn.conn_type, conn.extra_dejson)
        headers = {str(k): str(v) for k, v in dict(conn.extra_dejson.get("headers", {})).items()}
        try:
            httpx.post(url, json=body, headers=headers, timeout=10).raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("lienthong notice not delivered to %s: %s", self.conn_id, type(exc).__name__)


__all__ = ["NOTIFY_CONN_ID", "ExchangeNotifier"]
