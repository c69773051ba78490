"""The hub's failure answers: one poisonous package fails alone, a full disk is a retryable FAIL
without paths (and shows on /healthz and /metrics), and an unexpected error is still FAIL JSON."""

from __future__ import annotations

import errno
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from hubkit import running_hubs, sdk_send
from sqlalchemy import func, select

from gateway.config import HubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.model import Code
from gateway.edxml.samples import sample_edoc
from gateway.errors import BlobStoreError, Location
from gateway.ledger import verify_chain
from gateway.ledger.models import Submission

pytestmark = pytest.mark.db

H41 = "000.00.00.H41"
G22 = "000.00.00.G22"


def edoc(n: int):
    return sample_edoc(n, attachments=1, recipients=(Organization(G22),))


def systems(hub) -> None:
    hub.ledger.add_system("sys-h41", "s-h41", [H41])
    hub.ledger.add_system("sys-g22", "s-g22", [G22])
PATHISH = re.compile(r"/(?:tmp|work|var|home|root)\b|blobs/")


def _blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "tmp" not in p.parts]


def test_poisonous_packages_are_refused_alone_under_concurrency(hub_settings: HubSettings) -> None:
    valid = [build_package(edoc(40_000 + i)) for i in range(40)]
    poison: list[tuple[bytes, str]] = []
    for i in range(12):
        e = edoc(41_000 + i)
        if i % 2:
            e = replace(e, header=replace(e.header, document_id=e.header.document_id + "x" * 600))
            poison.append((build_package(e), "DocumentId"))
        else:
            e = replace(e, header=replace(e.header, code=Code("9" * 300, "UBND")))
            poison.append((build_package(e), "Code"))
    jobs = [(b, None) for b in valid]
    for k, p in enumerate(poison):
        jobs.insert(3 * k + 1, p)
    with running_hubs(hub_settings) as (hub,):
        systems(hub)
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda job: sdk_send(hub.url, "sys-h41", "s-h41", job[0]), jobs))
        for (_, field), r in zip(jobs, answers, strict=True):
            body = r.json()
            if field is None:
                assert r.status_code == 200 and body["status"] == "OK", r.text
            else:
                assert r.status_code == 422 and body["status"] == "FAIL", r.text
                assert field in body["ErrorDesc"] and "limit" in body["ErrorDesc"]
        with hub.ledger.reader() as s:
            assert s.scalar(select(func.count()).select_from(Submission)) == len(valid)
            assert verify_chain(s).ok


def test_a_disk_below_its_reserve_refuses_new_work_retryably_and_says_so(hub_settings: HubSettings) -> None:
    settings = hub_settings.with_(min_free_bytes=10**18, disk_check_interval_seconds=0.0)
    with running_hubs(settings) as (hub,):
        systems(hub)
        r = sdk_send(hub.url, "sys-h41", "s-h41", build_package(edoc(42_000)))
        assert r.status_code == 503 and r.json()["status"] == "FAIL", r.text
        assert not PATHISH.search(r.json()["ErrorDesc"]) and "retry" in r.json()["ErrorDesc"]
        assert _blob_files(settings.blob_dir) == []  # refused before anything was written
        health = httpx.get(f"{hub.url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["disk"].startswith("full")
        metrics = httpx.get(f"{hub.url}/metrics", timeout=10).text
        assert re.search(r"^lienthong_disk_full 1\.0$", metrics, re.M)
        assert re.search(r"^lienthong_disk_reserve_bytes 1e\+18$", metrics, re.M)


def test_enospc_while_storing_is_a_retryable_fail_without_paths(hub_settings: HubSettings) -> None:
    settings = hub_settings.with_(min_free_bytes=0, disk_check_interval_seconds=60.0)
    with running_hubs(settings) as (hub,):
        systems(hub)
        service = hub.app.state.hub
        real_put = service.blobs.put_bytes

        def full_disk(data: bytes, **kw: object) -> object:
            where = settings.blob_dir / "ab" / "cd"
            err = OSError(errno.ENOSPC, "No space left on device", str(where))
            raise BlobStoreError(f"cannot store blob: {err.strerror}", location=Location(str(where))) from err

        service.blobs.put_bytes = full_disk
        r = sdk_send(hub.url, "sys-h41", "s-h41", build_package(edoc(42_001)))
        assert r.status_code == 503 and r.json()["status"] == "FAIL", r.text
        assert not PATHISH.search(r.json()["ErrorDesc"]), r.text
        health = httpx.get(f"{hub.url}/healthz", timeout=10)
        assert health.status_code == 503 and health.json()["disk"].startswith("full")
        r = sdk_send(hub.url, "sys-h41", "s-h41", build_package(edoc(42_002)))
        assert r.status_code == 503  # refused up front while the disk is known full
        service.blobs.put_bytes = real_put


def test_an_unexpected_error_is_answered_with_fail_json_and_logged(hub_settings: HubSettings, caplog) -> None:
    with running_hubs(hub_settings) as (hub,):
        systems(hub)

        def broken(*args: object, **kw: object) -> object:
            raise RuntimeError(f"bug at {hub_settings.data_dir} with secret s-h41")

        hub.app.state.hub.prepare = broken
        package = edoc(42_003)
        with caplog.at_level(logging.ERROR, logger="lienthong.errors"):
            r = sdk_send(hub.url, "sys-h41", "s-h41", build_package(package))
        assert r.status_code == 500 and r.headers["content-type"].startswith("application/json"), r.text
        body = r.json()
        assert body["status"] == "FAIL" and body["ErrorCode"] == "500"
        assert "reference" in body["ErrorDesc"] and "s-h41" not in r.text and not PATHISH.search(r.text)
        records = [rec for rec in caplog.records if rec.name == "lienthong.errors"]
        assert records and records[-1].document_id == package.header.document_id and records[-1].exc_info


def test_a_schema_folder_without_the_edxml_schemas_stops_the_start(hub_settings: HubSettings, tmp_path: Path,
                                                                     monkeypatch) -> None:
    """Compiled at start-up: a hub that cannot validate must not start and answer 500 to every package."""
    from gateway.edxml.schema import load_schema
    from gateway.errors import ConfigurationError
    from gateway.server.app import create_app

    monkeypatch.setenv("LIENTHONG_SCHEMAS_DIR", str(tmp_path / "empty"))
    load_schema.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match=r"edoc\.xsd not found"):
            create_app(hub_settings, migrate=True)
    finally:
        monkeypatch.delenv("LIENTHONG_SCHEMAS_DIR")
        load_schema.cache_clear()
