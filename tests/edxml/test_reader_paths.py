"""The reader's fast paths give exactly what the general paths give, errors included.

``parse_package`` splices a small package already in memory with ``splice_bytes`` (one scan, no
chunking) and a file or stream with ``splice``; ``parse_xml`` reuses one lxml parser per thread;
``kind_of`` walks children instead of ElementPath. Each test here holds a fast path to its
general twin, on every fixture and on mutated packages, so a speed-up cannot change a result.
Also: the reader warns (naming the path) about an empty ResponseFor and an axis hop whose OrganId
is the literal ``null`` or empty, instead of dropping them silently.
"""

from __future__ import annotations

import dataclasses
import io
import random
import threading
from pathlib import Path

import pytest
from lxml import etree

from gateway.edxml import EdocPackage, StatusPackage, build_package, parse_package
from gateway.edxml.model import NS
from gateway.edxml.samples import sample_edoc, sample_status
from gateway.edxml.schema import kind_of
from gateway.edxml.splice import SMALL_PACKAGE, splice, splice_bytes
from gateway.errors import GatewayError
from gateway.limits import InputLimits
from gateway.xml import parse_xml

FIXTURES = Path(__file__).parents[1] / "fixtures" / "edxml"
ALL_FIXTURES = sorted(FIXTURES.rglob("*.edxml"))
HEADER = "/*/edXML:edXMLEnvelope/edXML:edXMLHeader"


def _outcome(fn):  # type: ignore[no-untyped-def]
    """What a parse gives: the result's parts, or the error's type, message and location."""
    try:
        r = fn()
    except GatewayError as exc:
        issues = [(i.message, i.path, i.line) for i in getattr(exc, "issues", None) or ()]
        return ("error", type(exc).__name__, str(exc), exc.location, issues)
    return ("ok", r.package, r.warnings, [(i.message, i.path, i.line) for i in r.schema_issues])


def test_there_are_fixtures_of_every_kind() -> None:
    names = {p.name for p in ALL_FIXTURES}
    assert {"valid_edoc_new.edxml", "invalid_truncated.edxml", "variant_stray_prefix.edxml"} <= names


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: p.name)
def test_bytes_and_stream_inputs_read_the_same(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) <= SMALL_PACKAGE  # so the bytes input takes the splice_bytes path
    from_bytes = _outcome(lambda: parse_package(data, source_name="p"))
    from_stream = _outcome(lambda: parse_package(io.BytesIO(data), source_name="p"))
    assert from_bytes == from_stream


def _mutants(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    pieces = [b"=", b"\n", b" ", b"<", b"/>", b"A", b"<!-- x -->", b"<![CDATA[QUJD]]>",
              b"<edXML:ContentTransferEncoded>QUJD", b"<ContentTransferEncoded/>", b"\xff\xfe"]  # fmt: skip
    out = []
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(b) + 1)
            op = rng.random()
            if op < 0.3:
                del b[i : i + rng.randint(1, 40)]
            elif op < 0.8:
                b[i:i] = rng.choice(pieces)
            else:
                del b[i:]
        out.append(bytes(b))
    return out


@pytest.mark.parametrize("keep_encoded", [True, False])
def test_splice_bytes_equals_splice_on_mutated_packages(keep_encoded: bool) -> None:
    rng = random.Random(13)
    wrapped = build_package(sample_edoc(attachments=2, attachment_size=3000))
    wrapped = wrapped.replace(b"AAAA", b"AA\nAA", 5)  # line breaks inside base64 (kept as comments)
    seeds = [build_package(sample_edoc(attachments=2, attachment_size=3000)), wrapped,
             (FIXTURES / "variant_zipped_attachments.edxml").read_bytes(), b"junk" + wrapped]  # fmt: skip
    checked = 0
    for seed in seeds:
        for data in [seed, *_mutants(seed, rng, 120)]:

            def general(d: bytes = data) -> object:
                return splice(io.BytesIO(d), source="s", max_skeleton=6000, max_total=40_000, keep_encoded=keep_encoded)

            def fast(d: bytes = data) -> object:
                return splice_bytes(d, source="s", max_skeleton=6000, max_total=40_000, keep_encoded=keep_encoded)

            assert _spliced(general) == _spliced(fast)
            checked += 1
    assert checked == 4 * 121


def _spliced(fn):  # type: ignore[no-untyped-def]
    try:
        r = fn()
    except GatewayError as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", r.skeleton, [p.read() for p in r.payloads], r.stray_prefix)


def test_splice_bytes_refuses_what_it_is_not_for() -> None:
    with pytest.raises(ValueError, match="SMALL_PACKAGE"):
        splice_bytes(b"<a/>" * SMALL_PACKAGE, source="s", max_skeleton=10, max_total=10 * SMALL_PACKAGE)


def test_a_large_package_in_memory_still_reads_like_its_stream() -> None:
    data = build_package(sample_edoc(attachments=1, attachment_size=SMALL_PACKAGE))
    assert len(data) > SMALL_PACKAGE
    assert _outcome(lambda: parse_package(data)) == _outcome(lambda: parse_package(io.BytesIO(data)))


def test_kind_of_agrees_with_elementpath() -> None:
    def by_elementpath(root: etree._Element) -> str:
        header = root.find(f"{{{NS}}}edXMLEnvelope/{{{NS}}}edXMLHeader")
        if header is None:
            return "edoc"
        for child in header:
            if child.tag == f"{{{NS}}}Status" or (
                child.tag == f"{{{NS}}}MessageHeader" and child.find(f"{{{NS}}}StatusCode") is not None
            ):
                return "status"
        return "edoc"

    two_envelopes = (
        f'<edXML xmlns="{NS}"><edXMLEnvelope/><edXMLEnvelope><edXMLHeader><MessageHeader>'
        "<StatusCode>01</StatusCode></MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"
    ).encode()
    inputs = [p.read_bytes() for p in ALL_FIXTURES if "invalid_not_xml" not in p.name and "truncated" not in p.name]
    inputs += [build_package(sample_status()), build_package(sample_edoc()), two_envelopes, b"<edXML/>"]
    kinds = set()
    for data in inputs:
        root = etree.fromstring(data[data.find(b"<") :])
        assert kind_of(root) == by_elementpath(root)
        kinds.add(kind_of(root))
    assert kinds == {"edoc", "status"}


def test_the_shared_parser_is_per_thread_and_gives_each_document_its_own_tree() -> None:
    docs = [build_package(sample_edoc(number=n, attachments=0)) for n in range(1, 9)]
    seen: dict[int, list[str]] = {}

    def work(k: int) -> None:
        found = []
        for _ in range(20):
            for d in docs:
                root = parse_xml(d)
                found.append(root.findtext(f".//{{{NS}}}CodeNumber") or "")
        seen[k] = found

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(v == [str(n) for n in range(1, 9)] * 20 for v in seen.values())


def test_input_limits_xml_is_memoised_per_value() -> None:
    a, b = InputLimits(), InputLimits()
    assert a.xml() is b.xml()
    assert a.xml(max_bytes=123).max_bytes == 123 and a.xml().max_bytes == a.max_xml_bytes
    assert InputLimits(max_elements=7).xml().max_elements == 7


# -- warnings for what used to be dropped silently ------------------------------------------------


def _with(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new, 1)


def test_an_empty_response_for_is_dropped_with_a_warning_naming_its_path() -> None:
    data = _with(build_package(sample_edoc()), b"<edXML:SteeringType>", b"<edXML:ResponseFor/><edXML:SteeringType>")
    result = parse_package(data)
    assert isinstance(result.package, EdocPackage)
    assert result.package.header.response_for == sample_edoc().header.response_for
    assert f"empty ResponseFor at {HEADER}/edXML:MessageHeader/edXML:ResponseFor[2] ignored" in result.warnings


def test_a_full_response_for_gives_no_such_warning() -> None:
    result = parse_package(build_package(sample_edoc()))
    assert not [w for w in result.warnings if "ResponseFor" in w]


@pytest.mark.parametrize(
    ("organ", "said"), [(b"null", "OrganId 'null'"), (b"  ", "an empty OrganId"), (b"", "an empty OrganId")]
)
def test_a_trace_header_with_a_dropped_organ_id_is_kept_with_a_warning(organ: bytes, said: str) -> None:
    data = build_package(sample_edoc())
    start = data.index(b"<edXML:TraceHeader>")
    end = data.index(b"</edXML:OrganId>", start) + len(b"</edXML:OrganId>\n")
    inner = b"<edXML:OrganId>" + organ + b"</edXML:OrganId>\n"
    data = data[:start] + b"<edXML:TraceHeader>\n" + inner + data[end:]
    result = parse_package(data)
    assert isinstance(result.package, EdocPackage)
    hops = result.package.trace.trace_headers
    assert len(sample_edoc().trace.trace_headers) == 1  # so the path has no [n]
    assert len(hops) == 1 and hops[0].organ_id is None and hops[0].timestamp == sample_edoc().trace.trace_headers[0].timestamp
    where = f"{HEADER}/edXML:TraceHeaderList/edXML:TraceHeader"
    assert f"TraceHeader at {where} has {said}; read as a hop without one" in result.warnings


def test_a_trace_header_with_no_organ_id_element_is_the_strict_form_and_reads_quietly() -> None:
    """The strict profile allows it (minOccurs 0) and the builder writes a None OrganId that way."""
    pkg = sample_edoc()
    hop = dataclasses.replace(pkg.trace.trace_headers[0], organ_id=None)
    pkg = dataclasses.replace(pkg, trace=dataclasses.replace(pkg.trace, trace_headers=(hop,)))
    result = parse_package(build_package(pkg))
    assert result.strictly_valid, (result.warnings, result.schema_issues)
    assert result.package == pkg


def test_status_trace_with_null_organ_id_is_warned_about_too() -> None:
    trace = (b"<edXML:TraceHeaderList>\n<edXML:TraceHeader>\n<edXML:OrganId>null</edXML:OrganId>\n"
             b"<edXML:Timestamp>2026/11/21 08:31:00</edXML:Timestamp>\n</edXML:TraceHeader>\n</edXML:TraceHeaderList>\n")  # fmt: skip
    data = _with(build_package(sample_status()), b"</edXML:MessageHeader>\n", b"</edXML:MessageHeader>\n" + trace)
    result = parse_package(data)
    assert isinstance(result.package, StatusPackage)
    assert result.package.trace is not None and result.package.trace.trace_headers[0].organ_id is None
    assert any(w.startswith(f"TraceHeader at {HEADER}/edXML:TraceHeaderList/edXML:TraceHeader")
               and w.endswith("has OrganId 'null'; read as a hop without one") for w in result.warnings), result.warnings
