"""The revision classifier rule by rule: which later revision is acceptable after a signature, and
what the report says each one did (gateway/signing/revisions.py).

The attack corpus (test_attacks.py) proves the verdicts on real files; these tests pin the decision
table itself with pyHanko's difference analysis replaced by its possible answers, so that each
rule — above all "a new signature and nothing else" — fails a test in milliseconds when it breaks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.diff_analysis.policy_api import SuspiciousModification

from gateway.signing import revisions
from gateway.signing.revisions import RevisionChange, classify_after, classify_revision

N = generic.NameObject


@dataclass
class _Diff:
    modification_level: ModificationLevel
    changed_form_fields: set[str] = field(default_factory=set)


@dataclass
class _Xrefs:
    refs: dict[int, list[str]]
    total_revisions: int = 3

    def explicit_refs_in_revision(self, revision: int) -> list[str]:
        return self.refs[revision]


class _Reader:
    """Just what the classifier reads: the objects each revision wrote, by reference."""

    def __init__(self, objects: dict[str, Any] | None = None, refs: dict[int, list[str]] | None = None,
                 total: int = 3) -> None:
        self.objects = objects or {}
        self.xrefs = _Xrefs(refs or {}, total)

    def get_historical_resolver(self, revision: int):  # type: ignore[no-untyped-def]
        return self.objects.__getitem__


def _policy(monkeypatch: pytest.MonkeyPatch, answer: _Diff | Exception) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    class Policy:
        def apply(self, *args: Any) -> _Diff:
            calls.append(args)
            if isinstance(answer, Exception):
                raise answer
            return answer

    monkeypatch.setattr(revisions, "DEFAULT_DIFF_POLICY", Policy())
    return calls


def _dict(**entries: str) -> generic.DictionaryObject:
    return generic.DictionaryObject({N("/" + k): N(v) if v.startswith("/") else generic.TextStringObject(v)
                                     for k, v in entries.items()})


def test_a_new_signature_and_nothing_else_is_a_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _policy(monkeypatch, _Diff(ModificationLevel.FORM_FILLING, {"Sig2"}))
    change = classify_revision(_Reader(), 2, ("Sig2", False))
    assert change == RevisionChange(2, "signature", "adds new signature 'Sig2'", signature_field="Sig2")
    assert change.acceptable
    assert len(calls) == 1 and calls[0][2:] == (None, None)  # no field/revision restrictions passed


def test_a_new_signature_that_also_fills_another_field_is_a_form_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shadow attack's variant: sign one field and, in the same revision, fill another."""
    _policy(monkeypatch, _Diff(ModificationLevel.FORM_FILLING, {"Sig2", "Amount"}))
    change = classify_revision(_Reader(), 2, ("Sig2", False))
    assert change.kind == "form-change" and not change.acceptable
    assert change.description == "creates or fills form fields 'Amount', 'Sig2' (their widgets draw on the page)"
    assert change.signature_field is None


def test_a_signature_revision_that_adds_annotations_is_not_a_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = {"a": _dict(Type="/Annot", Subtype="/FreeText")}
    _policy(monkeypatch, _Diff(ModificationLevel.ANNOTATIONS, {"Sig2"}))
    change = classify_revision(_Reader(objects, {2: ["a"]}), 2, ("Sig2", False))
    assert change == RevisionChange(2, "other", "changes annotation FreeText (annotations)")
    assert not change.acceptable


def test_a_document_timestamp_is_named_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    _policy(monkeypatch, _Diff(ModificationLevel.LTA_UPDATES, set()))
    change = classify_revision(_Reader(), 1, ("DocTS", True))
    assert change == RevisionChange(1, "document-timestamp", "adds document timestamp 'DocTS'", signature_field="DocTS")
    assert change.acceptable


@pytest.mark.parametrize("level", [ModificationLevel.NONE, ModificationLevel.LTA_UPDATES])
def test_validation_data_only_is_acceptable(monkeypatch: pytest.MonkeyPatch, level: ModificationLevel) -> None:
    _policy(monkeypatch, _Diff(level, set()))
    change = classify_revision(_Reader(), 1, None)
    assert change == RevisionChange(1, "validation-data", "adds validation data (DSS/VRI) or nothing visible")
    assert change.acceptable


def test_validation_level_with_a_changed_field_is_not_validation_data(monkeypatch: pytest.MonkeyPatch) -> None:
    _policy(monkeypatch, _Diff(ModificationLevel.LTA_UPDATES, {"Amount"}))
    change = classify_revision(_Reader(refs={1: []}), 1, None)
    assert change.kind == "other" and not change.acceptable
    assert change.description == "changes the document's objects (lta updates)"


def test_filling_fields_without_a_signature_is_a_form_change(monkeypatch: pytest.MonkeyPatch) -> None:
    _policy(monkeypatch, _Diff(ModificationLevel.FORM_FILLING, set()))
    change = classify_revision(_Reader(), 1, None)
    assert change == RevisionChange(1, "form-change", "creates or fills form fields unnamed (their widgets draw on the page)")
    assert not change.acceptable


def test_a_suspicious_modification_is_other_and_names_the_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    objects = {"p": _dict(Type="/Page"), "c": _dict(Type="/Catalog")}
    _policy(monkeypatch, SuspiciousModification("revision 1 changes /Root"))
    change = classify_revision(_Reader(objects, {1: ["p", "c", "p"]}), 1, ("Sig2", False))
    assert change == RevisionChange(1, "other", "changes document catalog, page object")
    assert not change.acceptable


def test_a_revision_that_cannot_be_compared_is_unanalysed(monkeypatch: pytest.MonkeyPatch) -> None:
    _policy(monkeypatch, ValueError("  broken xref\nsecond line  "))
    change = classify_revision(_Reader(), 1, None)
    assert change == RevisionChange(1, "unanalysed", "could not be analysed (ValueError: broken xref)")
    assert not change.acceptable


def test_an_unreadable_revision_is_described_as_the_documents_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    _policy(monkeypatch, SuspiciousModification("x"))
    change = classify_revision(_Reader(refs={}), 1, None)  # explicit_refs_in_revision raises KeyError
    assert change.description == "changes the document's objects"


@pytest.mark.parametrize(("obj", "name"), [
    (_dict(Type="/Page"), "page object"),
    (_dict(Type="/Catalog"), "document catalog"),
    (_dict(Subtype="/Widget", T="Sig2"), "widget/field 'Sig2'"),
    (_dict(Subtype="/Widget"), "widget annotation"),
    (_dict(FT="/Tx", T="Amount"), "widget/field 'Amount'"),
    (_dict(Type="/Annot", Subtype="/Square"), "annotation Square"),
    (_dict(Type="/Annot"), "annotation ?"),
    (_dict(Type="/Annot", Subtype="/XRefLink"), "annotation XRefLink"),  # only the slash is stripped
    (_dict(Subtype="/Ink"), "annotation Ink"),
    (_dict(Subtype="/Form"), "appearance or form XObject"),
    (_dict(Subtype="/Image"), "image"),
    (_dict(Type="/OCG"), "optional content (layers)"),
    (generic.DictionaryObject({N("/OCGs"): generic.ArrayObject()}), "optional content (layers)"),
    (generic.StreamObject(), "content stream"),
    (_dict(Type="/XObject"), None),
    (generic.StreamObject({N("/Type"): N("/XRef")}), None),
    (generic.NumberObject(3), None),
])
def test_each_kind_of_object_is_named(obj: Any, name: str | None) -> None:
    assert revisions._kind_of(obj) == name


@pytest.mark.parametrize(("text", "line"), [
    ("", "no detail"),
    ("   \n ", "no detail"),
    ("  first\nsecond", "first"),
    ("x" * 240, "x" * 240),
    ("x" * 241, "x" * 239 + "…"),
])
def test_the_first_line_of_an_error_is_kept_and_bounded(text: str, line: str) -> None:
    assert revisions._first_line(text) == line


def test_every_revision_after_the_first_signed_is_classified(monkeypatch: pytest.MonkeyPatch) -> None:
    _policy(monkeypatch, _Diff(ModificationLevel.FORM_FILLING, {"Sig2"}))
    out = classify_after(_Reader(total=4), 1, {3: ("Sig2", False)})
    assert list(out) == [2, 3]
    assert out[2].kind == "form-change" and out[3].kind == "signature"


def test_the_report_counts_revisions_as_a_reader_does() -> None:
    change = RevisionChange(0, "signature", "adds new signature 'S'", signature_field="S")
    assert change.label == "revision 1"
    assert change.to_dict() == {"revision": 1, "kind": "signature", "description": "adds new signature 'S'",
                                "signature_field": "S", "acceptable": True}
    assert RevisionChange(2, "form-change", "x").to_dict()["acceptable"] is False
