"""What the verifier asks about later revisions, and what it concludes when they cannot be listed.

:func:`gateway.signing.verify._classify` hands :func:`gateway.signing.revisions.classify_after` the
earliest signed revision and, for each signed revision, the field it signs and whether it is a
document timestamp; when pyHanko cannot even list the revisions, every revision after the first
signature must come back "unanalysed" (an earlier signature is then never valid) and the report
must say why. The attack corpus covers the same rules with real files (test_attacks.py); these
tests pin them with pyHanko's side stubbed, in milliseconds.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

import gateway.signing.verify as verify_module
from gateway.signing.revisions import RevisionChange


def _draft(revision: int, field: str, doc_ts: bool = False) -> Any:
    return SimpleNamespace(signed_revision=revision, embedded=SimpleNamespace(field_name=field), is_doc_ts=doc_ts)


READER = SimpleNamespace(xrefs=SimpleNamespace(total_revisions=6))


def test_later_revisions_are_classified_from_the_earliest_signed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[Any, int, dict[int, tuple[str, bool]]]] = []
    answer = {4: RevisionChange(4, "signature", "a later signature", "Seal")}

    def classify_after(reader: Any, first: int, signed: dict[int, tuple[str, bool]]) -> dict[int, RevisionChange]:
        asked.append((reader, first, signed))
        return answer

    monkeypatch.setattr(verify_module, "classify_after", classify_after)
    notes: list[str] = []
    drafts = [_draft(3, "Seal"), _draft(1, "Signature1"), _draft(5, "Timestamp", doc_ts=True)]
    assert verify_module._classify(READER, drafts, notes) is answer
    assert asked == [(READER, 1, {3: ("Seal", False), 1: ("Signature1", False), 5: ("Timestamp", True)})]
    assert notes == []


def test_revisions_that_cannot_be_listed_are_all_unanalysed_and_the_report_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def classify_after(*_: Any) -> dict[int, RevisionChange]:
        raise ValueError("xref stream is broken")

    monkeypatch.setattr(verify_module, "classify_after", classify_after)
    notes: list[str] = []
    changes = verify_module._classify(READER, [_draft(3, "Seal"), _draft(2, "Signature1")], notes)
    # every revision after the earliest signed one (2), up to the last (5 of 0..5)
    assert changes == {r: RevisionChange(r, "unanalysed", "could not be analysed") for r in (3, 4, 5)}
    assert notes == ["revisions could not be listed: xref stream is broken"]


def test_no_signature_means_nothing_to_classify(monkeypatch: pytest.MonkeyPatch) -> None:
    def classify_after(*_: Any) -> dict[int, RevisionChange]:
        raise AssertionError("classify_after must not be asked without a signature")

    monkeypatch.setattr(verify_module, "classify_after", classify_after)
    notes: list[str] = []
    assert verify_module._classify(READER, [], notes) == {}
    assert notes == []
