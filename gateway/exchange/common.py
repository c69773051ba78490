"""What every batch stage shares: file names for ids, chunks, error files, and the stage result.

Stages keep their state in a work folder, one file per document and step (``NAME.edxml`` the
package, ``NAME.<step>.json`` a receipt saying the step is done, ``NAME.<step>.error.json`` why it
failed last time). A rerun reads those files and skips what is done, so a stage can be repeated
after a crash or a retry without sending anything twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from gateway.errors import ConfigurationError, GatewayError
from gateway.exchange.steps import StageReport
from gateway.files import write_atomic


def safe_name(identifier: str) -> str:
    """A file name for a legacy id or hub DocId that :func:`original_id` turns back into the id.

    Percent-encoding keeps ``A-Z a-z 0-9 - _ . ~`` and encodes the rest, so ``/`` and ``..`` can
    never climb out of the work folder; a leading dot is encoded too so the file is not hidden.
    """
    if not identifier:
        raise ConfigurationError("an empty id cannot name a work file")
    name = quote(identifier, safe="-_")
    return "%2E" + name[1:] if name.startswith(".") else name


def original_id(name: str) -> str:
    return unquote(name)


def chunked(items: Sequence[str], size: int) -> list[list[str]]:
    """Split ``items`` into lists of at most ``size`` (the unit of one mapped task)."""
    if size < 1:
        raise ConfigurationError(f"chunk size must be at least 1, not {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, ensure_ascii=False, indent=2, default=str).encode())


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def error_file(folder: Path, name: str, step: str) -> Path:
    return folder / f"{name}.{step}.error.json"


def record_error(folder: Path, name: str, step: str, exc: GatewayError, **details: Any) -> dict[str, Any]:
    """Write ``NAME.<step>.error.json`` and return the report fields for the failed item."""
    body = {"name": name, "id": original_id(name), "step": step, "error": str(exc),
            "type": type(exc).__name__, "retryable": exc.retryable, "at": now_iso(), **details}
    write_json(error_file(folder, name, step), body)
    return {"error": str(exc), "retryable": exc.retryable, **details}


def clear_error(folder: Path, name: str, step: str) -> None:
    error_file(folder, name, step).unlink(missing_ok=True)


@dataclass
class StageResult:
    """A stage's report plus the names that go on to the next stage (done now or before)."""

    report: StageReport
    names: list[str] = field(default_factory=list)

    def add(self, name: str, outcome: str, *, carry: bool | None = None, **details: Any) -> None:
        """Record one item; ``ok``/``skipped`` items go on to the next stage unless ``carry`` says otherwise."""
        self.report.add(Path(name), outcome, **details)
        if carry if carry is not None else outcome in ("ok", "skipped"):
            self.names.append(name)

    @property
    def retryable_failures(self) -> int:
        return sum(1 for i in self.report.items if i["outcome"] == "failed" and i.get("retryable"))

    def summary(self) -> dict[str, Any]:
        """What travels in XCom: counts and names, never payloads or error texts."""
        r = self.report
        return {"stage": r.stage, **r.counts(), "retryable_failed": self.retryable_failures,
                "names": list(self.names)}


def start(stage: str) -> StageResult:
    return StageResult(StageReport(stage))


def existing(folder: Path, names: Iterable[str], suffix: str) -> list[str]:
    return [n for n in names if (folder / f"{n}{suffix}").exists()]


__all__ = [
    "StageResult",
    "chunked",
    "clear_error",
    "error_file",
    "existing",
    "now_iso",
    "original_id",
    "read_json",
    "record_error",
    "safe_name",
    "start",
    "write_json",
]
