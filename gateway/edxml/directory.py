"""The agency directory: who exists on the axis, old↔new codes, the hierarchy and the serving centre.

The national axis publishes its members in three lists (shared doc §4.2 and §6.2):

* ``getAgenciesList`` — ``id, pid, code, name, mail, oldCode``
* ``getAgenciesListQD20`` — ``code`` (QĐ 20/2020) and ``code102`` (the old QCVN 102 code)
* ``getSynchronizeUnit`` — ``id, pid, code, name, mail, centerCode, version, deleted, modifyDate, isAgency``

:class:`Directory` loads any mix of them (records with the same ``code`` are merged), so one
object answers: does this OrganId exist, what is its other-form code, who is its parent and its
children, and which interconnection centre (``….W00``, the hub/LGSP node) serves it — found by
following ``pid`` upwards until a ``centerCode`` appears. Packages may address either the old or
the new code of a body; :meth:`Directory.resolve` accepts both.

Loading is lenient by default: a malformed record is skipped and reported in
:attr:`Directory.warnings` (one bad line never loses the rest of the list); ``strict=True``
raises :class:`SchemaValidationError` listing every bad record instead.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from gateway.edxml.organ_id import MAX_LENGTH, OrganId
from gateway.errors import Location, NotFoundError, SchemaValidationError, ValidationIssue

_NO_PARENT = frozenset({"", "0", "-1", "null", "none"})
_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f", ""})


@dataclass(frozen=True, slots=True)
class Agency:
    """One member of the directory (an agency, a centre node, or an enterprise).

    ``code`` is the current code (QĐ 20/2020 where the axis has one), ``old_code`` the QCVN 102
    code it replaced (``oldCode`` / ``code102``). ``id``/``pid`` are the axis record ids that
    draw the hierarchy; ``center_code`` names the centre that serves this body directly.
    """

    code: str
    name: str
    id: str | None = None  # id
    pid: str | None = None  # pid (parent record id; some lists put the parent's code here)
    old_code: str | None = None  # oldCode / code102
    center_code: str | None = None  # centerCode
    mail: str | None = None  # mail
    deleted: bool = False  # deleted
    is_agency: bool = True  # isAgency (False for centre nodes and technical units)
    version: str | None = None  # version
    modify_date: str | None = None  # modifyDate (kept as the axis wrote it)

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code this body answers to (current first)."""
        return (self.code, self.old_code) if self.old_code else (self.code,)

    @property
    def organ_id(self) -> OrganId | None:
        """The parsed code, or None if the axis list holds something unparseable."""
        return OrganId.parse(self.code) if OrganId.is_valid(self.code) else None


def fold(text: str) -> str:
    """Accent- and case-insensitive key for Vietnamese names ("Ủy ban" → "uy ban", "Đ" → "d")."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = bare.replace("đ", "d").replace("Đ", "D")
    return " ".join(bare.casefold().split())


def _text(value: Any) -> str | None:
    """A field value as a stripped NFC string (axis JSON mixes numbers and strings)."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def _flag(value: Any, default: bool, field: str, issues: list[str]) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    issues.append(f"{field} is {value!r}, expected true/false or 1/0")
    return default


# Which JSON keys feed which Agency field (axis spellings first).
_KEYS: dict[str, tuple[str, ...]] = {
    "code": ("code",),
    "name": ("name",),
    "id": ("id",),
    "pid": ("pid",),
    "old_code": ("oldCode", "code102", "old_code"),
    "center_code": ("centerCode", "center_code"),
    "mail": ("mail", "email"),
    "version": ("version",),
    "modify_date": ("modifyDate", "modify_date"),
}


def _agency_from_record(record: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Field values present in one record (absent keys left out, so merges can fill them)."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for attr, keys in _KEYS.items():
        for key in keys:
            if key in record:
                text = _text(record[key])
                if text is not None:
                    values[attr] = text
                break
    for attr in ("code", "old_code"):
        if attr in values:
            values[attr] = _key(values[attr])
    code = values.get("code")
    if code is None:
        problems.append("missing 'code'")
    elif len(code) > MAX_LENGTH:
        problems.append(f"code {code!r} is longer than {MAX_LENGTH} characters")
    elif not OrganId.is_valid(code):
        problems.append(f"code {code!r} is not an organisation id")
    old = values.get("old_code")
    if old is not None and not OrganId.is_valid(old):
        problems.append(f"old code {old!r} is not an organisation id")
        del values["old_code"]
    if values.get("pid", "").casefold() in _NO_PARENT:
        values.pop("pid", None)
    if "deleted" in record:
        values["deleted"] = _flag(record["deleted"], False, "deleted", problems)
    if "isAgency" in record:
        values["is_agency"] = _flag(record["isAgency"], True, "isAgency", problems)
    return values, problems


class Directory:
    """An in-memory, read-only view of the axis agency lists (build it with a ``from_*`` method)."""

    def __init__(self, agencies: Iterable[Agency] = (), *, warnings: Iterable[str] = ()):
        self._by_code: dict[str, Agency] = {}
        self._old_to_new: dict[str, str] = {}
        self._by_id: dict[str, str] = {}
        self._children: dict[str, list[str]] = {}
        self.warnings: tuple[str, ...] = tuple(warnings)
        extra: list[str] = []
        for agency in agencies:
            self._by_code[agency.code] = agency
        for agency in self._by_code.values():
            if agency.id is not None:
                self._by_id.setdefault(agency.id, agency.code)
            if agency.old_code and agency.old_code != agency.code:
                known = self._old_to_new.setdefault(agency.old_code, agency.code)
                if known != agency.code:
                    extra.append(
                        f"old code {agency.old_code} maps to both {known} and {agency.code}; kept {known}"
                    )
        for agency in self._by_code.values():
            parent = self._parent_code(agency)
            if parent is not None:
                self._children.setdefault(parent, []).append(agency.code)
        self.warnings += tuple(extra)

    # -- construction --------------------------------------------------------------------------

    @classmethod
    def from_records(
        cls,
        records: Iterable[Mapping[str, Any]],
        *,
        source: str | None = None,
        strict: bool = False,
    ) -> Directory:
        """Build from axis list items (any of the three shapes, mixed; same code = merged)."""
        merged: dict[str, dict[str, Any]] = {}
        issues: list[ValidationIssue] = []
        for index, record in enumerate(records):
            if not isinstance(record, Mapping):
                issues.append(
                    ValidationIssue(f"record is {type(record).__name__}, expected an object", f"[{index}]")
                )
                continue
            values, problems = _agency_from_record(record)
            for problem in problems:
                issues.append(ValidationIssue(problem, f"[{index}]"))
            if "code" not in values or any(p.startswith(("missing", "code ")) for p in problems):
                continue
            merged.setdefault(values["code"], {}).update(values)
        agencies: list[Agency] = []
        for code, values in merged.items():
            values.setdefault("name", code)
            agencies.append(Agency(**values))
        if strict and issues:
            raise SchemaValidationError(
                f"{len(issues)} bad agency record(s)", issues, location=Location(source) if source else None
            )
        prefix = f"{source}: " if source else ""
        return cls(
            agencies, warnings=(f"{prefix}{issue} (record skipped or field ignored)" for issue in issues)
        )

    @classmethod
    def from_json(
        cls,
        data: str | bytes | os.PathLike[str] | Path,
        *,
        source: str | None = None,
        strict: bool = False,
    ) -> Directory:
        """Load a JSON file (path) or JSON text: a list of records or an axis answer ``{"data": [...]}``.

        An object with several lists (``{"agencies": [...], "qd20": [...]}``) is merged too.
        """
        if isinstance(data, (os.PathLike, Path)) or (
            isinstance(data, str) and not data.lstrip().startswith(("[", "{"))
        ):
            path = Path(data)
            name = source or str(path)
            try:
                raw: str | bytes = path.read_bytes()
            except OSError as exc:
                raise NotFoundError(
                    f"cannot read agency list: {exc.strerror}", location=Location(name)
                ) from exc
        else:
            name = source or "<json>"
            raw = data
        try:
            parsed = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            line = getattr(exc, "lineno", None)
            raise SchemaValidationError(
                "agency list is not valid JSON",
                [ValidationIssue(str(exc), line=line)],
                location=Location(name),
            ) from exc
        return cls.from_records(_records_of(parsed, name), source=name, strict=strict)

    # -- lookups -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self) -> Iterator[Agency]:
        return iter(sorted(self._by_code.values(), key=lambda a: a.code))

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.resolve(code) is not None

    def get(self, code: str, *, include_deleted: bool = False) -> Agency | None:
        """The agency whose *current* code is ``code`` (deleted ones only on request)."""
        agency = self._by_code.get(_key(code))
        if agency is None or (agency.deleted and not include_deleted):
            return None
        return agency

    def resolve(self, code: str, *, include_deleted: bool = False) -> Agency | None:
        """The agency addressed by ``code``, whether that is its current or its old code."""
        key = _key(code)
        agency = self.get(key, include_deleted=include_deleted)
        if agency is None and key in self._old_to_new:
            agency = self.get(self._old_to_new[key], include_deleted=include_deleted)
        return agency

    def require(self, code: str, *, include_deleted: bool = False) -> Agency:
        """Like :meth:`resolve` but raises :class:`NotFoundError` naming the code."""
        agency = self.resolve(code, include_deleted=include_deleted)
        if agency is None:
            raise NotFoundError(f"organisation {code!r} is not in the agency directory")
        return agency

    def new_code_for(self, old_code: str) -> str | None:
        """QCVN 102 code → current code (None if the directory has no mapping)."""
        return self._old_to_new.get(_key(old_code))

    def old_code_for(self, code: str) -> str | None:
        """Current code → QCVN 102 code."""
        agency = self._by_code.get(_key(code))
        return agency.old_code if agency else None

    def same_body(self, a: str, b: str) -> bool:
        """True if two codes (either form) address the same agency."""
        x, y = self.resolve(a, include_deleted=True), self.resolve(b, include_deleted=True)
        return x is not None and x is y

    # -- hierarchy -----------------------------------------------------------------------------

    def _parent_code(self, agency: Agency) -> str | None:
        """Parent by ``pid`` (an id, or a code in some lists); else by the code's own hierarchy."""
        if agency.pid is not None:
            if agency.pid in self._by_id:
                return self._by_id[agency.pid]
            if agency.pid in self._by_code and agency.pid != agency.code:
                return agency.pid
            return None
        oid = agency.organ_id
        parent = oid.parent() if oid else None
        while parent is not None:
            found = self._by_code.get(str(parent)) or self._by_code.get(self._old_to_new.get(str(parent), ""))
            if found is not None and found.code != agency.code:
                return found.code
            parent = parent.parent()
        return None

    def parent(self, code: str) -> Agency | None:
        """The managing body of ``code`` (either code form), or None at the top."""
        agency = self.resolve(code, include_deleted=True)
        if agency is None:
            return None
        parent = self._parent_code(agency)
        return self._by_code.get(parent) if parent else None

    def ancestors(self, code: str) -> tuple[Agency, ...]:
        """Parent, grandparent … (nearest first); stops safely on a cyclic ``pid`` chain."""
        chain: list[Agency] = []
        seen: set[str] = set()
        node = self.resolve(code, include_deleted=True)
        while node is not None and node.code not in seen:
            seen.add(node.code)
            node = self.parent(node.code)
            if node is not None and node.code not in seen:
                chain.append(node)
        return tuple(chain)

    def children(self, code: str, *, include_deleted: bool = False) -> tuple[Agency, ...]:
        """Direct subordinates, ordered by code."""
        agency = self.resolve(code, include_deleted=True)
        if agency is None:
            return ()
        kids = (self._by_code[c] for c in self._children.get(agency.code, ()))
        return tuple(sorted((k for k in kids if include_deleted or not k.deleted), key=lambda a: a.code))

    def descendants(self, code: str, *, include_deleted: bool = False) -> tuple[Agency, ...]:
        """Every body below ``code``, breadth first."""
        out: list[Agency] = []
        start = self.resolve(code, include_deleted=True)
        seen: set[str] = {start.code} if start else set()
        queue = list(self.children(code, include_deleted=include_deleted))
        while queue:
            node = queue.pop(0)
            if node.code in seen:
                continue
            seen.add(node.code)
            out.append(node)
            queue.extend(self.children(node.code, include_deleted=include_deleted))
        return tuple(out)

    def center_of(self, code: str) -> str | None:
        """The centre (``….W00`` node) that serves ``code``: its own ``centerCode``, else its
        nearest ancestor's; a centre node serves itself. None if the code is unknown or no
        ancestor names a centre."""
        agency = self.resolve(code, include_deleted=True)
        if agency is None:
            return None
        for node in (agency, *self.ancestors(agency.code)):
            if node.center_code:
                return node.center_code
        oid = agency.organ_id
        return agency.code if oid is not None and oid.is_centre else None

    def served_by(self, center_code: str) -> tuple[Agency, ...]:
        """Every active agency whose :meth:`center_of` is ``center_code``."""
        key = _key(center_code)
        return tuple(a for a in self if not a.deleted and a.code != key and self.center_of(a.code) == key)

    # -- search --------------------------------------------------------------------------------

    def search(self, query: str, *, limit: int = 20, include_deleted: bool = False) -> list[Agency]:
        """Agencies whose name (or code) contains every word of ``query``, accents and case ignored.

        Best matches first: exact name, then names starting with the query, then shorter names.
        """
        words = fold(unicodedata.normalize("NFC", query)).split()
        if not words:
            return []
        phrase = " ".join(words)
        scored: list[tuple[tuple[int, int, str], Agency]] = []
        for agency in self._by_code.values():
            if agency.deleted and not include_deleted:
                continue
            name = fold(agency.name)
            codes = " ".join(c.casefold() for c in agency.codes)
            haystack = f"{name} {codes}"
            if not all(w in haystack for w in words):
                continue
            if name == phrase or phrase in codes.split():
                rank = 0
            elif name.startswith(phrase):
                rank = 1
            elif phrase in name:
                rank = 2
            else:
                rank = 3
            scored.append(((rank, len(name), agency.code), agency))
        scored.sort(key=lambda item: item[0])
        return [agency for _, agency in scored[:limit]]

    # -- export (for the hub's agency-list endpoints) -------------------------------------------

    def as_agencies_list(self) -> list[dict[str, str | None]]:
        """Items shaped like the axis ``getAgenciesList`` answer (active agencies only)."""
        return [
            {"id": a.id, "pid": a.pid, "code": a.code, "name": a.name, "mail": a.mail, "oldCode": a.old_code}
            for a in self
            if not a.deleted
        ]

    def as_agencies_list_qd20(self) -> list[dict[str, str | None]]:
        """Items shaped like ``getAgenciesListQD20`` (``code``, ``code102``)."""
        return [{"code": a.code, "code102": a.old_code} for a in self if not a.deleted]

    def as_synchronize_unit(self) -> list[dict[str, Any]]:
        """Items shaped like ``getSynchronizeUnit`` (every agency, deleted ones flagged)."""
        return [
            {
                "id": a.id,
                "pid": a.pid,
                "code": a.code,
                "name": a.name,
                "mail": a.mail,
                "centerCode": a.center_code,
                "version": a.version,
                "deleted": a.deleted,
                "modifyDate": a.modify_date,
                "isAgency": a.is_agency,
            }
            for a in self
        ]

    def with_agencies(self, agencies: Iterable[Agency]) -> Directory:
        """A new directory with ``agencies`` added or replacing those with the same code."""
        merged = dict(self._by_code)
        for agency in agencies:
            merged[agency.code] = agency
        return Directory(merged.values(), warnings=self.warnings)


def _key(code: str) -> str:
    """Lookup key: stripped, NFC, and upper-cased when it is a standard code written in lower case."""
    text = unicodedata.normalize("NFC", code).strip()
    if OrganId.is_valid(text):
        return OrganId.parse(text).text
    return text


def _records_of(parsed: Any, name: str) -> list[Any]:
    """The record list inside a parsed JSON document (list, axis answer, or several lists)."""
    if isinstance(parsed, list):
        return parsed
    if isinstance(parsed, dict):
        if isinstance(parsed.get("data"), list):
            return list(parsed["data"])
        lists = [v for v in parsed.values() if isinstance(v, list)]
        if lists:
            return [record for items in lists for record in items]
    raise SchemaValidationError(
        'agency list must be a JSON array of records or an object holding one (e.g. {"data": [...]})',
        location=Location(name),
    )


AGENCY_FIELDS = tuple(f.name for f in fields(Agency))
"""Field names of :class:`Agency`, in declaration order."""

__all__ = ["AGENCY_FIELDS", "Agency", "Directory", "fold"]
