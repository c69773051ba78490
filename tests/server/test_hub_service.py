"""The hub's business logic called directly (HubService, no HTTP): what sendEdoc records, for whom,
and what it refuses before anything is written.

The HTTP tests (test_hub_inbox, test_sdk_wire, test_axis_api*) see these rules through the SDK's
answers; here each rule is pinned where it is decided, so the mutation run of
``gateway/server/hub.py`` can check it in milliseconds instead of an in-thread hub per mutant:
the draft handed to the group commit field by field, the checks that must refuse before a blob
is written, a status package's own transaction, the recipients of a revocation and of a
withdrawal, the wake-up of the delivery worker, and the agency list's merge of the directory
with the registered systems.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from gateway.blobstore import BlobStore
from gateway.config import HubSettings, RemoteHubSettings
from gateway.edxml import Organization, build_package
from gateway.edxml.directory import Agency, Directory
from gateway.edxml.model import BusinessDocType, StatusCode, TraceHeader
from gateway.edxml.samples import sample_edoc, sample_status
from gateway.errors import AuthorizationError, RecipientError, SchemaValidationError
from gateway.ledger import Ledger, SystemInfo
from gateway.ledger.intake import Accepted
from gateway.ledger.models import Message, StatusEvent, Submission
from gateway.server.hub import BadRequestError, HubService, OrganNotAllowedError, axis_time, parse_axis_time, vn_now
from gateway.server.routing import LoopError, NoRouteError
from gateway.server.trace import outbound_bytes
from gateway.transport.hmac_auth import VerifiedRequest, sdk_hex

pytestmark = pytest.mark.db

H41, G22, G12, G09, G10 = ("000.00.00.H41", "000.00.00.G22", "000.00.00.G12", "000.00.00.G09",
                           "000.00.00.G10")


def _service(settings: HubSettings, ledger: Ledger, directory: Directory | None = None) -> HubService:
    return HubService(settings, ledger, BlobStore(settings.blob_dir, fsync=False), directory or Directory())


@pytest.fixture
def hub(hub_settings: HubSettings, ledger: Ledger):
    ledger.add_system("sys-h41", "s-41", [H41])
    ledger.add_system("sys-g22", "s-22", [G22])
    ledger.add_system("sys-g12", "s-12", [G12])
    service = _service(hub_settings, ledger)
    yield service
    service.close()


def _system(hub: HubService, system_id: str) -> SystemInfo:
    info = hub.ledger.system_credentials(system_id, ttl=0)[1]
    assert info is not None
    return info


def _request(system_id: str, **values: str) -> VerifiedRequest:
    return VerifiedRequest(system_id, {k.replace("_", "-"): v for k, v in values.items()}, None, uuid.uuid4().hex)


def _edoc(n: int, *recipients: str, **kwargs):  # type: ignore[no-untyped-def]
    return sample_edoc(n, attachments=1, recipients=tuple(Organization(r) for r in recipients), **kwargs)


def _blob_count(hub: HubService) -> int:
    return sum(1 for p in hub.settings.blob_dir.rglob("*") if p.is_file()) if hub.settings.blob_dir.exists() else 0


def _messages(hub: HubService, **where: str) -> list[Message]:
    with hub.ledger.reader() as s:
        q = select(Message).order_by(Message.id)
        for name, value in where.items():
            q = q.where(getattr(Message, name) == value)
        return list(s.execute(q).scalars().all())


# -- the draft handed to the group commit ---------------------------------------------------------

def test_the_draft_records_the_package_its_sender_and_one_route_per_local_system(hub: HubService) -> None:
    pkg = _edoc(100, G22, G12)
    body = build_package(pkg)
    request = _request("sys-h41")
    prepared = hub.prepare(body, request, _system(hub, "sys-h41"), adapter="qlvb_soap")
    assert not isinstance(prepared, Accepted)
    d = prepared.draft
    assert (d.message_type, d.document_id, d.sender, d.system_id, d.actor) == (
        "edoc", pkg.header.document_id, H41, "sys-h41", "sys-h41")
    assert (d.subject, d.code, d.adapter) == (pkg.header.subject, str(pkg.header.code), "qlvb_soap")
    assert (d.payload_sha256, d.payload_size) == (hashlib.sha256(body).hexdigest(), len(body))
    assert d.signature == request.signature and d.idem_extra == "" and d.partial is None
    assert [(r.route, r.destination, tuple(r.recipients)) for r in d.routes] == [
        ("local", "sys-g22", (G22,)), ("local", "sys-g12", (G12,))]
    outbound = outbound_bytes(hub.blobs, d.outbound_sha256, d.payload_sha256, d.trace_hop)
    assert hashlib.sha256(outbound).hexdigest() == d.outbound_sha256 and len(outbound) == d.outbound_size
    assert hub.settings.node_id.encode() in outbound and d.trace_hop and hub.settings.node_id in d.trace_hop
    assert hub.blobs.path(d.payload_sha256).read_bytes() == body  # the original is stored before the commit
    assert (prepared.note, prepared.business) == ("", None)


def test_an_unsigned_request_leaves_no_signature_on_the_draft(hub: HubService) -> None:
    request = VerifiedRequest("sys-h41", {}, None, "")
    prepared = hub.prepare(build_package(_edoc(101, G22)), request, _system(hub, "sys-h41"))
    assert not isinstance(prepared, Accepted) and prepared.draft.signature is None


@pytest.mark.parametrize("case", ["lower", "upper"])
def test_hash_file_is_the_sha256_of_the_body_without_its_crlf_in_any_case(hub: HubService, case: str) -> None:
    body = build_package(_edoc(102, G22))
    declared = sdk_hex(hashlib.sha256(body).digest())
    declared = declared.upper() if case == "upper" else declared
    prepared = hub.prepare(body + b"\r\n", _request("sys-h41", hash_file=declared), _system(hub, "sys-h41"))
    assert not isinstance(prepared, Accepted)
    assert prepared.draft.payload_sha256 == hashlib.sha256(body).hexdigest()


def test_a_hash_file_that_does_not_match_is_refused_before_anything_is_stored(hub: HubService) -> None:
    body = build_package(_edoc(103, G22))
    with_crlf = sdk_hex(hashlib.sha256(body + b"\r\n").digest())  # the CRLF is not part of the file
    with pytest.raises(SchemaValidationError, match="hash-file does not match the body"):
        hub.prepare(body + b"\r\n", _request("sys-h41", hash_file=with_crlf), _system(hub, "sys-h41"))
    assert _blob_count(hub) == 0


@pytest.mark.parametrize("declared", ["edoc", "EDOC", " ", ""])
def test_a_declared_edoc_type_in_any_case_or_none_is_accepted(hub: HubService, declared: str) -> None:
    prepared = hub.prepare(build_package(_edoc(104, G22)), _request("sys-h41", messagetype=declared),
                           _system(hub, "sys-h41"))
    assert not isinstance(prepared, Accepted) and prepared.draft.message_type == "edoc"


def test_a_declared_type_that_is_not_the_bodys_is_refused_naming_both(hub: HubService) -> None:
    with pytest.raises(SchemaValidationError) as info:
        hub.prepare(build_package(_edoc(105, G22)), _request("sys-h41", messagetype="Status"),
                    _system(hub, "sys-h41"))
    assert str(info.value) == "messagetype header says 'status' but the body is a edoc package"
    status = build_package(sample_status(for_edoc=_edoc(105, G22)))
    with pytest.raises(SchemaValidationError, match="says 'edoc' but the body is a status package"):
        hub.prepare(status, _request("sys-g22", messagetype="edoc"), _system(hub, "sys-g22"))
    assert _blob_count(hub) == 0


def test_a_sender_the_system_is_not_registered_for_is_refused_before_anything_is_stored(hub: HubService) -> None:
    with pytest.raises(OrganNotAllowedError) as info:
        hub.prepare(build_package(_edoc(106, G12)), _request("sys-g22"), _system(hub, "sys-g22"))
    assert isinstance(info.value, AuthorizationError)
    assert str(info.value) == f"system 'sys-g22' is not registered for sender OrganId '{H41}'"
    status = build_package(sample_status(for_edoc=_edoc(106, G22)))  # reported by G22
    with pytest.raises(OrganNotAllowedError, match=re.escape(f"sender OrganId '{G22}'")):
        hub.prepare(status, _request("sys-g12"), _system(hub, "sys-g12"))
    assert _blob_count(hub) == 0


def test_a_package_whose_trace_already_names_this_hub_is_refused_as_a_loop(hub: HubService) -> None:
    pkg = _edoc(107, G22)
    assert pkg.trace is not None
    looped = replace(pkg, trace=replace(pkg.trace, trace_headers=(
        *pkg.trace.trace_headers, TraceHeader(hub.settings.node_id, datetime(2026, 11, 20, 9, 16)))))
    with pytest.raises(LoopError, match=re.escape("already passed through hub TEST.W00")):
        hub.prepare(build_package(looped), _request("sys-h41"), _system(hub, "sys-h41"))
    assert _blob_count(hub) == 0


def test_a_recipient_with_no_route_is_refused_before_anything_is_stored(hub: HubService) -> None:
    with pytest.raises(NoRouteError, match=re.escape(f"no route to {G09}")):
        hub.prepare(build_package(_edoc(108, G22, G09)), _request("sys-h41"), _system(hub, "sys-h41"))
    assert _blob_count(hub) == 0


def test_recipients_one_system_serves_travel_as_one_local_message(hub: HubService) -> None:
    hub.ledger.add_system("sys-pair", "s-pair", [G09, G10])
    hub.accept_recorded(build_package(_edoc(109, G09, G10)), _request("sys-h41"), _system(hub, "sys-h41"))
    (row,) = hub.inbox(_system(hub, "sys-pair"), "edoc")
    assert row["to"] == f"{G09},{G10}" and row["from"] == H41


# -- committing, idempotency and the delivery worker's wake-up ------------------------------------

def test_only_a_new_submission_with_a_remote_route_wakes_the_delivery_worker(
    hub_settings: HubSettings, ledger: Ledger
) -> None:
    up = RemoteHubSettings(url="http://127.0.0.1:9/", system_id="us", secret="x", code="UP.W00")
    ledger.add_system("sys-h41", "s-41", [H41])
    ledger.add_system("sys-g22", "s-22", [G22])
    service = _service(replace(hub_settings, upstream=up), ledger)
    try:
        sender = _system(service, "sys-h41")
        service.accept_recorded(build_package(_edoc(110, G22)), _request("sys-h41"), sender)
        assert not service.work_available.is_set()  # local only: the recipient fetches it
        body = build_package(_edoc(111, G22, G09))
        first = service.accept_recorded(body, _request("sys-h41"), sender)
        assert first.created and service.work_available.is_set()
        assert [(m.route, m.destination) for m in _messages(service, document_id=_edoc(111).header.document_id)] == [
            ("local", "sys-g22"), ("upstream", "upstream")]
        service.work_available.clear()
        again = service.accept_recorded(body, _request("sys-h41"), sender)
        assert (again.doc_id, again.created) == (first.doc_id, False)
        assert not service.work_available.is_set()  # nothing new to deliver
    finally:
        service.close()


# -- the recipients: a signed `to`, a revocation, a withdrawal, a relayed status ------------------

def test_a_signed_to_naming_some_recipients_makes_an_agencys_send_partial(hub: HubService) -> None:
    prepared = hub.prepare(build_package(_edoc(112, G22, G12)), _request("sys-h41", to=f'["{G22}"]'),
                           _system(hub, "sys-h41"))
    assert not isinstance(prepared, Accepted)
    assert prepared.draft.partial == ((G22,), (G12,))
    assert [r.destination for r in prepared.draft.routes] == ["sys-g22"]
    assert G12 in prepared.note


def test_a_hub_naming_some_recipients_is_routing_not_a_partial_send(hub: HubService) -> None:
    hub.ledger.add_system("sys-hub", "s-hub", [H41], kind="hub")
    prepared = hub.prepare(build_package(_edoc(113, G22, G12)), _request("sys-hub", to=f'["{G22}"]'),
                           _system(hub, "sys-hub"))
    assert not isinstance(prepared, Accepted)
    assert prepared.draft.partial is None and prepared.note == ""
    assert [r.destination for r in prepared.draft.routes] == ["sys-g22"]


@pytest.mark.parametrize("names_it", ["by its own DocumentId", "in Bussiness/DocumentId"])
def test_a_revocation_also_goes_to_everyone_the_document_already_went_to(hub: HubService, names_it: str) -> None:
    revoke = _edoc(114, G22, business=BusinessDocType.REVOKE)
    assert revoke.trace is not None and revoke.trace.business is not None
    target = revoke.trace.business.document_id
    assert target is not None and target != revoke.header.document_id
    original = _edoc(2001, G22, G12)
    # the official samples reuse the original's DocumentId; other senders give the revocation its own
    original_id = revoke.header.document_id if names_it == "by its own DocumentId" else target
    original = replace(original, header=replace(original.header, document_id=original_id))
    hub.accept_recorded(build_package(original), _request("sys-h41"), _system(hub, "sys-h41"))
    prepared = hub.prepare(build_package(revoke), _request("sys-h41"), _system(hub, "sys-h41"))
    assert not isinstance(prepared, Accepted)
    assert [tuple(r.recipients) for r in prepared.draft.routes] == [(G22,), (G12,)]
    assert prepared.business == (int(BusinessDocType.REVOKE), target, revoke.trace.business.reason)
    assert prepared.draft.idem_extra == f"business={int(BusinessDocType.REVOKE)}"
    # a signed `to` may name a recipient the revocation reaches only through the original
    narrowed = hub.prepare(build_package(revoke), _request("sys-h41", to=f'["{G12}"]'), _system(hub, "sys-h41"))
    assert not isinstance(narrowed, Accepted) and [r.destination for r in narrowed.draft.routes] == ["sys-g12"]
    accepted = hub.accept_recorded(build_package(revoke), _request("sys-h41"), _system(hub, "sys-h41"))
    assert accepted.created
    revocation_messages = _messages(hub)
    with hub.ledger.reader() as s:
        sub_id = s.execute(select(Submission.id).where(Submission.doc_id == accepted.doc_id)).scalar_one()
    assert sorted(m.destination for m in revocation_messages if m.submission_id == sub_id) == ["sys-g12", "sys-g22"]


def test_a_revocation_of_a_document_sent_by_someone_else_reaches_only_its_own_recipients(hub: HubService) -> None:
    hub.ledger.add_system("sys-g09", "s-09", [G09])
    revoke = _edoc(125, G22, business=BusinessDocType.REVOKE)
    assert revoke.trace is not None and revoke.trace.business is not None
    other = _edoc(2001, G12, sender=Organization(G09))  # the same DocumentId, another sender
    other = replace(other, header=replace(other.header, document_id=revoke.header.document_id))
    hub.accept_recorded(build_package(other), _request("sys-g09"), _system(hub, "sys-g09"))
    prepared = hub.prepare(build_package(revoke), _request("sys-h41"), _system(hub, "sys-h41"))
    assert not isinstance(prepared, Accepted) and [r.destination for r in prepared.draft.routes] == ["sys-g22"]


def test_a_signed_to_naming_someone_the_package_does_not_address_is_refused(hub: HubService) -> None:
    with pytest.raises(RecipientError):
        hub.prepare(build_package(_edoc(115, G22)), _request("sys-h41", to=f'["{G12}"]'), _system(hub, "sys-h41"))
    assert _blob_count(hub) == 0


# -- status packages: recorded in their own transaction -------------------------------------------

def test_a_status_package_is_recorded_at_once_for_the_documents_sender(hub: HubService) -> None:
    edoc = _edoc(116, G22)
    hub.accept_recorded(build_package(edoc), _request("sys-h41"), _system(hub, "sys-h41"))
    status = sample_status(StatusCode.ACCEPTED, for_edoc=edoc)
    body = build_package(status)
    syncs: list[int] = []
    real_sync = hub.blobs.sync
    hub.blobs.sync = lambda: (syncs.append(1), real_sync())[1]  # type: ignore[method-assign]
    first = hub.prepare(body, _request("sys-g22", messagetype="STATUS"), _system(hub, "sys-g22"), adapter="a1")
    assert isinstance(first, Accepted) and first.created
    assert syncs == [1]  # the status path commits on its own: its blob is made durable first
    assert not hub.work_available.is_set()
    (msg,) = _messages(hub, message_type="status")
    assert (msg.direction, msg.route, msg.destination, msg.state) == ("in", "local", "sys-h41", "QUEUED")
    assert (msg.sender, msg.document_id, msg.status_code) == (G22, edoc.header.document_id, "03")
    assert (msg.subject, msg.code, msg.adapter) == (status.description, str(edoc.header.code), "a1")
    assert msg.source_sha256 == hashlib.sha256(body).hexdigest() and msg.doc_id != first.doc_id
    rebuilt = outbound_bytes(hub.blobs, msg.payload_sha256, msg.source_sha256, msg.trace_hop)
    assert hashlib.sha256(rebuilt).hexdigest() == msg.payload_sha256 and len(rebuilt) == msg.payload_size
    with hub.ledger.reader() as s:
        sub = s.execute(select(Submission).where(Submission.doc_id == first.doc_id)).scalar_one()
        event = s.execute(select(StatusEvent)).scalar_one()
    assert (sub.message_type, sub.status_code, sub.system_id, sub.payload_size) == ("status", "03", "sys-g22", len(body))
    assert (event.document_id, event.from_organ, event.status_code) == (edoc.header.document_id, G22, "03")
    assert (event.description, event.event_time, event.submission_id) == (
        status.description, "2026-11-21 08:30:00", sub.id)
    # the same status again: the same DocId, nothing recorded twice
    again = hub.prepare(body, _request("sys-g22"), _system(hub, "sys-g22"))
    assert isinstance(again, Accepted) and (again.doc_id, again.created) == (first.doc_id, False)
    assert len(_messages(hub, message_type="status")) == 1
    with hub.ledger.reader() as s:
        assert s.execute(select(func.count()).select_from(StatusEvent)).scalar_one() == 1
    # a later status of the same document is a new one (its timestamp is part of its identity)
    later = replace(status, timestamp=status.timestamp + timedelta(minutes=5))
    third = hub.prepare(build_package(later), _request("sys-g22"), _system(hub, "sys-g22"))
    assert isinstance(third, Accepted) and third.created and third.doc_id != first.doc_id


def test_a_status_for_a_remote_sender_wakes_the_delivery_worker(hub_settings: HubSettings, ledger: Ledger) -> None:
    up = RemoteHubSettings(url="http://127.0.0.1:9/", system_id="us", secret="x", code="UP.W00")
    ledger.add_system("sys-g22", "s-22", [G22])
    service = _service(replace(hub_settings, upstream=up), ledger)
    try:
        status = build_package(sample_status(for_edoc=_edoc(117, G22)))  # its sender H41 is not served here
        done = service.prepare(status, _request("sys-g22"), _system(service, "sys-g22"))
        assert isinstance(done, Accepted) and done.created and service.work_available.is_set()
        (msg,) = _messages(service, message_type="status")
        assert (msg.direction, msg.route) == ("out", "upstream")
    finally:
        service.close()


def test_a_withdrawal_by_the_sender_goes_to_the_documents_recipients(hub: HubService) -> None:
    edoc = _edoc(118, G22, G12)
    hub.accept_recorded(build_package(edoc), _request("sys-h41"), _system(hub, "sys-h41"))
    withdrawal = sample_status(StatusCode.CANCELLATION, for_edoc=edoc)  # From = ResponseFor/OrganId = H41
    done = hub.prepare(build_package(withdrawal), _request("sys-h41"), _system(hub, "sys-h41"))
    assert isinstance(done, Accepted) and done.created
    assert sorted(m.destination for m in _messages(hub, message_type="status")) == ["sys-g12", "sys-g22"]


def test_a_withdrawal_of_a_document_never_routed_here_goes_to_its_sender(hub: HubService) -> None:
    withdrawal = sample_status(StatusCode.CANCELLATION, for_edoc=_edoc(119, G22))
    hub.prepare(build_package(withdrawal), _request("sys-h41"), _system(hub, "sys-h41"))
    assert [m.destination for m in _messages(hub, message_type="status")] == ["sys-h41"]


def test_a_status_from_a_recipient_is_not_widened_to_the_documents_recipients(hub: HubService) -> None:
    edoc = _edoc(120, G22, G12)
    hub.accept_recorded(build_package(edoc), _request("sys-h41"), _system(hub, "sys-h41"))
    hub.ledger.add_system("sys-h41b", "s-41b", [G12])
    cancel_by_other = replace(sample_status(StatusCode.CANCELLATION, for_edoc=edoc), from_=Organization(G12))
    hub.prepare(build_package(cancel_by_other), _request("sys-g12"), _system(hub, "sys-g12"))
    # ResponseFor names H41, not the reporter: the status goes to H41 only
    assert [m.destination for m in _messages(hub, message_type="status")] == ["sys-h41"]


def test_a_relayed_status_may_be_routed_by_the_hubs_to_an_agencys_may_not(hub: HubService) -> None:
    status = build_package(sample_status(for_edoc=_edoc(121, G22)))  # from G22, for H41
    with pytest.raises(RecipientError):
        hub.prepare(status, _request("sys-g22", to=f'["{G12}"]'), _system(hub, "sys-g22"))
    hub.ledger.add_system("sys-relay", "s-relay", [G22], kind="hub")
    relayed = hub.prepare(status, _request("sys-relay", to=f'["{G12}"]'), _system(hub, "sys-relay"))
    assert isinstance(relayed, Accepted)
    assert [m.destination for m in _messages(hub, message_type="status")] == ["sys-g12"]


# -- the receiving side ---------------------------------------------------------------------------

def test_fetch_marks_the_first_read_and_only_the_recipient_may_fetch(hub: HubService) -> None:
    accepted = hub.accept_recorded(build_package(_edoc(122, G22)), _request("sys-h41"), _system(hub, "sys-h41"))
    (msg,) = _messages(hub, destination="sys-g22")
    g22 = _system(hub, "sys-g22")
    assert hub.count_inbox(g22, "edoc") == 1 and hub.count_inbox(g22, "status") == 0
    assert hub.count_inbox(_system(hub, "sys-g12"), "edoc") == 0
    data = hub.fetch(g22, msg.doc_id)
    assert hashlib.sha256(data).hexdigest() == msg.payload_sha256
    (read,) = _messages(hub, destination="sys-g22")
    assert read.state == "SENT" and read.delivered_at == read.updated_at
    hub.fetch(g22, msg.doc_id)
    (again,) = _messages(hub, destination="sys-g22")
    assert (again.state, again.delivered_at) == ("SENT", read.delivered_at)
    import base64

    assert base64.b64decode(hub.fetch_base64(g22, msg.doc_id)) == data
    from gateway.errors import NotFoundError

    for who, doc_id in (("sys-g12", msg.doc_id), ("sys-g22", accepted.doc_id), ("sys-g22", "nope")):
        with pytest.raises(NotFoundError) as info:
            hub.fetch(_system(hub, who), doc_id)
        assert str(info.value) == f"no document {doc_id!r} for system {who!r}"


def test_update_status_normalises_the_status_and_done_acknowledges(hub: HubService) -> None:
    hub.accept_recorded(build_package(_edoc(123, G22)), _request("sys-h41"), _system(hub, "sys-h41"))
    g22 = _system(hub, "sys-g22")
    (msg,) = _messages(hub, destination="sys-g22")
    hub.update_status(g22, msg.doc_id, " Processing ", "đang xử lý", "")  # unsigned: never a replay
    (row,) = _messages(hub, destination="sys-g22")
    assert (row.transport_status, row.state) == ("processing", "QUEUED")
    assert hub.count_inbox(g22, "edoc") == 1
    hub.update_status(g22, msg.doc_id, "DONE", None, "")
    (row,) = _messages(hub, destination="sys-g22")
    assert (row.transport_status, row.state) == ("done", "ACKNOWLEDGED")
    assert hub.count_inbox(g22, "edoc") == 0 and hub.inbox(g22, "edoc") == []
    with pytest.raises(BadRequestError) as info:
        hub.update_status(g22, msg.doc_id, "read", None, "sig-3")
    assert str(info.value) == "status must be one of ['done', 'fail', 'processing'], not 'read'"


def test_inbox_rows_carry_the_axis_fields_and_local_times(hub: HubService) -> None:
    hub.accept_recorded(build_package(_edoc(124, G22)), _request("sys-h41"), _system(hub, "sys-h41"))
    (msg,) = _messages(hub, destination="sys-g22")
    (row,) = hub.inbox(_system(hub, "sys-g22"), "edoc")
    assert row == {
        "docId": msg.doc_id, "serviceType": "eDoc", "messageType": "edoc", "from": H41, "to": G22,
        "status": "pending", "status_desc": "QUEUED",
        "created_time": axis_time(msg.created_at, hub.settings), "updated_time": axis_time(msg.updated_at, hub.settings),
    }
    assert hub.inbox(_system(hub, "sys-g22"), "status") == []
    created = msg.created_at
    around = {"from_date": axis_time(created - timedelta(minutes=1), hub.settings),
              "to_date": axis_time(created + timedelta(minutes=1), hub.settings)}
    assert len(hub.inbox(_system(hub, "sys-g22"), "edoc", **around)) == 1
    later = axis_time(created + timedelta(minutes=1), hub.settings)
    earlier = axis_time(created - timedelta(minutes=1), hub.settings)
    assert hub.inbox(_system(hub, "sys-g22"), "edoc", from_date=later) == []
    assert hub.inbox(_system(hub, "sys-g22"), "edoc", to_date=earlier) == []


# -- times in the axis format ---------------------------------------------------------------------

def test_axis_times_are_local_in_the_configured_zone(hub_settings: HubSettings) -> None:
    utc = datetime(2026, 1, 1, 17, 30, 5)
    assert axis_time(utc, hub_settings) == "02/01/2026 00:30:05"
    assert axis_time(None, hub_settings) == ""
    assert parse_axis_time(" 02/01/2026 00:30:05 ", hub_settings) == utc
    assert parse_axis_time("", hub_settings) is None and parse_axis_time(None, hub_settings) is None
    other = replace(hub_settings, timestamp_utc_offset_minutes=60)
    assert axis_time(utc, other) == "01/01/2026 18:30:05" and parse_axis_time("01/01/2026 18:30:05", other) == utc
    with pytest.raises(BadRequestError) as info:
        parse_axis_time("2026-01-02 00:30", hub_settings)
    assert str(info.value) == "date '2026-01-02 00:30' is not in the format dd/MM/yyyy HH:mm:ss"
    local = vn_now(hub_settings)
    expected = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=7)
    assert local.tzinfo is None and abs(local - expected) < timedelta(minutes=1)


# -- the agency list ------------------------------------------------------------------------------

def test_the_agency_list_merges_the_directory_with_the_registered_agency_systems(
    hub_settings: HubSettings, ledger: Ledger
) -> None:
    directory = Directory([
        Agency(code=G22, name="Bộ A", id="7", pid="1", mail="a@gov.vn", center_code="TEST.W00"),
        Agency(code="000.00.00.G99", name="Cũ", deleted=True),
        Agency(code=G12, name="Bộ B", old_code="000.00.00.B12"),
    ])
    ledger.add_system("sys-a", "s", [G22, "000.00.00.B12", H41, "000.00.*"], name="Hệ thống A")
    ledger.add_system("sys-b", "s", [H41, G10], name="Hệ thống B")
    ledger.add_system("sys-hub", "s", [G09], kind="hub", name="Hub")
    service = _service(hub_settings, ledger, directory)
    try:
        rows = service.agencies()
    finally:
        service.close()
    assert rows == [  # the directory in code order (deleted members left out), then the systems' organs
        {"id": "1", "pid": "", "code": G12, "name": "Bộ B", "mail": "", "oldCode": "000.00.00.B12",
         "code102": "000.00.00.B12", "centerCode": ""},
        {"id": "7", "pid": "1", "code": G22, "name": "Bộ A", "mail": "a@gov.vn", "oldCode": "",
         "code102": G22, "centerCode": "TEST.W00"},
        {"id": 3, "pid": "", "code": H41, "name": "Hệ thống A", "mail": "", "oldCode": "", "code102": H41,
         "centerCode": "TEST.W00"},
        {"id": 4, "pid": "", "code": G10, "name": "Hệ thống B", "mail": "", "oldCode": "", "code102": G10,
         "centerCode": "TEST.W00"},
    ]


# -- the event-loop path (sendEdoc over HTTP): the answer, a partial send completed, the log -----

def test_accept_answer_returns_the_note_of_a_partial_send_and_a_resend_completes_it(
    hub: HubService, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio
    import logging

    caplog.set_level(logging.INFO, logger="lienthong.hub")
    body = build_package(_edoc(126, G22, G12))
    h41 = _system(hub, "sys-h41")
    doc_id, note = asyncio.run(hub.accept_answer(body, _request("sys-h41", to=f'["{G22}"]'), h41))
    assert G12 in note and [m.destination for m in _messages(hub)] == ["sys-g22"]
    (first,) = [r for r in caplog.records if r.getMessage() == "package accepted"]
    assert (first.document_id, first.doc_id, first.system_id, first.routes) == (  # type: ignore[attr-defined]
        _edoc(126).header.document_id, doc_id, "sys-h41", ["local:sys-g22"])
    caplog.clear()
    again, note = asyncio.run(hub.accept_answer(body, _request("sys-h41"), h41))
    assert (again, note) == (doc_id, "")
    assert sorted(m.destination for m in _messages(hub)) == ["sys-g12", "sys-g22"]
    messages = [r.getMessage() for r in caplog.records]
    assert "partial send completed" in messages and "package already accepted (idempotent)" in messages
    (completed,) = [r for r in caplog.records if r.getMessage() == "partial send completed"]
    assert completed.added and completed.document_id == _edoc(126).header.document_id  # type: ignore[attr-defined]
    assert hub.work_available.is_set()
    hub.work_available.clear()
    asyncio.run(hub.accept_answer(body, _request("sys-h41"), h41))  # nothing left out any more
    assert len(_messages(hub)) == 2 and not hub.work_available.is_set()


def test_accept_answer_records_a_business_operation_in_its_own_transaction(hub: HubService) -> None:
    import asyncio

    h41 = _system(hub, "sys-h41")
    revoke = _edoc(127, G22, business=BusinessDocType.REVOKE)
    doc_id, note = asyncio.run(hub.accept_answer(build_package(revoke), _request("sys-h41"), h41))
    assert note == "" and [m.destination for m in _messages(hub)] == ["sys-g22"]
    from gateway.ledger.models import BusinessOperation

    with hub.ledger.reader() as s:
        (op,) = s.execute(select(BusinessOperation)).scalars().all()
    biz = revoke.trace.business
    assert (op.business_type, op.target_document_id, op.reason) == (int(BusinessDocType.REVOKE), biz.document_id, biz.reason)
    assert asyncio.run(hub.accept_answer(build_package(revoke), _request("sys-h41"), h41)) == (doc_id, "")


def test_a_status_package_is_logged_with_what_it_answers(hub: HubService, caplog: pytest.LogCaptureFixture) -> None:
    import asyncio
    import logging

    caplog.set_level(logging.INFO, logger="lienthong.hub")
    edoc = _edoc(128, G22)
    status = build_package(sample_status(for_edoc=edoc))
    g22 = _system(hub, "sys-g22")
    doc_id, note = asyncio.run(hub.accept_answer(status, _request("sys-g22"), g22))
    assert note == ""
    (rec,) = [r for r in caplog.records if r.getMessage() == "status package accepted"]
    assert (rec.document_id, rec.doc_id, rec.system_id) == (edoc.header.document_id, doc_id, "sys-g22")  # type: ignore[attr-defined]
    assert asyncio.run(hub.accept_answer(status, _request("sys-g22"), g22)) == (doc_id, "")
    assert [r.getMessage() for r in caplog.records].count("status package already accepted (idempotent)") == 1


# -- the replay cache, the audit trail and the state history of the receiving side ---------------

def _audit(hub: HubService, event: str) -> list[tuple[str, int | None, str | None, dict]]:  # type: ignore[type-arg]
    import json

    from gateway.ledger.models import AuditEntry

    with hub.ledger.reader() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.event == event).order_by(AuditEntry.seq)).scalars()
        return [(e.actor, e.message_id, e.document_id, json.loads(e.detail)) for e in rows]


def _signed(hub: HubService) -> list[tuple[str, str, str, str | None]]:
    from gateway.ledger.models import SignedRequest

    with hub.ledger.reader() as s:
        rows = s.execute(select(SignedRequest).order_by(SignedRequest.seen_at)).scalars()
        return [(r.system_id, r.signature, r.operation, r.result) for r in rows]


def test_a_replayed_update_status_has_no_second_effect(hub: HubService, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="lienthong.hub")
    hub.accept_recorded(build_package(_edoc(130, G22)), _request("sys-h41"), _system(hub, "sys-h41"))
    (msg,) = _messages(hub, destination="sys-g22")
    g22 = _system(hub, "sys-g22")
    hub.update_status(g22, msg.doc_id, "processing", "đang xử lý", "sig-1")
    hub.update_status(g22, msg.doc_id, "done", "xong", "sig-1")  # the same signed request again
    (row,) = _messages(hub, destination="sys-g22")
    assert (row.transport_status, row.state) == ("processing", "QUEUED")
    assert _audit(hub, "inbox.update_status") == [
        ("sys-g22", msg.id, msg.document_id, {"status": "processing", "description": "đang xử lý"})]
    assert [r for r in _signed(hub) if r[0] == "sys-g22"] == [("sys-g22", "sig-1", "updateStatus", msg.doc_id)]
    (replayed,) = [r for r in caplog.records if r.getMessage() == "updateStatus replayed: no second effect"]
    assert replayed.document_id == msg.document_id  # type: ignore[attr-defined]


def test_a_signature_first_used_for_send_edoc_is_refused_on_update_status(hub: HubService) -> None:
    from gateway.errors import RequestRefusedError

    edoc = _edoc(131, G22)
    hub.accept_recorded(build_package(edoc), _request("sys-h41"), _system(hub, "sys-h41"))
    (msg,) = _messages(hub, destination="sys-g22")
    g22 = _system(hub, "sys-g22")
    status = VerifiedRequest("sys-g22", {}, None, "sig-status")
    done = hub.prepare(build_package(sample_status(for_edoc=edoc)), status, g22)
    assert isinstance(done, Accepted)
    assert [r for r in _signed(hub) if r[0] == "sys-g22"] == [("sys-g22", "sig-status", "sendEdoc", done.doc_id)]
    with pytest.raises(RequestRefusedError) as info:
        hub.update_status(g22, msg.doc_id, "done", None, "sig-status")
    assert str(info.value) == "this signed request was already used for sendEdoc; it is not accepted for updateStatus"
    (row,) = _messages(hub, destination="sys-g22")
    assert (row.transport_status, row.state) == ("pending", "QUEUED")


def test_the_state_history_says_who_moved_a_document_and_why(hub: HubService) -> None:
    h41, g22, g12 = (_system(hub, s) for s in ("sys-h41", "sys-g22", "sys-g12"))
    hub.accept_recorded(build_package(_edoc(132, G22, G12)), _request("sys-h41"), h41)
    read_first = _messages(hub, destination="sys-g22")[0]
    unread = _messages(hub, destination="sys-g12")[0]
    hub.fetch(g22, read_first.doc_id)
    hub.update_status(g22, read_first.doc_id, "done", None, "")
    hub.update_status(g12, unread.doc_id, "done", None, "")
    moves = [(actor, mid, d["from"], d["to"], d["reason"]) for actor, mid, _, d in _audit(hub, "message.state")]
    assert moves == [
        ("sys-g22", read_first.id, "QUEUED", "SENT", "fetched by recipient"),
        ("sys-g22", read_first.id, "SENT", "ACKNOWLEDGED", "updateStatus done"),
        ("sys-g12", unread.id, "QUEUED", "SENT", "acknowledged unread"),
        ("sys-g12", unread.id, "SENT", "ACKNOWLEDGED", "updateStatus done"),
    ]


def test_a_status_message_belongs_to_its_submission_and_is_audited_for_its_sender(hub: HubService) -> None:
    edoc = _edoc(133, G22)
    hub.accept_recorded(build_package(edoc), _request("sys-h41"), _system(hub, "sys-h41"))
    done = hub.prepare(build_package(sample_status(for_edoc=edoc)), _request("sys-g22"), _system(hub, "sys-g22"))
    assert isinstance(done, Accepted)
    (msg,) = _messages(hub, message_type="status")
    with hub.ledger.reader() as s:
        sub_id = s.execute(select(Submission.id).where(Submission.doc_id == done.doc_id)).scalar_one()
    assert msg.submission_id == sub_id
    created = [(actor, d["doc_id"]) for actor, _, _, d in _audit(hub, "message.created")]
    assert ("sys-g22", msg.doc_id) in created


def test_a_signed_business_operation_is_in_the_replay_cache(hub: HubService) -> None:
    import asyncio

    revoke = _edoc(134, G22, business=BusinessDocType.REVOKE)
    request = VerifiedRequest("sys-h41", {}, None, "sig-revoke")
    doc_id, _ = asyncio.run(hub.accept_answer(build_package(revoke), request, _system(hub, "sys-h41")))
    assert _signed(hub) == [("sys-h41", "sig-revoke", "sendEdoc", doc_id)]


def test_a_legacy_push_names_its_adapter_on_every_message(hub: HubService) -> None:
    hub.accept_recorded(build_package(_edoc(135, G22, G12)), _request("sys-h41"), _system(hub, "sys-h41"),
                        adapter="qlvb_soap")
    assert {m.adapter for m in _messages(hub)} == {"qlvb_soap"}


def test_sendedoc_work_runs_in_the_hubs_own_prepare_threads_which_close_stops(hub: HubService) -> None:
    import asyncio
    import threading

    seen: dict[str, str] = {}

    def spy(name: str):  # type: ignore[no-untyped-def]
        real = getattr(hub, name)

        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            seen[name] = threading.current_thread().name
            return real(*args, **kwargs)
        setattr(hub, name, call)

    for name in ("prepare", "_commit_business", "_complete_routes"):
        spy(name)
    h41 = _system(hub, "sys-h41")
    body = build_package(_edoc(136, G22, G12))
    asyncio.run(hub.accept_answer(body, _request("sys-h41", to=f'["{G22}"]'), h41))
    asyncio.run(hub.accept_answer(body, _request("sys-h41"), h41))  # completes the partial send
    revoke = build_package(_edoc(137, G22, business=BusinessDocType.REVOKE))
    asyncio.run(hub.accept_answer(revoke, _request("sys-h41"), h41))
    assert set(seen) == {"prepare", "_commit_business", "_complete_routes"}
    assert all(t.startswith("lienthong-prepare") for t in seen.values()), seen
    hub.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("lienthong-prepare")]


def test_an_inbox_lists_only_the_systems_local_deliveries(hub_settings: HubSettings, ledger: Ledger) -> None:
    peer = RemoteHubSettings(url="http://127.0.0.1:9/", system_id="me-at-b", secret="x", code="HUB.B",
                             serves=("HUB.B",))
    ledger.add_system("sys-h41", "s-41", [H41])
    ledger.add_system("HUB.B", "s-b", [G09], kind="hub")  # the downstream hub also pulls from here
    directory = Directory([Agency(code=G09, name="Sở", center_code="HUB.B")])
    service = _service(replace(hub_settings, peers=(peer,)), ledger, directory)
    try:
        service.accept_recorded(build_package(_edoc(138, G09)), _request("sys-h41"), _system(service, "sys-h41"))
        assert [(m.route, m.destination) for m in _messages(service)] == [("peer", "HUB.B")]
        b = _system(service, "HUB.B")
        assert service.inbox(b, "edoc") == [] and service.count_inbox(b, "edoc") == 0
    finally:
        service.close()


def test_the_inbox_dates_include_their_bounds_and_the_list_stops_at_1000(hub: HubService) -> None:
    hub.accept_recorded(build_package(_edoc(139, G22)), _request("sys-h41"), _system(hub, "sys-h41"))
    (msg,) = _messages(hub, destination="sys-g22")
    whole = datetime(2026, 12, 1, 3, 4, 5)
    with hub.ledger.transaction() as s:
        s.get(Message, msg.id).created_at = whole  # type: ignore[union-attr]
    g22 = _system(hub, "sys-g22")
    exact = axis_time(whole, hub.settings)
    assert len(hub.inbox(g22, "edoc", from_date=exact, to_date=exact)) == 1
    with hub.ledger.transaction() as s:
        s.add_all([Message(doc_id=f"bulk-{i:05d}", direction="in", message_type="edoc", document_id=f"D{i}",
                           sender=H41, recipients=f'["{G22}"]', route="local", destination="sys-g22",
                           state="QUEUED", payload_sha256="0" * 64, transport_status="pending",
                           created_at=whole + timedelta(seconds=1), updated_at=whole) for i in range(1000)])
    rows = hub.inbox(g22, "edoc")
    assert len(rows) == 1000 and hub.count_inbox(g22, "edoc") == 1001
    assert rows[0]["docId"] == msg.doc_id and rows[-1]["docId"] == "bulk-00998"  # in arrival order


def test_refusal_messages_say_exactly_what_is_wrong(hub: HubService) -> None:
    from gateway.errors import GatewayError

    h41 = _system(hub, "sys-h41")
    with pytest.raises(SchemaValidationError) as info:
        hub.prepare(b"  \r\n", _request("sys-h41"), h41)
    assert str(info.value) == "empty body: sendEdoc expects the .edxml file"
    body = build_package(_edoc(140, G22))
    with pytest.raises(SchemaValidationError) as info:
        hub.prepare(body, _request("sys-h41", hash_file="0" * 64), h41)
    assert str(info.value) == "hash-file does not match the body (SHA-256 of the file without CRLF)"
    with pytest.raises(SchemaValidationError) as info:
        hub.prepare(b"PK\x03\x04rest", _request("sys-h41"), h41)
    assert str(info.value) == ("the body is not an XML document (it starts with b'PK\\x03\\x04r'); "
                               "sendEdoc expects the .edxml file")
    with pytest.raises(GatewayError) as info:
        hub.prepare(b"<edXMLEnvelope><broken", _request("sys-h41"), h41)
    assert "sendEdoc from sys-h41" in str(info.value)  # the parser names the request it read


def test_a_package_with_a_byte_order_mark_is_accepted_as_sent(hub: HubService) -> None:
    body = b"\xef\xbb\xbf" + build_package(_edoc(141, G22))
    prepared = hub.prepare(body, _request("sys-h41"), _system(hub, "sys-h41"))
    assert not isinstance(prepared, Accepted) and prepared.draft.payload_sha256 == hashlib.sha256(body).hexdigest()


def test_a_clean_package_logs_no_schema_departures(hub: HubService, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    caplog.set_level(logging.INFO, logger="lienthong.hub")
    assert hub.settings.validate_packages
    hub.prepare(build_package(_edoc(142, G22)), _request("sys-h41"), _system(hub, "sys-h41"))
    assert not [r for r in caplog.records if "schema departures" in r.getMessage()]


def test_vn_now_is_utc_plus_the_offset_whatever_the_hosts_zone(
    hub_settings: HubSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        expected = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=7)
        assert abs(vn_now(hub_settings) - expected) < timedelta(minutes=1)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_sent_list_filters_by_type_and_by_docid(hub: HubService) -> None:
    h41 = _system(hub, "sys-h41")
    a = hub.accept_recorded(build_package(_edoc(143, G22)), _request("sys-h41"), h41)
    b = hub.accept_recorded(build_package(_edoc(144, G12)), _request("sys-h41"), h41)
    assert {r["senderDocId"] for r in hub.sent_list(h41, None, None)} == {a.doc_id, b.doc_id}
    assert [r["toCode"] for r in hub.sent_list(h41, None, a.doc_id)] == [G22]
    assert hub.sent_list(h41, "status", None) == [] and len(hub.sent_list(h41, "edoc", None)) == 2


def test_a_withdrawals_to_may_name_the_recipients_the_document_already_went_to(hub: HubService) -> None:
    edoc = _edoc(145, G22, G12)
    hub.accept_recorded(build_package(edoc), _request("sys-h41"), _system(hub, "sys-h41"))
    withdrawal = sample_status(StatusCode.CANCELLATION, for_edoc=edoc)
    # ResponseFor names G22 (not the sender itself): the status is G22's, and `to` may still name G12,
    # a recipient the document already went to
    aimed = replace(withdrawal, response_for=replace(withdrawal.response_for, organ_id=G22))
    hub.prepare(build_package(aimed), _request("sys-h41", to=f'["{G12}"]'), _system(hub, "sys-h41"))
    assert [m.destination for m in _messages(hub, message_type="status")] == ["sys-g12"]


def test_schema_departures_are_logged_five_at_most(hub: HubService, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    real = hub.parser.parse
    issues = tuple(f"departure {i}" for i in range(7))  # what a lenient read reports, str() per issue

    def lenient(data: bytes, source: str):  # type: ignore[no-untyped-def]
        return replace(real(data, source), schema_issues=issues)

    hub.parser.parse = lenient  # type: ignore[method-assign]
    caplog.set_level(logging.INFO, logger="lienthong.hub")
    hub.prepare(build_package(_edoc(146, G22)), _request("sys-h41"), _system(hub, "sys-h41"))
    (rec,) = [r for r in caplog.records if r.getMessage() == "package accepted with schema departures"]
    assert rec.issues == [f"departure {i}" for i in range(5)] and rec.system_id == "sys-h41"  # type: ignore[attr-defined]
    caplog.clear()
    hub.settings = replace(hub.settings, validate_packages=False)
    hub.prepare(build_package(_edoc(147, G22)), _request("sys-h41"), _system(hub, "sys-h41"))
    assert not [r for r in caplog.records if "schema departures" in r.getMessage()]


def test_a_package_without_a_bussiness_block_is_a_new_document(hub: HubService) -> None:
    pkg = _edoc(148, G22)
    bare = replace(pkg, trace=replace(pkg.trace, business=None))  # real axis traffic omits the block
    prepared = hub.prepare(build_package(bare), _request("sys-h41"), _system(hub, "sys-h41"))
    assert not isinstance(prepared, Accepted)
    assert prepared.business is None and prepared.draft.idem_extra == ""
    assert [r.destination for r in prepared.draft.routes] == ["sys-g22"]


def test_asset_events_are_wired_only_when_airflow_is_configured(hub_settings: HubSettings, ledger: Ledger) -> None:
    from gateway.config import AirflowEventSettings

    plain = _service(hub_settings, ledger)
    wired = _service(replace(hub_settings, airflow=AirflowEventSettings(url="http://127.0.0.1:9/", username="u",
                                                                        password="p")), ledger)
    try:
        assert plain.asset_events is None
        assert wired.asset_events is not None and wired.asset_events.settings.url == "http://127.0.0.1:9/"
    finally:
        plain.close()
        wired.close()
