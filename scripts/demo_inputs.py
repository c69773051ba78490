"""Write the demo's legacy input: one QLVB export document whose main PDF the leader has signed.

Usage: python scripts/demo_inputs.py OUT_DIR
It plays the legacy system's part: a two-page decision signed by the person (profile
nguyen-van-an of the throwaway test PKI) plus an appendix, wrapped in the qlvb_soap <VanBan> form,
addressed from UBND tỉnh Nghệ An to Văn phòng Chính phủ.
"""

from __future__ import annotations

import base64
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from gateway.signing.profiles import load_signing_settings
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import make_sample_pdf

ROOT = Path(__file__).resolve().parents[1]

TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<VanBan xmlns="urn:qlvb:lienthong:v1">
  <MaVanBan>QLVB-{year}-{number:06d}</MaVanBan>
  <SoKyHieu>{number}/QĐ-UBND</SoKyHieu>
  <NgayBanHanh>{today}</NgayBanHanh>
  <NoiBanHanh>Nghệ An</NoiBanHanh>
  <TrichYeu>Quyết định ban hành quy chế liên thông văn bản điện tử của tỉnh Nghệ An</TrichYeu>
  <NoiDung>Ban hành kèm theo Quyết định này Quy chế liên thông văn bản điện tử.</NoiDung>
  <LoaiVanBan>QD</LoaiVanBan>
  <DoKhan>Khan</DoKhan>
  <DoMat>Thuong</DoMat>
  <CoQuanBanHanh>
    <MaCoQuan>UBND-NA</MaCoQuan>
    <TenCoQuan>Ủy ban nhân dân tỉnh Nghệ An</TenCoQuan>
  </CoQuanBanHanh>
  <NguoiKy>Nguyễn Văn An</NguoiKy>
  <ChucVu>Chủ tịch</ChucVu>
  <ThamQuyen>TM.</ThamQuyen>
  <SoTrang>2</SoTrang>
  <NgayGui>{now}</NgayGui>
  <NoiNhan>
    <CoQuan>
      <MaCoQuan>VPCP</MaCoQuan>
      <TenCoQuan>Văn phòng Chính phủ</TenCoQuan>
    </CoQuan>
  </NoiNhan>
  <TepDinhKem>
    <Tep ma="demo-{number}-main">
      <TenTep>{number}-QD-UBND.pdf</TenTep>
      <KieuTep>application/pdf</KieuTep>
      <MoTa>Văn bản chính</MoTa>
      <NoiDung>{main}</NoiDung>
    </Tep>
    <Tep ma="demo-{number}-phuluc">
      <TenTep>{number}-QD-UBND-phu-luc.pdf</TenTep>
      <KieuTep>application/pdf</KieuTep>
      <MoTa>Phụ lục: Quy chế</MoTa>
      <NoiDung>{appendix}</NoiDung>
    </Tep>
  </TepDinhKem>
</VanBan>
"""


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    settings = load_signing_settings(ROOT / "certs.example" / "profiles.toml")
    number = 2026
    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as person:
        main_pdf = person.sign_main(make_sample_pdf(2, title="QUYET DINH", number=number))
    appendix = make_sample_pdf(1, title="PHU LUC", placeholder=None, number=number)
    now = datetime.now(timezone(timedelta(hours=7))).replace(microsecond=0, tzinfo=None)  # Vietnam time
    xml = TEMPLATE.format(
        year=now.year, number=number, today=now.date().isoformat(), now=now.isoformat(),
        main=base64.b64encode(main_pdf).decode(), appendix=base64.b64encode(appendix).decode(),
    )
    target = out / f"VanBan-{number}.xml"
    target.write_text(xml, encoding="utf-8")
    print(f"{target}: legacy document with the leader's signature on its main PDF")


if __name__ == "__main__":
    main()
