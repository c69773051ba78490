"""The run summary as the Airflow *run note* (the note shown on the grid and the run's details).

Airflow 3.3's task SDK has no call to set a note from a running task, so the summarize task uses
the public REST API the UI uses: ``POST /auth/token`` then ``PATCH /api/v2/dags/{dag}/dagRuns/{run}``
with ``{"note": …}`` (at most 1000 characters: the table of failures is cut, never the totals;
``summary.md`` keeps everything). Set the connection ``lienthong_airflow_api`` (http, host/port =
the api-server, login/password = an Airflow user allowed to edit runs) to turn it on; without it
the summary is only in the task log, ``summary.md`` and the task's XCom.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx
from airflow.sdk import BaseHook, get_current_context

from gateway.airflow.hook import base_url
from gateway.exchange.summary import NOTE_LIMIT, RunSummary

API_CONN_ID = "lienthong_airflow_api"
log = logging.getLogger("lienthong.exchange")


def note_text(summary: RunSummary, max_failed: int) -> str:
    return summary.markdown(max_failed, limit=NOTE_LIMIT)


def publish_note(text: str, *, conn_id: str = API_CONN_ID) -> bool:
    """Set the current run's note to ``text`` (cut to 1000 characters); False when not configured or refused."""
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # AirflowNotFoundException and friends: the feature is simply off
        log.info("run note not set: no connection %s (see docs/airflow.md)", conn_id)
        return False
    ctx = get_current_context()
    dag_id, run_id = str(ctx["ti"].dag_id), str(ctx["run_id"])
    if len(text) > NOTE_LIMIT:
        text = text[: NOTE_LIMIT - 30].rsplit("\n", 1)[0] + "\n\n… more in summary.md"
    url = base_url(conn.host, conn.port, conn.schema, conn.conn_type, conn.extra_dejson)
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            token = http.post("/auth/token", json={"username": conn.login, "password": conn.password})
            token.raise_for_status()
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            done = http.patch(f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}",
                              json={"note": text}, headers=headers)
            done.raise_for_status()
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        log.warning("run note not set: %s", type(exc).__name__ if not isinstance(exc, httpx.HTTPStatusError)
                    else f"HTTP {exc.response.status_code}")
        return False
    return True


__all__ = ["API_CONN_ID", "note_text", "publish_note"]
