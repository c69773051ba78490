"""The edXML side of a mapping: the field names a mapping may target, and model assembly.

A mapping speaks in flat, dotted names (``from.organ_id``, ``promulgation.date``, groups such as
``to`` or ``attachments`` with their own item fields).  This module lists every name with its
type, builds :class:`EdocPackage` / :class:`StatusPackage` from the extracted values, and
flattens a package back into the same names for the reverse direction.  Keeping the vocabulary
in one table lets the manifest loader reject a misspelt target before any document is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any, Final, Literal

from gateway.edxml.model import (
    Attachment,
    Business,
    BusinessDocType,
    BytesPayload,
    Code,
    DocumentType,
    EdocPackage,
    MessageHeader,
    Organization,
    OtherInfo,
    Priority,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusCode,
    StatusPackage,
    SteeringType,
    TraceHeader,
    TraceHeaderList,
)

Kind = Literal["edoc", "status"]

_ORG_FIELDS: Final = {
    "organ_id": "str", "organ_name": "str", "organization_in_charge": "str", "organ_add": "str",
    "email": "str", "telephone": "str", "fax": "str", "website": "str",
}  # fmt: skip

EDOC_TARGETS: Final[dict[str, str]] = {
    **{f"from.{k}": v for k, v in _ORG_FIELDS.items()},
    "document_id": "str",
    "code": "code",
    "code.number": "str",
    "code.notation": "str",
    "promulgation.place": "str",
    "promulgation.date": "date",
    "document_type.type": "int",
    "document_type.type_name": "str",
    "document_type.type_detail": "int",
    "subject": "str",
    "content": "str",
    "signer.full_name": "str",
    "signer.competence": "str",
    "signer.position": "str",
    "due_date": "date",
    "to_places": "list",
    "other.priority": "priority",
    "other.sphere_of_promulgation": "str",
    "other.typer_notation": "str",
    "other.promulgation_amount": "int",
    "other.page_amount": "int",
    "other.direction": "bool",
    "other.appendixes": "list",
    "steering_type": "steering",
    "trace.timestamp": "datetime",
    "business.doc_type": "business",
    "business.document_id": "str",
    "business.reason": "str",
    "business.paper": "int",
}

STATUS_TARGETS: Final[dict[str, str]] = {
    **{f"from.{k}": v for k, v in _ORG_FIELDS.items()},
    "response_for.organ_id": "str",
    "response_for.code": "str",
    "response_for.document_id": "str",
    "response_for.promulgation_date": "date",
    "status_code": "status_code",
    "timestamp": "datetime",
    "description": "str",
    "staff.department": "str",
    "staff.staff": "str",
    "staff.mobile": "str",
    "staff.email": "str",
}

#: Repeated groups: name → item field types.
EDOC_GROUPS: Final[dict[str, dict[str, str]]] = {
    "to": dict(_ORG_FIELDS),
    "attachments": {
        "content_id": "str", "name": "str", "content_type": "str", "description": "str", "data": "bytes",
    },
    "response_for": {"organ_id": "str", "code": "str", "document_id": "str", "promulgation_date": "date"},
}  # fmt: skip
STATUS_GROUPS: Final[dict[str, dict[str, str]]] = {}

#: Targets that must be mapped (or given a constant) for a package to be buildable.
EDOC_REQUIRED: Final = (
    "from.organ_id",
    "subject",
    "signer.full_name",
    "promulgation.date",
    "document_type.type_name",
)
STATUS_REQUIRED: Final = (
    "from.organ_id",
    "response_for.organ_id",
    "response_for.code",
    "status_code",
    "timestamp",
)
GROUP_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "to": ("organ_id",),
    "attachments": ("name", "data"),
    "response_for": ("organ_id", "code", "document_id"),
}


def targets_for(kind: Kind) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """The scalar targets and the groups of one kind of package."""
    return (EDOC_TARGETS, EDOC_GROUPS) if kind == "edoc" else (STATUS_TARGETS, STATUS_GROUPS)


@dataclass
class Extracted:
    """Values pulled out of one legacy document, in mapping names."""

    values: dict[str, Any]
    groups: dict[str, list[dict[str, Any]]]


def _org(values: Mapping[str, Any], prefix: str) -> Organization:
    return Organization(
        organ_id=values[f"{prefix}organ_id"],
        organ_name=values.get(f"{prefix}organ_name"),
        organization_in_charge=values.get(f"{prefix}organization_in_charge"),
        organ_add=values.get(f"{prefix}organ_add"),
        email=values.get(f"{prefix}email"),
        telephone=values.get(f"{prefix}telephone"),
        fax=values.get(f"{prefix}fax"),
        website=values.get(f"{prefix}website"),
    )


def _code(values: Mapping[str, Any]) -> Code:
    if "code" in values:
        code = values["code"]
        assert isinstance(code, Code)
        return code
    return Code(str(values.get("code.number", "")), str(values.get("code.notation", "")))


def default_content_id(index: int) -> str:
    """A stable content id for attachments whose legacy form has none."""
    return f"att{index + 1:03d}"


NEW_DOCUMENT_REASON = "Văn bản điện tử mới"


def build_edoc(ex: Extracted, document_id: str) -> EdocPackage:
    """Assemble a document package from extracted values (missing requireds were reported earlier)."""
    v = ex.values
    from_ = _org(v, "from.")
    promulgation_date: date = v["promulgation.date"]
    # A legacy system that knows nothing of business operations sends new documents: the framework
    # writes the Bussiness block of a new document itself (QCVN 102 senders must emit one), so the
    # package is not "accepted with warnings" downstream for a block no legacy field could carry.
    doc_type = BusinessDocType(int(v.get("business.doc_type", 0)))
    business = Business(
        doc_type=doc_type,
        document_id=v.get("business.document_id"),
        reason=v.get("business.reason") or (NEW_DOCUMENT_REASON if doc_type == BusinessDocType.NEW else None),
        paper=v.get("business.paper"),
    )
    timestamp: datetime = v.get("trace.timestamp") or datetime.combine(promulgation_date, time())
    attachments = tuple(
        Attachment(
            content_id=str(item.get("content_id") or default_content_id(i)).removeprefix("cid:"),
            name=item["name"],
            content_type=item.get("content_type") or "application/octet-stream",
            payload=BytesPayload(item["data"]),
            description=item.get("description"),
        )
        for i, item in enumerate(ex.groups.get("attachments", ()))
    )
    header = MessageHeader(
        from_=from_,
        to=tuple(_org(item, "") for item in ex.groups.get("to", ())),
        document_id=document_id,
        code=_code(v),
        promulgation_info=PromulgationInfo(v.get("promulgation.place"), promulgation_date),
        document_type=DocumentType(
            type=int(v.get("document_type.type", 0)),
            type_name=v["document_type.type_name"],
            type_detail=v.get("document_type.type_detail"),
        ),
        subject=v["subject"],
        signer_info=SignerInfo(
            full_name=v["signer.full_name"],
            competence=v.get("signer.competence"),
            position=v.get("signer.position"),
        ),
        content=v.get("content"),
        due_date=v.get("due_date"),
        to_places=tuple(v.get("to_places", ())),
        other_info=OtherInfo(
            priority=v.get("other.priority", Priority.NORMAL),
            sphere_of_promulgation=v.get("other.sphere_of_promulgation"),
            typer_notation=v.get("other.typer_notation"),
            promulgation_amount=v.get("other.promulgation_amount"),
            page_amount=v.get("other.page_amount"),
            direction=v.get("other.direction"),
            appendixes=tuple(v.get("other.appendixes", ())),
        ),
        response_for=tuple(
            ResponseFor(
                organ_id=item["organ_id"],
                code=item["code"],
                document_id=item["document_id"],
                promulgation_date=item.get("promulgation_date"),
            )
            for item in ex.groups.get("response_for", ())
        ),
        steering_type=v.get("steering_type", SteeringType.NONE),
    )
    trace = TraceHeaderList(
        trace_headers=(TraceHeader(organ_id=from_.organ_id, timestamp=timestamp),),
        business=business,
    )
    return EdocPackage(header=header, trace=trace, attachments=attachments)


def build_status(ex: Extracted) -> StatusPackage:
    """Assemble a status package from extracted values."""
    v = ex.values
    staff = None
    if any(k.startswith("staff.") for k in v):
        staff = StaffInfo(
            department=v.get("staff.department"),
            staff=v.get("staff.staff"),
            mobile=v.get("staff.mobile"),
            email=v.get("staff.email"),
        )
    code = v["status_code"]
    return StatusPackage(
        from_=_org(v, "from."),
        response_for=ResponseFor(
            organ_id=v["response_for.organ_id"],
            code=str(v["response_for.code"]),
            document_id=v.get("response_for.document_id") or "",
            promulgation_date=v.get("response_for.promulgation_date"),
        ),
        status_code=code if isinstance(code, StatusCode) else StatusCode.from_wire(str(code)),
        timestamp=v["timestamp"],
        description=v.get("description"),
        staff_info=staff,
    )


def _org_values(org: Organization, prefix: str) -> dict[str, Any]:
    return {
        f"{prefix}organ_id": org.organ_id,
        f"{prefix}organ_name": org.organ_name,
        f"{prefix}organization_in_charge": org.organization_in_charge,
        f"{prefix}organ_add": org.organ_add,
        f"{prefix}email": org.email,
        f"{prefix}telephone": org.telephone,
        f"{prefix}fax": org.fax,
        f"{prefix}website": org.website,
    }


def flatten_edoc(pkg: EdocPackage) -> Extracted:
    """The mapping names of a document package (the reverse of :func:`build_edoc`)."""
    h = pkg.header
    o = h.other_info
    v: dict[str, Any] = {
        **_org_values(h.from_, "from."),
        "document_id": h.document_id,
        "code": h.code,
        "code.number": h.code.number,
        "code.notation": h.code.notation,
        "promulgation.place": h.promulgation_info.place,
        "promulgation.date": h.promulgation_info.promulgation_date,
        "document_type.type": h.document_type.type,
        "document_type.type_name": h.document_type.type_name,
        "document_type.type_detail": h.document_type.type_detail,
        "subject": h.subject,
        "content": h.content,
        "signer.full_name": h.signer_info.full_name,
        "signer.competence": h.signer_info.competence,
        "signer.position": h.signer_info.position,
        "due_date": h.due_date,
        "to_places": list(h.to_places),
        "other.priority": o.priority,
        "other.sphere_of_promulgation": o.sphere_of_promulgation,
        "other.typer_notation": o.typer_notation,
        "other.promulgation_amount": o.promulgation_amount,
        "other.page_amount": o.page_amount,
        "other.direction": o.direction,
        "other.appendixes": list(o.appendixes),
        "steering_type": h.steering_type,
        "trace.timestamp": pkg.trace.trace_headers[0].timestamp if pkg.trace.trace_headers else None,
    }
    b = pkg.trace.business
    if b is not None:
        v.update({
            "business.doc_type": b.doc_type, "business.document_id": b.document_id,
            "business.reason": b.reason, "business.paper": b.paper,
        })  # fmt: skip
    groups: dict[str, list[dict[str, Any]]] = {
        "to": [_org_values(org, "") for org in h.to],
        "attachments": [
            {
                "content_id": a.content_id,
                "name": a.name,
                "content_type": a.content_type,
                "description": a.description,
                "data": _read_payload(a),
            }
            for a in pkg.attachments
        ],
        "response_for": [
            {"organ_id": r.organ_id, "code": r.code, "document_id": r.document_id,
             "promulgation_date": r.promulgation_date}
            for r in h.response_for
        ],
    }  # fmt: skip
    return Extracted(values=v, groups=groups)


def _read_payload(att: Attachment) -> bytes:
    with att.payload.open() as stream:
        return stream.read()


def flatten_status(pkg: StatusPackage) -> Extracted:
    """The mapping names of a status package."""
    s = pkg.staff_info
    v: dict[str, Any] = {
        **_org_values(pkg.from_, "from."),
        "response_for.organ_id": pkg.response_for.organ_id,
        "response_for.code": pkg.response_for.code,
        "response_for.document_id": pkg.response_for.document_id,
        "response_for.promulgation_date": pkg.response_for.promulgation_date,
        "status_code": pkg.status_code,
        "timestamp": pkg.timestamp,
        "description": pkg.description,
        "staff.department": s.department if s else None,
        "staff.staff": s.staff if s else None,
        "staff.mobile": s.mobile if s else None,
        "staff.email": s.email if s else None,
    }
    return Extracted(values=v, groups={})


__all__ = [
    "EDOC_GROUPS",
    "EDOC_REQUIRED",
    "EDOC_TARGETS",
    "GROUP_REQUIRED",
    "STATUS_GROUPS",
    "STATUS_REQUIRED",
    "STATUS_TARGETS",
    "Extracted",
    "Kind",
    "build_edoc",
    "build_status",
    "default_content_id",
    "flatten_edoc",
    "flatten_status",
    "targets_for",
]
