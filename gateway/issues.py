"""Capping and summarising long lists of validation issues.

A hostile document can break one rule thousands of times (5,000 undeclared attributes); listing
each one costs time and memory in every consumer (the report, the rich table, the hub's answer)
and helps nobody. :func:`summarise` keeps the first ``max_shown`` issues as they are and folds the
rest into one line per *kind* of problem ("and 4,980 more of the same kind: …"), where the kind
is the message with its quoted names and numbers blanked out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from gateway.errors import ValidationIssue

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|\{[^}]*\}|\d+")
_MAX_KINDS = 10
SUMMARY_MARK = "and "
"""Summary issues start with this word; see :func:`is_summary`."""


def kind_of(message: str) -> str:
    """The message with names and numbers blanked: issues of one kind share it."""
    return _QUOTED.sub("…", message)


def summarise(issues: Iterable[ValidationIssue], max_shown: int) -> list[ValidationIssue]:
    """The first ``max_shown`` issues, then one summary issue per kind of the rest (at most 10).

    Consumes ``issues`` lazily only up to the first ``max_shown``; the remainder is counted, so a
    caller that can count cheaply (lxml's error log) should pass all of them.
    """
    shown: list[ValidationIssue] = []
    rest: dict[str, tuple[int, ValidationIssue]] = {}
    for issue in issues:
        if len(shown) < max_shown:
            shown.append(issue)
            continue
        kind = kind_of(issue.message)
        count, first = rest.get(kind, (0, issue))
        rest[kind] = (count + 1, first)
    ordered = sorted(rest.values(), key=lambda item: -item[0])
    for count, first in ordered[:_MAX_KINDS]:
        shown.append(replace(first, message=f"{SUMMARY_MARK}{count:,} more of the same kind, first: {first.message}"))
    if len(ordered) > _MAX_KINDS:
        others = sum(count for count, _ in ordered[_MAX_KINDS:])
        shown.append(ValidationIssue(f"{SUMMARY_MARK}{others:,} more of {len(ordered) - _MAX_KINDS} other kinds"))
    return shown


def is_summary(issue: ValidationIssue) -> bool:
    """Whether an issue is a summary line made by :func:`summarise`."""
    return issue.message.startswith(SUMMARY_MARK) and " more " in issue.message


def clip(text: str, limit: int = 500) -> str:
    """``text`` shortened to ``limit`` characters with an ellipsis (for one table cell or log line)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["clip", "is_summary", "kind_of", "summarise"]
