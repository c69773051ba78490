"""Realistic sample packages for the demo, the benchmarks and tests.

The values are invented but shaped like real axis traffic (agency codes, notations, Vietnamese
text). Nothing here is used on the production path.
"""

from __future__ import annotations

from datetime import date, datetime

from gateway.edxml.document_id import make_document_id
from gateway.edxml.model import (
    Attachment,
    Business,
    BusinessDocType,
    BusinessDocumentInfo,
    BytesPayload,
    Code,
    DocumentType,
    EdocPackage,
    MessageHeader,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    ReceiverChange,
    ReplacementInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusPackage,
    SteeringType,
    TraceHeader,
    TraceHeaderList,
)

SENDER = Organization(
    organ_id="000.00.00.H41",
    organ_name="Ủy ban nhân dân tỉnh Nghệ An",
    organization_in_charge="Ủy ban nhân dân tỉnh Nghệ An",
    organ_add="16 Trường Thi, TP. Vinh, Nghệ An",
    email="vanthu@nghean.gov.vn",
    telephone="0238 3844 644",
    fax="0238 3844 645",
    website="https://nghean.gov.vn",
)
RECIPIENTS = (
    Organization("000.00.00.G22", "Văn phòng Chính phủ", "Chính phủ"),
    Organization("000.00.00.G12", "Bộ Tài chính"),
)
STAFF = StaffInfo("Văn phòng UBND tỉnh", "Nguyễn Thị Hoa", "0912345678", "hoant@nghean.gov.vn")

# A minimal one-page PDF (valid enough for viewers); signing tests make their own.
MINI_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def sample_edoc(
    number: int = 2440,
    *,
    business: BusinessDocType = BusinessDocType.NEW,
    attachments: int = 2,
    attachment_size: int = 0,
    zipped: bool = False,
    sender: Organization = SENDER,
    recipients: tuple[Organization, ...] = RECIPIENTS,
) -> EdocPackage:
    """A document package using every element of the model; ``business`` picks the Bussiness type."""
    code = Code(str(number), "UBND-VX")
    issued = date(2026, 11, 20)
    doc_id = make_document_id(sender.organ_id, issued, code)
    target = make_document_id(sender.organ_id, date(2026, 10, 1), Code("2001", "UBND-VX"))
    info = None
    replacements: tuple[ReplacementInfo, ...] = ()
    if business == BusinessDocType.UPDATE:
        info = BusinessDocumentInfo(1, 1, (ReceiverChange(0, "000.00.00.G12"), ReceiverChange(1, "000.00.00.G09")))
    if business == BusinessDocType.REPLACE:
        replacements = (ReplacementInfo(target, ("000.00.00.G22", "000.00.00.G12")),)
    reasons = {
        BusinessDocType.NEW: "Văn bản điện tử mới",
        BusinessDocType.REVOKE: "Thu hồi do sai sót thể thức",
        BusinessDocType.UPDATE: "Cập nhật danh sách nơi nhận",
        BusinessDocType.REPLACE: "Thay thế văn bản đã gửi",
    }
    files: list[Attachment] = []
    for i in range(attachments):
        body = MINI_PDF + (b"%" + b"x" * 78 + b"\n") * (attachment_size // 80) if attachment_size else MINI_PDF
        body += f"% file {i} of document {number}\n".encode()
        files.append(
            Attachment(
                content_id=f"3f1c2a7e-0b1d-4c5e-9a8b-{number:06d}{i:06d}",
                name=f"{number}-UBND-VX{'-phu-luc-' + str(i) if i else ''}.pdf",
                content_type="application/pdf",
                payload=BytesPayload(body),
                description=f"Tệp đính kèm {i + 1}",
                transfer_zipped=zipped,
            )
        )
    header = MessageHeader(
        from_=sender,
        to=recipients,
        document_id=doc_id,
        code=code,
        promulgation_info=PromulgationInfo("Nghệ An", issued),
        document_type=DocumentType(1, "Công văn", 0),
        subject="V/v triển khai kết nối liên thông văn bản điện tử năm 2027",
        signer_info=SignerInfo("Lê Hồng Vinh", "KT. CHỦ TỊCH", "Phó Chủ tịch"),
        content="Triển khai kết nối, liên thông văn bản điện tử giữa các cơ quan hành chính nhà nước.",
        due_date=date(2026, 12, 15),
        to_places=("Như trên", "Lưu: VT, KGVX"),
        other_info=OtherInfo(
            priority=Priority.URGENT,
            sphere_of_promulgation="Liên thông văn bản quốc gia",
            typer_notation="NTH",
            promulgation_amount=5,
            page_amount=2,
            direction=False,
            appendixes=("Phụ lục I: Danh sách đơn vị",),
        ),
        response_for=(ResponseFor("000.00.00.G22", "7816/VPCP-TTĐT", "000.00.00.G22,2026/09/30,7816/VPCP-TTĐT",
                                  date(2026, 9, 30)),),
        steering_type=SteeringType.REPORT,
    )
    trace = TraceHeaderList(
        (TraceHeader(sender.organ_id, datetime(2026, 11, 20, 9, 15, 30)),),
        Business(
            doc_type=business,
            document_id=None if business == BusinessDocType.NEW else target,
            reason=reasons[business],
            paper=0,
            document_info=info,
            replacements=replacements,
            staff_info=STAFF,
        ),
    )
    return EdocPackage(header, trace, tuple(files))


def sample_status(code: StatusCode = StatusCode.ACCEPTED, *, for_edoc: EdocPackage | None = None) -> StatusPackage:
    """A status package answering ``for_edoc`` (or the default sample document)."""
    doc = for_edoc or sample_edoc(attachments=0)
    h = doc.header
    reporter = h.from_ if code == StatusCode.CANCELLATION else h.to[0]
    return StatusPackage(
        from_=reporter,
        response_for=ResponseFor(h.from_.organ_id, str(h.code), h.document_id, h.promulgation_info.promulgation_date),
        status_code=code,
        timestamp=datetime(2026, 11, 21, 8, 30, 0),
        description=f"{code.label_vi}",
        staff_info=StaffInfo("Phòng Hành chính", "Trần Văn Nam", "0987654321", "namtv@chinhphu.vn"),
    )
