"""Lenient date and date-time parsing for the reader: the canonical forms fast, vendor forms tolerated.

``parse_date`` and ``parse_datetime`` return the value and whether its form was the canonical
``yyyy/MM/dd[ HH:mm:ss]`` (the reader warns about the others). Split out of reader_fields.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

_DATE_FORMS = (
    ("%Y/%m/%d", True),
    ("%d/%m/%Y", False),
    ("%Y-%m-%d", False),
    ("%d-%m-%Y", False),
)
_DATETIME_FORMS = (
    ("%Y/%m/%d %H:%M:%S", True),
    ("%d/%m/%Y %H:%M:%S", False),
    ("%Y-%m-%dT%H:%M:%S", False),
    ("%Y-%m-%d %H:%M:%S", False),
    ("%Y/%m/%d %H:%M", False),
    ("%d/%m/%Y %H:%M", False),
    ("%Y/%m/%d", False),
    ("%d/%m/%Y", False),
    ("%Y-%m-%d", False),
)
_VIETNAM = timezone(timedelta(hours=7))
_LOOKS_LIKE_DATETIME = re.compile(r"^\d{1,4}[/-]\d{1,2}[/-]\d{1,4}[T ]\d")
_FRACTION_OR_ZONE = re.compile(r"(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


_CANONICAL_DATE = re.compile(r"(\d{4})/(\d{2})/(\d{2})")
_CANONICAL_DATETIME = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})")


def parse_date(text: str) -> tuple[date, bool]:
    """Parse a date in an accepted form; the flag says whether the form was the canonical one."""
    value = text.strip()
    m = _CANONICAL_DATE.fullmatch(value)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3])), True
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid date ({exc})") from exc
    if _LOOKS_LIKE_DATETIME.match(value):
        try:
            dt, _ = parse_datetime(value)
        except ValueError:
            pass
        else:
            return dt.date(), False
    for fmt, canonical in _DATE_FORMS:
        try:
            return datetime.strptime(value, fmt).date(), canonical
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (expected yyyy/MM/dd; dd/MM/yyyy and ISO are accepted)")


def parse_datetime(text: str) -> tuple[datetime, bool]:
    """Parse a date-time in an accepted form (ISO zones are dropped after conversion to UTC+7)."""
    value = text.strip()
    m = _CANONICAL_DATETIME.fullmatch(value)
    if m:
        try:
            return datetime(int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6])), True
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid date-time ({exc})") from exc
    iso = _FRACTION_OR_ZONE.search(value)
    if "T" in value and iso and (iso.group(1) or iso.group(2)):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is not None:
                parsed = parsed.astimezone(_VIETNAM).replace(tzinfo=None)
            return parsed.replace(microsecond=0), False
    for fmt, canonical in _DATETIME_FORMS:
        try:
            return datetime.strptime(value, fmt), canonical
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date-time (expected yyyy/MM/dd HH:mm:ss)")
