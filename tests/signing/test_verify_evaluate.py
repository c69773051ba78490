"""How one signature's evidence is weighed: which time the certificate is judged at, when a
timestamp token counts, which PAdES level is named, and when a second (soft-fail) validation asks
whether only revocation data is missing.

:func:`gateway.signing.verify._evaluate` turns pyHanko's validation status into findings and report
values. These tests stub pyHanko's answers (the status objects) and record what the verifier
asks of its rule module (``verify_checks``), so each decision is pinned on its own, in
milliseconds; the attack corpus (test_attacks.py, test_verify_evidence.py) checks the same rules
end to end with real files and real tokens.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.validation.status import SignatureCoverageLevel

import gateway.signing.verify as verify_module
from gateway.signing import verify_checks

CLAIMED = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
TOKEN = datetime(2026, 3, 1, 8, 5, tzinfo=UTC)
CERT = SimpleNamespace(subject=SimpleNamespace(native={"common_name": "Nguyễn Văn An"}, human_friendly="CN=An"))
TRUST: Any = object()
DSS = ([], [], [], False)


def _embedded(doc_ts: bool = False) -> Any:
    sig = {"/Type": "/DocTimeStamp" if doc_ts else "/Sig", "/ByteRange": [0, 100, 300, 50],
           "/SubFilter": "/ETSI.RFC3161" if doc_ts else "/ETSI.CAdES.detached"}
    return SimpleNamespace(field_name="Sig1", sig_object=sig, signer_cert=CERT, md_algorithm="sha256",
                           docmdp_level=None, signed_revision=1)


def _status(**kw: Any) -> Any:
    base = {"trusted": True, "intact": True, "valid": True, "revoked": False, "trust_problem_indic": None,
            "coverage": SignatureCoverageLevel.ENTIRE_FILE, "validation_path": None, "timestamp_validity": None,
            "signer_reported_dt": CLAIMED, "timestamp": TOKEN, "diff_result": None, "revocation_details": None}
    return SimpleNamespace(**{**base, **kw})


def _token(**kw: Any) -> Any:
    return SimpleNamespace(**{"intact": True, "valid": True, "trusted": True, "timestamp": TOKEN, **kw})


class Pyhanko:
    """Stands in for pyHanko's validators and the verifier's rule module; records every question."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, first: Any, retry: Any = None) -> None:
        self.answers = [first, retry]
        self.contexts: list[dict[str, Any]] = []
        self.validated: list[str] = []
        self.asked: dict[str, list[Any]] = {}
        monkeypatch.setattr(verify_module, "validation_context", self._context)
        monkeypatch.setattr(verify_module, "validate_pdf_signature", lambda *a, **k: self._answer("signature"))
        monkeypatch.setattr(verify_module, "validate_pdf_timestamp", lambda *a, **k: self._answer("timestamp"))
        monkeypatch.setattr(verify_module, "decide_role", lambda cert, trust: ("signer", "certificate"))
        monkeypatch.setattr(verify_module, "_pyhanko_diff", lambda status, level: [])
        fake = SimpleNamespace(
            iso=verify_checks.iso,
            integrity_findings=lambda status: [],
            trust_findings=self._recorder("trust"),
            timestamp_findings=self._recorder("timestamp"),
            certificate_findings=self._recorder("certificate"),
        )
        monkeypatch.setattr(verify_module, "checks", fake)

    def _context(self, trust: Any, **kw: Any) -> dict[str, Any]:
        self.contexts.append(kw)
        return kw

    def _answer(self, kind: str) -> Any:
        self.validated.append(kind)
        return self.answers[len(self.validated) - 1]

    def _recorder(self, name: str) -> Any:
        def record(*args: Any, **kw: Any) -> list[Any]:
            self.asked.setdefault(name, []).append((args, kw))
            return []
        return record


@pytest.mark.parametrize(
    ("token", "has_dss", "trusted_token", "level"),
    [
        (_token(), False, True, "B-T"),
        (_token(), True, True, "B-LT"),
        (_token(intact=False), False, False, "B-T"),  # the token's digest does not match
        (_token(valid=False), False, False, "B-T"),  # its signature does not verify
        (_token(trusted=False), False, False, "B-T"),  # its TSA is not trusted
        (None, False, None, "B-B"),
        (None, True, None, "B-B"),
    ],
)
def test_the_certificate_is_judged_at_the_token_time_only_when_the_token_holds(
    monkeypatch: pytest.MonkeyPatch, token: Any, has_dss: bool, trusted_token: bool | None, level: str
) -> None:
    fake = Pyhanko(monkeypatch, _status(timestamp_validity=token))
    draft = verify_module._evaluate(_embedded(), TRUST, ([], [], [], has_dss))
    assert fake.validated == ["signature"]
    expected_time = TOKEN if trusted_token else CLAIMED
    assert fake.asked["certificate"] == [((CERT, expected_time, bool(trusted_token)), {})]
    assert fake.asked.get("timestamp") == ([((token,), {})] if token is not None else None)
    v = draft.values
    assert v["timestamp_trusted"] is trusted_token
    assert v["time_source"] == ("timestamp" if trusted_token else "claimed")
    assert v["timestamp_time"] == (verify_checks.iso(TOKEN) if token is not None else None)
    assert v["claimed_signing_time"] == verify_checks.iso(CLAIMED)
    assert (v["_claimed"], v["_token"], v["_cert"]) == (CLAIMED, TOKEN if trusted_token else None, CERT)
    assert v["pades_level"] == level and v["subfilter"] == "ETSI.CAdES.detached"
    assert (v["role"], v["role_source"]) == ("signer", "certificate")
    assert not draft.is_doc_ts and draft.end == 350


@pytest.mark.parametrize("trusted", [True, False])
def test_a_document_timestamp_is_its_own_time_and_no_signer_certificate_is_judged(
    monkeypatch: pytest.MonkeyPatch, trusted: bool
) -> None:
    fake = Pyhanko(monkeypatch, _status(trusted=trusted))
    draft = verify_module._evaluate(_embedded(doc_ts=True), TRUST, DSS)
    assert fake.validated == ["timestamp"]
    assert "certificate" not in fake.asked and "timestamp" not in fake.asked
    v = draft.values
    assert (v["role"], v["role_source"]) == ("document-timestamp", "document timestamp")
    assert v["pades_level"] == "B-LTA" and draft.is_doc_ts
    assert v["timestamp_trusted"] is trusted and v["timestamp_time"] == verify_checks.iso(TOKEN)
    assert v["_token"] == (TOKEN if trusted else None)


CHAIN_FAILURE = AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE


@pytest.mark.parametrize(
    ("first", "retry", "unknown"),
    [
        # hard-fail says "chain failure" for a chain that soft-fail trusts: only revocation data is missing
        (_status(trusted=False, trust_problem_indic=CHAIN_FAILURE), _status(), True),
        (_status(trusted=False, trust_problem_indic=CHAIN_FAILURE), _status(revoked=True), False),
        (_status(trusted=False, trust_problem_indic=CHAIN_FAILURE), _status(trusted=False), False),
    ],
)
def test_a_chain_failure_is_retried_in_soft_fail_to_tell_missing_revocation_data_apart(
    monkeypatch: pytest.MonkeyPatch, first: Any, retry: Any, unknown: bool
) -> None:
    fake = Pyhanko(monkeypatch, first, retry)
    certs, crls, ocsps = ["c"], ["l"], ["o"]
    verify_module._evaluate(_embedded(), TRUST, (certs, crls, ocsps, True))
    assert fake.validated == ["signature", "signature"]
    extra = {"extra_certs": certs, "extra_crls": crls, "extra_ocsps": ocsps}
    assert fake.contexts[-1] == {"revocation_mode": "soft-fail", **extra}
    assert all(c == {"revocation_mode": "hard-fail", **extra} for c in fake.contexts[:-1])
    assert fake.asked["trust"] == [((first,), {"revocation_unknown": unknown})]


@pytest.mark.parametrize(
    "first",
    [
        _status(trusted=True, trust_problem_indic=CHAIN_FAILURE),  # already trusted
        _status(trusted=False, intact=False, trust_problem_indic=CHAIN_FAILURE),  # modified
        _status(trusted=False, valid=False, trust_problem_indic=CHAIN_FAILURE),  # signature value wrong
        _status(trusted=False, trust_problem_indic=AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND),
    ],
)
def test_no_soft_fail_retry_unless_an_intact_valid_signature_failed_only_its_chain(
    monkeypatch: pytest.MonkeyPatch, first: Any
) -> None:
    fake = Pyhanko(monkeypatch, first)
    verify_module._evaluate(_embedded(), TRUST, DSS)
    assert fake.validated == ["signature"]
    assert [c["revocation_mode"] for c in fake.contexts] == ["hard-fail", "hard-fail"]
    assert fake.asked["trust"] == [((first,), {"revocation_unknown": False})]
