"""The run summary operators read: totals per stage, every failed document, and whether the run passed.

Built from the full stage reports of the *current* attempt only (the caller picks them: the DAG's
summarize task drops the results of map indexes left over from an earlier attempt), the summary
is written as ``summary.json`` and ``summary.md`` beside the task reports, shown in the task log
and as the Airflow run note, and printed by ``lienthong exchange``. A document that failed with a
non-retryable error is a *permanent* failure; more of those than the tolerance
(``max_failed_documents``, default 0) fails the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.exchange.common import now_iso, original_id, write_json

NOTE_LIMIT = 1000  # Airflow's dag run note holds at most 1000 characters


@dataclass
class RunSummary:
    """Totals per stage and the failed documents of one exchange run."""

    title: str
    stages: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    flagged: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_reports(cls, title: str, reports: Iterable[Mapping[str, Any]]) -> RunSummary:
        out = cls(title)
        for report in reports:
            stage = str(report["stage"])
            totals = out.stages.setdefault(stage, {"ok": 0, "skipped": 0, "failed": 0, "chunks": 0})
            totals["chunks"] += 1
            for item in report.get("items", []):
                outcome = str(item["outcome"])
                totals[outcome] = totals.get(outcome, 0) + 1
                name = str(item["source"])
                if outcome == "failed":
                    out.failures.append({"name": name, "id": original_id(name), "stage": stage,
                                         "reason": str(item.get("error", "unknown")),
                                         "retryable": bool(item.get("retryable"))})
                elif outcome in ("flagged", "rejected"):
                    out.flagged.append({"name": name, "id": original_id(name), "stage": stage, "outcome": outcome})
        return out

    @property
    def permanent_failures(self) -> list[dict[str, Any]]:
        return [f for f in self.failures if not f["retryable"]]

    def passed(self, max_failed: int = 0) -> bool:
        return not [f for f in self.failures if f["retryable"]] and len(self.permanent_failures) <= max_failed

    def verdict(self, max_failed: int = 0) -> str:
        if self.passed(max_failed):
            return "succeeded" if not self.failures else f"succeeded within tolerance ({max_failed})"
        return f"completed with failures: {len(self.failures)} document(s) failed"

    def to_dict(self, max_failed: int = 0) -> dict[str, Any]:
        return {"at": now_iso(), "title": self.title, "verdict": self.verdict(max_failed),
                "passed": self.passed(max_failed), "max_failed_documents": max_failed,
                "stages": self.stages, "failures": self.failures, "flagged": self.flagged}

    def markdown(self, max_failed: int = 0, *, limit: int | None = None) -> str:
        """A Markdown report; ``limit`` (characters) cuts the failure table, never the totals."""
        lines = [f"**{self.title}**: {self.verdict(max_failed)}", "",
                 "| stage | ok | skipped | flagged | failed |", "|---|---|---|---|---|"]
        for stage, t in self.stages.items():
            flagged = t.get("flagged", 0) + t.get("rejected", 0)
            lines.append(f"| {stage} | {t.get('ok', 0)} | {t.get('skipped', 0)} | {flagged} | {t.get('failed', 0)} |")
        head = "\n".join(lines)
        rows: list[str] = []
        if self.failures:
            rows += ["", "| document | legacy id / DocId | stage | reason |", "|---|---|---|---|"]
            rows += [f"| {f['name']} | {_cell(f['id'])} | {f['stage']} | {_cell(f['reason'])}"
                     f"{' (retryable)' if f['retryable'] else ''} |" for f in self.failures]
        if self.flagged:
            rows += ["", "Flagged signatures: " + ", ".join(f"{f['id']} ({f['outcome']})" for f in self.flagged)]
        text = head + "\n".join(["", *rows]) if rows else head
        if limit is None or len(text) <= limit:
            return text
        kept, more = head, "\n\n… more in summary.md"
        for row in ["", *rows]:
            if len(kept) + len(row) + 1 + len(more) + 20 > limit:
                break
            kept += "\n" + row
        return kept + more


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:300]


def write(summary: RunSummary, folder: Path, max_failed: int = 0) -> Path:
    """``summary.json`` and ``summary.md`` in ``folder``; returns the Markdown file."""
    write_json(folder / "summary.json", summary.to_dict(max_failed))
    md = folder / "summary.md"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(summary.markdown(max_failed) + "\n", encoding="utf-8")
    return md


__all__ = ["NOTE_LIMIT", "RunSummary", "write"]
