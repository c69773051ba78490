"""What the edXML reader and builder refuse or flag: odd date forms warn, a package with no recipient is never written.

Tolerating a vendor's date form is fine only if the operator can see it happened (the warning is
the audit trail of every departure from the canonical yyyy/MM/dd form); and a document package
without a recipient is not a package the hub can route, so the builder must refuse it instead of
emitting bytes someone will later send.
"""

from __future__ import annotations

import dataclasses
import io
from datetime import date, datetime

import pytest

from gateway.edxml import build_package, parse_package
from gateway.edxml.build import write_package
from gateway.edxml.reader_fields import parse_date, parse_datetime
from gateway.edxml.samples import sample_edoc, sample_status
from gateway.errors import SchemaValidationError

# every non-canonical date form the reader accepts, with the date it stands for
ODD_DATES = [
    ("20/11/2026", date(2026, 11, 20)),
    ("2026-11-20", date(2026, 11, 20)),
    ("20-11-2026", date(2026, 11, 20)),
    ("2026-11-20T00:00:00", date(2026, 11, 20)),
    ("2026/11/20 10:00:00", date(2026, 11, 20)),
    ("2026-11-20T10:00:00.123+07:00", date(2026, 11, 20)),
]
ODD_DATETIMES = [
    ("21/11/2026 08:30:00", datetime(2026, 11, 21, 8, 30, 0)),
    ("2026-11-21T08:30:00", datetime(2026, 11, 21, 8, 30, 0)),
    ("2026-11-21 08:30:00", datetime(2026, 11, 21, 8, 30, 0)),
    ("2026/11/21 08:30", datetime(2026, 11, 21, 8, 30, 0)),
    ("21/11/2026 08:30", datetime(2026, 11, 21, 8, 30, 0)),
    ("2026/11/21", datetime(2026, 11, 21, 0, 0, 0)),
    ("21/11/2026", datetime(2026, 11, 21, 0, 0, 0)),
    ("2026-11-21", datetime(2026, 11, 21, 0, 0, 0)),
    ("2026-11-21T01:30:00Z", datetime(2026, 11, 21, 8, 30, 0)),  # UTC read as Vietnam time
    ("2026-11-21T08:30:00.5+07:00", datetime(2026, 11, 21, 8, 30, 0)),
]


def test_canonical_forms_are_flagged_canonical() -> None:
    assert parse_date("2026/11/20") == (date(2026, 11, 20), True)
    assert parse_date(" 2026/11/20 ") == (date(2026, 11, 20), True)
    assert parse_datetime("2026/11/21 08:30:00") == (datetime(2026, 11, 21, 8, 30, 0), True)


@pytest.mark.parametrize(("text", "expected"), ODD_DATES)
def test_every_odd_date_form_is_read_but_flagged_not_canonical(text: str, expected: date) -> None:
    assert parse_date(text) == (expected, False)


@pytest.mark.parametrize(("text", "expected"), ODD_DATETIMES)
def test_every_odd_datetime_form_is_read_but_flagged_not_canonical(text: str, expected: datetime) -> None:
    assert parse_datetime(text) == (expected, False)


@pytest.mark.parametrize("text", ["2026/02/30", "2026/13/01", "yesterday", "20/11/26x", ""])
def test_impossible_dates_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a (valid )?date"):
        parse_date(text)


@pytest.mark.parametrize("text", ["2026/02/30 08:00:00", "2026/11/21 25:00:00", "soon"])
def test_impossible_datetimes_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a (valid )?date-time"):
        parse_datetime(text)


def _with(data: bytes, old: str, new: str) -> bytes:
    text = data.decode()
    assert old in text
    return text.replace(old, new, 1).encode()


@pytest.mark.parametrize(("text", "expected"), ODD_DATES)
def test_a_package_with_an_odd_promulgation_date_reads_with_a_warning_naming_field_and_value(
    text: str, expected: date
) -> None:
    canonical = build_package(sample_edoc(attachments=0))
    clean = parse_package(canonical)
    assert not any("canonical" in w for w in clean.warnings), clean.warnings
    odd = _with(canonical, "<edXML:DueDate>2026/12/15</edXML:DueDate>", f"<edXML:DueDate>{text}</edXML:DueDate>")
    result = parse_package(odd)
    assert result.package.header.due_date == expected  # type: ignore[union-attr]
    assert f"DueDate {text!r} is not in the canonical yyyy/MM/dd form" in result.warnings, result.warnings


@pytest.mark.parametrize(("text", "expected"), ODD_DATETIMES)
def test_a_status_with_an_odd_timestamp_reads_with_a_warning_naming_field_and_value(
    text: str, expected: datetime
) -> None:
    canonical = build_package(sample_status())
    assert not any("canonical" in w for w in parse_package(canonical).warnings)
    odd = _with(canonical, "<edXML:Timestamp>2026/11/21 08:30:00</edXML:Timestamp>",
                f"<edXML:Timestamp>{text}</edXML:Timestamp>")
    result = parse_package(odd)
    assert result.package.timestamp == expected  # type: ignore[union-attr]
    assert f"Timestamp {text!r} is not in the canonical yyyy/MM/dd HH:mm:ss form" in result.warnings


def test_an_impossible_date_in_a_package_is_an_error_at_its_line() -> None:
    canonical = build_package(sample_edoc(attachments=0))
    bad = _with(canonical, "<edXML:DueDate>2026/12/15</edXML:DueDate>", "<edXML:DueDate>2026/02/30</edXML:DueDate>")
    line = bad.decode().splitlines().index("<edXML:DueDate>2026/02/30</edXML:DueDate>") + 1
    with pytest.raises(SchemaValidationError) as info:
        parse_package(bad)
    issues = [i for i in info.value.issues if "2026/02/30" in i.message]
    assert issues and issues[0].line == line, info.value.issues


def test_builder_refuses_a_document_package_with_no_recipient_and_writes_nothing() -> None:
    pkg = sample_edoc(attachments=0)
    nobody = dataclasses.replace(pkg, header=dataclasses.replace(pkg.header, to=()))
    with pytest.raises(SchemaValidationError, match="at least one recipient") as info:
        build_package(nobody)
    assert [i.path for i in info.value.issues] == ["MessageHeader/To"]
    out = io.BytesIO()
    with pytest.raises(SchemaValidationError):
        write_package(nobody, out)
    assert b"<edXML:MessageHeader>" not in out.getvalue()  # no half package reaches the output


def test_builder_writes_every_recipient_in_order() -> None:
    data = build_package(sample_edoc(attachments=0)).decode()
    assert data.index("000.00.00.G22</edXML:OrganId>\n<edXML:OrganizationInCharge>Chính phủ") < data.index(
        "<edXML:OrganId>000.00.00.G12"
    )
    assert data.count("<edXML:To>") == 2
