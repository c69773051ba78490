"""Tests of organisation identifiers (gateway/edxml/organ_id.py), shared doc §4."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.edxml.organ_id import GROUPS, MAX_LENGTH, OrganId, parse_organ_id
from gateway.errors import GatewayError, SchemaValidationError


@pytest.mark.parametrize(
    ("text", "level", "parent"),
    [
        ("000.00.00.G22", 1, None),  # Văn phòng Chính phủ
        ("000.00.00.H41", 1, None),  # UBND tỉnh Nghệ An
        ("000.00.24.H44", 2, "000.00.00.H44"),  # a level-2 unit of Phú Thọ
        ("000.46.24.H44", 3, "000.00.24.H44"),  # a commune under it
        ("001.46.24.H44", 4, "000.46.24.H44"),
        ("002.00.20.H13", 4, "000.00.20.H13"),  # level 4 directly under level 2: gap accepted
        ("003.07.00.G12", 4, "000.07.00.G12"),
    ],
)
def test_qcvn102_levels_and_parent(text: str, level: int, parent: str | None) -> None:
    oid = OrganId.parse(text, strict=True)
    assert oid.form == "qcvn102" and oid.is_qcvn102 and oid.kind == "agency"
    assert str(oid) == text
    assert oid.level == level
    assert oid.is_root is (level == 1)
    p = oid.parent()
    assert (str(p) if p else None) == parent
    if p is not None:
        assert p.form == "qcvn102"
        assert p.level is not None and p.level < level


def test_qcvn102_ancestor_chain_and_root() -> None:
    oid = OrganId.parse("001.46.24.H44")
    assert [str(a) for a in oid.ancestors()] == ["000.46.24.H44", "000.00.24.H44", "000.00.00.H44"]
    assert str(oid.root()) == "000.00.00.H44"
    assert oid.is_within(OrganId.parse("000.00.24.H44"))
    assert oid.is_within(oid)
    assert not oid.is_within(OrganId.parse("000.00.25.H44"))
    assert not OrganId.parse("000.00.24.H44").is_within(oid)


@pytest.mark.parametrize(
    ("letter", "fragment"),
    [
        ("A", "Đảng"),
        ("B", "Chủ tịch nước"),
        ("C", "Quốc hội"),
        ("D", "Tòa án"),
        ("E", "Viện kiểm sát"),
        ("F", "Kiểm toán"),
        ("G", "Bộ"),
        ("H", "Ủy ban nhân dân"),
        ("I", "chính trị - xã hội"),
        ("J", "nghề nghiệp"),
        ("K", "Hội đồng nhân dân"),
    ],
)
def test_group_letters(letter: str, fragment: str) -> None:
    oid = OrganId.parse(f"000.00.00.{letter}01")
    assert oid.group_letter == letter
    assert oid.group is GROUPS[letter]
    assert fragment in oid.group.name_vi
    assert oid.group.name_en
    assert OrganId.parse(f"{letter}01").group is GROUPS[letter]


def test_groups_cover_exactly_a_to_k() -> None:
    assert sorted(GROUPS) == list("ABCDEFGHIJK")


def test_level1_code_is_shared_by_both_forms() -> None:
    old = OrganId.parse("000.00.00.G12")
    new = OrganId.parse("G12")
    assert old.level1_code == new.level1_code == "G12"
    assert old != new  # different code sets: the directory maps one to the other


@pytest.mark.parametrize(
    ("text", "level", "parent"),
    [
        ("G12", 1, None),
        ("H26", 1, None),
        ("H26.22", 2, "H26"),
        ("G12.01.05", 3, "G12.01"),
        ("H29.104.02.001", 4, "H29.104.02"),
    ],
)
def test_qd20_agency_codes(text: str, level: int, parent: str | None) -> None:
    oid = OrganId.parse(text, strict=True)
    assert oid.form == "qd20" and oid.is_qd20 and oid.kind == "agency"
    assert oid.level == level
    assert (str(oid.parent()) if oid.parent() else None) == parent
    assert str(oid.root()) == text.split(".")[0]


@pytest.mark.parametrize("text", ["020100107370", "0201001073", "0201001073-001", "0100109106123"])
def test_enterprise_tax_codes(text: str) -> None:
    oid = OrganId.parse(text, strict=True)
    assert oid.form == "qd20" and oid.is_enterprise
    assert oid.level is None and oid.parent() is None and oid.group is None
    assert not oid.is_root
    assert oid.root() == oid


@pytest.mark.parametrize("text", ["02.29.W00", "00.22.W00", "01.W00"])
def test_centre_codes(text: str) -> None:
    oid = OrganId.parse(text, strict=True)
    assert oid.is_centre and oid.form == "qd20"
    assert oid.level is None and oid.parent() is None and oid.group is None


@pytest.mark.parametrize("text", ["vxp.saas.03", "VXP.SAAS.03", "lgsp-hanoi", "sys_01", "vpcp"])
def test_connected_system_ids_are_other_in_lenient_mode(text: str) -> None:
    oid = OrganId.parse(text)
    assert oid.form == "other" and oid.kind == "system"
    assert str(oid) == text  # kept as written
    assert oid.level is None and oid.parent() is None
    with pytest.raises(SchemaValidationError, match="strict"):
        OrganId.parse(text, strict=True)


def test_lenient_accepts_letters_in_lower_segments() -> None:
    oid = OrganId.parse("0A1.B2.00.H44")
    assert oid.form == "qcvn102" and not oid.is_strict
    assert oid.level == 4
    assert str(oid.parent()) == "000.B2.00.H44"
    with pytest.raises(SchemaValidationError):
        OrganId.parse("0A1.B2.00.H44", strict=True)


def test_lenient_normalises_case_and_whitespace() -> None:
    oid = OrganId.parse("  000.00.00.g22\n")
    assert str(oid) == "000.00.00.G22"
    assert oid == OrganId.parse("000.00.00.G22")
    assert oid.is_strict
    assert str(OrganId.parse("02.29.w00")) == "02.29.W00"
    with pytest.raises(SchemaValidationError):
        OrganId.parse("000.00.00.g22", strict=True)


def test_strict_refuses_group_letters_outside_a_to_k() -> None:
    with pytest.raises(SchemaValidationError):
        OrganId.parse("000.00.00.L22", strict=True)
    lenient = OrganId.parse("000.00.00.L22")
    assert lenient.form == "qcvn102" and lenient.group is None and lenient.group_letter == "L"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "000..00.G22",
        "có dấu",
        "a b",
        ".G22",
        "G22.",
        "x" * (MAX_LENGTH + 1),
        "<OrganId>",
        "G22;DROP",
    ],
)
def test_invalid_ids_raise_a_clear_gateway_error(bad: str) -> None:
    for strict in (False, True):
        with pytest.raises(SchemaValidationError) as info:
            OrganId.parse(bad, strict=strict)
        message = str(info.value)
        assert "expected" in message
        assert "DDD.CC.BB.Lnn" in message or str(MAX_LENGTH) in message or "empty" in message
        assert isinstance(info.value, GatewayError)


@pytest.mark.parametrize(
    "near_miss", ["000.00.00", "00.00.00.G22", "000.000.00.G22", "000.00.00.G2", "000.00.00.G222", "G1"]
)
def test_near_misses_are_refused_strictly_but_kept_as_other_leniently(near_miss: str) -> None:
    with pytest.raises(SchemaValidationError, match="not a strict organisation id"):
        OrganId.parse(near_miss, strict=True)
    oid = OrganId.parse(near_miss)
    assert oid.form == "other" and oid.level is None and oid.group is None


def test_error_names_the_input_and_where_it_came_from() -> None:
    with pytest.raises(SchemaValidationError) as info:
        OrganId.parse("G 22", where="/edXML/edXMLEnvelope/edXMLHeader/MessageHeader/From/OrganId")
    err = info.value
    assert "'G 22'" in str(err)
    assert err.issues and err.issues[0].path is not None and err.issues[0].path.endswith("From/OrganId")
    assert "QCVN 102" in str(err) and "QĐ 20/2020" in str(err)


def test_non_string_input() -> None:
    with pytest.raises(SchemaValidationError, match="string"):
        OrganId.parse(22)  # type: ignore[arg-type]


def test_is_valid_and_function_form() -> None:
    assert OrganId.is_valid("000.00.00.G22", strict=True)
    assert not OrganId.is_valid("vxp.saas.03", strict=True)
    assert OrganId.is_valid("vxp.saas.03")
    assert not OrganId.is_valid("")
    assert parse_organ_id("G12") == OrganId.parse("G12")


def test_frozen_hashable_and_value_equal() -> None:
    a, b = OrganId.parse("000.00.24.H44"), OrganId.parse("000.00.24.H44")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.text = "x"  # type: ignore[misc]


qcvn_segment = st.integers(min_value=0, max_value=99)


@given(
    d=st.integers(min_value=0, max_value=999),
    c=qcvn_segment,
    b=qcvn_segment,
    letter=st.sampled_from(sorted(GROUPS)),
    n=qcvn_segment,
)
def test_property_parent_chain_reaches_level1(d: int, c: int, b: int, letter: str, n: int) -> None:
    text = f"{d:03d}.{c:02d}.{b:02d}.{letter}{n:02d}"
    oid = OrganId.parse(text, strict=True)
    chain = (oid, *oid.ancestors())
    levels = [x.level for x in chain]
    assert levels == sorted(levels, reverse=True)  # strictly climbing
    assert len(set(levels)) == len(levels)
    assert chain[-1].is_root and str(chain[-1]) == f"000.00.00.{letter}{n:02d}"
    assert all(x.level1_code == f"{letter}{n:02d}" for x in chain)
    assert all(OrganId.parse(str(x), strict=True) == x for x in chain)  # parents stay valid
    # exactly one segment was zeroed per step
    for child, parent in itertools.pairwise(chain):
        diff = [i for i, (x, y) in enumerate(zip(child.segments, parent.segments, strict=True)) if x != y]
        assert len(diff) == 1 and set(parent.segments[diff[0]]) == {"0"}
