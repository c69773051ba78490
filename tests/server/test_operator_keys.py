"""`lienthong operators add|list|revoke` against a running hub: keys work, are stored hashed, and revoke."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from hubkit import running_hubs, wait_for
from sqlalchemy import select

import gateway.ledger.operators as operators
from gateway.cli import main
from gateway.config import HubSettings
from gateway.ledger import verify_chain
from gateway.ledger.models import AuditEntry, OperatorKey

pytestmark = pytest.mark.db


def test_operator_key_lifecycle(tmp_path: Path, database_url: str, capsys, monkeypatch) -> None:
    monkeypatch.setattr(operators, "CACHE_SECONDS", 0.2)
    settings = HubSettings(data_dir=tmp_path / "hub", database_url=database_url, node_id="OP.W00")
    db = ["--data-dir", str(settings.data_dir), "--database-url", database_url]
    with running_hubs(settings) as (hub,):
        assert httpx.get(f"{hub.url}/api/v1/messages", headers={"X-API-Key": "x" * 20}).status_code == 401

        assert main(["operators", "add", "alice", *db]) == 0
        key = re.search(r"X-API-Key\): (\S+)", capsys.readouterr().out).group(1)
        assert main(["operators", "add", "alice", *db]) != 0  # names are unique
        capsys.readouterr()

        ok = httpx.get(f"{hub.url}/api/v1/messages", headers={"X-API-Key": key})
        assert ok.status_code == 200 and ok.json() == {"messages": []}
        assert httpx.get(f"{hub.url}/api/v1/messages", headers={"X-API-Key": key + "x"}).status_code == 401

        assert main(["operators", "list", *db]) == 0
        listed = capsys.readouterr().out
        assert "alice\tactive" in listed and key not in listed

        with hub.ledger.reader() as s:
            row = s.execute(select(OperatorKey)).scalar_one()
            assert row.key_hash != key and len(row.key_hash) == 64 and key not in row.key_hash
            events = s.execute(select(AuditEntry.event, AuditEntry.detail)).all()
            assert ("operator_key.added", '{"name":"alice"}') in events and all(key not in d for _, d in events)

        assert main(["operators", "revoke", "alice", *db]) == 0
        wait_for(lambda: httpx.get(f"{hub.url}/api/v1/messages",
                                   headers={"X-API-Key": key}).status_code == 401, timeout=5)
        assert main(["operators", "list", *db]) == 0
        assert "alice\trevoked" in capsys.readouterr().out
        with hub.ledger.reader() as s:
            assert verify_chain(s).ok
