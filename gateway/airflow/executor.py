"""``ExchangeLocalExecutor``: Airflow's LocalExecutor whose workers start with the exchange code loaded.

Under LocalExecutor every task instance is a process forked from one of the executor's worker
processes, which are forked from the scheduler when the executor starts. Each task process then
imports what its DAG file and its task need: the adapters, the exchange flows, pyHanko for the
stamp stage, zeep for the legacy calls — about a second of CPU per task instance on this
project's 2-core machine (docs/airflow.md, "Benchmark"), paid again by every mapped task of every
run. Importing those modules once in the scheduler, before the workers are forked, makes them
part of every worker's (copy-on-write, ``gc.freeze``\\ d by LocalExecutor) memory, as gunicorn's
``preload_app`` does for web workers.

Only imports happen here: no connection, thread, file or database handle is opened, so nothing
unsafe is inherited across ``fork``. A module that fails to import is logged and left out (its
task imports it and reports the error as it would without preloading). Use it with
``AIRFLOW__CORE__EXECUTOR=gateway.airflow.executor.ExchangeLocalExecutor`` (in
``scripts/airflow-local.env``, which ``scripts/airflow-standalone.sh`` applies); everything else is
LocalExecutor's.
"""

from __future__ import annotations

import importlib
import logging
import time

from airflow.executors.local_executor import LocalExecutor

log = logging.getLogger("lienthong.executor")

PRELOAD: tuple[str, ...] = (
    "gateway.airflow.factory",  # the DAG file's modules: specs, tasks, hook, notify
    "gateway.adapters",  # loaded by build_dags (adapter discovery), not by the import above
    "gateway.exchange.flows",
    "gateway.exchange.sources",
    "gateway.transport.soap",  # zeep + xmlschema: the fetch and acknowledge stages
    "gateway.signing.sign",  # pyHanko's signer: the stamp stage
    "gateway.signing.verify",  # pyHanko's validator: the inbound verify stage
)


def preload(modules: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import ``modules``; return the ones that failed (logged, never raised)."""
    started = time.perf_counter()
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a broken optional module must not stop the scheduler
            failed.append(name)
            log.warning("lienthong: could not preload %s for the task processes: %s: %s",
                        name, type(exc).__name__, exc)
    log.info("lienthong: preloaded %d module(s) for the task processes in %.2f s",
             len(modules) - len(failed), time.perf_counter() - started)
    return failed


class ExchangeLocalExecutor(LocalExecutor):
    """LocalExecutor that imports :data:`PRELOAD` before it forks its worker processes."""

    def start(self) -> None:
        preload()
        super().start()


__all__ = ["PRELOAD", "ExchangeLocalExecutor", "preload"]
