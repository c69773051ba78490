"""Helpers for the DAG runs: legacy documents to queue, connections, running a DAG, reading reports."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gateway.signing.testing import make_sample_pdf

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "certs.example" / "profiles.toml"
H41 = "000.00.00.H41"
G22 = "000.00.00.G22"

VAN_BAN = """<?xml version="1.0" encoding="UTF-8"?>
<VanBan xmlns="urn:qlvb:lienthong:v1">
  <MaVanBan>{legacy_id}</MaVanBan>
  <SoKyHieu>{number}/QĐ-UBND</SoKyHieu>
  <NgayBanHanh>{today}</NgayBanHanh>
  <NoiBanHanh>Nghệ An</NoiBanHanh>
  <TrichYeu>Quyết định số {number} về liên thông văn bản điện tử</TrichYeu>
  <LoaiVanBan>QD</LoaiVanBan>
  <DoKhan>Khan</DoKhan>
  <DoMat>Thuong</DoMat>
  <CoQuanBanHanh><MaCoQuan>{sender}</MaCoQuan><TenCoQuan>Ủy ban nhân dân tỉnh Nghệ An</TenCoQuan></CoQuanBanHanh>
  <NguoiKy>Nguyễn Văn An</NguoiKy>
  <ChucVu>Chủ tịch</ChucVu>
  <ThamQuyen>TM.</ThamQuyen>
  <SoTrang>1</SoTrang>
  <NgayGui>{now}</NgayGui>
  <NoiNhan><CoQuan><MaCoQuan>VPCP</MaCoQuan><TenCoQuan>Văn phòng Chính phủ</TenCoQuan></CoQuan></NoiNhan>
  <TepDinhKem>
    <Tep ma="m-{number}"><TenTep>{number}-QD-UBND.pdf</TenTep><KieuTep>application/pdf</KieuTep>
      <MoTa>Văn bản chính</MoTa><NoiDung>{pdf}</NoiDung></Tep>
  </TepDinhKem>
</VanBan>
"""


def van_ban(number: int, *, sender: str = "UBND-NA") -> bytes:
    """A QLVB legacy document whose main PDF has the signature placeholder the agency seal goes on."""
    now = datetime.now(timezone(timedelta(hours=7))).replace(microsecond=0, tzinfo=None)
    pdf = base64.b64encode(make_sample_pdf(1, number=number)).decode()
    return VAN_BAN.format(legacy_id=f"QLVB-{number}", number=number, today=now.date().isoformat(),
                          now=now.isoformat(), sender=sender, pdf=pdf).encode()


def connect(monkeypatch: pytest.MonkeyPatch, hub_url: str, system_id: str, secret: str, legacy_url: str) -> None:
    """The two Airflow connections, as AIRFLOW_CONN_* variables (JSON form)."""
    host, port = hub_url.removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_LIENTHONG_HUB", json.dumps(
        {"conn_type": "http", "host": host, "port": int(port), "login": system_id, "password": secret,
         "extra": {"timeout": 10, "retries": 1}}))
    lhost, rest = legacy_url.removeprefix("http://").split(":")
    lport, path = rest.split("/", 1)
    monkeypatch.setenv("AIRFLOW_CONN_LIENTHONG_LEGACY", json.dumps(
        {"conn_type": "http", "host": lhost, "port": int(lport), "schema": path, "extra": {"timeout": 10}}))


def run_dag(dagbag: Any, dag_id: str, **conf: Any) -> tuple[Any, dict[str, Any]]:
    """dag.test() the DAG; returns the run and {task_id or task_id[i]: (state, try_number)}."""
    dag = dagbag.dags[dag_id]
    run = dag.test(run_conf={k: (str(v) if isinstance(v, Path) else v) for k, v in conf.items()})
    tis = {}
    for ti in run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        tis[key] = (ti.state, ti.try_number)
    return run, tis


def summary(work: Path, dag_id: str, run: Any) -> dict[str, Any]:
    from gateway.exchange import safe_name

    path = work / "reports" / dag_id / safe_name(run.run_id) / "summary.json"
    return json.loads(path.read_text())["stages"]
