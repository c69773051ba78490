"""Every DAG file imports cleanly, the exchange DAGs are generated for every bundled adapter, and
parsing needs no connection, Variable or database."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
ADAPTERS = sorted(p.parent.name for p in (DAGS.parent / "adapters").glob("*/adapter.toml"))
EXPECTED = {"lienthong_directory_sync"} | {f"lienthong_{flow}_{code}" for code in ADAPTERS
                                          for flow in ("outbound", "inbound", "statuses")}


def test_every_bundled_adapter_gets_its_dags(dagbag) -> None:
    assert len(ADAPTERS) >= 3 and dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED
    for dag_id, dag in dagbag.dags.items():
        assert dag.max_active_runs == 1 and not dag.catchup
        assert dag.default_args["retries"] >= 1
        if dag_id != "lienthong_directory_sync":
            assert Path(dag.fileloc).name == "lienthong_exchanges.py"
            assert dag.get_task("summarize").trigger_rule == "all_done"
            assert dag.default_args["on_failure_callback"], dag_id  # the notifier is wired


def test_config_names_connections_and_refuses_clashes(tmp_path: Path) -> None:
    from gateway.airflow.specs import dag_specs
    from gateway.errors import ConfigurationError

    config = {"defaults": {"schedule": ""},
              "exchange": [{"adapter": "qlvb_soap", "legacy_conn_id": "qlvb_a", "flows": ["outbound"]},
                           {"adapter": "qlvb_soap", "name": "vpcp", "legacy_conn_id": "qlvb_b", "schedule": "@hourly"},
                           {"adapter": "flat_xml_export", "signing_profile": "p1", "chunk_size": 5}]}
    specs = {s.dag_id: s for s in dag_specs(config)}
    assert "lienthong_inbound_qlvb_soap" not in specs  # only the flows the entry asks for
    assert specs["lienthong_outbound_qlvb_soap"].legacy_conn_id == "qlvb_a"
    assert specs["lienthong_inbound_qlvb_soap_vpcp"].schedule == "@hourly"
    assert specs["lienthong_outbound_qlvb_soap"].asset_uri == "lienthong://legacy/qlvb_soap/default"
    flat = specs["lienthong_outbound_flat_xml_export"]
    assert flat.transport == "filedrop" and flat.task_spec()["settings"] == {
        "adapter": "flat_xml_export", "signing_profile": "p1", "chunk_size": 5}
    assert specs["lienthong_outbound_edxml_2011"].legacy_conn_id == "lienthong_legacy_edxml_2011"
    with pytest.raises(ConfigurationError, match="same DAG ids"):
        dag_specs({"exchange": [{"adapter": "qlvb_soap"}, {"adapter": "qlvb_soap"}]})
    with pytest.raises(ConfigurationError, match="unknown adapter 'nope'"):
        dag_specs({"exchange": [{"adapter": "nope"}]})


def test_exchange_dags_are_scheduled_on_time_or_on_their_asset(dagbag) -> None:
    dag = dagbag.dags["lienthong_outbound_flat_xml_export"]
    uris = {a.uri for a in dag.timetable.asset_condition.iter_assets()} if hasattr(
        dag.timetable.asset_condition, "iter_assets") else {dag.timetable.asset_condition.objects[0].uri}
    assert uris == {"lienthong://legacy/flat_xml_export/default"}


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

    dag = dagbag.dags["lienthong_outbound_qlvb_soap"]
    mapped = {t.task_id for t in dag.tasks if isinstance(t, MappedOperator)}
    assert mapped == {"fetch_translate", "stamp", "deliver", "acknowledge"}
    inbound = dagbag.dags["lienthong_inbound_edxml_2011"]
    assert [t.task_id for t in inbound.tasks] == ["list_documents", "receive", "verify_signatures",
                                                  "deliver_to_legacy", "send_status", "summarize"]
