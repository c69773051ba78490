"""The input budgets of the gateway: one frozen settings object, enforced before the expensive work.

Every untrusted input (an edXML package, a legacy document, an attachment ZIP, a MIME message,
a file-drop item) is judged against the numbers in :class:`InputLimits`; a breach raises
:class:`gateway.errors.InputLimitError` naming the setting and the value, and is never retried.
The table of limits with their defaults is in ``docs/limits.md``; the hub reads overrides from
the ``[limits]`` table of ``hub.toml`` (see :func:`InputLimits.from_config`).

The checks are placed where they cost least and stop earliest: byte counts before reading,
cheap upper bounds (``bytes.count``) before parsing, counters in the streaming parser and in
the ZIP inflater, so a hostile input is refused while its cost is still small.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import Any

from gateway.errors import ConfigurationError, InputLimitError, Location

MiB = 1024 * 1024
GiB = 1024 * MiB


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Budgets for one input; see ``docs/limits.md`` for what each protects against.

    ``max_inflation_ratio`` applies once an attachment inflates past ``ratio_floor_bytes`` (small
    highly compressible files — a text document of repeated lines — stay acceptable).
    ``max_document_seconds`` is the wall-clock budget for judging one document (parse, schema
    validation, mapping); ``max_issues`` how many problems are listed one by one before the rest
    are summarised by kind.
    """

    max_package_bytes: int = 2 * GiB
    max_xml_bytes: int = 64 * MiB
    max_legacy_bytes: int = 64 * MiB
    max_depth: int = 256
    max_text_length: int = 10_000_000
    max_elements: int = 500_000
    max_attributes: int = 256
    max_inflated_bytes: int = 2 * GiB
    max_inflation_ratio: int = 100
    ratio_floor_bytes: int = 16 * MiB
    max_mime_parts: int = 1_000
    max_document_seconds: float = 30.0
    max_issues: int = 20
    max_parse_seconds: float = 10.0
    max_inflated_in_memory_bytes: int = 64 * MiB

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(f"input limit {f.name} must be a positive number, not {value!r}")

    def with_(self, **changes: Any) -> InputLimits:
        """A copy with some limits changed."""
        return replace(self, **changes)

    def xml(self, **changes: int) -> Any:
        """The :class:`gateway.xml.XmlLimits` these budgets imply for one XML document."""
        return _xml_limits(self, tuple(sorted(changes.items())))

    @classmethod
    def from_config(cls, data: Mapping[str, Any], where: str = "[limits]") -> InputLimits:
        """Build from a TOML table; unknown keys are refused so a typo never falls back silently."""
        allowed = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(allowed)
        if unknown:
            raise ConfigurationError(f"{where}: unknown limits {sorted(unknown)} (allowed: {sorted(allowed)})")
        values: dict[str, Any] = {}
        for key, value in data.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigurationError(f"{where}: {key} must be a number, not {value!r}")
            values[key] = float(value) if key in _SECONDS else int(value)
        return cls(**values)


_SECONDS = frozenset({"max_document_seconds", "max_parse_seconds"})
DEFAULT_INPUT_LIMITS = InputLimits()


def check(what: str, value: float, limit: str, maximum: float, *, source: str | None = None) -> None:
    """Raise :class:`InputLimitError` when ``value`` is over ``maximum``."""
    if value > maximum:
        raise InputLimitError(what, limit=limit, value=value, maximum=maximum, location=Location(source))


class Deadline:
    """The wall-clock budget of one document: call :meth:`check` between stages and in loops.

    C code (libxml2, the schema validator) cannot be interrupted, so each stage is kept cheap by
    the count limits; the deadline catches what stays (pathological mapping hooks, long issue
    lists) at the next check point.
    """

    def __init__(self, seconds: float, *, source: str | None = None):
        self.seconds = seconds
        self.source = source
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def check(self, stage: str = "judging the document") -> None:
        elapsed = self.elapsed
        if elapsed > self.seconds:
            raise InputLimitError(
                f"time spent {stage} (seconds)",
                limit="max_document_seconds",
                value=round(elapsed, 1),
                maximum=self.seconds,
                location=Location(self.source),
            )


def read_bounded(path: str | os.PathLike[str], maximum: int, limit: str) -> bytes:
    """Read a regular file whole, refusing it before reading when it is over ``maximum`` bytes.

    The size is taken from the open descriptor (``fstat``) and the read itself is bounded, so a
    file that grows in between, or a device posing as a file, can never cost more than the limit.
    Raises :class:`InputLimitError` (over the limit) or :class:`OSError` (unreadable, not a file).
    """
    with open(path, "rb") as fh:  # noqa: PTH123 - one descriptor for fstat and read
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
        check("file size (bytes)", info.st_size, limit, maximum, source=str(path))
        data = fh.read(maximum + 1)
    check("file size (bytes)", len(data), limit, maximum, source=str(path))
    return data


__all__ = ["DEFAULT_INPUT_LIMITS", "Deadline", "GiB", "InputLimits", "MiB", "check", "read_bounded"]


@lru_cache(maxsize=256)
def _xml_limits(limits: InputLimits, changes: tuple[tuple[str, int], ...]) -> Any:
    """:meth:`InputLimits.xml`, made once per (budgets, changes): both are frozen values.

    The adapters ask for it once per document; building two dataclasses each time showed up
    in the translate profile.
    """
    from gateway.xml import XmlLimits

    base = XmlLimits(
        max_bytes=limits.max_xml_bytes,
        max_depth=limits.max_depth,
        max_text_length=limits.max_text_length,
        max_elements=limits.max_elements,
        max_attributes=limits.max_attributes,
    )
    return base.with_(**dict(changes)) if changes else base
