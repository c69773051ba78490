"""`lienthong systems clock` stores a system's timestamp reading (audited) and refuses unknown systems."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.cli import main
from gateway.ledger import Ledger
from gateway.ledger.models import AuditEntry
from gateway.ledger.replay_cache import Clock, Clocks

pytestmark = pytest.mark.db


def test_systems_clock_sets_and_resets(tmp_path: Path, hub_settings, capsys) -> None:
    opts = ["--data-dir", str(hub_settings.data_dir), "--database-url", hub_settings.database_url]
    led = Ledger.open(hub_settings)
    try:
        led.add_system("sys-a", "s", ["000.00.00.H41"])
        assert main(["systems", "clock", "sys-a", "--utc-offset", "0", "--max-age", "86400", *opts]) == 0
        assert "UTC+0" in capsys.readouterr().out
        assert Clocks(led).get("sys-a") == Clock(0, 86400)
        assert main(["systems", "clock", "sys-a", *opts]) == 0
        assert Clocks(led).get("sys-a") == Clock(None, None)
        assert main(["systems", "clock", "nobody", *opts]) == 2
        with led.reader() as s:
            events = s.execute(select(AuditEntry.event).where(AuditEntry.event == "system.clock")).scalars().all()
        assert len(events) == 2
    finally:
        led.close()
