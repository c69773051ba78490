"""fail_with_http_200: refusals reach clients that only read 200 bodies; 5xx and other paths untouched."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hubkit import running_hubs, sdk_call, sdk_send

from gateway.config import HubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.samples import sample_edoc

pytestmark = pytest.mark.db

G22 = "000.00.00.G22"


@pytest.mark.parametrize("compat", [False, True])
def test_refusals_are_answered_with_200_only_in_compat_mode(tmp_path: Path, compat: bool, database_url: str) -> None:
    settings = HubSettings(data_dir=tmp_path / "data", database_url=database_url,
                           node_id="COMPAT.W00", fail_with_http_200=compat)
    with running_hubs(settings) as (hub,):
        hub.ledger.add_system("sys-h41", "right-secret", ["000.00.00.H41"])
        data = build_package(sample_edoc(1, recipients=(Organization(G22),)))
        refused = sdk_send(hub.url, "sys-h41", "wrong-secret", data)
        assert refused.json()["status"] == "FAIL" and refused.json()["ErrorCode"] == "401"
        assert refused.status_code == (200 if compat else 401)
        missing = sdk_call(hub.url, "getEdoc", "sys-h41", "right-secret", {"docId": "no-such-doc"})
        assert missing.json()["status"] == "FAIL"
        assert missing.status_code == (200 if compat else 404)
        ok = sdk_call(hub.url, "getReceivedEdocList", "sys-h41", "right-secret",
                      {"servicetype": "eDoc", "messagetype": "edoc"}, body=b"")
        assert ok.status_code == 200 and ok.json()["status"] == "OK"
        # Operator API and unknown paths keep their real status codes.
        assert httpx.get(f"{hub.url}/api/v1/messages").status_code == 401
        assert httpx.get(f"{hub.url}/no-such-path").status_code == 404
