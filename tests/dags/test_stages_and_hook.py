"""The pieces under the DAGs: error mapping onto Airflow, settings resolution, connection URLs,
work-file names, and the delivery stage's retryable / non-retryable split against a real hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from exchange_kit import G22, H41

from gateway.airflow.hook import ExchangeSettings, base_url
from gateway.airflow.tasks import fail_fast
from gateway.edxml import Organization, build_package
from gateway.edxml.samples import sample_edoc
from gateway.errors import AuthorizationError, ConfigurationError, RemoteRefusalError, TransportTimeoutError
from gateway.exchange import chunked, original_id, safe_name
from gateway.exchange.outbound import OutboundFolders, deliver
from gateway.transport.axis import AxisClient


def test_non_retryable_errors_fail_the_task_and_retryable_ones_reach_airflow_retries() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    @fail_fast
    def refused() -> None:
        raise RemoteRefusalError("nope", code="403")

    @fail_fast
    def slow() -> None:
        raise TransportTimeoutError("no answer")

    with pytest.raises(AirflowFailException, match="RemoteRefusalError: nope"):
        refused()
    with pytest.raises(TransportTimeoutError):
        slow()


def test_settings_params_win_over_variables_and_are_typed(tmp_path: Path) -> None:
    s = ExchangeSettings.resolve({"chunk_size": "50", "work_dir": str(tmp_path)},
                                 {"chunk_size": 7, "adapter": "flat_xml_export", "organ_ids": "A,B",
                                  "reject_invalid_signatures": "yes"})
    assert (s.chunk_size, s.work_dir, s.adapter, s.organ_ids) == (50, tmp_path, "flat_xml_export", ("A", "B"))
    assert s.reject_invalid_signatures is True and s.directory_target == tmp_path / "agencies.json"
    with pytest.raises(ConfigurationError, match="chunk_size"):
        ExchangeSettings.resolve({"chunk_size": 0}, {})
    with pytest.raises(ConfigurationError, match="true/false"):
        ExchangeSettings.resolve({"reject_invalid_signatures": "maybe"}, {})


def test_connection_urls() -> None:
    assert base_url("127.0.0.1", 8080, None, "http", {}) == "http://127.0.0.1:8080"
    assert base_url("hub.example", None, "/vdxp/", "https", {}) == "https://hub.example/vdxp"
    assert base_url("hub.example", 443, "", "generic", {"scheme": "https"}) == "https://hub.example:443"
    with pytest.raises(ConfigurationError, match="no host"):
        base_url(None, None, None, "http", {})


@pytest.mark.parametrize("identifier", ["QLVB-2024-000123", "../../etc/passwd", ".hidden", "a/b c%", "Số 1"])
def test_work_names_stay_in_the_folder_and_round_trip(identifier: str) -> None:
    name = safe_name(identifier)
    assert "/" not in name and not name.startswith(".") and original_id(name) == identifier
    assert chunked([str(i) for i in range(5)], 2) == [["0", "1"], ["2", "3"], ["4"]]


def test_delivery_refusal_fails_alone_and_an_unreachable_hub_is_retryable(hub, tmp_path: Path) -> None:
    hub.ledger.add_system("sys-h41", "secret-h41", [H41])
    hub.ledger.add_system("sys-g22", "secret-g22", [G22])
    folders = OutboundFolders(tmp_path).make()
    ours = sample_edoc(1, sender=Organization(H41, "UBND"), recipients=(Organization(G22, "VPCP"),))
    theirs = sample_edoc(2, sender=Organization(G22, "VPCP"), recipients=(Organization(H41, "UBND"),))
    (folders.signed / "ours.edxml").write_bytes(build_package(ours))
    (folders.signed / "theirs.edxml").write_bytes(build_package(theirs))  # not ours to send: 403

    with AxisClient(hub.url, "sys-h41", "secret-h41", retries=0, timeout=5) as client:
        result = deliver(client, ["ours", "theirs"], folders)
    assert [(i["source"], i["outcome"]) for i in result.report.items] == [("ours", "ok"), ("theirs", "failed")]
    assert result.names == ["ours"] and result.retryable_failures == 0
    error = json.loads((folders.signed / "theirs.send.error.json").read_text())
    assert error["retryable"] is False and error["type"] == "RemoteRefusalError"

    with AxisClient(hub.url, "sys-h41", "not-the-secret", retries=0, timeout=5) as client, \
            pytest.raises(AuthorizationError, match="credentials"):
        deliver(client, ["theirs"], folders)  # wrong credentials stop the batch (the task fails, no retry)

    another = sample_edoc(3, sender=Organization(H41, "UBND"), recipients=(Organization(G22, "VPCP"),))
    (folders.signed / "theirs.edxml").write_bytes(build_package(another))
    hub.stop()
    with AxisClient(hub.url, "sys-h41", "secret-h41", retries=0, timeout=2) as client:
        result = deliver(client, ["ours", "theirs"], folders)
    assert [i["outcome"] for i in result.report.items] == ["skipped", "failed"]  # ours was done: not resent
    assert result.retryable_failures == 1
    assert json.loads((folders.signed / "theirs.send.error.json").read_text())["retryable"] is True
    hub.start = lambda: hub  # the fixture's teardown stops it again
    hub.stop = lambda: None


def test_a_chunk_with_retryable_failures_is_reported_then_raised(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    from types import SimpleNamespace

    from gateway.airflow import tasks
    from gateway.errors import UpstreamUnavailableError
    from gateway.exchange.common import start

    ti = SimpleNamespace(dag_id="lienthong_outbound", task_id="deliver", map_index=3)
    monkeypatch.setattr(tasks, "_context", lambda: {"ti": ti, "run_id": "manual__1", "params": {}})
    result = start("send")
    result.add("a", "ok")
    result.add("b", "failed", error="timeout", retryable=True)
    with pytest.raises(UpstreamUnavailableError, match="1 document"):
        tasks.finish(result, tmp_path, "att1")
    report = json.loads((tmp_path / "reports/lienthong_outbound/manual__1/deliver.3.json").read_text())
    assert report["failed"] == 1 and report["names"] == ["a"] and report["items"][1]["error"] == "timeout"
    assert (report["attempt"], report["task"]) == ("att1", "deliver")  # summarize keeps only this attempt

    done = start("send")
    done.add("a", "ok")
    done.add("c", "failed", error="refused", retryable=False)
    assert tasks.finish(done, tmp_path, "att1") == {"stage": "send", "ok": 1, "skipped": 0, "failed": 1,
                                                    "retryable_failed": 0, "names": ["a"], "attempt": "att1"}


def test_hook_reads_the_connection_and_never_shows_the_secret(hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from exchange_kit import connect

    from gateway.airflow import LienthongHook

    hub.ledger.add_system("sys-h41", "right-secret-123", [H41])
    connect(monkeypatch, hub.url, "sys-h41", "right-secret-123", "http://127.0.0.1:9/qlvb")
    ok, message = LienthongHook().test_connection()
    assert ok, message
    with LienthongHook().get_conn() as client:
        assert client.base_url == hub.url and client.system_id == "sys-h41"
        assert "right-secret-123" not in repr(client)

    connect(monkeypatch, hub.url, "sys-h41", "wrong-secret-456", "http://127.0.0.1:9/qlvb")
    ok, message = LienthongHook().test_connection()
    assert not ok and "RemoteRefusalError" in message and "wrong-secret-456" not in message


def test_after_a_clear_only_the_current_attempt_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A map index that became *removed* keeps its old report and XCom: neither may count or be worked on."""
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from gateway.airflow import tasks
    from gateway.exchange.common import write_json

    pushed = {"attempt": "new", "return_value": [{"attempt": "new", "names": ["a"]}]}
    ti = SimpleNamespace(dag_id="lienthong_outbound_qlvb_soap", task_id="summarize", map_index=-1,
                         xcom_pull=lambda task_ids, key="return_value": pushed.get(key))
    monkeypatch.setattr(tasks, "_context", lambda: {"ti": ti, "run_id": "manual__2", "params": {}})
    monkeypatch.setattr(tasks, "_hook", lambda spec: SimpleNamespace(
        context=lambda *a, **k: SimpleNamespace(leases=None)))
    folder = tmp_path / "reports/lienthong_outbound_qlvb_soap/manual__2"
    item = {"source": "a", "outcome": "ok"}
    for task_id, stage in (("fetch_translate", "fetch"), ("stamp", "stamp"), ("deliver", "send"),
                           ("acknowledge", "ack")):
        write_json(folder / f"{task_id}.0.json", {"stage": stage, "items": [item], "attempt": "new", "task": task_id})
        # the removed index 1 of the earlier attempt: failures that no longer exist
        write_json(folder / f"{task_id}.1.json", {"stage": stage, "attempt": "old", "task": task_id,
                                                 "items": [{"source": "z", "outcome": "failed", "error": "old"}]})
    spec = {"flow": "outbound", "settings": {"work_dir": str(tmp_path)}}
    result = tasks.summarize.function(spec)
    assert result["passed"] is True and result["failures"] == []
    assert result["stages"]["fetch"] == {"ok": 1, "skipped": 0, "failed": 0, "chunks": 1}

    with pytest.raises(AirflowSkipException, match="attempt old"):  # downstream of a removed index
        tasks.run_stage.function({"attempt": "old", "names": ["z"]}, spec, "stamp")

    (folder / "acknowledge.0.json").unlink()  # a chunk whose stage never finished fails the run
    with pytest.raises(AirflowFailException, match="acknowledge"):
        tasks.summarize.function(spec)
