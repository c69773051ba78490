"""Every DAG file imports cleanly, is named after its file, and parses without a connection or the DB."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"lienthong_outbound", "lienthong_inbound", "lienthong_statuses", "lienthong_directory_sync"}


def test_every_dag_file_imports_and_is_named_after_its_file(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED
    for dag_id, dag in dagbag.dags.items():
        assert Path(dag.fileloc).name == f"{dag_id}.py"
        assert dag.max_active_runs == 1 and not dag.catchup
        assert dag.default_args["retries"] >= 1


def test_parsing_uses_no_connection_variable_or_database(monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import BaseHook, Variable

    def refuse(*args, **kwargs):
        raise AssertionError(f"used while parsing: {args!r}")

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(refuse))
    monkeypatch.setattr(Variable, "get", classmethod(refuse))
    statements: list[str] = []

    def count(conn, cursor, statement, *rest):
        statements.append(statement)

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", count)
    try:
        bag = DagBag(dag_folder=str(DAGS))
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", count)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == EXPECTED
    assert statements == []


def test_stage_tasks_are_mapped_over_chunks(dagbag) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    dag = dagbag.dags["lienthong_outbound"]
    mapped = {t.task_id for t in dag.tasks if isinstance(t, MappedOperator)}
    assert mapped == {"fetch_translate", "stamp", "deliver", "acknowledge"}
    assert dag.get_task("summarize").trigger_rule == "none_failed"
