"""Batch stages over a work folder, for orchestration (the Airflow DAGs) and scripts.

``gateway.exchange.steps`` holds the per-package steps (stamp, verify, answer) and the generic folder
stage; this package chains them with the transports into the exchange the DAGs schedule:
:mod:`.outbound` (legacy → hub), :mod:`.inbound` (hub → legacy, documents and statuses) and
:mod:`.directory` (agency lists → directory file). Every stage takes a list of names (one chunk),
records per-document outcomes and errors in the work folder, skips what is already done, and
returns a :class:`~gateway.exchange.common.StageResult` whose summary is small enough for
XCom (counts and names only).
"""

from gateway.exchange.common import StageResult, chunked, original_id, safe_name

__all__ = ["StageResult", "chunked", "original_id", "safe_name"]
