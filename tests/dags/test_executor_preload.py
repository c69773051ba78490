"""ExchangeLocalExecutor: the exchange code is imported before LocalExecutor forks its workers.

Each check runs in a fresh interpreter (``sys.modules`` of the test process already holds
everything), with Airflow configured as the other DAG tests configure it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, tmp_path: Path) -> dict:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__UNIT_TEST_MODE": "True", "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
           "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_modules_are_imported_before_the_workers_are_forked(tmp_path: Path) -> None:
    seen = _python("""
import json, sys
from airflow.executors.local_executor import LocalExecutor
from gateway.airflow.executor import PRELOAD, ExchangeLocalExecutor
seen = {}
def spawn(self, number):  # where LocalExecutor forks its workers: record instead of forking
    seen.update({m: m in sys.modules for m in PRELOAD}, number=number)
LocalExecutor._spawn_workers_with_gc_freeze = spawn
before = {m: m in sys.modules for m in PRELOAD}
ExchangeLocalExecutor(parallelism=3).start()
print(json.dumps({"before": before, "at_fork": seen}))
""", tmp_path)
    assert seen["at_fork"].pop("number") == 3
    assert not any(seen["before"].values())  # the check would pass vacuously otherwise
    assert seen["at_fork"] and all(seen["at_fork"].values()), seen["at_fork"]


def test_a_task_process_parses_the_dag_file_without_importing_more_of_the_exchange_code(tmp_path: Path) -> None:
    """What PRELOAD must cover: the DAG file's imports and the stage tasks' heavy libraries."""
    new = _python("""
import json, sys
from gateway.airflow.executor import preload
assert preload() == []
before = set(sys.modules)
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="dags/lienthong_exchanges.py")
assert "lienthong_outbound_qlvb_soap" in bag.dags, bag.import_errors
import gateway.exchange.steps, gateway.signing.profiles, gateway.edxml, zeep, pyhanko.sign, xmlschema
added = sorted(m for m in set(sys.modules) - before
               if m.split(".")[0] in ("gateway", "zeep", "pyhanko", "xmlschema", "lxml", "cryptography"))
print(json.dumps({"added": added}))
""", tmp_path)
    assert new["added"] == []


def test_a_module_that_cannot_be_imported_is_reported_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    from gateway.airflow.executor import preload

    with caplog.at_level("WARNING", logger="lienthong.executor"):
        assert preload(("gateway.xml", "gateway.no_such_module")) == ["gateway.no_such_module"]
    assert "could not preload gateway.no_such_module" in caplog.text


def test_airflow_loads_it_by_its_path_as_a_local_executor() -> None:
    from airflow.executors.executor_loader import ExecutorLoader
    from airflow.executors.executor_utils import ExecutorName

    cls, _ = ExecutorLoader.import_executor_cls(ExecutorName("gateway.airflow.executor.ExchangeLocalExecutor"))
    from airflow.executors.local_executor import LocalExecutor

    assert issubclass(cls, LocalExecutor) and cls.is_local  # `airflow standalone` keeps a local executor


def test_the_local_settings_file_holds_real_airflow_options() -> None:
    """scripts/airflow-local.env (airflow-standalone.sh and the bench apply it): a typo there would be ignored."""
    from airflow.configuration import conf

    lines = [line.strip() for line in (ROOT / "scripts" / "airflow-local.env").read_text().splitlines()]
    settings = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "gateway.airflow.executor.ExchangeLocalExecutor"
    for name in settings:
        _prefix, section, key = name.split("__")
        assert conf.has_option(section.lower(), key.lower()), name
    assert 0 < float(settings["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"]) < 1
