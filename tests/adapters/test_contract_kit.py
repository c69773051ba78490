"""The contract kit over every adapter folder: a new adapter brings its tests with it."""

from __future__ import annotations

import pytest

from gateway.adapters import AdapterRegistry, discover, run_contract

FOUND = discover()


def test_every_discovered_adapter_loads() -> None:
    assert FOUND, "no adapter folder discovered"
    problems = [f"{f.folder}: {f.problem}" for f in FOUND if f.problem]
    assert not problems


@pytest.mark.parametrize("code", [f.code for f in FOUND if f.problem is None])
def test_contract(code: str) -> None:
    checks = run_contract(AdapterRegistry().get(code))
    assert checks
    failed = [str(c) for c in checks if not c.ok]
    assert not failed, "\n".join(failed)
    kinds = {c.check for c in checks}
    assert {"translate+validate", "expected", "errors"} <= kinds
