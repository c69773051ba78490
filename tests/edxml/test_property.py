"""Property-based round trip: any package the model can express survives build → parse → build."""

from __future__ import annotations

from datetime import date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.edxml import (
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
    build_package,
    parse_package,
)

# Text as agencies write it: Vietnamese letters, digits, punctuation, inner spaces; values are
# stripped by the reader, so generated ones are too.
_ALPHABET = st.characters(
    codec="utf-8",
    exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"),
    exclude_characters="\ufffe\uffff",
)
text = st.text(_ALPHABET, min_size=1, max_size=40).map(str.strip).filter(bool)
opt_text = st.none() | text
organ_id = st.from_regex(r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-K][0-9]{2}", fullmatch=True) | st.from_regex(
    r"[A-Z][0-9]{2}(\.[0-9]{2}){0,3}", fullmatch=True
)
dates = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))
datetimes = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)
small_int = st.none() | st.integers(0, 10_000)

organization = st.builds(
    Organization, organ_id, opt_text, opt_text, opt_text, opt_text, opt_text, opt_text, opt_text
)
staff = st.none() | st.builds(StaffInfo, opt_text, opt_text, opt_text, opt_text)
response_for = st.builds(ResponseFor, organ_id, text, text, st.none() | dates)
code = st.builds(Code, st.from_regex(r"[0-9]{1,5}", fullmatch=True), st.from_regex(r"[A-ZĐ]{1,5}(-[A-ZĐ]{1,6}){0,2}", fullmatch=True))


@st.composite
def business(draw: st.DrawFn) -> Business | None:
    if draw(st.booleans()):
        return None
    kind = draw(st.sampled_from(list(BusinessDocType)))
    info = None
    reps: tuple[ReplacementInfo, ...] = ()
    if kind == BusinessDocType.UPDATE:
        receivers = draw(st.lists(st.builds(ReceiverChange, st.integers(0, 1), organ_id), max_size=3))
        info = BusinessDocumentInfo(draw(st.integers(0, 1)), draw(st.integers(0, 1)), tuple(receivers))
    if kind == BusinessDocType.REPLACE:
        reps = tuple(draw(st.lists(st.builds(ReplacementInfo, text, st.lists(organ_id, max_size=3).map(tuple)), min_size=1, max_size=2)))
    return Business(kind, None if kind == 0 else draw(text), draw(opt_text), draw(st.none() | st.integers(0, 1)), info, reps, draw(staff))


@st.composite
def attachments(draw: st.DrawFn) -> tuple[Attachment, ...]:
    n = draw(st.integers(0, 3))
    return tuple(
        Attachment(
            content_id=f"cid-{i}-{draw(st.uuids())}",
            name=draw(text) + ".pdf",
            content_type=draw(st.sampled_from(["application/pdf", "application/msword", "image/png"])),
            payload=BytesPayload(draw(st.binary(max_size=300))),
            description=draw(opt_text),
            transfer_zipped=draw(st.booleans()),
        )
        for i in range(n)
    )


@st.composite
def edoc(draw: st.DrawFn) -> EdocPackage:
    header = MessageHeader(
        from_=draw(organization),
        to=tuple(draw(st.lists(organization, min_size=1, max_size=3))),
        document_id=draw(text),
        code=draw(code),
        promulgation_info=PromulgationInfo(draw(opt_text), draw(dates)),
        document_type=DocumentType(draw(st.integers(0, 99)), draw(text), draw(st.none() | st.integers(0, 9))),
        subject=draw(text),
        signer_info=SignerInfo(draw(text), draw(opt_text), draw(opt_text)),
        content=draw(opt_text),
        due_date=draw(st.none() | dates),
        to_places=tuple(draw(st.lists(text, max_size=3))),
        other_info=OtherInfo(
            draw(st.sampled_from(list(Priority))), draw(opt_text), draw(opt_text), draw(small_int), draw(small_int),
            draw(st.none() | st.booleans()), tuple(draw(st.lists(text, max_size=2))),
        ),
        response_for=tuple(draw(st.lists(response_for, max_size=2))),
        steering_type=draw(st.sampled_from(list(SteeringType))),
    )
    trace = TraceHeaderList(tuple(draw(st.lists(st.builds(TraceHeader, st.none() | organ_id, datetimes), max_size=3))), draw(business()))
    return EdocPackage(header, trace, draw(attachments()))


status = st.builds(StatusPackage, organization, response_for, st.sampled_from(list(StatusCode)), datetimes, opt_text, staff)

_settings = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(edoc())
def test_generated_document_packages_round_trip(pkg: EdocPackage) -> None:
    data = build_package(pkg)
    result = parse_package(data)
    assert result.package == pkg
    assert not result.schema_issues, result.schema_issues
    assert build_package(result.package) == data


@_settings
@given(status)
def test_generated_status_packages_round_trip(pkg: StatusPackage) -> None:
    data = build_package(pkg)
    result = parse_package(data)
    assert result.package == pkg
    assert not result.schema_issues, result.schema_issues
