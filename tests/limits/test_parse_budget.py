"""sendEdoc parsing under a time budget, and the hub's ``[limits]`` reaching the legacy sandbox.

A heavy package (much markup, a large body) is parsed in a sandbox process: while it burns, the
hub keeps answering ``/healthz``; past ``max_parse_seconds`` it is refused with the axis FAIL JSON
naming the limit, and the next package is served by a fresh worker.
"""

from __future__ import annotations

import base64
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from hubkit import running_hubs, sdk_hash_file, sdk_headers
from sandbox_hooks import burn_forever

from gateway.config import HubSettings, load_settings
from gateway.edxml import build_package
from gateway.edxml.samples import sample_edoc
from gateway.limits import DEFAULT_INPUT_LIMITS, InputLimits
from gateway.server.legacy_push import translate_push
from gateway.server.parse_budget import BudgetedParser, is_light

pytestmark = pytest.mark.db

H41 = "000.00.00.H41"
FIXTURES = Path(__file__).resolve().parents[2] / "adapters" / "qlvb_soap" / "fixtures"


def send(url: str, body: bytes) -> httpx.Response:
    headers = sdk_headers("sys-h41", "secret-41", {"from": "sys-h41", "servicetype": "eDoc", "messagetype": "edoc",
                                                   "hash-file": sdk_hash_file(body)}, "application/octet-stream")
    return httpx.post(f"{url}/sendEdoc", content=body + b"\r\n", headers=headers, timeout=180)


def heavy_package(n: int = 7) -> bytes:
    """A valid package plus 5,000 empty elements of 250 attributes each in its Subject (10 MB of markup:
    under every count limit, yet seconds of CPU and, in a thread, ~1 s without the event loop)."""
    junk = " ".join(f'j{i}="x"' for i in range(250))
    plain = build_package(sample_edoc(n, attachments=1))
    return plain.replace(b"<edXML:Subject>", b"<edXML:Subject>" + f"<x {junk}/>".encode() * 5000, 1)


PADDING = b"<!--" + b"<x/>" * 5000 + b"-->"  # markup bytes: heavy by count, but nothing the reader sees


def cheap_heavy_package(n: int) -> bytes:
    """A valid package that the hub sends to the sandbox (much markup) but that parses quickly."""
    return build_package(sample_edoc(n, attachments=1)).replace(b"</edXML>", PADDING + b"</edXML>")


def probe_healthz(url: str, hostile) -> list[int]:
    answered = []
    for _ in range(20):
        answered.append(httpx.get(f"{url}/healthz", timeout=5).status_code)  # a frozen hub would time out
        time.sleep(0.05)
    assert not hostile.done()  # the hostile request was running all along
    return answered


def systems(hub) -> None:
    hub.ledger.add_system("sys-h41", "secret-41", [H41])
    hub.ledger.add_system("sys-g22", "secret-22", ["000.00.00.G22", "000.00.00.G12"])


def test_light_and_heavy_packages_are_told_apart_before_parsing() -> None:
    plain = build_package(sample_edoc(1, attachments=1))
    assert is_light(plain) and is_light(plain + b" " * (7 * 1024 * 1024))
    assert not is_light(heavy_package())
    assert not is_light(plain.replace(b"<edXML:Subject>", b"<edXML:Subject>" + b"<x/>" * 5000, 1))
    assert not is_light(plain + b" " * (9 * 1024 * 1024))  # over the in-memory size: always the sandbox


def test_healthz_answers_while_a_runaway_sendedoc_burns_its_budget(hub_settings: HubSettings, monkeypatch) -> None:
    monkeypatch.setattr(BudgetedParser, "worker_fn", staticmethod(burn_forever))
    settings = hub_settings.with_(limits=InputLimits(max_parse_seconds=4.0))
    with running_hubs(settings) as (hub,):
        systems(hub)
        with ThreadPoolExecutor(1) as pool:
            hostile = pool.submit(send, hub.url, heavy_package())
            while not hub.app.state.hub.parser.sandbox._started:  # the worker is starting: then it burns
                time.sleep(0.05)
            time.sleep(0.5)
            answered = probe_healthz(hub.url, hostile)
            refused = hostile.result(180)
        assert answered == [200] * 20
        assert refused.status_code == 422, refused.text
        answer = refused.json()
        assert answer["status"] == "FAIL" and "max_parse_seconds" in answer["ErrorDesc"], answer
        assert "over the limit of 4.0" in answer["ErrorDesc"], answer
        monkeypatch.undo()  # the burning worker was killed; a fresh one parses the next heavy package
        again = cheap_heavy_package(8)
        assert not is_light(again)
        ok = send(hub.url, again)
        assert ok.status_code == 200 and ok.json()["status"] == "OK", ok.text
        ok = send(hub.url, build_package(sample_edoc(9, attachments=1)))
        assert ok.status_code == 200 and ok.json()["status"] == "OK", ok.text


def test_a_real_heavy_package_over_its_budget_is_refused_naming_the_limit(hub_settings: HubSettings) -> None:
    settings = hub_settings.with_(limits=InputLimits(max_parse_seconds=0.05))
    with running_hubs(settings) as (hub,):
        systems(hub)
        with ThreadPoolExecutor(1) as pool:
            hostile = pool.submit(send, hub.url, heavy_package())
            answered = [httpx.get(f"{hub.url}/healthz", timeout=5).status_code for _ in range(10)]
            refused = hostile.result(180)
        assert answered == [200] * 10
        assert refused.status_code == 422 and refused.json()["status"] == "FAIL", refused.text
        assert "max_parse_seconds" in refused.json()["ErrorDesc"], refused.text
        assert "sendEdoc from sys-h41" in refused.json()["ErrorDesc"]
        ok = send(hub.url, build_package(sample_edoc(10, attachments=1)))  # light: parsed in the request thread
        assert ok.status_code == 200 and ok.json()["status"] == "OK", ok.text


def test_errors_from_the_sandbox_keep_their_type_and_status(hub_settings: HubSettings) -> None:
    """A heavy package refused for what it is (not for time) gets the answer a light one would."""
    plain = build_package(sample_edoc(11, attachments=1))
    no_from = re.sub(rb"<edXML:From>.*?</edXML:From>", b"", plain, count=1, flags=re.S)
    with running_hubs(hub_settings) as (hub,):
        systems(hub)
        light, heavy = send(hub.url, no_from), send(hub.url, no_from.replace(b"</edXML>", PADDING + b"</edXML>"))
        assert light.status_code == heavy.status_code == 422, (light.text, heavy.text)
        assert "From" in heavy.json()["ErrorDesc"] and heavy.json()["status"] == "FAIL"
        assert not is_light(no_from.replace(b"</edXML>", PADDING + b"</edXML>"))


# -- /legacy: the hub's [limits] reach the sandboxed translation --------------------------------------

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def legacy_envelope() -> bytes:
    doc = re.sub(r"<\?xml[^>]*\?>", "", (FIXTURES / "cong_van.in.xml").read_text(encoding="utf-8"))
    return (f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body><GuiLoVanBan xmlns="urn:qlvb:lienthong:v1">{doc}'
            "</GuiLoVanBan></soap:Body></soap:Envelope>").encode()


def test_a_tightened_limit_in_hub_toml_refuses_a_legacy_push_the_default_accepts(
    tmp_path: Path, database_url: str
) -> None:
    body = legacy_envelope()
    default = translate_push("qlvb_soap", body, None, DEFAULT_INPUT_LIMITS)  # what the sandbox runs by default
    assert all(r.ok for r in default.results), default  # type: ignore[union-attr]
    toml = tmp_path / "hub.toml"
    toml.write_text("[limits]\nmax_document_seconds = 0.000001\nmax_elements = 400\n")
    settings = load_settings({"LIENTHONG_CONFIG": str(toml), "LIENTHONG_DATA_DIR": str(tmp_path / "hub"),
                              "LIENTHONG_DATABASE_URL": database_url, "LIENTHONG_NODE_ID": "NA.W00"})
    assert settings.limits.max_document_seconds == 0.000001
    with running_hubs(settings) as (hub,):
        hub.ledger.add_system("qlvb-na", "pw-qlvb", [H41])
        auth = "Basic " + base64.b64encode(b"qlvb-na:pw-qlvb").decode()
        r = httpx.post(f"{hub.url}/legacy/qlvb_soap", content=body, timeout=180,
                       headers={"Authorization": auth, "Content-Type": "text/xml; charset=utf-8"})
        assert r.status_code == 200, r.text
        assert "<ChapNhan>false</ChapNhan>" in r.text and "max_document_seconds" in r.text, r.text
        assert "<ChapNhan>true</ChapNhan>" not in r.text
        # the envelope itself is judged by the same budgets: over max_elements it is refused whole
        big = body.replace(b"</GuiLoVanBan>", b"<x/>" * 400 + b"</GuiLoVanBan>")
        r = httpx.post(f"{hub.url}/legacy/qlvb_soap", content=big, timeout=180,
                       headers={"Authorization": auth, "Content-Type": "text/xml; charset=utf-8"})
        assert "max_elements" in r.text and "<ChapNhan>true</ChapNhan>" not in r.text, r.text


def test_a_prestarted_worker_serves_the_first_heavy_package() -> None:
    """``lienthong serve`` pre-starts a sandbox worker, so the first heavy package does not pay a
    worker's start-up (a fresh interpreter, imports) on the request path, beside the clean clients."""
    import os

    from gateway.server.sandbox import Sandbox

    sandbox = Sandbox(size=2, budget_seconds=60)
    try:
        sandbox.prestart(5)  # never more than the pool's size
        assert sandbox._idle.qsize() == 2
        pids = {w.process.pid for w in list(sandbox._idle.queue)}
        assert sandbox.run(os.getpid) in pids  # served by a pre-started worker, none spawned
        assert sandbox._started == 2
    finally:
        sandbox.close()
    sandbox.prestart(1)  # a closed sandbox starts nothing
    assert sandbox._idle.qsize() == 0
