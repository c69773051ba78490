"""What later revisions mean for an earlier signature, rule by rule (verify_finish._revision_findings).

An earlier signature stays valid after a later revision only when that revision is acceptable and,
when it adds a signature or document timestamp, that signature is valid itself. The attack corpus
checks the verdicts on real files; these tests pin each rule and its message in milliseconds.
"""

from __future__ import annotations

import pytest

from gateway.signing.revisions import RevisionChange
from gateway.signing.verify_checks import INDETERMINATE, INVALID, Finding
from gateway.signing.verify_finish import _describe_later, _revision_findings

SIG = RevisionChange(2, "signature", "adds new signature 'Sig2'", signature_field="Sig2")
TS = RevisionChange(3, "document-timestamp", "adds document timestamp 'TS'", signature_field="TS")
DSS = RevisionChange(1, "validation-data", "adds validation data (DSS/VRI) or nothing visible")


def test_an_acceptable_revision_with_a_valid_later_signature_adds_nothing() -> None:
    assert _revision_findings([DSS, SIG, TS], {2: "valid", 3: "valid"}) == []


@pytest.mark.parametrize(("later", "severity"), [(INVALID, INVALID), (INDETERMINATE, INDETERMINATE)])
def test_a_later_signature_that_is_not_valid_taints_the_earlier_one(later: str, severity: str) -> None:
    assert _revision_findings([SIG], {2: later}) == [
        Finding("later-signature-not-valid", severity, f"revision 3 adds signature 'Sig2' whose verdict is {later}")]


def test_a_later_document_timestamp_that_is_not_valid_taints_it_too() -> None:
    assert _revision_findings([TS], {3: INVALID}) == [
        Finding("later-signature-not-valid", INVALID, "revision 4 adds signature 'TS' whose verdict is invalid")]


def test_a_later_signature_not_yet_judged_adds_nothing() -> None:
    assert _revision_findings([SIG], {}) == []


def test_a_verdict_for_a_revision_that_adds_no_signature_is_ignored() -> None:
    assert _revision_findings([DSS], {1: INVALID}) == []


def test_every_unacceptable_revision_is_reported_and_the_rest_still_judged() -> None:
    form = RevisionChange(1, "form-change", "creates or fills form fields 'Amount'")
    broken = RevisionChange(2, "unanalysed", "could not be analysed (ValueError: x)")
    late = RevisionChange(3, "signature", "adds new signature 'S3'", signature_field="S3")
    assert _revision_findings([form, broken, late], {3: INVALID}) == [
        Finding("modified-after-signing", INVALID, "modified after signing: revision 2 creates or fills form fields 'Amount'"),
        Finding("unanalysed", INVALID, "modified after signing: revision 3 could not be analysed (ValueError: x)"),
        Finding("later-signature-not-valid", INVALID, "revision 4 adds signature 'S3' whose verdict is invalid"),
    ]


def test_the_later_revisions_are_described_in_order() -> None:
    assert _describe_later([]) == "none: the signature covers the whole file"
    assert _describe_later([DSS, SIG]) == (
        "revision 2: adds validation data (DSS/VRI) or nothing visible; revision 3: adds new signature 'Sig2'")
