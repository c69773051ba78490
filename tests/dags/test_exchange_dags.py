"""dag.test() runs of the exchange DAGs against a real hub on 127.0.0.1 and the QLVB legacy simulator.

One scenario chains all three exchange DAGs the way two agencies use them: UBND Nghệ An's legacy
system queues documents (one of them bad) → lienthong_outbound translates, stamps, sends and
acknowledges; Văn phòng Chính phủ's lienthong_inbound receives, verifies, hands them to its legacy
system and answers 01; UBND Nghệ An's lienthong_statuses reports those 01s to its legacy system.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from exchange_kit import G22, H41, PROFILES, connect, run_dag, summary, van_ban

from gateway.edxml import BytesPayload, EdocPackage, Organization, StatusPackage, build_package, parse_package
from gateway.edxml.directory import Directory
from gateway.edxml.samples import sample_edoc
from gateway.exchange import safe_name
from gateway.legacy_sim import QlvbSimulator
from gateway.signing.profiles import load_signing_settings
from gateway.signing.sign import DocumentSigner
from gateway.signing.testing import make_sample_pdf
from gateway.signing.verify import verify_pdf
from gateway.transport.axis import AxisClient

pytestmark = [pytest.mark.slow, pytest.mark.db]

NA = ("qlvb-nghean", "secret-nghean")
VPCP = ("vpcp-edoc", "secret-vpcp")


@pytest.fixture
def systems(hub):
    hub.ledger.add_system(*NA, [H41], name="QLVB UBND tỉnh Nghệ An")
    hub.ledger.add_system(*VPCP, [G22], name="QLVB Văn phòng Chính phủ")
    return hub


def client(hub, who) -> AxisClient:
    return AxisClient(hub.url, *who, retries=0, timeout=10)


def test_outbound_inbound_statuses_chain(systems, legacy_sim: QlvbSimulator, dagbag, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    hub, na_legacy = systems, legacy_sim
    docs = {number: van_ban(number) for number in (101, 102)}
    for data in docs.values():
        na_legacy.queue(data)
    na_legacy.queue(van_ban(103, sender="KHONG-RO"))  # unknown agency code: fails alone
    na_work = tmp_path / "na"
    outbound = {"work_dir": na_work, "signing_profile": "ubnd-thu-nghiem",
                "signing_profiles": PROFILES, "chunk_size": 2}

    # -- outbound: two delivered and acknowledged, the bad one recorded and left in the legacy queue;
    #    the run fails visibly (summarize) because one document failed and the tolerance is 0
    connect(monkeypatch, hub.url, *NA, na_legacy.endpoint)
    run, tis = run_dag(dagbag, "lienthong_outbound_qlvb_soap", **outbound)
    assert run.state == "failed" and tis["summarize"][0] == "failed", tis
    assert all(state == "success" for key, (state, _) in tis.items() if key != "summarize"), tis
    report = json.loads((na_work / "reports/lienthong_outbound_qlvb_soap" / safe_name(run.run_id)
                         / "summary.json").read_text())
    assert [(f["id"], f["stage"], f["retryable"]) for f in report["failures"]] == [("QLVB-103", "fetch", False)]
    assert "KHONG-RO" in report["failures"][0]["reason"] and report["passed"] is False
    note = (na_work / "reports/lienthong_outbound_qlvb_soap" / safe_name(run.run_id) / "summary.md").read_text()
    assert "| QLVB-103 | QLVB-103 | fetch |" in note and "completed with failures" in note
    outbound["max_failed_documents"] = 1  # from now on one failed document is tolerated
    assert {k for k in tis if k.startswith("fetch_translate")} == {"fetch_translate[0]", "fetch_translate[1]"}
    assert summary(na_work, "lienthong_outbound_qlvb_soap", run) == {
        "fetch": {"ok": 2, "skipped": 0, "failed": 1, "chunks": 2},
        "stamp": {"ok": 2, "skipped": 0, "failed": 0, "chunks": 2},
        "send": {"ok": 2, "skipped": 0, "failed": 0, "chunks": 2},
        "ack": {"ok": 2, "skipped": 0, "failed": 0, "chunks": 2},
    }
    assert na_legacy.acknowledged == ["QLVB-101", "QLVB-102"] and list(na_legacy.outgoing) == ["QLVB-103"]
    error = json.loads((na_work / "outbound/translated/QLVB-103.fetch.error.json").read_text())
    assert error["retryable"] is False and "CoQuanBanHanh/MaCoQuan" in json.dumps(error["errors"])
    receipt = json.loads((na_work / "outbound/signed/QLVB-101.send.json").read_text())

    with client(hub, VPCP) as vpcp:
        waiting = vpcp.received_list("edoc")
    assert len(waiting) == 2 and {w["from"] for w in waiting} == {H41}

    # -- rerun: nothing is sent twice; a lost send receipt resends the same bytes, deduplicated by the hub
    (na_work / "outbound/signed/QLVB-101.send.json").unlink()
    (na_work / "outbound/signed/QLVB-101.ack.json").unlink()
    na_legacy.queue(docs[101])  # the same document again, as if the acknowledgement had never arrived
    run, tis = run_dag(dagbag, "lienthong_outbound_qlvb_soap", **outbound)
    assert run.state == "success", tis
    again = summary(na_work, "lienthong_outbound_qlvb_soap", run)
    assert again["fetch"]["failed"] == 1 and again["send"] == {"ok": 1, "skipped": 0, "failed": 0, "chunks": 1}
    assert json.loads((na_work / "outbound/signed/QLVB-101.send.json").read_text())["docId"] == receipt["docId"]
    assert na_legacy.acknowledged == ["QLVB-101", "QLVB-102", "QLVB-101"]
    with client(hub, VPCP) as vpcp:
        assert len(vpcp.received_list("edoc")) == 2

    # -- inbound at VPCP: stored, verified, delivered to its legacy system, answered with 01
    vpcp_work = tmp_path / "vpcp"
    with QlvbSimulator() as vpcp_legacy:
        connect(monkeypatch, hub.url, *VPCP, vpcp_legacy.endpoint)
        run, tis = run_dag(dagbag, "lienthong_inbound_qlvb_soap", work_dir=vpcp_work, signing_profiles=PROFILES,
                           organ_ids=[G22])
        assert run.state == "success", tis
        assert len(vpcp_legacy.received) == 2
    stages = summary(vpcp_work, "lienthong_inbound_qlvb_soap", run)
    # the legacy PDFs carry the agency seal but no leader's signature: the package verifier (Decree 30:
    # seal over the leader's signature) flags them; flagged is never "ok", and they are still delivered
    assert {s: v["ok"] for s, v in stages.items()} == {"receive": 2, "verify": 0, "legacy": 2, "status": 2}
    assert stages["verify"]["flagged"] == 2
    reports = sorted((vpcp_work / "inbound").glob("*.verify.json"))
    assert len(reports) == 2
    for r in reports:
        report = json.loads(r.read_text())
        assert report["verdict"] == "invalid" and not report["valid"]
        assert [f["code"] for f in report["findings"]] == ["no-leader-signature"]
        assert report["attachments"][0]["verdict"] == "valid"  # the seal itself verifies
    stored = sorted((vpcp_work / "inbound").glob("*.edxml"))
    trust = load_signing_settings(PROFILES).trust
    main_pdf = parse_package(next(p for p in stored if not p.name.endswith(".status.edxml"))).package.attachments[0]
    with main_pdf.payload.open() as f:
        assert verify_pdf(f.read(), trust).valid  # checked again here, independently of the DAG's report
    with client(hub, VPCP) as vpcp:
        assert vpcp.received_list("edoc") == []  # acknowledged (done) once stored

    # -- statuses back at UBND Nghệ An: reported to its legacy system, then acknowledged
    connect(monkeypatch, hub.url, *NA, na_legacy.endpoint)
    run, tis = run_dag(dagbag, "lienthong_statuses_qlvb_soap", work_dir=na_work)
    assert run.state == "success", tis
    assert sorted(s["SoKyHieu"] for s in na_legacy.states) == ["101/QĐ-UBND", "102/QĐ-UBND"]
    assert summary(na_work, "lienthong_statuses_qlvb_soap", run)["ack"]["ok"] == 2
    with client(hub, NA) as na:
        assert na.received_list("status") == []


def _signed_edoc(number: int, *, tamper: bool) -> EdocPackage:
    """A package whose main PDF carries the leader's signature and the agency seal; ``tamper`` changes
    one byte of the first page's content stream after signing (the PDF still parses)."""
    settings = load_signing_settings(PROFILES)
    with DocumentSigner(settings.profile("nguyen-van-an"), settings.trust) as person, \
            DocumentSigner(settings.profile("ubnd-thu-nghiem"), settings.trust) as agency:
        pdf = agency.sign_main(person.sign_main(make_sample_pdf(2, number=number)))
    if tamper:
        at = pdf.index(b"line 7")
        pdf = pdf[:at] + b"X" + pdf[at + 1:]
    pkg = sample_edoc(number, attachments=1, sender=Organization(H41, "UBND tỉnh Nghệ An"),
                      recipients=(Organization(G22, "Văn phòng Chính phủ"),))
    (first,) = pkg.attachments
    return replace(pkg, attachments=(replace(first, payload=BytesPayload(pdf)),))


def _verify_report(work: Path, doc: EdocPackage) -> dict:
    for path in (work / "inbound").glob("*.verify.json"):
        report = json.loads(path.read_text())
        if report["document_id"] == doc.header.document_id:
            return report
    raise AssertionError(f"no verify report for {doc.header.document_id}")


def test_invalid_signature_is_flagged_or_rejected(systems, legacy_sim: QlvbSimulator, dagbag, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A signed PDF whose bytes were changed after signing is invalid (not merely unsigned): flagged,
    or with ``reject_invalid_signatures`` refused with status 02; a well-signed one is ok."""
    hub = systems
    good, broken, broken_again = (_signed_edoc(7000, tamper=False), _signed_edoc(7001, tamper=True),
                                  _signed_edoc(7002, tamper=True))
    work = tmp_path / "vpcp"
    connect(monkeypatch, hub.url, *VPCP, legacy_sim.endpoint)
    with client(hub, NA) as na:
        na.send_edoc(build_package(good))
        na.send_edoc(build_package(broken))
    run, tis = run_dag(dagbag, "lienthong_inbound_qlvb_soap", work_dir=work, signing_profiles=PROFILES)
    assert run.state == "success", tis
    assert _verify_report(work, good)["valid"] is True
    report = _verify_report(work, broken)
    assert report["valid"] is False and report["verdict"] == "invalid"
    assert "modified after signing" in json.dumps(report, ensure_ascii=False)  # broken, not "unsigned"
    flags = {json.loads(p.read_text())["flagged"] for p in (work / "inbound").glob("*.legacy.json")}
    assert flags == {True, False}  # both delivered; only the broken one flagged
    assert summary(work, "lienthong_inbound_qlvb_soap", run)["verify"] == {
        "ok": 1, "skipped": 0, "failed": 0, "flagged": 1, "chunks": 1}  # counted as flagged, not ok
    assert len(legacy_sim.received) == 2

    with client(hub, NA) as na:
        na.send_edoc(build_package(broken_again))
    run, tis = run_dag(dagbag, "lienthong_inbound_qlvb_soap", work_dir=work, signing_profiles=PROFILES,
                       reject_invalid_signatures=True)
    assert run.state == "success", tis
    assert len(legacy_sim.received) == 2  # the rejected one never reached the legacy system
    assert summary(work, "lienthong_inbound_qlvb_soap", run)["verify"]["rejected"] == 1
    assert _verify_report(work, broken_again)["verdict"] == "invalid"
    assert len(list((work / "inbound").glob("*.rejected.json"))) == 1
    codes = {}
    with client(hub, NA) as na:
        for item in na.received_list("status"):
            status = parse_package(na.get_edoc(str(item["docId"]))).package
            assert isinstance(status, StatusPackage)
            codes[status.response_for.document_id] = status.status_code.wire
    assert codes == {good.header.document_id: "01", broken.header.document_id: "01",
                     broken_again.header.document_id: "02"}


def test_directory_sync_publishes_atomically_and_refuses_a_shrunken_list(systems, dagbag, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    hub = systems
    target = tmp_path / "routing" / "agencies.json"
    connect(monkeypatch, hub.url, *NA, "http://127.0.0.1:9/unused")
    run, tis = run_dag(dagbag, "lienthong_directory_sync", work_dir=tmp_path / "work", directory_file=target)
    assert run.state == "success", tis
    directory = Directory.from_json(target)
    assert {G22, H41, "02.41.W00"} <= {a.code for a in directory}
    assert directory.center_of(G22) == "02.41.W00"

    # Atomic: the file is replaced by a rename, never rewritten in place. A reader holding the old
    # file open keeps reading all of the old one, and readers during the run only ever see a whole file.
    old_bytes, old_inode = target.read_bytes(), target.stat().st_ino
    seen: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                text = target.read_text(encoding="utf-8")
            except FileNotFoundError:
                seen.append("missing")
                continue
            try:
                json.loads(text)
                seen.append("whole")
            except ValueError:
                seen.append("partial")

    with target.open("rb") as held:
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            run, tis = run_dag(dagbag, "lienthong_directory_sync", work_dir=tmp_path / "work2", directory_file=target)
        finally:
            stop.set()
            thread.join(10)
        assert run.state == "success", tis
        assert held.read() == old_bytes  # the old file, whole, for whoever had it open
    assert target.stat().st_ino != old_inode  # a new file renamed over the old one
    assert seen and set(seen) == {"whole"}, sorted(set(seen))
    assert [p.name for p in target.parent.iterdir()] == ["agencies.json"]  # no temporary file left behind

    big = [{"code": f"000.00.{i:02d}.H41", "name": f"Sở {i}"} for i in range(20)]
    target.write_text(json.dumps(big))
    run, tis = run_dag(dagbag, "lienthong_directory_sync", work_dir=tmp_path / "work", directory_file=target)
    assert run.state == "failed"
    assert tis["publish_directory"] == ("failed", 1)  # non-retryable: failed on the first try, no retries
    assert json.loads(target.read_text()) == big  # left as it was
