"""Package fields checked against the ledger's column lengths before anything is written.

PostgreSQL refuses a ``VARCHAR(n)`` value longer than ``n`` characters ("value too long") and
takes the whole transaction with it; SQLite stores it silently. With group commit, one package
whose DocumentId is over 512 characters would therefore fail every innocent package committed in
the same batch. The hub checks each field at intake, against the lengths read from the SQLAlchemy
models themselves (one source of truth: change a column and the check follows), and refuses the
offending package alone with a :class:`~gateway.errors.FieldTooLongError` (422) that names the
field. The group commit isolates whatever still slips through (see :mod:`gateway.ledger.intake`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import InstrumentedAttribute

from gateway.errors import FieldTooLongError
from gateway.ledger.models import AuditEntry, Message, StatusEvent, Submission

# package field name (as the error reports it) -> every column its value is written to
FIELD_COLUMNS: Mapping[str, tuple[InstrumentedAttribute[Any], ...]] = {
    "DocumentId": (Submission.document_id, Message.document_id, StatusEvent.document_id, AuditEntry.document_id),
    "From/OrganId": (Submission.sender, Message.sender, StatusEvent.from_organ),
    "Code": (Message.code,),
    "StatusCode": (Submission.status_code, Message.status_code, StatusEvent.status_code),
}


@cache
def limit_of(field: str) -> int | None:
    """The shortest length of the columns ``field`` is stored in (``None``: unbounded text)."""
    lengths = [
        col.property.columns[0].type.length
        for col in FIELD_COLUMNS[field]
        if isinstance(col.property.columns[0].type, String) and col.property.columns[0].type.length
    ]
    return min(lengths) if lengths else None


def check_fields(values: Mapping[str, str | None]) -> None:
    """Raise :class:`FieldTooLongError` for the first value longer than its column allows."""
    for field, value in values.items():
        if value is None:
            continue
        limit = limit_of(field)
        if limit is not None and len(value) > limit:
            raise FieldTooLongError(field, len(value), limit)


def check_package(pkg: Any) -> None:
    """The ledger-bound fields of an edoc or status package (see :data:`FIELD_COLUMNS`)."""
    from gateway.edxml import StatusPackage

    if isinstance(pkg, StatusPackage):
        check_fields(
            {
                "DocumentId": pkg.response_for.document_id,
                "From/OrganId": pkg.from_.organ_id,
                "Code": pkg.response_for.code,
                "StatusCode": pkg.status_code.wire,
            }
        )
    else:
        check_fields(
            {
                "DocumentId": pkg.header.document_id,
                "From/OrganId": pkg.header.from_.organ_id,
                "Code": str(pkg.header.code),
            }
        )


__all__ = ["FIELD_COLUMNS", "check_fields", "check_package", "limit_of"]
