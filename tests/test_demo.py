"""The README's main job: `make demo` runs scripts/demo.sh; here it runs against a temporary folder."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(900)  # the demo starts two hubs and an in-process Airflow; slow on a loaded machine
def test_demo_exchange_runs_end_to_end(tmp_path: Path) -> None:
    env = {**os.environ, "LIENTHONG_DEMO_DIR": str(tmp_path)}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "valid_edoc_new.edxml: valid (edoc)" in out and "invalid_truncated.edxml: invalid" in out
    # the exchange ran through the outbound DAG (dag.test()) and its summary names the failed document
    assert "dag.test() lienthong_outbound_qlvb_soap" in out and "summarize: success" in out
    assert "acknowledged by the legacy system: QLVB-2026-002026" in out
    assert "succeeded within tolerance (1)" in out
    failed = [line for line in out.splitlines() if line.startswith("| LOI-2026-002026 |")]
    assert len(failed) == 1 and "| fetch |" in failed[0] and "'KHONG-RO'" in failed[0], out[-3000:]
    assert "2026-QD-UBND.pdf: valid" in out and "(signer) Nguyễn Văn An: ok" in out
    assert "status        03  Đã tiếp nhận" in out
    assert out.count("audit chain OK") == 2
    x = tmp_path / "exchange"
    received = list((x / "vpcp-inbox").glob("*.edxml"))
    statuses = list((x / "qlvb-statuses").glob("*.edxml"))
    assert len(received) == 1 and len(statuses) == 1
    hops = received[0].read_text().count("<edXML:TraceHeader>")
    assert hops == 3  # sender, provincial hub, national hub
    assert "provincial hub console: http://127.0.0.1:" in out and "/console/" in out
