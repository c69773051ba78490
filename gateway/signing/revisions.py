"""What every revision added after a signature did to the document, classified one by one.

pyHanko's difference analysis answers, for a signed revision, the *strictest level* at which all
later changes pass (``FORM_FILLING`` accepts filling text fields and adding empty signature
fields whose widgets may paint anything over the page: the "shadow attack"). That level is too
coarse for a verdict, so here each later revision is compared with the one before it and put in
one of these kinds:

* ``validation-data``: only DSS/VRI (certificates, CRLs, OCSP) or unreferenced objects;
* ``document-timestamp``: a document timestamp (PAdES B-LTA) and nothing else;
* ``signature``: one new signature field, signed in this very revision, and no other form change;
* ``form-change``: form fields created, filled or changed (names listed) outside a signature;
* ``other``: anything else pyHanko cannot justify: annotations, appearance swaps, page objects,
  content streams, optional content (OCGs), object freeing;
* ``unanalysed``: the revision could not be compared (a broken or unusual structure).

Only the first three are acceptable after a signature; ``signature`` additionally requires the
new signature to verify itself and to draw nothing outside its own rectangle (checked by the
caller and by :mod:`gateway.signing.visual`).
"""

# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, ModificationLevel
from pyhanko.sign.diff_analysis.policy_api import SuspiciousModification

ACCEPTABLE_KINDS = frozenset({"validation-data", "document-timestamp", "signature"})


@dataclass(frozen=True)
class RevisionChange:
    """One incremental update: its 0-based index, kind, plain description and the field it signs."""

    revision: int
    kind: str
    description: str
    signature_field: str | None = None

    @property
    def acceptable(self) -> bool:
        return self.kind in ACCEPTABLE_KINDS

    @property
    def label(self) -> str:
        """1-based, as a reader counts: the original file is revision 1."""
        return f"revision {self.revision + 1}"

    def to_dict(self) -> dict[str, object]:
        return {
            "revision": self.revision + 1,
            "kind": self.kind,
            "description": self.description,
            "signature_field": self.signature_field,
            "acceptable": self.acceptable,
        }


def _first_line(text: str, limit: int = 240) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _kind_of(obj: Any) -> str | None:
    """A reader's name for one object written by a revision (None: not worth naming)."""
    if not isinstance(obj, generic.DictionaryObject):
        return None
    typ, sub = str(obj.get("/Type", "")), str(obj.get("/Subtype", ""))
    if typ == "/Page":
        return "page object"
    if typ == "/Catalog":
        return "document catalog"
    if sub == "/Widget" or "/FT" in obj:
        name = obj.get("/T")
        return f"widget/field {str(name)!r}" if name is not None else "widget annotation"
    if typ == "/Annot" or sub in _ANNOT_SUBTYPES:
        return f"annotation {sub.lstrip('/') or '?'}"
    if sub == "/Form":
        return "appearance or form XObject"
    if sub == "/Image":
        return "image"
    if typ == "/OCG" or "/OCGs" in obj:
        return "optional content (layers)"
    if isinstance(obj, generic.StreamObject) and not typ:
        return "content stream"
    return None


_ANNOT_SUBTYPES = {"/FreeText", "/Text", "/Square", "/Stamp", "/Ink", "/Link", "/Highlight", "/Popup", "/Line"}


def _what_changed(reader: PdfFileReader, revision: int) -> str:
    """'page object, annotation FreeText, …': the kinds of objects this revision (re)writes."""
    try:
        refs = reader.xrefs.explicit_refs_in_revision(revision)
        resolver = reader.get_historical_resolver(revision)
        kinds = sorted({k for ref in refs if (k := _kind_of(resolver(ref))) is not None})
    except Exception:
        kinds = []
    return ", ".join(kinds) if kinds else "the document's objects"


def classify_revision(
    reader: PdfFileReader, revision: int, signed_here: tuple[str, bool] | None
) -> RevisionChange:
    """Compare ``revision`` with the one before it. ``signed_here`` = (field, is_doc_timestamp)
    when an embedded signature's signed revision is this one."""
    try:
        old = reader.get_historical_resolver(revision - 1)
        new = reader.get_historical_resolver(revision)
        diff = DEFAULT_DIFF_POLICY.apply(old, new, None, None)
    except SuspiciousModification:
        # pyHanko's own message counts revisions from 0; name the objects instead
        return RevisionChange(revision, "other", f"changes {_what_changed(reader, revision)}")
    except Exception as exc:  # the structure cannot even be compared: never assume it is harmless
        detail = f"{type(exc).__name__}: {_first_line(str(exc))}"
        return RevisionChange(revision, "unanalysed", f"could not be analysed ({detail})")
    level = diff.modification_level
    changed = sorted(diff.changed_form_fields)
    if signed_here is not None:
        field, is_doc_ts = signed_here
        if level <= ModificationLevel.FORM_FILLING and set(changed) <= {field}:
            kind = "document-timestamp" if is_doc_ts else "signature"
            what = "document timestamp" if is_doc_ts else "new signature"
            return RevisionChange(revision, kind, f"adds {what} {field!r}", signature_field=field)
    if level <= ModificationLevel.LTA_UPDATES and not changed:
        return RevisionChange(revision, "validation-data", "adds validation data (DSS/VRI) or nothing visible")
    if level == ModificationLevel.FORM_FILLING:
        names = ", ".join(repr(n) for n in changed) or "unnamed"
        what = f"creates or fills form fields {names} (their widgets draw on the page)"
        return RevisionChange(revision, "form-change", what)
    level_name = level.name.lower().replace("_", " ")
    return RevisionChange(revision, "other", f"changes {_what_changed(reader, revision)} ({level_name})")


def classify_after(
    reader: PdfFileReader, first_signed: int, signed_revisions: Mapping[int, tuple[str, bool]]
) -> dict[int, RevisionChange]:
    """Every revision after ``first_signed`` (the earliest signed revision), classified."""
    total = reader.xrefs.total_revisions
    return {
        r: classify_revision(reader, r, signed_revisions.get(r)) for r in range(first_signed + 1, total)
    }
