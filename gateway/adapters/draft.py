"""``lienthong adapters new --sample FILE``: a first mapping drafted from a real document.

An integrator's slowest step is pairing every edXML field with a legacy path. Most vendors name
their elements after the paper form (số, ký hiệu, trích yếu, người ký, nơi nhận …, in
Vietnamese with or without diacritics, sometimes in English) and their values have telling
shapes (QCVN 102 organisation ids, dates, ``123/QĐ-UBND`` numbers, base64 PDFs, urgency words).
:func:`draft_mapping` reads the sample's document element, scores every leaf (element text or
attribute) against every edXML target by name, by its parent's name and by the shape of its
value, and proposes the best match per target with a confidence and a reason. The integrator
reviews proposals instead of writing paths; nothing is proposed below :data:`THRESHOLD`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree

# Synonyms by edXML target, already folded (no diacritics, lower case, letters and digits only).
NAMES: Final[dict[str, tuple[str, ...]]] = {
    "code": ("sokyhieu", "sohieu", "sokyhieuvanban", "code", "docnumber"),
    "code.number": ("so", "sovanban", "codenumber", "number", "sobanhanh"),
    "code.notation": ("kyhieu", "kyhieuvanban", "codenotation", "notation"),
    "document_id": ("madinhdanhvanban", "documentid", "madinhdanh"),
    "promulgation.date": ("ngaybanhanh", "ngayky", "ngayvanban", "promulgationdate", "ngayphathanh", "ngay"),
    "promulgation.place": ("noibanhanh", "diadanh", "place", "noiphathanh"),
    "subject": ("trichyeu", "subject", "tieude", "title", "trichyeunoidung"),
    "content": ("noidung", "content", "tomtat", "noidungtomtat"),
    "signer.full_name": ("nguoiky", "hotennguoiky", "tennguoiky", "fullname", "signer", "signername"),
    "signer.position": ("chucvu", "chucvunguoiky", "position"),
    "signer.competence": ("thamquyen", "thamquyenky", "competence", "quyenky"),
    "document_type.type_name": ("loaivanban", "tenloaivanban", "typename", "hinhthuc", "loai", "doctype"),
    "other.priority": ("dokhan", "mucdokhan", "priority", "khan"),
    "other.page_amount": ("sotrang", "pageamount", "pages"),
    "other.promulgation_amount": ("soban", "soluongban", "promulgationamount"),
    "due_date": ("hanxuly", "duedate", "hangiaiquyet", "thoihan"),
    "trace.timestamp": ("ngaygui", "thoigiangui", "timestamp", "sentat", "ngaygio"),
    "from.organ_id": ("macoquan", "madonvi", "organid", "macoquanbanhanh", "madinhdanhcoquan"),
    "from.organ_name": ("tencoquan", "tendonvi", "organname", "tencoquanbanhanh", "noigui", "coquangui"),
    "from.email": ("email", "thudientu"),
    "from.telephone": ("dienthoai", "telephone", "sodienthoai"),
    "from.organ_add": ("diachi", "organadd", "address"),
    "from.fax": ("fax",),
    "from.website": ("website", "trangthongtin"),
    "from.organization_in_charge": ("organizationincharge", "coquanchuquan", "coquanquanly"),
    "document_type.type": ("maloaivanban", "type", "doctypecode"),
    "other.sphere_of_promulgation": ("sphereofpromulgation", "phamvi", "phamviphathanh"),
    "other.typer_notation": ("typernotation", "nguoidanhmay", "kyhieunguoidanhmay"),
}
SENDER: Final = ("coquanbanhanh", "noigui", "donvigui", "coquangui", "from", "sender", "noiphathanh", "coquan")
RECIPIENTS: Final = ("noinhan", "coquannhan", "donvinhan", "to", "recipient", "recipients", "nguoinhan", "nhan")
FILES: Final = ("tep", "tepdinhkem", "dinhkem", "file", "files", "attachment", "attachments", "taptin", "tailieu",
                 "reference", "manifest")
GROUP_FIELDS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "to": {
        "organ_id": ("macoquan", "madonvi", "organid", "ma", "madinhdanh", "code"),
        "organ_name": ("tencoquan", "tendonvi", "organname", "ten", "name"),
        "organ_add": ("diachi", "organadd", "address"),
        "email": ("email", "thudientu"),
        "telephone": ("dienthoai", "telephone", "sodienthoai"),
        "fax": ("fax",),
        "website": ("website",),
        "organization_in_charge": ("organizationincharge", "coquanchuquan", "coquanquanly"),
    },
    "attachments": {
        "name": ("tentep", "ten", "name", "tenfile", "filename", "attachmentname"),
        "content_type": ("kieutep", "kieu", "contenttype", "mimetype", "loaitep", "dinhdang"),
        "description": ("mota", "description", "ghichu"),
        "content_id": ("ma", "id", "contentid", "href"),
        "data": ("noidung", "data", "content", "duongdan", "path", "href", "value"),
    },
}
URGENCY: Final = {"thuong": 0, "khan": 1, "thuongkhan": 2, "hoatoc": 3, "hoatochengio": 4}
ORGAN_ID = re.compile(r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9A-Z]{2}$")
CODE_SHAPE = re.compile(r"^\d+[A-Za-z]?/[\w.\-/Đđ]+$")
DATE_SHAPES: Final = (
    (re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}"), "yyyy-MM-ddTHH:mm:ss", True),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2}$"), "dd/MM/yyyy HH:mm:ss", True),
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "yyyy-MM-dd", False),
    (re.compile(r"^\d{4}/\d{2}/\d{2}$"), "yyyy/MM/dd", False),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"), "dd/MM/yyyy", False),
)
DATE_TARGETS: Final = frozenset({"promulgation.date", "due_date", "trace.timestamp"})
THRESHOLD: Final = 0.45


def fold(text: str) -> str:
    """Vietnamese name folded for matching: no diacritics, đ→d, lower case, letters and digits only."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", plain.lower())


@dataclass(frozen=True)
class Leaf:
    """A value-bearing place in the sample: element text or attribute, relative to its scope."""

    path: str  # relative path in the file's prefixes ("NoiNhan/CoQuan/MaCoQuan", "@so", ".")
    name: str  # folded own name
    parents: tuple[str, ...]  # folded names of the ancestors inside the scope, nearest first
    value: str  # the sample's value; "" for a place only the schema declares
    xsd_type: str = ""  # the schema's type name, when known (date, dateTime, base64Binary ...)
    absent_levels: int = 0  # for a schema-only place: how many of its ancestors the sample lacks


@dataclass(frozen=True)
class Proposal:
    """One drafted mapping line."""

    target: str
    path: str
    sample: str
    confidence: float
    reason: str
    options: Mapping[str, Any] = field(default_factory=dict)  # convert / format / table
    active: bool = True  # False: written as a commented suggestion (it needs the integrator first)


@dataclass
class Draft:
    """The drafted mapping of one document element."""

    element: str
    namespaces: dict[str, str]
    fields: list[Proposal] = field(default_factory=list)
    groups: dict[str, tuple[Proposal, list[Proposal]]] = field(default_factory=dict)
    tables: dict[str, dict[str, int]] = field(default_factory=dict)


def _step(el: etree._Element) -> str:
    q = etree.QName(el)
    return f"{el.prefix}:{q.localname}" if el.prefix else q.localname


def _attr_step(name: str, el: etree._Element) -> str:
    q = etree.QName(name)
    if not q.namespace:
        return f"@{q.localname}"
    prefix = next((p for p, ns in el.nsmap.items() if ns == q.namespace and p), None)
    return f"@{prefix}:{q.localname}" if prefix else f"@{q.localname}"


def leaves(scope: etree._Element, *, skip: Iterable[etree._Element] = ()) -> list[Leaf]:
    """Every element text and attribute under ``scope`` (outside the ``skip`` subtrees)."""
    skipped = set(skip)
    found: list[Leaf] = []

    def walk(el: etree._Element, steps: list[str], names: list[str]) -> None:
        for attr, raw in el.attrib.items():
            value = raw if isinstance(raw, str) else raw.decode()
            if value.strip():
                rel = "/".join([*steps, _attr_step(str(attr), el)])
                found.append(Leaf(rel, fold(etree.QName(attr).localname), tuple(reversed(names)), value.strip()))
        text = (el.text or "").strip()
        if text and len(el) == 0:
            found.append(Leaf("/".join(steps) or ".", names[-1] if names else "", tuple(reversed(names[:-1])), text))
        for child in el:
            if isinstance(child.tag, str) and child not in skipped:
                walk(child, [*steps, _step(child)], [*names, fold(etree.QName(child).localname)])

    walk(scope, [], [])
    return found


def _date_shape(value: str) -> tuple[str, bool] | None:
    for rx, pattern, with_time in DATE_SHAPES:
        if rx.match(value):
            return pattern, with_time
    return None


def _name_score(name: str, words: tuple[str, ...]) -> tuple[float, str]:
    if not name:
        return 0.0, ""
    if name in words:
        return 0.6, f"name '{name}' is a known name for it"
    for w in words:
        if len(w) >= 4 and (name.endswith(w) or name.startswith(w)):
            return 0.4, f"name '{name}' contains '{w}'"
    return 0.0, ""


# The date format the sample's own dates use: a schema-only date field of the same vendor is
# most likely written the same way (set per draft by draft_mapping).
_SAMPLE_DATE_FORMAT: contextvars.ContextVar[str] = contextvars.ContextVar("sample_date_format", default="")

_XSD_DATES: Final = {"date": ("yyyy-MM-dd", False), "dateTime": ("yyyy-MM-ddTHH:mm:ss", True)}


def _score(target: str, leaf: Leaf) -> tuple[float, str, dict[str, Any]]:
    score, reason = _name_score(leaf.name, NAMES.get(target, ()))
    reasons = [reason] if reason else []
    options: dict[str, Any] = {}
    value = leaf.value
    if not value:  # declared by the schema, absent from the sample: the name alone, a little less sure
        if not score:
            return 0.0, "", {}
        if target.startswith("from.") and not (any(p in SENDER for p in leaf.parents[:1]) or leaf.name in SENDER):
            return 0.0, "", {}
        if target in DATE_TARGETS:
            known = _XSD_DATES.get(leaf.xsd_type)
            if known is None and not _SAMPLE_DATE_FORMAT.get():
                return 0.0, "", {}
            options["format"] = known[0] if known else _SAMPLE_DATE_FORMAT.get()
        bonus = 0.2 if target.startswith("from.") else 0.0
        # A branch the sample does not use (a choice's other arm) is a weaker guess per missing level.
        why = "; ".join([*reasons, "declared by the schema (absent from the sample)"])
        return score + bonus - 0.03 - 0.08 * leaf.absent_levels, why, options
    is_sender = any(p in SENDER for p in leaf.parents[:1]) or leaf.name in SENDER
    if target.startswith("from."):
        if any(p in RECIPIENTS for p in leaf.parents):
            return 0.0, "", {}
        if is_sender:
            score += 0.2
            reasons.append("inside the sender block")
        elif score:
            score -= 0.2
    if target.endswith("organ_id"):
        if ORGAN_ID.match(value):
            score += 0.3
            reasons.append("value is a QCVN 102 organisation id")
        elif score:
            options["convert"] = "organ"
            reasons.append("value is a local code: mapped through [organs]")
    if target in DATE_TARGETS:
        shape = _date_shape(value)
        if shape is None:
            return 0.0, "", {}
        score += 0.3
        options["format"] = shape[0]
        reasons.append(f"value is a date ({shape[0]})")
    if target == "code":
        if CODE_SHAPE.match(value):
            score += 0.35
            options["convert"] = "code"
            reasons.append("value looks like 123/QĐ-UBND")
        else:
            score -= 0.3
    if target == "other.priority" and fold(value) in URGENCY:
        score += 0.3
        options["table"] = "do_khan"
        reasons.append(f"value '{value}' is an urgency word")
    if target in ("subject", "content") and len(value) > 20:
        score += 0.1
    if target == "code.number" and not value.isdigit():
        score -= 0.4
    return score, "; ".join(reasons), options


def _best(target: str, candidates: list[Leaf], used: set[str]) -> Proposal | None:
    scored = []
    for leaf in candidates:
        if leaf.path in used and not _may_share(target):
            continue
        score, reason, options = _score(target, leaf)
        if score >= THRESHOLD:
            scored.append((score, -len(leaf.path), leaf, reason, options))
    if not scored:
        return None
    score, _, leaf, reason, options = max(scored, key=lambda s: (s[0], s[1]))
    return Proposal(target, leaf.path, leaf.value[:60], round(min(score, 1.0), 2), reason, options)


def _may_share(target: str) -> bool:
    # A sender given only by name feeds both its id (through [organs]) and its name.
    return target in ("from.organ_name", "document_type.type")


def _repeated(record: etree._Element, repeated_paths: set[str]) -> list[tuple[str, list[etree._Element]]]:
    """Elements under the record that repeat (in the schema or in the sample), by relative path."""
    found: dict[str, list[etree._Element]] = {}

    def walk(el: etree._Element, steps: list[str]) -> None:
        counts: dict[Any, int] = {}
        for child in el:
            if isinstance(child.tag, str):
                counts[child.tag] = counts.get(child.tag, 0) + 1
        for child in el:
            if not isinstance(child.tag, str):
                continue
            rel = "/".join([*steps, _step(child)])
            local = "/".join(x.rpartition(":")[2] for x in [*steps, _step(child)])
            if counts[child.tag] > 1 or local in repeated_paths:
                found.setdefault(rel, []).append(child)
            else:
                walk(child, [*steps, _step(child)])

    walk(record, [])
    return list(found.items())


def _group(
    name: str, path: str, items: list[etree._Element], declared: Iterable[Leaf] = ()
) -> tuple[float, list[Proposal], str]:
    words = RECIPIENTS if name == "to" else FILES
    folded = [fold(s.rpartition(":")[2]) for s in path.split("/")]
    score = 0.0
    reasons = []
    if folded[-1] in words or (len(folded) > 1 and folded[-2] in words):
        score += 0.5
        reasons.append(f"element '{path}' is named like {'recipients' if name == 'to' else 'files'}")
    proposals: list[Proposal] = []
    sample = leaves(items[0])
    present = {leaf.path for leaf in sample}
    sample += [leaf for leaf in declared if leaf.path not in present]
    for target, names in GROUP_FIELDS[name].items():
        best: tuple[float, Leaf, str, dict[str, Any]] | None = None
        for leaf in sample:
            s, why = _name_score(leaf.name, names)
            opts: dict[str, Any] = {}
            if target == "organ_id":
                if ORGAN_ID.match(leaf.value):
                    s, why = s + 0.4, (why + "; " if why else "") + "value is a QCVN 102 organisation id"
                    if leaf.path == ".":
                        s = max(s, 0.5)
                elif s or leaf.path == ".":
                    opts["convert"] = "organ"
                    s = max(s, 0.45 if leaf.path == "." else s)
            if target == "data":
                if leaf.value.startswith(("JVBERi", "UEsDB")):
                    s, why, opts = s + 0.5, "value is base64 (a PDF or ZIP)", {"convert": "base64"}
                elif leaf.value.startswith("cid:"):
                    s, why, opts = s + 0.5, "value is a MIME part reference", {"convert": "cid"}
                elif re.search(r"\.(pdf|docx?|xlsx?|zip)$", leaf.value, re.I) and "/" in leaf.value:
                    s, why, opts = s + 0.3, "value is a file path", {"convert": "file"}
                else:
                    s = 0.0
            if target == "name" and re.search(r"\.(pdf|docx?|xlsx?|zip|png|jpe?g)$", leaf.value, re.I):
                s, why = s + 0.3, (why + "; " if why else "") + "value is a file name"
                if leaf.path == "." and "/" not in leaf.value:
                    s, why = max(s, 0.5), "the item's own text is a file name"
                if "/" in leaf.value and leaf.path != ".":
                    s -= 0.3
            if target == "organ_name" and leaf.path == "." and not ORGAN_ID.match(leaf.value):
                s, why = max(s, 0.45), "the item's own text is an organisation name"
            if not leaf.value and s:
                if target in ("data", "content_id"):
                    s = 0.0
                else:
                    s, why = s - 0.05, (why + "; " if why else "") + "declared by the schema (absent from the sample)"
            if s >= THRESHOLD and (best is None or s > best[0]):
                best = (s, leaf, why, opts)
        if best is not None:
            s, leaf, why, opts = best
            proposals.append(Proposal(target, leaf.path, leaf.value[:60], round(min(s, 1.0), 2), why, opts))
    if name == "to" and any(p.target == "organ_id" for p in proposals):
        score += 0.3
    if name == "attachments" and any(p.target == "data" for p in proposals):
        score += 0.3
    return score, proposals, "; ".join(reasons)


def _derived(draft: Draft) -> None:
    """Fields that follow from others: a sender named only by name, a kind's number from its name."""
    got = {p.target: p for p in draft.fields}
    name = got.get("from.organ_name")
    if "from.organ_id" not in got and name is not None and not ORGAN_ID.match(name.sample):
        draft.fields.append(Proposal("from.organ_id", name.path, name.sample, round(name.confidence - 0.1, 2),
                                     "the sender is given by name only: its id comes from [organs]",
                                     {"convert": "organ"}))  # fmt: skip
    kind = got.get("document_type.type_name")
    if "document_type.type" not in got and kind is not None:
        draft.fields.append(Proposal("document_type.type", kind.path, kind.sample, round(kind.confidence - 0.15, 2),
                                     "the kind's number (QCVN type) from the same word: fill the table first",
                                     {"table": "loai_so"}, active=False))  # fmt: skip
        draft.tables.setdefault("loai_so", {})


def _element_paths(record: etree._Element) -> set[str]:
    """Relative paths (file prefixes) of every element the sample has under its document element."""
    found: set[str] = set()

    def walk(el: etree._Element, steps: list[str]) -> None:
        for child in el:
            if isinstance(child.tag, str):
                path = [*steps, _step(child)]
                found.add("/".join(path))
                walk(child, path)

    walk(record, [])
    return found


def _absent_levels(path: str, present: set[str]) -> int:
    steps = [s for s in path.split("/") if s and not s.startswith("@") and s != "*"]
    return sum(1 for i in range(1, len(steps)) if "/".join(steps[:i]) not in present)


def _repeated_prefixes(declared: list[Leaf]) -> tuple[str, ...]:
    """Paths of schema-repeated elements among the declared places (marked with a trailing '*')."""
    return tuple(d.path[:-2] for d in declared if d.path.endswith("/*"))


def draft_mapping(
    record: etree._Element, element: str, *, repeated_paths: Iterable[str] = (), declared: Iterable[Leaf] = ()
) -> Draft:
    """Propose a mapping for one sample document element.

    ``declared`` are the places the schema declares under the element (paths in the file's
    prefixes, no values): they let the draft map fields the sample happens to leave out.
    """
    present_elements = _element_paths(record)
    declared = [dataclasses.replace(d, absent_levels=_absent_levels(d.path, present_elements)) for d in declared]
    formats = [shape[0] for leaf in leaves(record) if (shape := _date_shape(leaf.value)) and not shape[1]]
    _SAMPLE_DATE_FORMAT.set(formats[0] if formats else "")
    namespaces = {("" if p is None else p): ns for p, ns in record.nsmap.items()}
    draft = Draft(element, namespaces)
    groups: list[tuple[str, list[etree._Element]]] = _repeated(record, set(repeated_paths))
    taken: set[str] = set()
    grouped: list[etree._Element] = []
    for name in ("to", "attachments"):
        best = None
        for path, items in groups:
            if path in taken:
                continue
            inner = [dataclasses.replace(d, path=d.path[len(path) + 1 :]) for d in declared
                     if d.path.startswith(path + "/")]  # fmt: skip
            score, fields, why = _group(name, path, items, inner)
            if score >= THRESHOLD and (best is None or score > best[0]):
                best = (score, path, items, fields, why)
        if best is not None:
            score, path, items, fields, why = best
            taken.add(path)
            grouped += items
            head = Proposal(name, path, f"{len(items)} item(s)", round(min(score, 1.0), 2), why)
            draft.groups[name] = (head, fields)
    candidates = leaves(record, skip=grouped)
    present = {leaf.path for leaf in candidates}
    group_paths = tuple(head.path + "/" for head, _ in draft.groups.values())
    repeated = _repeated_prefixes(declared)
    candidates += [
        d for d in declared
        if d.path not in present and not d.path.startswith(group_paths)
        and not any(d.path.startswith(r + "/") or d.path == r for r in repeated)
    ]  # fmt: skip
    used: set[str] = set()
    for target in NAMES:
        if target in ("code.number", "code.notation") and any(p.target == "code" for p in draft.fields):
            continue
        proposal = _best(target, candidates, used)
        if proposal is not None:
            draft.fields.append(proposal)
            used.add(proposal.path)
            if proposal.options.get("table") == "do_khan":
                draft.tables["do_khan"] = {}
    _derived(draft)
    if "do_khan" in draft.tables:
        words = {leaf.value for leaf in candidates if fold(leaf.value) in URGENCY}
        draft.tables["do_khan"] = {w: URGENCY[fold(w)] for w in sorted(words)}
    return draft


__all__ = ["THRESHOLD", "Draft", "Leaf", "Proposal", "draft_mapping", "fold", "leaves"]
