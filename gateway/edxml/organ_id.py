"""Organisation identifiers (mã định danh) as carried in OrganId: parsing, levels and hierarchy.

Two code sets are in use on the national axis (shared doc §4):

* **QCVN 102:2016** — ``DDD.CC.BB.Lnn``, four dot-separated levels written *lowest level first*:
  ``Lnn`` is the level-1 body (group letter A–K + two digits, e.g. ``G22`` Văn phòng Chính phủ),
  ``BB`` level 2, ``CC`` level 3, ``DDD`` level 4; zeros mean "the parent itself". The parent of a
  code is the code with its leftmost non-zero segment replaced by zeros (``000.46.24.H44`` →
  ``000.00.24.H44`` → ``000.00.00.H44``). Gaps occur (``002.00.20.H13``) and are accepted.
* **QĐ 20/2020/QĐ-TTg** (amended by QĐ 09/2025) — variable length (≤ 35 characters),
  dot-separated; a level-1 body is just ``G12``. We read these codes *highest level first*
  (``G12`` → ``G12.01`` → ``G12.01.05``), so the parent drops the last segment; the doc rates this
  form low-medium confidence, so only the level-1 prefix is checked strictly. Enterprises use
  their tax code (``0201001073``, ``0201001073-001``, 12-digit codes such as ``020100107370``);
  codes ending ``.W00`` (``02.29.W00``) denote interconnection centres / provincial LGSP nodes.

Lenient parsing (the default) follows the doc's advice: letters may appear in lower QCVN
segments, lower-case input is upper-cased, and ids of connected systems seen in real axis
traffic (``vxp.saas.03``) are accepted as form ``"other"``. Whether a code really exists is the
directory's business (:mod:`gateway.edxml.directory`), not this module's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from gateway.errors import SchemaValidationError, ValidationIssue

Form = Literal["qcvn102", "qd20", "other"]
Kind = Literal["agency", "enterprise", "centre", "system"]

MAX_LENGTH = 35
"""Longest identifier either standard allows (QĐ 20/2020)."""


@dataclass(frozen=True, slots=True)
class OrganGroup:
    """A level-1 group letter and what kind of body it denotes."""

    letter: str
    name_vi: str
    name_en: str


GROUPS: dict[str, OrganGroup] = {
    g.letter: g
    for g in (
        OrganGroup("A", "Cơ quan của Đảng", "Party bodies"),
        OrganGroup("B", "Văn phòng Chủ tịch nước", "Office of the President"),
        OrganGroup("C", "Cơ quan của Quốc hội", "National Assembly bodies"),
        OrganGroup("D", "Tòa án nhân dân tối cao", "Supreme People's Court"),
        OrganGroup("E", "Viện kiểm sát nhân dân tối cao", "Supreme People's Procuracy"),
        OrganGroup("F", "Kiểm toán nhà nước", "State Audit"),
        OrganGroup(
            "G",
            "Bộ, cơ quan ngang bộ, cơ quan thuộc Chính phủ",
            "Ministries, ministerial and government agencies",
        ),
        OrganGroup("H", "Ủy ban nhân dân tỉnh, thành phố", "Provincial People's Committees"),
        OrganGroup("I", "Tổ chức chính trị - xã hội trung ương", "Central socio-political organisations"),
        OrganGroup(
            "J",
            "Tổ chức xã hội, xã hội - nghề nghiệp trung ương",
            "Central social and professional organisations",
        ),
        OrganGroup("K", "Hội đồng nhân dân tỉnh, thành phố", "Provincial People's Councils"),
    )
}

QCVN102_STRICT = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-K]\d{2}$")
"""The QCVN 102:2016 form exactly as the 2016 text defines it."""

QCVN102_LENIENT = re.compile(r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9A-Z]{2}$")
"""The doc's production pattern: the 2022 amendment may put letters in lower segments."""

QD20_STRICT = re.compile(r"^[A-K]\d{2}(\.\d{2,3})*$")
QD20_LENIENT = re.compile(r"^[A-Z]\d{2}(\.[0-9A-Z]{1,16})*$")
ENTERPRISE = re.compile(r"^(\d{10}(-\d{3})?|\d{12}|\d{13})$")
CENTRE_STRICT = re.compile(r"^(\d{2,3}\.){1,3}W\d{2}$")
CENTRE_LENIENT = re.compile(r"^([0-9A-Z]{1,3}\.){1,3}W[0-9A-Z]{2}$")
OTHER = re.compile(r"^[0-9A-Za-z]+(?:[._-][0-9A-Za-z]+)*$")

_EXPECTED = (
    "expected the QCVN 102 form DDD.CC.BB.Lnn (e.g. 000.00.00.G22, group letter A–K), "
    "a QĐ 20/2020 code (e.g. G12 or G12.01), an enterprise tax code (10, 12 or 13 digits, "
    "or 10 digits + -NNN) or a centre code ending .W00 (e.g. 02.29.W00)"
)


def _is_zero(segment: str) -> bool:
    return set(segment) == {"0"}


@dataclass(frozen=True, slots=True)
class OrganId:
    """One organisation identifier, normalised; build it with :meth:`parse`.

    ``text`` is the canonical string (``str(organ_id)``), ``form`` the code set it belongs to
    and ``kind`` what it names (an agency, an enterprise, an interconnection centre, or some
    other connected system).
    """

    text: str
    form: Form
    kind: Kind

    @classmethod
    def parse(cls, text: str, *, strict: bool = False, where: str | None = None) -> OrganId:
        """Recognise ``text`` as an organisation identifier.

        ``strict`` accepts only codes that follow the published patterns exactly (QCVN 102
        digits + group A–K, QĐ 20 codes with a known group, tax codes, ``.W00`` centres);
        the lenient default also takes letters in lower QCVN segments, lower case, and
        connected-system ids (form ``"other"``). ``where`` (an XML path, a field name) is
        put into the error. Raises :class:`SchemaValidationError` naming what was expected.
        """
        if not isinstance(text, str):
            raise _invalid(repr(text), "an organisation id must be a string", where)
        raw = text.strip()
        if not raw:
            raise _invalid(raw, "the organisation id is empty; " + _EXPECTED, where)
        if len(raw) > MAX_LENGTH:
            raise _invalid(raw, f"longer than {MAX_LENGTH} characters; " + _EXPECTED, where)
        found = _classify(raw, strict=strict)
        if found is None and not strict:
            upper = raw.upper()
            if QCVN102_LENIENT.match(upper) or CENTRE_LENIENT.match(upper):
                raw = upper  # "000.00.00.g22" is a lower-cased QCVN code, not another system
                found = _classify(raw, strict=False)
            elif OTHER.match(raw):
                found = ("other", "system")
        if found is None:
            mode = "strict " if strict else ""
            raise _invalid(raw, f"not a {mode}organisation id; " + _EXPECTED, where)
        return cls(raw, found[0], found[1])

    @classmethod
    def is_valid(cls, text: str, *, strict: bool = False) -> bool:
        """True if :meth:`parse` would accept ``text``."""
        try:
            cls.parse(text, strict=strict)
        except SchemaValidationError:
            return False
        return True

    def __str__(self) -> str:
        return self.text

    # -- classification ------------------------------------------------------------------------

    @property
    def is_qcvn102(self) -> bool:
        return self.form == "qcvn102"

    @property
    def is_qd20(self) -> bool:
        return self.form == "qd20"

    @property
    def is_enterprise(self) -> bool:
        return self.kind == "enterprise"

    @property
    def is_centre(self) -> bool:
        """An interconnection centre / LGSP node code (``….W00``)."""
        return self.kind == "centre"

    @property
    def is_strict(self) -> bool:
        """Whether the code follows its standard's published pattern exactly."""
        return _classify(self.text, strict=True) is not None

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.text.split("."))

    @property
    def level1_code(self) -> str | None:
        """The level-1 body's own code (``G22`` for ``000.00.00.G22`` and for ``G22.01``)."""
        if self.kind != "agency":
            return None
        return self.segments[-1] if self.form == "qcvn102" else self.segments[0]

    @property
    def group_letter(self) -> str | None:
        code = self.level1_code
        return code[0] if code else None

    @property
    def group(self) -> OrganGroup | None:
        """The level-1 group (A Party … K provincial councils), if the letter is a known one."""
        letter = self.group_letter
        return GROUPS.get(letter) if letter else None

    # -- hierarchy -----------------------------------------------------------------------------

    @property
    def level(self) -> int | None:
        """1 for a level-1 body … 4 for a QCVN level-4 unit; None where no hierarchy is known.

        QCVN 102: the position of the lowest non-zero segment (``002.00.20.H13`` is level 4).
        QĐ 20: the number of segments. Enterprises, centres and other ids: None.
        """
        if self.kind != "agency":
            return None
        segs = self.segments
        if self.form == "qd20":
            return len(segs)
        for level, seg in zip((4, 3, 2), segs[:3], strict=True):
            if not _is_zero(seg):
                return level
        return 1

    @property
    def is_root(self) -> bool:
        """A level-1 body (a ministry, a provincial People's Committee …)."""
        return self.level == 1

    def parent(self) -> OrganId | None:
        """The managing body's code, or None for a level-1 body or an id without hierarchy.

        QCVN 102: the leftmost non-zero segment becomes zeros. QĐ 20: the last segment goes.
        """
        level = self.level
        if level is None or level == 1:
            return None
        segs = list(self.segments)
        if self.form == "qd20":
            return OrganId(".".join(segs[:-1]), self.form, self.kind)
        for i in range(3):
            if not _is_zero(segs[i]):
                segs[i] = "0" * len(segs[i])
                break
        return OrganId(".".join(segs), self.form, self.kind)

    def ancestors(self) -> tuple[OrganId, ...]:
        """Parent, grandparent … up to the level-1 body (nearest first)."""
        chain: list[OrganId] = []
        node = self.parent()
        while node is not None:
            chain.append(node)
            node = node.parent()
        return tuple(chain)

    def root(self) -> OrganId:
        """The level-1 body in the same code set (self for ids without hierarchy)."""
        chain = self.ancestors()
        return chain[-1] if chain else self

    def is_within(self, other: OrganId) -> bool:
        """True if ``other`` is this body or one of its ancestors (same code set)."""
        return other == self or other in self.ancestors()


def _classify(text: str, *, strict: bool) -> tuple[Form, Kind] | None:
    """Which standard form ``text`` has (checked in order of specificity).

    The lenient QĐ 20 pattern is case-sensitive on purpose: upper-casing ``vxp.saas.03`` must
    not turn a connected-system id into an agency code.
    """
    if ENTERPRISE.match(text):
        return ("qd20", "enterprise")
    if QCVN102_STRICT.match(text):
        return ("qcvn102", "agency")
    if CENTRE_STRICT.match(text):
        return ("qd20", "centre")
    if QD20_STRICT.match(text):
        return ("qd20", "agency")
    if strict:
        return None
    if QCVN102_LENIENT.match(text):
        return ("qcvn102", "agency")
    if CENTRE_LENIENT.match(text):
        return ("qd20", "centre")
    if QD20_LENIENT.match(text):
        return ("qd20", "agency")
    return None


def _invalid(text: str, detail: str, where: str | None) -> SchemaValidationError:
    return SchemaValidationError(
        f"invalid organisation id {text!r}",
        [ValidationIssue(detail, path=where)],
    )


def parse_organ_id(text: str, *, strict: bool = False, where: str | None = None) -> OrganId:
    """Function form of :meth:`OrganId.parse`."""
    return OrganId.parse(text, strict=strict, where=where)


__all__ = [
    "GROUPS",
    "MAX_LENGTH",
    "QCVN102_LENIENT",
    "QCVN102_STRICT",
    "Form",
    "Kind",
    "OrganGroup",
    "OrganId",
    "parse_organ_id",
]
