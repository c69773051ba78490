"""The composite DocumentId ``{OrganId},{yyyy/MM/dd},{number}/{notation}`` that statuses refer to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from gateway.edxml.build import format_date
from gateway.edxml.model import Code


def make_document_id(organ_id: str, promulgation_date: date, code: Code) -> str:
    """``000.00.00.G22,2015/09/30,7816/VPCP-TTĐT`` from its parts."""
    return f"{organ_id},{format_date(promulgation_date)},{code}"


@dataclass(frozen=True, slots=True)
class CompositeDocumentId:
    organ_id: str
    promulgation_date: date
    code: Code


def parse_document_id(text: str) -> CompositeDocumentId | None:
    """Split a composite DocumentId; None when it is another form (real traffic has UUIDs)."""
    parts = text.split(",", 2)
    if len(parts) != 3:
        return None
    organ, day, code = (p.strip() for p in parts)
    try:
        parsed = datetime.strptime(day, "%Y/%m/%d").date()
    except ValueError:
        return None
    if not organ or not code:
        return None
    return CompositeDocumentId(organ, parsed, Code.parse(code))
