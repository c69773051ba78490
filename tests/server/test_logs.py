"""The hub's logs: one JSON object per line, a DocumentId key on each, and never a secret.

The formatter is tested on its own (shape, dropped secret-ish fields, exception type), and then
on the real thing: a real ``lienthong serve`` process on 127.0.0.1 handles good and bad requests
made with known secrets (system secrets, operator keys, the upstream client secret, the HMACs of
every request, the ledger's secret key file), its stderr is captured, and each line must parse
as JSON of the documented shape while none of those secrets appears anywhere in it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from hubkit import free_port, sdk_headers, sdk_send, wait_for

from gateway.config import HubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.samples import sample_edoc
from gateway.ledger import Ledger
from gateway.server.logs import UVICORN_LOG_CONFIG, JsonFormatter, configure_json_logging

H41 = "000.00.00.H41"
G22 = "000.00.00.G22"
SYSTEM_SECRET = "sys-secret-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
WRONG_SECRET = "not-the-secret-9a8b7c6d5e4f"
OPERATOR_KEY = "operator-key-5c1d9e7f3a2b4c6d8e0f"
UPSTREAM_SECRET = "upstream-secret-77aa88bb99cc00dd"
SHAPE = {"ts", "level", "logger", "msg", "DocumentId"}


def _record(msg: str = "hello %s", args: tuple[object, ...] = ("world",), **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("lienthong.test", logging.WARNING, __file__, 1, msg, args, None)
    for k, v in extra.items():
        setattr(record, k, v)
    return record


def test_formatter_writes_one_json_object_with_the_fixed_keys() -> None:
    line = JsonFormatter().format(_record())
    assert "\n" not in line
    out = json.loads(line)
    assert set(out) == SHAPE
    assert out["level"] == "WARNING" and out["logger"] == "lienthong.test" and out["msg"] == "hello world"
    assert out["DocumentId"] is None
    assert out["ts"].endswith("+00:00") and len(out["ts"]) == len("2026-11-20T01:02:03.456+00:00")


def test_formatter_copies_extra_fields_and_the_document_id() -> None:
    out = json.loads(JsonFormatter().format(_record(document_id="000.00.00.H41,2026/11/20,1/UBND",
                                                    system_id="sys-h41", routes=["local:sys-g22"])))
    assert out["DocumentId"] == "000.00.00.H41,2026/11/20,1/UBND"
    assert "document_id" not in out
    assert out["system_id"] == "sys-h41" and out["routes"] == ["local:sys-g22"]


@pytest.mark.parametrize("name", ["secret", "system_secret", "password", "api_token", "operator_key", "X-API-Key",
                                  "hash-header", "XroadVnpt-hash-header", "Authorization", "passphrase_key"])
def test_formatter_drops_every_secret_looking_field_whatever_its_value(name: str) -> None:
    line = JsonFormatter().format(_record(**{name: "VALUE-THAT-MUST-NOT-APPEAR"}))
    assert "VALUE-THAT-MUST-NOT-APPEAR" not in line
    assert name not in json.loads(line)


def test_formatter_names_the_exception_type_and_keeps_non_ascii() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        import sys as _sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "Công văn %s", ("lỗi",), _sys.exc_info())
    line = JsonFormatter().format(record)
    out = json.loads(line)
    assert out["exc_type"] == "ValueError" and out["msg"] == "Công văn lỗi"
    assert "Công văn" in line  # not \u-escaped: grep-able by operators


def test_configure_json_logging_routes_uvicorn_to_one_json_handler(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    disabled = logging.root.manager.disable  # other suites (Airflow) may have muted logging globally
    logging.disable(logging.NOTSET)
    try:
        configure_json_logging("DEBUG")
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, JsonFormatter)
        assert root.level == logging.DEBUG
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            assert logging.getLogger(name).handlers == [] and logging.getLogger(name).propagate
        logging.getLogger("lienthong.test.configure").info("started", extra={"secret": SYSTEM_SECRET})
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and json.loads(err[0])["msg"] == "started" and SYSTEM_SECRET not in err[0]
    finally:
        root.handlers[:], root.level = saved
        logging.disable(disabled)
    assert UVICORN_LOG_CONFIG["formatters"]["json"]["()"] == "gateway.server.logs.JsonFormatter"


@pytest.mark.db
@pytest.mark.slow
def test_a_real_hub_logs_json_lines_without_any_secret(tmp_path: Path, database_url: str) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    dead_port = free_port()  # the upstream is down: deliveries fail (and must not log the client secret)
    (data_dir / "hub.toml").write_text(
        "delivery_max_attempts = 1\ndelivery_poll_seconds = 0.1\ndelivery_backoff_base_seconds = 0.1\n"
        f'[upstream]\nurl = "http://127.0.0.1:{dead_port}"\nsystem_id = "me-at-upstream"\n'
        f'secret = "{UPSTREAM_SECRET}"\n'
    )
    settings = HubSettings(data_dir=data_dir, database_url=database_url)
    led = Ledger.open(settings)
    led.add_system("sys-h41", SYSTEM_SECRET, [H41])
    led.close()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_file = tmp_path / "serve.log"
    env = {**os.environ, "LIENTHONG_DATA_DIR": str(data_dir), "LIENTHONG_DATABASE_URL": database_url,
           "LIENTHONG_NODE_ID": "LOGS.W00", "LIENTHONG_OPERATOR_KEYS": OPERATOR_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=log_file.open("wb"))
    sent_hmacs: list[str] = []
    try:
        def up() -> bool:
            assert proc.poll() is None, log_file.read_text()[-2000:]
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=120, interval=0.1)  # a deadline, not a timing goal: start-up under load
        doc = sample_edoc(9301, attachments=1, recipients=(Organization(G22),))  # G22 is upstream
        r = sdk_send(url, "sys-h41", SYSTEM_SECRET, build_package(doc))
        assert r.json()["status"] == "OK", r.text
        for secret in (SYSTEM_SECRET, WRONG_SECRET):  # good and forged requests alike
            headers = sdk_headers("sys-h41", secret, {"servicetype": "eDoc", "messagetype": "edoc"},
                                  "application/json")
            sent_hmacs.append(headers["XroadVnpt-hash-header"])
            httpx.post(f"{url}/getReceivedEdocList", content=b"{}", headers=headers, timeout=10)
        bad = sdk_send(url, "sys-h41", WRONG_SECRET, build_package(sample_edoc(9302)))
        assert bad.json()["status"] == "FAIL"
        # a refused package (bad content) under the right secret: the refusal is logged
        assert sdk_send(url, "sys-h41", SYSTEM_SECRET, b"<not-edxml/>").json()["status"] == "FAIL"
        for key in (OPERATOR_KEY, OPERATOR_KEY + "-wrong"):
            httpx.get(f"{url}/api/v1/messages", headers={"X-API-Key": key}, timeout=10)
        listing = httpx.get(f"{url}/api/v1/messages", params={"document_id": doc.header.document_id},
                            headers={"X-API-Key": OPERATOR_KEY}, timeout=10).json()["messages"]
        doc_id = listing[0]["docId"]

        def dead() -> bool:
            m = httpx.get(f"{url}/api/v1/messages/{doc_id}", headers={"X-API-Key": OPERATOR_KEY}, timeout=10)
            return m.json()["message"]["state"] in ("DEAD", "FAILED")

        wait_for(dead, timeout=30, interval=0.2)  # the delivery worker tried the upstream (and failed)
        key_file = (data_dir / "secret.key").read_bytes().strip()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    text = log_file.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) >= 3, text
    for line in lines:
        out = json.loads(line)  # every line is one JSON object
        assert set(out) >= SHAPE, line
    records = [json.loads(line) for line in lines]
    assert any(r["DocumentId"] == doc.header.document_id and r["msg"] == "package accepted" for r in records)
    assert any(r["level"] == "WARNING" and "refused" in r["msg"] for r in records), text
    for secret in (SYSTEM_SECRET, WRONG_SECRET, OPERATOR_KEY, UPSTREAM_SECRET, key_file.decode(), *sent_hmacs):
        assert secret not in text, f"a secret reached the log: {secret[:6]}…"
