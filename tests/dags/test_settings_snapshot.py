"""One set of settings per run attempt, and each connection looked up once per task.

``list_documents`` resolves the settings (params, the DAG's config, Variables) and records them in
XCom; every stage task and ``summarize`` of the attempt work with that record instead of reading
a Variable per setting again: the run is consistent (a Variable changed mid-run applies from the
next run) and a task makes one execution-API call for its settings instead of about fifteen.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from exchange_kit import connect

from gateway.airflow import hook as hook_module
from gateway.airflow import tasks
from gateway.airflow.hook import ExchangeSettings, LienthongHook
from gateway.errors import ConfigurationError


def test_a_snapshot_is_json_and_gives_the_same_settings_back(tmp_path: Path) -> None:
    settings = ExchangeSettings(work_dir=tmp_path / "w", adapter="flat_xml_export", chunk_size=50,
                                send_concurrency=8, organ_ids=("A", "B"), directory_file=tmp_path / "d.json",
                                directory_min_ratio=0.25, reject_invalid_signatures=True, max_failed_documents=3)
    recorded = json.loads(json.dumps(settings.snapshot()))
    assert recorded["work_dir"] == str(tmp_path / "w") and recorded["organ_ids"] == ["A", "B"]
    assert ExchangeSettings.from_snapshot(recorded) == settings
    # a record is checked like any other source of settings
    with pytest.raises(ConfigurationError, match="chunk_size must be at least 1"):
        ExchangeSettings.from_snapshot({**recorded, "chunk_size": 0})


def _fake_task(monkeypatch: pytest.MonkeyPatch, pushed: dict[str, Any]) -> list[str]:
    """A task context whose XComs are ``pushed``; returns the list the Variables read are noted in."""
    read: list[str] = []
    ti = SimpleNamespace(dag_id="lienthong_outbound_qlvb_soap", task_id="stamp", map_index=0,
                         xcom_pull=lambda task_ids, key="return_value": pushed.get(key),
                         xcom_push=lambda key, value: pushed.__setitem__(key, value))
    monkeypatch.setattr(tasks, "_context", lambda: {"ti": ti, "run_id": "manual__1", "params": {}})
    monkeypatch.setattr(hook_module, "_variable", lambda name: read.append(name))
    return read


def test_the_tasks_of_an_attempt_use_the_settings_the_listing_recorded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    recorded = ExchangeSettings(work_dir=tmp_path, chunk_size=7, send_concurrency=2).snapshot()
    read = _fake_task(monkeypatch, {"settings": recorded})
    spec = {"flow": "outbound", "settings": {"chunk_size": 99}}  # the DAG config has changed since
    s = tasks.attempt_settings(spec)
    assert (s.work_dir, s.chunk_size, s.send_concurrency) == (tmp_path, 7, 2) and read == []
    # no record (a listing that failed, or a run from before this change): resolved afresh
    read = _fake_task(monkeypatch, {})
    assert tasks.attempt_settings(spec).chunk_size == 99
    assert "signing_profile" in read and "chunk_size" not in read  # the DAG config gave that one


def test_each_connection_is_looked_up_once_per_hook(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    connect(monkeypatch, "http://127.0.0.1:9", "sys-h41", "s3cret", "http://127.0.0.1:9/qlvb")
    looked_up: list[str] = []
    real = LienthongHook.get_connection

    def counting(conn_id: str) -> Any:
        looked_up.append(conn_id)
        return real(conn_id)

    monkeypatch.setattr(LienthongHook, "get_connection", staticmethod(counting))
    hook = LienthongHook()
    ctx = hook.context(ExchangeSettings(work_dir=tmp_path, lease_database_url=f"sqlite:///{tmp_path}/l.db"),
                       "dag/run")
    try:
        assert ctx.legacy_endpoint == "http://127.0.0.1:9/qlvb" and ctx.hub_endpoint == "http://127.0.0.1:9#sys-h41"
        with ctx.open_hub() as client:
            assert client.system_id == "sys-h41"
        assert hook.legacy_endpoint()[0] == "http://127.0.0.1:9/qlvb"
    finally:
        assert ctx.leases is not None
        ctx.leases.close()
    assert sorted(looked_up) == ["lienthong_hub", "lienthong_legacy"]
    # another hook (another task) looks them up again: a changed connection applies to the next task
    LienthongHook().legacy_endpoint()
    assert looked_up.count("lienthong_legacy") == 2
