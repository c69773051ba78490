"""Second pass of :func:`gateway.signing.verify.verify_pdf`: verdicts that depend on other signatures.

A signature's verdict depends on what came after it: each later revision must be acceptable
(:mod:`gateway.signing.revisions`), a later signature must itself be valid, and the rendered
pages must match (:mod:`gateway.signing.visual`). Signatures are finished from the newest to the
oldest so each later verdict is known when an earlier one needs it. The stamp's visible text is
read here too, to check its printed time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.signing import verify_checks as checks
from gateway.signing import visual as vis
from gateway.signing.revisions import RevisionChange
from gateway.signing.verify import SignatureReport, _Draft, safe_stem
from gateway.signing.verify_checks import INDETERMINATE, INVALID, Finding, verdict_of


def _describe_later(changes: list[RevisionChange]) -> str:
    if not changes:
        return "none: the signature covers the whole file"
    return "; ".join(f"{c.label}: {c.description}" for c in changes)


def _revision_findings(changes: list[RevisionChange], verdicts: dict[int, str]) -> list[Finding]:
    found: list[Finding] = []
    for change in changes:
        if not change.acceptable:
            code = "unanalysed" if change.kind == "unanalysed" else "modified-after-signing"
            found.append(Finding(code, INVALID, f"modified after signing: {change.label} {change.description}"))
            continue
        later = verdicts.get(change.revision)
        if change.kind in ("signature", "document-timestamp") and later is not None and later != "valid":
            severity = INVALID if later == INVALID else INDETERMINATE
            found.append(Finding("later-signature-not-valid", severity,
                                 f"{change.label} adds signature {change.signature_field!r} whose verdict is {later}"))
    return found


class _Renderer:
    """Renders each revision once (the final file and every signed revision)."""

    def __init__(self, data: bytes):
        self.data = data
        self.cache: dict[int, vis.Rendering] = {}

    def get(self, end: int) -> vis.Rendering:
        if end not in self.cache:
            self.cache[end] = vis.render(self.data[:end])
        return self.cache[end]


def finish_drafts(
    data: bytes,
    drafts: list[_Draft],
    changes: dict[int, RevisionChange],
    widgets: dict[str, Any],
    *,
    visual: bool,
    diff_dir: Path | None,
    source: str,
) -> tuple[list[SignatureReport], tuple[str, ...]]:
    """Reports in the drafts' order, and the paths of difference images written."""
    verdicts: dict[int, str] = {}
    finished: dict[int, SignatureReport] = {}
    images: list[str] = []
    renderer = _Renderer(data)
    texts = _stamp_texts(data, drafts, widgets)
    for index in sorted(range(len(drafts)), key=lambda i: -drafts[i].signed_revision):
        d = drafts[index]
        later = [c for r, c in sorted(changes.items()) if r > d.signed_revision]
        own = _revision_findings(later, verdicts)
        # pyHanko's coarse opinion only speaks when the revision-by-revision analysis found nothing
        found = [f for f in d.findings if f.code != "pyhanko-diff" or not own] + own
        diffs: list[vis.VisualDifference] = []
        if visual and later:
            try:
                diffs = _visual(renderer, d, drafts, widgets, len(data))
            except Exception as exc:  # a file PDFium cannot draw is not proof of anything
                found.append(Finding("visual-unchecked", INDETERMINATE,
                                     f"pages could not be rendered for comparison ({type(exc).__name__}: {exc})"))
            for diff in diffs:
                found.append(Finding("visible-change", INVALID,
                                     f"modified after signing: visible change on {diff.describe()}"))
            if diffs and diff_dir is not None:
                for page in sorted({x.page for x in diffs if x.page > 0}):
                    name = f"{safe_stem(Path(source).name)}.{safe_stem(d.values['field_name'])}.p{page}.png"
                    vis.diff_png(renderer.get(d.end), renderer.get(len(data)), page, diff_dir / name)
                    images.append(str(diff_dir / name))
        text = texts.get(d.values["field_name"])
        shown = None
        if text:
            shown, time_found = checks.stamp_time_findings(text, d.values["_cert"], d.values["_claimed"],
                                                           d.values["_token"])
            found.extend(time_found)
        verdict = verdict_of(found)
        verdicts[d.signed_revision] = verdict
        widget = widgets.get(d.values["field_name"])
        public = {k: v for k, v in d.values.items() if not k.startswith("_")}
        finished[index] = SignatureReport(
            **public,
            valid=verdict == "valid",
            reasons=tuple(f.message for f in found),
            changes_after_signing=_describe_later(later),
            verdict=verdict,
            findings=tuple(found),
            signed_revision=d.signed_revision + 1,
            later_revisions=tuple(later),
            visual_differences=tuple(x.to_dict() for x in diffs),
            page=(widget.page + 1) if widget is not None and widget.page is not None else None,
            rect=widget.rect if widget is not None else None,
            stamp_text=text or None,
            stamp_time=checks.iso(shown),
        )
    return [finished[i] for i in range(len(drafts))], tuple(images)


def _visual(
    renderer: _Renderer, d: _Draft, drafts: list[_Draft], widgets: dict[str, Any], total: int
) -> list[vis.VisualDifference]:
    later_rects: dict[int, list[tuple[str, vis.Rect]]] = {}
    for other in drafts:
        if other.signed_revision <= d.signed_revision:
            continue
        w = widgets.get(str(other.embedded.field_name))
        if w is not None and w.page is not None:
            later_rects.setdefault(w.page, []).append((w.field_name, w.rect))
    return vis.compare(renderer.get(d.end), renderer.get(total), later_rects)


def _stamp_texts(data: bytes, drafts: list[_Draft], widgets: dict[str, Any]) -> dict[str, str]:
    items = []
    for d in drafts:
        w = widgets.get(str(d.embedded.field_name))
        if w is not None and w.page is not None and not d.is_doc_ts:
            items.append((w.field_name, w.page, w.rect))
    try:
        return vis.widget_texts(data, items)
    except Exception:  # unreadable stamp text: the time check simply has nothing to compare
        return {}
