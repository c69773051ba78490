"""DAG-level defaults shared by the exchange DAG files: retries, run limits and the params form.

Params default to ``None`` so that, unless a run overrides them, the task falls back to the
Airflow Variable ``lienthong_<name>`` and then to :class:`gateway.airflow.hook.ExchangeSettings`'
default; nothing here reads a Variable or a Connection (DAG files are parsed without them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Param

START_DATE = pendulum.datetime(2026, 1, 1, tz="Asia/Ho_Chi_Minh")

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "lienthong",
    "retries": 3,  # retryable gateway errors only; the others fail at once (AirflowFailException)
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

DAG_KWARGS: dict[str, Any] = {
    "start_date": START_DATE,
    "catchup": False,
    "max_active_runs": 1,  # two runs of one exchange must not work the same folder at once
    "default_args": DEFAULT_ARGS,
    "tags": ["lienthong"],
}


def _optional(kind: str, description: str, **extra: Any) -> Param:
    return Param(None, type=["null", kind], description=description, **extra)


COMMON = {
    "work_dir": _optional(
        "string", "work folder (default Variable lienthong_work_dir, else $LIENTHONG_DATA_DIR/airflow)"),
    "chunk_size": _optional("integer", "documents per mapped task (default 500)", minimum=1),
    "max_documents": _optional("integer", "take at most this many documents in one run", minimum=1),
}
LEGACY = {"adapter": _optional("string", "adapter code of the legacy system (default qlvb_soap)")}


def outbound_params() -> dict[str, Param]:
    return {**COMMON, **LEGACY,
            "signing_profile": _optional("string", "agency signing profile that stamps outgoing PDFs"),
            "signing_profiles": _optional("string", "signing profiles TOML (default $LIENTHONG_SIGNING_PROFILES)"),
            "placeholder": _optional("string", "text marking the signature slot on the main PDF"),
            "send_concurrency": _optional("integer", "sendEdoc calls in flight at once (default 4)", minimum=1)}


def inbound_params() -> dict[str, Param]:
    return {**COMMON, **LEGACY,
            "signing_profiles": _optional("string", "profiles TOML whose [trust] verifies inbound signatures"),
            "reject_invalid_signatures": _optional(
                "boolean", "refuse (status 02) instead of delivering flagged documents (default false)"),
            "organ_ids": _optional("array", "our OrganIds, to pick the recipient that answers with status 01")}


def statuses_params() -> dict[str, Param]:
    return {**COMMON, **LEGACY}


HONEST = {"max_failed_documents": _optional(
    "integer", "documents that may fail permanently before the run fails (default 0)", minimum=0)}


def exchange_params(flow: str) -> dict[str, Param]:
    """The params form of a generated exchange DAG (``adapter`` is fixed by the DAG itself)."""
    made = {"outbound": outbound_params, "inbound": inbound_params, "statuses": statuses_params}[flow]()
    made.pop("adapter", None)
    return {**made, **HONEST}


def directory_params() -> dict[str, Param]:
    return {"work_dir": COMMON["work_dir"],
            "directory_file": _optional("string", "directory JSON to replace (default <work_dir>/agencies.json)"),
            "directory_min_ratio": _optional(
                "number", "refuse a new list smaller than this share of the old one (default 0.5; 0 = off)",
                minimum=0)}


__all__ = ["DAG_KWARGS", "DEFAULT_ARGS", "directory_params", "exchange_params", "inbound_params",
           "outbound_params", "statuses_params"]
