"""Writing a drafted mapping (``mapping.toml`` with a reason on every line) and measuring drafts.

:func:`render_mapping` turns a :class:`~gateway.adapters.draft.Draft` into a mapping file an
integrator reviews: each proposed line carries a comment with its confidence and reason, and the
required fields nothing matched stay as TODO comments. :func:`score_draft` compares a draft with
a finished mapping (the bundled adapters' own), which is how the drafting is measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.adapters.draft import Draft, Proposal
from gateway.adapters.mapping import KindMapping
from gateway.adapters.targets import EDOC_REQUIRED


def _value(p: Proposal) -> str:
    if not p.options:
        return json.dumps(p.path, ensure_ascii=False)
    parts = [f"path = {json.dumps(p.path, ensure_ascii=False)}"]
    parts += [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in p.options.items()]
    return "{ " + ", ".join(parts) + " }"


def _comment(p: Proposal) -> str:
    return f"# proposed ({p.confidence:.2f}): {p.reason}; sample {p.sample!r}"


def render_mapping(draft: Draft, *, source: str) -> str:
    """The drafted ``mapping.toml`` text."""
    lines = [
        f"# Mapping drafted by `lienthong adapters new --sample` from {source}.",
        "# Every proposed line says why; review each one (and the TODOs) before use.",
        "",
        "[namespaces]",
        *[f"{json.dumps(p)} = {json.dumps(ns)}" for p, ns in sorted(draft.namespaces.items())],
        "",
        "[organs]",
        '# "LEGACY-CODE" = "000.00.00.H41"   (needed where a line says convert = "organ")',
        "",
    ]
    for name, words in draft.tables.items():
        lines += [f"[tables.{name}]", *[f"{json.dumps(w, ensure_ascii=False)} = {v}" for w, v in words.items()]]
        if name == "do_khan":
            lines.append("# add the vendor's other words for 0 thường, 1 khẩn, 2 thượng khẩn, 3 hỏa tốc, "
                         "4 hỏa tốc hẹn giờ")
        else:
            lines.append('# TODO: each vendor word → its QCVN type number, e.g. "Công văn" = 1')
        lines.append("")
    lines += ["[edoc]", f"element = {json.dumps(draft.element)}", "", "[edoc.fields]"]
    proposed = {p.target for p in draft.fields}
    for p in draft.fields:
        line = f"{json.dumps(p.target)} = {_value(p)}"
        lines += [_comment(p), line if p.active else f"# {line}"]
    missing = [t for t in EDOC_REQUIRED if t not in proposed and not (t.startswith("code") and "code" in proposed)]
    for t in missing:
        lines.append(f'# TODO (required, nothing matched): "{t}" = "LEGACY/PATH"')
    for name in ("to", "attachments"):
        group = draft.groups.get(name)
        lines.append("")
        if group is None:
            required = " (required: the recipients)" if name == "to" else ""
            lines += [f"# TODO{required}: [edoc.groups.{name}] path = \"LEGACY/REPEATED/ELEMENT\""]
            continue
        head, fields = group
        lines += [f"[edoc.groups.{name}]", _comment(head), f"path = {json.dumps(head.path)}"]
        lines.append(f"[edoc.groups.{name}.fields]")
        for p in fields:
            lines += [_comment(p), f"{p.target} = {_value(p)}"]
    return "\n".join(lines) + "\n"


@dataclass
class DraftScore:
    """How a draft compares with a finished mapping: right, wrong, missed and extra proposals."""

    right: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.right) + len(self.wrong) + len(self.missed)

    @property
    def share(self) -> float:
        return len(self.right) / self.total if self.total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"share": round(self.share, 3), "right": self.right, "wrong": self.wrong, "missed": self.missed,
                "extra": self.extra}  # fmt: skip


def _norm(path: str) -> str:
    return path.strip().strip("/") or "."


def score_draft(draft: Draft, km: KindMapping) -> DraftScore:
    """Compare a draft with a finished kind mapping, target by target (primary paths only)."""
    score = DraftScore()
    truth = {f.target: _norm(f.path.text) for f in km.fields if f.path is not None}
    got = {p.target: _norm(p.path) for p in draft.fields if p.active}
    if "code" in got and "code" not in truth and {"code.number", "code.notation"} <= set(truth):
        got.pop("code")
    for target, path in truth.items():
        _tally(score, target, path, got.get(target))
    score.extra += [t for t in got if t not in truth]
    for g in km.groups:
        proposal = draft.groups.get(g.name)
        _tally(score, f"{g.name} (group)", _norm(g.path.text), _norm(proposal[0].path) if proposal else None)
        fields = {p.target: _norm(p.path) for p in proposal[1]} if proposal else {}
        for f in g.fields:
            if f.path is not None:
                _tally(score, f"{g.name}.{f.target}", _norm(f.path.text), fields.get(f.target))
    return score


def _tally(score: DraftScore, target: str, want: str, got: str | None) -> None:
    if got is None:
        score.missed.append(f"{target} ({want})")
    elif got == want:
        score.right.append(target)
    else:
        score.wrong.append(f"{target}: proposed {got}, mapped {want}")


__all__ = ["DraftScore", "render_mapping", "score_draft"]
