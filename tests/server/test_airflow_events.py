"""Asset events after a legacy push, against a real HTTP server on 127.0.0.1 that answers like Airflow 3.3.

``FakeAirflow`` speaks the three api-server calls the hub uses (``POST /auth/token``,
``GET /api/v2/assets?uri_pattern=``, ``POST /api/v2/assets/events``) over a real socket; the real
api-server is exercised by tests/dags/test_celery_deployment.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hubkit import running_hubs
from test_hub_legacy_push import SENDER, SNV, STC, _push

from gateway.config import AirflowEventSettings, HubSettings, load_settings
from gateway.errors import ConfigurationError
from gateway.server.airflow_events import AssetEventClient, AssetEventEmitter

ASSETS = [{"id": 7, "uri": "lienthong://legacy/qlvb_soap/default_old"},
          {"id": 3, "uri": "lienthong://legacy/qlvb_soap/default"}]


class FakeAirflow:
    """A threaded HTTP server with Airflow's answers; records every request; can fail on demand."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.events: list[dict[str, Any]] = []
        self.fail_events_with = 0  # answer POST /assets/events with this status (0 = normally)
        self.expire_next_token = False
        self.tokens = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> dict[str, Any]:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length) or b"{}")

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer token-{fake.tokens}" or fake.expire_next_token:
                    fake.expire_next_token = False
                    self._answer(401, {"detail": "Not authenticated"})
                    return False
                return True

            def do_POST(self) -> None:
                body = self._body()
                fake.requests.append(("POST", self.path, body))
                if self.path == "/auth/token":
                    if body != {"username": "lienthong", "password": "s3cret-pw"}:
                        return self._answer(401, {"detail": "Invalid credentials"})
                    fake.tokens += 1
                    return self._answer(201, {"access_token": f"token-{fake.tokens}"})
                if self.path == "/api/v2/assets/events" and self._authorized():
                    if fake.fail_events_with:
                        return self._answer(fake.fail_events_with, {"detail": "down"})
                    fake.events.append(body)
                    return self._answer(200, {"id": len(fake.events), "asset_id": body["asset_id"],
                                              "created_dagruns": [{"dag_run_id": f"asset_triggered__{len(fake.events)}"}]})
                return None

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                fake.requests.append(("GET", parts.path, parse_qs(parts.query)))
                if parts.path == "/api/v2/assets" and self._authorized():
                    pattern = parse_qs(parts.query)["uri_pattern"][0]
                    found = [a for a in ASSETS if pattern in a["uri"]]  # a substring match, as Airflow's
                    return self._answer(200, {"assets": found, "total_entries": len(found)})
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAirflow:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def airflow() -> Iterator[FakeAirflow]:
    with FakeAirflow() as fake:
        yield fake


def test_client_looks_the_asset_up_by_exact_uri_once_and_renews_an_expired_token(airflow: FakeAirflow) -> None:
    client = AssetEventClient(airflow.url, "lienthong", "s3cret-pw")
    try:
        first = client.post_event("lienthong://legacy/qlvb_soap/default", {"batch": 1})
        assert first["created_dagruns"] == [{"dag_run_id": "asset_triggered__1"}]
        airflow.expire_next_token = True  # the cached token expired: one new token, the call goes through
        client.post_event("lienthong://legacy/qlvb_soap/default", {"batch": 2})
    finally:
        client.close()
    # id 3, not 7: the substring match also found ..._old; the id was looked up once and cached
    assert airflow.events == [{"asset_id": 3, "extra": {"batch": 1}}, {"asset_id": 3, "extra": {"batch": 2}}]
    assert client.lookups == 1 and [r[1] for r in airflow.requests].count("/api/v2/assets") == 1
    assert airflow.tokens == 2 and client.token_requests == 2


def test_client_names_an_unknown_asset_and_a_refused_login(airflow: FakeAirflow) -> None:
    with pytest.raises(ConfigurationError, match="no asset 'lienthong://legacy/nope/default'"):
        AssetEventClient(airflow.url, "lienthong", "s3cret-pw").post_event("lienthong://legacy/nope/default", {})
    bad = AssetEventClient(airflow.url, "lienthong", "wrong")
    with pytest.raises(Exception, match="refused the credentials of 'lienthong': HTTP 401") as caught:
        bad.post_event("lienthong://legacy/qlvb_soap/default", {})
    assert "wrong" not in str(caught.value)
    assert airflow.events == []


def _settings(tmp_path: Path, database_url: str, url: str, **airflow: Any) -> HubSettings:
    secret = tmp_path / "airflow-password"
    secret.write_text("s3cret-pw\n", encoding="utf-8")
    events = AirflowEventSettings(url=url, username="lienthong", password_file=secret, retries=2,
                                  retry_backoff_seconds=0.05, timeout_seconds=3, **airflow)
    return HubSettings(data_dir=tmp_path / "hub", database_url=database_url, node_id="NA.W00", airflow=events)


def _systems(hub: Any) -> None:
    hub.ledger.add_system("qlvb-na", "pw-qlvb", [SENDER], name="QLVB UBND Nghe An")
    hub.ledger.add_system("snv", "pw-snv", [SNV])
    hub.ledger.add_system("stc", "pw-stc", [STC])


@pytest.mark.db
def test_a_stored_push_posts_the_adapters_asset_event(airflow: FakeAirflow, tmp_path: Path, database_url: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    with running_hubs(_settings(tmp_path, database_url, airflow.url)) as (hub,):
        _systems(hub)
        receipts = _push(hub, "qlvb-na", "pw-qlvb")
        assert hub.app.state.hub.asset_events.wait_idle(20)
        again = _push(hub, "qlvb-na", "pw-qlvb")  # nothing new stored: no event
        assert hub.app.state.hub.asset_events.wait_idle(20)
        counters = hub.app.state.hub.asset_events.counters
    assert [r.ChapNhan for r in receipts] == [True, False, True] and again[0].ThongBao == "already accepted"
    assert len(airflow.events) == 1
    event = airflow.events[0]
    assert event["asset_id"] == 3 and event["extra"]["adapter"] == "qlvb_soap"
    assert event["extra"]["documents"] == 2 and event["extra"]["system_id"] == "qlvb-na"
    assert sorted(event["extra"]["doc_ids"]) == sorted([receipts[0].MaThamChieu, receipts[2].MaThamChieu])
    assert (counters.sent, counters.failed) == (1, 0)
    assert "s3cret-pw" not in caplog.text


@pytest.mark.db
def test_a_failing_airflow_never_fails_the_push(airflow: FakeAirflow, tmp_path: Path, database_url: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    airflow.fail_events_with = 503
    with running_hubs(_settings(tmp_path, database_url, airflow.url)) as (hub,):
        _systems(hub)
        receipts = _push(hub, "qlvb-na", "pw-qlvb")
        assert hub.app.state.hub.asset_events.wait_idle(20)
        counters = hub.app.state.hub.asset_events.counters
        metrics = __import__("httpx").get(f"{hub.url}/metrics").text
    assert [r.ChapNhan for r in receipts] == [True, False, True]  # stored and answered as always
    posts = [r for r in airflow.requests if r[1] == "/api/v2/assets/events"]
    assert len(posts) == 3  # the first try and 2 retries, then given up
    assert (counters.sent, counters.retried, counters.failed) == (0, 2, 1)
    assert 'lienthong_airflow_asset_events_total{outcome="failed"} 1.0' in metrics
    assert "given up after 3 attempt(s)" in caplog.text and "s3cret-pw" not in caplog.text


@pytest.mark.db
def test_an_unreachable_airflow_never_fails_the_push(tmp_path: Path, database_url: str) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with running_hubs(_settings(tmp_path, database_url, dead)) as (hub,):
        _systems(hub)
        receipts = _push(hub, "qlvb-na", "pw-qlvb")
        assert hub.app.state.hub.asset_events.wait_idle(20)
        assert hub.app.state.hub.asset_events.counters.failed == 1
    assert [r.ChapNhan for r in receipts] == [True, False, True]


def test_hub_toml_airflow_section(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n", encoding="utf-8")
    (tmp_path / "hub.toml").write_text(
        '[airflow]\nurl = "http://127.0.0.1:8080"\nusername = "lienthong"\npassword_file = "pw"\n'
        'assets = ["lienthong://legacy/{adapter}/default", "lienthong://hub/lienthong_hub"]\n', encoding="utf-8")
    settings = load_settings({"LIENTHONG_CONFIG": str(tmp_path / "hub.toml")}, database_url="sqlite://")
    assert settings.airflow.enabled and settings.airflow.secret() == "from-file"
    assert settings.airflow.assets[1] == "lienthong://hub/lienthong_hub"
    assert "from-file" not in repr(settings)
    (tmp_path / "hub.toml").write_text('[airflow]\nurl = "http://x"\npassword = "inline"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match="password_file or"):
        load_settings({"LIENTHONG_CONFIG": str(tmp_path / "hub.toml")}, database_url="sqlite://")
    env = {"LIENTHONG_CONFIG": str(tmp_path / "none.toml"), "LIENTHONG_AIRFLOW_EVENTS_PASSWORD": "from-env"}
    (tmp_path / "none.toml").write_text('[airflow]\nurl = "http://x"\n', encoding="utf-8")
    assert load_settings(env, database_url="sqlite://").airflow.secret() == "from-env"
    assert not AssetEventEmitter.from_settings(AirflowEventSettings())
