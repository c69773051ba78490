"""SOAP pull/deliver against the simulated QLVB system: a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from lxml import etree

from gateway.adapters import AdapterRegistry
from gateway.edxml import parse_package
from gateway.edxml.model import EdocPackage, StatusPackage
from gateway.errors import (
    ConfigurationError,
    RemoteRefusalError,
    TransportError,
    TransportTimeoutError,
    UpstreamUnavailableError,
)
from gateway.legacy_sim import HttpReply, LocalHttpServer, QlvbSimulator
from gateway.transport.soap import HARDENED_SETTINGS, LegacySoapConnector, SoapClient

FIXTURES = Path(__file__).resolve().parents[2] / "adapters" / "qlvb_soap" / "fixtures"


@pytest.fixture(scope="module")
def registry() -> AdapterRegistry:
    return AdapterRegistry(use_entry_points=False)


@pytest.fixture
def sim() -> Iterator[QlvbSimulator]:
    with QlvbSimulator() as s:
        yield s


@pytest.fixture
def connector(registry: AdapterRegistry, sim: QlvbSimulator) -> Iterator[LegacySoapConnector]:
    c = LegacySoapConnector(registry.get("qlvb_soap"), sim.endpoint, timeout=5)
    yield c
    c.close()


def test_zeep_settings_are_hardened() -> None:
    s = HARDENED_SETTINGS
    assert s.forbid_dtd and s.forbid_entities and s.forbid_external and not s.xml_huge_tree


def test_pull_translates_and_acknowledges(sim: QlvbSimulator, connector: LegacySoapConnector) -> None:
    good = (FIXTURES / "cong_van.in.xml").read_bytes()
    sim.queue(good)
    sim.queue(good.replace(b"QLVB-2024-000123", b"QLVB-2").replace(b"1234/UBND-VX", b"77/UBND-VX"))
    bad = good.replace(b"QLVB-2024-000123", b"QLVB-BAD").replace(
        b"<MaCoQuan>UBND-NA</MaCoQuan>", b"<MaCoQuan>??</MaCoQuan>"
    )
    sim.queue(bad)
    assert connector.pending() == ["QLVB-2024-000123", "QLVB-2", "QLVB-BAD"]
    accepted: list[str] = []
    report = connector.pull(lambda r: accepted.append(r.document_id or "") is None)
    assert [r.ok for r in report.results] == [True, True, False]
    assert accepted == ["000.00.00.H41,2024/05/06,1234/UBND-VX", "000.00.00.H41,2024/05/06,77/UBND-VX"]
    assert sim.acknowledged == ["QLVB-2024-000123", "QLVB-2"]
    assert list(sim.outgoing) == ["QLVB-BAD"]  # the bad one stays queued for a human
    assert report.failed[0].errors[0].legacy_path.endswith("CoQuanBanHanh/MaCoQuan")


def test_sink_refusal_keeps_the_document_queued(sim: QlvbSimulator, connector: LegacySoapConnector) -> None:
    sim.queue((FIXTURES / "cong_van.in.xml").read_bytes())
    connector.pull(lambda r: False)
    assert sim.acknowledged == [] and list(sim.outgoing) == ["QLVB-2024-000123"]


def test_deliver_document_and_report_status(sim: QlvbSimulator, connector: LegacySoapConnector) -> None:
    edoc = parse_package((FIXTURES / "nhan_van_ban.in.edxml").read_bytes()).package
    status = parse_package((FIXTURES / "bao_cao_trang_thai.in.edxml").read_bytes()).package
    assert isinstance(edoc, EdocPackage) and isinstance(status, StatusPackage)
    result = connector.deliver(edoc)
    assert result.accepted and result.legacy_id == edoc.header.document_id
    (received,) = sim.received
    assert etree.fromstring(received).findtext("{urn:qlvb:lienthong:v1}TrichYeu") == edoc.header.subject
    connector.deliver(status)
    (state,) = sim.states
    assert state["TrangThai"] == "DaTiepNhan" and state["SoKyHieu"] == "2440/UBND-VX"


def test_5xx_is_retryable(sim: QlvbSimulator, connector: LegacySoapConnector) -> None:
    sim.fail_next(503)
    with pytest.raises(UpstreamUnavailableError) as info:
        connector.pending()
    assert info.value.retryable and "503" in str(info.value)
    assert connector.pending() == []  # next call works


def test_4xx_is_not_retryable(sim: QlvbSimulator, connector: LegacySoapConnector) -> None:
    sim.fail_next(403)
    with pytest.raises(RemoteRefusalError) as info:
        connector.pending()
    assert not info.value.retryable and info.value.code == "403"


def test_soap_fault_is_a_refusal(connector: LegacySoapConnector) -> None:
    with pytest.raises(RemoteRefusalError, match=r"khong tim thay van ban NOPE") as info:
        connector.fetch("NOPE")
    assert not info.value.retryable


def test_connection_refused_is_retryable(registry: AdapterRegistry, sim: QlvbSimulator) -> None:
    c = LegacySoapConnector(registry.get("qlvb_soap"), sim.endpoint, timeout=2)
    sim.stop()
    with pytest.raises(UpstreamUnavailableError) as info:
        c.pending()
    assert info.value.retryable
    sim.start = lambda: sim  # type: ignore[method-assign]  # fixture teardown stops again
    sim.stop = lambda: None  # type: ignore[method-assign]


def _slow(method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpReply:
    time.sleep(1.5)
    return HttpReply(200, b"<x/>")


def test_timeout_is_retryable(registry: AdapterRegistry) -> None:
    with LocalHttpServer(_slow) as server:
        c = LegacySoapConnector(registry.get("qlvb_soap"), f"{server.base_url}/qlvb", timeout=0.3)
        with pytest.raises(TransportTimeoutError) as info:
            c.pending()
        assert info.value.retryable


def _dtd_answer(method: str, path: str, headers: Mapping[str, str], body: bytes) -> HttpReply:
    return HttpReply(200, b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')


def test_answer_with_dtd_is_refused(registry: AdapterRegistry) -> None:
    with LocalHttpServer(_dtd_answer) as server:
        c = LegacySoapConnector(registry.get("qlvb_soap"), f"{server.base_url}/qlvb", timeout=2)
        with pytest.raises(TransportError, match=r"DTD"):
            c.pending()


def test_remote_wsdl_with_network_imports_is_refused(sim: QlvbSimulator) -> None:
    # forbid_external: a WSDL fetched over HTTP may not pull further schemas from the network;
    # adapters ship their WSDL/XSD locally and only the endpoint is remote.
    with pytest.raises(TransportError, match=r"ExternalReferenceForbidden"):
        SoapClient(sim.wsdl_url, timeout=5)


def test_simulator_serves_its_wsdl(sim: QlvbSimulator) -> None:
    import httpx

    wsdl = httpx.get(sim.wsdl_url).content
    assert sim.endpoint.encode() in wsdl and b"LayDanhSachVanBanChoGui" in wsdl


def test_local_wsdl_outside_the_allowed_folder_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "evil.xsd"
    other.write_text("<x/>")
    wsdl = tmp_path / "w" / "x.wsdl"
    wsdl.parent.mkdir()
    src = (FIXTURES.parent / "wsdl" / "qlvb.wsdl").read_text().replace("../xsd/qlvb.xsd", str(other))
    wsdl.write_text(src)
    with pytest.raises(ConfigurationError, match=r"must lie under"):
        SoapClient(wsdl, local_root=wsdl.parent)
