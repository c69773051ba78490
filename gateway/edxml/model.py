"""The typed model of edXML (QCVN 102:2016) packages: the one canonical form inside the gateway.

Every class is a frozen dataclass of plain values and tuples, so packages compare by value (the
round-trip tests rely on it) and can be shared between threads. Element names from the standard
are given in each field's comment; see ``shared/docs/edxml-qcvn102.md`` §1–§3.

Attachments carry a :class:`Payload` rather than bytes so a 300 MB file can live in the blob
store and be streamed; two payloads are equal when their SHA-256 digests are equal.
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import IntEnum
from typing import IO, Protocol, runtime_checkable

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
"""The QCVN 102:2016 namespace used by the national axis today."""

LEGACY_NS = "http://www.e-doc.vn/Schema/"
"""The pre-QCVN (2011) edXML namespace, spoken by old provincial gateways."""


class Priority(IntEnum):
    """OtherInfo/Priority (độ khẩn)."""

    NORMAL = 0  # thường
    URGENT = 1  # khẩn
    VERY_URGENT = 2  # thượng khẩn
    FLASH = 3  # hỏa tốc
    FLASH_SCHEDULED = 4  # hỏa tốc hẹn giờ


class SteeringType(IntEnum):
    """MessageHeader/SteeringType."""

    NONE = 0  # not a directive
    DIRECTIVE = 1  # chỉ đạo
    REPORT = 2  # báo cáo về chỉ đạo


class BusinessDocType(IntEnum):
    """TraceHeaderList/Bussiness/BussinessDocType."""

    NEW = 0  # văn bản mới
    REVOKE = 1  # thu hồi
    UPDATE = 2  # cập nhật
    REPLACE = 3  # thay thế


class StatusCode(IntEnum):
    """Status package StatusCode; serialised as two digits ("01")."""

    RECEIVED = 1
    REJECTED = 2
    ACCEPTED = 3
    ASSIGNED = 4
    PROCESSING = 5
    FINISHED = 6
    CANCELLATION = 13
    CHANGE_ACCEPTED = 15
    CHANGE_REJECTED = 16

    @property
    def wire(self) -> str:
        """The two-digit form used in packages."""
        return f"{self.value:02d}"

    @property
    def label_vi(self) -> str:
        return _STATUS_LABELS[self][0]

    @property
    def label_en(self) -> str:
        return _STATUS_LABELS[self][1]

    @classmethod
    def from_wire(cls, text: str) -> StatusCode:
        """Parse "01", "1" or " 03 "; raise ValueError for codes outside the known set."""
        return cls(int(text.strip()))


_STATUS_LABELS: dict[StatusCode, tuple[str, str]] = {
    StatusCode.RECEIVED: ("Đã đến", "Received by the recipient's software"),
    StatusCode.REJECTED: ("Từ chối tiếp nhận", "Rejected / returned"),
    StatusCode.ACCEPTED: ("Đã tiếp nhận", "Registered in the incoming-document book"),
    StatusCode.ASSIGNED: ("Phân công", "Assigned for handling"),
    StatusCode.PROCESSING: ("Đang xử lý", "Being processed"),
    StatusCode.FINISHED: ("Hoàn thành", "Processing completed"),
    StatusCode.CANCELLATION: ("Lấy lại / thu hồi", "Sender asks to withdraw the document"),
    StatusCode.CHANGE_ACCEPTED: ("Đồng ý cập nhật/lấy lại", "Recipient accepts the revocation/update"),
    StatusCode.CHANGE_REJECTED: ("Từ chối cập nhật/lấy lại", "Recipient refuses the revocation/update"),
}


@dataclass(frozen=True, slots=True)
class Organization:
    """From / To / status From: an agency (OrganId is kept as an opaque string, ≤ 35 chars)."""

    organ_id: str  # OrganId
    organ_name: str | None = None  # OrganName
    organization_in_charge: str | None = None  # OrganizationInCharge
    organ_add: str | None = None  # OrganAdd
    email: str | None = None  # Email
    telephone: str | None = None  # Telephone
    fax: str | None = None  # Fax
    website: str | None = None  # Website


@dataclass(frozen=True, slots=True)
class Code:
    """Code: số (CodeNumber) and ký hiệu (CodeNotation), written together as "123/QĐ-UBND"."""

    number: str  # CodeNumber
    notation: str  # CodeNotation

    def __str__(self) -> str:
        return f"{self.number}/{self.notation}" if self.notation else self.number

    @classmethod
    def parse(cls, text: str) -> Code:
        """Split "123/QĐ-UBND" at the first slash (notations may contain more slashes)."""
        number, sep, notation = text.strip().partition("/")
        return cls(number.strip(), notation.strip() if sep else "")


@dataclass(frozen=True, slots=True)
class PromulgationInfo:
    place: str | None  # Place
    promulgation_date: date  # PromulgationDate


@dataclass(frozen=True, slots=True)
class DocumentType:
    type: int  # Type (opaque class number)
    type_name: str  # TypeName ("Công văn", "Quyết định" ...)
    type_detail: int | None = None  # TypeDetail


@dataclass(frozen=True, slots=True)
class SignerInfo:
    full_name: str  # FullName
    competence: str | None = None  # Competence ("TM.", "KT." ...)
    position: str | None = None  # Position


@dataclass(frozen=True, slots=True)
class OtherInfo:
    priority: Priority = Priority.NORMAL  # Priority
    sphere_of_promulgation: str | None = None  # SphereOfPromulgation
    typer_notation: str | None = None  # TyperNotation
    promulgation_amount: int | None = None  # PromulgationAmount
    page_amount: int | None = None  # PageAmount
    direction: bool | None = None  # Direction (SDK always writes false)
    appendixes: tuple[str, ...] = ()  # Appendixes/Appendix*


@dataclass(frozen=True, slots=True)
class ResponseFor:
    """The document this one answers (edoc) or reports on (status)."""

    organ_id: str  # OrganId
    code: str  # Code ("{number}/{notation}")
    document_id: str  # DocumentId
    promulgation_date: date | None = None  # PromulgationDate


@dataclass(frozen=True, slots=True)
class MessageHeader:
    """edXMLHeader/MessageHeader of a document package."""

    from_: Organization  # From
    to: tuple[Organization, ...]  # To 1..n
    document_id: str  # DocumentId
    code: Code  # Code
    promulgation_info: PromulgationInfo  # PromulgationInfo
    document_type: DocumentType  # DocumentType
    subject: str  # Subject
    signer_info: SignerInfo  # SignerInfo
    content: str | None = None  # Content
    due_date: date | None = None  # DueDate
    to_places: tuple[str, ...] = ()  # ToPlaces/Place*
    other_info: OtherInfo = field(default_factory=OtherInfo)  # OtherInfo
    response_for: tuple[ResponseFor, ...] = ()  # ResponseFor*
    steering_type: SteeringType = SteeringType.NONE  # SteeringType


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """One hop: the sender writes the first, every relay appends one, nobody removes any."""

    organ_id: str | None  # OrganId (axis hops may carry none, "null" or a node code)
    timestamp: datetime  # Timestamp (local Vietnam time, naive)


@dataclass(frozen=True, slots=True)
class StaffInfo:
    department: str | None = None  # Department
    staff: str | None = None  # Staff
    mobile: str | None = None  # Mobile
    email: str | None = None  # Email


@dataclass(frozen=True, slots=True)
class ReceiverChange:
    """BussinessDocumentInfo/ReceiverList/Receiver: 0 removed, 1 added."""

    receiver_type: int  # ReceiverType
    organ_id: str  # OrganId


@dataclass(frozen=True, slots=True)
class BusinessDocumentInfo:
    """Type 2 (update): what changed."""

    document_info: int = 0  # DocumentInfo: 1 = metadata/content changed
    document_receiver: int = 0  # DocumentReceiver: 1 = recipient list changed
    receivers: tuple[ReceiverChange, ...] = ()  # ReceiverList/Receiver*


@dataclass(frozen=True, slots=True)
class ReplacementInfo:
    """Type 3 (replace): the replaced document and the bodies that had received it."""

    document_id: str  # DocumentId
    organ_ids: tuple[str, ...] = ()  # OrganIdList/OrganId*


@dataclass(frozen=True, slots=True)
class Business:
    """TraceHeaderList/Bussiness: new, revoke, update or replace."""

    doc_type: BusinessDocType = BusinessDocType.NEW  # BussinessDocType
    document_id: str | None = None  # DocumentId (target document for types 1–3)
    reason: str | None = None  # BussinessDocReason
    paper: int | None = None  # Paper: 1 paper copy also sent
    document_info: BusinessDocumentInfo | None = None  # BussinessDocumentInfo (type 2)
    replacements: tuple[ReplacementInfo, ...] = ()  # ReplacementInfoList (type 3)
    staff_info: StaffInfo | None = None  # StaffInfo


@dataclass(frozen=True, slots=True)
class TraceHeaderList:
    trace_headers: tuple[TraceHeader, ...] = ()  # TraceHeader*
    business: Business | None = None  # Bussiness


@runtime_checkable
class Payload(Protocol):
    """The bytes of one attachment, wherever they live (memory or the blob store)."""

    @property
    def sha256(self) -> str: ...

    @property
    def size(self) -> int: ...

    def open(self) -> IO[bytes]: ...


class InMemoryPayload:
    """Shared behaviour of payloads whose bytes are in memory: digest, size, reader, equality."""

    __slots__ = ()

    @property
    def data(self) -> bytes:
        raise NotImplementedError

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    def open(self) -> IO[bytes]:
        return io.BytesIO(self.data)

    def __eq__(self, other: object) -> bool:
        """Payloads are equal when their contents are, wherever they live."""
        return isinstance(other, Payload) and other.sha256 == self.sha256

    def __hash__(self) -> int:
        return hash(self.sha256)


class BytesPayload(InMemoryPayload):
    """A payload held in memory; fine for the small files of tests and adapters."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes):
        self._data = bytes(data)

    @property
    def data(self) -> bytes:
        return self._data

    def __repr__(self) -> str:
        return f"BytesPayload(<{len(self._data)} bytes>)"


class Base64Payload(InMemoryPayload):
    """A payload kept in its (validated, canonical) base64 form and decoded only on demand.

    A relay that parses a package and builds it again never needs the decoded bytes, so the
    reader keeps small attachments encoded and the builder writes them back unchanged; the
    SHA-256 and the bytes are computed the first time someone asks.
    """

    __slots__ = ("_decoded", "encoded")

    def __init__(self, encoded: bytes):
        self.encoded = encoded
        self._decoded: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._decoded is None:
            self._decoded = base64.b64decode(self.encoded)
        return self._decoded

    def __repr__(self) -> str:
        return f"Base64Payload(<{len(self.encoded)} base64 chars>)"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One file: the manifest Reference and the AttachmentEncoded/Attachment merged.

    ``content_type`` is the original file's type (Reference/ContentType); ``transfer_zipped``
    records that the sender wrapped it in a one-entry ZIP on the wire (the payload here is
    always the unzipped file).
    """

    content_id: str  # ContentId, without any "cid:" prefix
    name: str  # AttachmentName
    content_type: str  # Reference/ContentType
    payload: Payload = field(compare=False)
    description: str | None = None  # Description
    transfer_zipped: bool = False

    @property
    def sha256(self) -> str:
        return self.payload.sha256

    @property
    def size(self) -> int:
        return self.payload.size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Attachment):
            return NotImplemented
        return (
            self.content_id,
            self.name,
            self.content_type,
            self.description,
            self.transfer_zipped,
            self.payload.sha256,
        ) == (
            other.content_id,
            other.name,
            other.content_type,
            other.description,
            other.transfer_zipped,
            other.payload.sha256,
        )

    def __hash__(self) -> int:
        return hash((self.content_id, self.payload.sha256))


@dataclass(frozen=True, slots=True)
class EdocPackage:
    """A document package (messagetype ``edoc``)."""

    header: MessageHeader
    trace: TraceHeaderList = field(default_factory=TraceHeaderList)
    attachments: tuple[Attachment, ...] = ()
    signature_xml: bytes | None = None  # edXMLHeader/Signature, kept verbatim (canonical bytes)

    @property
    def business_type(self) -> BusinessDocType:
        """Absent Bussiness block means a new document (real axis traffic omits it)."""
        return self.trace.business.doc_type if self.trace.business else BusinessDocType.NEW


@dataclass(frozen=True, slots=True)
class StatusPackage:
    """A status package (messagetype ``status``)."""

    from_: Organization  # From
    response_for: ResponseFor  # ResponseFor
    status_code: StatusCode  # StatusCode
    timestamp: datetime  # Timestamp
    description: str | None = None  # Description
    staff_info: StaffInfo | None = None  # StaffInfo
    trace: TraceHeaderList | None = None  # TraceHeaderList (relays may add one)


Package = EdocPackage | StatusPackage
