"""The state machine allows the documented paths and refuses everything else."""

import pytest

from gateway.errors import IllegalTransitionError
from gateway.ledger.states import BUSINESS_BY_CODE, State, can_transition, check_transition


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (State.RECEIVED, State.TRANSLATED),
        (State.TRANSLATED, State.SIGNED),
        (State.SIGNED, State.QUEUED),
        (State.QUEUED, State.SENT),
        (State.SENT, State.ACKNOWLEDGED),
        (State.QUEUED, State.FAILED),
        (State.FAILED, State.QUEUED),
        (State.FAILED, State.DEAD),
        (State.DEAD, State.QUEUED),
        (State.SENT, State.S01_RECEIVED),
        (State.ACKNOWLEDGED, State.S01_RECEIVED),
        (State.S01_RECEIVED, State.S03_ACCEPTED),
        (State.S03_ACCEPTED, State.S06_FINISHED),
        (State.S01_RECEIVED, State.S02_REJECTED),
        (State.S05_PROCESSING, State.S13_WITHDRAWAL_REQUESTED),
        (State.S13_WITHDRAWAL_REQUESTED, State.S15_CHANGE_ACCEPTED),
    ],
)
def test_documented_paths_are_allowed(old: State, new: State) -> None:
    assert check_transition(old, new) is new


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (State.RECEIVED, State.SENT),
        (State.QUEUED, State.ACKNOWLEDGED),
        (State.SENT, State.QUEUED),
        (State.DEAD, State.SENT),
        (State.S03_ACCEPTED, State.S01_RECEIVED),
        (State.S06_FINISHED, State.S05_PROCESSING),
        (State.S02_REJECTED, State.S03_ACCEPTED),
        (State.S15_CHANGE_ACCEPTED, State.S13_WITHDRAWAL_REQUESTED),
        (State.QUEUED, State.S01_RECEIVED),
        (State.ACKNOWLEDGED, State.SENT),
    ],
)
def test_illegal_transitions_are_refused(old: State, new: State) -> None:
    assert not can_transition(old, new)
    with pytest.raises(IllegalTransitionError, match=f"{old.value} → {new.value} is not allowed"):
        check_transition(old, new)


def test_every_qcvn_status_code_has_a_business_state() -> None:
    assert sorted(BUSINESS_BY_CODE) == ["01", "02", "03", "04", "05", "06", "13", "15", "16"]


def test_unknown_state_is_refused() -> None:
    with pytest.raises(IllegalTransitionError, match="unknown state"):
        check_transition("RECEIVED", "LOST")
