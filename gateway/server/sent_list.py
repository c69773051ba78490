"""getSentEdocList: the status of a sent document **per recipient organisation**, in axis values.

One delivery message may cover several recipients (one upstream route for G22 and G12), but an
agency needs to know where each recipient stands, so the list has one row per (submission,
recipient). The values are the axis's, not the hub's state names:

* ``sendStatus`` — the transport side, in the vocabulary the axis uses for transport status
  (``updateStatus`` and the ``status`` of getReceivedEdocList): ``pending`` (queued or being
  retried here), ``sent`` (handed to the recipient's system or the next hub), ``done`` (the
  recipient's system confirmed it with updateStatus done), ``fail`` (given up; the reason in
  ``sendStatusDesc``);
* ``receiveStatus`` — the business side: the last status-package code (``01`` … ``06``, ``13``,
  ``15``, ``16``, QCVN 102 and the VPCP samples) that **this recipient** reported for the
  document, empty until it reports one; ``receiveStatusDesc`` its Vietnamese name.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from gateway.config import HubSettings
from gateway.ledger.models import Message, StatusEvent, Submission
from gateway.ledger.states import State
from gateway.ledger.store import Ledger

STATUS_NAMES = {
    "01": "Đã đến",
    "02": "Từ chối tiếp nhận",
    "03": "Đã tiếp nhận",
    "04": "Phân công",
    "05": "Đang xử lý",
    "06": "Hoàn thành",
    "13": "Lấy lại / thu hồi",
    "15": "Đồng ý cập nhật / lấy lại",
    "16": "Từ chối cập nhật / lấy lại",
}
SEND_NAMES = {
    "pending": "Đang chờ gửi",
    "sent": "Đã gửi",
    "done": "Đơn vị nhận đã nhận",
    "fail": "Gửi không thành công",
}
_PENDING = {State.RECEIVED.value, State.TRANSLATED.value, State.SIGNED.value, State.QUEUED.value, State.FAILED.value}


def send_status(msg: Message) -> str:
    if msg.state == State.DEAD.value:
        return "fail"
    if msg.state in _PENDING:
        return "pending"
    if msg.route == "local" and msg.transport_status == "done":
        return "done"
    return "sent"


def _axis_time(value: datetime | None, settings: HubSettings) -> str:
    if value is None:
        return ""
    return (value + timedelta(minutes=settings.timestamp_utc_offset_minutes)).strftime("%d/%m/%Y %H:%M:%S")


def rows(
    ledger: Ledger, settings: HubSettings, system_id: str, messagetype: str | None, doc_id: str | None
) -> list[dict[str, Any]]:
    with ledger.reader() as s:
        q = (
            select(Submission, Message)
            .join(Message, Message.submission_id == Submission.id)
            .where(Submission.system_id == system_id)
        )
        if messagetype:
            q = q.where(Submission.message_type == messagetype)
        if doc_id:
            q = q.where(Submission.doc_id == doc_id)
        found = s.execute(q.order_by(Submission.id.desc(), Message.id).limit(1000)).all()
        documents = sorted({sub.document_id for sub, _ in found})
        latest: dict[tuple[str, str], str] = {}
        if documents:
            events = s.execute(
                select(StatusEvent.document_id, StatusEvent.from_organ, StatusEvent.status_code)
                .where(StatusEvent.document_id.in_(documents))
                .order_by(StatusEvent.id)
            ).all()
            for document_id, organ, code in events:
                latest[(document_id, organ)] = code
    out: list[dict[str, Any]] = []
    for sub, msg in found:
        sending = send_status(msg)
        detail = SEND_NAMES[sending] + (f": {msg.last_error}" if sending == "fail" and msg.last_error else "")
        for organ in json.loads(msg.recipients):
            code = latest.get((sub.document_id, organ), "") if sub.message_type == "edoc" else ""
            out.append(
                {
                    "senderDocId": sub.doc_id,
                    "receiverDocId": msg.remote_doc_id or msg.doc_id,
                    "serviceType": "eDoc",
                    "messageType": sub.message_type,
                    "fromCode": sub.sender,
                    "toCode": organ,
                    "sendStatus": sending,
                    "sendStatusDesc": detail,
                    "receiveStatus": code,
                    "receiveStatusDesc": STATUS_NAMES.get(code, ""),
                    "sentTime": _axis_time(sub.received_at, settings),
                    "receivedTime": _axis_time(msg.delivered_at, settings),
                    "notation": msg.code or "",
                    "title": msg.subject or "",
                }
            )
    return out


__all__ = ["SEND_NAMES", "STATUS_NAMES", "rows", "send_status"]
