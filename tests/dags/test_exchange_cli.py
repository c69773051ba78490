"""``lienthong exchange``: the direct run of the DAGs' flows, with leases, tolerance and re-acknowledgement.

Real parts: a hub under uvicorn on 127.0.0.1, the QLVB SOAP simulator, the CLI as a subprocess,
the lease table in the test's own database (PostgreSQL in make test-pg).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from exchange_kit import G22, H41, PROFILES, van_ban

from gateway.exchange import safe_name
from gateway.exchange.leases import LeaseStore
from gateway.legacy_sim import QlvbSimulator
from gateway.transport.axis import AxisClient

pytestmark = [pytest.mark.slow, pytest.mark.db]
NA = ("qlvb-nghean", "secret-nghean")
SOURCE = "legacy:qlvb_soap:{}"


def cli(hub_url: str, legacy: str, work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIENTHONG_AXIS_URL": hub_url, "LIENTHONG_AXIS_SYSTEM_ID": NA[0],
           "LIENTHONG_AXIS_SECRET": NA[1]}
    return subprocess.run([str(Path(sys.executable).with_name("lienthong")), "exchange", "outbound", "--work", str(work),
                           "--legacy", legacy, "--profile", "ubnd-thu-nghiem", "--profiles", str(PROFILES), *extra],
                          env=env, capture_output=True, text=True, timeout=120)


def test_direct_run_leases_tolerates_and_reacknowledges(hub, legacy_sim: QlvbSimulator, tmp_path: Path,
                                                       lease_database: str) -> None:
    hub.ledger.add_system(*NA, [H41], name="QLVB UBND tỉnh Nghệ An")
    hub.ledger.add_system("vpcp", "secret-vpcp", [G22], name="VPCP")
    for number in (201, 202):
        legacy_sim.queue(van_ban(number))
    legacy_sim.queue(van_ban(203, sender="KHONG-RO"))
    work = tmp_path / "work"
    with LeaseStore(lease_database) as leases:  # another run holds QLVB-202
        assert leases.acquire(SOURCE.format(legacy_sim.endpoint), ["QLVB-202"], "dag/other-run") == ["QLVB-202"]

    done = cli(hub.url, legacy_sim.endpoint, work)
    assert done.returncode == 1, done.stdout + done.stderr  # one permanent failure, tolerance 0
    assert "| QLVB-203 | QLVB-203 | fetch |" in done.stdout and "completed with failures" in done.stderr
    assert legacy_sim.acknowledged == ["QLVB-201"]  # 202 was leased by the other run: not touched
    assert not (work / "outbound/signed/QLVB-202.edxml").exists()
    with LeaseStore(lease_database) as leases:  # the direct run gave its own leases back
        assert leases.holders(SOURCE.format(legacy_sim.endpoint)) == {"QLVB-202": "dag/other-run"}

    # the other run died: its lease expires and the next run takes the document over
    with LeaseStore(lease_database, ttl=timedelta(seconds=-1)) as leases:
        leases.acquire(SOURCE.format(legacy_sim.endpoint), ["QLVB-202"], "dag/other-run")
    legacy_sim.queue(van_ban(201))  # listed again after its acknowledgement
    done = cli(hub.url, legacy_sim.endpoint, work, "--max-failed", "1", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["passed"] is True and [f["id"] for f in result["failures"]] == ["QLVB-203"]
    assert result["stages"]["send"]["ok"] == 1 and result["stages"]["send"]["skipped"] == 1
    assert sorted(legacy_sim.acknowledged) == ["QLVB-201", "QLVB-201", "QLVB-202"]  # 201 re-acknowledged
    with AxisClient(hub.url, "vpcp", "secret-vpcp", retries=0) as vpcp:
        assert len(vpcp.received_list("edoc")) == 2  # delivered once each
    ack = json.loads((work / "outbound/signed" / f"{safe_name('QLVB-202')}.ack.json").read_text())
    assert ack["accepted"] is True


def test_leases_across_holders_and_expiry(lease_database: str) -> None:
    with LeaseStore(lease_database) as a, LeaseStore(lease_database, ttl=timedelta(seconds=-1)) as short:
        assert a.acquire("q", ["1", "2"], "run-a") == ["1", "2"]
        assert a.acquire("q", ["2", "3"], "run-b") == ["3"]  # 2 belongs to run-a
        assert a.renew("q", ["1", "2"], "run-a") == ["1", "2"]
        assert a.release("q", "run-a", ["1"]) == 1 and a.acquire("q", ["1"], "run-b") == ["1"]
        short.acquire("q", ["9"], "run-dead")  # expired as soon as taken
        assert a.acquire("q", ["9"], "run-b") == ["9"]  # a lost lease is recovered
        assert a.holders("q") == {"1": "run-b", "2": "run-a", "3": "run-b", "9": "run-b"}
        assert a.acquire("other queue", ["1"], "run-a") == ["1"]  # leases are per source


def test_renewing_a_large_mixed_batch_takes_exactly_ours_and_the_expired(lease_database: str) -> None:
    """Renewal is one UPDATE per 500 items: across batches it still leaves out what another run holds."""
    items = [f"d{i:04d}" for i in range(1203)]
    with LeaseStore(lease_database) as a, LeaseStore(lease_database, ttl=timedelta(seconds=-1)) as short:
        assert a.acquire("q", items[:600], "run-a") == items[:600]
        other = items[1::7]  # run-b holds these (live) where run-a does not already
        assert a.acquire("q", other, "run-b") == [i for i in other if i not in set(items[:600])]
        dead = items[2::5]
        short.acquire("q", dead, "run-dead")  # taken and expired at once: free for anybody
        held_b = {i for i in other if i not in set(items[:600])}
        expected = [i for i in items if i not in held_b]
        assert a.renew("q", items, "run-a") == expected
        holders = a.holders("q")
        assert all(holders[i] == "run-a" for i in expected)
        assert all(holders[i] == "run-b" for i in held_b)


def test_a_send_concurrency_below_one_is_refused_before_anything_is_taken(tmp_path: Path) -> None:
    work = tmp_path / "work"
    done = cli("http://127.0.0.1:9", "http://127.0.0.1:9/qlvb", work, "--send-concurrency", "0")
    assert done.returncode != 0 and "--send-concurrency must be at least 1, not 0" in done.stderr
    assert not work.exists()  # refused before listing, leasing or writing anything
